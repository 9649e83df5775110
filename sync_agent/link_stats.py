"""What a replication link has done, per origin: the counters behind metrics and ``sunshine admin links``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["LinkStats", "OriginStats"]


@dataclass
class OriginStats:
    """What the link did for one origin (across sessions)."""

    sent_batches: int = 0
    sent_records: int = 0
    acked_batches: int = 0
    acked_records: int = 0
    acked_high_water: int = 0  # the receiver's mark as last reported
    source_high_water: int = 0  # the highest seq the source has shown this link
    refusals: int = 0
    quarantined: int = 0
    parked: bool = False

    @property
    def lag(self) -> int:
        """Records of the source the receiver has not acknowledged (as far as the link has seen)."""
        return max(0, self.source_high_water - self.acked_high_water)


@dataclass
class LinkStats:
    """A snapshot for metrics and ``sunshine admin links``."""

    link: str
    target: str = ""
    connected: bool = False
    sessions: int = 0
    failures: int = 0
    # the link's most recent error, kept after it recovered (``recovered_at`` set: connected again, or an
    # acknowledgement came): ``current_error`` is what is wrong now
    last_error: str = ""
    last_error_status: str = ""
    last_error_at: datetime | None = None
    recovered_at: datetime | None = None
    origins: dict[str, OriginStats] = field(default_factory=dict)
    # a ferry link's spool (摆渡目录): bytes and files held until acknowledged, its bound, and whether it is full
    spool_bytes: int = 0
    spool_files: int = 0
    spool_limit: int = 0
    spool_full: bool = False

    @property
    def current_error(self) -> str:
        """The last error while it still stands ("" once the link recovered, or when there was none)."""
        return self.last_error if self.recovered_at is None else ""

    def fail(self, message: str, at: datetime, *, status: str = "", count: bool = True) -> None:
        """Note an error (``count``: a failed session or round, counted in ``failures``)."""
        if count:
            self.failures += 1
        self.last_error, self.last_error_status, self.last_error_at, self.recovered_at = message, status, at, None

    def recover(self, at: datetime) -> None:
        """The link works again: the last error, if one stands, becomes history (recovered at ``at``)."""
        if self.last_error and self.recovered_at is None:
            self.recovered_at = at

    @property
    def lag(self) -> int:
        return sum(o.lag for o in self.origins.values())

    @property
    def sent_records(self) -> int:
        return sum(o.sent_records for o in self.origins.values())

    @property
    def acked_records(self) -> int:
        return sum(o.acked_records for o in self.origins.values())

    @property
    def refusals(self) -> int:
        return sum(o.refusals for o in self.origins.values())
