"""``pages``: the inspectors' heaviest pages rendered server-side over a province-year (target p99 < 300 ms each).

The province's database is the ``scoring`` benchmark's (:func:`bench.scoring.load_province`: 137 counties,
~25,000 cases each × scale — default 0.2 here, ~680,000 cases — with their events, alerts, complaints and
ratings), scored for the 12 months of 2026 by the real scoring engine, with the months' trend figures counted as
``sunshine score run`` counts them. Then the province node's real app
(:func:`federation.nodes.build_node`, the same FastAPI app ``sunshine serve`` runs) is driven in-process with
FastAPI's TestClient, logged in through the login page as a province inspector: after a warm-up, each page is
fetched ``ROUNDS`` times and timed from request to the last byte of the response:

* ``wall`` — 实时监控 ``/inspect/wall`` (every county's open cases by light, open alerts, newest red alerts);
* ``rankings`` — 考核排名 ``/inspect/rankings`` (the latest month's county scores, chart and table);
* ``trends`` — 月度趋势 ``/inspect/trends`` (12 months of the whole province).

On SQLite, and on PostgreSQL when reachable (``*_pg_p99_ms``; null otherwise; vacuumed after the bulk load, as
autovacuum keeps a live database, so that index-only scans apply). The figures: p50 and p99 in ms.
"""

from __future__ import annotations

import gc
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bench.harness import Options, optional_postgresql, progress
from bench.scoring import PERIODS, PROVINCE, SCOPE, load_province, province_bundle
from bench.scoring_data import Population
from bench.scoring_templates import NOW, build_templates
from city_aggregator.inspection.trend_store import refresh_trend_months
from city_aggregator.scoring.service import compute_scores
from federation.config import Config, NodeConfig
from federation.http_server import settle_heap
from federation.nodes import build_node
from federation.storage.engine import make_engine
from security.access import Role

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

__all__ = ["DEFAULT_SCALE", "NAME", "run"]

NAME = "pages"
DEFAULT_SCALE = 0.2
TARGET_MS = 300.0
ROUNDS = 200
WARM_UP = 5
PAGES = {"wall": "/inspect/wall", "rankings": "/inspect/rankings", "trends": "/inspect/trends"}
_USER, _PASSWORD = "bench-inspector", "Bench-pages-2026"

Say = Callable[[str], None]


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _time_pages(label: str, engine: Engine, say: Say) -> dict[str, float]:
    node = build_node(Config(node=NodeConfig(division=PROVINCE, name="山东省")), engine=engine, clock=lambda: NOW)
    accounts = node.accounts  # type: ignore[attr-defined]
    accounts.add(_USER, name="压测督查员", division=PROVINCE, roles=[Role.INSPECTOR.value], password=_PASSWORD)
    out: dict[str, float] = {}
    app = node.http_app()  # type: ignore[attr-defined]
    settle_heap()  # as `serve` does once the app is built
    with TestClient(app, follow_redirects=False) as client:
        login = client.post("/login", data={"username": _USER, "password": _PASSWORD, "next": "/"})
        if login.status_code != 303:  # pragma: no cover - a bug here
            raise RuntimeError(f"login refused: {login.status_code} {login.text[:200]}")
        for page, path in PAGES.items():
            for _ in range(WARM_UP):
                r = client.get(path)
                if r.status_code != 200:  # pragma: no cover - a bug here
                    raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
            samples = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                r = client.get(path)
                _ = r.content
                samples.append((time.perf_counter() - started) * 1000)
            out[f"{page}_p50_ms"] = _percentile(samples, 0.5)
            out[f"{page}_p99_ms"] = _percentile(samples, 0.99)
            say(f"{label}: {path} p50 {out[f'{page}_p50_ms']:.1f} ms, p99 {out[f'{page}_p99_ms']:.1f} ms")
    return out


def _measure(
    label: str, engine: Engine, population: Callable[[], Population], options: Options, say: Say
) -> dict[str, Any]:
    try:
        loaded = load_province(label, engine, population(), options, say)
        # the generated province is in the database now: none of its Python objects stays alive while the pages are
        # timed (a node holds none of them; with them, each full garbage collection walked half a million objects
        # and took ~0.4 s of one page request in a hundred)
        gc.collect()
        started = time.perf_counter()
        compute_scores(engine, node=PROVINCE, scope=SCOPE, periods=PERIODS, now=NOW)
        refresh_trend_months(engine, scope=SCOPE, months=PERIODS, now=NOW)  # as `sunshine score run` does
        say(f"{label}: 12 months scored (and their trend figures counted) in {time.perf_counter() - started:.1f}s")
        if engine.dialect.name == "postgresql":  # the steady state autovacuum keeps (visibility map: index-only scans)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        return {**loaded, **_time_pages(label, engine, say)}
    finally:
        engine.dispose()


def run(options: Options) -> dict[str, Any]:
    def say(message: str) -> None:
        progress(NAME, message)

    bundle = province_bundle()
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-") as tmp:
        templates = build_templates(Path(tmp), bundle)

        def population() -> Population:
            return Population(templates, bundle, options.seed)

        sqlite = _measure("sqlite", make_engine(f"sqlite:///{Path(tmp) / 'province.db'}"), population, options, say)
        pg: dict[str, Any] | None = None
        with optional_postgresql(options, say) as url:
            if url is not None:
                pg = _measure("postgresql", make_engine(url), population, options, say)

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    worst = max(sqlite[f"{p}_p99_ms"] for p in PAGES)
    if pg is not None:
        worst = max(worst, *(pg[f"{p}_p99_ms"] for p in PAGES))
    return {
        "bench": NAME,
        "wall_p99_ms": r(sqlite["wall_p99_ms"]),
        "rankings_p99_ms": r(sqlite["rankings_p99_ms"]),
        "trends_p99_ms": r(sqlite["trends_p99_ms"]),
        "wall_p50_ms": r(sqlite["wall_p50_ms"]),
        "rankings_p50_ms": r(sqlite["rankings_p50_ms"]),
        "trends_p50_ms": r(sqlite["trends_p50_ms"]),
        "wall_pg_p99_ms": r(pg["wall_p99_ms"]) if pg else None,
        "rankings_pg_p99_ms": r(pg["rankings_p99_ms"]) if pg else None,
        "trends_pg_p99_ms": r(pg["trends_p99_ms"]) if pg else None,
        "cases": sqlite["cases"],
        "alerts": sqlite["alerts"],
        "scale": options.scale,
        "rounds": ROUNDS,
        "target_ms": TARGET_MS,
        "met": worst < TARGET_MS,
    }
