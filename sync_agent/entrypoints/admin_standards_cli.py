"""``sunshine admin standards status``: which node of this node's subtree runs which standards version.

Reads the node's own database: the ``standards_status`` reports every node writes when it puts a bundle in place
(its own, and the replicas of its subtree's that flowed up — see ``federation.storage.standards_status``). Lists
every division under the node's scope from the divisions registry, with its version, effective date and the
moment it applied it, and marks the nodes behind the province's current version and those never heard from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from federation.cli import config_option, setup
from federation.identities import Division
from federation.text import moment_text

__all__ = [
    "STATE_LABELS",
    "StandardsOverview",
    "StatusLine",
    "admin_standards_app",
    "standards_overview",
    "standards_report",
]

admin_standards_app = typer.Typer(help="统一标准：各节点使用的标准版本。", no_args_is_help=True)

_LEVEL_NAMES = {"province": "省", "city": "市", "county": "县"}


@dataclass(frozen=True, slots=True)
class StatusLine:
    division: Division
    version: str | None
    effective_date: date | None
    applied_at: str | None
    state: str  # current | pending | behind | ahead | unknown

    def to_dict(self) -> dict[str, Any]:
        return {
            "division": self.division.code,
            "name": self.division.name,
            "level": self.division.level.value,
            "version": self.version,
            "effective_date": self.effective_date.isoformat() if self.effective_date else None,
            "applied_at": self.applied_at,
            "state": self.state,
        }


STATE_LABELS = {
    "current": "最新",
    "pending": "最新（待生效）",
    "behind": "落后",
    "ahead": "领先于省级",
    "unknown": "未报告",
}


def standards_report(
    divisions: list[Division], reports: dict[str, Any], reference: Any | None, today: date
) -> list[StatusLine]:
    """One line per division: its report (``StandardsStatus``) compared with ``reference`` (the province's)."""
    from federation.standards import version_key

    def key(r: Any) -> tuple[Any, ...]:
        return (r.effective_date, version_key(r.version))

    lines = []
    for d in divisions:
        r = reports.get(d.code)
        if r is None:
            lines.append(StatusLine(d, None, None, None, "unknown"))
            continue
        if reference is None or r.version == reference.version:
            state = "pending" if r.effective_date > today else "current"
        else:
            state = "behind" if key(r) < key(reference) else "ahead"
        lines.append(StatusLine(d, r.version, r.effective_date, r.applied_at.isoformat(), state))
    return lines


@admin_standards_app.command("status")
def standards_status(
    *,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
    divisions: Annotated[Path | None, typer.Option("--divisions", help="行政区划表 CSV（默认山东省区划表）")] = None,
    config: Annotated[Path | None, config_option] = None,
) -> None:
    """列出本节点辖区内每个节点使用的标准版本、生效日期与应用时间，标出落后于省级与从未报告的节点。"""
    from federation.data import DIVISIONS_CSV
    from federation.errors import ConfigError
    from federation.identities import DivisionRegistry
    from federation.nodes import build_node
    from federation.timeutil import local_date

    cfg = setup(config)
    node = cfg.node.division
    path = divisions or DIVISIONS_CSV
    if not path.is_file():
        raise ConfigError(f"找不到行政区划表 {path}", path=str(path))
    at = build_node(cfg)  # its database and its clock (the demo's simulated one), as its tier wires them
    try:
        today = local_date(at.clock())
        overview = standards_overview(at.engine, node, DivisionRegistry.from_csv(path), today)
    finally:
        at.close()
    lines, reference = overview.lines, overview.reference
    counts = overview.counts
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "node": node,
                    "province_version": reference.version if reference else None,
                    "as_of": today.isoformat(),
                    "counts": counts,
                    "nodes": [li.to_dict() for li in lines],
                },
                ensure_ascii=False,
                indent=1,
            )
        )
        return
    ref = f"{reference.version}（生效日期 {reference.effective_date}）" if reference else "未知（尚未收到省级报告）"
    typer.echo(f"节点 {node} 辖区 {len(lines)} 个区划；省级当前标准版本：{ref}")
    for li in lines:
        level = _LEVEL_NAMES.get(li.division.level.value, "")
        version = li.version or "—"
        effective = li.effective_date.isoformat() if li.effective_date else "—"
        typer.echo(
            f"{li.division.code}  {li.division.name}（{level}）  {version}  生效 {effective}  "
            f"应用于 {moment_text(li.applied_at)}  {STATE_LABELS[li.state]}"
        )
    summary = "，".join(f"{STATE_LABELS[s]} {n}" for s, n in counts.items() if n)
    typer.echo(f"合计：{summary}")


@dataclass(frozen=True, slots=True)
class StandardsOverview:
    """The standards versions of a node's subtree: one line per division, the province's report (``reference``)
    and how many divisions are in each state."""

    lines: list[StatusLine]
    reference: Any | None
    counts: dict[str, int]


def standards_overview(engine: Any, node: str, registry: Any, today: date) -> StandardsOverview:
    """Every division under ``node`` (from ``registry``) with the report that reached ``node``'s database, as
    ``sunshine admin standards status`` and the exchange admin's 标准版本 page show it."""
    from federation.identities import scope_prefix
    from federation.storage.standards_status import status_rows
    from federation.storage.uow import UnitOfWork

    prefix = scope_prefix(node)
    scope = [registry.get(c) for c in sorted(_codes(registry)) if c.startswith(prefix)]
    with UnitOfWork(engine, readonly=True) as uow:
        reports = status_rows(uow.conn)
    reference = reports.get(node[:2] + "0000")
    lines = standards_report(scope, reports, reference, today)
    counts = {state: sum(1 for li in lines if li.state == state) for state in STATE_LABELS}
    return StandardsOverview(lines, reference, counts)


def _codes(registry: Any) -> list[str]:
    from federation.identities import DivisionLevel

    return [d.code for level in DivisionLevel for d in registry.of_level(level)]
