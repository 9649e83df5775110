"""The hall's 投诉与评价 page: complaints to answer and close (答复, 办结), negative ratings to follow up (差评回访),
and the forms registering a complaint (登记投诉) and a rating (好差评) for a case, as the JSON API does
(:mod:`county_node.entrypoints.supervision_http`). See :mod:`county_node.entrypoints.hall_pages`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from county_node.bootstrap import CountyNode
from county_node.entrypoints.feedback_schemas import (
    CHANNEL_LABELS,
    COMPLAINT_TARGET_LABELS,
    complaint_view,
    rating_view,
)
from county_node.entrypoints.hall_common import form_error, form_of, see_other, web_of
from county_node.supervision.domain.ratings import RATING_LABELS
from federation.audit import current_audit
from federation.errors import CaseNotFound, NotFound, SunshineError, ValidationError
from federation.http_errors import http_status
from security.access import Permission, Principal
from security.http import Who

__all__ = ["feedback_router"]

PAGE_SIZE = 20
_Reader = Annotated[Principal, Who(Permission.FEEDBACK_READ)]
_Handler = Annotated[Principal, Who(Permission.FEEDBACK_HANDLE)]
_Recorder = Annotated[Principal, Who(Permission.FEEDBACK_RECORD)]


def _mistake(exc: SunshineError) -> bool:
    """A form's mistake, a case number typed on the form that names no case included (audited with its code)."""
    if isinstance(exc, CaseNotFound):
        scope = current_audit()
        if scope is not None:
            scope.outcome = exc.code
        return True
    return form_error(exc)


def _whole(form: dict[str, Any], name: str, label: str) -> int | None:
    raw = str(form.get(name, "")).strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(f"{label}应为整数", field=name) from None


def feedback_router(node: CountyNode) -> APIRouter:
    router = APIRouter()
    sup = node.supervision

    def page(
        request: Request, who: Principal, status: int = 200, for_case: str = "", rated: str = "", **extra: Any
    ) -> Response:
        open_, n_open = sup.list_complaints(status="open", page=1, page_size=PAGE_SIZE)
        answered, n_answered = sup.list_complaints(status="answered", page=1, page_size=PAGE_SIZE)
        ratings, n_ratings = sup.list_ratings(negative=True, page=1, page_size=PAGE_SIZE)
        return web_of(request).render(
            request,
            "hall/feedback.html",
            who,
            status=status,
            open_complaints=[complaint_view(c) for c in open_],
            n_open=n_open,
            answered_complaints=[complaint_view(c) for c in answered],
            n_answered=n_answered,
            ratings=[rating_view(r) for r in ratings],
            n_ratings=n_ratings,
            can_handle=who.has(Permission.FEEDBACK_HANDLE),
            can_record=who.has(Permission.FEEDBACK_RECORD),
            for_case=for_case,
            recorded=recorded(rated),
            targets=list(COMPLAINT_TARGET_LABELS.items()),
            channels=list(CHANNEL_LABELS.items()),
            levels=sorted(RATING_LABELS.items(), reverse=True),
            **({"error": "", "failed": "", "values": {}} | extra),
        )

    def recorded(rating_id: str) -> dict[str, Any] | None:
        """The rating just recorded (Post/Redirect/Get: its id in the query), to say so on the page."""
        if not rating_id:
            return None
        try:
            return dict(rating_view(sup.get_rating(rating_id)))
        except NotFound:
            return None

    @router.get("/feedback", summary="投诉与评价")
    def feedback(request: Request, who: _Reader, case_no: str = "", rated: str = "") -> Response:
        return page(request, who, for_case=case_no.strip(), rated=rated)

    async def handle(
        request: Request, who: Principal, record_id: str, anchor: str, write: Callable[[dict[str, Any], str], Any]
    ) -> Response:
        form = await form_of(request)
        actor = who.actor(Permission.FEEDBACK_HANDLE).label
        try:
            await run_in_threadpool(write, form, actor)
        except SunshineError as exc:
            if not form_error(exc):
                raise
            return await run_in_threadpool(
                page, request, who, http_status(exc), error=exc.message, failed=record_id, values=form
            )
        return see_other(f"/hall/feedback#{anchor}")

    @router.post("/complaints/{complaint_id}/answer", summary="答复投诉")
    async def answer(request: Request, complaint_id: str, who: _Handler) -> Response:
        def write(form: dict[str, Any], actor: str) -> Any:
            return sup.answer_complaint(complaint_id, answer=str(form.get("answer", "")), actor=actor)

        return await handle(request, who, complaint_id, f"complaint-{complaint_id}", write)

    @router.post("/complaints/{complaint_id}/close", summary="办结投诉")
    async def close(request: Request, complaint_id: str, who: _Handler) -> Response:
        def write(form: dict[str, Any], actor: str) -> Any:
            return sup.close_complaint(complaint_id, actor=actor, reason=str(form.get("reason", "")))

        return await handle(request, who, complaint_id, f"complaint-{complaint_id}", write)

    @router.post("/ratings/{rating_id}/follow-up", summary="差评回访")
    async def follow_up(request: Request, rating_id: str, who: _Handler) -> Response:
        def write(form: dict[str, Any], actor: str) -> Any:
            return sup.follow_up(rating_id, note=str(form.get("note", "")), actor=actor)

        return await handle(request, who, rating_id, f"rating-{rating_id}", write)

    # -- 登记投诉, 好差评 ----------------------------------------------------------------------------------------
    async def record(
        request: Request, who: Principal, kind: str, write: Callable[[dict[str, Any], str], str]
    ) -> Response:
        form = await form_of(request)
        actor = who.actor(Permission.FEEDBACK_RECORD).label
        try:
            target = await run_in_threadpool(write, form, actor)
        except SunshineError as exc:
            if not _mistake(exc):
                raise
            return await run_in_threadpool(
                page, request, who, http_status(exc), error=exc.message, failed=kind, values=form
            )
        return see_other(target)

    @router.post("/complaints", summary="登记投诉")
    async def file_complaint(request: Request, who: _Recorder) -> Response:
        def write(form: dict[str, Any], actor: str) -> str:
            if not str(form.get("content", "")).strip():
                raise ValidationError("请填写投诉内容", field="content")
            complaint = sup.file_complaint(
                target=str(form.get("target", "")),
                target_id=str(form.get("target_id", "")).strip(),
                complainant=str(form.get("complainant", "")).strip(),
                content=str(form.get("content", "")).strip(),
                channel=str(form.get("channel", "")) or "window",
                limit_days=_whole(form, "limit_days", "答复时限"),
                actor=actor,
            )
            return f"/hall/feedback#complaint-{complaint.complaint_id}"

        return await record(request, who, "complaint-new", write)

    @router.post("/ratings", summary="好差评")
    async def rate(request: Request, who: _Recorder) -> Response:
        def write(form: dict[str, Any], _actor: str) -> str:
            level = _whole(form, "level", "评价等级")
            if level is None:
                raise ValidationError("请选择评价等级", field="level")
            if not str(form.get("staff", "")).strip():
                raise ValidationError("请填写被评价的工作人员", field="staff")
            rating = sup.rate(
                case_no=str(form.get("case_no", "")).strip(),
                staff=str(form.get("staff", "")).strip(),
                level=level,
                comment=str(form.get("comment", "")).strip() or None,
                channel=str(form.get("channel", "")) or "window",
            )
            return f"/hall/feedback?rated={rating.rating_id}#rating-recorded"

        return await record(request, who, "rating-new", write)

    return router
