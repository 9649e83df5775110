"""Publishing standards (发布统一标准) at the province.

:func:`publish_standards` puts a bundle in place on the province and appends its ``standards`` outbox row in
one transaction, so the province's sync agent streams it down exactly when — and only if — it is held here.
Every city and county applies it with :class:`~federation.storage.standards_replica.StandardsApplier`. The same
transaction writes the province's own ``standards_status`` report. A bundle is checked first: by the kernel
(catalogue, calendar, format) and by the ``validators`` the caller injects (rule parameters, scoring rules).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import Engine, text

from county_node.standards_validation import bundle_validators
from federation.errors import Conflict, StandardsError, ValidationError
from federation.identities import DivisionLevel, level_of
from federation.standards import BundleValidator, StandardsBundle, validate_bundle
from federation.storage import outbox
from federation.storage.standards_replica import OnApplied, is_newer, standards_record
from federation.storage.standards_status import report_status
from federation.storage.standards_store import apply_bundle, current_bundle
from federation.storage.uow import UnitOfWork

__all__ = ["Publication", "publication_validators", "publish_standards", "require_scoring_rules"]

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]

_PUBLISH_LOCK_SPACE = 0x57D5  # first key of pg_advisory_xact_lock(int, int): "standards"; the second is the node


@dataclass(frozen=True, slots=True)
class Publication:
    """A bundle put in force at the province and queued for its counties."""

    bundle: StandardsBundle
    seq: int  # the province's outbox seq of the ``standards`` record
    previous: str | None  # the version it superseded
    calendar_changed: bool


def publish_standards(
    engine: Engine,
    bundle: StandardsBundle,
    node: str,
    clock: Clock,
    validators: Sequence[BundleValidator] = (),
    *,
    on_applied: OnApplied | None = None,
) -> Publication:
    """Apply ``bundle`` on the province ``node`` and queue it for replication down, in one transaction.

    Refuses (:class:`~federation.errors.Conflict`) a bundle that is not newer than the newest held,
    (:class:`~federation.errors.ValidationError`) a node that is not a province or a bundle issued by another,
    and (:class:`~federation.errors.StandardsError`) a bundle a validator refuses — writing nothing."""
    if level_of(node) is not DivisionLevel.PROVINCE:
        raise ValidationError(f"只有省级节点可以发布标准包，{node} 不是省级区划代码", node=node)
    if bundle.issuer != node:
        raise ValidationError(
            f"标准包 {bundle.version} 的签发机关是 {bundle.issuer}，不能由 {node} 发布",
            version=bundle.version,
            issuer=bundle.issuer,
        )
    validate_bundle(bundle, validators)
    now = clock()
    with UnitOfWork(engine) as uow:
        conn = uow.conn
        if conn.dialect.name == "postgresql":  # two publishers one after the other (SQLite: the writer lock)
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": _PUBLISH_LOCK_SPACE, "key": int(node)}
            )
        current = current_bundle(conn)
        if current is not None and not is_newer(bundle, current):
            raise Conflict(
                f"标准包 {bundle.version}（生效日期 {bundle.effective_date}）不比当前的 {current.version}"
                f"（{current.effective_date}）新，不能发布；请使用更新的版本号或生效日期",
                version=bundle.version,
                current=current.version,
            )
        result = apply_bundle(conn, bundle, now)
        if on_applied is not None:  # e.g. the replicas' due moments follow a changed calendar (same transaction)
            on_applied(conn, result)
        (seq,) = outbox.append(conn, origin=node, records=[standards_record(bundle)], created_at=now)
        report_status(conn, node, bundle, now)
        uow.commit()
    previous = current.version if current else None
    log.info(
        "standards.published",
        node=node,
        version=bundle.version,
        previous=previous,
        seq=seq,
        calendar_changed=result.calendar_changed,
    )
    return Publication(bundle, seq, previous, result.calendar_changed)


def require_scoring_rules(bundle: StandardsBundle) -> None:
    """The province publishes nothing it could not score under: a bundle without scoring rules is refused here
    (receiving nodes accept one — they do not score — but ``province score run`` would fail on it)."""
    if not bundle.scoring_rules:
        raise StandardsError(
            f"标准包 {bundle.version} 未包含考核评分规则（源目录中的 scoring.toml，或 JSON 的 scoring_rules），"
            "不能发布；请加入评分规则后再发布",
            version=bundle.version,
        )


def publication_validators() -> tuple[BundleValidator, ...]:
    """What a bundle must pass to be published: what every receiving node checks, and scoring rules."""
    return (*bundle_validators(), require_scoring_rules)
