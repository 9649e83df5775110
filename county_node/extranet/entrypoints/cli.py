"""``sunshine extranet …``: initialise and serve a county's extranet node (外网节点, the public portal).

``extranet init`` prepares a data directory for node ``371122-ext`` (configuration, database at the newest schema)
and is safe to run again. ``extranet serve`` runs, in one process: the portal (:mod:`.portal_http`) under uvicorn
in the foreground (port in ``DATA_DIR/http.port``), the replication receiver the county's agent sends the public
stream to (``replication.listen``; port in ``DATA_DIR/grpc.port``) and the node's agent, whose one link carries
the node's own stream — applications, complaints, ratings — to the county (``replication.upstream``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer

from county_node.extranet.bootstrap import ExtranetNode, build_extranet_node
from federation.cli import config_option, setup
from federation.config import Config, dump_toml, read_toml_sections, split_address
from federation.data import DIVISIONS_CSV
from federation.errors import ConfigError, Conflict, ValidationError
from federation.identities import DivisionLevel, DivisionRegistry, extranet_of, validate_division_code
from federation.storage.engine import make_database_private
from federation.toml_files import make_private, make_private_dir, write_private_file

__all__ = ["extranet_app"]

log = structlog.get_logger(__name__)

extranet_app = typer.Typer(help="外网节点（政务服务网上办事门户）：初始化数据目录、启动服务。", no_args_is_help=True)

CONFIG_FILE = "sunshine.toml"
PORT_FILE = "http.port"
DEFAULT_HTTP_PORT = 8180
DEFAULT_LISTEN = "127.0.0.1:0"


def _require_county(division: str) -> None:
    validate_division_code(division)
    known = DivisionRegistry.from_csv(DIVISIONS_CSV).get(division) if DIVISIONS_CSV.is_file() else None
    if known is not None and known.level is not DivisionLevel.COUNTY:
        raise ValidationError(f"{division}（{known.name}）不是县级区划，外网节点只属于县级节点", division=division)


def _write_config(
    config_path: Path,
    existing: dict[str, dict[str, Any]],
    *,
    node_id: str,
    name: str | None,
    http_port: int | None,
    listen: str | None,
    upstream: str | None,
) -> None:
    data_dir = config_path.parent
    sections: dict[str, dict[str, Any]] = {k: dict(v) for k, v in existing.items()}
    old_node = sections.get("node", {})
    sections["node"] = {
        "division": node_id,
        "name": old_node.get("name", "") if name is None else name,
        "data_dir": str(data_dir),
    } | {k: v for k, v in old_node.items() if k not in {"division", "name", "data_dir"}}
    sections.setdefault("database", {}).setdefault("url", f"sqlite:///{data_dir / 'node.db'}")
    http = sections.setdefault("http", {})
    http.setdefault("host", "127.0.0.1")
    http["port"] = http_port if http_port is not None else http.get("port", DEFAULT_HTTP_PORT)
    rep = sections.setdefault("replication", {})
    rep["listen"] = listen if listen is not None else rep.get("listen", DEFAULT_LISTEN)
    if upstream is not None:
        rep["upstream"] = upstream
    sections.setdefault("extranet", {})
    order = ("node", "database", "http", "replication", "extranet")
    text = dump_toml(
        {k: sections[k] for k in order} | sections,
        "Sunshine 外网节点配置（由 sunshine extranet init 生成，可手工修改）",
    )
    if existing and config_path.read_text(encoding="utf-8") == text:
        make_private(config_path)
        typer.echo(f"配置文件未变：{config_path}")
        return
    write_private_file(config_path, text)
    typer.echo(f"{'已更新' if existing else '已写入'}配置文件：{config_path}")


@extranet_app.command("init")
def extranet_init(
    *,
    division: Annotated[str, typer.Option("--division", help="所属县级行政区划代码（6 位数字），例如 371122")],
    data_dir: Annotated[Path, typer.Option("--data-dir", help="数据目录（配置文件与数据库所在）")] = Path("."),
    name: Annotated[str | None, typer.Option("--name", help="节点名称，例如 莒县政务服务网")] = None,
    http_port: Annotated[
        int | None, typer.Option("--http-port", help=f"门户端口（默认 {DEFAULT_HTTP_PORT}；0 表示自动选择）")
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option("--listen", help=f"复制接收地址 host:port，县级节点向此发送公开数据（默认 {DEFAULT_LISTEN}）"),
    ] = None,
    upstream: Annotated[
        str | None, typer.Option("--upstream", help="县级节点的复制接收地址 host:port（申报、投诉、评价发往此处）")
    ] = None,
) -> None:
    """初始化外网节点（节点标识“县级代码-ext”）：创建数据目录与配置文件，把数据库迁移到最新结构。可重复执行。"""
    from migrations.runner import current_revision, upgrade

    _require_county(division)
    node_id = extranet_of(division)
    if http_port is not None and not 0 <= http_port <= 65535:
        raise ValidationError(f"门户端口 {http_port} 超出范围（0–65535）", port=http_port)
    if listen is not None:
        split_address(listen, "--listen")
    if upstream is not None:
        split_address(upstream, "--upstream")
    data_dir = data_dir.expanduser().resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise ValidationError(f"{data_dir} 已存在且不是目录", path=str(data_dir))
    config_path = data_dir / CONFIG_FILE
    existing = read_toml_sections(config_path)
    owner = existing.get("node", {}).get("division", node_id)
    if owner != node_id:
        raise Conflict(f"数据目录 {data_dir} 已属于节点 {owner}，不能再初始化为 {node_id}", path=str(data_dir))

    created = make_private_dir(data_dir)
    typer.echo(f"{'已创建' if created else '使用已有'}数据目录：{data_dir}")
    _write_config(
        config_path, existing, node_id=node_id, name=name, http_port=http_port, listen=listen, upstream=upstream
    )
    cfg = setup(config_path)
    node = build_extranet_node(cfg)
    try:
        before = current_revision(node.engine)
        upgrade(node.engine)
        after = current_revision(node.engine)
        typer.echo(
            f"数据库已是最新结构（版本 {after}）" if before == after else f"数据库已迁移：{before or '空库'} → {after}"
        )
        make_database_private(cfg.database_url)
    finally:
        node.close()
    typer.echo(f"外网节点 {node_id} 初始化完成。启动服务：sunshine extranet serve --config {config_path}")


@extranet_app.command("serve")
def extranet_serve(
    *,
    config: Annotated[Path | None, config_option] = None,
    host: Annotated[str | None, typer.Option("--host", help="门户监听地址（默认取配置 http.host）")] = None,
    port: Annotated[int | None, typer.Option("--port", help="门户端口（默认取配置 http.port；0 表示自动选择）")] = None,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="记录每个请求")] = False,
    insecure_dev: Annotated[
        bool, typer.Option("--insecure-dev", help="仅限开发：复制链路用明文、不验证证书与签名（每次启动都会警告）")
    ] = False,
) -> None:
    """启动外网节点：网上办事门户（页面与 /api/v1/public）、接收县级公开数据的复制服务、发往县级节点的同步链路。
    Ctrl-C 或 SIGTERM 干净退出。"""
    from county_node.extranet.entrypoints.portal_http import create_portal_app
    from federation.http_server import serve_http

    cfg = setup(config)
    bind_host = host or cfg.http.host
    bind_port = cfg.http.port if port is None else port
    if not 0 <= bind_port <= 65535:
        raise ValidationError(f"门户端口 {bind_port} 超出范围（0–65535）", port=bind_port)
    data_dir = Path(cfg.node.data_dir).expanduser().resolve()
    if not data_dir.is_dir():
        raise ConfigError(f"数据目录 {data_dir} 不存在，请先执行 sunshine extranet init", path=str(data_dir))
    node = build_extranet_node(cfg)
    exchange = _Exchange()
    try:
        exchange.start(cfg, node, data_dir, insecure_dev=insecure_dev)
        serve_http(
            create_portal_app(node),
            bind_host,
            bind_port,
            data_dir / PORT_FILE,
            label="外网门户",
            say=typer.echo,
            access_log=access_log,
        )
    finally:
        exchange.stop()
        node.close()
    log.info("http.stopped")
    typer.echo("外网节点已停止")


_PURGE_EVERY_S = 60.0


@extranet_app.command("purge")
def extranet_purge(config: Annotated[Path | None, config_option] = None) -> None:
    """清除县级节点已确认收到的公众个人信息（证件号、电话、关键数据、投诉内容等）：外网只保留查询所需。"""
    from county_node.extranet.retention import purge_acknowledged

    cfg = setup(config)
    node = build_extranet_node(cfg)
    try:
        purged = purge_acknowledged(node.engine, cfg.node.division)
    finally:
        node.close()
    if not purged.acked_seq:
        typer.echo("县级节点尚未确认收到任何记录：没有可清除的个人信息")
        return
    typer.echo(
        f"已清除县级节点确认收到（至第 {purged.acked_seq} 条）的个人信息：网上申报 {purged.submissions} 件、"
        f"投诉 {purged.complaints} 件、评价意见 {purged.ratings} 条、发件箱记录 {purged.outbox_rows} 条"
    )


def _purging(node: ExtranetNode, stop: threading.Event) -> None:
    """Every minute: clear what the county acknowledged (``county_node.extranet.retention``)."""
    from county_node.extranet.retention import purge_acknowledged

    while not stop.wait(_PURGE_EVERY_S):
        try:
            purged = purge_acknowledged(node.engine, node.config.node.division)
            if purged.total:
                log.info("extranet.purged", acked_seq=purged.acked_seq, records=purged.total)
        except Exception:  # the next round tries again; the portal keeps serving
            log.exception("extranet.purge_failed")


class _Exchange:
    """The node's side of the boundary: the receiver of the county's public stream (gRPC, or files from a gateway)
    and the agent's link to the county (gRPC, or files)."""

    def __init__(self) -> None:
        self.receiver: Any = None
        self.intake: Any = None
        self.agent: Any = None
        self.port_file: Path | None = None
        self._stop = threading.Event()
        self._purger: threading.Thread | None = None

    def start(self, cfg: Config, node: ExtranetNode, data_dir: Path, *, insecure_dev: bool) -> None:
        from security.node import INSECURE_WARNING
        from sync_agent.runtime import GRPC_PORT_FILE, build_agent, start_ferry_intake, start_receiver

        rep = cfg.replication
        ferry = rep.transport == "ferry"
        if not (rep.listen or rep.upstream or rep.ferry_in or ferry):
            typer.echo("提示：未配置 replication.listen 与 replication.upstream，门户不与县级节点交换数据", err=True)
            return
        security = node.link_security(insecure_dev=insecure_dev)
        if insecure_dev:
            typer.echo(f"警告：{INSECURE_WARNING}", err=True)
        if rep.listen:  # the county's public stream comes in here
            self.port_file = data_dir / GRPC_PORT_FILE
            self.receiver = start_receiver(
                cfg, node.engine, node.receiver_appliers(), relay=False, port_file=self.port_file, security=security
            )
            typer.echo(f"外网节点复制接收服务已启动：{self.receiver.target}")
        # through a one-way gateway (网闸): the public stream arrives as files in replication.ferry_in
        self.intake = start_ferry_intake(cfg, node.engine, node.receiver_appliers(), relay=False, security=security)
        if self.intake is not None:
            typer.echo(f"外网节点摆渡接收已启动：{rep.ferry_in}")
        if rep.upstream or ferry:  # applications, complaints and ratings go to the county (gRPC or files)
            self.agent = build_agent(cfg, engine=node.engine, security=security)
            self.agent.start()
            typer.echo(f"外网节点同步链路已启动：→ {rep.ferry_out if ferry else rep.upstream}")
            self._purger = threading.Thread(target=_purging, args=(node, self._stop), name="purge", daemon=True)
            self._purger.start()

    def stop(self) -> None:
        self._stop.set()
        if self._purger is not None:
            self._purger.join(timeout=10)
        if self.agent is not None:
            self.agent.stop()
        if self.intake is not None:
            self.intake.stop()
        if self.receiver is not None:
            self.receiver.stop(grace=2.0)
            if self.port_file is not None:
                self.port_file.unlink(missing_ok=True)
