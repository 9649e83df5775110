"""Standards bundles in the database: apply one atomically, read the one in force on a date.

Applying writes the bundle, its catalogue and its calendar years in the caller's transaction; a bundle not newer
than the newest one held, or one whose version is already held with other content, is refused and the database
is left as it was.

A bundle received before its effective date is held but not yet in force. :func:`current_bundle` with ``on=D``
answers which bundle is in force on the local date ``D``: the newest held whose effective date is at most ``D``
(a node's first bundle is in force from receipt, having nothing older to keep). Without ``on`` it answers the
newest bundle held, in force or pending — the one a newer bundle is compared with. Calendar years are data for
every date: they apply on receipt, whatever the bundle's effective date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from federation.calendar import WorkingCalendar, YearCalendar
from federation.errors import StandardsError
from federation.standards import StandardsBundle, is_newer, version_key
from federation.storage.outbox import canonical_json
from federation.storage.tables import calendar_years, catalogue_items, node_settings, standards_bundles

__all__ = [
    "AppliedStandards",
    "apply_bundle",
    "current_bundle",
    "get_setting",
    "held_digest",
    "in_force_version",
    "load_calendar",
    "set_setting",
]

CURRENT_STANDARDS = "standards.current"  # the newest bundle held (in force, or pending until its effective date)


@dataclass(frozen=True, slots=True)
class AppliedStandards:
    bundle: StandardsBundle
    applied: bool  # False when the very same bundle was already in force (idempotent re-apply)
    calendar_changed: bool


def get_setting(conn: Connection, key: str) -> str | None:
    row = conn.execute(select(node_settings.c.value).where(node_settings.c.key == key)).first()
    return None if row is None else str(row[0])


def set_setting(conn: Connection, key: str, value: str) -> None:
    if get_setting(conn, key) is None:
        conn.execute(insert(node_settings).values(key=key, value=value))
    else:
        conn.execute(update(node_settings).where(node_settings.c.key == key).values(value=value))


def in_force_version(conn: Connection, on: date) -> str | None:
    """The version in force on the local date ``on``: the newest held with an effective date at most ``on``, or,
    when every bundle held is still pending, the first one received (one small read of the bundles held)."""
    held = list(conn.execute(select(standards_bundles.c.version, standards_bundles.c.effective_date)))
    if not held:
        return None
    due = [r for r in held if r.effective_date <= on]
    if due:
        return max(due, key=lambda r: (r.effective_date, version_key(r.version))).version  # type: ignore[no-any-return]
    return min(held, key=lambda r: (r.effective_date, version_key(r.version))).version  # type: ignore[no-any-return]


def held_digest(conn: Connection, version: str) -> str | None:
    """The digest of bundle ``version`` if this node holds it (in force, superseded or pending), else None."""
    row = conn.execute(select(standards_bundles.c.digest).where(standards_bundles.c.version == version)).first()
    return None if row is None else str(row[0])


def current_bundle(conn: Connection, on: date | None = None) -> StandardsBundle | None:
    """The bundle in force on the local date ``on``; without ``on``, the newest bundle held (see the module)."""
    version = get_setting(conn, CURRENT_STANDARDS) if on is None else in_force_version(conn, on)
    if version is None:
        return None
    row = conn.execute(select(standards_bundles.c.content).where(standards_bundles.c.version == version)).first()
    if row is None:  # pragma: no cover - the setting is written with the bundle
        raise StandardsError(f"当前标准版本 {version} 的内容缺失", version=version)
    return StandardsBundle.from_json(row[0])


def apply_bundle(conn: Connection, bundle: StandardsBundle, now: datetime) -> AppliedStandards:
    """Apply ``bundle`` in the caller's transaction (the caller commits)."""
    current = current_bundle(conn)
    if current is not None:
        if current.version == bundle.version:
            if current.digest != bundle.digest:
                raise StandardsError(
                    f"标准版本 {bundle.version} 已存在但内容不同，拒绝应用（可能被篡改）", version=bundle.version
                )
            return AppliedStandards(current, applied=False, calendar_changed=False)
        if not is_newer(bundle, current):
            raise StandardsError(
                f"标准包 {bundle.version}（生效日期 {bundle.effective_date}）早于本节点已有的 {current.version}"
                f"（{current.effective_date}），或同日而版本号不更高，拒绝应用；继续使用 {current.version}",
                version=bundle.version,
                current=current.version,
            )
    existing = conn.execute(
        select(standards_bundles.c.digest).where(standards_bundles.c.version == bundle.version)
    ).first()
    if existing is not None:
        raise StandardsError(f"标准版本 {bundle.version} 曾经应用过，不能重新启用", version=bundle.version)
    conn.execute(
        insert(standards_bundles).values(
            version=bundle.version,
            effective_date=bundle.effective_date,
            issuer=bundle.issuer,
            digest=bundle.digest,
            content=bundle.to_json(),
            applied_at=now,
        )
    )
    if bundle.items:
        conn.execute(
            insert(catalogue_items),
            [
                {
                    "standards_version": bundle.version,
                    "code": i.code,
                    "name": i.name,
                    "department": i.department,
                    "kind": i.kind.value,
                    "legal_limit_days": i.legal_limit_days,
                    "promised_limit_days": i.promised_limit_days,
                    "fee_yuan": i.fee_yuan,
                    "key_fields": list(i.key_fields),
                    "joint_departments": [
                        {"department": d.department, "limit_days": d.limit_days} for d in i.joint_departments
                    ],
                }
                for i in bundle.items
            ],
        )
    changed = False
    stored = {y.year: y for y in _stored_years(conn)}
    for y in bundle.calendar_years:
        old = stored.get(y.year)
        if old is not None and (old.holidays, old.makeup_workdays) == (y.holidays, y.makeup_workdays):
            # the same working days: nothing to recompute (a new library release may relabel the source of a
            # seeded year, or rename a holiday, without changing a single day)
            continue
        if old is not None and y.revision <= old.revision:
            raise StandardsError(
                f"{y.year} 年日历修订号 {y.revision} 不高于已有的 {old.revision}，拒绝应用", year=y.year
            )
        changed = True
        conn.execute(delete(calendar_years).where(calendar_years.c.year == y.year))
        conn.execute(
            insert(calendar_years).values(
                year=y.year, revision=y.revision, source=y.source, content=canonical_json(y.to_dict()), published_at=now
            )
        )
    set_setting(conn, CURRENT_STANDARDS, bundle.version)
    return AppliedStandards(bundle, applied=True, calendar_changed=changed)


def _stored_years(conn: Connection) -> list[YearCalendar]:
    import json

    return [YearCalendar.from_dict(json.loads(r[0])) for r in conn.execute(select(calendar_years.c.content))]


def load_calendar(conn: Connection) -> WorkingCalendar:
    """The working calendar from every published year stored on this node."""
    return WorkingCalendar(_stored_years(conn))
