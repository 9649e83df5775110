"""Clips (录像片段): the video for a case step, an alert or a complaint — the camera of the window at that moment,
with the margin around it, its segments and the gaps between them.

Where and when a subject's video is (:func:`alert_moment`, :func:`complaint_moment`) is also what the retention
purge holds. On a city or the province the same logic reads the replica of a county's index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from county_node.supervision.domain.alerts import Alert
from county_node.supervision.domain.complaints import Complaint, ComplaintTarget
from county_node.unit_of_work import CountyRepositories
from county_node.video.core import VideoIndexCore
from county_node.video.domain import Segment, Timeline, find_gaps, show
from federation.errors import AlertNotFound, CaseNotFound, ComplaintNotFound, NotFound
from federation.paging import MAX_STEP

__all__ = ["Clip", "ClipUseCases", "alert_moment", "clip_reference", "complaint_moment", "window_clip"]


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


def _case_window(uow: CountyRepositories, case_no: str) -> str | None:
    desk = uow.cases.desk_of(case_no)
    if desk is None:
        raise CaseNotFound(f"办件 {case_no} 不存在", case_no=case_no)
    return desk.window


def complaint_moment(uow: CountyRepositories, c: Complaint) -> tuple[str | None, datetime]:
    """A complaint's video: its target window (or its case's window) when it was filed."""
    if c.target is ComplaintTarget.WINDOW:
        return c.target_id, c.filed_at
    if c.case_no:
        return _case_window(uow, c.case_no), c.filed_at
    return None, c.filed_at


def alert_moment(uow: CountyRepositories, alert: Alert) -> tuple[str | None, datetime]:
    """Where and when an alert's video is: a complaint's alert (SUP-101) at the complaint (its window, when it
    was filed); a video event's (SUP-301, SUP-302) at the event; a case's at its case's last step before the alert
    opened; else its opening moment."""
    if alert.subject_kind == "complaint":
        complaint = uow.complaints.find(alert.subject_id)
        if complaint is not None:
            return complaint_moment(uow, complaint)
    if alert.subject_kind == "video_event":  # SUP-301 / SUP-302: the event's window at the event's moment
        at = alert.details.get("at")
        if isinstance(at, str):
            return alert.details.get("window"), datetime.fromisoformat(at)
    if not alert.case_no:
        return None, alert.opened_at
    window = _case_window(uow, alert.case_no)
    last = uow.cases.last_step_at(alert.case_no, alert.opened_at)
    return window, last or alert.opened_at


def window_clip(
    core: VideoIndexCore, uow: CountyRepositories, subject: str, window: str | None, at: datetime, *, county: str
) -> Clip:
    """The clip of ``window`` at ``at``: the camera bound there then, over ``core``'s margin around ``at``.
    ``county``: whose window it is — window numbers are per hall, and a city or the province holds the cameras of
    every county below it, so the camera is looked for among that county's only."""
    start, end = core.margin.around(at)
    camera = uow.cameras.camera_at(window, at, county=county) if window else None
    if camera is None:
        note = f"窗口 {window} 在 {show(at)} 未绑定摄像机" if window else "未记录办理窗口，无法定位录像"
        return Clip(subject, window, at, Timeline(None, start, end, [], find_gaps([], start, end)), note)
    found = uow.segments.between(camera, start, end, reach=core.max_segment)
    return Clip(subject, window, at, Timeline(camera, start, end, found, find_gaps(found, start, end)))


def clip_reference(clip: Clip) -> dict[str, Any]:
    """What an alert records of a clip (not the segments themselves): window, moment, camera, range, note and how
    many segments and gaps it had when the alert was raised."""
    t = clip.timeline
    return {
        "window": clip.window,
        "at": clip.at,
        "camera_id": t.camera_id,
        "start": t.start,
        "end": t.end,
        "segments": len(t.segments),
        "gaps": len(t.gaps),
        "note": clip.note,
    }


class ClipUseCases(VideoIndexCore):
    def _clip(self, uow: CountyRepositories, subject: str, window: str | None, at: datetime, county: str) -> Clip:
        return window_clip(self, uow, subject, window, at, county=county)

    def clip_for_case_step(self, case_no: str, n: int) -> Clip:
        """The clip of step ``n`` of a case: the case's window, the camera bound there at the step's moment."""
        if not 1 <= n <= MAX_STEP:
            raise NotFound(f"办件 {case_no} 没有第 {n} 步", case_no=case_no, n=n)
        with self._units(readonly=True) as uow:
            desk = uow.cases.desk_of(case_no)
            if desk is None:
                raise CaseNotFound(f"办件 {case_no} 不存在", case_no=case_no)
            at = uow.cases.step_at(case_no, n)
            if at is None:
                raise NotFound(f"办件 {case_no} 没有第 {n} 步", case_no=case_no, n=n)
            return self._clip(uow, f"{case_no}#{n:04d}", desk.window, at, desk.origin)

    def clip_for_alert(self, alert_id: str) -> Clip:
        """The clip of an alert: its case's last step before it opened (else its opening moment)."""
        with self._units(readonly=True) as uow:
            alert = uow.alerts.find(alert_id)
            if alert is None:
                raise AlertNotFound(f"预警 {alert_id} 不存在", alert_id=alert_id)
            window, at = alert_moment(uow, alert)
            return self._clip(uow, f"alert:{alert_id}", window, at, alert.origin)

    def clip_for_complaint(self, complaint_id: str) -> Clip:
        """The clip of a complaint: its target window (or its case's window) when it was filed."""
        with self._units(readonly=True) as uow:
            complaint = uow.complaints.find(complaint_id)
            if complaint is None:
                raise ComplaintNotFound(f"投诉 {complaint_id} 不存在", complaint_id=complaint_id)
            window, at = complaint_moment(uow, complaint)
            return self._clip(uow, f"complaint:{complaint_id}", window, at, complaint.origin)
