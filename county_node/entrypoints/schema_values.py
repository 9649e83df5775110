"""JSON values the supervision views share: moments in China Standard Time and the steps of a record's history
(whose actor is the logged-in person's label, 姓名（岗位，账号）)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from county_node.entrypoints.views import iso

__all__ = ["HistoryView", "history", "moment"]


class HistoryView(TypedDict):
    action: str
    action_label: str
    actor: str
    at: str
    reason: str


def moment(value: Any) -> str | None:
    """A stored moment (a datetime, or the ISO text kept in JSON columns) as ISO 8601 in China Standard Time."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return iso(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return iso(parsed) if parsed.tzinfo is not None else value
    return str(value)


def history(entries: Any, labels: Mapping[str, str]) -> list[HistoryView]:
    return [
        {
            "action": str(h.get("action", "")),
            "action_label": labels.get(str(h.get("action", "")), str(h.get("action", ""))),
            "actor": str(h.get("actor", "")),
            "at": moment(h.get("at")) or "",
            "reason": str(h.get("reason") or ""),
        }
        for h in entries or ()
    ]
