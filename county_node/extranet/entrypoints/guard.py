"""The portal's outer guard (pure ASGI), before any route: who asks, how often, how much, and the headers.

* the client address (:class:`~county_node.extranet.entrypoints.client.ClientResolver`; an IPv6 one as its /64)
  is put, as its keyed digest, in ``scope["state"]`` (``request.state.client``), the only form of it the routes
  see, count, log and store;
* every request counts against ``client_per_minute`` of its client: beyond it, 429 with ``Retry-After``;
* a ``Content-Length`` over ``max_body_bytes`` is refused with 413 before a byte of the body is read (a body
  streamed without one is counted by :class:`federation.http_guard.RequestGuard` further in);
* a POST to the JSON API must say ``application/json`` (no form posted from another site reaches it), a POST to a
  page ``application/x-www-form-urlencoded`` (415 otherwise: a multipart body would pass
  :class:`federation.http_guard.RequestGuard` unread, its fields unchecked for NUL and bad UTF-8);
* every response carries the security headers: a CSP of ``default-src 'self'`` (no script, no frame, forms to
  this site only), ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy: same-origin``
  and ``Cache-Control: no-store`` (a page showing a query code must not be kept by a shared browser or proxy).

A refusal is JSON under ``/api/`` (the one error shape of :mod:`federation.http_errors`) and a page elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from county_node.extranet.domain import PortalLimits
from county_node.extranet.entrypoints.client import ClientResolver, client_digest, client_network
from federation.errors import LimitExceeded, SunshineError, UnsupportedMediaType, ValidationError
from federation.http_errors import error_headers, error_view, http_status

__all__ = ["FORM_TYPE", "SECURITY_HEADERS", "PortalGuard", "render_page_error"]

FORM_TYPE = "application/x-www-form-urlencoded"
"""The one body type the pages take (their forms have no ``enctype``, no file field)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),  # "no-referrer" makes a browser send "Origin: null" on a form post
    (b"cache-control", b"no-store"),
)
_OWN = {name for name, _ in SECURITY_HEADERS}

PageRenderer = Callable[[SunshineError], str]


def _header(scope: Scope, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == name]


def render_page_error(exc: SunshineError, page: PageRenderer) -> tuple[int, dict[str, str], bytes, bytes]:
    """Status, extra headers, content type and body of a refused page request."""
    return http_status(exc), error_headers(exc) or {}, b"text/html; charset=utf-8", page(exc).encode("utf-8")


class PortalGuard:
    """See the module docstring. ``page(exc)`` renders a refusal as an HTML page (outside ``/api/``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: PortalLimits,
        resolver: ClientResolver,
        client_key: bytes,
        max_body: int,
        page: PageRenderer,
    ) -> None:
        self.app = app
        self.limits = limits
        self.resolver = resolver
        self.client_key = client_key
        self.max_body = max_body
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        peer = (scope.get("client") or ("unknown", 0))[0]
        address = self.resolver.resolve(str(peer), _header(scope, b"x-forwarded-for"))
        client = client_digest(self.client_key, client_network(address))
        scope.setdefault("state", {})["client"] = client
        scope["scheme"] = self.resolver.scheme(
            str(peer), str(scope.get("scheme", "http")), _header(scope, b"x-forwarded-proto")
        )

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k not in _OWN]
                message["headers"] = [*headers, *SECURITY_HEADERS]
            await send(message)

        try:
            self._check(scope, client)
        except SunshineError as exc:
            await self._refuse(scope, send_secured, exc)
            return
        await self.app(scope, receive, send_secured)

    def _check(self, scope: Scope, client: str) -> None:
        path = str(scope.get("path", ""))
        if path != "/static/portal.css":
            self.limits.request(client)
        for value in _header(scope, b"content-length"):
            if not value.isdigit() or int(value) > self.max_body:
                raise LimitExceeded(f"提交的内容过大：至多 {self.max_body // 1024} KiB", max_bytes=self.max_body)
        if scope.get("method") == "POST":
            kind = (_header(scope, b"content-type") or [""])[0].split(";", 1)[0].strip().lower()
            if path.startswith("/api/"):
                if kind != "application/json":
                    raise ValidationError("请求体须为 JSON（Content-Type: application/json）", field="content-type")
            elif kind != FORM_TYPE:
                raise UnsupportedMediaType(
                    "不支持的提交格式：网页表单只接受普通表单提交（application/x-www-form-urlencoded），请刷新页面后重新提交",
                    field="content-type",
                )

    async def _refuse(self, scope: Scope, send: Send, exc: SunshineError) -> None:
        if str(scope.get("path", "")).startswith("/api/"):
            status, extra = http_status(exc), error_headers(exc) or {}
            kind, body = b"application/json", json.dumps(error_view(exc), ensure_ascii=False).encode("utf-8")
        else:
            status, extra, kind, body = render_page_error(exc, self.page)
        headers = [
            (b"content-type", kind),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),  # the body, if any, is not read
            *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
