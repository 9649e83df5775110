"""``sunshine county …``: initialise and serve a county node (the case commands are in ``case_cli``).

``county init`` prepares a data directory (configuration, database at the newest schema, standards bundle) and is
safe to run again. ``county recover --from-parent`` rebuilds a lost or outdated database from the city's copy
(:mod:`county_node.entrypoints.recover_cli`). ``county serve`` runs the HTTP API
(:mod:`county_node.entrypoints.http`) under uvicorn; with ``--port 0`` the system picks a free port, which is
written to ``DATA_DIR/http.port`` once the server is listening and removed when it stops.

Errors are raised as :class:`federation.errors.SunshineError`; ``federation.cli.main`` prints them in Chinese.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import structlog
import typer

from county_node.bootstrap import CountyNode, build_county_node
from county_node.entrypoints.recover_cli import county_recover
from federation.cli import config_option, setup
from federation.config import dump_toml, read_toml_sections
from federation.data import CATALOGUE_CSV, DIVISIONS_CSV
from federation.errors import ConfigError, Conflict, StandardsError, ValidationError
from federation.http_server import serve_http
from federation.identities import DivisionLevel, DivisionRegistry, validate_division_code
from federation.standards import StandardsBundle, bundle_from_catalogue_csv, load_bundle
from federation.storage.engine import make_database_private
from federation.toml_files import make_private, make_private_dir, write_private_file
from security.people_cli import ADMIN_PASSWORD_OPTION, ADMIN_USER_OPTION, init_first_admin

if TYPE_CHECKING:
    pass

__all__ = ["county_app"]

log = structlog.get_logger(__name__)

county_app = typer.Typer(help="县级节点：初始化数据目录、启动接口服务。", no_args_is_help=True)

CONFIG_FILE = "sunshine.toml"
PORT_FILE = "http.port"
DEFAULT_HTTP_PORT = 8122


# -- county init --------------------------------------------------------------------------------------------------


def _default_catalogue() -> Path | None:
    return CATALOGUE_CSV if CATALOGUE_CSV.is_file() else None


def _catalogue_bundle(csv_path: Path) -> StandardsBundle:
    """A bundle built from a catalogue CSV plus the seeded calendar years.

    Its version names its content (a hash of the CSV and the calendar years), so ``init`` run again with the
    same inputs finds the bundle already in force and leaves it alone.
    """
    from federation.calendar_seed import seed_years
    from federation.timeutil import local_date, utcnow

    if not csv_path.is_file():
        raise StandardsError(f"找不到事项目录文件 {csv_path}", path=str(csv_path))
    years = seed_years()
    digest = hashlib.sha256(csv_path.read_bytes())
    digest.update(json.dumps([y.to_dict() for y in years], sort_keys=True, ensure_ascii=False).encode())
    version = f"catalogue-{digest.hexdigest()[:12]}"
    return bundle_from_catalogue_csv(csv_path, version, local_date(utcnow()), years)


def _require_county(division: str, divisions_csv: Path) -> None:
    """The division must be a well-formed, known, county-level code of the province's division list."""
    validate_division_code(division)
    if not divisions_csv.is_file():
        raise ConfigError(f"找不到行政区划表 {divisions_csv}", path=str(divisions_csv))
    known = DivisionRegistry.from_csv(divisions_csv).get(division)  # InvalidDivisionCode when unknown
    if known.level is not DivisionLevel.COUNTY:
        raise ValidationError(
            f"{division}（{known.name}）不是县级区划，县级节点只能用县、市辖区或县级市的代码", division=division
        )


def _init_standards(bundle: Path | None, catalogue: Path | None) -> tuple[StandardsBundle | None, str]:
    """The standards bundle to apply and where it came from (None when no catalogue can be found)."""
    if bundle is not None and catalogue is not None:
        raise ValidationError("--bundle 与 --catalogue 只能指定一个")
    if bundle is not None:
        return load_bundle(bundle), str(bundle)
    csv_path = catalogue or _default_catalogue()
    if csv_path is None:
        return None, ""
    return _catalogue_bundle(csv_path), str(csv_path)


def _init_config(
    config_path: Path, existing: dict[str, dict[str, Any]], *, division: str, name: str | None, http_port: int | None
) -> None:
    """Write the node's configuration: the existing file's values, overridden by what ``init`` was given."""
    data_dir = config_path.parent
    sections: dict[str, dict[str, Any]] = {k: dict(v) for k, v in existing.items()}
    old_node = sections.get("node", {})
    sections["node"] = {
        "division": division,
        "name": old_node.get("name", "") if name is None else name,
        "data_dir": str(data_dir),
    } | {k: v for k, v in old_node.items() if k not in {"division", "name", "data_dir"}}
    sections.setdefault("database", {}).setdefault("url", f"sqlite:///{data_dir / 'node.db'}")
    http = sections.setdefault("http", {})
    http.setdefault("host", "127.0.0.1")
    http["port"] = http_port if http_port is not None else http.get("port", DEFAULT_HTTP_PORT)
    text = dump_toml(
        {k: sections[k] for k in ("node", "database", "http")} | sections,
        "Sunshine 县级节点配置（由 sunshine county init 生成，可手工修改）",
    )
    if existing and config_path.read_text(encoding="utf-8") == text:
        make_private(config_path)  # 0600, also for a file written before
        typer.echo(f"配置文件未变：{config_path}")
        return
    write_private_file(config_path, text)  # 0600
    typer.echo(f"{'已更新' if existing else '已写入'}配置文件：{config_path}")


def _init_database(node: CountyNode, standards: StandardsBundle | None, source: str) -> None:
    """Migrate the node's database to the newest schema and put ``standards`` in force (both idempotent)."""
    from federation.storage.standards_store import current_bundle
    from federation.storage.uow import UnitOfWork
    from migrations.runner import current_revision, upgrade

    before = current_revision(node.engine)
    upgrade(node.engine)
    after = current_revision(node.engine)
    if before == after:
        typer.echo(f"数据库已是最新结构（版本 {after}）")
    else:
        typer.echo(f"数据库已迁移：{before or '空库'} → {after}")
    if standards is None:
        if source == "-":
            typer.echo("未加载本地标准包：节点将使用省级经市级下发的标准包（下发到达前不能受理办件）")
        else:
            typer.echo("未找到默认事项目录，未加载标准包；请用 --bundle 或 --catalogue 指定后再次执行", err=True)
        return
    with UnitOfWork(node.engine, readonly=True) as uow:
        current = current_bundle(uow.conn)
    if current is not None and current.version == standards.version:
        typer.echo(f"标准包 {standards.version} 已在使用，无需重新应用")
        return
    result = node.approval.apply_standards(standards)
    years = sorted(y.year for y in standards.calendar_years)
    span = f"{years[0]}–{years[-1]} 年" if years else "无"
    verb = "已应用" if result.applied else "已在使用"
    typer.echo(f"{verb}标准包 {standards.version}（来源 {source}；事项 {len(standards.items)} 项，日历 {span}）")


@county_app.command("init")
def county_init(
    *,
    division: Annotated[str, typer.Option("--division", help="本县行政区划代码（6 位数字），例如 371122")],
    name: Annotated[str | None, typer.Option("--name", help="节点名称，例如 莒县")] = None,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="数据目录（配置文件与数据库所在）")] = Path("."),
    bundle: Annotated[Path | None, typer.Option("--bundle", help="标准包 JSON 文件")] = None,
    catalogue: Annotated[
        Path | None, typer.Option("--catalogue", help="事项目录 CSV（与 --bundle 二选一；默认使用仓库自带目录）")
    ] = None,
    http_port: Annotated[int | None, typer.Option("--http-port", help=f"接口端口（默认 {DEFAULT_HTTP_PORT}）")] = None,
    divisions: Annotated[
        Path | None, typer.Option("--divisions", help="行政区划表 CSV（code,name,level,parent；默认山东省区划表）")
    ] = None,
    no_standards: Annotated[
        bool, typer.Option("--no-standards", help="不加载本地标准包，等待省级经市级下发（联邦部署）")
    ] = False,
    admin_user: Annotated[str, ADMIN_USER_OPTION] = "admin",
    admin_password_file: Annotated[Path | None, ADMIN_PASSWORD_OPTION] = None,
) -> None:
    """初始化县级节点：创建数据目录与配置文件，把数据库迁移到最新结构，应用标准包。可重复执行。"""
    # validate everything before creating anything
    _require_county(division, divisions or DIVISIONS_CSV)
    if http_port is not None and not 0 <= http_port <= 65535:
        raise ValidationError(f"接口端口 {http_port} 超出范围（0–65535）", port=http_port)
    data_dir = data_dir.expanduser().resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise ValidationError(f"{data_dir} 已存在且不是目录", path=str(data_dir))
    config_path = data_dir / CONFIG_FILE
    existing = read_toml_sections(config_path)
    owner = existing.get("node", {}).get("division", division)
    if owner != division:
        raise Conflict(f"数据目录 {data_dir} 已属于区划 {owner}，不能再初始化为 {division}", path=str(data_dir))
    if no_standards and (bundle is not None or catalogue is not None):
        raise ValidationError("--no-standards 不能与 --bundle 或 --catalogue 同时使用")
    standards, source = (None, "-") if no_standards else _init_standards(bundle, catalogue)

    created = make_private_dir(data_dir)  # 0700
    typer.echo(f"{'已创建' if created else '使用已有'}数据目录：{data_dir}")
    _init_config(config_path, existing, division=division, name=name, http_port=http_port)
    cfg = setup(config_path)
    node = build_county_node(cfg)
    try:
        _init_database(node, standards, source)
        init_first_admin(node.engine, division, admin_user, admin_password_file)
        make_database_private(cfg.database_url)
    finally:
        node.close()
    label = f"{cfg.node.name}（{division}）" if cfg.node.name else division
    typer.echo(f"县级节点 {label} 初始化完成。启动接口服务：sunshine county serve --config {config_path}")


# -- county publish-catalogue ---------------------------------------------------------------------------------------


@county_app.command("publish-catalogue")
def county_publish_catalogue(*, config: Annotated[Path | None, config_option] = None) -> None:
    """向外网节点重新发布事项目录（外网公开流 public_catalogue；标准变更时已自动发布）。需交换管理员登录。"""
    from county_node.entrypoints.cli_node import node_of
    from county_node.entrypoints.cli_people import acting
    from security.access import Permission

    with node_of(config) as node:
        publication = node.publication
        if publication is None:
            raise ConfigError("本县未配置外网节点（[extranet] link），没有外网事项目录可发布")
        with acting(node, Permission.LINK_ADMIN, "发布外网事项目录", "catalogue"):
            bundle = publication.publish_catalogue()
    typer.echo(f"已发布外网事项目录：标准版本 {bundle.version}，事项 {len(bundle.items)} 项（待同步至外网节点）")


# -- county serve -------------------------------------------------------------------------------------------------


@county_app.command("serve")
def county_serve(
    *,
    config: Annotated[Path | None, config_option] = None,
    host: Annotated[str | None, typer.Option("--host", help="监听地址（默认取配置 http.host）")] = None,
    port: Annotated[int | None, typer.Option("--port", help="监听端口（默认取配置 http.port；0 表示自动选择）")] = None,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="记录每个请求")] = False,
    insecure_dev: Annotated[
        bool, typer.Option("--insecure-dev", help="仅限开发：复制链路用明文、不验证证书与签名（每次启动都会警告）")
    ] = False,
) -> None:
    """启动县级节点的 HTTP 接口服务（/api/v1，接口文档 /docs），Ctrl-C 或 SIGTERM 干净退出。"""
    from county_node.entrypoints.http import create_app
    from county_node.supervision.runner import start_background
    from security.node import INSECURE_WARNING
    from sync_agent.runtime import GRPC_PORT_FILE, start_ferry_intake, start_receiver

    cfg = setup(config)
    bind_host = host or cfg.http.host
    bind_port = cfg.http.port if port is None else port
    if not 0 <= bind_port <= 65535:
        raise ValidationError(f"接口端口 {bind_port} 超出范围（0–65535）", port=bind_port)
    data_dir = Path(cfg.node.data_dir).expanduser().resolve()
    if not data_dir.is_dir():
        raise ConfigError(f"数据目录 {data_dir} 不存在，请先执行 sunshine county init", path=str(data_dir))
    node = build_county_node(cfg)
    receiver = None
    intake = None
    background = None
    grpc_port_file = data_dir / GRPC_PORT_FILE
    try:
        if cfg.replication.listen or cfg.replication.ferry_in:  # standards, orders and scores come down
            security = node.link_security(insecure_dev=insecure_dev)
            if insecure_dev:
                typer.echo(f"警告：{INSECURE_WARNING}", err=True)
            if cfg.replication.listen:
                receiver = start_receiver(
                    cfg, node.engine, node.receiver_appliers(), relay=False, port_file=grpc_port_file, security=security
                )
                typer.echo(f"县级节点复制接收服务已启动：{receiver.target}")
            intake = start_ferry_intake(cfg, node.engine, node.receiver_appliers(), relay=False, security=security)
            if intake is not None:
                typer.echo(f"县级节点摆渡接收已启动：{cfg.replication.ferry_in}")
        background = start_background(
            cfg,
            node.supervision,
            node.engine,
            node.clock,
            sms_token=node.sms_token(),
            resolvers=node.address_resolvers(),
        )
        serve_http(
            create_app(node),
            bind_host,
            bind_port,
            data_dir / PORT_FILE,
            label="县级节点接口",
            say=typer.echo,
            access_log=access_log,
        )
    finally:
        if background is not None:
            background.stop()
        if intake is not None:
            intake.stop()
        if receiver is not None:
            receiver.stop(grace=2.0)
            grpc_port_file.unlink(missing_ok=True)
        node.close()
    log.info("http.stopped")
    typer.echo("县级节点接口已停止")


# -- county recover (county_node.entrypoints.recover_cli) -----------------------------------------------------------

county_app.command("recover")(county_recover)
