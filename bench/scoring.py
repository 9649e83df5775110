"""``scoring``: a province-year scored for its 12 months (target < 60 s on PostgreSQL and ≤ 5 × the floor).

The province's database holds what replication brings it from every county of Shandong: at scale 1.0 137
counties × ~25,000 cases of 2026 (~3.4 M cases, ~18 M case events) with their pause ledgers, joint sub-tasks,
alerts (yellow SUP-001, red SUP-002, step, correction, fee, complaint and rating rules), complaints and ratings —
generated from real lifecycles (:mod:`bench.scoring_templates`, :mod:`bench.scoring_data`) after the standards
bundle (catalogue, calendar, scoring rules) is applied with :func:`~federation.storage.standards_store.apply_bundle`.
The load (COPY on PostgreSQL, ``executemany`` with ``synchronous=OFF`` on SQLite) is timed apart and not part of
any figure; the tables are analysed after it.

Timed on each backend:

* the **floor** (``floor_s`` on PostgreSQL, ``sqlite_floor_s``): one plain ``GROUP BY`` scan over the same
  events — events per county and month — the least any province-wide monthly figure costs (best of two runs);
* **scoring** (``postgresql_s``, ``sqlite_s``): ``compute_scores`` for the 12 months of 2026 at the province
  (scope ``37``), every county, department and window, written to ``scores``.

``ratio`` = ``postgresql_s / floor_s``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text

from bench.harness import Options, optional_postgresql, progress
from bench.scoring_data import Population, copy_postgresql, counties, insert_sqlite
from bench.scoring_templates import NOW, build_templates
from city_aggregator.scoring.service import compute_scores
from federation.calendar_seed import seed_years
from federation.data import CATALOGUE_CSV
from federation.scoring_rules import default_scoring_rules
from federation.standards import StandardsBundle, bundle_from_catalogue_csv
from federation.storage.engine import make_engine
from federation.storage.standards_store import apply_bundle
from federation.storage.tables import alerts, case_events, cases, complaints, ratings, scores
from migrations.runner import upgrade

__all__ = ["NAME", "load_province", "province_bundle", "run"]

NAME = "scoring"
TARGET_S = 60.0
TARGET_RATIO = 5.0
PROVINCE = "370000"
SCOPE = "37"
PERIODS = [f"2026-{m:02d}" for m in range(1, 13)]

Say = Callable[[str], None]

_FLOOR = {
    "postgresql": "SELECT substr(case_no, 1, 6), date_trunc('month', at), count(*) FROM case_events GROUP BY 1, 2",
    "sqlite": "SELECT substr(case_no, 1, 6), substr(at, 1, 7), count(*) FROM case_events GROUP BY 1, 2",
}


def province_bundle() -> StandardsBundle:
    """The province's bundle of the year: the catalogue, every published calendar year, the default scoring rules."""
    base = bundle_from_catalogue_csv(CATALOGUE_CSV, "2026.01.1", date(2026, 1, 1), seed_years())
    return StandardsBundle.from_dict({**base.to_dict(), "scoring_rules": default_scoring_rules()})


def load_province(label: str, engine: Engine, population: Population, options: Options, say: Say) -> dict[str, Any]:
    """Migrate, apply the bundle, bulk-load the province-year, analyse; the counts and the load time."""
    upgrade(engine)
    with engine.begin() as conn:
        apply_bundle(conn, population.bundle, NOW)
    started = time.perf_counter()
    backend = engine.dialect.name
    totals = {"cases": 0, "events": 0}

    def chunks() -> Any:
        for i, county in enumerate(counties(options.scale, options.seed), start=1):
            rows, n_cases, n_events = population.county_rows(county, backend, engine.dialect)
            totals["cases"] += n_cases
            totals["events"] += n_events
            if i % 20 == 0:
                say(f"{label}: {i} counties, {totals['cases']:,} cases loaded ({time.perf_counter() - started:.0f}s)")
            yield rows

    if backend == "postgresql":
        copy_postgresql(engine, chunks())
    else:
        database = engine.url.database
        assert database is not None
        insert_sqlite(database, chunks())
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    analyse_s = time.perf_counter() - started
    with engine.connect() as conn:
        held = {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (cases, case_events, alerts, complaints, ratings)
        }
    say(f"{label}: loaded in {load_s:.1f}s (ANALYZE {analyse_s:.1f}s): {held}")
    if held["cases"] != totals["cases"] or held["case_events"] != totals["events"]:  # pragma: no cover - a bug here
        raise RuntimeError(f"generated {totals} but the database holds {held}")
    return {"load_s": load_s, **totals, "alerts": held["alerts"], "ratings": held["ratings"]}


def _floor(engine: Engine) -> float:
    sql = _FLOOR[engine.dialect.name]
    best = float("inf")
    with engine.connect() as conn:
        for _ in range(2):
            started = time.perf_counter()
            conn.execute(text(sql)).all()
            best = min(best, time.perf_counter() - started)
    return best


def _score(engine: Engine) -> tuple[float, int]:
    started = time.perf_counter()
    compute_scores(engine, node=PROVINCE, scope=SCOPE, periods=PERIODS, now=NOW)
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        written = int(conn.execute(select(func.count()).select_from(scores)).scalar_one())
    return elapsed, written


def _measure(label: str, engine: Engine, population: Population, options: Options, say: Say) -> dict[str, Any]:
    try:
        loaded = load_province(label, engine, population, options, say)
        floor_s = _floor(engine)
        say(f"{label}: floor (events per county and month, one GROUP BY) {floor_s:.2f}s")
        score_s, written = _score(engine)
        say(f"{label}: 12 months scored in {score_s:.2f}s ({written:,} scores, {score_s / floor_s:.1f} × the floor)")
        return {**loaded, "floor_s": floor_s, "score_s": score_s, "scores": written}
    finally:
        engine.dispose()


def run(options: Options) -> dict[str, Any]:
    def say(message: str) -> None:
        progress(NAME, message)

    bundle = province_bundle()
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-") as tmp:
        started = time.perf_counter()
        templates = build_templates(Path(tmp), bundle)
        say(f"{len(templates)} real lifecycles played in {time.perf_counter() - started:.1f}s")
        population = Population(templates, bundle, options.seed)
        sqlite = _measure("sqlite", make_engine(f"sqlite:///{Path(tmp) / 'province.db'}"), population, options, say)
    pg: dict[str, Any] | None = None
    with optional_postgresql(options, say) as url:
        if url is not None:
            pg = _measure("postgresql", make_engine(url), Population(templates, bundle, options.seed), options, say)

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {
        "bench": NAME,
        "cases": sqlite["cases"],
        "events": sqlite["events"],
        "postgresql_s": r(pg["score_s"]) if pg else None,
        "sqlite_s": r(sqlite["score_s"]),
        "floor_s": r(pg["floor_s"]) if pg else None,
        "ratio": r(pg["score_s"] / pg["floor_s"]) if pg else None,
        "sqlite_floor_s": r(sqlite["floor_s"]),
        "sqlite_ratio": r(sqlite["score_s"] / sqlite["floor_s"]),
        "postgresql_load_s": r(pg["load_s"]) if pg else None,
        "sqlite_load_s": r(sqlite["load_s"]),
        "alerts": sqlite["alerts"],
        "ratings": sqlite["ratings"],
        "scores": sqlite["scores"],
        "counties": len(counties(options.scale, options.seed)),
        "target_s": TARGET_S,
        "target_ratio": TARGET_RATIO,
    }
