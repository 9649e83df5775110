"""``sunshine score show``: the scores a node holds, on any node — at a county, the province's scores sent down,
with its own rank. The province's and a city's ``score`` commands (``city_aggregator.entrypoints.score_cli``)
show their own runs with :func:`show_scores` too.

Errors are raised as :class:`federation.errors.SunshineError`; ``federation.cli.main`` prints them in Chinese.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Engine

from federation.cli import config_option, setup
from federation.config import Config
from federation.errors import NotFound, ValidationError
from federation.identities import DivisionLevel, level_of
from federation.text import ljust, rjust

__all__ = ["LEVEL_LABELS", "counts_text", "node_score_app", "render_ranking", "score_text", "show_scores"]

LEVEL_LABELS = {"county": "县（市、区）", "department": "部门", "window": "窗口"}


def score_text(value: Any) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def counts_text(row: dict[str, Any]) -> str:
    """The cases a score counts: accepted (受理) and decided (审批决定) in the period (a score computed before
    acceptance was counted: its decided cases only)."""
    accepted = row["breakdown"].get("measures", {}).get("accepted")
    if accepted is None:
        return f"办件 {rjust(row['cases'], 6)}"
    return f"受理 {rjust(accepted, 5)}  决定 {rjust(row['cases'], 5)}"


def render_ranking(rows: list[dict[str, Any]], *, top: int = 3) -> list[str]:
    """Ranking lines: rank (or 样本不足), subject, score, cases accepted and decided, top deductions, the parts
    left out for a small sample — columns padded by display width (a Chinese subject name takes two columns a
    character), so they line up on a terminal."""
    from federation.storage.scores_replica import small_sample_parts, top_losses

    lines = []
    for r in rows:
        rank = f"第 {r['rank']} / {r['ranked_of']} 名" if r["rank"] is not None else "样本不足，不排名"
        losses = "；".join(f"{name} {points}" for name, points in top_losses(r["breakdown"], top))
        if r["rank"] is not None:
            left_out = "、".join(small_sample_parts(r["breakdown"]))
            sample = f"  样本不足未计：{left_out}" if left_out else ""
        else:  # short of cases on every case basis: say what its score rests on (a county with no complaint: 100)
            measured = [str(i["name"]) for i in r["breakdown"].get("indicators", ()) if i["points"] is not None]
            sample = f"  仅计：{'、'.join(measured)}" if measured else ""
        lines.append(
            f"{ljust(rank, 16)}  {ljust(r['subject'], 28)}  {rjust(score_text(r['score']), 7)} 分  {counts_text(r)}"
            + (f"  主要失分：{losses}" if losses else "")
            + sample
        )
    return lines


def _resolve(engine: Engine, node: str | None, period: str, county: str | None) -> tuple[str, str]:
    from federation.storage.scores_replica import latest_rules_version
    from federation.storage.uow import UnitOfWork

    with UnitOfWork(engine, readonly=True) as uow:
        found = latest_rules_version(uow.conn, computed_by=node, period=period, county=county)
    if found is None:
        raise NotFound(f"本节点没有 {period} 的考核评分", period=period)
    return found


def show_scores(
    cfg: Config, period: str, level: str | None, as_json: bool, *, computed_by: str | None, county: str | None
) -> None:
    """Print (or ``--json``) the scores the node of ``cfg`` holds for ``period``: those ``computed_by`` a node
    (None: the newest run held), of one ``county`` or all."""
    from federation.nodes import build_node
    from federation.scoring_rules import LEVELS, parse_period
    from federation.storage.scores_replica import export_rows, read_scores
    from federation.storage.uow import UnitOfWork
    from migrations.runner import require_head

    label = parse_period(period).label
    if level is not None and level not in LEVELS:
        raise ValidationError(f"层级“{level}”无效（county、department 或 window）", level=level)
    at = build_node(cfg)
    try:
        require_head(at.engine)
        node, version = _resolve(at.engine, computed_by, label, county)
        with UnitOfWork(at.engine, readonly=True) as uow:
            rows = read_scores(
                uow.conn, computed_by=node, rules_version=version, period=label, level=level, county=county
            )
    finally:
        at.close()
    if as_json:
        typer.echo(json.dumps(export_rows(rows), ensure_ascii=False, sort_keys=True, indent=1))
        return
    typer.echo(f"考核评分 {label}（计算节点 {node}，规则版本 {version}）")
    for lv in LEVELS:
        part = [r for r in rows if r["level"] == lv]
        if part:
            typer.echo(f"— {LEVEL_LABELS[lv]} —")
            for line in render_ranking(part):
                typer.echo(line)


node_score_app = typer.Typer(
    help="考核评分：查看本节点持有的评分与排名（县级节点显示省级下发的本县名次）。", no_args_is_help=True
)


@node_score_app.command("show")
def node_score_show(
    period: Annotated[str, typer.Argument(help="考核周期：2026-10、2026-Q4 或 2026")],
    county: Annotated[str | None, typer.Option("--county", help="只看一个县（县级节点默认本县）")] = None,
    level: Annotated[str | None, typer.Option("--level", help="county、department 或 window（默认全部）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    config: Annotated[Path | None, config_option] = None,
) -> None:
    """显示本节点持有的考核评分（县级节点：本县的名次、分数与失分项）。"""
    cfg = setup(config)
    node = cfg.node.division
    if county is None and level_of(node) is DivisionLevel.COUNTY:
        county = node
    show_scores(cfg, period, level, as_json, computed_by=None, county=county)
