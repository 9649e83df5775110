"""The county's public stream (``371122-pub``) applied at its extranet node: the appliers of the four *out* records.

Each ``prepare`` accepts a record only from the county's own public stream (the receiver's policy already lets no
other sender in; checked again here, so a replayed quarantine row is held to the same rule), with op ``upsert``,
a record id naming what the payload names, and a payload the contract's parser accepts
(:mod:`federation.public_records`); anything else raises :class:`~federation.errors.RecordRejected` and the sink
quarantines it. Each ``apply`` writes its records with a handful of set-based statements — an
``INSERT … ON CONFLICT DO UPDATE … WHERE stored.origin_seq < excluded.origin_seq`` executed once for all of a
batch's records — so a snapshot is applied only when it is newer than the one held, and a resent or replayed
record changes nothing:

* ``public_catalogue`` (record id ``catalogue``) replaces the whole item list, when its seq is newer than the
  catalogue held (its seq is kept in ``node_settings``, so an empty catalogue is remembered too);
* ``public_case`` upserts ``ext_cases``; ``disclosure`` upserts ``ext_disclosures``;
* ``submission_result`` updates the submission made here (outcome, case number, reason, decided_at,
  ``result_seq``); a result for a submission this node does not hold is returned for quarantine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, Generic, TypeVar

from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from federation.errors import RecordRejected
from federation.identities import public_stream_of
from federation.public_records import (
    DISCLOSURE,
    PUBLIC_CASE,
    PUBLIC_CATALOGUE,
    SUBMISSION_RESULT,
    Disclosure,
    PublicCase,
    PublicCatalogue,
    SubmissionResult,
    parse_disclosure,
    parse_public_case,
    parse_public_catalogue,
    parse_submission_result,
)
from federation.replication import Applier, Prepared, Record, Rejection
from federation.storage.tables import ext_cases, ext_disclosures, ext_items, ext_submissions, node_settings

__all__ = [
    "CATALOGUE_RECORD_ID",
    "CATALOGUE_SEQ_KEY",
    "CaseApplier",
    "CatalogueApplier",
    "DisclosureApplier",
    "SubmissionResultApplier",
    "extranet_appliers",
]

CATALOGUE_RECORD_ID = "catalogue"
CATALOGUE_SEQ_KEY = "extranet.catalogue_seq"  # node_settings: the public stream's seq of the catalogue held
_OP = "upsert"

V = TypeVar("V")


class _PublicStreamApplier(Generic[V]):
    """What the four appliers share: the county, the origin and op checks, the record id check."""

    record_type = ""

    def __init__(self, county: str) -> None:
        self.county = county
        self.origin = public_stream_of(county)

    def _check(self, origin: str, record: Record) -> None:
        if origin != self.origin:
            raise RecordRejected(
                f"{self.record_type} 记录只能来自本县的公开数据流 {self.origin}，不能来自 {origin}",
                record_id=record.record_id,
                origin=origin,
            )
        if record.op != _OP:
            raise RecordRejected(
                f"{self.record_type} 记录不支持操作“{record.op}”（应为 {_OP}）", record_id=record.record_id
            )

    @staticmethod
    def _same_id(record: Record, named: str, field: str) -> None:
        if record.record_id != named:
            raise RecordRejected(
                f"记录编号“{record.record_id[:40]}”与内容中的 {field}“{named}”不符", record_id=record.record_id
            )

    @staticmethod
    def _latest(items: Sequence[Prepared[V]], key: Callable[[V], str]) -> dict[str, tuple[V, int]]:
        """The newest record of each key in the batch (items arrive in seq order)."""
        latest: dict[str, tuple[V, int]] = {}
        for item in items:
            latest[key(item.value)] = (item.value, item.record.origin_seq)
        return latest


def _newer_wins(ins: Any, table: Any, key: str, columns: Sequence[str]) -> Any:
    stmt = ins(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={name: stmt.excluded[name] for name in columns if name != key},
        where=table.c.origin_seq < stmt.excluded.origin_seq,
    )


def _upsert(conn: Connection, statements: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(statements[conn.dialect.name], rows)  # one executemany for the whole batch


# -- public_catalogue ---------------------------------------------------------------------------------------------


class CatalogueApplier(_PublicStreamApplier[PublicCatalogue]):
    record_type = PUBLIC_CATALOGUE

    def prepare(self, origin: str, record: Record, payload: Any) -> PublicCatalogue:
        self._check(origin, record)
        self._same_id(record, CATALOGUE_RECORD_ID, "record_id")
        catalogue = parse_public_catalogue(payload)
        codes = [i.code for i in catalogue.items]
        if len(set(codes)) != len(codes):
            raise RecordRejected("外网事项目录：事项编码重复", record_id=record.record_id)
        return catalogue

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[PublicCatalogue]]) -> Sequence[Rejection]:
        newest = items[-1]
        seq = newest.record.origin_seq
        held = conn.execute(select(node_settings.c.value).where(node_settings.c.key == CATALOGUE_SEQ_KEY)).scalar()
        if held is not None and int(held) >= seq:
            return []
        catalogue = newest.value
        conn.execute(delete(ext_items))
        if catalogue.items:
            conn.execute(
                insert(ext_items),
                [
                    {
                        **asdict(i),
                        "key_fields": list(i.key_fields),
                        "standards_version": catalogue.standards_version,
                        "updated_at": catalogue.published_at,
                    }
                    for i in catalogue.items
                ],
            )
        if held is None:
            conn.execute(insert(node_settings).values(key=CATALOGUE_SEQ_KEY, value=str(seq)))
        else:
            conn.execute(update(node_settings).where(node_settings.c.key == CATALOGUE_SEQ_KEY).values(value=str(seq)))
        return []


# -- public_case --------------------------------------------------------------------------------------------------

_CASE_COLUMNS = [c.name for c in ext_cases.c]
_UPSERT_CASE = {
    "postgresql": _newer_wins(pg_insert, ext_cases, "case_no", _CASE_COLUMNS),
    "sqlite": _newer_wins(sqlite_insert, ext_cases, "case_no", _CASE_COLUMNS),
}


class CaseApplier(_PublicStreamApplier[PublicCase]):
    record_type = PUBLIC_CASE

    def prepare(self, origin: str, record: Record, payload: Any) -> PublicCase:
        self._check(origin, record)
        case = parse_public_case(self.county, payload)
        self._same_id(record, case.case_no, "case_no")
        return case

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[PublicCase]]) -> Sequence[Rejection]:
        rows = [
            {
                **asdict(case),
                "correction": list(case.correction),
                "submission_id": case.submission_id or None,
                "origin_seq": seq,
            }
            for case, seq in self._latest(items, lambda c: c.case_no).values()
        ]
        _upsert(conn, _UPSERT_CASE, rows)
        return []


# -- disclosure ---------------------------------------------------------------------------------------------------

_DISCLOSURE_COLUMNS = [c.name for c in ext_disclosures.c]
_UPSERT_DISCLOSURE = {
    "postgresql": _newer_wins(pg_insert, ext_disclosures, "case_no", _DISCLOSURE_COLUMNS),
    "sqlite": _newer_wins(sqlite_insert, ext_disclosures, "case_no", _DISCLOSURE_COLUMNS),
}


class DisclosureApplier(_PublicStreamApplier[Disclosure]):
    record_type = DISCLOSURE

    def prepare(self, origin: str, record: Record, payload: Any) -> Disclosure:
        self._check(origin, record)
        disclosure = parse_disclosure(self.county, payload)
        self._same_id(record, disclosure.case_no, "case_no")
        return disclosure

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[Disclosure]]) -> Sequence[Rejection]:
        rows = [{**asdict(d), "origin_seq": seq} for d, seq in self._latest(items, lambda d: d.case_no).values()]
        _upsert(conn, _UPSERT_DISCLOSURE, rows)
        return []


# -- submission_result --------------------------------------------------------------------------------------------

_RECORD_RESULT = (
    update(ext_submissions)
    .where(
        ext_submissions.c.submission_id == bindparam("k_submission_id"),
        or_(ext_submissions.c.result_seq.is_(None), ext_submissions.c.result_seq < bindparam("k_seq")),
    )
    .values(
        outcome=bindparam("outcome"),
        case_no=bindparam("case_no"),
        reason=bindparam("reason"),
        decided_at=bindparam("decided_at"),
        result_seq=bindparam("k_seq"),
    )
)


class SubmissionResultApplier(_PublicStreamApplier[SubmissionResult]):
    record_type = SUBMISSION_RESULT

    def prepare(self, origin: str, record: Record, payload: Any) -> SubmissionResult:
        self._check(origin, record)
        result = parse_submission_result(self.county, payload)
        self._same_id(record, result.submission_id, "submission_id")
        return result

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[SubmissionResult]]) -> Sequence[Rejection]:
        latest = self._latest(items, lambda r: r.submission_id)
        held = set(
            conn.execute(
                select(ext_submissions.c.submission_id).where(ext_submissions.c.submission_id.in_(list(latest)))
            ).scalars()
        )
        rows = [
            {
                "k_submission_id": r.submission_id,
                "outcome": r.outcome,
                "case_no": r.case_no or None,
                "reason": r.reason,
                "decided_at": r.decided_at,
                "k_seq": seq,
            }
            for key, (r, seq) in latest.items()
            if key in held
        ]
        if rows:
            conn.execute(_RECORD_RESULT, rows)  # one executemany for the whole batch
        by_key = {item.value.submission_id: item.record for item in items}
        return [
            Rejection(by_key[key], f"本节点没有网上申报 {key}，无法记录其处理结果") for key in latest if key not in held
        ]


def extranet_appliers(county: str) -> dict[str, Applier[Any]]:
    """What the extranet node of ``county`` applies from the county's public stream (the catalogue first: the
    cases and results name its items)."""
    return {
        PUBLIC_CATALOGUE: CatalogueApplier(county),
        PUBLIC_CASE: CaseApplier(county),
        SUBMISSION_RESULT: SubmissionResultApplier(county),
        DISCLOSURE: DisclosureApplier(county),
    }
