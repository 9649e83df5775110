"""The hall's pages (大厅, issue 17): intake, the clerk's queue, the case card, alerts, complaints and ratings,
orders received, notices.

Served by the county node under ``/hall``; every page declares its rule like an API route. Templates in
``county_node/entrypoints/templates/hall``. The pages call the node's services in-process, as the JSON API does:

========  ==========================================  ==============================  =========================
GET       /hall/intake[?item_code=]                   办件受理 (form)                 case.intake
POST      /hall/intake                                申请 → 303 to the case card     case.intake
GET       /hall/cases[?status=&light=&page=]          办件队列                        case.read
GET       /hall/cases/live                            the queue's live part (htmx)    case.read
GET       /hall/cases/{case_no}                       办件详情 (clocks, ledger, …)    case.read
POST      /hall/cases/{case_no}/act/{action}          one lifecycle action            the action's permission
GET       /hall/cases/{case_no}/notice/acceptance     受理通知书 (printable)           case.read
GET       /hall/cases/{case_no}/notice/correction     一次性告知书 (printable)         case.read
GET       /hall/alerts, /hall/alerts/{alert_id}       预警; POST …/{action}           alert.read; alert.handle
GET       /hall/alerts/live                           the alerts' live part (htmx)    alert.read
GET       /hall/feedback[?case_no=&rated=]            投诉与评价; POST answer/close…  feedback.read; …handle
POST      /hall/complaints, /hall/ratings             登记投诉, 好差评 → 303          feedback.record
GET       /hall/orders                                督办; POST receive / answer     order.read; order.answer
GET       /hall/cases/{case_no}/steps/{n}/clip        本步录像                        video.read
GET       /hall/alerts/{alert_id}/clip                预警录像                        video.read
GET       /hall/online[?status=&page=]                网上申报 (extranet only)        case.read
GET       /hall/online/{submission_id}                网上申报详情                    case.read
POST      /hall/online/{submission_id}/accept|refuse  受理 → 303 受理通知书; 不予受理  case.intake
========  ==========================================  ==============================  =========================
"""

from __future__ import annotations

from fastapi import APIRouter

from county_node.bootstrap import CountyNode
from county_node.entrypoints.hall_pages_cases import cases_router
from county_node.entrypoints.hall_pages_clips import clips_router
from county_node.entrypoints.hall_pages_feedback import feedback_router
from county_node.entrypoints.hall_pages_online import ONLINE_NAV, online_router
from county_node.entrypoints.hall_pages_supervision import supervision_pages_router
from federation.web import NavItem
from security.access import Permission

__all__ = ["HALL_NAV", "hall_nav", "hall_router"]

HALL_NAV: tuple[NavItem, ...] = (
    NavItem("办件受理", "/hall/intake", Permission.CASE_INTAKE.value),
    NavItem("办件队列", "/hall/cases", Permission.CASE_READ.value),
    NavItem("预警", "/hall/alerts", Permission.ALERT_READ.value),
    NavItem("投诉与评价", "/hall/feedback", Permission.FEEDBACK_READ.value),
    NavItem("督办", "/hall/orders", Permission.ORDER_READ.value),
)


def hall_nav(node: CountyNode) -> tuple[NavItem, ...]:
    """The hall's navigation on ``node``: 网上申报 after 办件队列 when the county has an extranet node (after the
    queue, so that a person's first page stays the intake form or the queue)."""
    if node.intake is None:
        return HALL_NAV
    return (*HALL_NAV[:2], ONLINE_NAV, *HALL_NAV[2:])


def hall_router(node: CountyNode) -> APIRouter:
    router = APIRouter(prefix="/hall", include_in_schema=False)
    router.include_router(cases_router(node))
    router.include_router(supervision_pages_router(node))
    router.include_router(feedback_router(node))
    router.include_router(online_router(node))
    router.include_router(clips_router(node))
    return router
