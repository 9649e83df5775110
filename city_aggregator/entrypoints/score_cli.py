"""``sunshine province score …`` / ``sunshine city score …``: scoring runs and rankings.

At the province (scope = the province's two digits) and at a city (scope = its four digits, scores kept at the
city): ``run`` computes and stores the scores of the periods asked for, ``show`` prints a ranking, ``explain``
lists every indicator, deduction and bonus of one county with the records behind it. (``sunshine score show``,
on any node, is the county's: ``county_node.entrypoints.score_cli``.)

Errors are raised as :class:`federation.errors.SunshineError`; ``federation.cli.main`` prints them in Chinese.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from city_aggregator.entrypoints.node_cli import NodeFactory
from city_aggregator.scoring.domain import left_out
from city_aggregator.scoring.explain import RECORD_LABELS
from county_node.entrypoints.score_cli import LEVEL_LABELS, show_scores
from federation.cli import at_moment, config_option, setup
from federation.errors import ConfigError, ValidationError
from federation.identities import DivisionLevel, level_of

if TYPE_CHECKING:
    from city_aggregator.bootstrap import CityNode

__all__ = ["score_app_for"]


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
    measures = b.get("measures", {})
    counted = (
        f"受理 {measures['accepted']} 件，审批决定 {data['cases']} 件"
        if "accepted" in measures
        else f"办结 {data['cases']} 件"
    )
    lines = [
        f"{data['county']} {data['period']} 考核评分 {data['score']} 分（{rank}；{counted}；"
        f"计算节点 {data['computed_by']}，规则版本 {data['rules_version']}）",
        f"指标得分 {b['weighted']}，扣分 {b['deductions_total']}，加分 {b['bonuses_total']}",
    ]
    if any(i["points"] is None for i in b["indicators"]):
        lines.append(
            f"（样本不足的指标不计分：已计指标权重 {b['measured_weight']}，得分 {b['measured_points']}，"
            f"折算为百分制 {b['weighted']}）"
        )
    small = left_out(b)
    lines.append("指标：")
    for i in b["indicators"]:
        if i["points"] is None:
            lines.append(f"  {i['name']}：{small[i['id']]}，不计分（权重 {i['weight']} 分）")
            continue
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
        if d["points"] is None:
            lines.append(f"  {d['name']}：{d['count']} 张，{small['deductions']}，不扣分")
        else:
            lines.append(f"  {d['name']}：{d['count']} 张 → {d['points']} 分")
    lines.append("加分：")
    for x in b["bonuses"]:
        if x["points"] is None:
            lines.append(f"  {x['name']}：{x['count']} / {x['of']} 件，{small['bonuses']}，不加分")
        else:
            lines.append(f"  {x['name']}：{x['count']} / {x['of']} 件 → +{x['points']} 分")
    lines.append("依据记录：")
    for key, label in RECORD_LABELS.items():
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


def score_app_for(level: DivisionLevel, build: NodeFactory) -> typer.Typer:
    """The ``score`` commands of a province or city node (``build``: its tier's composition root)."""
    where = "全省" if level is DivisionLevel.PROVINCE else "本市所辖"
    node_level, title = level, "省级" if level is DivisionLevel.PROVINCE else "市级"
    app = typer.Typer(
        help=f"考核评分：计算{where}各县（市、区）、部门、窗口的评分，查看排名与扣分依据。", no_args_is_help=True
    )

    @contextmanager
    def opened(config: Path | None) -> Iterator[CityNode]:
        """The node (refused when it is not of ``level``), its database at the newest schema."""
        from migrations.runner import require_head

        node = build(setup(config))
        try:
            require_head(node.engine)
            yield node
        finally:
            node.close()

    @app.command("run")
    def run(
        *,
        period: Annotated[
            list[str] | None, typer.Option("--period", help="考核周期：2026-10、2026-Q4 或 2026，可重复")
        ] = None,
        year: Annotated[int | None, typer.Option("--year", help="整年：12 个月、4 个季度和全年")] = None,
        at: Annotated[
            str | None,
            typer.Option(
                "--at",
                help="按指定时刻计算（ISO 8601，带时区；未到答复、回访时限的投诉与差评不计；默认节点时钟的当前时间）",
            ),
        ] = None,
        config: Annotated[Path | None, config_option] = None,
    ) -> None:
        """计算并保存考核评分（省级节点同时下发到各市、县）。"""
        from city_aggregator.inspection.trend_store import refresh_trend_months
        from city_aggregator.scoring.service import compute_scores, scope_of
        from federation.scoring_rules import parse_period

        periods = _periods(period, year)
        moment = None if at is None else at_moment(at)
        with opened(config) as node:
            now = moment or node.clock()
            result = compute_scores(
                node.engine, node=node.division, scope=scope_of(node.division), periods=periods, now=now
            )
            # the same months' figures for the inspectors' trends and monthly report (月度趋势), from the same replicas
            months = sorted({m for p in result.periods for m in parse_period(p).months})
            counted = refresh_trend_months(node.engine, scope=result.scope, months=months, now=now)
        typer.echo(
            f"已完成考核评分：范围 {result.scope}，规则版本 {result.rules_version}，周期 {len(result.periods)} 个"
            f"（{result.periods[0]} … {result.periods[-1]}）"
        )
        for lv in ("county", "department", "window"):
            typer.echo(f"  {LEVEL_LABELS[lv]}：评分 {result.subjects[lv]} 项，参与排名 {result.ranked[lv]} 项")
        typer.echo(f"输入摘要 {result.input_digest}")
        typer.echo(f"已统计月度趋势：{len(months)} 个月，{counted} 条县（市、区）月度数据")
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
        if level_of(cfg.node.division) is not node_level:
            raise ConfigError(f"配置中的区划 {cfg.node.division} 不是{title}节点", division=cfg.node.division)
        show_scores(cfg, period, level, as_json, computed_by=cfg.node.division, county=None)

    @app.command("explain")
    def explain(
        county: Annotated[str, typer.Argument(help="县级区划代码，如 371122")],
        period: Annotated[str, typer.Argument(help="考核周期：2026-10、2026-Q4 或 2026")],
        as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
        config: Annotated[Path | None, config_option] = None,
    ) -> None:
        """逐项说明一个县的评分：各指标、每项扣分与加分及其依据记录，并与保存的评分核对。"""
        from city_aggregator.scoring.explain import explain_score

        with opened(config) as node:
            explanation = explain_score(node.engine, node=node.division, county=county, period=period, now=node.clock())
        data = explanation.to_dict()
        if as_json:
            typer.echo(json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1))
            return
        for line in _explain_lines(data):
            typer.echo(line)

    return app
