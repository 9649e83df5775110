"""Sunshine errors → HTTP: the one place that decides the status code and the JSON shape of every error.

Every error the API returns has the body ``{"error": {"code": …, "message": …, "details": {…}}}`` with a
Simplified-Chinese message. Status codes by error class (first match wins)::

    UnsupportedMediaType 415 (a body of a type the endpoint does not take)
    ValidationError  (incl. request-validation errors)   422
    RecordRejected   422 (a record its applier refuses: a quarantined record's replay)
    Unauthenticated  (no or a bad login, token or certificate)   401
    Forbidden        (outside the caller's division scope) 403
    SignatureInvalid 403
    RateLimited      429 (with ``Retry-After``: too many requests from one client, or for one case)
    LimitExceeded    413
    NotFound         (CaseNotFound, ItemNotFound, unknown action)  404
    Conflict         (InvalidTransition, ExtensionAlreadyUsed, …)  409
    StandardsNotLoaded 503 — the node has no catalogue yet (``sunshine county init`` not run): it cannot serve
                     cases until it has one, the request itself is fine
    StandardsError   409
    StorageError     503 (the database refused or is unreachable; retry later)
    anything else    500 (ConfigError, CalendarError, unexpected exceptions — never with a traceback)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from federation.errors import (
    Conflict,
    Forbidden,
    LimitExceeded,
    NotFound,
    RateLimited,
    RecordRejected,
    SignatureInvalid,
    StandardsError,
    StandardsNotLoaded,
    StorageError,
    SunshineError,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationError,
)
from federation.http_guard import RequestGuard

__all__ = [
    "INTERNAL_ERROR_MESSAGE",
    "STORAGE_ERROR_MESSAGE",
    "ErrorBody",
    "ErrorView",
    "error_headers",
    "error_view",
    "http_error_view",
    "http_status",
    "install_error_handlers",
    "validation_error",
]

_STATUS_BY_CLASS: tuple[tuple[type[SunshineError], int], ...] = (
    (UnsupportedMediaType, 415),
    (ValidationError, 422),
    (RecordRejected, 422),  # a record its applier refuses (a quarantined record's replay): the data, not the server
    (Unauthenticated, 401),
    (Forbidden, 403),
    (SignatureInvalid, 403),
    (RateLimited, 429),
    (LimitExceeded, 413),
    (NotFound, 404),
    (Conflict, 409),
    (StandardsNotLoaded, 503),
    (StandardsError, 409),
    (StorageError, 503),
)

INTERNAL_ERROR_MESSAGE = "服务器内部错误，请稍后重试；如持续出现请联系管理员（详情已记录日志）"


class ErrorBody(TypedDict):
    code: str
    message: str
    details: dict[str, Any]


class ErrorView(TypedDict):
    """The body of every error response."""

    error: ErrorBody


def http_status(exc: SunshineError) -> int:
    """The HTTP status of ``exc`` (first matching class of the table above)."""
    for cls, status in _STATUS_BY_CLASS:
        if isinstance(exc, cls):
            return status
    return 500


def error_headers(exc: SunshineError) -> dict[str, str] | None:
    """The headers an error response carries besides its body: how to log in (401), when to ask again (429)."""
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, Unauthenticated):
        return {"WWW-Authenticate": "Bearer"}
    return None


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return _jsonable(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


STORAGE_ERROR_MESSAGE = "数据库暂时无法访问，请稍后重试；如持续出现请联系节点管理员"


def error_view(exc: SunshineError) -> ErrorView:
    """The JSON body for a Sunshine error: its code, its Chinese message and its details. A storage error's own
    message carries the database driver's text (host, port, user, table names): an HTTP client gets a fixed
    message instead — the driver's text is in the node's log."""
    message = STORAGE_ERROR_MESSAGE if isinstance(exc, StorageError) else exc.message
    return {"error": {"code": exc.code, "message": message, "details": _jsonable(exc.details)}}


_HTTP_ERRORS: Mapping[int, tuple[str, str]] = {
    404: ("not_found", "未找到请求的地址，请检查接口路径（接口文档见 /docs）"),
    405: ("method_not_allowed", "该地址不支持此请求方法（接口文档见 /docs）"),
    500: ("internal", INTERNAL_ERROR_MESSAGE),
}


def http_error_view(status: int) -> ErrorView:
    """The JSON body for an error raised by the HTTP framework itself (unknown path, wrong method, …)."""
    code, message = _HTTP_ERRORS.get(status, ("http_error", f"请求无法处理（HTTP {status}）"))
    return {"error": {"code": code, "message": message, "details": {}}}


def install_error_handlers(app: Any, *, max_body: int | None = None) -> None:
    """Render every error of ``app`` (a FastAPI app: the county's, the inspectors', the orders') in the one shape
    above: Sunshine errors by class, request-validation errors as one Chinese ValidationError, Starlette's HTTP
    errors (unknown path, wrong method) and anything unexpected (500, logged, never a traceback). Installs
    :class:`federation.http_guard.RequestGuard` too: what no route can store (a NUL, a lone surrogate) is 422 and a
    body over 8 MiB (or ``max_body`` bytes) is 413 before any route runs."""
    import structlog
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.responses import Response

    log = structlog.get_logger(__name__)

    def respond(request: Request, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None) -> Response:
        # the web pages (issue 17), where the app has them: an error on a page is a page (federation.web)
        web = getattr(request.app.state, "web", None)
        if web is not None and web.owns(request.url.path):
            return web.error(request, status, body, headers or {})  # type: ignore[no-any-return]
        return JSONResponse(dict(body), status_code=status, headers=headers)

    def on_sunshine_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SunshineError)
        status = http_status(exc)
        if status >= 500:
            log.error("http.error", path=request.url.path, code=exc.code, status=status, error=str(exc))
        return respond(request, status, error_view(exc), error_headers(exc))

    def on_request_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        err = validation_error(exc.errors())
        return respond(request, http_status(err), error_view(err), None)

    def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return respond(request, exc.status_code, http_error_view(exc.status_code), exc.headers)

    def on_unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("http.unexpected_error", path=request.url.path, method=request.method)
        return respond(request, 500, http_error_view(500), None)

    def render(exc: SunshineError) -> tuple[int, Mapping[str, Any]]:
        return http_status(exc), error_view(exc)

    # before any route: NUL and lone surrogates anywhere (422), bodies over 8 MiB (413)
    app.add_middleware(RequestGuard, render=render, **({} if max_body is None else {"max_body": max_body}))
    app.add_exception_handler(SunshineError, on_sunshine_error)
    app.add_exception_handler(RequestValidationError, on_request_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected_error)


# -- Chinese messages for pydantic's errors ---------------------------------------------------------------------

_MESSAGES: Mapping[str, str] = {
    "missing": "缺少必填项",
    "string_type": "应为文字",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "decimal_type": "应为金额",
    "decimal_parsing": "应为有效金额",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "dict_type": "应为“字段名: 值”形式的对象",
    "model_type": "应为 JSON 对象",
    "model_attributes_type": "应为 JSON 对象",
    "list_type": "应为列表",
    "json_invalid": "不是有效的 JSON",
    "json_type": "不是有效的 JSON",
    "extra_forbidden": "不接受此参数",
    "too_short": "内容过短",
    "too_long": "内容过长",
    "string_too_long": "文字过长",
}
_BOUNDS: Mapping[str, str] = {
    "greater_than": "大于",
    "greater_than_equal": "不小于",
    "less_than": "小于",
    "less_than_equal": "不大于",
}
_WHERE: Mapping[str, str] = {"body": "请求体", "query": "查询参数", "path": "路径参数", "header": "请求头"}


def _message(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind in {"literal_error", "enum"}:
        expected = str(ctx.get("expected", "")).replace(" or ", " 或 ")
        return f"取值无效，应为 {expected}"
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()), "")
        return f"应{_BOUNDS[kind]} {bound}"
    return _MESSAGES.get(kind, "取值无效")


def _field(loc: Iterable[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in _WHERE:
        where, rest = _WHERE[parts[0]], parts[1:]
        if _is_offset(rest):
            return where
        return f"{where} {'.'.join(rest)}" if rest else where
    return ".".join(parts) or "请求"


def _is_offset(rest: list[str]) -> bool:
    """A JSON decode error is located by a character offset (``("body", 12)``), not by a field name."""
    return len(rest) == 1 and rest[0].isdigit()


def validation_error(errors: Iterable[Mapping[str, Any]], *, summary: str = "请求参数不正确") -> ValidationError:
    """One Chinese :class:`ValidationError` for a list of pydantic (or FastAPI request) validation errors."""
    items = [
        {"field": _field(e.get("loc", ())), "type": str(e.get("type", "")), "message": _message(e)} for e in errors
    ]
    text = "；".join(f"{i['field']}：{i['message']}" for i in items)
    return ValidationError(f"{summary}：{text}" if text else summary, errors=items)
