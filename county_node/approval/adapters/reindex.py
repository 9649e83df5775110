"""Re-indexing the open cases when the standards change: the derived due and yellow moments (``idx_*``) follow a
calendar revision or new light thresholds, and every case whose due moment moved is logged (``clock_moves``).

The same code serves a county (its own cases) and a city or the province (their replicas). The light policy the
indexes were last built with is kept in ``node_settings`` (``index.light_policy``), so a node notices a change of
thresholds whatever process applied the bundle and whenever it comes into force — after a restart too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from county_node.approval.adapters.repository import CaseRepository
from county_node.approval.domain import OPEN_STATUSES, index_values
from county_node.approval.domain.clocks import IndexValues, light_policy_of
from federation.calendar import WorkingCalendar
from federation.clock import LightPolicy
from federation.storage.standards_store import AppliedStandards, current_bundle, get_setting, load_calendar, set_setting
from federation.storage.tables import catalogue_items, clock_moves
from federation.timeutil import local_date, utcnow

__all__ = [
    "INDEXED_POLICY",
    "indexed_policy",
    "key_fields_of",
    "policy_key",
    "recompute_open_cases",
    "reindex_after_standards",
    "reindex_replicas",
]

log = structlog.get_logger(__name__)

INDEXED_POLICY = "index.light_policy"
_BATCH = 500


def policy_key(policy: LightPolicy) -> str:
    return f"{policy.yellow_days}|{policy.yellow_share!r}"


def indexed_policy(conn: Connection) -> str | None:
    """The light policy (:func:`policy_key`) the stored yellow moments were computed with; None: never recorded."""
    return get_setting(conn, INDEXED_POLICY)


def key_fields_of(conn: Connection) -> dict[tuple[str, str], tuple[str, ...]]:
    """The key data fields of every catalogue item of every standards version held."""
    rows = conn.execute(
        select(catalogue_items.c.standards_version, catalogue_items.c.code, catalogue_items.c.key_fields)
    )
    return {(r.standards_version, r.code): tuple(r.key_fields or ()) for r in rows}


def recompute_open_cases(
    conn: Connection,
    calendar: WorkingCalendar,
    key_fields: Mapping[tuple[str, str], tuple[str, ...]],
    policy: LightPolicy,
    *,
    standards_version: str,
    now: datetime | None,
) -> int:
    """Recompute the derived due moments of every open case (in the caller's transaction); log what moved.

    The open cases are read and their indexes written a batch at a time (a few statements per batch; the clock of
    each case is computed from its budget, pause ledger and calendar without walking days). With ``now``, each
    case whose promised or legal due moment moved gets one ``clock_moves`` row (before and after, the standards
    and calendar version). Records ``policy`` as the one the indexes are built with."""
    repo = CaseRepository(conn, dict(key_fields))
    moved = seen = 0
    batch: list[tuple[str, IndexValues]] = []
    moves: list[dict[str, Any]] = []
    for case, old in repo.with_status(OPEN_STATUSES):
        seen += 1
        idx = index_values(case, calendar, policy)
        batch.append((case.case_no, idx))
        if (idx.due_at, idx.legal_due_at) != (old.due_at, old.legal_due_at):
            moved += 1
            if now is not None:
                moves.append(
                    {
                        "case_no": case.case_no,
                        "standards_version": standards_version,
                        "calendar_version": calendar.version,
                        "old_due_at": old.due_at,
                        "new_due_at": idx.due_at,
                        "old_legal_due_at": old.legal_due_at,
                        "new_legal_due_at": idx.legal_due_at,
                        "moved_at": now,
                    }
                )
        if len(batch) >= _BATCH:
            repo.update_indexes(batch)
            batch.clear()
        if len(moves) >= _BATCH:
            conn.execute(insert(clock_moves), moves)
            moves.clear()
    repo.update_indexes(batch)
    if moves:
        conn.execute(insert(clock_moves), moves)
    set_setting(conn, INDEXED_POLICY, policy_key(policy))
    log.info(
        "clock.recomputed",
        standards_version=standards_version,
        calendar_version=calendar.version,
        open_cases=seen,
        cases_moved=moved,
    )
    return moved


def reindex_after_standards(
    conn: Connection, result: AppliedStandards, *, now: datetime, default_policy: LightPolicy
) -> int:
    """After a bundle was put in place (in the caller's transaction): recompute the open cases when the calendar
    changed or the light policy in force differs from the one the indexes were built with. Cases moved."""
    in_force = current_bundle(conn, local_date(now))
    policy = light_policy_of(in_force, default_policy)
    if not result.calendar_changed and indexed_policy(conn) == policy_key(policy):
        return 0
    version = in_force.version if in_force is not None else result.bundle.version
    return recompute_open_cases(
        conn, load_calendar(conn), key_fields_of(conn), policy, standards_version=version, now=now
    )


def reindex_replicas(conn: Connection, result: AppliedStandards) -> None:
    """The standards hook of a city or the province (``StandardsApplier`` / ``publish_standards``): the replicas
    of open cases follow a changed calendar or light policy, as each county's own cases do, in the transaction
    that put the bundle in place (the inspectors' light counts read these indexes)."""
    reindex_after_standards(conn, result, now=utcnow(), default_policy=LightPolicy())
