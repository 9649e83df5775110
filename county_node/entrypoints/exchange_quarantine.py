"""隔离区 (``/exchange/quarantine``): the records this node's receiver set aside, and what an exchange admin does
with them — look at one (``/exchange/quarantine/{id}``: the record, why it was refused, its payload), fix its
payload, replay it, or discard it with a reason.

The same :class:`~sync_agent.quarantine.QuarantineService` as ``sunshine admin quarantine``, replaying with what
the node's receiver applies. Every action is a form with the session's CSRF token, audited by its rule (the
route's summary is the audit entry's action); a success goes back to the record's page (Post/Redirect/Get), a
refusal (a payload that is not JSON, a replay the applier still rejects, a record already resolved) is an error
page saying why, and the record stays held.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse

from county_node.entrypoints.exchange_site import ExchangeSite, origin_label, render
from federation.errors import ValidationError
from federation.replication.records import OP_LABELS, RECORD_TYPE_LABELS
from federation.web.kit import SECURITY_HEADERS
from security.access import Permission, Principal
from security.http import Who
from sync_agent.quarantine import QuarantinedRecord, QuarantineService

__all__ = ["quarantine_router"]

Admin = Annotated[Principal, Who(Permission.LINK_ADMIN)]
# a held record's payload may carry personal data (a county's public submissions: ID and phone numbers): its page
# is a read of personal data, on record before a byte of it is sent
PayloadReader = Annotated[Principal, Who(Permission.LINK_ADMIN, personal=True)]
RecordId = Annotated[int, Path(ge=1, le=2**62)]

STATE_LABELS = {"held": "待处理", "replayed": "已重放", "discarded": "已丢弃", "all": "全部"}
DONE = {"fixed": "载荷已修正，请核对后重放。", "replayed": "已重放入库。", "discarded": "已丢弃。"}
_PAGE_SIZE = 50
_MAX_PAYLOAD = 1 << 20  # a fixed payload: at most 1 MiB of text


def _view(q: QuarantinedRecord) -> dict[str, Any]:
    try:
        pretty = json.dumps(json.loads(q.payload), ensure_ascii=False, indent=2)
    except (ValueError, RecursionError):
        pretty = q.payload  # not JSON (why it is here): as it came
    return {
        "id": q.id,
        "origin": q.origin,
        "origin_label": origin_label(q.origin),
        "seq": q.seq,
        "record_type": q.record_type,
        "type_label": RECORD_TYPE_LABELS.get(q.record_type, "未知类型"),
        "record_id": q.record_id,
        "op_label": OP_LABELS.get(q.op, "未知操作"),
        "payload": pretty,
        "reason": q.reason,
        "state": q.state.value,
        "state_label": STATE_LABELS[q.state.value],
        "created_at": q.created_at,
        "resolved_at": q.resolved_at,
    }


def _compact(payload: str) -> str:
    """The form's (indented) JSON written back compactly, as records travel; not JSON: as typed, for the service
    to refuse with its reason."""
    try:
        return json.dumps(json.loads(payload), ensure_ascii=False, separators=(",", ":"))
    except (ValueError, RecursionError):
        return payload


def _back(record_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(
        f"/exchange/quarantine/{record_id}?done={done}", status_code=303, headers=dict(SECURITY_HEADERS)
    )


def quarantine_router(site: ExchangeSite) -> APIRouter:
    router = APIRouter()

    def service() -> QuarantineService:
        return QuarantineService(site.engine, site.receiver_appliers(), clock=site.clock)

    def reading() -> QuarantineService:  # a read applies nothing: the node's appliers are not needed
        return QuarantineService(site.engine, {}, clock=site.clock)

    @router.get("/quarantine", response_class=HTMLResponse, summary="隔离区")
    def quarantine_list(
        request: Request,
        who: Admin,
        state: Annotated[str, Query(pattern="^(held|replayed|discarded|all)$")] = "held",
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> HTMLResponse:
        result = reading().list(None if state == "all" else state, page=page, page_size=_PAGE_SIZE)
        return render(
            request,
            "exchange/quarantine.html",
            who,
            records=[_view(q) for q in result.items],
            total=result.total,
            page=page,
            has_next=page * _PAGE_SIZE < result.total,
            state=state,
            states=STATE_LABELS,
        )

    @router.get("/quarantine/{record_id}", response_class=HTMLResponse, summary="隔离记录")
    def quarantine_record(
        request: Request,
        who: PayloadReader,
        record_id: RecordId,
        done: Annotated[str, Query(max_length=16)] = "",
    ) -> HTMLResponse:
        q = reading().get(record_id)
        return render(request, "exchange/quarantine_record.html", who, q=_view(q), done=DONE.get(done, ""))

    @router.post("/quarantine/{record_id}/fix", summary="修正隔离记录")
    def quarantine_fix(
        who: Admin,
        record_id: RecordId,
        payload: Annotated[str, Form(max_length=_MAX_PAYLOAD)],
    ) -> RedirectResponse:
        if not payload.strip():
            raise ValidationError("修正后的载荷不能为空", id=record_id)
        service().fix(record_id, _compact(payload.strip()))
        return _back(record_id, "fixed")

    @router.post("/quarantine/{record_id}/replay", summary="重放隔离记录")
    def quarantine_replay(who: Admin, record_id: RecordId) -> RedirectResponse:
        service().replay(record_id)
        return _back(record_id, "replayed")

    @router.post("/quarantine/{record_id}/discard", summary="丢弃隔离记录")
    def quarantine_discard(
        who: Admin,
        record_id: RecordId,
        reason: Annotated[str, Form(max_length=500)] = "",
    ) -> RedirectResponse:
        service().discard(record_id, reason)
        return _back(record_id, "discarded")

    return router
