"""The county video index service (视频索引): cameras, segments, events, clips for cases/alerts/complaints, purge.

Every change that replicates — a camera with its bindings (``camera``), a segment (``video_segment``), an event
(``video_event``), and the removal of a purged segment — writes its outbox row in the same transaction, after
taking the county's writer lock first (:func:`outbox.lock_origin`), as every county writer does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring as _json_str  # the string encoder of ensure_ascii=False
from operator import attrgetter
from typing import Any
from uuid import uuid4

from sqlalchemy import Engine, RowMapping, func, select

from county_node.video.adapters.files import FileResult, RecordingFiles
from county_node.video.adapters.store import VideoStore
from county_node.video.domain import (
    DEFAULT_MAX_SEGMENT,
    Binding,
    ClipMargin,
    EventKind,
    Hold,
    HoldIndex,
    RetentionPolicy,
    Segment,
    Timeline,
    check_binding,
    check_camera_text,
    check_new_segments,
    find_gaps,
    parse_camera_id,
    purge_limit,
    show,
    untrusted_reason,
)
from federation.errors import AlertNotFound, CaseNotFound, ComplaintNotFound, NotFound, ValidationError
from federation.storage import outbox
from federation.storage.tables import alerts, case_events, cases, complaints
from federation.storage.uow import UnitOfWork

__all__ = ["EVENT_ID_LENGTH", "Clip", "PurgeReport", "VideoIndexService", "segment_record_id"]

Clock = Callable[[], datetime]


def segment_record_id(camera_id: str, start: datetime) -> str:
    """The replicated id of a segment: camera and UTC start (``…@20261126T014500.000000Z``)."""
    return f"{camera_id}@{_utc_stamp(start)}"


def _utc_stamp(moment: datetime) -> str:
    # what strftime('%Y%m%dT%H%M%S.%fZ') gives, at a third of its cost (this runs once per ingested segment)
    iso = moment.astimezone(UTC).isoformat(timespec="microseconds")  # 2026-11-26T01:45:00.000000+00:00
    return f"{iso[0:4]}{iso[5:7]}{iso[8:13]}{iso[14:16]}{iso[17:26]}Z"


def _segment_json(s: Segment) -> outbox.EncodedPayload:
    """``canonical_json(_segment_payload(s))``, assembled directly (sorted keys, no spaces): the generic encoder
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


def _segment_payload(s: Segment) -> dict[str, Any]:
    return {
        "camera_id": s.camera_id,
        "start": s.start,
        "end": s.end,
        "uri": s.uri,
        "size": s.size,
        "checksum": s.checksum,
    }


def _timeline_dict(t: Timeline) -> dict[str, Any]:
    return {
        "camera_id": t.camera_id,
        "start": t.start,
        "end": t.end,
        "segments": [_segment_payload(s) for s in t.segments],
        "gaps": [{"start": g.start, "end": g.end} for g in t.gaps],
    }


EVENT_ID_LENGTH = 40
"""The longest event id, the county's prefix included (``video_events.event_id``)."""


@dataclass(frozen=True, slots=True)
class Clip:
    """The video for a subject (case step, alert, complaint): the window's camera at ``at``, with the margin.

    ``camera_id`` None (and ``note`` saying why) when no camera watched the window then."""

    subject: str
    window: str | None
    at: datetime
    timeline: Timeline
    note: str = ""

    @property
    def camera_id(self) -> str | None:
        return self.timeline.camera_id

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "window": self.window, "at": self.at, "note": self.note} | _timeline_dict(
            self.timeline
        )


@dataclass(slots=True)
class PurgeReport:
    status: str  # done | refused
    reason: str
    purge_id: int
    cutoff: datetime
    index_before: int
    expired: int = 0
    held: int = 0
    removed: int = 0
    capped: bool = False
    files: dict[str, int] = field(default_factory=dict)


class VideoIndexService:
    """The video index of one county node (``division``)."""

    def __init__(
        self,
        engine: Engine,
        division: str,
        clock: Clock,
        *,
        max_segment: timedelta = DEFAULT_MAX_SEGMENT,
        margin: ClipMargin | None = None,
        retention: RetentionPolicy | None = None,
        files: RecordingFiles | None = None,
    ) -> None:
        self._engine = engine
        self.division = division
        self._now = clock
        self.max_segment = max_segment
        self.margin = margin or ClipMargin()
        self.retention = retention or RetentionPolicy()
        self._files = files

    def _store(self, uow: UnitOfWork) -> VideoStore:
        return VideoStore(uow.conn, self.max_segment)

    # -- cameras ------------------------------------------------------------------------------------------------
    def _camera_record(self, store: VideoStore, camera: Mapping[str, Any]) -> outbox.OutboxRecord:
        bindings = [
            {"window": b.window, "valid_from": b.valid_from, "valid_to": b.valid_to}
            for b in store.bindings_of_camera(camera["camera_id"])
        ]
        payload = {"camera_id": camera["camera_id"], "name": camera["name"], "hall": camera["hall"]}
        return outbox.OutboxRecord("camera", camera["camera_id"], "upsert", payload | {"bindings": bindings})

    def register_camera(
        self, camera_id: str, *, name: str, hall: str, window: str | None = None, since: datetime | None = None
    ) -> dict[str, Any]:
        """Register (or rename) a camera; with ``window``, bind it there from ``since`` (default now)."""
        cid = str(parse_camera_id(camera_id, self.division))
        check_camera_text(cid, name=name.strip(), hall=hall.strip())
        now = self._now()
        with UnitOfWork(self._engine) as uow:
            outbox.lock_origin(uow.conn, self.division)
            store = self._store(uow)
            existing = store.camera(cid)
            row: dict[str, Any] = {
                "camera_id": cid,
                "origin": self.division,
                "name": name.strip(),
                "hall": hall.strip(),
            }
            row |= {"created_at": existing["created_at"] if existing else now, "updated_at": now}
            store.save_camera(row, new=existing is None)
            if window is not None:
                self._bind(store, cid, window, since or now, None)
            outbox.append(uow.conn, origin=self.division, records=[self._camera_record(store, row)], created_at=now)
            uow.commit()
        return row

    def bind(self, camera_id: str, window: str, valid_from: datetime, valid_to: datetime | None = None) -> None:
        """Bind a camera to ``window`` for ``[valid_from, valid_to)``; an open binding elsewhere is closed at
        ``valid_from`` (the camera was moved). Overlaps for the camera or a second camera on the window: refused."""
        now = self._now()
        with UnitOfWork(self._engine) as uow:
            outbox.lock_origin(uow.conn, self.division)
            store = self._store(uow)
            camera = store.camera(camera_id)
            if camera is None:
                raise NotFound(f"摄像机 {camera_id} 未登记", camera_id=camera_id)
            self._bind(store, camera_id, window, valid_from, valid_to)
            outbox.append(uow.conn, origin=self.division, records=[self._camera_record(store, camera)], created_at=now)
            uow.commit()

    @staticmethod
    def _bind(store: VideoStore, camera_id: str, window: str, start: datetime, end: datetime | None) -> None:
        window = window.strip()
        check_camera_text(camera_id, window=window)
        if start.tzinfo is None:
            raise ValidationError("绑定开始时间必须带时区", camera_id=camera_id)
        mine = store.bindings_of_camera(camera_id)
        opened = [b for b in mine if b.valid_to is None and b.valid_from < start]
        others = [b for b in mine if b not in opened]
        moved = [Binding(b.camera_id, b.window, b.valid_from, start) for b in opened]
        new = Binding(camera_id, window, start, end)
        check_binding(new, others + moved, store.bindings_of_window(window))
        # a move for a period (valid_to given) is temporary: the camera returns to where it was at its end —
        # otherwise its old window would have no camera from then on, and its video would not be held
        returning = [Binding(b.camera_id, b.window, end, None) for b in opened] if end is not None else []
        for back in returning:
            closed = {(m.camera_id, m.valid_from): m for m in moved}
            at_window = [closed.get((w.camera_id, w.valid_from), w) for w in store.bindings_of_window(back.window)]
            check_binding(back, [*others, *moved, new], at_window)
        for b in opened:
            store.close_binding(b, start)
        store.add_binding(new)
        for back in returning:
            store.add_binding(back)

    def bindings(self, camera_id: str) -> list[Binding]:
        with UnitOfWork(self._engine, readonly=True) as uow:
            return self._store(uow).bindings_of_camera(camera_id)

    def camera_at(self, window: str, at: datetime) -> str | None:
        with UnitOfWork(self._engine, readonly=True) as uow:
            return self._store(uow).camera_at(window, at)

    def camera(self, camera_id: str) -> tuple[dict[str, Any], list[Binding]]:
        """A registered camera and its bindings (oldest first); :class:`NotFound` when it is not registered."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            store = self._store(uow)
            row = store.camera(camera_id)
            if row is None:
                raise NotFound(f"摄像机 {camera_id} 未登记", camera_id=camera_id)
            return row, store.bindings_of_camera(camera_id)

    def cameras(self) -> list[tuple[dict[str, Any], list[Binding]]]:
        """Every camera of this county's index with its bindings, by camera id."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            return self._store(uow).cameras_with_bindings()

    def registered(self, camera_ids: Iterable[str]) -> set[str]:
        """Those of ``camera_ids`` registered in this county's index."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            return self._store(uow).existing_cameras(camera_ids)

    # -- segments -----------------------------------------------------------------------------------------------
    def add_segments(self, segments: Sequence[Segment]) -> int:
        """Index a batch of segments; the number newly indexed. Exact duplicates of indexed segments are no-ops;
        any other overlap, an unknown camera or an invalid segment refuses the whole batch (nothing written)."""
        if not segments:
            return 0
        for s in segments:
            s.validate(self.max_segment)
        now = self._now()
        with UnitOfWork(self._engine) as uow:
            outbox.lock_origin(uow.conn, self.division)
            store = self._store(uow)
            ids = {s.camera_id for s in segments}
            unknown = sorted(ids - store.existing_cameras(ids))
            if unknown:
                raise NotFound(f"摄像机 {'、'.join(unknown[:5])} 未登记，整批未入库", camera_ids=unknown[:5])
            lo = min(s.start for s in segments)
            hi = max(s.end for s in segments)
            fresh = check_new_segments(segments, store.segments_near(ids, lo, hi))
            store.add_segments(fresh, self.division, now)
            record_ids, payloads = _segment_records(fresh)
            outbox.append_encoded(
                uow.conn,
                origin=self.division,
                record_type="video_segment",
                op="upsert",
                record_ids=record_ids,
                payloads=payloads,
                created_at=now,
                copy=True,  # many small rows: COPY on PostgreSQL
            )
            uow.commit()
        return len(fresh)

    def segments(self, camera_id: str, start: datetime, end: datetime) -> Timeline:
        """Segments of ``camera_id`` overlapping ``[start, end)`` in order, and the gaps between them."""
        if end <= start:
            raise ValidationError("查询的结束时间必须晚于开始时间", camera_id=camera_id)
        with UnitOfWork(self._engine, readonly=True) as uow:
            found = self._store(uow).segments_between(camera_id, start, end)
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
        with UnitOfWork(self._engine) as uow:
            outbox.lock_origin(uow.conn, self.division)
            store = self._store(uow)
            ids = {r["camera_id"] for r in rows}
            unknown = sorted(ids - store.existing_cameras(ids))
            if unknown:
                raise NotFound(f"摄像机 {'、'.join(unknown[:5])} 未登记，事件未入库", camera_ids=unknown[:5])
            seen = store.existing_events(r["event_id"] for r in rows)
            fresh = []
            for r in rows:
                if r["event_id"] in seen:
                    continue
                if r["window"] is None:
                    r["window"] = store.window_at(r["camera_id"], r["at"])
                fresh.append(r)
            store.add_events(fresh)
            keep = ("camera_id", "window", "kind", "at", "details")
            outbox.append(
                uow.conn,
                origin=self.division,
                records=[
                    outbox.OutboxRecord("video_event", r["event_id"], "upsert", {k: r[k] for k in keep}) for r in fresh
                ],
                created_at=now,
            )
            uow.commit()
        return [r["event_id"] for r in rows]

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
        with UnitOfWork(self._engine, readonly=True) as uow:
            return self._store(uow).events(
                start=start, end=end, kind=kind, camera_id=camera_id, window=window, limit=limit
            )

    # -- clips --------------------------------------------------------------------------------------------------
    def _clip(self, store: VideoStore, subject: str, window: str | None, at: datetime, county: str) -> Clip:
        """``county``: whose window it is — window numbers are per hall, and a city or the province holds the
        cameras of every county below it, so the camera is looked for among that county's only."""
        start, end = self.margin.around(at)
        camera = store.camera_at(window, at, county=county) if window else None
        if camera is None:
            note = f"窗口 {window} 在 {show(at)} 未绑定摄像机" if window else "未记录办理窗口，无法定位录像"
            return Clip(subject, window, at, Timeline(None, start, end, [], find_gaps([], start, end)), note)
        found = store.segments_between(camera, start, end)
        return Clip(subject, window, at, Timeline(camera, start, end, found, find_gaps(found, start, end)))

    def _case_window(self, uow: UnitOfWork, case_no: str) -> str | None:
        row = uow.conn.execute(select(cases.c.window).where(cases.c.case_no == case_no)).first()
        if row is None:
            raise CaseNotFound(f"办件 {case_no} 不存在", case_no=case_no)
        window: str | None = row[0]
        return window

    def clip_for_case_step(self, case_no: str, n: int) -> Clip:
        """The clip of step ``n`` of a case: the case's window, the camera bound there at the step's moment."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            window = self._case_window(uow, case_no)
            ce = case_events.c
            at = uow.conn.execute(select(ce.at).where(ce.case_no == case_no, ce.n == n)).scalar_one_or_none()
            if at is None:
                raise NotFound(f"办件 {case_no} 没有第 {n} 步", case_no=case_no, n=n)
            origin = uow.conn.execute(select(cases.c.origin).where(cases.c.case_no == case_no)).scalar_one()
            return self._clip(self._store(uow), f"{case_no}#{n:04d}", window, at, origin)

    def _alert_moment(self, uow: UnitOfWork, alert: Mapping[str, Any] | RowMapping) -> tuple[str | None, datetime]:
        """Where and when an alert's video is: a complaint's alert (SUP-101) at the complaint (its window, when it
        was filed); a case's at its case's last step before the alert opened; else its opening moment."""
        if alert["subject_kind"] == "complaint":
            q = select(complaints).where(complaints.c.complaint_id == alert["subject_id"])
            complaint = uow.conn.execute(q).mappings().first()
            if complaint is not None:
                return self._complaint_moment(uow, complaint)
        if not alert["case_no"]:
            return None, alert["opened_at"]
        window = self._case_window(uow, alert["case_no"])
        ce = case_events.c
        last = uow.conn.execute(
            select(func.max(ce.at)).where(ce.case_no == alert["case_no"], ce.at <= alert["opened_at"])
        ).scalar_one_or_none()
        return window, last or alert["opened_at"]

    def clip_for_alert(self, alert_id: str) -> Clip:
        """The clip of an alert: its case's last step before it opened (else its opening moment)."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            row = uow.conn.execute(select(alerts).where(alerts.c.alert_id == alert_id)).mappings().first()
            if row is None:
                raise AlertNotFound(f"预警 {alert_id} 不存在", alert_id=alert_id)
            window, at = self._alert_moment(uow, row)
            return self._clip(self._store(uow), f"alert:{alert_id}", window, at, row["origin"])

    def _complaint_moment(self, uow: UnitOfWork, c: Mapping[str, Any] | RowMapping) -> tuple[str | None, datetime]:
        if c["target"] == "window":
            return c["target_id"], c["filed_at"]
        if c["case_no"]:
            return self._case_window(uow, c["case_no"]), c["filed_at"]
        return None, c["filed_at"]

    def clip_for_complaint(self, complaint_id: str) -> Clip:
        """The clip of a complaint: its target window (or its case's window) when it was filed."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            q = select(complaints).where(complaints.c.complaint_id == complaint_id)
            row = uow.conn.execute(q).mappings().first()
            if row is None:
                raise ComplaintNotFound(f"投诉 {complaint_id} 不存在", complaint_id=complaint_id)
            window, at = self._complaint_moment(uow, row)
            return self._clip(self._store(uow), f"complaint:{complaint_id}", window, at, row["origin"])

    # -- retention ----------------------------------------------------------------------------------------------
    def _holds(self, uow: UnitOfWork, store: VideoStore, now: datetime) -> list[Hold]:
        """Legal holds: the clips of alerts and complaints still open, or closed less than the hold period ago."""
        since = now - self.retention.hold_after_close
        holds: list[Hold] = []
        a = alerts.c
        q = select(alerts).where(
            (a.case_no.is_not(None)) | (a.subject_kind == "complaint"), (a.closed_at.is_(None)) | (a.closed_at > since)
        )
        for row in uow.conn.execute(q).mappings():
            window, at = self._alert_moment(uow, row)
            holds += self._hold(store, f"alert:{row['alert_id']}", window, at)
        c = complaints.c
        q = select(complaints).where((c.closed_at.is_(None)) | (c.closed_at > since))
        for row in uow.conn.execute(q).mappings():
            window, at = self._complaint_moment(uow, row)
            holds += self._hold(store, f"complaint:{row['complaint_id']}", window, at)
        return holds

    def _hold(self, store: VideoStore, subject: str, window: str | None, at: datetime) -> list[Hold]:
        camera = store.camera_at(window, at) if window else None
        if camera is None:
            return []
        start, end = self.margin.around(at)
        return [Hold(subject, camera, start, end)]

    def purge(self) -> PurgeReport:
        """Remove expired, unheld segments (at most ``max_share`` of the index, oldest first), log what was removed,
        then delete their files through the files port. Refused — and logged — when the index looks untrustworthy."""
        now = self._now()
        cutoff = self.retention.cutoff(now)
        with UnitOfWork(self._engine) as uow:
            outbox.lock_origin(uow.conn, self.division)
            store = self._store(uow)
            total = store.count_segments()
            last = store.last_done_purge(self.division)
            base = {"origin": self.division, "ran_at": now, "cutoff": cutoff, "index_before": total}
            zero = {"files_removed": 0, "files_missing": 0, "files_failed": 0}
            reason = untrusted_reason(total, last["index_after"] if last else None, self.retention)
            if reason is not None:
                counts = {"index_after": total, "expired": 0, "held": 0, "removed": 0}
                purge_id = store.log_purge(base | counts | zero | {"status": "refused", "reason": reason})
                uow.commit()
                return PurgeReport("refused", reason, purge_id, cutoff, total)
            expired_count = store.count_expired(cutoff)
            hold_index = HoldIndex(self._holds(uow, store, now))
            limit = purge_limit(total, self.retention)
            free: list[Segment] = []
            looked = held_count = 0
            for page in store.expired_batches(cutoff):  # oldest first, only as far as the cap needs
                for s in page:
                    looked += 1
                    if hold_index.holds(s):
                        held_count += 1
                    else:
                        free.append(s)
                if len(free) > limit:
                    break
            doomed = free[:limit]
            capped = len(free) > limit
            note = (
                f"本次清理达到上限 {limit} 条（索引的 {self.retention.max_share:.0%}），其余下次清理" if capped else ""
            )
            counts = {
                "index_after": total - len(doomed),
                "expired": expired_count,
                "held": held_count,  # among the expired segments looked at (all of them unless the cap was reached)
                "removed": len(doomed),
            }
            purge_id = store.log_purge(base | counts | zero | {"status": "done", "reason": note or None})
            store.log_purge_items(purge_id, doomed)
            store.delete_segments(doomed)
            outbox.append_encoded(
                uow.conn,
                origin=self.division,
                record_type="video_segment",
                op="delete",
                record_ids=[segment_record_id(s.camera_id, s.start) for s in doomed],
                payloads=[_EMPTY] * len(doomed),
                created_at=now,
                copy=True,
            )
            uow.commit()
        report = PurgeReport(
            "done", note, purge_id, cutoff, total, counts["expired"], counts["held"], len(doomed), capped
        )
        if self._files is not None and doomed:
            with UnitOfWork(self._engine, readonly=True) as uow:  # a file a kept segment shares stays
                shared = self._store(uow).uris_in_use(sorted({s.uri for s in doomed}))
            results = self._files.remove(sorted({s.uri for s in doomed} - shared))
            tally = {r.value: 0 for r in FileResult}
            for r in results.values():
                tally[r.value] += 1
            report.files = tally
            with UnitOfWork(self._engine) as uow:
                self._store(uow).record_file_results(
                    purge_id,
                    [(s.camera_id, s.start, results[s.uri].value) for s in doomed if s.uri in results],
                    {
                        "files_removed": tally["removed"],
                        "files_missing": tally["missing"],
                        "files_failed": tally["failed"] + tally["refused"],
                    },
                )
                uow.commit()
        return report

    def purge_items(self, purge_id: int) -> list[dict[str, Any]]:
        with UnitOfWork(self._engine, readonly=True) as uow:
            return self._store(uow).purge_items(purge_id)
