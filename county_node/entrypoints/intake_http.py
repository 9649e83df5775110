"""The online-application routes (网上受理) of the county HTTP API, built by :func:`intake_router` around a node.

Included by :func:`county_node.entrypoints.http.create_app` under ``/api/v1``, only on a county with an extranet
node (``[extranet] link``); errors are rendered there (:mod:`federation.http_errors`).

========  ==============================  =========================================================
GET       /intake                         online applications (default: pending), oldest first, paged
GET       /intake/{submission_id}         one application (phone masked)
POST      /intake/{submission_id}/accept  受理 — the case is submitted and accepted in one transaction;
                                          201 with the case detail and the query code (shown once)
POST      /intake/{submission_id}/refuse  不予受理 — with the reason the applicant reads on the portal
========  ==============================  =========================================================

Reading needs ``case.read``; accepting and refusing ``case.intake``, and the actor is the logged-in person.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from county_node.bootstrap import CountyNode
from county_node.entrypoints.intake_views import (
    AcceptedView,
    SubmissionPageView,
    SubmissionView,
    accepted_view,
    submission_page_view,
    submission_view,
)
from county_node.entrypoints.views import case_detail_view
from county_node.public.services import IntakeDesk
from federation.http_errors import ErrorView
from federation.http_params import PageQuery, PageSizeQuery
from security.access import Permission, Principal
from security.http import Who

__all__ = ["AcceptSubmissionBody", "RefuseSubmissionBody", "intake_router"]

_TAG = "网上受理"
_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorView, "description": "网上申报不存在"},
    409: {"model": ErrorView, "description": "网上申报已受理或已不予受理"},
}
_ID = Annotated[str, Path(description="申报编号，例如 371122-W20261207-7K3M9Q", max_length=32)]


class AcceptSubmissionBody(BaseModel):
    """受理网上申报：登记并受理办件（同一事务）；经办人为当前登录账号。"""

    model_config = ConfigDict(extra="forbid")

    window: str | None = Field(default=None, description="受理窗口编号（可省略）", examples=["W01"], max_length=16)


class RefuseSubmissionBody(BaseModel):
    """不予受理网上申报：理由经外网告知申请人。"""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="不予受理的理由", examples=["材料不全：缺少营业执照副本"], max_length=1000)


def intake_router(node: CountyNode, desk: IntakeDesk, *, prefix: str) -> APIRouter:
    """The online-application routes of ``node`` under ``prefix`` (``/api/v1``)."""
    router = APIRouter(prefix=prefix, responses=_RESPONSES, tags=[_TAG])

    @router.get("/intake", summary="网上申报列表", response_model=SubmissionPageView)
    def list_submissions(
        _: Annotated[Principal, Who(Permission.CASE_READ)],
        *,
        status: Annotated[
            Literal["pending", "accepted", "refused", "all"],
            Query(description="pending 待受理（默认）、accepted 已受理、refused 不予受理、all 全部"),
        ] = "pending",
        page: PageQuery = 1,
        page_size: PageSizeQuery = 20,
    ) -> SubmissionPageView:
        """外网提交的网上申报，最早提交的在前。"""
        found = desk.list(status=None if status == "all" else status, page=page, page_size=page_size)
        return submission_page_view(found)

    @router.get("/intake/{submission_id}", summary="网上申报详情", response_model=SubmissionView)
    def get_submission(submission_id: _ID, _: Annotated[Principal, Who(Permission.CASE_READ)]) -> SubmissionView:
        """一件网上申报：事项、申请人、材料与关键数据（手机号码脱敏）。"""
        return submission_view(desk.get(submission_id))

    @router.post("/intake/{submission_id}/accept", summary="受理网上申报", status_code=201, response_model=AcceptedView)
    def accept_submission(
        submission_id: _ID,
        body: AcceptSubmissionBody,
        response: Response,
        who: Annotated[Principal, Who(Permission.CASE_INTAKE)],
    ) -> AcceptedView:
        """登记并受理办件，发布受理结果与办件状态，短信告知申请人。query_code 为空：申请人用网上申报时的查询码。"""
        accepted = desk.accept(submission_id, actor=who.actor(Permission.CASE_INTAKE).label, window=body.window)
        case_no = accepted.case.case_no
        response.headers["Location"] = f"{prefix}/cases/{case_no}"
        detail = case_detail_view(node.approval.get(case_no))
        return accepted_view(detail, accepted.query_code, accepted.submission_id)

    @router.post("/intake/{submission_id}/refuse", summary="不予受理网上申报", response_model=SubmissionView)
    def refuse_submission(
        submission_id: _ID,
        body: RefuseSubmissionBody,
        who: Annotated[Principal, Who(Permission.CASE_INTAKE)],
    ) -> SubmissionView:
        """不予受理，理由发布至外网。"""
        actor = who.actor(Permission.CASE_INTAKE).label
        return submission_view(desk.refuse(submission_id, reason=body.reason, actor=actor))

    return router
