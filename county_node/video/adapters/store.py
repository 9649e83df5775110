"""The video index store: cameras, bindings, segments, events and the purge log, over one connection.

Range queries on segments read ``camera_id = C AND start_at >= T1 - max_segment AND start_at < T2`` — a range of
the primary key ``(camera_id, start_at)`` — and filter ``end_at > T1`` inside it, so they stay an index range at
ten million rows instead of scanning every segment ending after T1.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, tuple_, update
from sqlalchemy.engine import Connection

from county_node.video.domain import Binding, Segment
from federation.storage.bulk import BulkStatement, sqlite_moments
from federation.storage.tables import (
    camera_bindings,
    cameras,
    video_events,
    video_purge_items,
    video_purges,
    video_segments,
)

__all__ = ["VideoStore"]

_SEGMENT_COLUMNS = ["camera_id", "start_at", "end_at", "origin", "uri", "size", "checksum", "indexed_at"]
_INSERT_SEGMENTS = BulkStatement(insert(video_segments), _SEGMENT_COLUMNS)
_PURGE_ITEM_COLUMNS = ["purge_id", "camera_id", "start_at", "end_at", "uri", "size", "checksum", "file_result"]
_INSERT_PURGE_ITEMS = BulkStatement(insert(video_purge_items), _PURGE_ITEM_COLUMNS)
_SEG = video_segments.c
_SEGMENT_ROW = (_SEG.camera_id, _SEG.start_at, _SEG.end_at, _SEG.uri, _SEG.size, _SEG.checksum)  # → _segment


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime refused by UTCDateTime")
    return moment


def _segment(row: Any) -> Segment:
    return Segment(row.camera_id, row.start_at, row.end_at, row.uri, row.size, row.checksum)


def _binding(row: Any) -> Binding:
    return Binding(row.camera_id, row.window, row.valid_from, row.valid_to)


class VideoStore:
    def __init__(self, conn: Connection, max_segment: timedelta) -> None:
        self.conn = conn
        self.max_segment = max_segment

    # -- cameras and bindings -----------------------------------------------------------------------------------
    def camera(self, camera_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(cameras).where(cameras.c.camera_id == camera_id)).mappings().first()
        return dict(row) if row else None

    def save_camera(self, row: dict[str, Any], *, new: bool) -> None:
        if new:
            self.conn.execute(insert(cameras).values(**row))
        else:
            values = {k: v for k, v in row.items() if k not in {"camera_id", "created_at"}}
            self.conn.execute(update(cameras).where(cameras.c.camera_id == row["camera_id"]).values(**values))

    def bindings_of_camera(self, camera_id: str) -> list[Binding]:
        q = select(camera_bindings).where(camera_bindings.c.camera_id == camera_id)
        return [_binding(r) for r in self.conn.execute(q.order_by(camera_bindings.c.valid_from))]

    def bindings_of_window(self, window: str) -> list[Binding]:
        q = select(camera_bindings).where(camera_bindings.c.window == window)
        return [_binding(r) for r in self.conn.execute(q.order_by(camera_bindings.c.valid_from))]

    def close_binding(self, b: Binding, valid_to: datetime) -> None:
        cb = camera_bindings.c
        self.conn.execute(
            update(camera_bindings)
            .where(cb.camera_id == b.camera_id, cb.valid_from == b.valid_from)
            .values(valid_to=valid_to)
        )

    def add_binding(self, b: Binding) -> None:
        self.conn.execute(
            insert(camera_bindings).values(
                camera_id=b.camera_id, window=b.window, valid_from=b.valid_from, valid_to=b.valid_to
            )
        )

    def camera_at(self, window: str, at: datetime, *, county: str | None = None) -> str | None:
        """The camera bound to ``window`` at ``at`` (None: no camera watched it then); with ``county``, among that
        county's cameras only (their GB/T 28181 centre code begins with its division code)."""
        cb = camera_bindings.c
        q = (
            select(cb.camera_id)
            .where(cb.window == window, cb.valid_from <= at, (cb.valid_to.is_(None)) | (cb.valid_to > at))
            .order_by(cb.valid_from.desc())
            .limit(1)
        )
        if county is not None:
            q = q.where(cb.camera_id.startswith(county, autoescape=True))
        return self.conn.execute(q).scalar_one_or_none()

    def window_at(self, camera_id: str, at: datetime) -> str | None:
        cb = camera_bindings.c
        q = select(cb.window).where(
            cb.camera_id == camera_id, cb.valid_from <= at, (cb.valid_to.is_(None)) | (cb.valid_to > at)
        )
        return self.conn.execute(q.limit(1)).scalar_one_or_none()

    def cameras_with_bindings(self) -> list[tuple[dict[str, Any], list[Binding]]]:
        """Every camera by id, with its bindings oldest first (two queries, whatever the number of cameras)."""
        rows = [dict(r) for r in self.conn.execute(select(cameras).order_by(cameras.c.camera_id)).mappings()]
        q = select(camera_bindings).order_by(camera_bindings.c.camera_id, camera_bindings.c.valid_from)
        by_camera: dict[str, list[Binding]] = {}
        for b in self.conn.execute(q):
            by_camera.setdefault(b.camera_id, []).append(_binding(b))
        return [(r, by_camera.get(r["camera_id"], [])) for r in rows]

    def existing_cameras(self, camera_ids: Iterable[str]) -> set[str]:
        ids = sorted(set(camera_ids))
        if not ids:
            return set()
        return set(self.conn.execute(select(cameras.c.camera_id).where(cameras.c.camera_id.in_(ids))).scalars())

    # -- segments -----------------------------------------------------------------------------------------------
    def segments_near(self, camera_ids: Iterable[str], start: datetime, end: datetime) -> list[Segment]:
        """Stored segments of ``camera_ids`` that could overlap ``[start, end)``.

        ``end_at > start`` drops, inside the key range, the segments that end before the batch begins — the
        previous hour's, when an NVR delivers hour after hour — so only the few that matter become objects."""
        ids = sorted(set(camera_ids))
        q = select(*_SEGMENT_ROW).where(
            _SEG.camera_id.in_(ids),
            _SEG.start_at >= start - self.max_segment,
            _SEG.start_at < end,
            _SEG.end_at > start,
        )
        return [_segment(r) for r in self.conn.execute(q)]

    def add_segments(self, segments: Sequence[Segment], origin: str, now: datetime) -> None:
        """Insert the segment rows: ``COPY … FROM STDIN`` on PostgreSQL, the bulk ``INSERT`` elsewhere."""
        if not segments:
            return
        if self.conn.dialect.name == "postgresql":
            if now.tzinfo is None:
                raise ValueError("naive datetime refused by UTCDateTime")
            raw: Any = self.conn.connection.driver_connection
            copy = f"COPY {video_segments.name} ({', '.join(_SEGMENT_COLUMNS)}) FROM STDIN"
            with raw.cursor() as cur, cur.copy(copy) as out:
                for s in segments:  # validated before: aware moments, a size, a checksum
                    out.write_row((s.camera_id, s.start, s.end, origin, s.uri, s.size, s.checksum, now))
            return
        n = len(segments)
        _INSERT_SEGMENTS.execute_columns(
            self.conn,
            {
                "camera_id": [s.camera_id for s in segments],
                "start_at": [s.start for s in segments],
                "end_at": [s.end for s in segments],
                "origin": [origin] * n,
                "uri": [s.uri for s in segments],
                "size": [s.size for s in segments],
                "checksum": [s.checksum for s in segments],
                "indexed_at": [now] * n,
            },
        )

    def segments_between(self, camera_id: str, start: datetime, end: datetime) -> list[Segment]:
        """Segments of ``camera_id`` overlapping ``[start, end)``, in order."""
        q = (
            select(*_SEGMENT_ROW)
            .where(
                _SEG.camera_id == camera_id,
                _SEG.start_at >= start - self.max_segment,
                _SEG.start_at < end,
                _SEG.end_at > start,
            )
            .order_by(_SEG.start_at)
        )
        return [_segment(r) for r in self.conn.execute(q)]

    def count_segments(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(video_segments)).scalar_one())

    def count_expired(self, cutoff: datetime) -> int:
        q = select(func.count()).select_from(video_segments).where(_SEG.start_at < cutoff, _SEG.end_at <= cutoff)
        return int(self.conn.execute(q).scalar_one())

    def expired_batches(self, cutoff: datetime, size: int = 10_000) -> Iterator[list[Segment]]:
        """The expired segments oldest first, ``size`` at a time (keyset pages: a purge reads only as far as it
        needs, never the whole backlog at once)."""
        after: tuple[datetime, str] | None = None
        while True:
            q = (
                select(*_SEGMENT_ROW)
                .where(_SEG.start_at < cutoff, _SEG.end_at <= cutoff)
                .order_by(_SEG.start_at, _SEG.camera_id)
                .limit(size)
            )
            if after is not None:
                q = q.where(tuple_(_SEG.start_at, _SEG.camera_id) > tuple_(*after))
            page = [_segment(r) for r in self.conn.execute(q)]
            if not page:
                return
            yield page
            after = (page[-1].start, page[-1].camera_id)

    def delete_segments(self, segments: Sequence[Segment]) -> None:
        """Delete the rows of ``segments`` by key: one ``DELETE … USING unnest(…)`` on PostgreSQL (a day's purge
        is a hundred thousand rows: a round trip each was most of its time), one ``executemany`` on SQLite."""
        if not segments:
            return
        cameras_ = [s.camera_id for s in segments]
        table = video_segments.name
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql(
                f"DELETE FROM {table} AS v USING unnest(%s::varchar[], %s::timestamptz[]) AS d(c, s) "
                "WHERE v.camera_id = d.c AND v.start_at = d.s",
                (cameras_, [_aware(s.start) for s in segments]),
            )
        else:
            starts = sqlite_moments([s.start for s in segments])
            sql = f"DELETE FROM {table} WHERE camera_id = ? AND start_at = ?"
            self.conn.exec_driver_sql(sql, list(zip(cameras_, starts, strict=True)))

    # -- events -------------------------------------------------------------------------------------------------
    def add_events(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(video_events), list(rows))

    def existing_events(self, event_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = sorted(set(event_ids))
        if not ids:
            return {}
        rows = self.conn.execute(select(video_events).where(video_events.c.event_id.in_(ids))).mappings()
        return {r["event_id"]: dict(r) for r in rows}

    def events(
        self,
        *,
        start: datetime,
        end: datetime,
        kind: str | None = None,
        camera_id: str | None = None,
        window: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        ev = video_events.c
        q = select(video_events).where(ev.at >= start, ev.at < end)
        if kind is not None:
            q = q.where(ev.kind == kind)
        if camera_id is not None:
            q = q.where(ev.camera_id == camera_id)
        if window is not None:
            q = q.where(ev.window == window)
        rows = self.conn.execute(q.order_by(ev.at, ev.event_id).limit(limit)).mappings()
        return [dict(r) for r in rows]

    # -- purge log ----------------------------------------------------------------------------------------------
    def last_done_purge(self, origin: str) -> dict[str, Any] | None:
        vp = video_purges.c
        q = select(video_purges).where(vp.origin == origin, vp.status == "done").order_by(vp.purge_id.desc())
        row = self.conn.execute(q.limit(1)).mappings().first()
        return dict(row) if row else None

    def log_purge(self, row: dict[str, Any]) -> int:
        result = self.conn.execute(insert(video_purges).values(**row).returning(video_purges.c.purge_id))
        return int(result.scalar_one())

    def log_purge_items(self, purge_id: int, segments: Sequence[Segment]) -> None:
        _INSERT_PURGE_ITEMS.execute(
            self.conn,
            [
                {
                    "purge_id": purge_id,
                    "camera_id": s.camera_id,
                    "start_at": s.start,
                    "end_at": s.end,
                    "uri": s.uri,
                    "size": s.size,
                    "checksum": s.checksum,
                    "file_result": None,
                }
                for s in segments
            ],
        )

    def uris_in_use(self, uris: Sequence[str], chunk: int = 250_000) -> set[str]:
        """Those of ``uris`` some indexed segment still points at (a file two index rows share is kept).

        ``uri`` has no index (it would cost every ingest a third index insert for a daily question), so each chunk
        of ``uris`` is answered by one pass over the segments with a hashed membership test — ``uri = ANY(array)``
        on PostgreSQL, ``IN (SELECT value FROM json_each(?))`` (an ephemeral index) on SQLite — instead of one pass
        per thousand URIs."""
        found: set[str] = set()
        postgresql = self.conn.dialect.name == "postgresql"
        table = video_segments.name
        for i in range(0, len(uris), chunk):
            part = list(uris[i : i + chunk])
            if postgresql:
                sql = f"SELECT DISTINCT uri FROM {table} WHERE uri = ANY(%s)"
                rows = self.conn.exec_driver_sql(sql, (part,))
            else:
                sql = f"SELECT DISTINCT uri FROM {table} WHERE uri IN (SELECT value FROM json_each(?))"
                rows = self.conn.exec_driver_sql(sql, (json.dumps(part, ensure_ascii=False),))
            found.update(r[0] for r in rows)
        return found

    def record_file_results(
        self, purge_id: int, results: Sequence[tuple[str, Any, str]], counts: dict[str, int]
    ) -> None:
        """``results``: (camera id, start, outcome) per removed segment — updated by the items' key (one
        ``UPDATE … FROM unnest(…)`` on PostgreSQL, one ``executemany`` on SQLite), so a purge of a million segments
        costs a million index lookups, neither a scan nor a round trip each."""
        table = video_purge_items.name
        if results:
            cameras_ = [c for c, _, _ in results]
            outcomes = [r for _, _, r in results]
            if self.conn.dialect.name == "postgresql":
                self.conn.exec_driver_sql(
                    f"UPDATE {table} AS i SET file_result = d.r "
                    "FROM unnest(%s::varchar[], %s::timestamptz[], %s::varchar[]) AS d(c, s, r) "
                    "WHERE i.purge_id = %s AND i.camera_id = d.c AND i.start_at = d.s",
                    (cameras_, [_aware(s) for _, s, _ in results], outcomes, purge_id),
                )
            else:
                starts = sqlite_moments([s for _, s, _ in results])
                sql = f"UPDATE {table} SET file_result = ? WHERE purge_id = ? AND camera_id = ? AND start_at = ?"
                rows = [(r, purge_id, c, s) for c, s, r in zip(cameras_, starts, outcomes, strict=True)]
                self.conn.exec_driver_sql(sql, rows)
        self.conn.execute(update(video_purges).where(video_purges.c.purge_id == purge_id).values(**counts))

    def purge_items(self, purge_id: int) -> list[dict[str, Any]]:
        vi = video_purge_items.c
        q = select(video_purge_items).where(vi.purge_id == purge_id).order_by(vi.start_at, vi.camera_id)
        return [dict(r) for r in self.conn.execute(q).mappings()]
