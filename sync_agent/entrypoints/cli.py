"""``sunshine agent run`` and ``sunshine admin links|drain|verify|quarantine …``.

``agent run --config agent.toml`` is the sync agent process of one node: its links up and down
(:mod:`sync_agent.runtime`) and, on ``replication.metrics``, the status port (:mod:`sync_agent.metrics`) that
``admin links`` and Prometheus read. ``admin quarantine`` works on the node's database directly (the poison
records its receiver set aside), so it needs no running process.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import structlog
import typer

from federation.cli import config_option, setup
from federation.config import Config, split_address
from federation.errors import ConfigError
from federation.replication.records import OP_LABELS, record_type_label
from federation.text import ljust, moment_text, rjust
from sync_agent.entrypoints.admin_standards_cli import admin_standards_app
from sync_agent.entrypoints.ferry_cli import admin_ferry_app
from sync_agent.entrypoints.verify_cli import admin_attest, admin_verify
from sync_agent.errors import LinkError, NotDrained
from sync_agent.link_status import METRICS_PORT_FILE, backlog_left, fetch_links, status_url

if TYPE_CHECKING:
    from federation.nodes import Node
    from sync_agent.quarantine import QuarantinedRecord, QuarantineService

__all__ = ["admin_app", "agent_app"]

log = structlog.get_logger(__name__)

agent_app = typer.Typer(help="同步代理：把本节点的数据向上级复制、把上级下发的数据向下级转发。", no_args_is_help=True)
admin_app = typer.Typer(help="交换管理：链路状态、隔离区。", no_args_is_help=True)
quarantine_app = typer.Typer(help="隔离区（无法入库的记录）：查看、修正、重放、丢弃。", no_args_is_help=True)
admin_app.add_typer(quarantine_app, name="quarantine")
admin_app.add_typer(admin_standards_app, name="standards")  # which node runs which standards version
admin_app.add_typer(admin_ferry_app, name="ferry")  # the spools of a ferry link (网闸)
admin_app.command("verify")(admin_verify)  # every tier holds all of each origin, as its statements say
admin_app.command("attest")(admin_attest)  # this node's statement of its own figures, now


def _quarantine(cfg: Config) -> tuple[QuarantineService, Node]:
    """The node's quarantine, replaying with what the node's receiver applies — built by the node's own
    composition root (``federation.nodes``), exactly as ``serve`` builds it (a county's hooks included: a replayed
    bundle moves the open cases' clocks and is reported up, orders apply)."""
    from federation.nodes import build_node
    from sync_agent.quarantine import QuarantineService

    node = build_node(cfg)
    return QuarantineService(node.engine, node.receiver_appliers()), node


# -- agent run ----------------------------------------------------------------------------------------------------


@agent_app.command("run")
def agent_run(
    config: Annotated[Path | None, config_option] = None,
    insecure_dev: Annotated[
        bool, typer.Option("--insecure-dev", help="仅限开发：复制链路用明文、不签名、不验证证书（每次启动都会警告）")
    ] = False,
) -> None:
    """运行本节点的同步代理（上行与下行链路：双向 TLS，批次签名；证书到期前自动续期；指标端口），
    Ctrl-C 或 SIGTERM 干净退出。"""
    from federation.bound_ports import sticky_port, taken_hint, write_port_file
    from federation.nodes import build_node
    from sync_agent.metrics import start_status_server
    from sync_agent.runtime import build_agent

    cfg = setup(config)
    node = build_node(cfg)  # the node's own composition root hands the agent its machine trust
    security = node.link_security(insecure_dev=insecure_dev)
    if insecure_dev:
        typer.echo("警告：开发模式（--insecure-dev）：链路为明文、批次不签名，严禁用于生产环境", err=True)
    agent = build_agent(cfg, engine=node.engine, security=security)
    data_dir = Path(cfg.node.data_dir).expanduser().resolve()
    port_file = data_dir / METRICS_PORT_FILE
    status = None

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        agent.stopping.set()

    previous: dict[int, Any] = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if cfg.replication.metrics:
            host, configured = split_address(cfg.replication.metrics, "replication.metrics")
            port = sticky_port(port_file, configured)
            try:
                status = start_status_server(host, port, agent)
            except OSError as exc:
                hint = taken_hint(port_file, configured, port)
                raise ConfigError(f"指标端口 {host}:{port} 无法监听：{exc}{hint}", address=host) from exc
            write_port_file(port_file, status.port, configured=configured)
        agent.start()
        targets = "；".join(f"{link.name} → {link.stats().target or '…'}" for link in agent.links)
        where = f"；指标 http://{cfg.replication.metrics.rsplit(':', 1)[0]}:{status.port}/metrics" if status else ""
        typer.echo(f"节点 {cfg.node.division} 同步代理已启动（{targets}{where}）；按 Ctrl-C 停止")
        agent.wait()
    finally:
        agent.stop()
        if status is not None:
            status.stop()
            port_file.unlink(missing_ok=True)
        node.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    typer.echo("同步代理已停止")


# -- admin links --------------------------------------------------------------------------------------------------


_LINK_COLUMNS = ("已发送", "已确认", "积压条数", "积压秒数", "速率/秒")


def _links_table(body: dict[str, Any]) -> list[str]:
    lines = [f"节点 {body['node']} 的链路："]
    header = "  " + ljust("来源", 10) + "".join(rjust(h, 10) for h in _LINK_COLUMNS) + "  最近错误"
    for link in body["links"]:
        state = "已连接" if link["connected"] else "未连接"
        target = link["target"] or "（未连接过）"
        lines.append(f"{link['link']} → {target}  [{state}，会话 {link['sessions']} 次，失败 {link['failures']} 次]")
        spool = link.get("spool") or {}
        if str(target).startswith("ferry:"):
            full = "，已满：暂停封装新文件" if spool.get("full") else ""
            lines.append(
                f"  摆渡目录：{spool.get('files', 0)} 个文件待确认，"
                f"{spool.get('bytes', 0):,}/{spool.get('limit', 0):,} 字节{full}"
            )
        lines.append(header)
        current = link["last_error"]
        if current and link.get("last_error_at"):
            current = f"{current}（{_local_time(link['last_error_at'])}）"
        for o in link["origins"]:
            cells = (
                o["sent_seq"],
                o["acked_seq"],
                o["lag_records"],
                f"{o['lag_seconds']:.1f}",
                f"{o['rate_per_s']:.1f}",
            )
            row = ljust(o["origin"], 10) + "".join(rjust(c, 10) for c in cells)
            lines.append(f"  {row}  {current or '-'}")
        if not link["origins"]:
            lines.append("  （尚无来源）")
        if link.get("previous_error"):
            lines.append(
                f"  上次错误（已于 {_local_time(link.get('recovered_at'))} 恢复）："
                f"{link['previous_error']}（发生于 {_local_time(link.get('previous_error_at'))}）"
            )
    return lines


def _local_time(iso: str | None) -> str:
    """An ISO instant from ``/links`` in China time (``?`` when missing or unreadable)."""
    try:
        return moment_text(datetime.fromisoformat(iso or ""), seconds=True)
    except ValueError:
        return "?"


@admin_app.command("links")
def admin_links(
    config: Annotated[Path | None, config_option] = None,
    url: Annotated[str | None, typer.Option("--url", help="代理状态地址，例如 http://127.0.0.1:9122")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
) -> None:
    """每条链路、每个来源：已发送/已确认序号、积压（条数与秒数）、速率、最近错误。"""
    if url is None:
        url = status_url(setup(config))
    body = fetch_links(url)
    if as_json:
        typer.echo(json.dumps(body, ensure_ascii=False, indent=1))
        return
    for line in _links_table(body):
        typer.echo(line)


# -- admin drain --------------------------------------------------------------------------------------------------

_DRAIN_POLL_S = 0.5
_DRAIN_SAY_EVERY_S = 5.0


@admin_app.command("drain")
def admin_drain(
    config: Annotated[Path | None, config_option] = None,
    url: Annotated[str | None, typer.Option("--url", help="代理状态地址，例如 http://127.0.0.1:9122")] = None,
    link: Annotated[
        list[str] | None, typer.Option("--link", help="只等这条链路（可重复，例如 up）；默认全部链路")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="最多等待秒数", min=0)] = 120.0,
) -> None:
    """等到同步代理的链路没有积压：每个来源的记录都已被对端确认（停止节点前先停写入，再执行本命令）。
    代理暂未响应（正在重启）时继续等待；超时则列出仍有积压的链路与来源，退出码 1。"""
    if url is None:
        url = status_url(setup(config))
    links = list(link or [])
    deadline = time.monotonic() + timeout
    said = time.monotonic()
    while True:
        try:
            left = backlog_left(fetch_links(url), links)
        except LinkError:  # the agent restarting (a supervisor, a service manager): asked again until the time is up
            if time.monotonic() >= deadline:
                raise
            time.sleep(_DRAIN_POLL_S)
            continue
        if not left:
            typer.echo(f"链路已无积压：{'、'.join(links) if links else '全部链路'}的记录均已被对端确认")
            return
        shown = "；".join(f"{u.link} 来源 {u.origin} 积压 {u.records} 条" for u in left)
        now = time.monotonic()
        if now >= deadline:
            raise NotDrained(
                f"{timeout:g} 秒内未排空：{shown}",
                left=[{"link": u.link, "origin": u.origin, "records": u.records} for u in left],
            )
        if now - said >= _DRAIN_SAY_EVERY_S:
            typer.echo(f"等待对端确认：{shown}")
            said = now
        time.sleep(min(_DRAIN_POLL_S, max(0.0, deadline - now)))


# -- admin holdings -----------------------------------------------------------------------------------------------


@admin_app.command("holdings")
def admin_holdings(
    config: Annotated[Path | None, config_option] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="只看此区划前缀下的来源，例如 3711")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
) -> None:
    """本节点持有的各来源数据：办件数、事件数、摘要与复制高水位（与来源节点比对即可证明完整）。"""
    from federation.storage.engine import engine_from_config
    from federation.storage.holdings import approval_holdings
    from federation.storage.uow import UnitOfWork
    from sync_agent.store import SqlBatchSink

    cfg = setup(config)
    engine = engine_from_config(cfg)
    try:
        with UnitOfWork(engine, readonly=True) as uow:
            held = approval_holdings(uow.conn, prefix)
        marks = {s.origin: s for s in SqlBatchSink(engine, cfg.node.division, {}, relay=False).status(prefix)}
    finally:
        engine.dispose()
    rows = [h.to_dict() | {"high_water": marks[h.origin].high_water if h.origin in marks else None} for h in held]
    if as_json:
        typer.echo(json.dumps({"node": cfg.node.division, "origins": rows}, ensure_ascii=False))
        return
    typer.echo(f"节点 {cfg.node.division} 持有的数据：")
    typer.echo(f"  {ljust('来源', 10)}{rjust('办件', 8)}{rjust('事件', 10)}{rjust('高水位', 10)}  摘要")
    for r in rows:
        hw = "本节点" if r["high_water"] is None else r["high_water"]
        typer.echo(
            f"  {ljust(r['origin'], 10)}{rjust(r['cases'], 8)}{rjust(r['events'], 10)}{rjust(hw, 10)}"
            f"  {str(r['digest'])[:16]}"
        )


# -- admin quarantine ---------------------------------------------------------------------------------------------


_STATE_LABELS = {"held": "待处理", "replayed": "已重放", "discarded": "已丢弃"}
_JSON_OPTION = typer.Option("--json", help="输出 JSON")


def _record_json(q: QuarantinedRecord) -> dict[str, Any]:
    return {
        "id": q.id,
        "origin": q.origin,
        "seq": q.seq,
        "record_type": q.record_type,
        "record_id": q.record_id,
        "op": q.op,
        "payload": q.payload,
        "reason": q.reason,
        "state": q.state.value,
        "created_at": q.created_at.isoformat(),
        "resolved_at": q.resolved_at.isoformat() if q.resolved_at else None,
    }


def _echo_json(body: dict[str, Any]) -> None:
    typer.echo(json.dumps(body, ensure_ascii=False))


def _show(q: QuarantinedRecord, *, full: bool) -> None:
    resolved = f"，处理于 {moment_text(q.resolved_at)}" if q.resolved_at else ""
    kind = record_type_label(q.record_type)
    typer.echo(f"#{q.id}  来源 {q.origin}  序号 {q.seq}  {kind} {q.record_id}  [{_STATE_LABELS[q.state]}{resolved}]")
    typer.echo(f"    原因：{q.reason}")
    if full:
        typer.echo(f"    操作：{OP_LABELS.get(q.op, q.op)}    隔离时间：{moment_text(q.created_at)}")
        typer.echo(f"    载荷：{q.payload}")


@quarantine_app.command("list")
def quarantine_list(
    config: Annotated[Path | None, config_option] = None,
    state: Annotated[str, typer.Option("--state", help="held（待处理）| replayed | discarded | all")] = "held",
    page: Annotated[int, typer.Option("--page", min=1)] = 1,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=500)] = 50,
    as_json: Annotated[bool, _JSON_OPTION] = False,
) -> None:
    """列出隔离区中的记录（默认只列待处理的）。"""
    service, node = _quarantine(setup(config))
    try:
        result = service.list(None if state == "all" else state, page=page, page_size=page_size)
    finally:
        node.close()
    if as_json:
        items = [_record_json(q) for q in result.items]
        _echo_json({"total": result.total, "page": result.page, "page_size": result.page_size, "items": items})
        return
    typer.echo(f"隔离区记录 {result.total} 条（第 {result.page} 页）")
    for q in result.items:
        _show(q, full=False)


def _on_record(
    config: Path | None,
    as_json: bool,
    act: Callable[[QuarantineService], QuarantinedRecord],
    *,
    full: bool,
    done: str = "",
) -> None:
    """Run ``act`` on the node's quarantine and show the record it returns (as JSON with ``--json``)."""
    service, node = _quarantine(setup(config))
    try:
        q = act(service)
    finally:
        node.close()
    if as_json:
        _echo_json(_record_json(q))
        return
    _show(q, full=full)
    if done:
        typer.echo(done)


@quarantine_app.command("show")
def quarantine_show(
    record: Annotated[int, typer.Argument(help="隔离记录编号")],
    config: Annotated[Path | None, config_option] = None,
    as_json: Annotated[bool, _JSON_OPTION] = False,
) -> None:
    """显示一条隔离记录的全部内容（含载荷）。"""
    _on_record(config, as_json, lambda s: s.get(record), full=True)


@quarantine_app.command("fix")
def quarantine_fix(
    record: Annotated[int, typer.Argument(help="隔离记录编号")],
    payload_file: Annotated[
        Path, typer.Option("--payload", help="修正后的载荷（JSON 文件）", exists=True, dir_okay=False)
    ],
    config: Annotated[Path | None, config_option] = None,
    as_json: Annotated[bool, _JSON_OPTION] = False,
) -> None:
    """用修正后的载荷替换隔离记录的载荷（之后用 replay 重放）。"""
    _on_record(
        config,
        as_json,
        lambda s: s.fix(record, payload_file.read_text(encoding="utf-8")),
        full=True,
        done="载荷已修正；执行 sunshine admin quarantine replay 以重放",
    )


@quarantine_app.command("replay")
def quarantine_replay(
    record: Annotated[int, typer.Argument(help="隔离记录编号")],
    config: Annotated[Path | None, config_option] = None,
    as_json: Annotated[bool, _JSON_OPTION] = False,
) -> None:
    """重放一条隔离记录：通过则入库（状态变为已重放），仍不通过则保留并说明原因。"""
    _on_record(config, as_json, lambda s: s.replay(record), full=False, done="已重放入库")


@quarantine_app.command("discard")
def quarantine_discard(
    record: Annotated[int, typer.Argument(help="隔离记录编号")],
    reason: Annotated[str, typer.Option("--reason", help="丢弃原因（记入记录）")],
    config: Annotated[Path | None, config_option] = None,
    as_json: Annotated[bool, _JSON_OPTION] = False,
) -> None:
    """丢弃一条隔离记录（须写明原因）。"""
    _on_record(config, as_json, lambda s: s.discard(record, reason), full=False)
