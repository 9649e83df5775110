"""What the supervision command groups share (``sunshine alert``, :mod:`county_node.entrypoints.supervision_cli`;
``sunshine complaint|rating``, :mod:`county_node.entrypoints.feedback_cli`): their common options and the
helpers of their text and ``--json`` output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from federation.cli import config_option
from federation.text import moment_text

__all__ = [
    "ConfigOption",
    "Echo",
    "JsonOption",
    "PageOption",
    "PageSizeOption",
    "echo_json",
    "pages",
    "when",
]

ConfigOption = Annotated[Path | None, config_option]
JsonOption = Annotated[bool, typer.Option("--json", help="以 JSON 输出（与接口返回相同）")]
PageOption = Annotated[int, typer.Option("--page", help="页码，从 1 开始")]
PageSizeOption = Annotated[int, typer.Option("--page-size", help="每页条数（1–200）")]

Echo = Callable[[str], Any]


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def when(moment: str | None) -> str:
    """``2026-09-21T01:00:00+00:00`` → ``2026-09-21 09:00`` (China time; :func:`federation.text.moment_text`)."""
    return moment_text(moment)


def pages(total: int, page_size: int) -> int:
    return max(1, -(-total // page_size))
