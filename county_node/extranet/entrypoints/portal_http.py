"""The public portal (网上办事) of an extranet node: a JSON API under ``/api/v1/public`` and Chinese pages.

No login: the public is anonymous. What keeps it honest is :class:`~county_node.extranet.entrypoints.guard.PortalGuard`
(client rate limit, body size, JSON-only API, form-only pages, security headers), the per-route limits below
(applications and complaints per client per hour, taken atomically; failed query-code checks per case or submission
number and client, and per number from anyone, per minute — see :class:`~county_node.extranet.domain.PortalLimits`),
the bound on concurrent query-code checks (:class:`~county_node.extranet.services.CodeChecks`, 429 "系统繁忙" when
busy) and, on the pages, a CSRF token: a GET of a form sets a random token in a ``SameSite=Strict`` cookie and in a
hidden field, and a POST whose field does not match its cookie — or whose ``Origin`` is another site — is refused
(403).

========  ======================================  ================================================================
GET       /api/v1/public/health                   the node and its clock
GET       /api/v1/public/catalogue                the items one may apply for online
POST      /api/v1/public/submissions              网上申报 — 201, the 申报编号 and the 查询码 (shown only here)
POST      /api/v1/public/status                   a case's or a submission's status (number + query code)
POST      /api/v1/public/complaints               投诉 — 201 and its reference
POST      /api/v1/public/ratings                  好差评 of a concluded case (once) — 201
GET       /api/v1/public/disclosures              办件公示, paged, newest concluded first, ?department=
GET       /  /apply/{item}  /status  /complaint  /rate  /disclosures    the pages (forms POST to their own address)
========  ======================================  ================================================================
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from county_node.extranet.bootstrap import ExtranetNode
from county_node.extranet.domain import PortalLimits
from county_node.extranet.entrypoints import pages
from county_node.extranet.entrypoints.client import ClientResolver
from county_node.extranet.entrypoints.guard import PortalGuard, render_page_error
from county_node.extranet.entrypoints.views import (
    catalogue_view,
    disclosure_page_view,
    receipt_view,
    status_view,
)
from federation.errors import Forbidden, SunshineError, UnsupportedMediaType
from federation.http_errors import install_error_handlers
from federation.http_guard import check_text_value
from federation.http_params import PageQuery, PageSizeQuery

__all__ = ["API_PREFIX", "CSRF_COOKIE", "create_portal_app"]

log = structlog.get_logger(__name__)

API_PREFIX = "/api/v1/public"
CSRF_COOKIE = "portal_csrf"
CSRF_FIELD = "csrf_token"
T = TypeVar("T")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmissionBody(_Body):
    """网上申报。key data: every key field of the item (see the catalogue's ``key_fields``)."""

    item_code: str = Field(description="事项编码")
    applicant: str = Field(description="申请人（个人姓名或单位名称）")
    applicant_id: str = Field("", description="身份证号或统一社会信用代码（选填）")
    phone: str = Field(description="11 位手机号码")
    materials: list[str] = Field(default_factory=list, description="申请材料名称")
    data: dict[str, str] = Field(default_factory=dict, description="事项的关键信息（名称: 内容）")
    note: str = Field("", description="备注")
    sms_opt_out: bool = Field(False, description="不接收短信通知")


class StatusBody(_Body):
    number: str = Field(description="办件编号或申报编号")
    query_code: str = Field(description="查询码")


class ComplaintBody(_Body):
    case_no: str = Field("", description="办件编号（涉及具体办件时）")
    complainant: str = Field(description="投诉人")
    phone: str = Field(description="11 位手机号码")
    content: str = Field(description="投诉内容（至多 2000 字）")


class RatingBody(_Body):
    case_no: str = Field(description="办件编号")
    query_code: str = Field(description="查询码")
    level: int = Field(description="5 非常满意 … 1 非常不满意")
    comment: str = Field("", description="意见与建议（至多 500 字）")


def _client(request: Request) -> str:
    return str(request.state.client)


def _lookup_key(number: Any) -> str:
    return str(number).strip().upper()[:40] if isinstance(number, str) else ""


def create_portal_app(node: ExtranetNode, *, limits: PortalLimits | None = None) -> FastAPI:
    """The FastAPI application of the extranet portal of ``node`` (the caller owns and closes ``node``)."""
    county = node.county
    limits = limits or node.limits()
    app = FastAPI(
        title=f"政务服务网上办事接口（{county}）",
        description="网上申报、办件查询、投诉、好差评与办件公示（公众，无需登录）。时间均为北京时间。",
        version="1.0.0",
        openapi_url="/api/v1/public/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app, max_body=node.config.extranet.max_body_bytes)

    def page_of_error(exc: SunshineError) -> str:
        return pages.error_page("请求未能完成", exc.message, county=county)

    app.add_middleware(
        PortalGuard,
        limits=limits,
        resolver=ClientResolver(node.config.extranet.trusted_proxies),
        client_key=node.client_key,
        max_body=node.config.extranet.max_body_bytes,
        page=page_of_error,
    )
    app.include_router(_api_router(node, limits))
    pages_of = _Pages(node, limits, page_of_error)
    app.include_router(_page_router(pages_of))
    app.include_router(_feedback_router(pages_of))
    return app


# -- the JSON API -------------------------------------------------------------------------------------------------


def _api_router(node: ExtranetNode, limits: PortalLimits) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["网上办事"])
    portal = node.portal

    @router.get("/health", summary="健康检查")
    def health() -> dict[str, Any]:
        return {"status": "ok", "node": node.config.node.division, "now": portal.now().isoformat()}

    @router.get("/catalogue", summary="可网上申报的事项")
    def catalogue() -> dict[str, Any]:
        return catalogue_view(portal.catalogue())

    @router.post("/submissions", summary="网上申报", status_code=201)
    def submit(body: SubmissionBody, request: Request) -> dict[str, Any]:
        """提交申报；返回申报编号与查询码（查询码只在此返回一次，请妥善保存）。"""
        client = _client(request)
        with limits.submission(client):
            receipt = portal.submit(**body.model_dump(), client=client)
        return receipt_view(receipt)

    @router.post("/status", summary="办件或申报进度查询")
    def status(body: StatusBody, request: Request) -> dict[str, Any]:
        """凭办件编号（或申报编号）与查询码查询进度；编号不存在与查询码错误的回答相同。"""
        with limits.lookup(_lookup_key(body.number), _client(request)):
            answer = portal.status(number=body.number, query_code=body.query_code)
        return status_view(answer)

    @router.post("/complaints", summary="网上投诉", status_code=201)
    def complain(body: ComplaintBody, request: Request) -> dict[str, Any]:
        client = _client(request)
        with limits.submission(client):
            receipt = portal.complain(**body.model_dump(), client=client)
        return receipt_view(receipt)

    @router.post("/ratings", summary="好差评（办结后一次）", status_code=201)
    def rate(body: RatingBody, request: Request) -> dict[str, Any]:
        client = _client(request)
        with limits.lookup(_lookup_key(body.case_no), client):
            receipt = portal.rate(**body.model_dump(), client=client)
        return receipt_view(receipt)

    @router.get("/disclosures", summary="办件公示")
    def disclosures(
        page: PageQuery = 1,
        page_size: PageSizeQuery = 20,
        department: Annotated[str | None, Query(max_length=100, description="实施部门")] = None,
    ) -> dict[str, Any]:
        return disclosure_page_view(portal.disclosures(page=page, page_size=page_size, department=department))

    return router


# -- the pages ----------------------------------------------------------------------------------------------------


def _html(text: str, status: int = 200, *, csrf: str | None = None, request: Request | None = None) -> HTMLResponse:
    response = HTMLResponse(text, status_code=status)
    if csrf is not None and request is not None and request.cookies.get(CSRF_COOKIE) != csrf:
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response


def _csrf_token(request: Request) -> str:
    held = request.cookies.get(CSRF_COOKIE, "")
    return held if 20 <= len(held) <= 64 and held.isascii() else secrets.token_urlsafe(24)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


def _check_csrf(request: Request, form: Mapping[str, Any]) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD, "")
    if not (
        isinstance(sent, str) and cookie and hmac.compare_digest(sent.encode(), cookie.encode())
    ) or not _same_origin(request):
        raise Forbidden("页面已过期或来源不明，请刷新页面后重新提交", reason="csrf")


def _form_text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _lines(text: str) -> list[str]:
    """A textarea's lines: split at line breaks only (``str.splitlines`` would also split at, and so hide, the
    control characters U+001C–U+001E and U+0085 the form checks refuse)."""
    return re.split(r"\r\n|\r|\n", text)


class _Pages:
    """What every page route shares: the node's portal, the limits, and how a refusal is shown."""

    def __init__(self, node: ExtranetNode, limits: PortalLimits, page_of_error: Callable[[SunshineError], str]) -> None:
        self.portal = node.portal
        self.county = node.county
        self.limits = limits
        self.page_of_error = page_of_error

    def refused(self, exc: SunshineError) -> HTMLResponse:
        status, headers, _, body = render_page_error(exc, self.page_of_error)
        return HTMLResponse(body.decode("utf-8"), status_code=status, headers=headers)

    def again(self, text: str, exc: SunshineError, csrf: str, request: Request) -> HTMLResponse:
        """The form once more, with the refusal's message, status and headers (and a CSRF cookie if it had none)."""
        status, headers, _, _ = render_page_error(exc, self.page_of_error)
        response = _html(text, status, csrf=csrf, request=request)
        response.headers.update(headers)
        return response

    @staticmethod
    async def posted(request: Request) -> dict[str, str]:
        """The form's fields, once its CSRF token matched its cookie (else Forbidden). The guard let only an
        url-encoded body in (415 otherwise); each field gets the JSON body's text checks (no NUL, no lone surrogate)
        once more here, as :class:`federation.http_guard.RequestGuard` gave them to the raw body."""
        form = await request.form()
        fields: dict[str, str] = {}
        for key, value in form.multi_items():
            if not isinstance(value, str):  # an uploaded file: no page takes one
                raise UnsupportedMediaType("不支持的提交格式：网页表单不接受上传文件", field=key[:32])
            check_text_value(key, "表单")
            check_text_value(value, "表单")
            fields[key] = value
        _check_csrf(request, fields)
        return fields

    @staticmethod
    async def call(fn: Callable[[], T]) -> T:
        """A service call (database, scrypt) off the event loop."""
        return await run_in_threadpool(fn)


def _page_router(p: _Pages) -> APIRouter:
    """The home page, the application form, 办件公示 and the stylesheet."""
    router = APIRouter(include_in_schema=False)
    portal, county, limits = p.portal, p.county, p.limits
    refused, again, posted, call = p.refused, p.again, p.posted, p.call

    @router.get("/static/portal.css")
    def stylesheet() -> Response:
        return Response(pages.STYLESHEET, media_type="text/css; charset=utf-8")

    @router.get("/", response_class=HTMLResponse)
    def home() -> HTMLResponse:
        return _html(pages.home_page(portal.catalogue(), county=county))

    @router.get("/apply/{item_code}", response_class=HTMLResponse)
    def apply_form(item_code: str, request: Request) -> HTMLResponse:
        try:
            item = portal.item(item_code)
        except SunshineError as exc:
            return refused(exc)
        csrf = _csrf_token(request)
        return _html(pages.apply_page(item, csrf=csrf, county=county), csrf=csrf, request=request)

    @router.post("/apply/{item_code}", response_class=HTMLResponse)
    async def apply(item_code: str, request: Request) -> HTMLResponse:
        csrf = _csrf_token(request)
        try:
            item = await call(lambda: portal.item(item_code))
        except SunshineError as exc:
            return refused(exc)
        values: dict[str, str] = {}
        try:
            values = await posted(request)
            client = _client(request)
            data = {name: _form_text(values, f"kf{n}") for n, name in enumerate(item.key_fields)}
            with limits.submission(client):
                receipt = await call(
                    lambda: portal.submit(
                        item_code=item.code,
                        applicant=_form_text(values, "applicant"),
                        applicant_id=_form_text(values, "applicant_id"),
                        phone=_form_text(values, "phone"),
                        materials=_lines(_form_text(values, "materials")),
                        data=data,
                        note=_form_text(values, "note"),
                        sms_opt_out=bool(values.get("sms_opt_out")),
                        client=client,
                    )
                )
        except SunshineError as exc:
            text = pages.apply_page(item, csrf=csrf, county=county, values=values, error=exc.message)
            return again(text, exc, csrf, request)
        return _html(pages.submitted_page(receipt, county=county))

    @router.get("/disclosures", response_class=HTMLResponse)
    def disclosures(page: PageQuery = 1, department: Annotated[str, Query(max_length=100)] = "") -> HTMLResponse:
        found = portal.disclosures(page=page, page_size=20, department=department or None)
        text = pages.disclosure_page(found, departments=portal.departments(), department=department, county=county)
        return _html(text)

    return router


def _feedback_router(p: _Pages) -> APIRouter:
    """The status query, complaint and rating pages."""
    router = APIRouter(include_in_schema=False)
    portal, county, limits = p.portal, p.county, p.limits
    again, posted, call = p.again, p.posted, p.call

    @router.get("/status", response_class=HTMLResponse)
    def status_form(request: Request) -> HTMLResponse:
        csrf = _csrf_token(request)
        return _html(pages.status_page(csrf=csrf, county=county), csrf=csrf, request=request)

    @router.post("/status", response_class=HTMLResponse)
    async def status(request: Request) -> HTMLResponse:
        csrf = _csrf_token(request)
        number = ""
        try:
            values = await posted(request)
            number = _form_text(values, "number")
            with limits.lookup(_lookup_key(number), _client(request)):
                answer = await call(lambda: portal.status(number=number, query_code=_form_text(values, "query_code")))
        except SunshineError as exc:
            text = pages.status_page(csrf=csrf, county=county, number=number, error=exc.message)
            return again(text, exc, csrf, request)
        return _html(pages.status_page(csrf=csrf, county=county, number=number, answer=answer))

    @router.get("/complaint", response_class=HTMLResponse)
    def complaint_form(request: Request) -> HTMLResponse:
        csrf = _csrf_token(request)
        return _html(pages.complaint_page(csrf=csrf, county=county), csrf=csrf, request=request)

    @router.post("/complaint", response_class=HTMLResponse)
    async def complaint(request: Request) -> HTMLResponse:
        csrf = _csrf_token(request)
        values: dict[str, str] = {}
        try:
            values = await posted(request)
            client = _client(request)
            with limits.submission(client):
                receipt = await call(
                    lambda: portal.complain(
                        case_no=_form_text(values, "case_no"),
                        complainant=_form_text(values, "complainant"),
                        phone=_form_text(values, "phone"),
                        content=_form_text(values, "content"),
                        client=client,
                    )
                )
        except SunshineError as exc:
            text = pages.complaint_page(csrf=csrf, county=county, values=values, error=exc.message)
            return again(text, exc, csrf, request)
        return _html(pages.complaint_done_page(receipt, county=county))

    @router.get("/rate", response_class=HTMLResponse)
    def rating_form(request: Request) -> HTMLResponse:
        csrf = _csrf_token(request)
        return _html(pages.rating_page(csrf=csrf, county=county), csrf=csrf, request=request)

    @router.post("/rate", response_class=HTMLResponse)
    async def rate(request: Request) -> HTMLResponse:
        csrf = _csrf_token(request)
        values: dict[str, str] = {}
        try:
            values = await posted(request)
            client = _client(request)
            with limits.lookup(_lookup_key(_form_text(values, "case_no")), client):
                receipt = await call(
                    lambda: portal.rate(
                        case_no=_form_text(values, "case_no"),
                        query_code=_form_text(values, "query_code"),
                        level=_form_text(values, "level"),
                        comment=_form_text(values, "comment"),
                        client=client,
                    )
                )
        except SunshineError as exc:
            text = pages.rating_page(csrf=csrf, county=county, values=values, error=exc.message)
            return again(text, exc, csrf, request)
        return _html(pages.rating_done_page(receipt, county=county))

    return router
