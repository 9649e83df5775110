"""The hall's 投诉与评价 page: complaints to answer and close (答复, 办结) and negative ratings to follow up (差评回访).
See :mod:`county_node.entrypoints.hall_pages`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from county_node.bootstrap import CountyNode
from county_node.entrypoints.feedback_schemas import complaint_view, rating_view
from county_node.entrypoints.hall_common import form_error, form_of, see_other, web_of
from federation.errors import SunshineError
from federation.http_errors import http_status
from security.access import Permission, Principal
from security.http import Who

__all__ = ["feedback_router"]

PAGE_SIZE = 20
_Reader = Annotated[Principal, Who(Permission.FEEDBACK_READ)]
_Handler = Annotated[Principal, Who(Permission.FEEDBACK_HANDLE)]


def feedback_router(node: CountyNode) -> APIRouter:
    router = APIRouter()
    sup = node.supervision

    def page(request: Request, who: Principal, status: int = 200, **extra: Any) -> Response:
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
            **({"error": "", "failed": "", "values": {}} | extra),
        )

    @router.get("/feedback", summary="投诉与评价")
    def feedback(request: Request, who: _Reader) -> Response:
        return page(request, who)

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
                page, request, who, http_status(exc), error=str(exc), failed=record_id, values=form
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

    return router
