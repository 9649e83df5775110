"""The recording index (录像索引): segments and events as an NVR reports them, and the range query.

A batch of segments is indexed whole or not at all (an unknown camera, an invalid segment or an overlap refuses
it; an exact duplicate is a no-op), with one bulk insert and one outbox append; events are indexed by their id,
owned by the county (``{division}-…``), so a re-sent event is a no-op; the events newly indexed are told to the
observers (supervision: an alarm or an unattended window raises an alert) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import uuid4

from county_node.supervision.domain.video_rules import VideoEvent
from county_node.unit_of_work import CountyRepositories
from county_node.video.clip_service import clip_reference, window_clip
from county_node.video.core import VideoIndexCore
from county_node.video.domain import (
    EVENT_ID_LENGTH,
    EventKind,
    Segment,
    Timeline,
    canonical_uri,
    check_camera_text,
    check_new_segments,
    find_gaps,
)
from federation.errors import NotFound, ValidationError
from federation.timeutil import check_moment

__all__ = ["SegmentUseCases"]


class SegmentUseCases(VideoIndexCore):
    # -- segments -----------------------------------------------------------------------------------------------
    def add_segments(self, segments: Sequence[Segment]) -> int:
        """Index a batch of segments; the number newly indexed. Exact duplicates of indexed segments are no-ops;
        any other overlap, an unknown camera or an invalid segment refuses the whole batch (nothing written)."""
        if not segments:
            return 0
        for s in segments:
            s.validate(self.max_segment)
        # one spelling per file, so the purge's "still in use" compares files, not spellings
        segments = [s if s.uri == (uri := canonical_uri(s.uri)) else replace(s, uri=uri) for s in segments]
        now = self._now()
        with self._units() as uow:
            uow.lock()
            ids = {s.camera_id for s in segments}
            unknown = sorted(ids - uow.cameras.registered(ids))
            if unknown:
                raise NotFound(f"摄像机 {'、'.join(unknown[:5])} 未登记，整批未入库", camera_ids=unknown[:5])
            lo = min(s.start for s in segments)
            hi = max(s.end for s in segments)
            fresh = check_new_segments(segments, uow.segments.near(ids, lo, hi, reach=self.max_segment))
            uow.segments.add(fresh, now)
            uow.commit()
        return len(fresh)

    def segments(self, camera_id: str, start: datetime, end: datetime) -> Timeline:
        """Segments of ``camera_id`` overlapping ``[start, end)`` in order, and the gaps between them."""
        check_moment(start, "开始时间")
        check_moment(end, "结束时间")
        if end <= start:
            raise ValidationError("查询的结束时间必须晚于开始时间", camera_id=camera_id)
        with self._units(readonly=True) as uow:
            found = uow.segments.between(camera_id, start, end, reach=self.max_segment)
        return Timeline(camera_id, start, end, found, find_gaps(found, start, end))

    # -- events -------------------------------------------------------------------------------------------------
    def record_events(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """Index events ``{camera_id, kind, at, window?, details?, event_id?}``; the window defaults to the one the
        camera watched at ``at``. An event id re-sent with the same content is a no-op. Returns the ids."""
        now = self._now()
        rows: list[dict[str, Any]] = []
        for e in events:
            try:
                kind = EventKind(e.get("kind", ""))
            except ValueError:
                allowed = "、".join(k.value for k in EventKind)
                raise ValidationError(f"未知的视频事件类型“{e.get('kind')}”（应为 {allowed}）") from None
            at = e.get("at")
            if not isinstance(at, datetime) or at.tzinfo is None:
                raise ValidationError("视频事件须有带时区的发生时间", kind=kind.value)
            check_moment(at, "视频事件的发生时间")
            given = e.get("window")
            window = None if given is None else (str(given).strip() or None)  # blank: the camera's window then
            if window is not None:
                check_camera_text(str(e.get("camera_id", "")), window=window)
            rows.append(
                {
                    "event_id": self._event_id(e.get("event_id")),
                    "origin": self.division,
                    "camera_id": str(e.get("camera_id", "")),
                    "window": window,
                    "kind": kind.value,
                    "at": at,
                    "details": dict(e.get("details") or {}),
                    "indexed_at": now,
                }
            )
        event_ids = [r["event_id"] for r in rows]
        if len(set(event_ids)) != len(event_ids):
            dup = sorted({i for i in event_ids if event_ids.count(i) > 1})[0]
            raise ValidationError(f"同一批中视频事件编号“{dup}”重复，整批未入库", event_id=dup)
        with self._units() as uow:
            uow.lock()
            ids = {r["camera_id"] for r in rows}
            unknown = sorted(ids - uow.cameras.registered(ids))
            if unknown:
                raise NotFound(f"摄像机 {'、'.join(unknown[:5])} 未登记，事件未入库", camera_ids=unknown[:5])
            seen = uow.video_events.existing(r["event_id"] for r in rows)
            fresh = []
            for r in rows:
                if r["event_id"] in seen:
                    continue
                if r["window"] is None:
                    r["window"] = uow.cameras.window_at(r["camera_id"], r["at"])
                fresh.append(r)
            uow.video_events.add(fresh, now)
            self._tell_observers(uow, fresh, now)
            uow.commit()
        return [r["event_id"] for r in rows]

    def _tell_observers(self, uow: CountyRepositories, fresh: Sequence[Mapping[str, Any]], now: datetime) -> None:
        if not self._event_observers or not fresh:
            return
        recorded = [
            VideoEvent(r["event_id"], r["camera_id"], r["window"], r["kind"], r["at"], r["details"]) for r in fresh
        ]

        def clip(window: str | None, at: datetime) -> dict[str, Any]:
            return clip_reference(window_clip(self, uow, "", window, at, county=self.division))

        for observer in self._event_observers:
            observer.video_events_recorded(uow, recorded, clip, now)

    def _event_id(self, given: Any) -> str:
        """An event's id, owned by this county: ``{division}-…`` (a given id is qualified; none: a fresh one), so
        ids of different counties never meet at the city or the province."""
        prefix = f"{self.division}-"
        if given is None or given == "":
            return prefix + uuid4().hex[:24]
        text = str(given)
        event_id = text if text.startswith(prefix) else prefix + text
        if len(event_id) > EVENT_ID_LENGTH or not text.isprintable():
            raise ValidationError(
                f"视频事件编号“{text[:50]}”过长或含不可见字符（加上本县区划前缀后至多 {EVENT_ID_LENGTH} 个字符）",
                event_id=text[:50],
            )
        return event_id

    def events(
        self,
        start: datetime,
        end: datetime,
        *,
        kind: str | None = None,
        camera_id: str | None = None,
        window: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        if kind is not None and kind not in {k.value for k in EventKind}:
            raise ValidationError(f"未知的视频事件类型“{kind}”")
        check_moment(start, "开始时间")
        check_moment(end, "结束时间")
        with self._units(readonly=True) as uow:
            return uow.video_events.between(start, end, kind=kind, camera_id=camera_id, window=window, limit=limit)
