"""Ingestion connected to the index (录像入库): found segments from a scanner or poller go to ``add_segments``.

:class:`IndexSink` is the ``sink`` the export-folder scanner and the NVR poller hand their batches to. Each batch
becomes one ``add_segments`` call (all-or-nothing). When a batch is refused — a segment overlaps one already
indexed (or another of the batch), its camera is not registered, or it is invalid — the batch is split in halves
and retried, down to single segments, so every good segment is indexed and exactly the bad ones are reported with
the service's Chinese reason. Segments of unregistered cameras and invalid ones are refused before the batch is
offered (one query), so only an overlap splits a batch: a bad segment costs about ``log2(batch)`` extra
transactions, never one per good row.

A segment found without a checksum (an NVR that does not announce one, a scan without ``--checksum``) is indexed
with :data:`UNVERIFIED` as its checksum: the index says plainly that nobody verified the content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from county_node.video.adapters.ingest_model import FoundSegment
from county_node.video.domain import Segment, show
from county_node.video.services import VideoIndexService
from federation.errors import Conflict, NotFound, ValidationError

__all__ = ["UNVERIFIED", "IndexSink", "Refused", "to_segment"]

UNVERIFIED = "unverified"
"""The checksum of a segment whose content nobody hashed (未校验)."""


def to_segment(found: FoundSegment) -> Segment:
    """The index's segment for a found one."""
    return Segment(
        camera_id=found.camera_id,
        start=found.start,
        end=found.end,
        uri=found.uri,
        size=found.size_bytes,
        checksum=found.checksum or UNVERIFIED,
    )


@dataclass(frozen=True, slots=True)
class Refused:
    """A found segment the index refused, and why (Chinese)."""

    segment: Segment
    reason: str

    def to_dict(self) -> dict[str, str]:
        s = self.segment
        return {
            "camera_id": s.camera_id,
            "start": show(s.start),
            "end": show(s.end),
            "uri": s.uri,
            "reason": self.reason,
        }


@dataclass
class IndexSink:
    """Feeds batches of found segments into ``service``; counts what was indexed and keeps what was refused."""

    service: VideoIndexService
    offered: int = 0
    indexed: int = 0
    refused: list[Refused] = field(default_factory=list)

    def __call__(self, batch: list[FoundSegment]) -> None:
        segments = [to_segment(f) for f in batch]
        self.offered += len(segments)
        self._add(self._screen(segments))

    def _screen(self, segments: list[Segment]) -> list[Segment]:
        """Refuse up front, one by one, the segments of unregistered cameras and the invalid ones — a folder of an
        unregistered camera would otherwise cost a split down to every single segment; what is left can only be
        refused for an overlap."""
        known = self.service.registered({s.camera_id for s in segments})
        kept: list[Segment] = []
        for s in segments:
            if s.camera_id not in known:
                self.refused.append(Refused(s, f"摄像机 {s.camera_id} 未登记"))
                continue
            try:
                s.validate(self.service.max_segment)
            except ValidationError as exc:
                self.refused.append(Refused(s, exc.message))
                continue
            kept.append(s)
        return kept

    def _add(self, segments: Sequence[Segment]) -> None:
        if not segments:
            return
        try:
            self.indexed += self.service.add_segments(segments)
        except (Conflict, NotFound, ValidationError) as exc:
            if len(segments) == 1:
                self.refused.append(Refused(segments[0], exc.message))
                return
            half = len(segments) // 2
            self._add(segments[:half])
            self._add(segments[half:])

    @property
    def duplicates(self) -> int:
        """Offered segments already indexed exactly as found (re-sent): no-ops."""
        return self.offered - self.indexed - len(self.refused)

    def summary(self) -> str:
        text = f"入库 {self.indexed} 条"
        if self.duplicates:
            text += f"，已在索引中 {self.duplicates} 条"
        if self.refused:
            text += f"，拒绝 {len(self.refused)} 条"
        return text + "。"
