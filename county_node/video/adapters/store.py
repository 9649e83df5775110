"""The video index stores over one connection: cameras and their bindings (:class:`CameraStore`), events
(:class:`VideoEventStore`) and the purge log (:class:`PurgeStore`) — the ports of :mod:`county_node.ports`.
Segments are in :mod:`county_node.video.adapters.segments`.

A camera's change appends its ``camera`` outbox record (name, hall and its whole set of bindings), an event its
``video_event`` record, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from county_node.video.adapters.segments import aware
from county_node.video.domain import Binding, Segment
from county_node.video.ports import Cameras, Purges, VideoEvents
from federation.storage import outbox
from federation.storage.bulk import BulkStatement, sqlite_moments
from federation.storage.tables import camera_bindings, cameras, video_events, video_purge_items, video_purges

__all__ = ["CAMERA_RECORD", "EVENT_RECORD", "CameraStore", "PurgeStore", "VideoEventStore"]

CAMERA_RECORD = "camera"
EVENT_RECORD = "video_event"

_PURGE_ITEM_COLUMNS = ["purge_id", "camera_id", "start_at", "end_at", "uri", "size", "checksum", "file_result"]
_INSERT_PURGE_ITEMS = BulkStatement(insert(video_purge_items), _PURGE_ITEM_COLUMNS)
_EVENT_PAYLOAD = ("camera_id", "window", "kind", "at", "details")


def _binding(row: Any) -> Binding:
    return Binding(row.camera_id, row.window, row.valid_from, row.valid_to)


class CameraStore(Cameras):
    """The cameras of the index held by node ``origin`` and their bindings, inside one connection."""

    def __init__(self, conn: Connection, origin: str) -> None:
        self.conn = conn
        self.origin = origin

    def get(self, camera_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(cameras).where(cameras.c.camera_id == camera_id)).mappings().first()
        return dict(row) if row else None

    def save(self, row: dict[str, Any], *, new: bool) -> None:
        if new:
            self.conn.execute(insert(cameras).values(**row))
        else:
            values = {k: v for k, v in row.items() if k not in {"camera_id", "created_at"}}
            self.conn.execute(update(cameras).where(cameras.c.camera_id == row["camera_id"]).values(**values))

    def publish(self, camera: Mapping[str, Any], now: datetime) -> None:
        bindings = [
            {"window": b.window, "valid_from": b.valid_from, "valid_to": b.valid_to}
            for b in self.bindings_of_camera(camera["camera_id"])
        ]
        payload = {"camera_id": camera["camera_id"], "name": camera["name"], "hall": camera["hall"]}
        record = outbox.OutboxRecord(CAMERA_RECORD, camera["camera_id"], "upsert", payload | {"bindings": bindings})
        outbox.append(self.conn, origin=self.origin, records=[record], created_at=now)

    def bindings_of_camera(self, camera_id: str) -> list[Binding]:
        q = select(camera_bindings).where(camera_bindings.c.camera_id == camera_id)
        return [_binding(r) for r in self.conn.execute(q.order_by(camera_bindings.c.valid_from))]

    def bindings_of_window(self, window: str) -> list[Binding]:
        q = select(camera_bindings).where(camera_bindings.c.window == window)
        return [_binding(r) for r in self.conn.execute(q.order_by(camera_bindings.c.valid_from))]

    def close_binding(self, binding: Binding, valid_to: datetime) -> None:
        cb = camera_bindings.c
        self.conn.execute(
            update(camera_bindings)
            .where(cb.camera_id == binding.camera_id, cb.valid_from == binding.valid_from)
            .values(valid_to=valid_to)
        )

    def add_binding(self, binding: Binding) -> None:
        b = binding
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

    def with_bindings(self) -> list[tuple[dict[str, Any], list[Binding]]]:
        """Every camera by id, with its bindings oldest first (two queries, whatever the number of cameras)."""
        rows = [dict(r) for r in self.conn.execute(select(cameras).order_by(cameras.c.camera_id)).mappings()]
        q = select(camera_bindings).order_by(camera_bindings.c.camera_id, camera_bindings.c.valid_from)
        by_camera: dict[str, list[Binding]] = {}
        for b in self.conn.execute(q):
            by_camera.setdefault(b.camera_id, []).append(_binding(b))
        return [(r, by_camera.get(r["camera_id"], [])) for r in rows]

    def registered(self, camera_ids: Iterable[str]) -> set[str]:
        ids = sorted(set(camera_ids))
        if not ids:
            return set()
        return set(self.conn.execute(select(cameras.c.camera_id).where(cameras.c.camera_id.in_(ids))).scalars())


class VideoEventStore(VideoEvents):
    """The video events of the index held by node ``origin``, inside one connection."""

    def __init__(self, conn: Connection, origin: str) -> None:
        self.conn = conn
        self.origin = origin

    def add(self, rows: Sequence[dict[str, Any]], now: datetime) -> None:
        if rows:
            self.conn.execute(insert(video_events), list(rows))
        outbox.append(
            self.conn,
            origin=self.origin,
            records=[
                outbox.OutboxRecord(EVENT_RECORD, r["event_id"], "upsert", {k: r[k] for k in _EVENT_PAYLOAD})
                for r in rows
            ],
            created_at=now,
        )

    def existing(self, event_ids: Iterable[str]) -> set[str]:
        ids = sorted(set(event_ids))
        if not ids:
            return set()
        stmt = select(video_events.c.event_id).where(video_events.c.event_id.in_(ids))
        return set(self.conn.execute(stmt).scalars())

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


class PurgeStore(Purges):
    """The purge log of node ``origin``, inside one connection."""

    def __init__(self, conn: Connection, origin: str) -> None:
        self.conn = conn
        self.origin = origin

    def last_done(self) -> dict[str, Any] | None:
        vp = video_purges.c
        q = select(video_purges).where(vp.origin == self.origin, vp.status == "done").order_by(vp.purge_id.desc())
        row = self.conn.execute(q.limit(1)).mappings().first()
        return dict(row) if row else None

    def log(self, row: dict[str, Any]) -> int:
        result = self.conn.execute(insert(video_purges).values(**row).returning(video_purges.c.purge_id))
        return int(result.scalar_one())

    def log_items(self, purge_id: int, segments: Sequence[Segment]) -> None:
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

    def record_file_results(
        self, purge_id: int, results: Sequence[tuple[str, datetime, str]], counts: dict[str, int]
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
                    (cameras_, [aware(s) for _, s, _ in results], outcomes, purge_id),
                )
            else:
                starts = sqlite_moments([s for _, s, _ in results])
                sql = f"UPDATE {table} SET file_result = ? WHERE purge_id = ? AND camera_id = ? AND start_at = ?"
                rows = [(r, purge_id, c, s) for c, s, r in zip(cameras_, starts, outcomes, strict=True)]
                self.conn.exec_driver_sql(sql, rows)
        self.conn.execute(update(video_purges).where(video_purges.c.purge_id == purge_id).values(**counts))

    def items(self, purge_id: int) -> list[dict[str, Any]]:
        vi = video_purge_items.c
        q = select(video_purge_items).where(vi.purge_id == purge_id).order_by(vi.start_at, vi.camera_id)
        return [dict(r) for r in self.conn.execute(q).mappings()]
