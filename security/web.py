"""Logging in and out on the web pages (issue 17), with the node's :class:`~security.accounts.Accounts`.

- ``GET /login`` — the form; ``POST /login`` — checks the account and password (the same login as
  ``/api/v1/auth/token``: lockout, audit, the session in the database) and sets the session as an ``HttpOnly``,
  ``SameSite=Strict`` cookie, then goes on to the page asked for (a path of this site only).
- ``POST /logout`` — ends the session (the form carries the session's CSRF token).
- ``GET /`` — a person goes to the first page their roles open (the tier's ``home``), anyone else to the login.

Every other page declares its rule like an API route: ``who: Annotated[Principal, Who(Permission.X)]``; a page
without a login is sent to ``/login?next=…`` (:meth:`federation.web.WebPages.error`), a write without the CSRF
token is refused (:func:`security.http.require`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from federation.errors import Forbidden, Unauthenticated
from federation.web import WebPages, check_csrf, same_origin
from federation.web.kit import SECURITY_HEADERS, safe_next
from security.access import Principal
from security.http import COOKIE, HttpAuth, public

__all__ = ["install_login_pages"]


def install_login_pages(app: FastAPI, web: WebPages) -> None:
    """Install ``web`` (static files, error pages) on ``app`` and the login, logout, ``/`` and ``/account``
    routes; a person's first page is the first navigation entry their roles open (:meth:`WebPages.home`)."""
    web.install(app)
    app.include_router(_router(web, web.home))


async def _who(request: Request) -> Principal | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    auth: HttpAuth = request.app.state.auth
    try:
        return await run_in_threadpool(auth.accounts.authenticate, token, source=_source(request))
    except Unauthenticated:
        return None


def _source(request: Request) -> str:
    return request.client.host if request.client else ""


def _router(web: WebPages, home: Callable[[Principal], str]) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", dependencies=[Depends(public())])
    async def root(request: Request) -> Response:
        who = await _who(request)
        target = home(who) if who is not None else "/login"
        return RedirectResponse(target, status_code=303, headers=dict(SECURITY_HEADERS))

    @router.get("/login", response_class=HTMLResponse, dependencies=[Depends(public())])
    async def login_form(request: Request, next: str = "/") -> Response:
        return web.render(request, "login.html", None, next=safe_next(next), username="", message="")

    @router.post("/login", response_class=HTMLResponse, dependencies=[Depends(public())])
    async def login(
        request: Request,
        username: Annotated[str, Form(max_length=64)] = "",
        password: Annotated[str, Form(max_length=256)] = "",
        next: Annotated[str, Form(max_length=2000)] = "/",
    ) -> Response:
        target = safe_next(next)
        if not same_origin(request):
            raise Forbidden("页面来源不明，请从本系统的登录页登录", reason="csrf")
        auth: HttpAuth = request.app.state.auth
        try:
            session = await run_in_threadpool(
                auth.accounts.login, username.strip(), password, source=_source(request), kind="http"
            )
        except Unauthenticated as exc:  # anything else (the database unreachable) is an error page, not the form
            return web.render(
                request, "login.html", None, status=401, next=target, username=username.strip(), message=exc.message
            )
        if target == "/":
            target = home(session.principal)
        response = RedirectResponse(target, status_code=303, headers=dict(SECURITY_HEADERS))
        response.set_cookie(
            COOKIE,
            session.token,
            max_age=int(auth.accounts.policy.http_session.total_seconds()),
            httponly=True,
            samesite="strict",
            secure=auth.secure_cookie(request),
            path="/",
        )
        return response

    @router.get("/account", response_class=HTMLResponse, dependencies=[Depends(public())])
    async def account(request: Request) -> Response:
        who = await _who(request)
        if who is None:
            raise Unauthenticated("未登录，请先登录")
        return web.render(request, "account.html", who)

    @router.post("/logout", dependencies=[Depends(public())])
    async def logout(request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        if token:
            await check_csrf(request, token)
            auth: HttpAuth = request.app.state.auth
            await run_in_threadpool(auth.accounts.logout, token)
        response = RedirectResponse("/login", status_code=303, headers=dict(SECURITY_HEADERS))
        response.delete_cookie(COOKIE, path="/")
        return response

    return router
