"""``sunshine standards …``: publish a standards bundle at the province, show the bundle in force on a node.

``standards publish`` (province only) puts a bundle in force and queues it, in the same transaction, for the
province's sync agent to stream down to every city and county. The bundle comes from a JSON file (``--bundle``)
or is built from an item catalogue CSV (``--from-catalogue``) with the seeded calendar years — the province's own
published years and rule parameters of the bundle in force are kept. ``standards show`` works on any node.

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
from federation.config import Config
from federation.errors import ConfigError, ValidationError
from federation.standards import StandardsBundle, bundle_from_catalogue_csv, load_bundle

__all__ = ["standards_app"]

standards_app = typer.Typer(help="统一标准：在省级节点发布标准包，查看节点当前的标准包。", no_args_is_help=True)

Clock = Callable[[], datetime]


def _clock(cfg: Config) -> Clock:
    from federation.timeutil import SimulatedClock, utcnow

    if cfg.simulation.enabled:
        return SimulatedClock(cfg.simulation.start_moment() or utcnow(), cfg.simulation.speed)
    return utcnow


def _engine(cfg: Config) -> Engine:
    """The node's database, which must already be at the newest schema (``sunshine db upgrade``)."""
    from federation.storage.engine import make_engine
    from federation.storage.migrate import current_revision, head_revision

    engine = make_engine(cfg.database_url, echo=cfg.database.echo, sqlite_synchronous=cfg.database.sqlite_synchronous)
    current, head = current_revision(engine), head_revision()
    if current != head:
        engine.dispose()
        raise ConfigError(
            f"数据库结构版本为 {current or '空库'}，不是最新的 {head}；请先执行 sunshine db upgrade",
            current=current,
            head=head,
        )
    return engine


def _current(engine: Engine) -> StandardsBundle | None:
    from federation.storage.standards_store import current_bundle
    from federation.storage.uow import UnitOfWork

    with UnitOfWork(engine, readonly=True) as uow:
        return current_bundle(uow.conn)


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
    and scoring rules."""
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
    scoring = dict(current.scoring_rules) if current is not None else {}
    return dataclasses.replace(bundle, issuer=node, scoring_rules=scoring)


def _calendar_span(bundle: StandardsBundle) -> str:
    years = sorted(y.year for y in bundle.calendar_years)
    return f"{years[0]}–{years[-1]} 年（{len(years)} 个年度）" if years else "无"


@standards_app.command("publish")
def standards_publish(
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
    """在省级节点发布标准包：本节点立即启用，并由同步代理下发到各市、县（同一事务）。"""
    from federation.timeutil import CST, local_date
    from province_center.standards import publish_standards

    if (bundle is None) == (from_catalogue is None):
        raise ValidationError("请用 --bundle 或 --from-catalogue 指定标准包（二选一）")
    if bundle is not None and (version is not None or effective_date is not None):
        raise ValidationError("--version 与 --effective-date 只能与 --from-catalogue 一起使用")
    cfg = setup(config)
    node = cfg.node.division
    clock = _clock(cfg)
    engine = _engine(cfg)
    try:
        if bundle is not None:
            standards, source = load_bundle(bundle), str(bundle)
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
            source = str(from_catalogue)
            if current is not None and _same_content(standards, current):
                typer.echo(f"事项目录与日历与当前标准包 {current.version} 相同，无需发布")
                return
        published = publish_standards(engine, standards, node, clock)
    finally:
        engine.dispose()
    previous = f"，取代 {published.previous}" if published.previous else ""
    calendar = "；工作日历已更新" if published.calendar_changed else ""
    typer.echo(
        f"已发布标准包 {standards.version}（来源 {source}；生效日期 {standards.effective_date}；"
        f"事项 {len(standards.items)} 项；日历 {_calendar_span(standards)}{previous}{calendar}）"
    )
    typer.echo(f"发件箱序号 {published.seq}：同步代理将把它下发到各市、县节点")


@standards_app.command("show")
def standards_show(config: Annotated[Path | None, config_option] = None) -> None:
    """显示本节点当前使用的标准包。"""
    from federation.errors import StandardsNotLoaded

    cfg = setup(config)
    engine = _engine(cfg)
    try:
        current = _current(engine)
    finally:
        engine.dispose()
    if current is None:
        raise StandardsNotLoaded(f"节点 {cfg.node.division} 尚未应用任何标准包", node=cfg.node.division)
    typer.echo(f"当前标准包：{current.version}")
    typer.echo(f"生效日期：{current.effective_date}")
    typer.echo(f"签发机关：{current.issuer}")
    typer.echo(f"事项：{len(current.items)} 项")
    typer.echo(f"日历：{_calendar_span(current)}")
    typer.echo(f"摘要：{current.digest}")
