"""What every use case of the county video index shares: its units of work, clock and settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from county_node.supervision.domain.video_rules import VideoEvent
from county_node.unit_of_work import CountyRepositories, CountyUnits
from county_node.video.adapters.files import RecordingFiles
from county_node.video.domain import DEFAULT_MAX_SEGMENT, ClipMargin, RetentionPolicy

__all__ = ["ClipLookup", "Clock", "VideoEventObserver", "VideoIndexCore"]

Clock = Callable[[], datetime]
ClipLookup = Callable[[str | None, datetime], Mapping[str, Any]]


class VideoEventObserver(Protocol):
    """Told, in the transaction that recorded them, of the events newly indexed (supervision raises its alerts);
    ``clip`` is the index's clip of a window at a moment (:func:`county_node.video.clip_service.clip_reference`)."""

    def video_events_recorded(
        self, uow: CountyRepositories, events: Sequence[VideoEvent], clip: ClipLookup, now: datetime
    ) -> Any: ...


class VideoIndexCore:
    """The video index of county ``units.division``: the longest segment it accepts (``max_segment``, also how
    far back a range query reaches), the clip margin, the retention policy and the recording files (None: the
    index only, no file is ever deleted)."""

    def __init__(
        self,
        units: CountyUnits,
        clock: Clock,
        *,
        max_segment: timedelta = DEFAULT_MAX_SEGMENT,
        margin: ClipMargin | None = None,
        retention: RetentionPolicy | None = None,
        files: RecordingFiles | None = None,
    ) -> None:
        self._units = units
        self.division = units.division
        self._now = clock
        self.max_segment = max_segment
        self.margin = margin or ClipMargin()
        self.retention = retention or RetentionPolicy()
        self._files = files
        self._event_observers: list[VideoEventObserver] = []

    def observe(self, observer: VideoEventObserver) -> None:
        """Tell ``observer`` of every event newly indexed, in its transaction (composition root)."""
        self._event_observers.append(observer)
