"""Replicas of a county's video index on an upper tier: the appliers of ``camera``, ``video_segment``, ``video_event``.

Only the index travels, never the video: a province inspector looking at a red alert learns which camera, which
time range and which segments to ask the county for. The county's :class:`~county_node.video.services.
VideoIndexService` appends, in the transaction of each write:

- ``camera`` (op ``upsert``, id = the GB/T 28181 id): name, hall and the camera's *whole* set of bindings
  (``[{window, valid_from, valid_to}]``) — the replica replaces the camera row and all its bindings;
- ``video_segment`` (id ``{camera_id}@{UTC start}``): op ``upsert`` with the segment, op ``delete`` when the
  retention purge removed it — the replica removes its row;
- ``video_event`` (id = the event id, op ``upsert``): camera, window, kind, moment, details.

``prepare`` refuses, with the reason in Chinese, a record whose camera id is no valid camera id of the sending
county (the centre code starts with the division: a county only sends its own cameras), whose id does not match
its payload, or whose fields are malformed. ``apply`` writes the newest state of each row in the batch with a few
``executemany`` statements guarded by ``origin_seq`` (the record's seq): an older or duplicate record never
overwrites — nor deletes — a newer one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from county_node.video.adapters.segments import SEGMENT_RECORD, segment_record_id
from county_node.video.adapters.store import CAMERA_RECORD, EVENT_RECORD
from county_node.video.domain import DEFAULT_MAX_SEGMENT, EVENT_ID_LENGTH, EventKind, Segment, parse_camera_id
from federation.errors import RecordRejected, ValidationError
from federation.replication import Applier, Prepared, Record, Rejection
from federation.storage.bulk import BulkStatement
from federation.storage.rows import RowDecoder
from federation.storage.tables import camera_bindings, cameras, video_events, video_segments
from federation.timeutil import from_us

__all__ = [
    "CAMERA_RECORD",
    "EVENT_RECORD",
    "REPLICA_MAX_SEGMENT",
    "SEGMENT_RECORD",
    "CameraApplier",
    "EventApplier",
    "SegmentApplier",
    "video_appliers",
]

REPLICA_MAX_SEGMENT = DEFAULT_MAX_SEGMENT * 24
"""The longest segment a replica accepts — a sanity bound, not the county's own limit (``[video] max_segment_s``,
checked there, which a replica does not know): a replica's range and clip queries read back this far, so they find
every segment a county could have sent."""

_SEGMENT_ID = re.compile(r"(?P<camera>\d{20})@(?P<start>\d{8}T\d{6}\.\d{6}Z)", re.ASCII)


def _guarded_upsert(ins: Callable[[Table], Any], table: Table, *, keep: Sequence[str] = ()) -> Any:
    """INSERT … ON CONFLICT (primary key) DO UPDATE every other column but ``keep``, only when newer."""
    stmt = ins(table)
    keys = [c.name for c in table.primary_key.columns]
    return stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: stmt.excluded[c.name] for c in table.c if c.name not in keys and c.name not in keep},
        where=table.c.origin_seq.is_(None) | (table.c.origin_seq < stmt.excluded.origin_seq),
    )


def _upserts(table: Table, *, keep: Sequence[str] = ()) -> dict[str, BulkStatement]:
    columns = [c.name for c in table.c]
    return {
        "postgresql": BulkStatement(_guarded_upsert(pg_insert, table, keep=keep), columns),
        "sqlite": BulkStatement(_guarded_upsert(sqlite_insert, table, keep=keep), columns),
    }


def _own_camera(origin: str, camera_id: Any, label: str, record_id: str) -> str:
    """``camera_id`` when it is a valid camera id of the county ``origin``; else the record is rejected."""
    if not isinstance(camera_id, str):
        raise RecordRejected(f"{label}记录“{record_id}”缺少摄像机编号", record_id=record_id)
    try:
        return str(parse_camera_id(camera_id, origin))
    except ValidationError as exc:
        raise RecordRejected(
            f"{label}记录“{record_id}”：{exc.message}，不能由 {origin} 发送", record_id=record_id
        ) from None


def _expect_op(record: Record, label: str, *ops: str) -> None:
    if record.op not in ops:
        raise RecordRejected(
            f"{label}记录不支持操作“{record.op}”（应为 {' 或 '.join(ops)}）", record_id=record.record_id
        )


def _expect_object(record: Record, payload: Any, label: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise RecordRejected(f"{label}记录的载荷应为 JSON 对象", record_id=record.record_id)
    return payload


def _moment(record: Record) -> datetime:
    return from_us(record.created_at_us).astimezone(UTC)


# -- cameras -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CameraSnapshot:
    camera_id: str
    origin_seq: int
    row: dict[str, Any]
    bindings: list[dict[str, Any]] = field(default_factory=list)


class CameraApplier:
    """``camera`` records: the newest snapshot of a camera replaces its row and the full set of its bindings."""

    label = "摄像机"

    def __init__(self) -> None:
        self._camera = RowDecoder(cameras, ["name", "hall"], label=self.label)
        self._binding = RowDecoder(camera_bindings, ["window", "valid_from", "valid_to"], label="摄像机绑定")
        self._upsert = _upserts(cameras, keep=["created_at"])
        self._insert_bindings = BulkStatement(
            insert(camera_bindings), ["camera_id", "valid_from", "valid_to", "window"]
        )
        key = cameras.c.camera_id
        self._stored = select(key, cameras.c.origin_seq).where(key.in_(bindparam("keys", expanding=True)))
        self._drop_bindings = delete(camera_bindings).where(
            camera_bindings.c.camera_id.in_(bindparam("keys", expanding=True))
        )

    def prepare(self, origin: str, record: Record, payload: Any) -> CameraSnapshot:
        _expect_op(record, self.label, "upsert")
        data = _expect_object(record, payload, self.label)
        camera_id = _own_camera(origin, record.record_id, self.label, record.record_id)
        if data.get("camera_id") != camera_id:
            raise RecordRejected(f"摄像机编号“{data.get('camera_id')}”与记录编号“{camera_id}”不符", record_id=camera_id)
        row = self._camera.decode(data)
        at = _moment(record)
        row |= {"camera_id": camera_id, "origin": origin, "created_at": at, "updated_at": at}
        raw = data.get("bindings")
        if not isinstance(raw, list):
            raise RecordRejected(f"摄像机“{camera_id}”的绑定应为 JSON 数组", record_id=camera_id)
        bindings = []
        for b in raw:
            if not isinstance(b, dict):
                raise RecordRejected(f"摄像机“{camera_id}”的绑定应为 JSON 对象", record_id=camera_id)
            binding = self._binding.decode(b)
            if binding["valid_to"] is not None and binding["valid_to"] <= binding["valid_from"]:
                raise RecordRejected(f"摄像机“{camera_id}”的绑定结束时间早于开始时间", record_id=camera_id)
            bindings.append(binding | {"camera_id": camera_id})
        if len({b["valid_from"] for b in bindings}) != len(bindings):
            raise RecordRejected(f"摄像机“{camera_id}”有两条同一时刻开始的绑定", record_id=camera_id)
        return CameraSnapshot(camera_id, record.origin_seq, row, bindings)

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[CameraSnapshot]]) -> Sequence[Rejection]:
        latest: dict[str, CameraSnapshot] = {}
        for item in items:  # in seq order: the last snapshot of a camera in the batch is its newest
            latest[item.value.camera_id] = item.value
        stored = dict(conn.execute(self._stored, {"keys": list(latest)}).all())
        fresh = [s for s in latest.values() if stored.get(s.camera_id) is None or stored[s.camera_id] < s.origin_seq]
        if not fresh:
            return []
        self._upsert[conn.dialect.name].execute(conn, [s.row | {"origin_seq": s.origin_seq} for s in fresh])
        conn.execute(self._drop_bindings, {"keys": [s.camera_id for s in fresh]})
        self._insert_bindings.execute(conn, [b for s in fresh for b in s.bindings])
        return []


# -- segments ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentChange:
    camera_id: str
    start: datetime
    origin_seq: int
    row: dict[str, Any] | None  # None: the segment was purged (op ``delete``)


class SegmentApplier:
    """``video_segment`` records: ``upsert`` writes the segment, ``delete`` (a purge) removes it; newest wins."""

    label = "录像片段"

    def __init__(self) -> None:
        names = ["camera_id", "start_at", "end_at", "uri", "size", "checksum"]
        self._decoder = RowDecoder(video_segments, names, label=self.label)
        self._upsert = _upserts(video_segments)
        s = video_segments.c
        self._delete = delete(video_segments).where(
            s.camera_id == bindparam("c"),
            s.start_at == bindparam("s"),
            s.origin_seq.is_(None) | (s.origin_seq < bindparam("q")),
        )

    def prepare(self, origin: str, record: Record, payload: Any) -> SegmentChange:
        _expect_op(record, self.label, "upsert", "delete")
        rid = record.record_id
        m = _SEGMENT_ID.fullmatch(rid)
        if m is None:
            raise RecordRejected(f"录像片段编号“{rid}”格式错误（应为 摄像机编号@UTC开始时间）", record_id=rid)
        camera_id = _own_camera(origin, m["camera"], self.label, rid)
        try:
            start = datetime.strptime(m["start"], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
        except ValueError:
            raise RecordRejected(f"录像片段编号“{rid}”的开始时间无效", record_id=rid) from None
        if record.op == "delete":
            return SegmentChange(camera_id, start, record.origin_seq, None)
        data = _expect_object(record, payload, self.label)
        keys = {"start_at": "start", "end_at": "end"}
        row = self._decoder.decode({name: data.get(keys.get(name, name)) for name in self._decoder.columns})
        if row["camera_id"] != camera_id or segment_record_id(camera_id, row["start_at"]) != rid:
            raise RecordRejected(f"录像片段“{rid}”的摄像机或开始时间与记录编号不符", record_id=rid)
        segment = Segment(camera_id, row["start_at"], row["end_at"], row["uri"], row["size"], row["checksum"])
        try:
            segment.validate(REPLICA_MAX_SEGMENT)  # the county's own limit is checked there; here sanity only
        except ValidationError as exc:
            raise RecordRejected(exc.message, record_id=rid) from None
        row |= {"origin": origin, "indexed_at": _moment(record), "origin_seq": record.origin_seq}
        return SegmentChange(camera_id, start, record.origin_seq, row)

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[SegmentChange]]) -> Sequence[Rejection]:
        latest: dict[tuple[str, datetime], SegmentChange] = {}
        for item in items:  # in seq order: the last change of a segment in the batch is its newest
            latest[(item.value.camera_id, item.value.start)] = item.value
        gone = [{"c": c.camera_id, "s": c.start, "q": c.origin_seq} for c in latest.values() if c.row is None]
        if gone:
            conn.execute(self._delete, gone)
        self._upsert[conn.dialect.name].execute(conn, [c.row for c in latest.values() if c.row is not None])
        return []


# -- events --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventSnapshot:
    event_id: str
    row: dict[str, Any]


class EventApplier:
    """``video_event`` records: the newest snapshot of each event wins."""

    label = "视频事件"
    _kinds = frozenset(EventKind)

    def __init__(self) -> None:
        names = ["camera_id", "window", "kind", "at", "details"]
        self._decoder = RowDecoder(video_events, names, label=self.label)
        self._upsert = _upserts(video_events)

    def prepare(self, origin: str, record: Record, payload: Any) -> EventSnapshot:
        _expect_op(record, self.label, "upsert")
        rid = record.record_id
        if not rid or len(rid) > EVENT_ID_LENGTH or not rid.isprintable():
            raise RecordRejected(f"视频事件编号“{rid[:50]}”格式错误", record_id=rid[:50])
        if not rid.startswith(f"{origin}-"):  # a county's event ids carry its code: no two counties share one
            raise RecordRejected(f"视频事件编号“{rid}”不属于发送来源 {origin}", record_id=rid, origin=origin)
        data = _expect_object(record, payload, self.label)
        row = self._decoder.decode(data)
        _own_camera(origin, row["camera_id"], self.label, rid)
        if row["kind"] not in self._kinds:
            raise RecordRejected(f"视频事件“{rid}”的类型“{row['kind']}”未知", record_id=rid, field="kind")
        row |= {"event_id": rid, "origin": origin, "indexed_at": _moment(record), "origin_seq": record.origin_seq}
        return EventSnapshot(rid, row)

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[EventSnapshot]]) -> Sequence[Rejection]:
        latest = {item.value.event_id: item.value.row for item in items}
        self._upsert[conn.dialect.name].execute(conn, list(latest.values()))
        return []


def video_appliers() -> dict[str, Applier[Any]]:
    """The appliers of the video index an upper tier receives: ``camera`` first (segments and events name it),
    then ``video_segment`` and ``video_event``."""
    return {CAMERA_RECORD: CameraApplier(), SEGMENT_RECORD: SegmentApplier(), EVENT_RECORD: EventApplier()}
