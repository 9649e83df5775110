"""What a replication link has done, per origin: the counters behind metrics and ``sunshine admin links``."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    last_error: str = ""
    last_error_status: str = ""
    origins: dict[str, OriginStats] = field(default_factory=dict)
    # a ferry link's spool (摆渡目录): bytes and files held until acknowledged, its bound, and whether it is full
    spool_bytes: int = 0
    spool_files: int = 0
    spool_limit: int = 0
    spool_full: bool = False

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
