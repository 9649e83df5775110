"""The video index routes (视频索引) of the county HTTP API, built by :func:`video_router` around a node.

Included by :func:`county_node.entrypoints.http.create_app` under ``/api/v1``; errors are rendered there
(:mod:`federation.http_errors`). Moments are ISO 8601; one without an offset is read as Beijing time
(+08:00), and every moment returned is in Beijing time.

========  ======================================  ==================================================================
POST      /cameras                                register (or rename) a camera, optionally bound to a window
GET       /cameras                                every camera with its bindings
GET       /cameras/{camera_id}                    one camera with its bindings
POST      /cameras/{camera_id}/bind               bind (move) a camera to a window from a moment
POST      /video/segments                         index a batch of segments (all or nothing)
GET       /video/segments?camera=&from=&to=       segments of a camera overlapping [from, to), with the gaps
POST      /video/events                           index events (alarm, motion, window unattended, complaint-linked)
GET       /video/events?type=&camera=&window=…    events by type, camera, window and time
GET       /cases/{case_no}/steps/{n}/clip         the clip of a case step
GET       /alerts/{alert_id}/clip                 the clip of an alert
GET       /complaints/{complaint_id}/clip         the clip of a complaint
POST      /video/purge                            run retention once; the purge report
========  ======================================  ==================================================================

Every route needs a login (issue 15): reads (clips included) ``video.read``; cameras, bindings, segments and events
``video.manage``; the purge, which deletes recordings, ``video.purge`` (the node admin only).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from county_node.bootstrap import CountyNode
from county_node.entrypoints.views import iso
from county_node.video.domain import Binding, Segment, Timeline
from county_node.video.services import Clip, PurgeReport
from federation.http_errors import ErrorView
from federation.http_params import StepPath
from federation.timeutil import CST, check_moment
from security.access import Permission, Principal
from security.http import Who

__all__ = [
    "BindBody",
    "EventBody",
    "RegisterCameraBody",
    "SegmentBody",
    "aware",
    "camera_view",
    "clip_view",
    "event_view",
    "purge_view",
    "timeline_view",
    "video_router",
]

_TAG = "视频索引"
_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorView, "description": "未登录或登录已失效"},
    403: {"model": ErrorView, "description": "当前账号的岗位或辖区无权执行此操作"},
    404: {"model": ErrorView, "description": "摄像机、办件、预警或投诉不存在"},
    409: {"model": ErrorView, "description": "录像片段重叠，或摄像机绑定冲突"},
    422: {"model": ErrorView, "description": "摄像机编号或参数不正确"},
}


# the rule of each route, next to it
_Reader = Annotated[Principal, Who(Permission.VIDEO_READ)]
_Manager = Annotated[Principal, Who(Permission.VIDEO_MANAGE)]
_Purger = Annotated[Principal, Who(Permission.VIDEO_PURGE)]


def aware(moment: datetime, field: str = "时间") -> datetime:
    """A moment with its offset; one given without is Beijing time. Outside 2000–2099 (local time or UTC): 422."""
    return check_moment(moment if moment.tzinfo is not None else moment.replace(tzinfo=CST), field)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def _binding_view(b: Binding) -> dict[str, Any]:
    return {"window": b.window, "valid_from": iso(b.valid_from), "valid_to": _iso(b.valid_to)}


def camera_view(row: dict[str, Any], bindings: list[Binding]) -> dict[str, Any]:
    current = next((b.window for b in bindings if b.valid_to is None), None)
    return {
        "camera_id": row["camera_id"],
        "name": row["name"],
        "hall": row["hall"],
        "window": current,
        "bindings": [_binding_view(b) for b in bindings],
    }


def _segment_view(s: Segment) -> dict[str, Any]:
    return {
        "camera_id": s.camera_id,
        "start": iso(s.start),
        "end": iso(s.end),
        "uri": s.uri,
        "size": s.size,
        "checksum": s.checksum,
    }


def timeline_view(t: Timeline) -> dict[str, Any]:
    return {
        "camera_id": t.camera_id,
        "from": iso(t.start),
        "to": iso(t.end),
        "complete": t.complete,
        "segments": [_segment_view(s) for s in t.segments],
        "gaps": [{"from": iso(g.start), "to": iso(g.end)} for g in t.gaps],
    }


def clip_view(c: Clip) -> dict[str, Any]:
    return {"subject": c.subject, "window": c.window, "at": iso(c.at), "note": c.note} | timeline_view(c.timeline)


def purge_view(r: PurgeReport) -> dict[str, Any]:
    view = asdict(r)
    view["cutoff"] = iso(r.cutoff)
    return view


def event_view(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": e["event_id"],
        "camera_id": e["camera_id"],
        "window": e["window"],
        "kind": e["kind"],
        "at": iso(e["at"]),
        "details": e.get("details") or {},
    }


class RegisterCameraBody(BaseModel):
    """登记（或更名）一台摄像机；给出 window 时自 since（默认当前）起绑定到该窗口。"""

    model_config = ConfigDict(extra="forbid")

    camera_id: str = Field(
        description="GB/T 28181 的 20 位编号，前 8 位为本县中心编码", examples=["37112200001311000001"]
    )
    name: str = Field(description="摄像机名称", examples=["3 号窗口上方"])
    hall: str = Field(description="所在大厅", examples=["县政务服务中心一楼"])
    window: str | None = Field(default=None, description="绑定的窗口编号", examples=["W03"])
    since: datetime | None = Field(default=None, description="绑定开始时间（默认当前）")


class BindBody(BaseModel):
    """把摄像机绑定（移装）到一个窗口：原有的未结束绑定在 valid_from 时结束。"""

    model_config = ConfigDict(extra="forbid")

    window: str = Field(description="窗口编号", examples=["W04"])
    valid_from: datetime | None = Field(default=None, description="绑定开始时间（默认当前）")
    valid_to: datetime | None = Field(default=None, description="绑定结束时间（默认长期有效）")


class SegmentBody(BaseModel):
    """一个录像片段：[start, end)。"""

    model_config = ConfigDict(extra="forbid")

    camera_id: str
    start: datetime
    end: datetime
    uri: str = Field(description="录像存储位置", examples=["file:///data/nvr/37112200001311000001/a.mp4"])
    size: int = Field(description="字节数")
    checksum: str = Field(description="校验值（sha256 十六进制）")

    def segment(self) -> Segment:
        return Segment(self.camera_id, aware(self.start), aware(self.end), self.uri, self.size, self.checksum)


class EventBody(BaseModel):
    """一条视频事件；window 缺省时取该摄像机当时绑定的窗口。同一 event_id 重复提交不重复入库。"""

    model_config = ConfigDict(extra="forbid")

    camera_id: str
    kind: str = Field(description="alarm 报警、motion 移动侦测、window_unattended 窗口无人、complaint_linked 投诉关联")
    at: datetime
    window: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    event_id: str | None = None

    def event(self) -> dict[str, Any]:
        return self.model_dump() | {"at": aware(self.at)}


def video_router(node: CountyNode, *, prefix: str) -> APIRouter:
    """The video index routes of ``node`` under ``prefix`` (``/api/v1``)."""
    router = APIRouter(prefix=prefix, responses=_RESPONSES, tags=[_TAG])
    video = node.video

    @router.post("/cameras", summary="登记摄像机", status_code=201)
    def register_camera(body: RegisterCameraBody, _: _Manager) -> dict[str, Any]:
        """登记摄像机（编号须为本县的 GB/T 28181 编号）；已登记的更新名称和大厅。"""
        since = aware(body.since) if body.since else None
        row = video.register_camera(body.camera_id, name=body.name, hall=body.hall, window=body.window, since=since)
        return camera_view(*video.camera(row["camera_id"]))

    @router.get("/cameras", summary="摄像机列表")
    def list_cameras(_: _Reader) -> list[dict[str, Any]]:
        """本县登记的全部摄像机及其窗口绑定历史。"""
        return [camera_view(row, bindings) for row, bindings in video.cameras()]

    @router.get("/cameras/{camera_id}", summary="摄像机详情")
    def get_camera(camera_id: Annotated[str, Path(description="摄像机编号")], _: _Reader) -> dict[str, Any]:
        return camera_view(*video.camera(camera_id))

    @router.post("/cameras/{camera_id}/bind", summary="绑定或移装摄像机")
    def bind_camera(
        camera_id: Annotated[str, Path(description="摄像机编号")], body: BindBody, _: _Manager
    ) -> dict[str, Any]:
        """自 valid_from 起把摄像机绑定到窗口；摄像机原来的未结束绑定随之结束（移装）。"""
        start = aware(body.valid_from) if body.valid_from else node.clock()
        video.bind(camera_id, body.window, start, aware(body.valid_to) if body.valid_to else None)
        return camera_view(*video.camera(camera_id))

    @router.post("/video/segments", summary="录像片段入库", status_code=201)
    def add_segments(body: list[SegmentBody], _: _Manager) -> dict[str, int]:
        """整批入库：与已入库片段完全相同的重复提交忽略；任何重叠、未登记的摄像机或无效片段使整批不入库。"""
        indexed = video.add_segments([s.segment() for s in body])
        return {"received": len(body), "indexed": indexed}

    @router.get("/video/segments", summary="查询录像片段")
    def get_segments(
        _: _Reader,
        camera: Annotated[str, Query(description="摄像机编号")],
        start: Annotated[datetime, Query(alias="from", description="开始时间")],
        end: Annotated[datetime, Query(alias="to", description="结束时间")],
    ) -> dict[str, Any]:
        """与 [from, to) 重叠的片段（按时间顺序）以及其间缺失录像的时段（gaps）。"""
        return timeline_view(video.segments(camera, aware(start), aware(end)))

    @router.post("/video/events", summary="视频事件入库", status_code=201)
    def add_events(body: list[EventBody], _: _Manager) -> dict[str, list[str]]:
        return {"event_ids": video.record_events([e.event() for e in body])}

    @router.get("/video/events", summary="查询视频事件")
    def get_events(
        _: _Reader,
        start: Annotated[datetime, Query(alias="from", description="开始时间")],
        end: Annotated[datetime, Query(alias="to", description="结束时间")],
        kind: Annotated[str | None, Query(alias="type", description="事件类型")] = None,
        camera: Annotated[str | None, Query(description="摄像机编号")] = None,
        window: Annotated[str | None, Query(description="窗口编号")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000, description="最多返回条数")] = 1000,
    ) -> list[dict[str, Any]]:
        found = video.events(aware(start), aware(end), kind=kind, camera_id=camera, window=window, limit=limit)
        return [event_view(e) for e in found]

    @router.get("/cases/{case_no}/steps/{n}/clip", summary="办件某一步的录像")
    def case_step_clip(
        _: _Reader,
        case_no: Annotated[str, Path(description="办件编号")],
        n: StepPath,
    ) -> dict[str, Any]:
        """该步发生时办件窗口所绑定摄像机的录像片段（前后留有余量），以及缺失的时段。"""
        return clip_view(video.clip_for_case_step(case_no, n))

    @router.get("/alerts/{alert_id}/clip", summary="预警的录像")
    def alert_clip(alert_id: Annotated[str, Path(description="预警编号")], _: _Reader) -> dict[str, Any]:
        return clip_view(video.clip_for_alert(alert_id))

    @router.get("/complaints/{complaint_id}/clip", summary="投诉的录像")
    def complaint_clip(complaint_id: Annotated[str, Path(description="投诉编号")], _: _Reader) -> dict[str, Any]:
        return clip_view(video.clip_for_complaint(complaint_id))

    @router.post("/video/purge", summary="按保留期清理录像")
    def purge(_: _Purger) -> dict[str, Any]:
        """删除超过保留期且未被预警、投诉保全的片段；索引不可信时拒绝清理（status 为 refused）。"""
        return purge_view(video.purge())

    return router
