"""Standards flowing down: the ``standards`` record and the applier that puts a replicated bundle in force.

The province publishes a bundle by applying it and appending, in the same transaction, one outbox row
(``province_center.standards.publish_standards``)::

    record_type "standards" · op "upsert" · record_id = bundle version · payload = the bundle's canonical JSON

A city relays the record unchanged; every node that receives it applies it with :class:`StandardsApplier`:

- ``prepare`` parses and validates the bundle (a malformed one is rejected, so it lands in quarantine with the
  reason in Chinese) and refuses a bundle that does not come from a province-level node (``xx0000``), whose
  issuer is not that origin, whose version is not the record id, or whose JSON is not its canonical form;
- ``prepare`` also runs the validators the composition root injects (the supervision rule parameters, the
  scoring rules), so a bundle a rule or the scoring could not read is quarantined, never put in place;
- ``apply`` puts each bundle newer than the newest one held in place with
  :func:`~federation.storage.standards_store.apply_bundle`, atomically in the receiving transaction (each in a
  savepoint: a bundle the store refuses is returned for the quarantine and leaves nothing behind). The very same
  bundle again is a no-op; an older one, or the same version with other content, is refused with its reason
  (quarantined) — a node never goes back to older standards and keeps the one it has. A bundle received before
  its effective date is held and comes into force on that date (see :mod:`federation.storage.standards_store`).
- with ``node`` given, the node reports the bundle it now holds (:func:`~federation.storage.standards_status.
  report_status`) in the same transaction, so the province sees which node runs which version.

"Newer" is :func:`is_newer`: the later effective date, then the later version (compared as a natural sort, so
``2026.09.10`` follows ``2026.09.9``). The province refuses to publish a bundle that is not newer, so the order
it publishes in is the order every node applies in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.engine import Connection

from federation.errors import RecordRejected, StandardsError
from federation.identities import DivisionLevel, level_of
from federation.replication import Prepared, Record, Rejection
from federation.standards import BundleValidator, StandardsBundle, is_newer, validate_bundle, version_key
from federation.storage.outbox import OutboxRecord, canonical_json, lock_origin
from federation.storage.standards_status import report_status
from federation.storage.standards_store import AppliedStandards, apply_bundle, current_bundle, held_digest
from federation.timeutil import utcnow

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


def standards_record(bundle: StandardsBundle) -> OutboxRecord:
    """The outbox row that carries ``bundle`` down (its payload is serialised as canonical JSON by the outbox)."""
    return OutboxRecord(STANDARDS_RECORD, bundle.version, STANDARDS_OP, bundle.to_dict())


class StandardsApplier:
    """``standards`` records (op ``upsert``, id = version): the newest bundle from the province is put in force.

    ``on_applied`` (optional) runs in the receiving transaction after each bundle put in place; ``clock`` gives
    the moment recorded as the bundle's ``applied_at`` on this node; ``validators`` check the parts the shared
    kernel cannot judge; ``node`` (the receiving node's division) makes it report its status."""

    def __init__(
        self,
        on_applied: OnApplied | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        validators: Sequence[BundleValidator] = (),
        node: str | None = None,
    ) -> None:
        self._on_applied = on_applied
        self._clock = clock
        self._validators = tuple(validators)
        self._node = node

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
        try:
            validate_bundle(bundle, self._validators)
        except StandardsError as exc:
            raise RecordRejected(exc.message, record_id=record.record_id) from exc
        return bundle

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[StandardsBundle]]) -> Sequence[Rejection]:
        rejected: list[Rejection] = []
        if self._node is not None and items:
            # the node's own writes follow (its status report, its open cases' re-indexing): the writer lock first,
            # as every writer of the node takes it, so a case action cannot interleave with the re-indexing
            lock_origin(conn, self._node)
        for item in items:  # in seq order: each bundle newer than the one in force at that point
            bundle = item.value
            held = held_digest(conn, bundle.version)
            if held is not None and held == bundle.digest:  # delivered again (a resend, a replay): nothing to do
                log.info("standards.already_held", origin=origin, version=bundle.version)
                continue
            if held is not None:
                rejected.append(
                    Rejection(item.record, f"标准版本 {bundle.version} 已在使用但内容不同，拒绝应用（可能被篡改）")
                )
                continue
            current = current_bundle(conn)
            if not is_newer(bundle, current):
                assert current is not None
                rejected.append(
                    Rejection(
                        item.record,
                        f"标准包 {bundle.version}（生效日期 {bundle.effective_date}）早于本节点已有的 "
                        f"{current.version}（生效日期 {current.effective_date}），拒绝应用；继续使用 {current.version}",
                    )
                )
                continue
            try:
                with conn.begin_nested():  # a bundle the store refuses leaves nothing of itself behind
                    now = self._clock()
                    result = apply_bundle(conn, bundle, now)
                    if self._on_applied is not None:
                        self._on_applied(conn, result)
                    if self._node is not None:
                        report_status(conn, self._node, bundle, now)
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
