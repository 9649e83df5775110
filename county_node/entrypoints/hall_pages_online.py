"""The hall's 网上申报 pages: online applications sent in by the county's extranet node, waiting for a clerk — the
list, one application (the applicant's phone masked, as the API shows it), 受理 (the case is submitted and accepted
in one transaction; then its 受理通知书) and 不予受理 (with the reason the applicant reads on the portal).

The same :class:`~county_node.public.services.IntakeDesk` calls as :mod:`county_node.entrypoints.intake_http`. The
routes exist on every county; without an extranet node the list says so (and the navigation has no entry, see
:func:`county_node.entrypoints.hall_pages.hall_nav`), and an application is not found. See
:mod:`county_node.entrypoints.hall_pages`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from county_node.bootstrap import CountyNode
from county_node.entrypoints.hall_common import form_error, form_of, see_other, web_of
from county_node.entrypoints.intake_views import submission_view
from county_node.public.domain import SUBMISSION_STATUS_LABELS, SubmissionStatus
from county_node.public.services import IntakeDesk
from federation.errors import SubmissionNotFound, SunshineError, ValidationError
from federation.http_errors import http_status
from federation.web import NavItem
from security.access import Permission, Principal
from security.http import Who

__all__ = ["ONLINE_NAV", "online_router"]

PAGE_SIZE = 20
ONLINE_NAV = NavItem("网上申报", "/hall/online", Permission.CASE_READ.value)
"""The navigation entry, on a county with an extranet node only."""

_Reader = Annotated[Principal, Who(Permission.CASE_READ)]
_Intake = Annotated[Principal, Who(Permission.CASE_INTAKE)]
_ID = Annotated[str, Path(max_length=32)]
_STATUSES: tuple[tuple[str, str], ...] = (
    *((s.value, label) for s, label in SUBMISSION_STATUS_LABELS.items()),
    ("all", "全部"),
)


def online_router(node: CountyNode) -> APIRouter:
    router = APIRouter()
    approval = node.approval

    def desk(submission_id: str) -> IntakeDesk:
        if node.intake is None:
            raise SubmissionNotFound(
                f"网上申报 {submission_id} 不存在（本县未配置外网节点）", submission_id=submission_id
            )
        return node.intake

    def item_names() -> dict[str, str]:
        return {i.code: i.name for i in approval.catalogue()}

    @router.get("/online", summary="网上申报")
    def online(request: Request, who: _Reader, status: str = "pending", page: int = 1) -> Response:
        if status not in {value for value, _ in _STATUSES}:
            raise ValidationError(f"未知的网上申报状态“{status}”", field="status")
        values: dict[str, Any] = {"rows": [], "total": 0, "page": 1, "has_next": False}
        if node.intake is not None:
            found = node.intake.list(status=None if status == "all" else status, page=max(page, 1), page_size=PAGE_SIZE)
            values = {
                "rows": [submission_view(s) for s in found.items],
                "total": found.total,
                "page": found.page,
                "has_next": found.page * found.page_size < found.total,
            }
        return web_of(request).render(
            request,
            "hall/online.html",
            who,
            extranet=node.intake is not None,
            status_filter=status,
            statuses=_STATUSES,
            items=item_names(),
            **values,
        )

    def detail_page(request: Request, who: Principal, submission_id: str, status: int = 200, **extra: Any) -> Response:
        sub = desk(submission_id).get(submission_id)
        return web_of(request).render(
            request,
            "hall/online_detail.html",
            who,
            status=status,
            s=submission_view(sub),
            item_name=item_names().get(sub.item_code, sub.item_code),
            pending=sub.status is SubmissionStatus.PENDING,
            can_decide=who.has(Permission.CASE_INTAKE),
            **({"error": "", "failed": "", "values": {}} | extra),
        )

    @router.get("/online/{submission_id}", summary="网上申报详情")
    def online_detail(request: Request, submission_id: _ID, who: _Reader) -> Response:
        return detail_page(request, who, submission_id)

    @router.post("/online/{submission_id}/accept", summary="受理网上申报")
    async def accept(request: Request, submission_id: _ID, who: _Intake) -> Response:
        form = await form_of(request)
        actor = who.actor(Permission.CASE_INTAKE).label
        window = str(form.get("window", "")).strip() or None
        try:
            accepted = await run_in_threadpool(desk(submission_id).accept, submission_id, actor=actor, window=window)
        except SunshineError as exc:
            if not form_error(exc):
                raise
            return await run_in_threadpool(
                detail_page,
                request,
                who,
                submission_id,
                http_status(exc),
                error=exc.message,
                failed="accept",
                values=form,
            )
        return see_other(f"/hall/cases/{accepted.case.case_no}/notice/acceptance")

    @router.post("/online/{submission_id}/refuse", summary="不予受理网上申报")
    async def refuse(request: Request, submission_id: _ID, who: _Intake) -> Response:
        form = await form_of(request)
        actor = who.actor(Permission.CASE_INTAKE).label
        reason = str(form.get("reason", ""))
        try:
            await run_in_threadpool(desk(submission_id).refuse, submission_id, reason=reason, actor=actor)
        except SunshineError as exc:
            if not form_error(exc):
                raise
            return await run_in_threadpool(
                detail_page,
                request,
                who,
                submission_id,
                http_status(exc),
                error=exc.message,
                failed="refuse",
                values=form,
            )
        return see_other(f"/hall/online/{submission_id}")

    return router
