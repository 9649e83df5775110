"""The supervision routes (电子监察) of the county HTTP API, built by :func:`supervision_router` around a node.

Included by :func:`county_node.entrypoints.http.create_app` under the same prefix as the case API (``/api/v1``);
errors are rendered there, in one place (:mod:`federation.http_errors`). Endpoints are thin: they
call :class:`county_node.supervision.services.SupervisionService` and render the views of
:mod:`county_node.entrypoints.supervision_schemas`.

========  ======================================  ===================================================
GET       /alerts                                 filtered, paged alerts (light, rule, status, case, level)
GET       /alerts/{alert_id}                      one alert with its evidence, clock and history
POST      /alerts/{alert_id}/{action}             acknowledge | urge | supervise | close (签收/催办/督办/关闭)
GET       /cases/{case_no}/supervision            every rule's verdict now; the case's alerts, complaints, ratings
POST      /complaints                             投诉 — 201
GET       /complaints                             paged, by status and case
GET       /complaints/{complaint_id}              one complaint
POST      /complaints/{complaint_id}/answer       答复
POST      /complaints/{complaint_id}/close        办结
POST      /ratings                                好差评 — 201
GET       /ratings                                paged, by case, staff member, negative or not
GET       /ratings/{rating_id}                    one rating
POST      /ratings/{rating_id}/follow-up          差评回访
POST      /supervision/sweep                      one sweep now; its report
GET       /supervision/summary                    alerts by rule/light/status, complaints by status, ratings by level
========  ======================================  ===================================================

Every route needs a login (issue 15): alerts and the summary are read with ``alert.read`` and handled (and swept)
with ``alert.handle``; complaints and ratings are read with ``feedback.read``, registered with
``feedback.record`` and handled / followed up with ``feedback.handle``. The person recorded in an alert's or a
complaint's history is the logged-in person (姓名（岗位，账号）), never a request field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from county_node.bootstrap import CountyNode
from county_node.entrypoints.supervision_schemas import (
    ALERT_ACTION_DESCRIPTIONS,
    PERSON_ACTION_ORDER,
    AlertActionBody,
    AlertPageView,
    AlertView,
    AnswerComplaintBody,
    CaseSupervisionView,
    CloseComplaintBody,
    ComplaintPageView,
    ComplaintView,
    FileComplaintBody,
    FollowUpBody,
    RateBody,
    RatingPageView,
    RatingView,
    SupervisionSummaryView,
    SweepView,
    alert_page_view,
    alert_view,
    case_supervision_view,
    complaint_page_view,
    complaint_view,
    rating_page_view,
    rating_view,
    summary_view,
    sweep_view,
)
from county_node.supervision.adapters.store import AlertFilter
from county_node.supervision.domain.alerts import ACTION_LABELS, AlertAction
from federation.errors import NotFound
from federation.http_errors import ErrorView
from federation.http_params import PageQuery, PageSizeQuery
from security.access import Permission, Principal
from security.http import Who

__all__ = ["supervision_router"]

_ALERTS = "电子监察 · 预警"
_COMPLAINTS = "电子监察 · 投诉"
_RATINGS = "电子监察 · 好差评"
_SUPERVISION = "电子监察"

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorView, "description": "未登录或登录已失效"},
    403: {"model": ErrorView, "description": "当前账号的岗位或辖区无权执行此操作"},
    404: {"model": ErrorView, "description": "预警、投诉、评价、办件或操作不存在"},
    409: {"model": ErrorView, "description": "当前状态不允许该操作，或已评价过"},
}

# the rule of each route, next to it: who may read and handle alerts, complaints and ratings
_AlertReader = Annotated[Principal, Who(Permission.ALERT_READ)]
_AlertHandler = Annotated[Principal, Who(Permission.ALERT_HANDLE)]
_FeedbackReader = Annotated[Principal, Who(Permission.FEEDBACK_READ)]
_FeedbackRecorder = Annotated[Principal, Who(Permission.FEEDBACK_RECORD)]
_FeedbackHandler = Annotated[Principal, Who(Permission.FEEDBACK_HANDLE)]


def supervision_router(node: CountyNode, *, prefix: str) -> APIRouter:
    """The supervision routes of ``node`` under ``prefix`` (the case API's, ``/api/v1``)."""
    router = APIRouter(prefix=prefix, responses=_RESPONSES)
    sup = node.supervision

    # -- alerts -----------------------------------------------------------------------------------------------
    @router.get("/alerts", tags=[_ALERTS], summary="预警列表", response_model=AlertPageView)
    def list_alerts(
        _: _AlertReader,
        *,
        light: Annotated[str | None, Query(description="按灯色筛选：yellow 黄灯、red 红灯")] = None,
        rule_id: Annotated[str | None, Query(description="按监察规则筛选，例如 SUP-002")] = None,
        status: Annotated[
            str | None,
            Query(description="按状态筛选：open、acknowledged、urged、supervised、closed；active 为全部未关闭"),
        ] = None,
        case_no: Annotated[str | None, Query(description="按办件编号筛选")] = None,
        level: Annotated[int | None, Query(ge=0, le=2, description="按督办层级筛选：0 县级、1 市级、2 省级")] = None,
        page: PageQuery = 1,
        page_size: PageSizeQuery = 20,
    ) -> AlertPageView:
        """按条件筛选预警（最新触发的在前）。"""
        flt = AlertFilter(status=status, light=light, rule_id=rule_id, case_no=case_no, level=level)
        return alert_page_view(sup.list_alerts(flt, page=page, page_size=page_size))

    @router.get("/alerts/{alert_id}", tags=[_ALERTS], summary="预警详情", response_model=AlertView)
    def get_alert(alert_id: Annotated[str, Path(description="预警编号")], _: _AlertReader) -> AlertView:
        """预警的规则、证据、时钟读数、参数、当前状态与全部处理记录（谁、何时、为何）。"""
        return alert_view(sup.get_alert(alert_id))

    for action in PERSON_ACTION_ORDER:
        router.add_api_route(
            f"/alerts/{{alert_id}}/{action.value}",
            _alert_action_endpoint(node, action),
            methods=["POST"],
            tags=[_ALERTS],
            summary=f"{ACTION_LABELS[action]}预警（{action.value}）",
            description=ALERT_ACTION_DESCRIPTIONS[action],
            response_model=AlertView,
            operation_id=f"alert_{action.value}",
        )

    @router.post("/alerts/{alert_id}/{action}", include_in_schema=False)
    def unknown_alert_action(alert_id: str, action: str, _: _AlertHandler) -> None:
        known = "、".join(a.value for a in PERSON_ACTION_ORDER)
        if action in {a.value for a in AlertAction}:
            label = ACTION_LABELS[AlertAction(action)]
            raise NotFound(f"“{label}”由系统执行，不能手工操作；可用操作：{known}", action=action)
        raise NotFound(f"未知的预警操作“{action}”，可用操作：{known}", action=action)

    @router.get(
        "/cases/{case_no}/supervision", tags=[_SUPERVISION], summary="办件监察视图", response_model=CaseSupervisionView
    )
    def case_supervision(case_no: Annotated[str, Path(description="办件编号")], _: _AlertReader) -> CaseSupervisionView:
        """办件此刻的全部规则判定（规则编号、名称、是否触发、灯色、证据、时钟读数、细节），及其预警、投诉与评价。"""
        return case_supervision_view(sup.case_view(case_no))

    # -- complaints -------------------------------------------------------------------------------------------
    @router.post("/complaints", tags=[_COMPLAINTS], summary="登记投诉", status_code=201, response_model=ComplaintView)
    def file_complaint(body: FileComplaintBody, response: Response, who: _FeedbackRecorder) -> ComplaintView:
        """登记一件投诉（登记人为当前登录账号）；投诉办件时办件须存在。

        答复时限按工作日计算，超时未答复触发 SUP-101 红灯预警。"""
        row = sup.file_complaint(
            target=body.target,
            target_id=body.target_id,
            complainant=body.complainant,
            content=body.content,
            channel=body.channel,
            limit_days=body.limit_days,
            actor=who.actor(Permission.FEEDBACK_RECORD).label,
        )
        response.headers["Location"] = f"{prefix}/complaints/{row.complaint_id}"
        return complaint_view(row)

    @router.get("/complaints", tags=[_COMPLAINTS], summary="投诉列表", response_model=ComplaintPageView)
    def list_complaints(
        _: _FeedbackReader,
        *,
        status: Annotated[
            Literal["open", "answered", "closed"] | None,
            Query(description="按状态筛选：open 待答复、answered 已答复、closed 已办结"),
        ] = None,
        case_no: Annotated[str | None, Query(description="按办件编号筛选")] = None,
        page: PageQuery = 1,
        page_size: PageSizeQuery = 20,
    ) -> ComplaintPageView:
        """按条件筛选投诉（最新登记的在前）。"""
        found = sup.list_complaints(status=status, case_no=case_no, page=page, page_size=page_size)
        return complaint_page_view(found, page, page_size)

    @router.get("/complaints/{complaint_id}", tags=[_COMPLAINTS], summary="投诉详情", response_model=ComplaintView)
    def get_complaint(complaint_id: Annotated[str, Path(description="投诉编号")], _: _FeedbackReader) -> ComplaintView:
        """投诉的内容、答复时限、答复与处理记录。"""
        return complaint_view(sup.get_complaint(complaint_id))

    @router.post(
        "/complaints/{complaint_id}/answer", tags=[_COMPLAINTS], summary="答复投诉", response_model=ComplaintView
    )
    def answer_complaint(
        complaint_id: Annotated[str, Path(description="投诉编号")], body: AnswerComplaintBody, who: _FeedbackHandler
    ) -> ComplaintView:
        """答复一件待答复的投诉；在时限内答复的不触发预警，超时答复的预警保留。答复人为当前登录账号。"""
        actor = who.actor(Permission.FEEDBACK_HANDLE).label
        return complaint_view(sup.answer_complaint(complaint_id, answer=body.answer, actor=actor))

    @router.post(
        "/complaints/{complaint_id}/close", tags=[_COMPLAINTS], summary="办结投诉", response_model=ComplaintView
    )
    def close_complaint(
        complaint_id: Annotated[str, Path(description="投诉编号")], body: CloseComplaintBody, who: _FeedbackHandler
    ) -> ComplaintView:
        """办结一件已答复的投诉。办结人为当前登录账号。"""
        actor = who.actor(Permission.FEEDBACK_HANDLE).label
        return complaint_view(sup.close_complaint(complaint_id, actor=actor, reason=body.reason))

    # -- ratings ----------------------------------------------------------------------------------------------
    @router.post("/ratings", tags=[_RATINGS], summary="好差评", status_code=201, response_model=RatingView)
    def rate(body: RateBody, response: Response, _: _FeedbackRecorder) -> RatingView:
        """记录申请人对办件及经办工作人员的评价（1–5 级，每件每人一次）；差评（默认 2 级及以下）须在时限内回访。"""
        row = sup.rate(
            case_no=body.case_no, staff=body.staff, level=body.level, comment=body.comment, channel=body.channel
        )
        response.headers["Location"] = f"{prefix}/ratings/{row.rating_id}"
        return rating_view(row)

    @router.get("/ratings", tags=[_RATINGS], summary="评价列表", response_model=RatingPageView)
    def list_ratings(
        _: _FeedbackReader,
        *,
        case_no: Annotated[str | None, Query(description="按办件编号筛选")] = None,
        staff: Annotated[str | None, Query(description="按工作人员筛选")] = None,
        negative: Annotated[bool | None, Query(description="true 只看差评，false 只看非差评")] = None,
        page: PageQuery = 1,
        page_size: PageSizeQuery = 20,
    ) -> RatingPageView:
        """按条件筛选评价（最新的在前）。"""
        found = sup.list_ratings(case_no=case_no, staff=staff, negative=negative, page=page, page_size=page_size)
        return rating_page_view(found, page, page_size)

    @router.get("/ratings/{rating_id}", tags=[_RATINGS], summary="评价详情", response_model=RatingView)
    def get_rating(rating_id: Annotated[str, Path(description="评价编号")], _: _FeedbackReader) -> RatingView:
        """评价的等级、内容、回访时限与回访记录。"""
        return rating_view(sup.get_rating(rating_id))

    @router.post("/ratings/{rating_id}/follow-up", tags=[_RATINGS], summary="差评回访", response_model=RatingView)
    def follow_up(
        rating_id: Annotated[str, Path(description="评价编号")], body: FollowUpBody, who: _FeedbackHandler
    ) -> RatingView:
        """记录对一条待回访差评的回访情况。回访人为当前登录账号。"""
        actor = who.actor(Permission.FEEDBACK_HANDLE).label
        return rating_view(sup.follow_up(rating_id, note=body.note, actor=actor))

    # -- sweep and summary ------------------------------------------------------------------------------------
    @router.post("/supervision/sweep", tags=[_SUPERVISION], summary="立即巡检", response_model=SweepView)
    def sweep(_: _AlertHandler) -> SweepView:
        """按节点时钟的当前时间巡检一次：触发到点的黄灯、红灯与超时预警，升级超时未签收的预警。可重复执行。"""
        return sweep_view(sup.sweep())

    @router.get("/supervision/summary", tags=[_SUPERVISION], summary="监察汇总", response_model=SupervisionSummaryView)
    def summary(_: _AlertReader) -> SupervisionSummaryView:
        """预警按规则、灯色、状态统计；投诉按状态统计；评价按等级统计。"""
        return summary_view(sup.summary())

    return router


def _alert_action_endpoint(node: CountyNode, action: AlertAction) -> Callable[..., AlertView]:
    """The endpoint of one alert action (its own OpenAPI operation; the body is the same for all four)."""

    def endpoint(
        alert_id: Annotated[str, Path(description="预警编号")], body: AlertActionBody, who: _AlertHandler
    ) -> AlertView:
        actor = who.actor(Permission.ALERT_HANDLE).label
        return alert_view(node.supervision.act(alert_id, action, actor=actor, reason=body.reason))

    endpoint.__name__ = f"alert_{action.value}"
    return endpoint
