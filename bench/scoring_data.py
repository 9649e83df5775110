"""A province-year of replicated supervision data for the ``scoring`` benchmark, generated and bulk-loaded.

Every county of Shandong (137, from the shipped division list) gets ``25,000 × scale × v`` cases (``v`` between
0.6 and 1.4, so volumes differ) and a quality ``q`` between 0 and 1 that raises its share of late cases, fee
mismatches, late key data and negative ratings. Each case clones one real lifecycle of
:mod:`bench.scoring_templates`, chosen by item (instant items 20 %, joint 2 %, the promised items the rest, the
first ones more often) and profile (mostly on time; some finished on the last day, late, corrected, …), moved by
whole weeks to a week of 2026 drawn evenly (a week whose working days match the template's over the case's span
when one is at most two weeks away, so its working-day spacing — due moments, alerts — holds), with a new case
number, window (``W01``…``W36``, two per department) and record ids. A case of the "on time" profile gets a
rating with probability 0.55 and a complaint with 0.004.

The rows are what the province holds after replication: the counties' rows with ``origin_seq`` set and the
county-only supervision bookkeeping (``sup_wake_at``, ``sup_evidence``) null. They are encoded once per
(template, week) in the form the backend's loader takes — COPY text for PostgreSQL, DB-API tuples (values as
SQLAlchemy's own bind processors make them) for SQLite — and the tokens filled in per case.
"""

from __future__ import annotations

import csv
import json
import random
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any

import psycopg
from sqlalchemy import Dialect, Engine, Table

from bench.scoring_templates import (
    CASE_TOKEN,
    COMPLAINT_VARIANTS,
    DIVISION_TOKEN,
    NOW,
    RATING_VARIANTS,
    SERIAL_TOKEN,
    TABLES,
    WINDOW_TOKEN,
    Template,
    moved,
)
from federation.calendar import WorkingCalendar
from federation.data import DIVISIONS_CSV
from federation.standards import StandardsBundle

__all__ = ["BASE_CASES", "County", "Population", "copy_postgresql", "counties", "insert_sqlite"]

BASE_CASES = 25_000
FIRST_DAY = date(2026, 1, 5)  # the first Monday of 2026

_PROFILE_WEIGHTS: Mapping[str, tuple[float, float]] = {  # profile → (weight at q = 0, added at q = 1)
    "fast": (0.50, -0.06),
    "full": (0.13, 0.02),
    "late": (0.010, 0.05),
    "correction": (0.12, 0.03),
    "suspended": (0.02, 0.0),
    "extended": (0.02, 0.0),
    "refused": (0.02, 0.0),
    "returned": (0.02, 0.01),
    "denied": (0.01, 0.0),
    "fee": (0.001, 0.006),
    "record_data": (0.01, 0.03),
}
_OPEN_SHARE = 0.02  # cases still open at the end of the year
_OPEN_WEIGHTS = {"open_running": 0.6, "open_yellow": 0.2, "open_red": 0.1, "open_correction": 0.1}
_RATED = 0.55
_COMPLAINED = 0.004


@dataclass(frozen=True, slots=True)
class County:
    code: str
    name: str
    cases: int
    quality: float  # 0 (best) … 1 (worst)


def counties(scale: float, seed: int) -> list[County]:
    """Every county of the shipped division list with its number of cases and its quality."""
    rng = random.Random(f"{seed}:counties")
    with DIVISIONS_CSV.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["level"] == "county"]
    return [
        County(r["code"], r["name"], max(20, round(BASE_CASES * scale * rng.uniform(0.6, 1.4))), rng.random())
        for r in rows
    ]


# -- encoding ------------------------------------------------------------------------------------------------------


def _copy_text(value: Any) -> str:
    """One value in PostgreSQL's COPY text format (the JSON as the engine's serializer writes it)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | Decimal):
        return str(value)
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class _SqliteEncoder:
    def __init__(self, dialect: Dialect) -> None:
        self._processors = {t.name: [c.type._cached_bind_processor(dialect) for c in t.c] for t in TABLES}

    def row(self, table: Table, row: Mapping[str, Any]) -> tuple[list[Any], tuple[tuple[int, str], ...]]:
        """The row's driver values, and the cells that hold tokens as format strings (see :func:`_format`)."""
        out = [
            v if p is None or v is None or _has_token(v) else p(v)
            for v, p in zip((row[c.name] for c in table.c), self._processors[table.name], strict=True)
        ]
        return out, tuple((i, _format(v)) for i, v in enumerate(out) if _has_token(v))


def _has_token(value: Any) -> bool:
    return isinstance(value, str) and "@@" in value


_TOKENS = ((CASE_TOKEN, "{c}"), (DIVISION_TOKEN, "{d}"), (SERIAL_TOKEN, "{s}"), (WINDOW_TOKEN, "{w}"))


def _format(text: str) -> str:
    """``text`` as a format string whose fields are the tokens (one ``format_map`` per case fills them all)."""
    text = text.replace("{", "{{").replace("}", "}}")
    for token, name in _TOKENS:
        text = text.replace(token, name)
    return text


# -- the population ------------------------------------------------------------------------------------------------


def _week_choices(t: Template, calendar: WorkingCalendar) -> list[int]:
    """The week shifts a clone of ``t`` draws from, one per week of 2026 it fits in (before :data:`NOW`): that week
    itself when the calendar there has the same working days over the case's span, else the nearest week (at most
    two away) that has, else the week itself moved to a working submission day — so cases spread evenly over the
    year and almost all keep their template's working-day spacing, hence due moments and alerts."""
    if t.is_open:
        return [0]
    lo = -((t.first - FIRST_DAY).days // 7)
    hi = (NOW.date() - timedelta(days=1) - t.last).days // 7
    span = [t.first + timedelta(days=i) for i in range((t.case_last - t.first).days + 1)]
    pattern = [calendar.is_working_day(d) for d in span]
    exact = {w for w in range(lo, hi + 1) if [calendar.is_working_day(d + timedelta(weeks=w)) for d in span] == pattern}
    working = [w for w in range(lo, hi + 1) if calendar.is_working_day(t.first + timedelta(weeks=w))] or [0]
    out = []
    for w in range(lo, hi + 1):
        near = [v for v in (w, w - 1, w + 1, w - 2, w + 2) if v in exact]
        out.append(near[0] if near else min(working, key=lambda v: abs(v - w)))
    return out


class Population:
    """The generator: templates, their weights and week shifts, and the encoded rows of each (template, week)."""

    def __init__(self, templates: Sequence[Template], bundle: StandardsBundle, seed: int) -> None:
        self.templates = list(templates)
        self.bundle = bundle
        self.seed = seed
        calendar = bundle.calendar()
        self._weeks = [_week_choices(t, calendar) for t in self.templates]
        items = list(bundle.items)
        promised = [i for i in items if i.kind.value == "promised"]
        item_weight: dict[str, float] = {}
        for i in items:
            if i.kind.value == "instant":
                item_weight[i.code] = 0.20 / sum(1 for x in items if x.kind.value == "instant")
            elif i.kind.value == "joint":
                item_weight[i.code] = 0.02 / sum(1 for x in items if x.kind.value == "joint")
        zipf = [1 / (1 + k / 6) for k in range(len(promised))]
        for i, z in zip(promised, zipf, strict=True):
            item_weight[i.code] = 0.78 * z / sum(zipf)
        self._item_weight = item_weight
        departments = sorted({i.department for i in items})
        self._windows = {
            i.code: (
                f"W{(2 * departments.index(i.department)) % 36 + 1:02d}",
                f"W{(2 * departments.index(i.department) + 1) % 36 + 1:02d}",
            )
            for i in items
        }
        self._cache: dict[tuple[int, int, str], Any] = {}
        self._encoder: _SqliteEncoder | None = None

    def _weights(self, quality: float) -> list[float]:
        by_item: dict[str, list[int]] = {}
        for k, t in enumerate(self.templates):
            by_item.setdefault(t.item_code, []).append(k)
        weights = [0.0] * len(self.templates)
        for code, ks in by_item.items():
            closed = [k for k in ks if not self.templates[k].is_open]
            opened = [k for k in ks if self.templates[k].is_open]
            raw = {
                k: max(0.0, a + b * quality) for k in closed for a, b in [_PROFILE_WEIGHTS[self.templates[k].profile]]
            }
            total = sum(raw.values())
            open_share = _OPEN_SHARE if opened else 0.0
            for k in closed:
                weights[k] = self._item_weight[code] * (1 - open_share) * raw[k] / total
            for k in opened:
                weights[k] = self._item_weight[code] * open_share * _OPEN_WEIGHTS[self.templates[k].profile]
        return weights

    # -- encoded rows of one (template, week, group) ----------------------------------------------------------
    def _group(self, k: int, week: int, group: str, backend: str) -> Any:
        key = (k, week, group)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        tables = self.templates[k].groups[group]
        days = week * 7
        if backend == "postgresql":
            parts = []
            for table in TABLES:
                rows = tables.get(table.name, [])
                parts.append(
                    "".join("\t".join(_copy_text(moved(r[c.name], days)) for c in table.c) + "\n" for r in rows)
                )
            value: Any = _format("\x00".join(parts))
        else:
            assert self._encoder is not None
            value = [
                [
                    self._encoder.row(table, {c: moved(v, days) for c, v in r.items()})
                    for r in tables.get(table.name, [])
                ]
                for table in TABLES
            ]
        self._cache[key] = value
        return value

    def county_rows(self, county: County, backend: str, dialect: Dialect | None = None) -> tuple[list[Any], int, int]:
        """The county's rows, one entry per table of :data:`TABLES` (COPY text, or lists of row values), with the
        numbers of cases and events."""
        if backend == "sqlite" and self._encoder is None:
            assert dialect is not None
            self._encoder = _SqliteEncoder(dialect)
        rng = random.Random(f"{self.seed}:{county.code}")
        weights = list(accumulate(self._weights(county.quality)))
        chosen = rng.choices(range(len(self.templates)), cum_weights=weights, k=county.cases)
        per_day: dict[date, int] = {}
        ratings_v = list(RATING_VARIANTS)
        rating_cw = list(accumulate([0.90 - 0.01 * county.quality, 0.08, 0.015, 0.004 + 0.01 * county.quality, 0.001]))
        complaint_v = list(COMPLAINT_VARIANTS)
        events = 0
        text: list[list[str]] = [[] for _ in TABLES]
        rows: list[list[list[Any]]] = [[] for _ in TABLES]
        for serial, k in enumerate(chosen, start=1):
            t = self.templates[k]
            weeks = self._weeks[k]
            week = weeks[0] if len(weeks) == 1 else rng.choice(weeks)
            day = t.first + timedelta(weeks=week)
            seq = per_day[day] = per_day.get(day, 0) + 1
            case_no = f"{county.code}-{day:%Y%m%d}-{seq:06d}"
            window = self._windows[t.item_code][rng.random() < 0.5]
            groups = ["case"]
            if t.profile == "fast":
                if rng.random() < _RATED:
                    groups.append(rng.choices(ratings_v, cum_weights=rating_cw)[0])
                if rng.random() < _COMPLAINED:
                    groups.append(complaint_v[rng.random() < 0.15 + 0.2 * county.quality])
            fields = {"c": case_no, "d": county.code, "s": f"{serial:07d}", "w": window}
            events += len(t.groups["case"]["case_events"])
            for g in groups:
                enc = self._group(k, week, g, backend)
                if backend == "postgresql":
                    for i, part in enumerate(enc.format_map(fields).split("\x00")):
                        if part:
                            text[i].append(part)
                else:
                    for i, table_rows in enumerate(enc):
                        out = rows[i]
                        for values, cells in table_rows:
                            row = values.copy()
                            for j, fmt in cells:
                                row[j] = fmt.format_map(fields)
                            out.append(row)
        if backend == "postgresql":
            return ["".join(parts) for parts in text], county.cases, events
        return rows, county.cases, events


# -- loading -------------------------------------------------------------------------------------------------------


def _columns(table: Table) -> str:
    return ", ".join(f'"{c.name}"' for c in table.c)


def copy_postgresql(engine: Engine, chunks: Iterator[list[str]]) -> None:
    """COPY each county's rows (one COPY text per table) into PostgreSQL, one transaction per county."""
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert isinstance(driver, psycopg.Connection)
        for chunk in chunks:
            with driver.cursor() as cur:
                for table, data in zip(TABLES, chunk, strict=True):
                    if data:
                        with cur.copy(f"COPY {table.name} ({_columns(table)}) FROM STDIN") as copy:
                            copy.write(data)
            driver.commit()
    finally:
        raw.close()


def insert_sqlite(path: str, chunks: Iterator[list[list[list[Any]]]]) -> None:
    """``executemany`` each county's rows into the SQLite file at ``path`` (synchronous=OFF for the load only)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        statements = [f"INSERT INTO {t.name} ({_columns(t)}) VALUES ({', '.join('?' * len(t.c))})" for t in TABLES]
        conn.execute("BEGIN")
        for n, chunk in enumerate(chunks, start=1):
            for sql, data in zip(statements, chunk, strict=True):
                if data:
                    conn.executemany(sql, data)
            if n % 10 == 0:
                conn.execute("COMMIT")
                conn.execute("BEGIN")
        conn.execute("COMMIT")
    finally:
        conn.close()
