"""``sunshine city …`` / ``sunshine province …``: initialise and serve a receiving node.

A city or province node is, today, its database and its replication receiver (the inspectors' APIs come with
the scoring issue). ``init`` writes the configuration and migrates the database (safe to run again); ``serve``
runs the receiver on ``replication.listen`` until Ctrl-C or SIGTERM, writing the bound port to
``DATA_DIR/grpc.port`` (so ``host:0`` works) and removing it when it stops.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import structlog
import typer

from federation.cli import config_option, setup
from federation.config import dump_toml, read_toml_sections, split_address
from federation.data import DIVISIONS_CSV
from federation.errors import ConfigError, Conflict, ValidationError
from federation.identities import DivisionLevel, DivisionRegistry, level_of, validate_division_code
from sync_agent.appliers import AppliersByType

__all__ = ["CONFIG_FILE", "init_node", "receiver_node_app", "serve_node"]

log = structlog.get_logger(__name__)

CONFIG_FILE = "sunshine.toml"
_LEVEL_NAMES = {DivisionLevel.CITY: "市级", DivisionLevel.PROVINCE: "省级", DivisionLevel.COUNTY: "县级"}


def _require_level(division: str, level: DivisionLevel, divisions_csv: Path) -> str:
    validate_division_code(division)
    if not divisions_csv.is_file():
        raise ConfigError(f"找不到行政区划表 {divisions_csv}", path=str(divisions_csv))
    known = DivisionRegistry.from_csv(divisions_csv).get(division)  # InvalidDivisionCode when unknown
    if known.level is not level:
        raise ValidationError(
            f"{division}（{known.name}）不是{_LEVEL_NAMES[level]}区划，不能初始化为{_LEVEL_NAMES[level]}节点",
            division=division,
        )
    return known.name


def init_node(
    level: DivisionLevel, division: str, data_dir: Path, name: str | None, listen: str, divisions: Path
) -> None:
    """Write (or update) the node's configuration and migrate its database."""
    from federation.storage.engine import make_engine
    from federation.storage.migrate import current_revision, upgrade

    title = _LEVEL_NAMES[level]
    known_name = _require_level(division, level, divisions)
    split_address(listen, "--listen")
    data_dir = data_dir.expanduser().resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise ValidationError(f"{data_dir} 已存在且不是目录", path=str(data_dir))
    config_path = data_dir / CONFIG_FILE
    sections = read_toml_sections(config_path)
    owner = sections.get("node", {}).get("division", division)
    if owner != division:
        raise Conflict(f"数据目录 {data_dir} 已属于区划 {owner}，不能再初始化为 {division}", path=str(data_dir))
    data_dir.mkdir(parents=True, exist_ok=True)
    node = {**sections.get("node", {}), "division": division, "data_dir": str(data_dir)}
    node["name"] = name or node.get("name") or known_name
    sections["node"] = node
    sections.setdefault("database", {}).setdefault("url", f"sqlite:///{data_dir / 'node.db'}")
    sections.setdefault("replication", {})["listen"] = listen
    text = dump_toml(sections, f"Sunshine {title}节点配置（由 sunshine {level.value} init 生成，可手工修改）")
    tmp = config_path.with_name(config_path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, config_path)
    cfg = setup(config_path)
    engine = make_engine(cfg.database_url)
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    typer.echo(f"数据库：{before or '空库'} → {after}")
    typer.echo(
        f"{title}节点 {cfg.node.name}（{division}）初始化完成：sunshine {level.value} serve --config {config_path}"
    )


def serve_node(level: DivisionLevel, appliers: AppliersByType, *, relay: bool, config: Path | None) -> None:
    """Run the node's replication receiver until SIGINT/SIGTERM."""
    from sync_agent.runtime import GRPC_PORT_FILE, engine_for, start_receiver

    title = _LEVEL_NAMES[level]
    cfg = setup(config)
    if level_of(cfg.node.division) is not level:
        raise ConfigError(f"配置中的区划 {cfg.node.division} 不是{title}节点", division=cfg.node.division)
    if not cfg.replication.listen:
        raise ConfigError("未配置复制接收地址 replication.listen", node=cfg.node.division)
    port_file = Path(cfg.node.data_dir).expanduser().resolve() / GRPC_PORT_FILE
    engine = engine_for(cfg)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, Any] = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        running = start_receiver(cfg, engine, appliers, relay=relay, port_file=port_file)
        typer.echo(f"{title}节点 {cfg.node.division} 复制接收服务已启动：{running.target}；按 Ctrl-C 停止")
        stop.wait()
        running.stop(grace=2.0)
    finally:
        port_file.unlink(missing_ok=True)
        for s, handler in previous.items():
            signal.signal(s, handler)
        engine.dispose()
    typer.echo(f"{title}节点复制接收服务已停止")


def receiver_node_app(
    level: DivisionLevel, appliers: Callable[[], AppliersByType], *, relay: bool, help_text: str
) -> typer.Typer:
    """The ``init`` and ``serve`` commands of a receiving node of ``level``."""
    app = typer.Typer(help=help_text, no_args_is_help=True)

    @app.command("init")
    def init(
        *,
        division: Annotated[str, typer.Option("--division", help="本级行政区划代码（6 位数字）")],
        data_dir: Annotated[Path, typer.Option("--data-dir", help="数据目录（配置文件与数据库所在）")] = Path("."),
        name: Annotated[str | None, typer.Option("--name", help="节点名称（默认取区划名称）")] = None,
        listen: Annotated[str, typer.Option("--listen", help="复制接收服务地址 主机:端口")] = "127.0.0.1:0",
        divisions: Annotated[Path | None, typer.Option("--divisions", help="行政区划表 CSV")] = None,
    ) -> None:
        """初始化节点：写配置文件、把数据库迁移到最新结构。可重复执行。"""
        init_node(level, division, data_dir, name, listen, divisions or DIVISIONS_CSV)

    @app.command("serve")
    def serve(config: Annotated[Path | None, config_option] = None) -> None:
        """启动本节点的复制接收服务（gRPC，含健康检查与反射），Ctrl-C 或 SIGTERM 干净退出。"""
        serve_node(level, appliers(), relay=relay, config=config)

    return app
