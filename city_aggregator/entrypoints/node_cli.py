"""``sunshine city init|serve`` / ``sunshine province init|serve``: initialise and serve an upper-tier node.

A city or province node is its database, its replication receiver and the inspectors' HTTP API, built by the
tier's composition root (``city_aggregator.bootstrap`` / ``province_center.bootstrap``). ``init`` writes the
configuration (``[node]``, ``[database]``, ``[replication] listen``, ``[http]`` host and port) and migrates the
database (safe to run again); ``serve`` runs the receiver on ``replication.listen`` and the HTTP API under uvicorn
on ``http.host:http.port`` in the same process until Ctrl-C or SIGTERM, writing the bound ports to
``DATA_DIR/grpc.port`` and ``DATA_DIR/http.port`` (so port 0 works) and removing them when it stops.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import structlog
import typer

from federation.cli import config_option, setup
from federation.config import Config, dump_toml, read_toml_sections, split_address
from federation.data import DIVISIONS_CSV
from federation.errors import ConfigError, Conflict, ValidationError
from federation.identities import DivisionLevel, DivisionRegistry, validate_division_code
from federation.storage.engine import make_database_private
from federation.toml_files import make_private_dir, write_private_file
from security.node import INSECURE_WARNING
from security.people_cli import ADMIN_PASSWORD_OPTION, ADMIN_USER_OPTION, init_first_admin

if TYPE_CHECKING:
    from city_aggregator.bootstrap import CityNode

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_HTTP_PORTS",
    "HTTP_PORT_FILE",
    "NodeFactory",
    "init_node",
    "receiver_node_app",
    "serve_node",
]

log = structlog.get_logger(__name__)

CONFIG_FILE = "sunshine.toml"
INSECURE_OPTION = typer.Option("--insecure-dev", help="仅限开发：复制链路用明文、不验证证书与签名（每次启动都会警告）")
_LEVEL_NAMES = {DivisionLevel.CITY: "市级", DivisionLevel.PROVINCE: "省级", DivisionLevel.COUNTY: "县级"}
DEFAULT_HTTP_PORTS = {DivisionLevel.CITY: 8100, DivisionLevel.PROVINCE: 8000}
HTTP_PORT_FILE = "http.port"  # in the node's data directory: the HTTP API's bound port

NodeFactory: TypeAlias = Callable[[Config], "CityNode"]
"""The tier's composition root: the node a configuration describes (``build_city_node``, ``build_province_node``)."""


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


def _migrate(cfg: Config, admin_user: str, admin_password_file: Path | None) -> None:
    """Migrate the node's database to the newest schema and create its first admin (both idempotent)."""
    from federation.storage.engine import engine_from_config
    from migrations.runner import current_revision, upgrade

    engine = engine_from_config(cfg)
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
        typer.echo(f"数据库：{before or '空库'} → {after}")
        init_first_admin(engine, cfg.node.division, admin_user, admin_password_file)
    finally:
        engine.dispose()
    make_database_private(cfg.database_url)


def init_node(
    level: DivisionLevel,
    division: str,
    data_dir: Path,
    name: str | None,
    listen: str,
    divisions: Path,
    *,
    http_port: int | None = None,
    enrol_listen: str = "127.0.0.1:0",
    suite: str = "ed25519",
    admin_user: str = "admin",
    admin_password_file: Path | None = None,
) -> None:
    """Write (or update) the node's configuration and migrate its database. ``http_port``: the inspectors' API port
    (None keeps the configured one, else the level's default; 0: any free port at start-up). ``enrol_listen``: the
    port its children enrol at. The province also creates the federation's root CA (``suite``: the signature suite
    its own key uses; the standards bundle names the federation's) the first time."""
    title = _LEVEL_NAMES[level]
    known_name = _require_level(division, level, divisions)
    split_address(listen, "--listen")
    if http_port is not None and not 0 <= http_port <= 65535:
        raise ValidationError(f"接口端口 {http_port} 超出范围（0–65535）", port=http_port)
    data_dir = data_dir.expanduser().resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise ValidationError(f"{data_dir} 已存在且不是目录", path=str(data_dir))
    config_path = data_dir / CONFIG_FILE
    sections = read_toml_sections(config_path)
    owner = sections.get("node", {}).get("division", division)
    if owner != division:
        raise Conflict(f"数据目录 {data_dir} 已属于区划 {owner}，不能再初始化为 {division}", path=str(data_dir))
    make_private_dir(data_dir)  # 0700
    node = {**sections.get("node", {}), "division": division, "data_dir": str(data_dir)}
    node["name"] = name or node.get("name") or known_name
    sections["node"] = node
    sections.setdefault("database", {}).setdefault("url", f"sqlite:///{data_dir / 'node.db'}")
    sections.setdefault("replication", {})["listen"] = listen
    split_address(enrol_listen, "--enrol-listen")
    sections.setdefault("pki", {})["enrol_listen"] = enrol_listen
    http = sections.setdefault("http", {})
    http.setdefault("host", "127.0.0.1")
    http["port"] = http_port if http_port is not None else http.get("port", DEFAULT_HTTP_PORTS[level])
    text = dump_toml(sections, f"Sunshine {title}节点配置（由 sunshine {level.value} init 生成，可手工修改）")
    write_private_file(config_path, text)  # 0600
    cfg = setup(config_path)
    _migrate(cfg, admin_user, admin_password_file)
    if level is DivisionLevel.PROVINCE:
        from security.node import create_federation_root
        from security.pki import fingerprint

        root = create_federation_root(cfg, suite=suite)
        if root is not None:
            typer.echo(f"已创建联邦根证书（sha256:{fingerprint(root.certificate)}），私钥保存在密钥库中")
    else:
        typer.echo(f"下一步：在上级执行 sunshine admin enrol --division {division}，再在本节点执行 sunshine admin join")
    typer.echo(
        f"{title}节点 {cfg.node.name}（{division}）初始化完成：sunshine {level.value} serve --config {config_path}"
    )


def serve_node(
    level: DivisionLevel,
    build: NodeFactory,
    *,
    relay: bool,
    config: Path | None,
    http_host: str | None = None,
    http_port: int | None = None,
    insecure_dev: bool = False,
) -> None:
    """Run the node's replication receiver (mutual TLS, signatures checked; with its CA, the enrolment port for
    its children) and its HTTP API on ``http.host:http.port`` (``http_host`` / ``http_port`` override them) until
    SIGINT/SIGTERM; the node is built by its tier's root (``build``)."""
    from sync_agent.runtime import ENROL_PORT_FILE, GRPC_PORT_FILE, start_ferry_intake, start_receiver

    title = _LEVEL_NAMES[level]
    cfg = setup(config)
    if not cfg.replication.listen:
        raise ConfigError("未配置复制接收地址 replication.listen", node=cfg.node.division)
    bind_host = http_host or cfg.http.host
    bind_port = cfg.http.port if http_port is None else http_port
    if not 0 <= bind_port <= 65535:
        raise ValidationError(f"接口端口 {bind_port} 超出范围（0–65535）", port=bind_port)
    data_dir = Path(cfg.node.data_dir).expanduser().resolve()
    port_file = data_dir / GRPC_PORT_FILE
    node = build(cfg)  # refuses a configuration of another level
    enrol_file = data_dir / ENROL_PORT_FILE
    try:
        security = node.link_security(insecure_dev=insecure_dev)
        if insecure_dev:
            typer.echo(f"警告：{INSECURE_WARNING}", err=True)
        running = start_receiver(
            cfg,
            node.engine,
            node.receiver_appliers(),
            relay=relay,
            port_file=port_file,
            security=security,
            extra=node.enrolment_services() if security is not None else (),
            enrol_port_file=enrol_file,
        )
        intake = start_ferry_intake(cfg, node.engine, node.receiver_appliers(), relay=relay, security=security)
        app = node.http_app()
        typer.echo(f"{title}节点 {cfg.node.division} 复制接收服务已启动：{running.target}")
        if intake is not None:
            typer.echo(f"{title}节点摆渡接收已启动：{cfg.replication.ferry_in}")
        try:
            _run_http(app, bind_host, bind_port, data_dir / HTTP_PORT_FILE, title=title)
        finally:
            if intake is not None:
                intake.stop()
            running.stop(grace=2.0)
    finally:
        port_file.unlink(missing_ok=True)
        enrol_file.unlink(missing_ok=True)
        node.close()
    typer.echo(f"{title}节点复制接收服务已停止")


# -- the HTTP API under uvicorn (as ``sunshine county serve`` runs it) ------------------------------------------------


def _run_http(app: Any, host: str, port: int, port_file: Path, *, title: str) -> None:
    """Serve ``app`` in this thread until SIGINT/SIGTERM, which end it cleanly (exit status 0)."""
    from federation.http_server import serve_http

    serve_http(app, host, port, port_file, label=f"{title}节点监察接口", say=typer.echo)
    log.info("http.stopped")
    typer.echo(f"{title}节点监察接口已停止")


def receiver_node_app(level: DivisionLevel, build: NodeFactory, *, relay: bool, help_text: str) -> typer.Typer:
    """The ``init`` and ``serve`` commands of an upper-tier node of ``level``, built by ``build``."""
    app = typer.Typer(help=help_text, no_args_is_help=True)

    @app.command("init")
    def init(
        *,
        division: Annotated[str, typer.Option("--division", help="本级行政区划代码（6 位数字）")],
        data_dir: Annotated[Path, typer.Option("--data-dir", help="数据目录（配置文件与数据库所在）")] = Path("."),
        name: Annotated[str | None, typer.Option("--name", help="节点名称（默认取区划名称）")] = None,
        listen: Annotated[str, typer.Option("--listen", help="复制接收服务地址 主机:端口")] = "127.0.0.1:0",
        divisions: Annotated[Path | None, typer.Option("--divisions", help="行政区划表 CSV")] = None,
        http_port: Annotated[
            int | None,
            typer.Option("--http-port", help="监察接口端口（市级默认 8100，省级默认 8000；0 表示启动时自动选择）"),
        ] = None,
        enrol_listen: Annotated[
            str, typer.Option("--enrol-listen", help="下级节点登记端口 主机:端口（0 表示启动时自动选择）")
        ] = "127.0.0.1:0",
        suite: Annotated[
            str, typer.Option("--suite", help="省级：本节点签名算法 ed25519（默认）或 sm2（国密）")
        ] = "ed25519",
        admin_user: Annotated[str, ADMIN_USER_OPTION] = "admin",
        admin_password_file: Annotated[Path | None, ADMIN_PASSWORD_OPTION] = None,
    ) -> None:
        """初始化节点：写配置文件、把数据库迁移到最新结构；省级节点首次初始化时创建联邦根证书。可重复执行。"""
        init_node(
            level,
            division,
            data_dir,
            name,
            listen,
            divisions or DIVISIONS_CSV,
            http_port=http_port,
            enrol_listen=enrol_listen,
            suite=suite,
            admin_user=admin_user,
            admin_password_file=admin_password_file,
        )

    @app.command("serve")
    def serve(
        config: Annotated[Path | None, config_option] = None,
        http_host: Annotated[
            str | None, typer.Option("--http-host", help="监察接口监听地址（默认取配置 http.host）")
        ] = None,
        http_port: Annotated[
            int | None, typer.Option("--http-port", help="监察接口端口（默认取配置 http.port；0 表示自动选择）")
        ] = None,
        insecure_dev: Annotated[bool, INSECURE_OPTION] = False,
    ) -> None:
        """启动本节点的复制接收服务（gRPC 双向 TLS，含健康检查与反射；持有下级 CA 时另开登记端口）与监察接口
        （HTTP /api/v1，文档 /docs），Ctrl-C 或 SIGTERM 干净退出。"""
        serve_node(
            level,
            build,
            relay=relay,
            config=config,
            http_host=http_host,
            http_port=http_port,
            insecure_dev=insecure_dev,
        )

    return app
