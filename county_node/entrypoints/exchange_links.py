"""链路 (``/exchange/links``): every link of this node's sync agent, and every origin it carries — the peer, its
state, the lag in records and seconds measured against the origin's outbox (or the batches held, relayed), the
throughput and the last error; refreshed every 5 seconds (htmx, ``/exchange/links/live``).

The agent is its own process: its status port answers while it runs; when it does not, the page says so
(同步代理未运行) and shows what the node's database holds — the same lag, since it is measured there
(:func:`sync_agent.link_status.links_now`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from county_node.entrypoints.exchange_site import ExchangeSite, duration_text, link_label, origin_label, render
from security.access import Permission, Principal
from security.http import Who

__all__ = ["links_router"]

Admin = Annotated[Principal, Who(Permission.LINK_ADMIN)]


def _links(site: ExchangeSite) -> dict[str, Any]:
    from sync_agent.link_status import links_now

    now = links_now(site.config, site.engine)
    links = []
    for link in now.body.get("links", []):
        origins = [
            o
            | {
                "label": origin_label(o["origin"]),
                "lag_text": duration_text(o["lag_seconds"]) if o["lag_records"] else "—",
            }
            for o in link.get("origins", [])
        ]
        spool = link.get("spool") or {}
        links.append(
            link
            | {
                "label": link_label(link["link"]),
                "origins": origins,
                "ferry": str(link.get("target", "")).startswith("ferry:"),
                "spool": spool,
                "lag_records": sum(o["lag_records"] for o in origins),
            }
        )
    return {"running": now.running, "why": now.why, "links": links}


def links_router(site: ExchangeSite) -> APIRouter:
    router = APIRouter()

    @router.get("/links", response_class=HTMLResponse, summary="链路状态")
    def links_page(request: Request, who: Admin) -> HTMLResponse:
        return render(request, "exchange/links.html", who, **_links(site))

    @router.get("/links/live", response_class=HTMLResponse, summary="链路状态（刷新）")
    def links_live(request: Request, who: Admin) -> HTMLResponse:
        return render(request, "exchange/_links_live.html", who, **_links(site))

    return router
