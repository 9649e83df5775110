"""The web pages' kit (网页, issue 17), shared by the hall (county), the inspectors (city, province) and the exchange
admins (every tier).

- :class:`WebPages` — one Jinja2 environment (autoescaped; a tier's own templates before the kit's), the filters
  every page uses (Chinese dates in China time, lights, working days), the static files (htmx, Apache ECharts,
  the stylesheet, one script: no inline script anywhere, so the Content-Security-Policy forbids them), the security
  headers, and how an error reaches a person: a page gets a page in Chinese (a missing login: back to the login
  page), never the JSON the API answers.
- :func:`csrf_token` / :func:`check_csrf` — a form's token is derived from the session (the ``HttpOnly`` cookie no
  script can read), sent back in a hidden field or htmx's ``X-CSRF-Token`` header, and checked with the request's
  ``Origin`` on every write a page makes.

The login pages and the rule dependencies live with the accounts (:mod:`security.web`); each tier's pages are
routers of their own (``county_node.entrypoints.hall_pages``, ``city_aggregator.inspection.pages``,
``sync_agent.admin_pages``).
"""

from federation.web.kit import (
    CSRF_FIELD,
    CSRF_HEADER,
    NavItem,
    WebPages,
    check_csrf,
    cn_date,
    cn_moment,
    csrf_token,
    same_origin,
)

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
