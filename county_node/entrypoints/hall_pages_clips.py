"""The hall's 录像 pages: the video of a case's step (办理过程的某一步) and of an alert, in Chinese — the camera
watching the window then, the range around the moment in China time, the recording segments (times and files) and the
missing stretches, or 该时段无录像. The same clips as the JSON routes of :mod:`county_node.entrypoints.video_http`
(``video.read``). See :mod:`county_node.entrypoints.hall_pages`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from county_node.bootstrap import CountyNode
from county_node.entrypoints.hall_common import web_of
from county_node.video.clip_service import Clip
from federation.errors import NotFound
from federation.http_params import StepPath
from security.access import Permission, Principal
from security.http import Who

__all__ = ["clips_router"]

_Viewer = Annotated[Principal, Who(Permission.VIDEO_READ)]


def _camera_name(node: CountyNode, camera_id: str | None) -> str:
    if camera_id is None:
        return ""
    try:
        row, _ = node.video.camera(camera_id)
    except NotFound:
        return ""
    return str(row.get("name") or "")


def _values(node: CountyNode, clip: Clip) -> dict[str, Any]:
    t = clip.timeline
    return {
        "window": clip.window,
        "at": clip.at,
        "camera_id": t.camera_id,
        "camera_name": _camera_name(node, t.camera_id),
        "start": t.start,
        "end": t.end,
        "complete": t.complete,
        "segments": [
            {"start": s.start, "end": s.end, "uri": s.uri, "size_mb": s.size / 1_048_576, "checksum": s.checksum}
            for s in t.segments
        ],
        "gaps": [{"start": g.start, "end": g.end} for g in t.gaps],
    }


def clips_router(node: CountyNode) -> APIRouter:
    router = APIRouter()
    video = node.video

    @router.get("/cases/{case_no}/steps/{n}/clip", summary="办件某一步的录像")
    def case_step_clip(
        request: Request, case_no: Annotated[str, Path(max_length=32)], n: StepPath, who: _Viewer
    ) -> Response:
        clip = video.clip_for_case_step(case_no, n)
        return web_of(request).render(
            request,
            "hall/clip.html",
            who,
            subject=f"办件 {case_no} 第 {n} 步",
            case_no=case_no,
            alert_id="",
            **_values(node, clip),
        )

    @router.get("/alerts/{alert_id}/clip", summary="预警的录像")
    def alert_clip(request: Request, alert_id: Annotated[str, Path(max_length=32)], who: _Viewer) -> Response:
        clip = video.clip_for_alert(alert_id)
        return web_of(request).render(
            request,
            "hall/clip.html",
            who,
            subject=f"预警 {alert_id}",
            case_no="",
            alert_id=alert_id,
            **_values(node, clip),
        )

    return router
