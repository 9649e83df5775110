"""The portal's JSON views: the domain's answers as JSON objects (moments in China time, ISO 8601)."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from typing import Any

from county_node.extranet.domain import (
    CaseStatus,
    ComplaintReceipt,
    DisclosurePage,
    RatingReceipt,
    SubmissionReceipt,
    SubmissionStatus,
    on_time_label,
)
from federation.public_records import PublicItem
from federation.timeutil import CST

__all__ = ["catalogue_view", "disclosure_page_view", "receipt_view", "status_view"]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(CST).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _view(obj: Any) -> dict[str, Any]:
    assert is_dataclass(obj)
    assert not isinstance(obj, type)
    out: dict[str, Any] = _plain(asdict(obj))
    return out


def catalogue_view(items: list[PublicItem]) -> dict[str, Any]:
    return {"items": [_view(i) for i in items]}


def status_view(answer: CaseStatus | SubmissionStatus) -> dict[str, Any]:
    kind = "case" if isinstance(answer, CaseStatus) else "submission"
    return {"kind": kind, **_view(answer)}


def receipt_view(receipt: SubmissionReceipt | ComplaintReceipt | RatingReceipt) -> dict[str, Any]:
    return _view(receipt)


def disclosure_page_view(page: DisclosurePage) -> dict[str, Any]:
    return {
        "items": [{**_view(d), "on_time_label": on_time_label(d.on_time)} for d in page.items],
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
        "pages": page.pages,
    }
