"""What every use case of the county video index shares: its units of work, clock and settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from county_node.unit_of_work import CountyUnits
from county_node.video.adapters.files import RecordingFiles
from county_node.video.domain import DEFAULT_MAX_SEGMENT, ClipMargin, RetentionPolicy

__all__ = ["Clock", "VideoIndexCore"]

Clock = Callable[[], datetime]


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
