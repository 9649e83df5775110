"""Login and authorisation over HTTP (issue 15), in FastAPI's conventions.

- ``POST /api/v1/auth/token`` — the OAuth2 password flow (form ``username`` / ``password``), declared in
  OpenAPI so ``/docs`` can log in; answers a bearer token and sets the same token as an ``HttpOnly``,
  ``SameSite=Strict`` cookie for the web pages. ``POST /api/v1/auth/logout`` ends the session,
  ``GET /api/v1/auth/me`` says who is logged in.
- Every route declares its rule next to itself: ``Depends(require(Permission.X))`` (a logged-in person holding
  the permission; 401 without a valid session, 403 without the permission) or ``Depends(public())``.
  ``tests/integration/test_authz.py`` derives the routes from the apps and fails on a route with neither.
- A write is done inside an :class:`~federation.audit.AuditScope`: its audit entry is appended in the write's own
  transaction; a refused or failed write is audited with the error's code. ``require(..., personal=True)`` marks
  an inspector's read of personal data (names, key data): audited too.

The app's :class:`HttpAuth` is installed on ``app.state.auth`` by the tier's composition root.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.security import OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool
from typing_extensions import TypedDict

from federation.audit import audited
from federation.errors import Forbidden, SunshineError, Unauthenticated
from federation.web import check_csrf, same_origin
from security.access import Permission, Principal
from security.accounts import Accounts

__all__ = ["AUTH_PREFIX", "COOKIE", "RULE_ATTR", "HttpAuth", "Who", "public", "require"]

AUTH_PREFIX = "/api/v1/auth"
COOKIE = "sunshine_session"
RULE_ATTR = "__sunshine_rule__"  # set on every rule dependency: the route-coverage test looks for it

OAUTH2 = OAuth2PasswordBearer(tokenUrl=f"{AUTH_PREFIX}/token", auto_error=False, scheme_name="登录令牌")
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class TokenView(TypedDict):
    access_token: str
    token_type: str
    expires_at: str
    user_id: str
    name: str
    division: str
    roles: list[str]


class MeView(TypedDict):
    user_id: str
    name: str
    division: str
    roles: list[str]
    role_labels: str


class HttpAuth:
    """The login endpoints and the rule dependencies' state for one app: the node's :class:`Accounts`.

    ``secure_cookies``: the session cookie is always ``Secure`` (``http.secure_cookies``: the node is reached over
    HTTPS through a proxy that terminates TLS); otherwise only when the request itself came over HTTPS."""

    def __init__(self, accounts: Accounts, *, secure_cookies: bool = False) -> None:
        self.accounts = accounts
        self.secure_cookies = secure_cookies

    def secure_cookie(self, request: Request) -> bool:
        return self.secure_cookies or request.url.scheme == "https"

    def install(self, app: FastAPI) -> None:
        app.state.auth = self
        app.include_router(_auth_router())


def _source(request: Request) -> str:
    return request.client.host if request.client else ""


def _token(request: Request, bearer: str | None) -> str | None:
    return bearer or request.cookies.get(COOKIE)


async def _me(request: Request, bearer: str | None) -> Principal:
    auth: HttpAuth = request.app.state.auth
    token = _token(request, bearer)
    if not token:
        raise Unauthenticated("未登录，请先登录")
    return await run_in_threadpool(auth.accounts.authenticate, token, source=_source(request))


def _action(request: Request) -> tuple[str, str]:
    route = request.scope.get("route")
    summary = getattr(route, "summary", None) or getattr(route, "name", "") or request.method
    return str(summary), request.url.path


def require(permission: Permission, *, personal: bool = False) -> Callable[..., AsyncIterator[Principal]]:
    """The rule "a logged-in person holding ``permission``", as a dependency giving the :class:`Principal`.

    Writes (any method but GET/HEAD/OPTIONS) run in an audit scope; ``personal`` reads are audited too."""

    async def rule(request: Request, bearer: Annotated[str | None, Depends(OAUTH2)]) -> AsyncIterator[Principal]:
        auth: HttpAuth = request.app.state.auth
        accounts = auth.accounts
        write = request.method not in _SAFE
        token = _token(request, bearer)
        if not token:
            raise Unauthenticated("未登录，请先登录")
        if write and not bearer:
            # a write made with the session cookie (a page's form or htmx request) carries the session's CSRF
            # token and comes from this site; a bearer token is never sent by a browser on its own
            await check_csrf(request, token)
        source = _source(request)
        # a read checks the session in full; a write takes the person it was checked for and checks the session
        # again, live, in the write's own transaction (and in any audit entry of its refusal or failure)
        check = accounts.claimed if write else accounts.authenticate
        who = await run_in_threadpool(check, token, source=source)
        action, target = _action(request)
        if not who.has(permission):
            if personal or write:
                await run_in_threadpool(accounts.record, who.actor(), action, target, outcome="forbidden", token=token)
            who.require(permission)
        if not (personal or write):
            yield who
            return
        if personal and not write:
            # the read of personal data is on record ("read") before a byte of it leaves — what follows a
            # dependency's yield runs after the response is sent — in a statement that also checks the session is
            # live; a read that then fails (not found, outside the scope) adds an entry with its error's code
            actor = who.actor(permission)
            await run_in_threadpool(accounts.record, actor, action, target, outcome="read", token=token)
            try:
                yield who
            except SunshineError as exc:
                await run_in_threadpool(accounts.record, actor, action, target, outcome=exc.code)
                raise
            return
        scope = accounts.scope(who.actor(permission), action, target, token=token)
        try:
            with audited(scope):
                yield who
        except SunshineError as exc:
            if not isinstance(exc, Unauthenticated):
                await run_in_threadpool(accounts.record, scope.actor, action, target, outcome=exc.code, token=token)
            raise
        if not scope.written:  # a write that committed nothing of its own: audited too
            # (with the outcome a page put on it when it showed the person a refused form instead of an error)
            await run_in_threadpool(accounts.record, scope.actor, action, target, outcome=scope.outcome, token=token)

    setattr(rule, RULE_ATTR, f"require:{permission.value}" + (":personal" if personal else ""))
    return rule


def public() -> Callable[[], None]:
    """The rule "anyone, logged in or not" (health, the login itself)."""

    def rule() -> None:
        return None

    setattr(rule, RULE_ATTR, "public")
    return rule


def Who(permission: Permission, *, personal: bool = False) -> Any:  # noqa: N802 - reads as a type annotation
    """``who: Annotated[Principal, Who(Permission.X)]`` — the dependency of :func:`require`."""
    return Depends(require(permission, personal=personal))


def _auth_router() -> APIRouter:
    router = APIRouter(prefix=AUTH_PREFIX, tags=["登录"])

    @router.post("/token", summary="登录", response_model=TokenView, dependencies=[Depends(public())])
    async def login(
        request: Request,
        response: Response,
        username: Annotated[str, Form(max_length=64, description="账号")],
        password: Annotated[str, Form(max_length=256, description="密码")],
    ) -> TokenView:
        """OAuth2 密码模式登录：返回访问令牌（Bearer），并设置同一令牌的会话 Cookie（供网页使用）。"""
        if not same_origin(request):  # a form on another site must not log a browser in (login CSRF)
            raise Forbidden("页面来源不明，请从本系统的登录页登录", reason="csrf")
        auth: HttpAuth = request.app.state.auth
        session = await run_in_threadpool(auth.accounts.login, username, password, source=_source(request), kind="http")
        max_age = int(auth.accounts.policy.http_session.total_seconds())
        response.set_cookie(
            COOKIE,
            session.token,
            max_age=max_age,
            httponly=True,
            samesite="strict",
            secure=auth.secure_cookie(request),
            path="/",
        )
        p = session.principal
        return {
            "access_token": session.token,
            "token_type": "bearer",
            "expires_at": session.expires_at.isoformat(),
            "user_id": p.user_id,
            "name": p.name,
            "division": p.division,
            "roles": [r.value for r in p.roles],
        }

    @router.post("/logout", summary="退出登录", status_code=204, dependencies=[Depends(public())])
    async def logout(request: Request, bearer: Annotated[str | None, Depends(OAUTH2)]) -> Response:
        """结束当前会话（令牌立即失效）。"""
        auth: HttpAuth = request.app.state.auth
        token = _token(request, bearer)
        if token:
            if not bearer:  # the session cookie alone: a page of this site, with the session's CSRF token
                await check_csrf(request, token)
            await run_in_threadpool(auth.accounts.logout, token)
        response = Response(status_code=204)
        response.delete_cookie(COOKIE, path="/")
        return response

    @router.get("/me", summary="当前登录账号", response_model=MeView, dependencies=[Depends(public())])
    async def me(request: Request, bearer: Annotated[str | None, Depends(OAUTH2)]) -> MeView:
        """当前登录的账号、姓名、区划与岗位。"""
        p = await _me(request, bearer)
        return {
            "user_id": p.user_id,
            "name": p.name,
            "division": p.division,
            "roles": [r.value for r in p.roles],
            "role_labels": p.role_label,
        }

    return router
