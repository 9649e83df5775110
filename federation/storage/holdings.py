"""What a node holds of each origin's approval records: counts and a digest, equal on every tier that is complete.

DESIGN.md §4 (completeness): an upper tier proves it holds everything of an origin by comparing, with the
origin's own figures, the number of cases and events it holds and a digest of them. The digest covers each
case's number and the origin seq of its latest snapshot (so a stale replica differs) and each event's
identity, in a fixed order; it is computed in one ordered scan per table, streamed, never loaded whole.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from federation.storage.tables import case_events, cases

__all__ = ["Holding", "approval_holdings", "holding_counts"]


@dataclass(frozen=True, slots=True)
class Holding:
    origin: str
    cases: int
    events: int
    digest: str  # hex sha256

    def to_dict(self) -> dict[str, object]:
        return {"origin": self.origin, "cases": self.cases, "events": self.events, "digest": self.digest}


def approval_holdings(conn: Connection, origin_prefix: str = "") -> list[Holding]:
    """Per origin (the division in the case number) under ``origin_prefix``: cases, events and their digest."""
    origin = func.substr(cases.c.case_no, 1, 6)
    event_origin = func.substr(case_events.c.case_no, 1, 6)
    digests: dict[str, hashlib._Hash] = {}
    counts: dict[str, list[int]] = {}
    case_rows = conn.execute(
        select(origin.label("origin"), cases.c.case_no, cases.c.origin_seq)
        .where(cases.c.case_no.startswith(origin_prefix, autoescape=True))
        .order_by(cases.c.case_no)
        .execution_options(yield_per=10_000)
    )
    for o, case_no, seq in case_rows:
        digests.setdefault(o, hashlib.sha256()).update(f"c|{case_no}|{seq}\n".encode())
        counts.setdefault(o, [0, 0])[0] += 1
    event_rows = conn.execute(
        select(event_origin.label("origin"), case_events.c.case_no, case_events.c.n)
        .where(case_events.c.case_no.startswith(origin_prefix, autoescape=True))
        .order_by(case_events.c.case_no, case_events.c.n)
        .execution_options(yield_per=10_000)
    )
    for o, case_no, n in event_rows:
        digests.setdefault(o, hashlib.sha256()).update(f"e|{case_no}|{n}\n".encode())
        counts.setdefault(o, [0, 0])[1] += 1
    return [Holding(o, counts[o][0], counts[o][1], digests[o].hexdigest()) for o in sorted(digests)]


def holding_counts(conn: Connection, origin_prefix: str = "") -> dict[str, tuple[int, int]]:
    """Per origin under ``origin_prefix``: (cases, events) held — two grouped counts, no digest (the 数据持有
    page lists every origin at once and computes one origin's digest when asked)."""
    out: dict[str, list[int]] = {}
    for column, table, slot in ((cases.c.case_no, cases, 0), (case_events.c.case_no, case_events, 1)):
        origin = func.substr(column, 1, 6)
        rows = conn.execute(
            select(origin, func.count())
            .select_from(table)
            .where(column.startswith(origin_prefix, autoescape=True))
            .group_by(origin)
        ).all()
        for o, n in rows:
            out.setdefault(str(o), [0, 0])[slot] = int(n)
    return {o: (c, e) for o, (c, e) in sorted(out.items())}
