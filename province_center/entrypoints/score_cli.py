"""``sunshine province score …`` / ``sunshine city score …`` / ``sunshine score show``: scoring runs and rankings.

At the province (scope = the province's two digits) and at a city (scope = its four digits, scores kept at the
city): ``run`` computes and stores the scores of the periods asked for, ``show`` prints a ranking, ``explain``
lists every indicator, deduction and bonus of one county with the records behind it. ``sunshine score show`` works
on any node and shows the scores it holds — at a county, the province's scores sent down, with its own rank.

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
from federation.errors import ConfigError, NotFound, ValidationError
from federation.identities import DivisionLevel, level_of
from province_center.entrypoints.node import node_clock, node_engine

__all__ = ["city_score_app", "node_score_app", "province_score_app", "render_ranking"]

_LEVEL_LABELS = {"county": "县（市、区）", "department": "部门", "window": "窗口"}
_RECORD_LABELS = {
    "late_cases": "超期办结的办件",
    "early_cases": "提前办结的办件（加分）",
    "corrected_cases": "发生补正的办件",
    "yellow_cards": "黄牌（预警）",
    "red_cards": "红牌（超期）",
    "key_data_alerts": "关键数据缺失预警",
    "complaints": "投诉",
    "complaints_missed": "未按时答复的投诉",
    "negative_ratings": "差评",
    "negative_ratings_missed": "未按时回访的差评",
}


def _score_text(value: Any) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def render_ranking(rows: list[dict[str, Any]], *, top: int = 3) -> list[str]:
    """Ranking lines: rank (or 样本不足), subject, score, cases, top deductions."""
    from province_center.scoring.domain import top_losses

    lines = []
    for r in rows:
        rank = f"第 {r['rank']} / {r['ranked_of']} 名" if r["rank"] is not None else "样本不足，不排名"
        losses = "；".join(f"{name} {points}" for name, points in top_losses(r["breakdown"], top))
        lines.append(
            f"{rank:<14}  {r['subject']:<28}  {_score_text(r['score']):>7} 分  办件 {r['cases']:>6}"
            + (f"  主要失分：{losses}" if losses else "")
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


def _show(
    cfg: Config, period: str, level: str | None, as_json: bool, *, computed_by: str | None, county: str | None
) -> None:
    from federation.scoring_rules import LEVELS, parse_period
    from federation.storage.scores_replica import read_scores
    from federation.storage.uow import UnitOfWork
    from province_center.scoring.service import export_rows

    label = parse_period(period).label
    if level is not None and level not in LEVELS:
        raise ValidationError(f"层级“{level}”无效（county、department 或 window）", level=level)
    engine = node_engine(cfg)
    try:
        node, version = _resolve(engine, computed_by, label, county)
        with UnitOfWork(engine, readonly=True) as uow:
            rows = read_scores(
                uow.conn, computed_by=node, rules_version=version, period=label, level=level, county=county
            )
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(export_rows(rows), ensure_ascii=False, sort_keys=True, indent=1))
        return
    typer.echo(f"考核评分 {label}（计算节点 {node}，规则版本 {version}）")
    for lv in LEVELS:
        part = [r for r in rows if r["level"] == lv]
        if part:
            typer.echo(f"— {_LEVEL_LABELS[lv]} —")
            for line in render_ranking(part):
                typer.echo(line)


def _periods(period: list[str] | None, year: int | None) -> list[str]:
    from federation.scoring_rules import expand_year

    out = list(period or [])
    if year is not None:
        out.extend(expand_year(year))
    if not out:
        raise ValidationError("请用 --period 或 --year 指定考核周期")
    return out


def _explain_lines(data: dict[str, Any]) -> list[str]:
    b = data["breakdown"]
    rank = f"第 {data['rank']} / {data['ranked_of']} 名" if data["rank"] is not None else "样本不足，不排名"
    lines = [
        f"{data['county']} {data['period']} 考核评分 {data['score']} 分（{rank}；办结 {data['cases']} 件；"
        f"计算节点 {data['computed_by']}，规则版本 {data['rules_version']}）",
        f"指标得分 {b['weighted']}，扣分 {b['deductions_total']}，加分 {b['bonuses_total']}",
        "指标：",
    ]
    for i in b["indicators"]:
        value = "无可计量（满分）" if i["value"] is None else i["value"]
        lines.append(f"  {i['name']}：{value} → {i['points']} / {i['weight']} 分")
    ref = b.get("reference", {})
    if ref.get("expected_on_time_rate") is not None:
        lines.append(
            f"  （按事项结构校正：实际按时率 {ref['actual_on_time_rate']}，同结构预期 {ref['expected_on_time_rate']}，"
            f"全范围 {ref['scope_on_time_rate']}）"
        )
    lines.append("扣分：")
    for d in b["deductions"]:
        lines.append(f"  {d['name']}：{d['count']} 张 → {d['points']} 分")
    lines.append("加分：")
    for x in b["bonuses"]:
        lines.append(f"  {x['name']}：{x['count']} / {x['of']} 件 → +{x['points']} 分")
    lines.append("依据记录：")
    for key, label in _RECORD_LABELS.items():
        ids = data["records"].get(key, [])
        lines.append(f"  {label}（{len(ids)}）：{'、'.join(ids) if ids else '无'}")
    check = data["check"]
    lines.append("核对：" + ("分项合计与总分一致" if check["arithmetic_ok"] else "分项合计与总分不一致！"))
    if check["data_changed"]:
        changes = "；".join(f"{k} 计算时 {v['stored']}，现在 {v['now']}" for k, v in check["changed"].items())
        lines.append(f"注意：评分计算后数据已变化（{changes}），请重新计算评分")
    else:
        lines.append("依据记录与计算时一致")
    return lines


def score_app_for(level: DivisionLevel) -> typer.Typer:
    """The ``score`` commands of a province or city node."""
    where = "全省" if level is DivisionLevel.PROVINCE else "本市所辖"
    app = typer.Typer(
        help=f"考核评分：计算{where}各县（市、区）、部门、窗口的评分，查看排名与扣分依据。", no_args_is_help=True
    )

    def node_of(cfg: Config) -> str:
        node = cfg.node.division
        if level_of(node) is not level:
            raise ConfigError(
                f"本节点 {node} 不是{'省级' if level is DivisionLevel.PROVINCE else '市级'}节点", node=node
            )
        return node

    @app.command("run")
    def run(
        *,
        period: Annotated[
            list[str] | None, typer.Option("--period", help="考核周期：2026-10、2026-Q4 或 2026，可重复")
        ] = None,
        year: Annotated[int | None, typer.Option("--year", help="整年：12 个月、4 个季度和全年")] = None,
        config: Annotated[Path | None, config_option] = None,
    ) -> None:
        """计算并保存考核评分（省级节点同时下发到各市、县）。"""
        from province_center.scoring.service import compute_scores, scope_of

        cfg = setup(config)
        node = node_of(cfg)
        periods = _periods(period, year)
        engine = node_engine(cfg)
        try:
            result = compute_scores(engine, node=node, scope=scope_of(node), periods=periods, now=node_clock(cfg)())
        finally:
            engine.dispose()
        typer.echo(
            f"已完成考核评分：范围 {result.scope}，规则版本 {result.rules_version}，周期 {len(result.periods)} 个"
            f"（{result.periods[0]} … {result.periods[-1]}）"
        )
        for lv in ("county", "department", "window"):
            typer.echo(f"  {_LEVEL_LABELS[lv]}：评分 {result.subjects[lv]} 项，参与排名 {result.ranked[lv]} 项")
        typer.echo(f"输入摘要 {result.input_digest}")
        if result.outbox_records:
            typer.echo(f"已排入发件箱 {result.outbox_records} 条评分记录：同步代理将下发到各市、县")

    @app.command("show")
    def show(
        period: Annotated[str, typer.Argument(help="考核周期：2026-10、2026-Q4 或 2026")],
        level: Annotated[str | None, typer.Option("--level", help="county、department 或 window（默认全部）")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
        config: Annotated[Path | None, config_option] = None,
    ) -> None:
        """显示考核排名：名次、分数、办件数、样本不足标记、主要失分项。"""
        cfg = setup(config)
        _show(cfg, period, level, as_json, computed_by=node_of(cfg), county=None)

    @app.command("explain")
    def explain(
        county: Annotated[str, typer.Argument(help="县级区划代码，如 371122")],
        period: Annotated[str, typer.Argument(help="考核周期：2026-10、2026-Q4 或 2026")],
        as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
        config: Annotated[Path | None, config_option] = None,
    ) -> None:
        """逐项说明一个县的评分：各指标、每项扣分与加分及其依据记录，并与保存的评分核对。"""
        from province_center.scoring.explain import explain_score

        cfg = setup(config)
        node = node_of(cfg)
        engine = node_engine(cfg)
        try:
            explanation = explain_score(engine, node=node, county=county, period=period, now=node_clock(cfg)())
        finally:
            engine.dispose()
        data = explanation.to_dict()
        if as_json:
            typer.echo(json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1))
            return
        for line in _explain_lines(data):
            typer.echo(line)

    return app


province_score_app = score_app_for(DivisionLevel.PROVINCE)
city_score_app = score_app_for(DivisionLevel.CITY)

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
    _show(cfg, period, level, as_json, computed_by=None, county=county)
