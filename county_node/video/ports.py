"""The video index ports of the county's unit of work (re-exported by :mod:`county_node.ports`): cameras,
segments, events, the purge log."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from county_node.video.domain import Binding, Segment

__all__ = ["Cameras", "Purges", "Segments", "VideoEvents"]


class Cameras(abc.ABC):
    """The cameras of a video index and their bindings to windows (record type ``camera``)."""

    @abc.abstractmethod
    def get(self, camera_id: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    def save(self, row: dict[str, Any], *, new: bool) -> None: ...

    @abc.abstractmethod
    def publish(self, camera: Mapping[str, Any], now: datetime) -> None:
        """Append the camera's outbox record: its name, hall and every binding it has now."""

    @abc.abstractmethod
    def bindings_of_camera(self, camera_id: str) -> list[Binding]: ...

    @abc.abstractmethod
    def bindings_of_window(self, window: str) -> list[Binding]: ...

    @abc.abstractmethod
    def close_binding(self, binding: Binding, valid_to: datetime) -> None: ...

    @abc.abstractmethod
    def add_binding(self, binding: Binding) -> None: ...

    @abc.abstractmethod
    def camera_at(self, window: str, at: datetime, *, county: str | None = None) -> str | None:
        """The camera bound to ``window`` at ``at``; with ``county``, among that county's cameras only."""

    @abc.abstractmethod
    def window_at(self, camera_id: str, at: datetime) -> str | None: ...

    @abc.abstractmethod
    def with_bindings(self) -> list[tuple[dict[str, Any], list[Binding]]]:
        """Every camera by id, with its bindings oldest first."""

    @abc.abstractmethod
    def registered(self, camera_ids: Iterable[str]) -> set[str]:
        """Those of ``camera_ids`` that are registered."""


class Segments(abc.ABC):
    """The recording segments of a video index (record type ``video_segment``). ``reach`` is the longest a
    segment may be: a segment overlapping a range starts at most that long before it."""

    @abc.abstractmethod
    def near(self, camera_ids: Iterable[str], start: datetime, end: datetime, *, reach: timedelta) -> list[Segment]:
        """Stored segments of ``camera_ids`` that could overlap ``[start, end)``."""

    @abc.abstractmethod
    def add(self, segments: Sequence[Segment], now: datetime) -> None:
        """Index new segments, with their outbox upserts."""

    @abc.abstractmethod
    def between(self, camera_id: str, start: datetime, end: datetime, *, reach: timedelta) -> list[Segment]:
        """Segments of ``camera_id`` overlapping ``[start, end)``, in order."""

    @abc.abstractmethod
    def count(self) -> int: ...

    @abc.abstractmethod
    def count_expired(self, cutoff: datetime) -> int: ...

    @abc.abstractmethod
    def expired_batches(self, cutoff: datetime) -> Iterator[list[Segment]]:
        """The segments ended by ``cutoff``, oldest first, a page at a time."""

    @abc.abstractmethod
    def remove(self, segments: Sequence[Segment], now: datetime) -> None:
        """Remove segments from the index, with their outbox deletes."""

    @abc.abstractmethod
    def uris_in_use(self, uris: Sequence[str]) -> set[str]:
        """Those of ``uris`` some indexed segment still points at."""


class VideoEvents(abc.ABC):
    """The video events of an index (record type ``video_event``)."""

    @abc.abstractmethod
    def add(self, rows: Sequence[dict[str, Any]], now: datetime) -> None:
        """Index new events, with their outbox records."""

    @abc.abstractmethod
    def existing(self, event_ids: Iterable[str]) -> set[str]: ...

    @abc.abstractmethod
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
        """Events in ``[start, end)`` matching, by moment."""


class Purges(abc.ABC):
    """The log of the retention purges of one node."""

    @abc.abstractmethod
    def last_done(self) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    def log(self, row: dict[str, Any]) -> int:
        """Log a purge; its id."""

    @abc.abstractmethod
    def log_items(self, purge_id: int, segments: Sequence[Segment]) -> None: ...

    @abc.abstractmethod
    def record_file_results(
        self, purge_id: int, results: Sequence[tuple[str, datetime, str]], counts: dict[str, int]
    ) -> None:
        """(camera id, start, outcome) per removed segment, and the purge's file counts."""

    @abc.abstractmethod
    def items(self, purge_id: int) -> list[dict[str, Any]]: ...
