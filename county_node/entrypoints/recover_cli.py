"""``sunshine county recover --from-parent``: rebuild a county whose database is lost, or older than what its city
holds (a restored backup), from the records its city keeps (:mod:`sync_agent.recover`).

Run it with the county's node and agent stopped. A lost database is made here (migrated to the newest schema): run
it before ``sunshine county init`` (which writes an audit record of the first administrator, the node's own — a
fresh database must hold none before its records come back), then init, then start the node and agent again. The
summary says what came back and what could not.
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from county_node.bootstrap import build_county_node
from county_node.recovery import counter_floors, own_record_appliers, wake_open_cases
from federation.cli import config_option, setup
from federation.errors import ConfigError, Conflict, ValidationError
from federation.replication.records import record_type_label
from federation.storage.engine import make_database_private
from federation.storage.uow import UnitOfWork

__all__ = ["county_recover"]

_NOT_REPLICATED = "申请人联系电话（case_contacts，从不复制）；本地账号与会话（请再执行 county init 重建首个管理员）"


def _still_serving(data_dir: Path) -> int | None:
    """The HTTP port of a county node still serving from ``data_dir`` (its ``http.port`` answers), else None."""
    try:
        port = int((data_dir / "http.port").read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return port
    except OSError:
        return None


def county_recover(
    *,
    config: Annotated[Path | None, config_option] = None,
    from_parent: Annotated[
        bool, typer.Option("--from-parent", help="从上级（市级节点）取回本县已上报的记录并重建本地数据")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出恢复结果")] = False,
) -> None:
    """从上级恢复县级节点：数据库丢失或比上级所存旧（恢复了旧备份）时，取回本县记录，校验哈希链与签名后重建。"""
    from migrations.runner import upgrade
    from sync_agent.recover import Recovery
    from sync_agent.runtime import receiver_policy
    from sync_agent.server import StreamLimits
    from sync_agent.store import SqlBatchSink, SqlRestore

    if not from_parent:
        raise ValidationError("请指定恢复来源：--from-parent（从上级市级节点取回本县记录）")
    cfg = setup(config)
    rep = cfg.replication
    division = cfg.node.division
    if rep.transport == "ferry" or not rep.upstream:
        raise ConfigError("从上级恢复需要到市级节点的 gRPC 链路（replication.upstream）；经网闸摆渡的链路不能取回记录")
    port = _still_serving(Path(cfg.node.data_dir).expanduser())
    if port is not None:
        raise Conflict(f"县级节点仍在运行（接口端口 {port}）：请先停止节点与同步代理，再执行恢复", port=port)
    node = build_county_node(cfg)
    try:
        upgrade(node.engine)
        make_database_private(cfg.database_url)
        security = node.link_security()
        if security is None:  # pragma: no cover - link_security returns None only in development mode
            raise ConfigError("从上级恢复须使用节点证书（双向 TLS 与签名验证）")
        policy = receiver_policy(division)
        report = Recovery(
            node=division,
            target=rep.upstream,
            security=security,
            sink=SqlBatchSink(node.engine, division, node.receiver_appliers(), relay=False, allow=policy),
            allowed=policy,
            restore=SqlRestore(node.engine, division, own_record_appliers(), [counter_floors], clock=node.approval.now),
            limits=StreamLimits(rep.max_record_bytes, max_batch_bytes=rep.max_message_bytes),
        ).run()
        with UnitOfWork(node.engine) as uow:
            woken = wake_open_cases(uow.conn, division, node.approval.now())
            uow.commit()
    finally:
        node.close()
    own = report.own
    if as_json:
        out = asdict(report) | {"woken_cases": woken, "not_recoverable": _NOT_REPLICATED}
        typer.echo(json.dumps(out, ensure_ascii=False, sort_keys=True, default=str))
        return
    typer.echo(f"已从上级 {report.parent}（{rep.upstream}）恢复县级节点 {division}：")
    for down in report.down:
        typer.echo(
            f"  上级下发 {down.origin}：批次 {down.batches}，记录 {down.records}（已接收至第 {down.high_water} 条）"
        )
    if own.batches == 0:
        typer.echo(f"  本县记录：上级所存不超过本地（本地已封批至第 {report.sealed_before} 条），无需取回")
    else:
        typer.echo(
            f"  本县记录：取回批次 {own.batches}、记录 {own.records}（至第 {own.last_seq} 条）；"
            f"其中本地已有 {own.already_held} 条，重建数据 {own.applied} 条，隔离 {own.quarantined} 条"
        )
        if own.outbox_only:
            kinds = "、".join(f"{record_type_label(t)} {n}" for t, n in sorted(own.outbox_only.items()))
            typer.echo(f"  仅存于发件箱（本节点无对应数据表）：{kinds}")
        typer.echo(f"  计数器已跳过已用编号：{len(own.counters)} 个（发件箱序号至 {own.last_seq}，不会重复使用）")
    typer.echo(f"  在办件待重新监察：{woken} 件（节点启动后的首次巡检完成）")
    typer.echo(f"未能恢复：{_NOT_REPLICATED}")
    if cfg.extranet.enabled:
        typer.echo("注意：本县外网公开流（-pub）不在市级节点，未恢复；请联系外网节点管理员核对公开流", err=True)
    typer.echo(
        "下一步：sunshine county init（重建首个管理员），启动县级节点与同步代理，再用 sunshine admin verify 核对"
    )
