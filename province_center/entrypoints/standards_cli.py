"""``sunshine province standards …`` (alias ``sunshine standards …``): build, publish and show standards bundles.

``standards build DIR`` reads a bundle source directory (``bundle.toml``, ``catalogue.csv``, ``calendar/*.toml``,
``rule_parameters.toml``, ``scoring.toml``; see ``docs/standards.md``), checks it as every node will and prints
its digest (``-o`` writes the bundle JSON). ``standards publish`` (province only) puts a bundle in place and
queues it, in the same transaction, for the province's sync agent to stream down to every city and county. The
bundle comes from a source directory (``DIR``), a JSON file (``--bundle``) or is built from an item catalogue
CSV (``--from-catalogue``) with the seeded calendar years — the province's own published years and rule
parameters of the bundle held are kept. ``standards show`` works on any node.

Errors are raised as :class:`federation.errors.SunshineError`; ``federation.cli.main`` prints them in Chinese.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from federation.cli import config_option, setup
from federation.errors import ValidationError
from federation.identities import DivisionLevel, level_of
from federation.standards import StandardsBundle, bundle_from_catalogue_csv, load_bundle
from province_center.standards import publication_validators

__all__ = ["standards_app"]

standards_app = typer.Typer(help="统一标准：在省级节点发布标准包，查看节点当前的标准包。", no_args_is_help=True)

Clock = Callable[[], datetime]


def _current(engine: Engine, on: date | None = None) -> StandardsBundle | None:
    """The bundle in force on ``on``; without it, the newest held (see ``federation.storage.standards_store``)."""
    from federation.storage.standards_store import current_bundle
    from federation.storage.uow import UnitOfWork

    with UnitOfWork(engine, readonly=True) as uow:
        return current_bundle(uow.conn, on)


def _boundary_summary(bundle: StandardsBundle) -> str:
    """边界策略：上行 11 类记录、下行 4 类记录 (docs/boundary.md)."""
    from federation.boundary import DIRECTIONS

    policy = bundle.boundary_policy
    counts = "、".join(
        f"{'上行' if d == 'up' else '下行'} {len(policy.directions.get(d, {}))} 类记录" for d in DIRECTIONS
    )
    return f"边界策略{'' if bundle.boundary else '（内置默认）'}：{counts}"


def _same_content(a: StandardsBundle, b: StandardsBundle) -> bool:
    """Whether two bundles differ in nothing but their version and effective date."""
    ignore = {"version", "effective_date"}
    return {k: v for k, v in a.to_dict().items() if k not in ignore} == {
        k: v for k, v in b.to_dict().items() if k not in ignore
    }


def _catalogue_bundle(
    csv_path: Path, version: str, effective: date, node: str, current: StandardsBundle | None
) -> StandardsBundle:
    """A bundle from a catalogue CSV and the seeded calendar years, keeping what the province already published:
    its own calendar years (a year the seed lacks, or a revision at least the seed's) and its rule parameters
    and scoring rules, and its boundary policy."""
    from federation.calendar_seed import seed_years

    years = {y.year: y for y in seed_years()}
    if current is not None:
        for y in current.calendar_years:
            seeded = years.get(y.year)
            if seeded is None or y.revision >= seeded.revision:
                years[y.year] = y
    bundle = bundle_from_catalogue_csv(
        csv_path,
        version,
        effective,
        sorted(years.values(), key=lambda y: y.year),
        dict(current.rule_parameters) if current is not None else None,
    )
    if current is not None and current.scoring_rules:  # the province's own scoring rules are kept
        bundle = dataclasses.replace(bundle, scoring_rules=dict(current.scoring_rules))
    if current is not None and current.boundary:  # and its own boundary policy
        bundle = dataclasses.replace(bundle, boundary=dict(current.boundary))
    return dataclasses.replace(bundle, issuer=node)


def _calendar_span(bundle: StandardsBundle) -> str:
    years = sorted(y.year for y in bundle.calendar_years)
    return f"{years[0]}–{years[-1]} 年（{len(years)} 个年度）" if years else "无"


def _from_source(directory: Path) -> StandardsBundle:
    from federation.standards import validate_bundle
    from federation.standards_source import load_bundle_source

    built = load_bundle_source(directory)
    validate_bundle(built, publication_validators())
    return built


@standards_app.command("build")
def standards_build(
    source: Annotated[Path, typer.Argument(help="标准包源目录（含 bundle.toml）", file_okay=False)],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="把生成的标准包 JSON 写入此文件", dir_okay=False)
    ] = None,
) -> None:
    """校验标准包源目录并生成标准包：显示版本、生效日期、事项与日历，以及摘要（不连接数据库）。"""
    built = _from_source(source)
    if output is not None:
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(built.to_json() + "\n", encoding="utf-8")
        tmp.replace(output)
    typer.echo(
        f"标准包 {built.version} 校验通过（签发机关 {built.issuer}；生效日期 {built.effective_date}；"
        f"事项 {len(built.items)} 项；日历 {_calendar_span(built)}；"
        f"规则参数 {len(built.rule_parameters)} 项；评分规则{'已包含' if built.scoring_rules else '未包含'}；"
        f"{_boundary_summary(built)}）"
    )
    if output is not None:
        typer.echo(f"已写入 {output}")
    typer.echo(f"摘要：{built.digest}")


@standards_app.command("publish")
def standards_publish(
    source: Annotated[
        Path | None, typer.Argument(help="标准包源目录（与 --bundle、--from-catalogue 三选一）", file_okay=False)
    ] = None,
    *,
    bundle: Annotated[Path | None, typer.Option("--bundle", help="标准包 JSON 文件", dir_okay=False)] = None,
    from_catalogue: Annotated[
        Path | None,
        typer.Option("--from-catalogue", help="由事项目录 CSV 生成标准包（与 --bundle 二选一）", dir_okay=False),
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="标准包版本号（仅 --from-catalogue；默认 年.月.日.时分秒）")
    ] = None,
    effective_date: Annotated[
        str | None, typer.Option("--effective-date", help="生效日期 YYYY-MM-DD（仅 --from-catalogue；默认今天）")
    ] = None,
    config: Annotated[Path | None, config_option] = None,
) -> None:
    """在省级节点发布标准包：本节点保存并自生效日期起启用，同一事务中排入发件箱，由同步代理下发到各市、县。"""
    from federation.timeutil import CST, local_date
    from migrations.runner import require_head
    from province_center.bootstrap import build_province_node

    if sum(x is not None for x in (source, bundle, from_catalogue)) != 1:
        raise ValidationError("请指定标准包来源：源目录、--bundle 或 --from-catalogue（三者选一）")
    if from_catalogue is None and (version is not None or effective_date is not None):
        raise ValidationError("--version 与 --effective-date 只能与 --from-catalogue 一起使用")
    cfg = setup(config)
    if level_of(cfg.node.division) is not DivisionLevel.PROVINCE:
        raise ValidationError(
            f"只有省级节点可以发布标准包，本节点 {cfg.node.division} 不是省级", node=cfg.node.division
        )
    province = build_province_node(cfg)
    node, clock, engine = province.division, province.clock, province.engine
    try:
        require_head(engine)
        if source is not None:
            standards, origin = _from_source(source), str(source)
        elif bundle is not None:
            standards, origin = load_bundle(bundle), str(bundle)
        else:
            assert from_catalogue is not None
            now = clock()
            try:
                effective = date.fromisoformat(effective_date) if effective_date else local_date(now)
            except ValueError:
                raise ValidationError(f"生效日期“{effective_date}”格式错误，应为 YYYY-MM-DD") from None
            current = _current(engine)
            standards = _catalogue_bundle(
                from_catalogue, version or now.astimezone(CST).strftime("%Y.%m.%d.%H%M%S"), effective, node, current
            )
            origin = str(from_catalogue)
            if current is not None and _same_content(standards, current):
                typer.echo(f"事项目录与日历与当前标准包 {current.version} 相同，无需发布")
                return
        published = province.publish(standards)
    finally:
        province.close()
    previous = f"，取代 {published.previous}" if published.previous else ""
    calendar = "；工作日历已更新" if published.calendar_changed else ""
    typer.echo(
        f"已发布标准包 {standards.version}（来源 {origin}；生效日期 {standards.effective_date}；"
        f"事项 {len(standards.items)} 项；日历 {_calendar_span(standards)}{previous}{calendar}）"
    )
    typer.echo(f"发件箱序号 {published.seq}：同步代理将把它下发到各市、县节点")


@standards_app.command("show")
def standards_show(config: Annotated[Path | None, config_option] = None) -> None:
    """显示本节点当前使用的标准包。"""
    from federation.errors import StandardsNotLoaded
    from federation.nodes import build_node
    from federation.timeutil import local_date
    from migrations.runner import require_head

    cfg = setup(config)
    node = build_node(cfg)
    try:
        require_head(node.engine)
        current = _current(node.engine, local_date(node.clock()))
        newest = _current(node.engine)
    finally:
        node.close()
    if current is None or newest is None:
        raise StandardsNotLoaded(f"节点 {cfg.node.division} 尚未应用任何标准包", node=cfg.node.division)
    typer.echo(f"当前标准包：{current.version}")
    typer.echo(f"生效日期：{current.effective_date}")
    typer.echo(f"签发机关：{current.issuer}")
    typer.echo(f"事项：{len(current.items)} 项")
    typer.echo(f"日历：{_calendar_span(current)}")
    typer.echo(_boundary_summary(current))
    typer.echo(f"摘要：{current.digest}")
    if newest.version != current.version:
        typer.echo(f"待生效：{newest.version}（生效日期 {newest.effective_date}；摘要 {newest.digest}）")
