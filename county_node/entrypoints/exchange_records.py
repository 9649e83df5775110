"""The exchange admin's read-only pages over what the node holds: 标准版本 (``/exchange/standards``), 证书与登记
(``/exchange/certificates``) and 数据持有 (``/exchange/holdings``).

- 标准版本: every division of the node's subtree with the standards version it reported, as
  ``sunshine admin standards status`` (:func:`~sync_agent.entrypoints.admin_standards_cli.standards_overview`);
  the province sees every node of the federation, since every node's report flows up to it.
- 证书与登记: this node's certificate chain and expiry, what its CA issued, the revocation list it holds, the
  enrolment tokens not used yet (:func:`security.pki_status.pki_status`: public material only, never a key or
  a token's secret).
- 数据持有: per origin, what this node holds (cases, events, the replication mark) against what its parent has
  acknowledged (the link up's recorded mark) and, for its own origin, its outbox — set-based counts; an origin's
  digest (equal on every complete tier, ``sunshine admin holdings``) is computed for the one origin asked.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse

from county_node.entrypoints.exchange_site import ExchangeSite, origin_label, render
from federation.identities import DivisionRegistry, scope_prefix
from federation.timeutil import local_date, utcnow
from security.access import Permission, Principal
from security.http import Who

__all__ = ["records_router"]

Admin = Annotated[Principal, Who(Permission.LINK_ADMIN)]

LEVEL_LABELS = {"province": "省级", "city": "市级", "county": "县级"}
KIND_LABELS = {"node": "节点证书", "ca": "下级 CA 证书"}


class _Registry:
    """The divisions registry, read once (on the first page that needs it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._registry: DivisionRegistry | None = None

    def get(self) -> DivisionRegistry:
        with self._lock:
            if self._registry is None:
                from federation.data import DIVISIONS_CSV

                self._registry = DivisionRegistry.from_csv(DIVISIONS_CSV)
            return self._registry


def _standards(site: ExchangeSite, registry: DivisionRegistry) -> dict[str, Any]:
    from sync_agent.entrypoints.admin_standards_cli import STATE_LABELS, standards_overview

    today = local_date(site.clock())
    overview = standards_overview(site.engine, site.division, registry, today)
    lines = [
        {
            "code": li.division.code,
            "name": li.division.name,
            "level": LEVEL_LABELS.get(li.division.level.value, ""),
            "version": li.version,
            "effective_date": li.effective_date,
            "applied_at": li.applied_at,
            "state": li.state,
            "state_label": STATE_LABELS[li.state],
        }
        for li in overview.lines
    ]
    counts = [(STATE_LABELS[s], s, n) for s, n in overview.counts.items() if n]
    return {"lines": lines, "reference": overview.reference, "counts": counts, "today": today}


def _holdings(site: ExchangeSite, digest_of: str) -> dict[str, Any]:
    from federation.storage.holdings import approval_holdings, holding_counts
    from federation.storage.uow import UnitOfWork
    from sync_agent.link_views import backlog, persisted_acks
    from sync_agent.runtime import sealed_here
    from sync_agent.store import SqlBatchSink

    node = site.division
    prefix = scope_prefix(node) if "-" not in node else node
    own = sealed_here(node)
    marks = {s.origin: s for s in SqlBatchSink(site.engine, node, {}, relay=False).status(prefix)}
    with UnitOfWork(site.engine, readonly=True) as uow:
        counts = holding_counts(uow.conn, prefix)
        acked_up = {o: seq for (link, o), seq in persisted_acks(uow.conn).items() if link == "up"}
        outbox_high = {o: backlog(uow.conn, o, acked_up.get(o, 0), sealed_here=True).high for o in own}
        digest = approval_holdings(uow.conn, digest_of) if digest_of else []
    rows = []
    for origin in sorted(set(counts) | set(marks) | {o for o in own if outbox_high.get(o)}):
        mark = marks.get(origin)
        held = outbox_high.get(origin, 0) if origin in own else (mark.high_water if mark else 0)
        up = acked_up.get(origin)
        cases, events = counts.get(origin, (0, 0))
        rows.append(
            {
                "origin": origin,
                "label": origin_label(origin),
                "own": origin in own,
                "cases": cases,
                "events": events,
                "held": held,
                "records": mark.records if mark else None,
                "quarantined": mark.quarantined if mark else 0,
                "updated_at": mark.updated_at if mark else None,
                "acked_up": up,
                "behind": None if up is None else max(0, held - up),
            }
        )
    digests = {h.origin: h for h in digest}
    return {"rows": rows, "digest_of": digest_of, "digest": digests.get(digest_of), "has_parent": bool(acked_up)}


def records_router(site: ExchangeSite) -> APIRouter:
    router = APIRouter()
    registry = _Registry()

    @router.get("/standards", response_class=HTMLResponse, summary="标准版本")
    def standards_page(request: Request, who: Admin) -> HTMLResponse:
        return render(request, "exchange/standards.html", who, **_standards(site, registry.get()))

    @router.get("/certificates", response_class=HTMLResponse, summary="证书与登记")
    def certificates_page(request: Request, who: Admin) -> HTMLResponse:
        from security.pki_status import pki_status

        now = utcnow()  # certificates and tokens run on real time, whatever the node's (simulated) clock says
        status = pki_status(site.config, site.engine, now)
        return render(request, "exchange/certificates.html", who, pki=status, at=now, kinds=KIND_LABELS)

    @router.get("/holdings", response_class=HTMLResponse, summary="数据持有")
    def holdings_page(
        request: Request,
        who: Admin,
        digest: Annotated[str, Query(pattern=r"^(\d{6})?$")] = "",
    ) -> HTMLResponse:
        return render(request, "exchange/holdings.html", who, **_holdings(site, digest))

    return router
