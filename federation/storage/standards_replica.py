"""Standards flowing down: the ``standards`` record and the applier that puts a replicated bundle in force.

The province publishes a bundle by applying it and appending, in the same transaction, one outbox row
(``province_center.standards.publish_standards``)::

    record_type "standards" · op "upsert" · record_id = bundle version · payload = the bundle's canonical JSON

A city relays the record unchanged; every node that receives it applies it with :class:`StandardsApplier`:

- ``prepare`` parses and validates the bundle (a malformed one is rejected, so it lands in quarantine with the
  reason in Chinese) and refuses a bundle that does not come from a province-level node (``xx0000``), whose
  issuer is not that origin, whose version is not the record id, or whose JSON is not its canonical form;
- ``apply`` puts each bundle newer than the one in force in place with
  :func:`~federation.storage.standards_store.apply_bundle`, atomically in the receiving transaction (each in a
  savepoint: a bundle the store refuses is returned for the quarantine and leaves nothing behind). A bundle not
  newer than the one in force is a no-op — a node never goes back to older standards.

"Newer" is :func:`is_newer`: the later effective date, then the later version (compared as a natural sort, so
``2026.09.10`` follows ``2026.09.9``). The province refuses to publish a bundle that is not newer, so the order
it publishes in is the order every node applies in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.engine import Connection

from federation.errors import StandardsError
from federation.identities import DivisionLevel, level_of
from federation.standards import StandardsBundle
from federation.storage.outbox import OutboxRecord, canonical_json
from federation.storage.standards_store import AppliedStandards, apply_bundle, current_bundle
from federation.timeutil import utcnow
from sync_agent.appliers import Prepared, Rejection
from sync_agent.domain import Record
from sync_agent.errors import RecordRejected

__all__ = [
    "STANDARDS_OP",
    "STANDARDS_RECORD",
    "OnApplied",
    "StandardsApplier",
    "is_newer",
    "standards_record",
    "version_key",
]

log = structlog.get_logger(__name__)

STANDARDS_RECORD = "standards"
STANDARDS_OP = "upsert"

#: Called in the receiving transaction after a bundle was put in force (e.g. a county recomputes the due moments
#: of its open cases when the calendar changed).
OnApplied = Callable[[Connection, AppliedStandards], None]

_RUN = re.compile(r"(\d+)")


def version_key(version: str) -> tuple[tuple[tuple[int, int | str], ...], str]:
    """A natural sort key of a version: runs of digits compare as numbers (``2026.09.10`` > ``2026.09.9``)."""
    parts = tuple((0, int(p)) if p.isdigit() else (1, p) for p in _RUN.split(version) if p)
    return parts, version


def is_newer(bundle: StandardsBundle, current: StandardsBundle | None) -> bool:
    """Whether ``bundle`` supersedes ``current``: a later effective date, or the same date and a later version."""
    if current is None:
        return True
    return (bundle.effective_date, version_key(bundle.version)) > (current.effective_date, version_key(current.version))


def standards_record(bundle: StandardsBundle) -> OutboxRecord:
    """The outbox row that carries ``bundle`` down (its payload is serialised as canonical JSON by the outbox)."""
    return OutboxRecord(STANDARDS_RECORD, bundle.version, STANDARDS_OP, bundle.to_dict())


class StandardsApplier:
    """``standards`` records (op ``upsert``, id = version): the newest bundle from the province is put in force.

    ``on_applied`` (optional) runs in the receiving transaction after each bundle put in force; ``clock`` gives
    the moment recorded as the bundle's ``applied_at`` on this node."""

    def __init__(self, on_applied: OnApplied | None = None, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._on_applied = on_applied
        self._clock = clock

    def prepare(self, origin: str, record: Record, payload: Any) -> StandardsBundle:
        if record.op != STANDARDS_OP:
            raise RecordRejected(
                f"标准包记录不支持操作“{record.op}”（应为 {STANDARDS_OP}）", record_id=record.record_id, op=record.op
            )
        if level_of(origin) is not DivisionLevel.PROVINCE:
            raise RecordRejected(
                f"标准包只能由省级节点发布，不能由 {origin} 发送", record_id=record.record_id, origin=origin
            )
        if not isinstance(payload, dict):
            raise RecordRejected("标准包记录的载荷应为 JSON 对象", record_id=record.record_id)
        try:
            bundle = StandardsBundle.from_dict(payload)
        except StandardsError as exc:
            raise RecordRejected(f"标准包无效：{exc.message}", record_id=record.record_id) from exc
        except (AttributeError, TypeError, ValueError, KeyError) as exc:  # a nested value of the wrong JSON type
            raise RecordRejected(f"标准包格式错误：{exc!r}", record_id=record.record_id) from exc
        if bundle.version != record.record_id:
            raise RecordRejected(
                f"标准包版本“{bundle.version}”与记录编号“{record.record_id}”不符", record_id=record.record_id
            )
        if bundle.issuer != origin:
            raise RecordRejected(
                f"标准包 {bundle.version} 的签发机关 {bundle.issuer} 与发送来源 {origin} 不符",
                record_id=record.record_id,
                origin=origin,
            )
        if canonical_json(bundle.to_dict()) != canonical_json(payload):
            raise RecordRejected(
                f"标准包 {bundle.version} 含有本节点无法识别的内容或非规范取值，拒绝应用（请升级本节点或核对标准包）",
                record_id=record.record_id,
            )
        return bundle

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[StandardsBundle]]) -> Sequence[Rejection]:
        rejected: list[Rejection] = []
        for item in items:  # in seq order: each bundle newer than the one in force at that point
            bundle = item.value
            current = current_bundle(conn)
            if current is not None and current.version == bundle.version and current.digest != bundle.digest:
                rejected.append(
                    Rejection(item.record, f"标准版本 {bundle.version} 已在使用但内容不同，拒绝应用（可能被篡改）")
                )
                continue
            if not is_newer(bundle, current):
                log.info(
                    "standards.not_newer",
                    origin=origin,
                    version=bundle.version,
                    current=current.version if current else None,
                )
                continue
            try:
                with conn.begin_nested():  # a bundle the store refuses leaves nothing of itself behind
                    result = apply_bundle(conn, bundle, self._clock())
                    if self._on_applied is not None:
                        self._on_applied(conn, result)
            except StandardsError as exc:
                rejected.append(Rejection(item.record, exc.message))
                continue
            log.info(
                "standards.replicated",
                origin=origin,
                version=bundle.version,
                previous=current.version if current else None,
                calendar_changed=result.calendar_changed,
            )
        return rejected
