"""``sunshine admin verify``: whether every tier holds all of each origin of this node's subtree, as the origins'
own signed statements say (:mod:`federation.storage.attestation`).

At a node: for each origin it holds, or is: the origin's last statement and each tier's verdict on it known here
— this node's own, and those its children (the relays below it) sent up. The first divergence is named: origin,
tier, record kind, its counts on both sides and the seq range (after the tier's last agreeing statement, up to
the one that differs). Exit status 1 when anything diverges.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from federation.cli import config_option, setup
from federation.replication.records import record_type_label
from federation.text import ljust, moment_text
from sync_agent.errors import Divergent

__all__ = ["admin_attest", "admin_verify"]

_VERDICTS = {
    "stated": "来源声明",
    "agree": "✓ 一致",
    "baseline": "✓ 以此声明为基线（此前已接收的记录未逐条核对）",
    "diverge": "✗ 不一致",
}


def admin_verify(
    config: Annotated[Path | None, config_option] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="只看此区划前缀下的来源，例如 3711")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
) -> None:
    """核对本级及下级各节点是否完整持有每个来源的全部记录（以来源签名的核对声明为准），指出第一处不一致的来源、
    层级、记录类型与序号范围；有不一致时退出码为 1。"""
    from federation.storage.attestation import latest_verdicts
    from federation.storage.engine import engine_from_config
    from federation.storage.uow import UnitOfWork
    from sync_agent.store import SqlBatchSink

    cfg = setup(config)
    node = cfg.node.division
    engine = engine_from_config(cfg)
    try:
        with UnitOfWork(engine, readonly=True) as uow:
            verdicts = latest_verdicts(uow.conn, prefix, node=node)
        marks = {s.origin: s.high_water for s in SqlBatchSink(engine, node, {}, relay=False).status(prefix)}
    finally:
        engine.dispose()
    rows = [
        {
            "origin": v.origin,
            "tier": v.checked_by,
            "verdict": v.verdict,
            "statement_seq": v.statement_seq,
            "covers": v.covers,
            "agreed_before": v.agreed_before,
            "kinds": v.kinds,
            "differ": v.differ,
            "checked_at": v.checked_at.isoformat(),
        }
        for v in verdicts
    ]
    unstated = sorted(set(marks) - {v.origin for v in verdicts})
    if as_json:
        typer.echo(json.dumps({"node": node, "verdicts": rows, "no_statement": unstated}, ensure_ascii=False))
    else:
        _table(node, rows, unstated, marks)
    divergent = [r for r in rows if r["verdict"] == "diverge"]
    if divergent:
        first = divergent[0]
        raise Divergent(_divergence(first), origin=first["origin"], tier=first["tier"], divergent=len(divergent))


def admin_attest(config: Annotated[Path | None, config_option] = None) -> None:
    """立即写入本节点的核对声明（本节点各类记录的条数与摘要），随复制流送达上级；停止节点前、核对前使用。
    同步代理也会按 replication.attest_records / attest_interval_s 定期写入。"""
    from federation.storage.engine import engine_from_config
    from sync_agent.store import SqlBatchSource

    cfg = setup(config)
    engine = engine_from_config(cfg)
    try:
        seq = SqlBatchSource(engine, cfg.node.division).attest(force=True)
    finally:
        engine.dispose()
    if seq is None:
        typer.echo(f"节点 {cfg.node.division} 自上次核对声明以来没有新记录，无需再写")
    else:
        typer.echo(f"节点 {cfg.node.division} 已写入核对声明（序号 {seq}），同步代理会将其送达上级")


def _divergence(row: dict[str, Any]) -> str:
    differ = row["differ"] if isinstance(row["differ"], dict) else {}
    first = next(iter(sorted(differ.items())), None)
    where = f"来源 {row['origin']} 在 {row['tier']} "
    span = f"序号 {row['agreed_before'] + 1}–{row['covers']}"
    if first is None or not isinstance(first[1], dict):
        return f"{where}不一致，{span}"
    kind, figures = first
    label = record_type_label(kind)
    named = kind if label == kind else f"{label}（{kind}）"
    stated, held = _count(figures.get("origin")), _count(figures.get("held"))
    same = "（条数相同、内容不同：可能有记录经修正后重放）" if stated == held else ""
    return f"{where}的 {named} 不一致，{span}：来源 {stated} 条，{row['tier']} 持有 {held} 条{same}"


def _count(figures: Any) -> Any:
    return figures[0] if isinstance(figures, list) and figures else "?"


def _table(node: str, rows: list[dict[str, Any]], unstated: list[str], marks: dict[str, int]) -> None:
    typer.echo(f"节点 {node} 核对各来源的完整性（以来源的核对声明为准）：")
    origin = None
    for r in rows:
        if r["origin"] != origin:
            origin = r["origin"]
            held = f"，本节点高水位 {marks[origin]}" if origin in marks else ""
            typer.echo(f"  来源 {origin}{held}")
        kinds = "，".join(f"{record_type_label(k)} {v[0]}" for k, v in sorted(r["kinds"].items()))
        line = (
            f"    {ljust(r['tier'], 8)} {_VERDICTS.get(r['verdict'], r['verdict'])}  "
            f"声明序号 {r['statement_seq']}（覆盖至 {r['covers']}{'：' + kinds if kinds else ''}）"
        )
        typer.echo(line + f"  {moment_text(datetime.fromisoformat(r['checked_at']))}")
        if r["verdict"] == "diverge":
            typer.echo(f"      {_divergence(r)}")
    for o in unstated:
        typer.echo(f"  来源 {o}：尚未收到核对声明（高水位 {marks[o]}）")
    if not rows and not unstated:
        typer.echo("  （尚无来源）")
