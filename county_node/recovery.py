"""What a county brings to its recovery from its city (``sunshine county recover --from-parent``,
:mod:`sync_agent.recover`): the appliers that rebuild its tables from its own records, the counters those records'
ids show were used, and the supervision bookkeeping to redo once the tables are back.

What the records cannot bring back (docs/replication.md, "Recovering a county"): the applicants' contact numbers
(``case_contacts``, never replicated), the node's accounts beyond the first administrator (``county init`` makes
it again), and anything the boundary policy masked on the link up (the outbox holds what crossed, so the rebuilt
tables do too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Connection

from county_node.approval.adapters.replica import default_appliers
from county_node.approval.domain import OPEN_STATUSES
from county_node.supervision.adapters.order_replicas import ReplyApplier
from county_node.supervision.adapters.orders_store import ORDER_RECORD, ORDER_REPLY_RECORD
from county_node.supervision.adapters.replica import supervision_appliers
from county_node.supervision.adapters.store import ALERT_RECORD, COMPLAINT_RECORD, RATING_RECORD
from county_node.video.adapters.replica import video_appliers
from federation.replication import Applier, Record
from federation.storage.tables import cases

__all__ = ["counter_floors", "own_record_appliers", "wake_open_cases"]


def own_record_appliers() -> dict[str, Applier[Any]]:
    """The appliers that rebuild a county's tables from its own records — the same a city runs on them. The
    records without tables here (the audit chain, attestations, standards reports) live in the outbox alone."""
    return {
        **default_appliers(),
        **supervision_appliers(),
        **video_appliers(),
        ORDER_REPLY_RECORD: ReplyApplier(),
    }


# the gap-free counters behind a county's numbers (federation.storage.outbox.next_value), read back from the ids
_CASE_NO = re.compile(r"(\d{6})-(\d{8})-(\d{6})")  # federation.identities.format_case_number
_NUMBERED = {  # record type → (id pattern, counter name): the owners' id formats
    ALERT_RECORD: (re.compile(r"(.+)-A(\d{9})"), "alert"),  # supervision.adapters.store.new_ids
    COMPLAINT_RECORD: (re.compile(r"(.+)-TS(\d{8})"), "ts"),  # supervision.adapters.feedback_store
    RATING_RECORD: (re.compile(r"(.+)-PJ(\d{8})"), "pj"),
    ORDER_RECORD: (re.compile(r"(.+)-OD(\d{8})"), "order"),  # supervision.domain.orders.format_order_id
}


def counter_floors(origin: str, record: Record) -> Iterable[tuple[str, int]]:
    """The counters ``record``'s id shows were used (``sync_agent.store.CounterFloors``)."""
    if record.record_type == "case":
        m = _CASE_NO.fullmatch(record.record_id)
        if m and m[1] == origin:
            yield f"case_no:{origin}:{m[2]}", int(m[3])
        return
    numbered = _NUMBERED.get(record.record_type)
    if numbered is not None:
        m = numbered[0].fullmatch(record.record_id)
        if m and m[1] == origin:
            yield f"{numbered[1]}:{origin}", int(m[2])


def wake_open_cases(conn: Connection, origin: str, now: datetime) -> int:
    """Every open case of ``origin`` rebuilt without its supervision bookkeeping is due for a full evaluation at
    the next sweep (its time-driven rules are found again); returns how many."""
    result = conn.execute(
        update(cases)
        .where(
            cases.c.origin == origin,
            cases.c.sup_wake_at.is_(None),
            cases.c.status.in_([s.value for s in OPEN_STATUSES]),
        )
        .values(sup_wake_at=now)
    )
    return int(result.rowcount or 0)
