"""SQL for the recording segments of a video index (the :class:`~county_node.ports.Segments` port), and their
``video_segment`` outbox records.

Range queries on segments read ``camera_id = C AND start_at >= T1 - reach AND start_at < T2`` — a range of the
primary key ``(camera_id, start_at)`` — and filter ``end_at > T1`` inside it, so they stay an index range at ten
million rows instead of scanning every segment ending after T1 (``reach``: the longest a segment may be).

A segment's record id is its camera and UTC start (:func:`segment_record_id`); its upsert carries the segment, its
delete (the retention purge removed it) an empty object. Both are written set-based: one bulk insert (``COPY`` on
PostgreSQL) and one outbox append per batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring as _json_str  # the string encoder of ensure_ascii=False
from operator import attrgetter
from typing import Any

from sqlalchemy import func, insert, select, tuple_
from sqlalchemy.engine import Connection

from county_node.video.domain import Segment
from county_node.video.ports import Segments
from federation.storage import outbox
from federation.storage.bulk import BulkStatement, sqlite_moments
from federation.storage.tables import video_segments

__all__ = ["SEGMENT_RECORD", "SegmentStore", "aware", "segment_record_id"]

SEGMENT_RECORD = "video_segment"

_SEGMENT_COLUMNS = ["camera_id", "start_at", "end_at", "origin", "uri", "size", "checksum", "indexed_at"]
_INSERT_SEGMENTS = BulkStatement(insert(video_segments), _SEGMENT_COLUMNS)
_SEG = video_segments.c
_SEGMENT_ROW = (_SEG.camera_id, _SEG.start_at, _SEG.end_at, _SEG.uri, _SEG.size, _SEG.checksum)  # → _segment


def aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime refused by UTCDateTime")
    return moment


def _segment(row: Any) -> Segment:
    return Segment(row.camera_id, row.start_at, row.end_at, row.uri, row.size, row.checksum)


# -- outbox records -------------------------------------------------------------------------------------------------


def segment_record_id(camera_id: str, start: datetime) -> str:
    """The replicated id of a segment: camera and UTC start (``…@20261126T014500.000000Z``)."""
    return f"{camera_id}@{_utc_stamp(start)}"


def _utc_stamp(moment: datetime) -> str:
    # what strftime('%Y%m%dT%H%M%S.%fZ') gives, at a third of its cost (this runs once per ingested segment)
    iso = moment.astimezone(UTC).isoformat(timespec="microseconds")  # 2026-11-26T01:45:00.000000+00:00
    return f"{iso[0:4]}{iso[5:7]}{iso[8:13]}{iso[14:16]}{iso[17:26]}Z"


def _segment_json(s: Segment) -> outbox.EncodedPayload:
    """``canonical_json`` of the segment's payload, assembled directly (sorted keys, no spaces): the generic encoder
    with its ``default`` hook for datetimes was a third of the ingest time."""
    return _payload(s, s.start.isoformat(), s.end.isoformat())


def _payload(s: Segment, start: str, end: str) -> outbox.EncodedPayload:
    return outbox.EncodedPayload(
        f'{{"camera_id":{_json_str(s.camera_id)},"checksum":{_json_str(s.checksum)},'
        f'"end":"{end}","size":{int(s.size)},"start":"{start}","uri":{_json_str(s.uri)}}}'
    )


_EMPTY = outbox.EncodedPayload("{}")  # a delete's payload: canonical_json({})
_START, _END, _FOLD, _ZONE = attrgetter("start"), attrgetter("end"), attrgetter("fold"), attrgetter("tzinfo")


def _segment_records(segments: Sequence[Segment]) -> tuple[list[str], list[outbox.EncodedPayload]]:
    """The record ids and payloads of a batch's ``video_segment`` upserts. The segments of a batch share their
    boundaries (one ends where the next begins; an NVR cuts every camera at the same minutes): 6,000 segments have
    a few dozen distinct moments, so each moment's texts are computed once — when every moment of the batch is in
    one time zone object and none is the second of a repeated hour (``fold``), where equal datetimes are the same
    instant written the same way. Otherwise each segment's own (the same text, computed per segment)."""
    moments = [*map(_START, segments), *map(_END, segments)]
    if any(map(_FOLD, moments)) or len({id(zone) for zone in map(_ZONE, moments)}) > 1:
        return [segment_record_id(s.camera_id, s.start) for s in segments], [_segment_json(s) for s in segments]
    iso = {m: m.isoformat() for m in dict.fromkeys(moments)}
    stamp = {m: _utc_stamp(m) for m in dict.fromkeys(map(_START, segments))}
    ids = [f"{s.camera_id}@{stamp[s.start]}" for s in segments]
    return ids, [_payload(s, iso[s.start], iso[s.end]) for s in segments]


# -- the store ------------------------------------------------------------------------------------------------------


class SegmentStore(Segments):
    """The segments of the index held by node ``origin`` inside one connection (one unit of work)."""

    def __init__(self, conn: Connection, origin: str) -> None:
        self.conn = conn
        self.origin = origin

    def near(self, camera_ids: Iterable[str], start: datetime, end: datetime, *, reach: timedelta) -> list[Segment]:
        """``end_at > start`` drops, inside the key range, the segments that end before the batch begins — the
        previous hour's, when an NVR delivers hour after hour — so only the few that matter become objects."""
        ids = sorted(set(camera_ids))
        q = select(*_SEGMENT_ROW).where(
            _SEG.camera_id.in_(ids),
            _SEG.start_at >= start - reach,
            _SEG.start_at < end,
            _SEG.end_at > start,
        )
        return [_segment(r) for r in self.conn.execute(q)]

    def add(self, segments: Sequence[Segment], now: datetime) -> None:
        """Insert the segment rows — ``COPY … FROM STDIN`` on PostgreSQL, the bulk ``INSERT`` elsewhere — and their
        outbox upserts (``COPY`` too: many small rows)."""
        self._insert(segments, now)
        record_ids, payloads = _segment_records(segments)
        outbox.append_encoded(
            self.conn,
            origin=self.origin,
            record_type=SEGMENT_RECORD,
            op="upsert",
            record_ids=record_ids,
            payloads=payloads,
            created_at=now,
            copy=True,
        )

    def _insert(self, segments: Sequence[Segment], now: datetime) -> None:
        if not segments:
            return
        origin = self.origin
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

    def between(self, camera_id: str, start: datetime, end: datetime, *, reach: timedelta) -> list[Segment]:
        q = (
            select(*_SEGMENT_ROW)
            .where(
                _SEG.camera_id == camera_id,
                _SEG.start_at >= start - reach,
                _SEG.start_at < end,
                _SEG.end_at > start,
            )
            .order_by(_SEG.start_at)
        )
        return [_segment(r) for r in self.conn.execute(q)]

    def count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(video_segments)).scalar_one())

    def count_expired(self, cutoff: datetime) -> int:
        q = select(func.count()).select_from(video_segments).where(_SEG.start_at < cutoff, _SEG.end_at <= cutoff)
        return int(self.conn.execute(q).scalar_one())

    def expired_batches(self, cutoff: datetime, size: int = 10_000) -> Iterator[list[Segment]]:
        """``size`` at a time (keyset pages: a purge reads only as far as it needs, never the whole backlog)."""
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

    def remove(self, segments: Sequence[Segment], now: datetime) -> None:
        """Delete the rows of ``segments`` by key — one ``DELETE … USING unnest(…)`` on PostgreSQL (a day's purge
        is a hundred thousand rows: a round trip each was most of its time), one ``executemany`` on SQLite — and
        append their outbox deletes."""
        self._delete(segments)
        outbox.append_encoded(
            self.conn,
            origin=self.origin,
            record_type=SEGMENT_RECORD,
            op="delete",
            record_ids=[segment_record_id(s.camera_id, s.start) for s in segments],
            payloads=[_EMPTY] * len(segments),
            created_at=now,
            copy=True,
        )

    def _delete(self, segments: Sequence[Segment]) -> None:
        if not segments:
            return
        cameras_ = [s.camera_id for s in segments]
        table = video_segments.name
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql(
                f"DELETE FROM {table} AS v USING unnest(%s::varchar[], %s::timestamptz[]) AS d(c, s) "
                "WHERE v.camera_id = d.c AND v.start_at = d.s",
                (cameras_, [aware(s.start) for s in segments]),
            )
        else:
            starts = sqlite_moments([s.start for s in segments])
            sql = f"DELETE FROM {table} WHERE camera_id = ? AND start_at = ?"
            self.conn.exec_driver_sql(sql, list(zip(cameras_, starts, strict=True)))

    def uris_in_use(self, uris: Sequence[str], chunk: int = 250_000) -> set[str]:
        """``uri`` has no index (it would cost every ingest a third index insert for a daily question), so each
        chunk of ``uris`` is answered by one pass over the segments with a hashed membership test —
        ``uri = ANY(array)`` on PostgreSQL, ``IN (SELECT value FROM json_each(?))`` (an ephemeral index) on SQLite —
        instead of one pass per thousand URIs."""
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
