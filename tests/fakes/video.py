"""In-memory fakes of the video index ports (:mod:`county_node.ports`): cameras, segments, events, the purge log."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from county_node.video.adapters.segments import segment_record_id
from county_node.video.domain import Binding, Segment
from county_node.video.ports import Cameras, Purges, Segments, VideoEvents

if TYPE_CHECKING:
    from tests.fakes.county import FakeCountyDatabase


def _valid_at(b: Binding, at: datetime) -> bool:
    return b.valid_from <= at and (b.valid_to is None or b.valid_to > at)


class FakeCameras(Cameras):
    def __init__(self, db: FakeCountyDatabase) -> None:
        self.db = db

    def get(self, camera_id: str) -> dict[str, Any] | None:
        row = self.db.cameras.get(camera_id)
        return None if row is None else dict(row)

    def save(self, row: dict[str, Any], *, new: bool) -> None:
        held = self.db.cameras.get(row["camera_id"])
        self.db.cameras[row["camera_id"]] = dict(row) | ({"created_at": held["created_at"]} if held else {})

    def publish(self, camera: Mapping[str, Any], now: datetime) -> None:
        self.db.emit("camera", camera["camera_id"])

    def bindings_of_camera(self, camera_id: str) -> list[Binding]:
        return sorted((b for b in self.db.bindings if b.camera_id == camera_id), key=lambda b: b.valid_from)

    def bindings_of_window(self, window: str) -> list[Binding]:
        return sorted((b for b in self.db.bindings if b.window == window), key=lambda b: b.valid_from)

    def close_binding(self, binding: Binding, valid_to: datetime) -> None:
        self.db.bindings = [
            replace(b, valid_to=valid_to)
            if (b.camera_id, b.valid_from) == (binding.camera_id, binding.valid_from)
            else b
            for b in self.db.bindings
        ]

    def add_binding(self, binding: Binding) -> None:
        self.db.bindings.append(binding)

    def camera_at(self, window: str, at: datetime, *, county: str | None = None) -> str | None:
        found = [
            b
            for b in self.bindings_of_window(window)
            if _valid_at(b, at) and (county is None or b.camera_id.startswith(county))
        ]
        return found[-1].camera_id if found else None

    def window_at(self, camera_id: str, at: datetime) -> str | None:
        return next((b.window for b in self.bindings_of_camera(camera_id) if _valid_at(b, at)), None)

    def with_bindings(self) -> list[tuple[dict[str, Any], list[Binding]]]:
        return [(dict(self.db.cameras[c]), self.bindings_of_camera(c)) for c in sorted(self.db.cameras)]

    def registered(self, camera_ids: Iterable[str]) -> set[str]:
        return set(camera_ids) & set(self.db.cameras)


class FakeSegments(Segments):
    def __init__(self, db: FakeCountyDatabase) -> None:
        self.db = db

    def _overlapping(self, camera_ids: set[str], start: datetime, end: datetime) -> list[Segment]:
        found = [s for s in self.db.segments.values() if s.camera_id in camera_ids and s.start < end and s.end > start]
        return sorted(found, key=lambda s: (s.start, s.camera_id))

    def near(self, camera_ids: Iterable[str], start: datetime, end: datetime, *, reach: timedelta) -> list[Segment]:
        return self._overlapping(set(camera_ids), start, end)

    def add(self, segments: Sequence[Segment], now: datetime) -> None:
        for s in segments:
            self.db.segments[(s.camera_id, s.start)] = s
            self.db.emit("video_segment", segment_record_id(s.camera_id, s.start))

    def between(self, camera_id: str, start: datetime, end: datetime, *, reach: timedelta) -> list[Segment]:
        return self._overlapping({camera_id}, start, end)

    def count(self) -> int:
        return len(self.db.segments)

    def _expired(self, cutoff: datetime) -> list[Segment]:
        found = [s for s in self.db.segments.values() if s.start < cutoff and s.end <= cutoff]
        return sorted(found, key=lambda s: (s.start, s.camera_id))

    def count_expired(self, cutoff: datetime) -> int:
        return len(self._expired(cutoff))

    def expired_batches(self, cutoff: datetime) -> Iterator[list[Segment]]:
        if expired := self._expired(cutoff):
            yield expired

    def remove(self, segments: Sequence[Segment], now: datetime) -> None:
        for s in segments:
            del self.db.segments[(s.camera_id, s.start)]
            self.db.emit("video_segment", segment_record_id(s.camera_id, s.start), "delete")

    def uris_in_use(self, uris: Sequence[str]) -> set[str]:
        return set(uris) & {s.uri for s in self.db.segments.values()}


class FakeVideoEvents(VideoEvents):
    def __init__(self, db: FakeCountyDatabase) -> None:
        self.db = db

    def add(self, rows: Sequence[dict[str, Any]], now: datetime) -> None:
        for r in rows:
            self.db.video_events[r["event_id"]] = dict(r)
            self.db.emit("video_event", r["event_id"])

    def existing(self, event_ids: Iterable[str]) -> set[str]:
        return set(event_ids) & set(self.db.video_events)

    def between(
        self,
        start: datetime,
        end: datetime,
        *,
        kind: str | None = None,
        camera_id: str | None = None,
        window: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        found = [
            dict(e)
            for e in self.db.video_events.values()
            if start <= e["at"] < end
            and (kind is None or e["kind"] == kind)
            and (camera_id is None or e["camera_id"] == camera_id)
            and (window is None or e["window"] == window)
        ]
        return sorted(found, key=lambda e: (e["at"], e["event_id"]))[:limit]


class FakePurges(Purges):
    def __init__(self, db: FakeCountyDatabase) -> None:
        self.db = db

    def last_done(self) -> dict[str, Any] | None:
        done = [p for p in self.db.purges if p["origin"] == self.db.division and p["status"] == "done"]
        return dict(done[-1]) if done else None

    def log(self, row: dict[str, Any]) -> int:
        self.db.purges.append(dict(row) | {"purge_id": len(self.db.purges) + 1})
        return len(self.db.purges)

    def log_items(self, purge_id: int, segments: Sequence[Segment]) -> None:
        self.db.purge_items += [
            {"purge_id": purge_id, "camera_id": s.camera_id, "start_at": s.start, "uri": s.uri, "file_result": None}
            for s in segments
        ]

    def record_file_results(
        self, purge_id: int, results: Sequence[tuple[str, datetime, str]], counts: dict[str, int]
    ) -> None:
        outcome = {(camera, start): result for camera, start, result in results}
        for item in self.db.purge_items:
            if item["purge_id"] == purge_id and (item["camera_id"], item["start_at"]) in outcome:
                item["file_result"] = outcome[(item["camera_id"], item["start_at"])]
        self.db.purges[purge_id - 1].update(counts)

    def items(self, purge_id: int) -> list[dict[str, Any]]:
        found = [dict(i) for i in self.db.purge_items if i["purge_id"] == purge_id]
        return sorted(found, key=lambda i: (i["start_at"], i["camera_id"]))
