"""The hall's case pages: 办件受理 (intake), 办件队列 (the queue, live), 办件详情 (the case card and its action forms)
and the printable notices (受理通知书, 一次性告知书). See :mod:`county_node.entrypoints.hall_pages`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from county_node.approval.adapters.repository import CaseFilter
from county_node.approval.domain import ACTION_LABELS, PAUSED_STATUSES, RUNNING_STATUSES, STATUS_LABELS, Action, Status
from county_node.approval.services import CasePage
from county_node.bootstrap import CountyNode
from county_node.entrypoints.hall_common import form_error, form_of, see_other, web_of
from county_node.entrypoints.hall_forms import CHOICE_LABELS, DATA_PREFIX, action_forms, action_params
from county_node.entrypoints.hall_materials import MATERIALS_FIELD, materials_of, missing_materials
from county_node.entrypoints.permissions import action_permission
from county_node.entrypoints.schemas import ACTION_BODIES
from county_node.entrypoints.views import PAUSE_LABELS, case_detail_view, summary_view
from federation.clock import Light
from federation.errors import Conflict, SunshineError, ValidationError
from federation.http_errors import http_status
from federation.web.kit import LIGHT_LABELS
from security.access import Permission, Principal
from security.http import Who

__all__ = ["cases_router"]

PAGE_SIZE = 20
PAYLOAD_LABELS: dict[str, str] = {
    "reason": "理由",
    "note": "备注",
    "opinion": "意见",
    "outcome": "结果",
    "fee_charged": "实收费用（元）",
    "fee_standard": "收费标准（元）",
    "days": "延长工作日",
    "approver": "批准人",
    "department": "部门",
    "procedure": "特别程序类型",
    "window": "受理窗口",
    "applicant": "申请人",
}
"""The timeline's parameters shown on the card (others, e.g. counters, stay in the record)."""

_Reader = Annotated[Principal, Who(Permission.CASE_READ)]
_Intake = Annotated[Principal, Who(Permission.CASE_INTAKE)]


def _queue_values(page: CasePage, summary: dict[str, Any], status: str, light: str) -> dict[str, Any]:
    rows = []
    for case, clocks in page.items:
        lit = clocks is not None and case.status in RUNNING_STATUSES | PAUSED_STATUSES
        promised = None if clocks is None else clocks.promised
        rows.append(
            {
                "case_no": case.case_no,
                "item_name": case.item_name,
                "department": case.department,
                "applicant": case.applicant,
                "status": case.status.value,
                "status_label": STATUS_LABELS[case.status],
                "submitted_at": case.submitted_at,
                "light": promised.light.value if lit and promised is not None else None,
                "paused": lit and promised is not None and promised.deadline.paused,
                "remaining_days": promised.remaining_days if lit and promised is not None else None,
                "due_date": None if not lit or promised is None else promised.deadline.due_date,
            }
        )
    query = "&".join(f"{k}={v}" for k, v in (("status", status), ("light", light)) if v)
    return {
        "rows": rows,
        "total": page.total,
        "page": page.page,
        "has_next": page.page * page.page_size < page.total,
        "as_of": page.as_of,
        "summary": summary_view(summary),
        "status_filter": status,
        "light_filter": light,
        "query": query,
        "statuses": [(s.value, label) for s, label in STATUS_LABELS.items()],
        "lights": [(lt.value, LIGHT_LABELS[lt.value]) for lt in Light],
    }


def cases_router(node: CountyNode) -> APIRouter:
    router = APIRouter()
    approval = node.approval

    def queue(status: str, light: str, page: int) -> dict[str, Any]:
        if status and status not in {s.value for s in Status}:
            raise ValidationError(f"未知的办件状态“{status}”", field="status")
        if light and light not in {lt.value for lt in Light}:
            raise ValidationError(f"未知的灯色“{light}”", field="light")
        flt = CaseFilter(status=status or None, light=light or None)
        found = approval.list(flt, page=max(page, 1), page_size=PAGE_SIZE)
        return _queue_values(found, approval.summary(), status, light)

    # -- 办件受理 ---------------------------------------------------------------------------------------------
    def intake_page(request: Request, who: Principal, values: dict[str, Any], status: int = 200) -> Response:
        items = approval.catalogue()
        chosen = next((i for i in items if i.code == values.get("item_code")), None)
        return web_of(request).render(
            request,
            "hall/intake.html",
            who,
            status=status,
            items=items,
            item=chosen,
            materials=[] if chosen is None else materials_of(chosen),
            values=values,
            data_prefix=DATA_PREFIX,
            extranet=node.intake is not None,
        )

    @router.get("/intake", summary="办件受理")
    def intake_form(request: Request, who: _Intake, item_code: str = "") -> Response:
        return intake_page(request, who, {"item_code": item_code, "checked": []})

    @router.post("/intake", summary="办件受理：申请")
    async def intake(request: Request, who: _Intake) -> Response:
        form = await form_of(request)
        checked = [str(v) for v in (await request.form()).getlist("materials")]
        values: dict[str, Any] = {**form, "checked": checked}
        item_code = str(form.get("item_code", "")).strip()
        item = next((i for i in approval.catalogue() if i.code == item_code), None)
        try:
            if item is None:
                raise ValidationError("请从事项目录中选择要申请的事项", field="item_code")
            data = {k: str(form.get(DATA_PREFIX + k, "")).strip() for k in item.key_fields}
            data = {k: v for k, v in data.items() if v}
            materials = [m for m in materials_of(item) if m in checked]
            if materials:
                data[MATERIALS_FIELD] = "、".join(materials)
            window = str(form.get("window", "")).strip() or None
            phone = str(form.get("phone", "")).strip() or None
            actor = who.actor(Permission.CASE_INTAKE).label
            applicant = str(form.get("applicant", ""))
            if node.intake is not None:
                case = await run_in_threadpool(
                    node.intake.submit,
                    item_code=item.code,
                    applicant=applicant,
                    data=data,
                    actor=actor,
                    window=window,
                    phone=phone,
                    sms_opt_out=phone is None,
                )
            else:
                case = await run_in_threadpool(
                    approval.submit, item_code=item.code, applicant=applicant, data=data, actor=actor, window=window
                )
        except SunshineError as exc:
            if not form_error(exc):
                raise
            values["error"] = exc.message
            return await run_in_threadpool(intake_page, request, who, values, http_status(exc))
        return see_other(f"/hall/cases/{case.case_no}")

    # -- 办件队列 ---------------------------------------------------------------------------------------------
    @router.get("/cases", summary="办件队列")
    def case_queue(request: Request, who: _Reader, status: str = "", light: str = "", page: int = 1) -> Response:
        return web_of(request).render(request, "hall/queue.html", who, **queue(status, light, page))

    @router.get("/cases/live", summary="办件队列（实时刷新）")
    def case_queue_live(request: Request, who: _Reader, status: str = "", light: str = "", page: int = 1) -> Response:
        return web_of(request).render(request, "hall/_queue_live.html", who, **queue(status, light, page))

    # -- 办件详情 ---------------------------------------------------------------------------------------------
    def card(request: Request, who: Principal, case_no: str, status: int = 200, **extra: Any) -> Response:
        detail = approval.get(case_no)
        view = case_detail_view(detail)
        return web_of(request).render(
            request,
            "hall/case.html",
            who,
            status=status,
            detail=view,
            c=view["case"],
            clock=view["clock"],
            forms=action_forms(detail.case, who),
            payload_labels=PAYLOAD_LABELS,
            choice_labels=CHOICE_LABELS,
            pause_labels=PAUSE_LABELS,
            data_prefix=DATA_PREFIX,
            clips=who.has(Permission.VIDEO_READ),
            can_record=who.has(Permission.FEEDBACK_RECORD),
            in_correction=detail.case.status is Status.CORRECTION,
            **({"error": "", "failed": "", "values": {}} | extra),
        )

    @router.get("/cases/{case_no}", summary="办件详情")
    def case_card(request: Request, case_no: str, who: _Reader) -> Response:
        return card(request, who, case_no)

    for action in ACTION_BODIES:
        router.add_api_route(
            f"/cases/{{case_no}}/act/{action.value}",
            _action_endpoint(node, action, card),
            methods=["POST"],
            summary=f"办件操作：{ACTION_LABELS[action]}",
        )

    _notice_routes(router, node)
    return router


def _notice_routes(router: APIRouter, node: CountyNode) -> None:
    """The printable notices: 受理通知书 (an accepted case) and 一次性告知书 (a case in 补正)."""
    approval = node.approval

    @router.get("/cases/{case_no}/notice/acceptance", summary="受理通知书")
    def acceptance_notice(request: Request, case_no: str, who: _Reader) -> Response:
        view = case_detail_view(approval.get(case_no))
        if view["case"]["accepted_at"] is None or view["clock"] is None:
            raise Conflict("办件尚未受理，不能出具受理通知书", case_no=case_no)
        return web_of(request).render(
            request, "hall/notice_acceptance.html", who, c=view["case"], clock=view["clock"], as_of=view["as_of"]
        )

    @router.get("/cases/{case_no}/notice/correction", summary="一次性告知书")
    def correction_notice(request: Request, case_no: str, who: _Reader) -> Response:
        detail = approval.get(case_no)
        case = detail.case
        pause = case.open_pause
        if case.status is not Status.CORRECTION or pause is None:
            raise Conflict("办件不在补正中，没有需要一次性告知的补正材料", case_no=case_no)
        item = next((i for i in approval.catalogue() if i.code == case.item_code), None)
        missing = [] if item is None else missing_materials(item, case.data)
        view = case_detail_view(detail)
        return web_of(request).render(
            request,
            "hall/notice_correction.html",
            who,
            c=view["case"],
            reason=pause.reason,
            since=pause.started_at,
            missing=missing,
        )


def _action_endpoint(node: CountyNode, action: Action, card: Any) -> Any:
    """The page route of one action: its own rule (the action's permission), the form's fields as the action's
    parameters; a refused action shows the card again with the reason (nothing written)."""
    permission = action_permission(action)

    async def endpoint(request: Request, case_no: str, who: Principal) -> Response:
        form = await form_of(request)
        actor = who.actor(permission).label
        try:
            detail = await run_in_threadpool(node.approval.get, case_no)
            params = action_params(action, form, detail.case.key_fields)
            if action is Action.ACCEPT and node.intake is not None:
                accepted = await run_in_threadpool(node.intake.accept_case, case_no, actor=actor, params=params)
                code = accepted.query_code
                if code:  # shown once, on the 受理通知书 printed now
                    view = case_detail_view(await run_in_threadpool(node.approval.get, case_no))
                    return web_of(request).render(
                        request,
                        "hall/notice_acceptance.html",
                        who,
                        c=view["case"],
                        clock=view["clock"],
                        as_of=view["as_of"],
                        query_code=code,
                    )
            else:
                await run_in_threadpool(node.approval.act, case_no, action, actor=actor, params=params)
        except SunshineError as exc:
            if not form_error(exc):
                raise
            return await run_in_threadpool(
                card, request, who, case_no, http_status(exc), error=exc.message, failed=action.value, values=form
            )
        return see_other(f"/hall/cases/{case_no}#case-clocks")

    endpoint.__annotations__["who"] = Annotated[Principal, Who(permission)]  # the action's own rule
    endpoint.__name__ = f"hall_act_{action.value}"
    return endpoint
