"""``sunshine admin boundary report``: what crossed this node's boundary, what was redacted, what was refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from federation.boundary import DIRECTION_LABELS
from federation.cli import config_option, setup
from federation.replication.records import record_type_label

__all__ = ["boundary_admin_app"]

boundary_admin_app = typer.Typer()
boundary_app = typer.Typer(help="边界策略：各方向出境、脱敏与拒绝情况。", no_args_is_help=True)
boundary_admin_app.add_typer(boundary_app, name="boundary")

_Config = Annotated[Path | None, config_option]


@boundary_app.command("report")
def report(
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
    config: _Config = None,
) -> None:
    """按方向、记录类型列出：已放行（进入出境队列）的记录数、按策略脱敏的字段、被拒绝的记录与被删除的未列字段。"""
    from federation.nodes import build_node
    from federation.storage.boundary_report import action_label, boundary_report

    cfg = setup(config)
    node = build_node(cfg)
    try:
        with node.engine.connect() as conn:
            result = boundary_report(conn, cfg.node.division)
    finally:
        node.close()
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
        return
    version = result.policy_version or "内置默认策略（标准包未发布边界策略）"
    typer.echo(f"节点 {result.node} 边界策略：标准版本 {version}")
    for d in result.directions:
        typer.echo(f"\n{DIRECTION_LABELS.get(d.direction, d.direction)}")
        for t in d.types:
            state = "允许" if t.allowed else "不允许"
            typer.echo(f"  {record_type_label(t.record_type)}，{state}：已放行 {t.crossed} 条，拒绝 {t.refused} 条")
            if t.redacted:
                fields = "、".join(f"{f}（{action_label(a)}）" for f, a in t.redacted)
                typer.echo(f"    脱敏：{fields}")
            for f, n in t.dropped_fields:
                typer.echo(f"    未列字段 {f}：已删除 {n} 次（策略未列出，不出境）")
