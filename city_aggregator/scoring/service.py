"""Scoring runs (考核评分): compute, store and (at the province) send down the scores of a scope's counties.

:func:`compute_scores` reads the monthly counts of the scope in one read-only transaction (five grouped scans,
``adapters.aggregates``), sums them into the requested periods and scores every county, department and window in
pure code (``domain``), then replaces, in one write transaction, the ``scores`` rows of (this node, rules version,
period). At the province the same transaction appends one ``score`` outbox record per period and county, which the
sync agents carry down to the cities and counties.

Each breakdown is encoded once, as canonical JSON (``ScoredSubject.breakdown_json``); the ``scores`` rows are stored
with that text (COPY on PostgreSQL, ``adapters.store``) and the outbox payloads are assembled around it, byte for
byte what :func:`~federation.storage.scores_replica.score_record` + ``canonical_json`` would give.

Reproducible: the counts are integers, the arithmetic is Decimal at fixed places, the order of everything is
fixed, and ``computed_at`` is kept out of the exported content (:func:`export_scores`), so the same data and the
same rules version give the same output byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import Engine, and_, delete

from city_aggregator.scoring.adapters.aggregates import MonthRow, day_table, monthly_rows
from city_aggregator.scoring.adapters.store import write_scores
from city_aggregator.scoring.domain import MEASURES, ScoredSubject, SubjectKey, rank_subjects, score_subject
from federation.errors import StandardsNotLoaded, ValidationError
from federation.identities import DivisionLevel, level_of
from federation.scoring_rules import LEVELS, Period, ScoringRules, parse_period, parse_scoring_rules
from federation.storage.outbox import EncodedPayload, OutboxRecord, append, canonical_json, lock_origin
from federation.storage.scores_replica import export_rows, read_scores, score_record
from federation.storage.standards_store import current_bundle, load_calendar
from federation.storage.tables import scores
from federation.storage.uow import UnitOfWork
from federation.timeutil import local_date

__all__ = ["ScoreRun", "compute_scores", "export_scores", "resolve_rules", "scope_of"]

log = structlog.get_logger(__name__)

#: How far back the working-day table reaches before the first scored month: a case accepted earlier still gets
#: its exact clock (one accepted before that counts as accepted at the start of the calendar span — certainly late).
LOOKBACK_YEARS = 10


@dataclass(frozen=True, slots=True)
class ScoreRun:
    """What a run computed: per period and level, how many subjects were scored and ranked."""

    node: str
    scope: str
    rules_version: str
    periods: tuple[str, ...]
    subjects: Mapping[str, int]  # level -> scored subjects (all periods)
    ranked: Mapping[str, int]  # level -> ranked subjects (all periods)
    rows: int
    outbox_records: int
    input_digest: str  # a hash of every subject's input digest, in order
    counties: tuple[str, ...] = field(default=())


def scope_of(node: str) -> str:
    """The division prefix a node scores: ``37`` for a province, ``3711`` for a city."""
    level = level_of(node)
    if level is DivisionLevel.PROVINCE:
        return node[:2]
    if level is DivisionLevel.CITY:
        return node[:4]
    raise ValidationError(f"只有省级或市级节点可以计算考核评分（{node} 是县级节点）", node=node)


def resolve_rules(conn: Any, now: datetime) -> tuple[ScoringRules, str]:
    """The scoring rules of the standards bundle in force on ``now``'s local date, and its version."""
    bundle = current_bundle(conn, on=local_date(now)) or current_bundle(conn)
    if bundle is None:
        raise StandardsNotLoaded("本节点尚未应用任何标准包，无法计算考核评分")
    return parse_scoring_rules(bundle.scoring_rules), bundle.version


def _check_scope(scope: str) -> None:
    if not (scope.isdigit() and len(scope) in (2, 4, 6)):
        raise ValidationError(f"评分范围“{scope}”应为 2、4 或 6 位区划代码前缀", scope=scope)


def _sum_periods(
    rows: Sequence[MonthRow], periods: Sequence[Period], scope: str
) -> dict[str, dict[SubjectKey, list[int]]]:
    """Monthly rows summed into each period, per county, department and window."""
    by_month: dict[str, list[str]] = {}
    for p in periods:
        for m in p.months:
            by_month.setdefault(m, []).append(p.label)
    out: dict[str, dict[SubjectKey, list[int]]] = {p.label: {} for p in periods}
    keys: dict[tuple[str, str | None, str | None], list[SubjectKey]] = {}
    width = len(MEASURES)
    for row in rows:
        ident = (row.county, row.department, row.window)
        subject_keys = keys.get(ident)
        if subject_keys is None:
            subject_keys = [SubjectKey("county", row.county, row.county, scope)]
            if row.department is not None:
                subject_keys.append(
                    SubjectKey("department", f"{row.county}/{row.department}", row.county, row.department)
                )
            if row.window is not None:
                subject_keys.append(SubjectKey("window", f"{row.county}/{row.window}", row.county, row.county))
            keys[ident] = subject_keys
        counts = row.counts
        for label in by_month[row.month]:
            table = out[label]
            for key in subject_keys:
                acc = table.get(key)
                if acc is None:
                    acc = table[key] = [0] * width
                for i, v in counts:
                    acc[i] += v
    return out


def _scope_on_time(subjects: Mapping[SubjectKey, list[int]]) -> Decimal | None:
    cases = on_time = 0
    for key, m in subjects.items():
        if key.level == "county":
            cases += m[0]
            on_time += m[1]
    return None if cases == 0 else (Decimal(on_time) / Decimal(cases)).quantize(Decimal("0.0001"))


def _score_period(
    subjects: Mapping[SubjectKey, list[int]], rules: ScoringRules, rules_version: str, period: str
) -> list[ScoredSubject]:
    reference = _scope_on_time(subjects)
    return [
        score_subject(key, subjects[key], rules, rules_version=rules_version, period=period, scope_on_time=reference)
        for key in sorted(subjects)
    ]


def _json_text(value: str) -> str:
    return canonical_json(value)


def _row_json(row: Mapping[str, Any], digest_json: str) -> str:
    """One score row as the ``score`` record carries it: canonical JSON of its replicated fields, assembled around
    the breakdown's text (keys in sorted order: breakdown, cases, input_digest, level, rank, ranked_of, score,
    small_sample, subject)."""
    rank = row["rank"]
    return (
        f'{{"breakdown":{row["breakdown"]},"cases":{row["cases"]},"input_digest":{digest_json},'
        f'"level":{_json_text(row["level"])},"rank":{"null" if rank is None else rank},'
        f'"ranked_of":{row["ranked_of"]},"score":"{row["score"]}",'
        f'"small_sample":{"true" if row["small_sample"] else "false"},"subject":{_json_text(row["subject"])}}}'
    )


def _score_records(
    node: str, rules_version: str, table_rows: Sequence[Mapping[str, Any]], now: datetime
) -> list[OutboxRecord]:
    """One ``score`` record per (period, county), in that order: the payload of
    :func:`~federation.storage.scores_replica.score_record`, encoded from the rows' pre-encoded breakdowns."""
    by_county: dict[tuple[str, str], list[str]] = {}
    for r in table_rows:
        by_county.setdefault((r["period"], r["county"]), []).append(_row_json(r, f'"{r["input_digest"]}"'))
    records = []
    for (period, county), county_rows in sorted(by_county.items()):
        shell = score_record(computed_by=node, rules_version=rules_version, period=period, county=county, rows=[])
        envelope = canonical_json({**shell.payload, "computed_at": now.isoformat(), "rows": None})
        head, marker, tail = envelope.partition('"rows":null')
        assert marker, envelope
        payload = EncodedPayload(f'{head}"rows":[{",".join(county_rows)}]{tail}')
        records.append(OutboxRecord(shell.record_type, shell.record_id, shell.op, payload))
    return records


def compute_scores(
    engine: Engine,
    *,
    node: str,
    scope: str,
    periods: Sequence[str],
    now: datetime,
    rules: ScoringRules | None = None,
    rules_version: str | None = None,
) -> ScoreRun:
    """Score every county, department and window of ``scope`` for ``periods`` and store the scores.

    ``rules`` default to the scoring rules of the standards bundle in force (``rules_version`` its version); given
    explicitly without a version, they are stored under ``custom``. Replaces the rows of (``node``, rules version,
    period) atomically; at a province-level node, also queues the ``score`` records that carry them down.
    """
    _check_scope(scope)
    parsed = sorted({p.label: p for p in (parse_period(s) for s in periods)}.values(), key=lambda p: p.label)
    if not parsed:
        raise ValidationError("请至少指定一个考核周期")
    months = sorted({m for p in parsed for m in p.months})
    with UnitOfWork(engine, readonly=True) as uow:
        conn = uow.conn
        if rules is None:
            rules, found_version = resolve_rules(conn, now)
            rules_version = rules_version or found_version
        rules_version = rules_version or "custom"
        calendar = load_calendar(conn)
        first = date(int(months[0][:4]) - LOOKBACK_YEARS, 1, 1)
        end = max(p.end_day for p in parsed)
        with day_table(conn, calendar, first, end) as days:
            rows = monthly_rows(
                conn, days, scope=scope, months=months, now=now, early_percent=rules.early_finish.max_budget_percent
            )
    summed = _sum_periods(rows, parsed, scope)

    table_rows: list[dict[str, Any]] = []
    digests = hashlib.sha256()
    counts = dict.fromkeys(LEVELS, 0)
    ranked_counts = dict.fromkeys(LEVELS, 0)
    for p in parsed:
        scored = _score_period(summed[p.label], rules, rules_version, p.label)
        ranks = rank_subjects(scored)
        for s in scored:
            rank, ranked_of = ranks[s.key]
            counts[s.key.level] += 1
            ranked_counts[s.key.level] += rank is not None
            digests.update(s.input_digest.encode("ascii"))
            table_rows.append(
                {
                    "computed_by": node,
                    "rules_version": rules_version,
                    "period": p.label,
                    "level": s.key.level,
                    "subject": s.key.subject,
                    "county": s.key.county,
                    "cases": s.cases,
                    "score": s.score,
                    "small_sample": s.small_sample,
                    "rank": rank,
                    "ranked_of": ranked_of,
                    "breakdown": s.breakdown_json,
                    "input_digest": s.input_digest,
                    "computed_at": now,
                    "origin_seq": None,
                }
            )

    send_down = level_of(node) is DivisionLevel.PROVINCE
    records = _score_records(node, rules_version, table_rows, now) if send_down else []
    with UnitOfWork(engine) as uow:
        conn = uow.conn
        if records:
            lock_origin(conn, node)
        conn.execute(
            delete(scores).where(
                and_(
                    scores.c.computed_by == node,
                    scores.c.rules_version == rules_version,
                    scores.c.period.in_([p.label for p in parsed]),
                )
            )
        )
        write_scores(conn, table_rows)
        append(conn, origin=node, records=records, created_at=now, copy=True)
        uow.commit()
    run = ScoreRun(
        node=node,
        scope=scope,
        rules_version=rules_version,
        periods=tuple(p.label for p in parsed),
        subjects=counts,
        ranked=ranked_counts,
        rows=len(table_rows),
        outbox_records=len(records),
        input_digest=digests.hexdigest(),
        counties=tuple(sorted({r["county"] for r in table_rows})),
    )
    log.info(
        "scoring.run",
        node=node,
        scope=scope,
        rules_version=rules_version,
        periods=len(parsed),
        rows=run.rows,
        outbox=run.outbox_records,
    )
    return run


def export_scores(
    engine: Engine, *, computed_by: str, rules_version: str, period: str, level: str | None = None
) -> str:
    """The stored scores as canonical JSON: identical bytes for the same data and rules version."""
    with UnitOfWork(engine, readonly=True) as uow:
        rows = read_scores(uow.conn, computed_by=computed_by, rules_version=rules_version, period=period, level=level)
    return canonical_json(export_rows(rows))
