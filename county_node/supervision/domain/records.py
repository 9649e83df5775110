"""What the lifecycles of the stored supervision records share: complaints, ratings, orders (pure).

Every step of such a record checks its texts the same way (:func:`required_text`) and appends one entry
``{action, actor, at, reason}`` to the record's ``history`` (:func:`history_entry`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from federation.errors import ValidationError

__all__ = ["History", "history_entry", "required_text"]

History = tuple[dict[str, Any], ...]
"""A record's steps, oldest first: ``{action, actor, at (ISO 8601), reason}`` each, as stored and replicated."""


def required_text(value: Any, field: str, label: str, *, limit: int = 2000) -> str:
    """``value`` without surrounding white space; a :class:`ValidationError` naming ``label`` when it is missing,
    blank, or longer than ``limit`` characters once stripped (what is stored is what is measured)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"缺少{label}", field=field)
    text = value.strip()
    if len(text) > limit:
        raise ValidationError(f"{label}过长（最多 {limit} 字）", field=field)
    return text


def history_entry(action: str, actor: str, at: datetime, reason: str = "") -> dict[str, Any]:
    return {"action": action, "actor": actor, "at": at.isoformat(), "reason": reason}
