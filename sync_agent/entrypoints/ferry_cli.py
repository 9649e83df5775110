"""``sunshine admin ferry status|statement``: the spools of a ferry link (摆渡, one-way gateway 网闸).

``status`` reads the node's spool folders directly (no running process needed): on the sending side the files
kept until acknowledged (per origin, seq range, bytes against ``ferry_spool_bytes``) and the statements waiting
to be read; on the receiving side the files waiting (a file before them not arrived yet) and those refused, with
their reasons. ``statement`` writes the receiving node's signed completeness statement for one sender on demand,
for an operator to carry back where the gateway has no return path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from federation.cli import config_option, setup
from federation.config import Config
from federation.errors import ConfigError

__all__ = ["admin_ferry_app", "ferry_status"]

admin_ferry_app = typer.Typer(help="摆渡（网闸）链路：摆渡目录状态、完整性回执。", no_args_is_help=True)


def _dir_status(path: str) -> dict[str, Any]:
    from sync_agent.ferry_link import spool_files

    directory = Path(path).expanduser().resolve()
    if not directory.is_dir():
        return {"path": str(directory), "exists": False, "files": 0, "bytes": 0, "origins": [], "refused": []}
    files = spool_files(directory)
    origins: dict[str, dict[str, Any]] = {}
    for f in files:
        o = origins.setdefault(f.origin, {"origin": f.origin, "first_seq": f.first_seq, "last_seq": 0, "files": 0})
        o["last_seq"] = max(o["last_seq"], f.last_seq)
        o["files"] += 1
    aside = directory / "refused"
    refused = (
        [
            {"file": r.name.removesuffix(".reason.txt"), "reason": r.read_text(encoding="utf-8").strip()}
            for r in sorted(aside.glob("*.reason.txt"))
        ]
        if aside.is_dir()
        else []
    )
    return {
        "path": str(directory),
        "exists": True,
        "files": len(files),
        "bytes": sum(f.size for f in files),
        "origins": list(origins.values()),
        "refused": refused,
        "statements": len(list(directory.glob("statement.*.json"))),
    }


def ferry_status(cfg: Config) -> dict[str, Any]:
    """The node's ferry spools as ``admin ferry status --json`` prints them."""
    rep = cfg.replication
    if not (rep.ferry_out or rep.ferry_in):
        raise ConfigError("本节点未配置摆渡链路（replication.ferry_out 或 ferry_in）", node=cfg.node.division)
    body: dict[str, Any] = {"node": cfg.node.division}
    if rep.ferry_out:
        out = _dir_status(rep.ferry_out)
        out |= {"limit": rep.ferry_spool_bytes, "full": out["bytes"] >= rep.ferry_spool_bytes}
        body["sender"] = {"spool": out, "return": _dir_status(rep.ferry_return) if rep.ferry_return else None}
    if rep.ferry_in:
        body["receiver"] = {"spool": _dir_status(rep.ferry_in), "ack": rep.ferry_ack or None}
    return body


@admin_ferry_app.command("status")
def admin_ferry_status(
    config: Annotated[Path | None, config_option] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
) -> None:
    """摆渡目录状态：发送端待确认的文件（按来源、序号范围）与占用；接收端等待中与被拒收的文件及原因。"""
    body = ferry_status(setup(config))
    if as_json:
        typer.echo(json.dumps(body, ensure_ascii=False))
        return
    sender = body.get("sender")
    if sender is not None:
        s = sender["spool"]
        state = "已满，暂停封装新文件" if s["full"] else "正常"
        typer.echo(
            f"发送端摆渡目录 {s['path']}：{s['files']} 个文件待确认，{s['bytes']:,}/{s['limit']:,} 字节（{state}）"
        )
        for o in s["origins"]:
            typer.echo(f"  来源 {o['origin']}：序号 {o['first_seq']}–{o['last_seq']}，{o['files']} 个文件")
        for r in s["refused"]:
            typer.echo(f"  被拒的回执 {r['file']}：{r['reason']}")
        if sender["return"] is not None:
            typer.echo(f"回执目录 {sender['return']['path']}：{sender['return']['statements']} 份回执待读取")
    receiver = body.get("receiver")
    if receiver is not None:
        s = receiver["spool"]
        typer.echo(f"接收端摆渡目录 {s['path']}：{s['files']} 个文件等待前序文件（{s['bytes']:,} 字节）")
        for o in s["origins"]:
            typer.echo(f"  来源 {o['origin']}：序号 {o['first_seq']}–{o['last_seq']}，{o['files']} 个文件")
        typer.echo(f"  被拒收 {len(s['refused'])} 个文件（见 {s['path']}/refused/）")
        for r in s["refused"]:
            typer.echo(f"  {r['file']}：{r['reason']}")
        typer.echo(f"  回执写入：{receiver['ack'] or '（未配置回传路径：用 sunshine admin ferry statement 生成）'}")


@admin_ferry_app.command("statement")
def admin_ferry_statement(
    sender: Annotated[str, typer.Option("--sender", help="回执写给哪个发送节点（行政区划代码）")],
    output: Annotated[Path, typer.Option("-o", "--output", help="写入的目录（由操作员带回发送端的回执目录）")],
    config: Annotated[Path | None, config_option] = None,
    insecure_dev: Annotated[bool, typer.Option("--insecure-dev", help="仅限开发：回执不签名")] = False,
) -> None:
    """生成本节点（接收端）给某发送节点的签名完整性回执（各来源的高水位与摘要），供无回传路径时人工带回。"""
    from federation.identities import validate_node_id
    from federation.nodes import build_node
    from sync_agent.ferry_files import write_atomically
    from sync_agent.ferry_intake import FerryIntake
    from sync_agent.runtime import receiver_policy
    from sync_agent.store import SqlBatchSink

    cfg = setup(config)
    validate_node_id(sender)
    node = build_node(cfg)
    try:
        security = node.link_security(insecure_dev=insecure_dev)
        policy = receiver_policy(cfg.node.division)
        sink = SqlBatchSink(node.engine, cfg.node.division, {}, relay=False, allow=policy)
        intake = FerryIntake(
            sink,
            output,
            None,
            allowed=policy,
            trust=security.receiver if security is not None else None,
        )
        output.mkdir(parents=True, exist_ok=True)
        name, data = intake.signed_statement(sender)
        path = write_atomically(output, name, data)
        statement = intake.statement(sender)
    finally:
        node.close()
    typer.echo(f"已写入回执 {path}：")
    for mark in statement.marks:
        typer.echo(f"  来源 {mark.origin}：已接收到序号 {mark.high_water}，摘要 {mark.last_hash.hex()[:16]}")
    typer.echo("请将此文件放入发送端的回执目录（replication.ferry_return）")
