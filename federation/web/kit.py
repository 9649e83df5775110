"""The kit behind every page: :class:`WebPages` (templates, filters, static files, headers, errors) and the CSRF
token. See :mod:`federation.web`."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from federation.errors import Forbidden
from federation.timeutil import CST, utcnow

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "NavItem",
    "WebPages",
    "check_csrf",
    "cn_date",
    "cn_moment",
    "csrf_token",
    "same_origin",
]

CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
_NOT_PAGES = ("/api/", "/static/", "/docs", "/openapi.json")

# no inline script may run (every script is a file under /static); styles may be set by the chart library
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

LIGHT_LABELS: Mapping[str, str] = {"white": "白灯", "yellow": "黄灯", "red": "红灯"}


@dataclass(frozen=True)
class NavItem:
    """One entry of the top navigation, shown to a person holding ``permission`` (a permission's value)."""

    label: str
    href: str
    permission: str | None = None


def _moment(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:  # the stores keep UTC
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CST)


def cn_date(value: date | datetime | str | None) -> str:
    """``2026年12月6日`` (a moment: its day in China time); ``—`` for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime) or (isinstance(value, str) and ("T" in value or " " in value)):
        day: date = _moment(value).date()
    else:
        day = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.year}年{day.month}月{day.day}日"


def cn_moment(value: datetime | str | None, *, seconds: bool = False) -> str:
    """``2026年12月6日 14:05`` in China time; ``—`` for nothing."""
    if value is None or value == "":
        return "—"
    moment = _moment(value)
    clock = moment.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{moment.year}年{moment.month}月{moment.day}日 {clock}"


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: derived from its secret token, which only the ``HttpOnly`` cookie holds."""
    return hashlib.sha256(b"sunshine-csrf\x00" + session_token.encode("utf-8")).hexdigest()[:40]


def same_origin(request: Request) -> bool:
    """The request came from a page of this site (``Origin`` absent — a same-origin GET or an older browser — or
    equal to the host)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


async def check_csrf(request: Request, session_token: str | None) -> None:
    """Refuse a page's write whose token is not the session's or whose origin is another site (Forbidden)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # Starlette keeps it: the endpoint reads the same form again
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = csrf_token(session_token) if session_token else ""
    if not (sent and expected and hmac.compare_digest(sent, expected)) or not same_origin(request):
        raise Forbidden("页面已过期或来源不明，请刷新页面后重新提交", reason="csrf")


def safe_next(target: str | None, default: str = "/") -> str:
    """Where to go after logging in: a path of this site only (never ``//host`` or a scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


class WebPages:
    """The pages of one node: its name, its navigation, its templates (``packages``' ``templates`` folders before
    the kit's own) and the session cookie's name.

    ``render`` answers a page; ``error`` turns an error into a page (installed on ``app.state.web`` by
    :meth:`install`, where :func:`federation.http_errors.install_error_handlers` finds it)."""

    def __init__(
        self,
        *,
        node_name: str,
        tier_label: str,
        session_cookie: str,
        nav: Sequence[NavItem] = (),
        packages: Iterable[str] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.node_name = node_name
        self.tier_label = tier_label
        self.session_cookie = session_cookie
        self.nav = tuple(nav)
        self.clock = clock
        loaders = [PackageLoader(p, "templates") for p in packages]
        loaders.append(PackageLoader("federation.web", "templates"))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            cn_date=cn_date,
            cn_moment=cn_moment,
            light_label=lambda v: LIGHT_LABELS.get(str(v), str(v or "—")),
            thousands=lambda v: f"{int(v):,}" if v is not None else "—",
            percent=lambda v, digits=1: "—" if v is None else f"{float(v) * 100:.{digits}f}%",
            urlquote=lambda v: quote(str(v), safe=""),
        )

    def install(self, app: Any) -> None:
        from starlette.staticfiles import StaticFiles

        app.state.web = self
        app.mount("/static", StaticFiles(packages=[("federation.web", "static")]), name="static")

    @staticmethod
    def owns(path: str) -> bool:
        """Whether ``path`` is a page (its errors are pages) rather than the API, a static file or the API docs."""
        return not path.startswith(_NOT_PAGES)

    def home(self, who: Any) -> str:
        """A person's first page: the first navigation entry their roles open (the account page when none does)."""
        held = who.permissions
        for item in self.nav:
            if item.permission is None or item.permission in held:
                return item.href
        return "/account"

    def context(self, request: Request, who: Any | None) -> dict[str, Any]:
        token = request.cookies.get(self.session_cookie)
        held = who.permissions if who is not None else frozenset()
        return {
            "request": request,
            "who": who,
            "web": self,
            "nav": [n for n in self.nav if n.permission is None or n.permission in held],
            "path": request.url.path,
            "csrf": csrf_token(token) if token and who is not None else "",
            "csrf_field": CSRF_FIELD,
            "now": self.clock(),
        }

    def render_text(self, template: str, request: Request, who: Any | None, **values: Any) -> str:
        return self.env.get_template(template).render(self.context(request, who) | values)

    def render(
        self,
        request: Request,
        template: str,
        who: Any | None = None,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **values: Any,
    ) -> HTMLResponse:
        text = self.render_text(template, request, who, **values)
        return HTMLResponse(text, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})

    def error(self, request: Request, status: int, body: Mapping[str, Any], headers: Mapping[str, str]) -> Response:
        """An error on a page: a missing or lapsed login goes (back) to the login page, anything else is a page in
        Chinese with the error's message and code."""
        if status == 401:
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            target = "/login" if request.method != "GET" else f"/login?next={quote(safe_next(back), safe='/')}"
            if request.headers.get("hx-request"):
                return Response(status_code=204, headers={"HX-Redirect": target, **SECURITY_HEADERS})
            return RedirectResponse(target, status_code=303, headers=dict(SECURITY_HEADERS))
        error = body.get("error", {})
        if status >= 500 and error.get("code") != "storage_error":  # never an internal's text on a page
            error = {"code": error.get("code", "internal"), "message": "系统内部错误，请稍后重试或联系节点管理员"}
        return self.render(
            request,
            "error.html",
            None,
            status=status,
            headers=headers,
            status_code=status,
            message=error.get("message", "请求失败"),
            code=error.get("code", ""),
        )
