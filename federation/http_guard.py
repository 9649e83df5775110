"""A pure ASGI middleware refusing requests no route can store or answer, before any route runs.

Installed on every Sunshine HTTP app by :func:`federation.http_errors.install_error_handlers`:

* a request body over :data:`MAX_BODY` bytes is refused with 413 — counted while it streams in, a
  ``Content-Length`` over the limit is refused before reading;
* a NUL character (U+0000) anywhere in the request — the path, the query (``%00``), the raw body, a form field
  (``%00``), a JSON string or key (``\\u0000``) — is refused with 422: PostgreSQL cannot store it in text and
  nobody types it;
* text that is not valid UTF-8 once percent-decoded (path, query, form), and a lone surrogate in a JSON string
  (``"\\ud800"``, which no UTF-8 encoder can write back), are refused with 422;
* JSON nested too deep for the parser, or with an integer of thousands of digits, is refused with 422.

Multipart and ``application/octet-stream`` bodies are only counted (a file may hold any byte). The body is read
once here and replayed to the app; nothing downstream changes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from federation.errors import LimitExceeded, SunshineError, ValidationError

__all__ = ["MAX_BODY", "Render", "RequestGuard", "check_body", "check_request_text", "check_text_value"]

MAX_BODY = 8 * 1024 * 1024
"""The largest request body accepted (8 MiB): the largest batch of segments or events is far smaller."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BINARY_TYPES = ("multipart/form-data", "application/octet-stream")


class _BodyTooLarge(Exception):
    pass


def _size(n: int) -> str:
    """A byte count as people read it: 8 MiB, 64 KiB, 500 字节."""
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n >= 1024:
        return f"{n // 1024} KiB"
    return f"{n} 字节"


def _nul(where: str) -> ValidationError:
    return ValidationError(f"{where}含有空字符（\\u0000），请删除后重试", where=where)


def _bad_encoding(where: str) -> ValidationError:
    return ValidationError(f"{where}含有无效的 UTF-8 编码或孤立的代理字符，请使用正确的 UTF-8 文字", where=where)


def check_text_value(text: str, where: str) -> None:
    """Refuse a NUL or a lone surrogate in ``text`` (:class:`ValidationError` naming ``where``)."""
    if "\x00" in text:
        raise _nul(where)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _bad_encoding(where) from None


def _check_percent_encoded(raw: bytes, where: str, *, plus_is_space: bool) -> None:
    if plus_is_space:
        raw = raw.replace(b"+", b" ")
    decoded = unquote_to_bytes(raw)
    if b"\x00" in decoded:
        raise _nul(where)
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_encoding(where) from None


def _check_json(body: bytes) -> None:
    try:
        value = json.loads(body)
    except RecursionError:
        raise ValidationError("请求体 JSON 嵌套层数过多", where="请求体") from None
    except UnicodeDecodeError:
        raise _bad_encoding("请求体") from None
    except json.JSONDecodeError:
        return  # not JSON: the route reports it in its own words
    except ValueError:  # an integer of more digits than Python converts (a 400 from the framework otherwise)
        raise ValidationError("请求体中的数字位数过多", where="请求体") from None
    stack = [value]
    while stack:  # iterative: a deep document must not exhaust the recursion limit here
        item = stack.pop()
        if isinstance(item, str):
            check_text_value(item, "请求体")
        elif isinstance(item, dict):
            for key, sub in item.items():
                check_text_value(key, "请求体")
                stack.append(sub)
        elif isinstance(item, list):
            stack.extend(item)


def _media_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return str(value.decode("latin-1").split(";", 1)[0].strip().lower())
    return ""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def check_request_text(scope: Scope) -> None:
    """The path and the query of an HTTP request: no NUL, valid UTF-8, no lone surrogate."""
    raw_path = scope.get("raw_path")
    if raw_path is not None:
        _check_percent_encoded(bytes(raw_path), "请求路径", plus_is_space=False)
    check_text_value(str(scope.get("path", "")), "请求路径")
    _check_percent_encoded(bytes(scope.get("query_string", b"")), "查询参数", plus_is_space=True)


def check_body(body: bytes, media_type: str) -> None:
    """A request body already read whole (binary types are not looked into)."""
    if not body or media_type in _BINARY_TYPES:
        return
    if b"\x00" in body:
        raise _nul("请求体")
    if media_type == "application/x-www-form-urlencoded":
        _check_percent_encoded(body, "表单", plus_is_space=True)
    else:  # JSON, or no type (FastAPI then reads JSON too)
        _check_json(body)


Render = Callable[[SunshineError], tuple[int, Mapping[str, Any]]]
"""How an error becomes a response: its status and its JSON body (:mod:`federation.http_errors` gives it)."""


class RequestGuard:
    """Pure ASGI middleware: see the module docstring. ``max_body`` bytes at most in a body; ``render`` turns the
    refusal into the status and body every Sunshine error has."""

    def __init__(self, app: ASGIApp, *, render: Render, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.render = render
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_request_text(scope)
            declared = _content_length(scope)
            if declared is not None and declared > self.max_body:
                raise _BodyTooLarge
            body, more = await self._read(receive)
            check_body(body, _media_type(scope))
        except _BodyTooLarge:
            err: SunshineError = LimitExceeded(
                f"请求体过大：至多 {_size(self.max_body)}，请分批提交", max_bytes=self.max_body
            )
            await self._reply(send, err, close=True)
            return
        except SunshineError as exc:
            await self._reply(send, exc, close=False)
            return
        if more is None:
            return  # the client left mid-body: nobody is waiting for an answer

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> tuple[bytes, bool | None]:
        """The whole body (counted as it comes); the second item is None when the client left mid-body."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), None  # disconnected: let the app see it as it would
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > self.max_body:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    async def _reply(self, send: Send, exc: SunshineError, *, close: bool) -> None:
        status, view = self.render(exc)
        payload = json.dumps(view, ensure_ascii=False).encode("utf-8")
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode("ascii"))]
        if close:  # the rest of the body is not read: the connection cannot carry another request
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
