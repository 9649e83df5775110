"""Text for people at a terminal: moments in China time and columns padded by display width.

Every command line prints a moment to a person through :func:`moment_text` — China Standard Time, one style,
``2026-12-06 14:05`` — whatever zone the moment was stored or sent in; ``--json`` output keeps ISO 8601 with its
offset. Tables pad with :func:`ljust` / :func:`rjust`, which count an East Asian wide or fullwidth character
(汉字, fullwidth punctuation) as two columns, the way a terminal draws it, so Chinese columns line up.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime

from federation.timeutil import CST

__all__ = ["choices", "display_width", "ljust", "moment_text", "rjust"]

_EMPTY = "—"


def moment_text(moment: datetime | str | None, *, seconds: bool = False) -> str:
    """A moment as a person reads it: China time, ``2026-12-06 14:05`` (``…14:05:09`` with ``seconds``).

    Takes an aware :class:`datetime` or its ISO 8601 text (as the JSON views carry it); ``None`` or ``""`` is
    shown as ``—``; a naive moment as given (it names no zone to convert from), text that is no moment as is."""
    if moment is None or moment == "":
        return _EMPTY
    if isinstance(moment, str):
        text = moment
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text  # not a moment: shown as it came rather than hidden
    if moment.tzinfo is not None:
        moment = moment.astimezone(CST)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def display_width(text: str) -> int:
    """The columns ``text`` takes on a terminal: wide and fullwidth characters two, combining marks none."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def ljust(value: object, width: int) -> str:
    """``value`` as text, padded with spaces on the right to ``width`` display columns (never cut)."""
    text = str(value)
    return text + " " * max(0, width - display_width(text))


def rjust(value: object, width: int) -> str:
    """``value`` as text, padded with spaces on the left to ``width`` display columns (never cut)."""
    text = str(value)
    return " " * max(0, width - display_width(text)) + text


def choices(names: Iterable[str], labels: Mapping[str, str]) -> str:
    """The values a person may type, each with its Chinese name: ``受理（accept）、审核（review）`` — the English name
    shown only because it is what the command takes."""
    return "、".join(f"{labels[n]}（{n}）" if n in labels else n for n in names)
