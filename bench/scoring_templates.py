"""Real case histories for the ``scoring`` benchmark: every item of the catalogue through a dozen case profiles.

The province's rows are replicas of what counties wrote, so the benchmark's rows come from the real code: one
temporary SQLite county runs, through its approval and supervision services on a stepped clock, one lifecycle per
(item, profile) — on time, finished on the last day (a yellow card), late (yellow, then red), corrections (补正),
suspension, extension, refusal (不予受理), return and resubmission (退回), denial, a fee that differs from the
standard, key data recorded late, instant items (即办件) finished the same day, joint items (并联) with their
departments' sub-tasks — with the supervision sweep run twice every working day, so the yellow and red alerts,
their escalation and their clearing are the service's own. The "on time" lifecycles also collect every kind of
rating (好差评, from 非常满意 to a negative one never followed up, which raises SUP-201) and complaint (投诉, one
answered in time, one late, which raises SUP-101); the population picks at most one of each per case.

Closed lifecycles start in a holiday-free stretch of 2026 (from :data:`REFERENCE_DAY`) and are later moved by
whole weeks; open lifecycles (still running, yellow, red or in correction at :data:`NOW`) start in December and
are never moved, so their lights are the ones the sweep at :data:`NOW` left.

Each :class:`Template` holds its rows as the county stored them (SQLAlchemy values), with the case number, the
division, the window and the record serial replaced by tokens the population fills in per case.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, select

from bench.scoring_lifecycles import (
    COMPLAINT_VARIANTS,
    NOW,
    RATING_VARIANTS,
    REFERENCE_DAY,
    TEMPLATE_DIVISION,
    TEMPLATE_WINDOW,
    Clock,
    Run,
    play,
)
from county_node.bootstrap import assemble_county_node
from federation.config import Config, NodeConfig
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from federation.storage.tables import alerts, case_events, case_pauses, case_tasks, cases, complaints, ratings
from federation.timeutil import CST
from migrations.runner import upgrade

__all__ = [
    "CASE_TOKEN",
    "COMPLAINT_VARIANTS",
    "DIVISION_TOKEN",
    "NOW",
    "RATING_VARIANTS",
    "REFERENCE_DAY",
    "SERIAL_TOKEN",
    "TABLES",
    "WINDOW_TOKEN",
    "Template",
    "build_templates",
]

CASE_TOKEN = "@@C@@"
DIVISION_TOKEN = "@@D@@"
SERIAL_TOKEN = "@@S@@"  # the case's 7-digit serial in its county (record ids and origin_seq are built on it)
WINDOW_TOKEN = "@@W@@"

#: the tables a template fills, in load order (a case before the rows that refer to it)
TABLES: tuple[Table, ...] = (cases, case_events, case_pauses, case_tasks, alerts, complaints, ratings)

_MOMENT = re.compile(r"\d{4}-\d\d-\d\d([T ]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?)?")


@dataclass
class Template:
    """One real lifecycle's rows: ``groups['case']`` always, plus one group per rating and complaint variant."""

    item_code: str
    kind: str
    profile: str
    is_open: bool
    first: date  # the day of its first row
    last: date  # the day of its last row (attachments included)
    case_last: date  # the day of the case's last row (its own lifecycle and alerts)
    groups: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)  # group → table → rows


# -- extraction ----------------------------------------------------------------------------------------------------


def _tokenised(value: Any, subs: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for old, new in subs:
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: _tokenised(v, subs) for k, v in value.items()}
    if isinstance(value, list):
        return [_tokenised(v, subs) for v in value]
    return value


def _rows(engine: Engine, table: Table, column: str, keys: list[str]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).where(table.c[column].in_(keys))).mappings()]


def _extract(engine: Engine, run: Run, is_open: bool) -> Template:
    no = run.case_no
    by_table = {
        "cases": _rows(engine, cases, "case_no", [no]),
        "case_events": sorted(_rows(engine, case_events, "case_no", [no]), key=lambda r: r["n"]),
        "case_pauses": _rows(engine, case_pauses, "case_no", [no]),
        "case_tasks": _rows(engine, case_tasks, "case_no", [no]),
    }
    attached = list(run.variants)
    found = _rows(engine, alerts, "case_no", [no]) + (_rows(engine, alerts, "subject_id", attached) if attached else [])
    alert_rows = sorted({r["alert_id"]: r for r in found}.values(), key=lambda r: r["alert_id"])
    complaint_rows = _rows(engine, complaints, "case_no", [no])
    rating_rows = _rows(engine, ratings, "case_no", [no])
    # every record of the case gets an id and an origin_seq built on the case's serial: ``{serial}{k:02d}``
    subs: list[tuple[str, str]] = [(no, CASE_TOKEN)]
    for k, (row, key, prefix, width) in enumerate(
        (
            *((r, "alert_id", "A", 2) for r in alert_rows),
            *((r, "complaint_id", "TS", 1) for r in complaint_rows),
            *((r, "rating_id", "PJ", 1) for r in rating_rows),
        ),
        start=1,
    ):
        subs.append((row[key], f"{DIVISION_TOKEN}-{prefix}{SERIAL_TOKEN}{k:0{width}d}"))
    subs += [(TEMPLATE_WINDOW, WINDOW_TOKEN), (TEMPLATE_DIVISION, DIVISION_TOKEN)]
    seq = iter(range(10, 100))
    for table_rows in (by_table["cases"], alert_rows, complaint_rows, rating_rows):
        for row in table_rows:
            row["origin_seq"] = f"{SERIAL_TOKEN}{next(seq):02d}"
            if "sup_wake_at" in row:  # the county's own bookkeeping: null on a replica
                row["sup_wake_at"] = row["sup_evidence"] = None
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {"case": {**by_table, "alerts": []}}
    owner = {r["complaint_id"]: run.variants[r["complaint_id"]] for r in complaint_rows}
    owner |= {r["rating_id"]: run.variants[r["rating_id"]] for r in rating_rows}
    for r in complaint_rows:
        groups.setdefault(owner[r["complaint_id"]], {"alerts": []}).setdefault("complaints", []).append(r)
    for r in rating_rows:
        groups.setdefault(owner[r["rating_id"]], {"alerts": []}).setdefault("ratings", []).append(r)
    for a in alert_rows:
        group = owner.get(a["subject_id"], "case")
        groups.setdefault(group, {"alerts": []})["alerts"].append(a)
    out = {g: {t: [_tokenised(r, subs) for r in rows] for t, rows in tables.items()} for g, tables in groups.items()}
    moments = [v for g in groups.values() for rows in g.values() for r in rows for v in _moments(r)]
    own = [v for rows in groups["case"].values() for r in rows for v in _moments(r)]
    first = min(moments).astimezone(CST).date()
    last = max(moments).astimezone(CST).date()
    case_last = max(own).astimezone(CST).date()
    return Template(run.item.code, run.item.kind.value, run.profile, is_open, first, last, case_last, out)


def _moments(row: Mapping[str, Any]) -> Iterator[datetime]:
    for v in row.values():
        if isinstance(v, datetime):
            yield v


def build_templates(directory: Path, bundle: StandardsBundle) -> list[Template]:
    """Play every lifecycle in a temporary county database under ``directory``; their rows, tokenised."""
    engine = make_engine(f"sqlite:///{directory / 'templates.db'}", sqlite_synchronous="normal")
    try:
        upgrade(engine)
        clock = Clock(datetime.combine(REFERENCE_DAY, datetime.min.time(), CST))
        node = assemble_county_node(Config(node=NodeConfig(division=TEMPLATE_DIVISION, name="莒县")), engine, clock)
        node.approval.apply_standards(bundle)
        runs = play(node, clock, bundle)
        return [_extract(engine, run, is_open) for run, is_open in runs]
    finally:
        engine.dispose()


def moved(value: Any, days: int) -> Any:
    """``value`` (a row value, or decoded JSON) with every moment and date moved by ``days`` days."""
    if not days:
        return value
    if isinstance(value, datetime):
        return value + timedelta(days=days)
    if isinstance(value, date):
        return value + timedelta(days=days)
    if isinstance(value, str):
        if _MOMENT.fullmatch(value):
            if len(value) == 10:
                return (date.fromisoformat(value) + timedelta(days=days)).isoformat()
            sep = value[10]
            shifted = datetime.fromisoformat(value) + timedelta(days=days)
            text = shifted.isoformat(sep)
            return text.replace("+00:00", "Z") if value.endswith("Z") else text
        return value
    if isinstance(value, dict):
        return {k: moved(v, days) for k, v in value.items()}
    if isinstance(value, list):
        return [moved(v, days) for v in value]
    return value
