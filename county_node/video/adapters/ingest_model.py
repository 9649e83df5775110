"""What the video ingestion adapters (录像索引采集) hand over: found segments and a report of the run.

Both the export-folder scanner (:mod:`.ingest_folder`) and the NVR poller (:mod:`.ingest_nvr`) produce
:class:`FoundSegment` values — one recording file of one camera, with UTC moments — and one
:class:`IngestReport`, which says in Chinese what was found, what was accepted, what was skipped and why, and
for the poller how many of the recordings the NVR announced were received ("N of M"). Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "CAMERA_ID_LENGTH",
    "FoundSegment",
    "IngestReport",
    "IngestResult",
    "SegmentSink",
    "Skipped",
    "looks_like_camera_id",
]

CAMERA_ID_LENGTH = 20  # GB/T 28181 device id; the full check (centre code, type) belongs to the camera registry
_CAMERA_ID = re.compile(r"\d{20}")

SegmentSink = Callable[[list["FoundSegment"]], Any]


def looks_like_camera_id(value: str) -> bool:
    """True when ``value`` has the shape of a GB/T 28181 id: exactly 20 ASCII digits."""
    return _CAMERA_ID.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class FoundSegment:
    """One recording segment (录像片段) as found at the source: ``start``/``end`` are aware UTC moments,
    ``uri`` where the video lies (a ``file://`` URI or the NVR's address), ``checksum`` a lowercase hex digest
    when known."""

    camera_id: str
    start: datetime
    end: datetime
    uri: str
    size_bytes: int
    checksum: str | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("FoundSegment needs timezone-aware moments")
        if self.start.utcoffset() or self.end.utcoffset():
            object.__setattr__(self, "start", self.start.astimezone(UTC))
            object.__setattr__(self, "end", self.end.astimezone(UTC))
        if self.end <= self.start:
            raise ValueError("FoundSegment must end after it starts")
        if self.size_bytes < 0:
            raise ValueError("FoundSegment size must not be negative")


@dataclass(frozen=True, slots=True)
class Skipped:
    """A source entry not taken: ``source`` names it (a path relative to the export folder, or
    ``第 N 页第 K 条`` for an NVR item), ``reason`` says why, in Chinese."""

    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class IngestReport:
    """The outcome of one scan or poll.

    ``found``: entries looked at (files, or items the NVR returned); ``accepted``: segments handed over;
    ``skipped``: the others with their reasons. For the poller, ``expected`` is the total the NVR announced
    (``None`` when it never answered) and ``received`` the distinct items that arrived; ``problems`` lists what
    went wrong on the way (failed pages, a total that changed), in Chinese. ``complete`` is true when nothing is
    known to be missing."""

    found: int
    accepted: int
    skipped: tuple[Skipped, ...] = ()
    received: int | None = None
    expected: int | None = None
    problems: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        if self.problems:
            return False
        return self.expected is None or self.received == self.expected

    def summary(self) -> str:
        """One Chinese line for an operator, e.g. ``已接收 180 / 200 条录像记录，入选 178 条，跳过 2 条。``"""
        parts: list[str] = []
        if self.received is not None or self.expected is not None:
            total = "?" if self.expected is None else str(self.expected)
            parts.append(f"已接收 {self.received or 0} / {total} 条录像记录")
        else:
            parts.append(f"发现 {self.found} 个文件")
        parts.append(f"入选 {self.accepted} 条")
        if self.skipped:
            parts.append(f"跳过 {len(self.skipped)} 条")
        text = "，".join(parts) + "。"
        if self.problems:
            text += "问题：" + "；".join(self.problems) + "。"
        return text


@dataclass(frozen=True, slots=True)
class IngestResult:
    """Segments (in camera, start order) and the report. With a sink the segments went to the sink in batches
    and ``segments`` is empty, so a large export never sits in memory twice."""

    segments: tuple[FoundSegment, ...]
    report: IngestReport
