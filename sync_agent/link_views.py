"""What ``sunshine admin links``, the agent's ``/links`` and its metrics show per link and origin.

The backlog (积压) of an origin on a link is measured against what this node holds, never against what the link
happened to read or seal, so a link that is down — or has not connected once since the agent started — still
shows the backlog growing:

* an origin sealed here (the node's own, a county's public stream ``371122-pub``): its **outbox**, sealed or not —
  records = the outbox's last seq minus the peer's acknowledged seq; seconds = the age of the first record the
  peer has not acknowledged (``outbox.created_at`` at acked + 1);
* a relayed origin (a city's counties, the province's standards at a city): the batches held (``batch_log``) —
  seconds = how long the oldest batch not acknowledged has been held here.

Each figure is one or two primary-key probes per link and origin; nothing is counted row by row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

from federation.storage.tables import batch_log, link_acks, outbox
from sync_agent.link_stats import LinkStats

__all__ = ["Backlog", "LinkView", "OriginView", "RateMeter", "backlog", "persisted_acks"]

_RATE_WINDOW_S = 60.0


@dataclass(frozen=True)
class OriginView:
    """One origin on one link, as ``sunshine admin links`` and the metrics show it."""

    origin: str
    sent_seq: int
    acked_seq: int
    lag_records: int
    lag_seconds: float
    sent_records: int
    sent_batches: int
    acked_records: int
    refusals: int
    rate_per_s: float  # records acknowledged per second, over the last minute at most


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True)
class LinkView:
    """One link. ``last_error`` is what is wrong now ("" when nothing is); an error the link has recovered from
    (connected again, or acknowledged) is kept as ``previous_error`` with its time and ``recovered_at``."""

    link: str
    target: str
    connected: bool
    sessions: int
    failures: int
    last_error: str
    origins: tuple[OriginView, ...]
    spool_bytes: int = 0  # a ferry link: bytes of files in its spool, not yet acknowledged
    spool_files: int = 0
    spool_limit: int = 0
    spool_full: bool = False
    last_error_at: datetime | None = None
    previous_error: str = ""
    previous_error_at: datetime | None = None
    recovered_at: datetime | None = None

    @classmethod
    def of(cls, s: LinkStats, origins: tuple[OriginView, ...]) -> LinkView:
        current = s.current_error
        recovered = s.last_error if not current else ""
        return cls(
            link=s.link,
            target=s.target,
            connected=s.connected,
            sessions=s.sessions,
            failures=s.failures,
            last_error=current,
            origins=origins,
            spool_bytes=s.spool_bytes,
            spool_files=s.spool_files,
            spool_limit=s.spool_limit,
            spool_full=s.spool_full,
            last_error_at=s.last_error_at if current else None,
            previous_error=recovered,
            previous_error_at=s.last_error_at if recovered else None,
            recovered_at=s.recovered_at if recovered else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "link": self.link,
            "target": self.target,
            "connected": self.connected,
            "sessions": self.sessions,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
            "previous_error": self.previous_error,
            "previous_error_at": _iso(self.previous_error_at),
            "recovered_at": _iso(self.recovered_at),
            "origins": [o.__dict__ for o in self.origins],
            "spool": {
                "bytes": self.spool_bytes,
                "files": self.spool_files,
                "limit": self.spool_limit,
                "full": self.spool_full,
            },
        }


@dataclass(frozen=True, slots=True)
class Backlog:
    """What this node holds of an origin (its highest seq) and when the oldest part not acknowledged came to be."""

    high: int
    oldest: datetime | None


# an origin sealed here: the outbox's last seq, and when the first record after the peer's mark was written
_OUTBOX_BACKLOG = select(
    select(func.max(outbox.c.seq)).where(outbox.c.origin == bindparam("origin")).scalar_subquery().label("high"),
    select(outbox.c.created_at)
    .where(outbox.c.origin == bindparam("origin"), outbox.c.seq == bindparam("next"))
    .scalar_subquery()
    .label("oldest"),
)
# a relayed origin: the last seq held, and when the oldest batch after the peer's mark was received (sealed_at)
_HELD_BACKLOG = select(
    select(func.max(batch_log.c.last_seq))
    .where(batch_log.c.origin == bindparam("origin"))
    .scalar_subquery()
    .label("high"),
    select(func.min(batch_log.c.sealed_at))
    .where(batch_log.c.origin == bindparam("origin"), batch_log.c.last_seq > bindparam("acked"))
    .scalar_subquery()
    .label("oldest"),
)


def backlog(conn: Connection, origin: str, acked: int, *, sealed_here: bool) -> Backlog:
    """The backlog of ``origin`` behind a peer that acknowledged ``acked``: from the outbox for an origin
    ``sealed_here``, from the batches held for a relayed one."""
    if sealed_here:
        row = conn.execute(_OUTBOX_BACKLOG, {"origin": origin, "next": acked + 1}).one()
    else:
        row = conn.execute(_HELD_BACKLOG, {"origin": origin, "acked": acked}).one()
    return Backlog(int(row.high or 0), row.oldest)


def persisted_acks(conn: Connection) -> dict[tuple[str, str], int]:
    """What the peer of each link last acknowledged per origin, as recorded (``link_acks``): the mark of a link
    that has not connected since the agent started."""
    rows = conn.execute(select(link_acks.c.link, link_acks.c.origin, link_acks.c.acked_seq)).all()
    return {(str(link), str(origin)): int(seq) for link, origin, seq in rows}


@dataclass
class RateMeter:
    """Acked-record counts sampled per (link, origin), for a rate over the recent past."""

    samples: dict[tuple[str, str], list[tuple[float, int]]] = field(default_factory=dict)

    def rate(self, key: tuple[str, str], now: float, acked: int) -> float:
        series = self.samples.setdefault(key, [])
        series.append((now, acked))
        while len(series) > 2 and now - series[0][0] > _RATE_WINDOW_S:
            series.pop(0)
        t0, a0 = series[0]
        return (acked - a0) / (now - t0) if now > t0 else 0.0
