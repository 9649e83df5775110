"""Scores flowing down: the ``score`` record, its applier, and the reads every node uses to show a rank.

The province's scoring run (``city_aggregator.scoring.service.compute_scores``) appends, in the transaction that
writes its ``scores`` rows, one outbox row per rules version × period × county::

    record_type "score" · op "upsert" · record_id = "{county}/{period}/{version}" (hashed when longer than 64)
    payload = {computed_by, rules_version, period, county, rows: [county row, its department rows, its windows]}

A city relays it unchanged; the city and every county apply it with :class:`ScoreApplier`: ``prepare`` refuses a
record that does not come from a province-level node, names another computing node, or is malformed; ``apply``
replaces the rows of that (computing node, rules version, period, county) when the record's origin seq is newer
than the one stored, so a re-run supersedes the previous one and a resent record changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.engine import Connection

from federation.errors import RecordRejected, ValidationError
from federation.identities import DivisionLevel, level_of
from federation.replication import Prepared, Record, Rejection
from federation.scoring_rules import LEVELS, parse_period
from federation.storage.outbox import OutboxRecord
from federation.storage.tables import scores

__all__ = [
    "SCORE_OP",
    "SCORE_RECORD",
    "ScoreApplier",
    "ScoreSet",
    "export_rows",
    "latest_rules_version",
    "rank_group",
    "read_scores",
    "score_record",
    "small_sample_parts",
    "top_losses",
]

SCORE_RECORD = "score"
SCORE_OP = "upsert"

_COUNTY_RE = re.compile(r"^\d{6}$")
_ROW_FIELDS = ("level", "subject", "cases", "score", "small_sample", "rank", "ranked_of", "breakdown", "input_digest")


def _record_id(county: str, period: str, rules_version: str) -> str:
    rid = f"{county}/{period}/{rules_version}"
    if len(rid) > 64:
        rid = f"{county}/{period}/{hashlib.sha256(rules_version.encode('utf-8')).hexdigest()[:32]}"
    return rid


def score_record(
    *, computed_by: str, rules_version: str, period: str, county: str, rows: Sequence[Mapping[str, Any]]
) -> OutboxRecord:
    """The outbox row carrying one county's scores of one period (``rows``: its ``scores`` rows)."""
    payload = {
        "computed_by": computed_by,
        "rules_version": rules_version,
        "period": period,
        "county": county,
        "computed_at": rows[0]["computed_at"].isoformat() if rows else None,
        "rows": [{k: r[k] for k in _ROW_FIELDS} for r in rows],
    }
    return OutboxRecord(SCORE_RECORD, _record_id(county, period, rules_version), SCORE_OP, payload)


@dataclass(frozen=True, slots=True)
class ScoreSet:
    """A checked ``score`` record: the rows of one county, one period, one rules version."""

    computed_by: str
    rules_version: str
    period: str
    county: str
    computed_at: datetime
    rows: list[dict[str, Any]]


def _reject(message: str, record: Record) -> RecordRejected:
    return RecordRejected(f"考核评分记录无效：{message}", record_id=record.record_id)


def _row(raw: Any, county: str, record: Record) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _reject("rows 中的每一项应为 JSON 对象", record)
    missing = [k for k in _ROW_FIELDS if k not in raw]
    if missing:
        raise _reject(f"缺少字段“{missing[0]}”", record)
    level, subject = raw["level"], raw["subject"]
    if level not in LEVELS:
        raise _reject(f"层级“{level}”未知", record)
    if not isinstance(subject, str) or not (
        subject == county if level == "county" else subject.startswith(county + "/")
    ):
        raise _reject(f"评分对象“{subject}”不属于 {county}", record)
    if len(subject) > 160:
        raise _reject("评分对象名称过长", record)
    for key in ("cases", "ranked_of"):
        if isinstance(raw[key], bool) or not isinstance(raw[key], int) or raw[key] < 0:
            raise _reject(f"“{key}”应为非负整数", record)
    rank = raw["rank"]
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        raise _reject("“rank”应为正整数或 null", record)
    if not isinstance(raw["small_sample"], bool):
        raise _reject("“small_sample”应为 true 或 false", record)
    try:
        score = Decimal(str(raw["score"]))
    except InvalidOperation:
        raise _reject(f"分数“{raw['score']}”不是数值", record) from None
    if not score.is_finite() or score < 0 or score >= 100000 or score != score.quantize(Decimal("0.01")):
        raise _reject(f"分数“{raw['score']}”超出范围或精度", record)
    if not isinstance(raw["breakdown"], dict):
        raise _reject("“breakdown”应为 JSON 对象", record)
    digest = raw["input_digest"]
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise _reject("“input_digest”应为 64 位十六进制摘要", record)
    return {
        "level": level,
        "subject": subject,
        "cases": raw["cases"],
        "score": score,
        "small_sample": raw["small_sample"],
        "rank": rank,
        "ranked_of": raw["ranked_of"],
        "breakdown": raw["breakdown"],
        "input_digest": digest,
    }


class ScoreApplier:
    """``score`` records (op ``upsert``): the province's scores of one county and period, newest by origin seq."""

    def prepare(self, origin: str, record: Record, payload: Any) -> ScoreSet:
        if record.op != SCORE_OP:
            raise RecordRejected(
                f"考核评分记录不支持操作“{record.op}”（应为 {SCORE_OP}）", record_id=record.record_id, op=record.op
            )
        if level_of(origin) is not DivisionLevel.PROVINCE:
            raise RecordRejected(
                f"考核评分只能由省级节点下发，不能由 {origin} 发送", record_id=record.record_id, origin=origin
            )
        if not isinstance(payload, dict):
            raise _reject("载荷应为 JSON 对象", record)
        if payload.get("computed_by") != origin:
            raise _reject(f"计算节点“{payload.get('computed_by')}”与发送来源 {origin} 不符", record)
        county, version, period = payload.get("county"), payload.get("rules_version"), payload.get("period")
        if not isinstance(county, str) or not _COUNTY_RE.fullmatch(county) or not county.startswith(origin[:2]):
            raise _reject(f"县级区划“{county}”无效或不属于 {origin}", record)
        if not isinstance(version, str) or not 0 < len(version) <= 64:
            raise _reject("“rules_version”应为标准版本号", record)
        try:
            label = parse_period(str(period)).label
        except ValidationError as exc:
            raise _reject(exc.message, record) from None
        if label != period:
            raise _reject(f"考核周期“{period}”格式错误", record)
        if record.record_id != _record_id(county, label, version):
            raise _reject(f"记录编号“{record.record_id}”与内容不符", record)
        try:
            computed_at = datetime.fromisoformat(str(payload.get("computed_at")))
        except ValueError:
            raise _reject("“computed_at”应为 ISO 时间", record) from None
        if computed_at.tzinfo is None:
            raise _reject("“computed_at”应带时区", record)
        rows_raw = payload.get("rows")
        if not isinstance(rows_raw, list) or not rows_raw:
            raise _reject("“rows”应为非空数组", record)
        rows = [_row(r, county, record) for r in rows_raw]
        keys = [(r["level"], r["subject"]) for r in rows]
        if len(set(keys)) != len(keys):
            raise _reject("rows 中有重复的评分对象", record)
        if ("county", county) not in keys:
            raise _reject(f"缺少 {county} 的县级评分", record)
        return ScoreSet(origin, version, label, county, computed_at, rows)

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[ScoreSet]]) -> Sequence[Rejection]:
        newest: dict[tuple[str, str, str, str], Prepared[ScoreSet]] = {}
        for item in items:  # in seq order: the last of a key wins
            s = item.value
            newest[(s.computed_by, s.rules_version, s.period, s.county)] = item
        for (computed_by, version, period, county), item in newest.items():
            where = and_(
                scores.c.computed_by == computed_by,
                scores.c.rules_version == version,
                scores.c.period == period,
                scores.c.county == county,
            )
            held = conn.execute(select(func.max(scores.c.origin_seq)).where(where)).scalar()
            if held is not None and held >= item.record.origin_seq:
                continue
            conn.execute(delete(scores).where(where))
            s = item.value
            conn.execute(
                insert(scores),
                [
                    {
                        **r,
                        "computed_by": computed_by,
                        "rules_version": version,
                        "period": period,
                        "county": county,
                        "computed_at": s.computed_at,
                        "origin_seq": item.record.origin_seq,
                    }
                    for r in s.rows
                ],
            )
        return []


# -- reads (any node) ---------------------------------------------------------------------------------------------


def latest_rules_version(
    conn: Connection, *, computed_by: str | None, period: str, county: str | None = None
) -> tuple[str, str] | None:
    """The (computing node, rules version) of the most recent scores held for ``period`` (and ``county``)."""
    stmt = select(scores.c.computed_by, scores.c.rules_version).where(scores.c.period == period)
    if computed_by is not None:
        stmt = stmt.where(scores.c.computed_by == computed_by)
    if county is not None:
        stmt = stmt.where(scores.c.county == county)
    row = conn.execute(
        stmt.order_by(scores.c.computed_at.desc(), scores.c.rules_version.desc(), scores.c.computed_by).limit(1)
    ).first()
    return None if row is None else (str(row[0]), str(row[1]))


def read_scores(
    conn: Connection,
    *,
    computed_by: str,
    rules_version: str,
    period: str,
    level: str | None = None,
    county: str | None = None,
    subject: str | None = None,
) -> list[dict[str, Any]]:
    """Score rows in a stable order: level, ranked first by rank, then the small samples, then subject."""
    stmt = select(scores).where(
        scores.c.computed_by == computed_by, scores.c.rules_version == rules_version, scores.c.period == period
    )
    if level is not None:
        stmt = stmt.where(scores.c.level == level)
    if county is not None:
        stmt = stmt.where(scores.c.county == county)
    if subject is not None:
        stmt = stmt.where(scores.c.subject == subject)
    rows = [dict(r._mapping) for r in conn.execute(stmt)]
    order = {lv: i for i, lv in enumerate(LEVELS)}
    rows.sort(key=lambda r: (order[r["level"]], rank_group(r), r["rank"] is None, r["rank"] or 0, r["subject"]))
    return rows


def rank_group(row: Mapping[str, Any]) -> str:
    """The set a score row is ranked within: the scope for counties, the department's name across the scope for
    departments, the county for windows."""
    if row["level"] == "department":
        return str(row["subject"]).split("/", 1)[1]
    if row["level"] == "window":
        return str(row["county"])
    return ""


def export_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The exported form of score rows: everything but ``computed_at`` and the replication bookkeeping."""
    return [
        {
            "computed_by": r["computed_by"],
            "rules_version": r["rules_version"],
            "period": r["period"],
            "level": r["level"],
            "subject": r["subject"],
            "county": r["county"],
            "cases": r["cases"],
            "score": str(Decimal(r["score"]).quantize(Decimal("0.01"))),
            "small_sample": bool(r["small_sample"]),
            "rank": r["rank"],
            "ranked_of": r["ranked_of"],
            "breakdown": r["breakdown"],
            "input_digest": r["input_digest"],
        }
        for r in rows
    ]


def top_losses(breakdown: Mapping[str, Any], n: int = 3) -> list[tuple[str, Decimal]]:
    """The ``n`` largest losses of a score: deductions and indicator shortfalls, largest first (name, points).
    A part left out for a small sample (null points) lost nothing."""
    losses: list[tuple[str, Decimal]] = []
    for d in breakdown.get("deductions", ()):
        if d["points"] is not None and (points := Decimal(str(d["points"]))):
            losses.append((str(d["name"]), points))
    for i in breakdown.get("indicators", ()):
        if i["lost"] is not None and (lost := Decimal(str(i["lost"]))):
            losses.append((str(i["name"]), -lost))
    losses.sort(key=lambda item: (item[1], item[0]))
    return losses[:n]


def small_sample_parts(breakdown: Mapping[str, Any]) -> list[str]:
    """The names of the indicators, deductions and bonuses of a score left out for a small sample (样本不足: their
    points are null), in the breakdown's order."""
    return [
        str(part["name"])
        for key in ("indicators", "deductions", "bonuses")
        for part in breakdown.get(key, ())
        if part["points"] is None
    ]
