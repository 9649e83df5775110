"""What the hall's pages share: the node's :class:`~federation.web.WebPages`, Post/Redirect/Get, a refused form's
audit outcome, the submitted form as text."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from federation.audit import current_audit
from federation.errors import Forbidden, NotFound, SunshineError, Unauthenticated
from federation.web import WebPages
from federation.web.kit import SECURITY_HEADERS

__all__ = ["form_error", "form_of", "see_other", "web_of"]


def web_of(request: Request) -> WebPages:
    web: WebPages = request.app.state.web
    return web


def see_other(target: str) -> Response:
    """Post/Redirect/Get: after a write, the record's page."""
    return RedirectResponse(target, status_code=303, headers=dict(SECURITY_HEADERS))


async def form_of(request: Request) -> dict[str, Any]:
    """The submitted form: a field once, as text (``getlist`` for the checkboxes is read by the caller)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def form_error(exc: SunshineError) -> bool:
    """Whether ``exc`` is a form's mistake to show on the form (a validation error, a conflict with the record's
    state) rather than an error page (not found, not allowed, not logged in). A mistake shown on the form is put on
    the audit record of the attempt with its error's code (the write committed nothing)."""
    if isinstance(exc, NotFound | Forbidden | Unauthenticated):
        return False
    scope = current_audit()
    if scope is not None:
        scope.outcome = exc.code
    return True
