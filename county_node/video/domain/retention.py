"""Retention decisions (pure): what a purge may delete, what is held, and when a purge must not run at all."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from county_node.video.domain.segments import Segment
from federation.errors import ValidationError

__all__ = ["Hold", "HoldIndex", "RetentionPolicy", "held", "purge_limit", "untrusted_reason"]


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """``days``: keep segments this long (default 30); ``hold_after_close``: keep a held clip this long after its
    alert or complaint closes; ``max_share``: never delete more than this share of the index in one run;
    ``min_ratio``: refuse to purge when the index is smaller than this share of what the last purge left."""

    days: int = 30
    hold_after_close: timedelta = timedelta(days=30)
    max_share: float = 0.1
    min_ratio: float = 0.5

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValidationError("录像保留天数至少为 1 天", days=self.days)
        if not 0 < self.max_share <= 1:
            raise ValidationError("单次清理比例上限须在 0 与 1 之间", max_share=self.max_share)
        if not 0 <= self.min_ratio <= 1:
            raise ValidationError("索引可信比例须在 0 与 1 之间", min_ratio=self.min_ratio)
        if self.hold_after_close < timedelta(0):
            raise ValidationError("办结后保全期不能为负", hold_after_close=str(self.hold_after_close))

    def cutoff(self, now: datetime) -> datetime:
        """Segments ending at or before this moment have expired."""
        return now - timedelta(days=self.days)


@dataclass(frozen=True, slots=True)
class Hold:
    """A legal hold (证据保全): the clip ``[start, end]`` of ``camera_id`` for an open (or recently closed) alert
    or complaint ``subject``."""

    subject: str
    camera_id: str
    start: datetime
    end: datetime


class HoldIndex:
    """The holds by camera, sorted, with the running latest end: whether a segment is held is one binary search
    (a purge looks at every expired segment; a linear scan of every hold for each would be quadratic)."""

    def __init__(self, holds: Sequence[Hold]) -> None:
        by_camera: dict[str, list[Hold]] = {}
        for h in holds:
            by_camera.setdefault(h.camera_id, []).append(h)
        self._starts: dict[str, list[datetime]] = {}
        self._reach: dict[str, list[datetime]] = {}  # the latest end among the holds up to each position
        for camera, hs in by_camera.items():
            hs.sort(key=lambda h: h.start)
            reach: list[datetime] = []
            for h in hs:
                reach.append(h.end if not reach or h.end > reach[-1] else reach[-1])
            self._starts[camera] = [h.start for h in hs]
            self._reach[camera] = reach

    def holds(self, segment: Segment) -> bool:
        """Whether a hold overlaps ``segment`` (a hold ``[start, end]`` touching it counts, as :func:`held`)."""
        starts = self._starts.get(segment.camera_id)
        if not starts:
            return False
        i = bisect.bisect_left(starts, segment.end)  # the holds starting before the segment ends
        return i > 0 and self._reach[segment.camera_id][i - 1] >= segment.start


def held(segment: Segment, holds: Sequence[Hold]) -> bool:
    return any(h.camera_id == segment.camera_id and segment.start <= h.end and h.start < segment.end for h in holds)


def untrusted_reason(index_count: int, previous_after: int | None, policy: RetentionPolicy) -> str | None:
    """Why the index cannot be trusted enough to purge (None: it can): it is empty, or far smaller than what the
    previous purge left (a lost or truncated index would otherwise make everything look expired or unheld)."""
    if index_count == 0:
        return "录像索引为空，疑似索引丢失，拒绝清理"
    if previous_after and index_count < previous_after * policy.min_ratio:
        return (
            f"录像索引仅剩 {index_count} 条，远少于上次清理后的 {previous_after} 条"
            f"（低于 {policy.min_ratio:.0%}），疑似索引不完整，拒绝清理"
        )
    return None


def purge_limit(index_count: int, policy: RetentionPolicy) -> int:
    """The most segments one run may delete."""
    return int(index_count * policy.max_share)
