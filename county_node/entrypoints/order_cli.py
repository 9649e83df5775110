"""``sunshine order list|show|answer``: the orders (督办 / 催办) this county received, and their answer (办复).

The commands mirror the order routes of the county HTTP API (:mod:`county_node.entrypoints.orders_http`): same
service, same views (``--json`` prints exactly what the API returns), the same Chinese errors — printed by
``federation.cli.main`` as one line with exit status 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from county_node.entrypoints.cli_node import node_of as open_node  # the one way a command opens the node
from county_node.entrypoints.cli_people import acting, reading
from county_node.supervision.adapters.orders_views import OrderPageView, OrderView
from federation.cli import config_option
from federation.text import moment_text
from security.access import Permission

__all__ = ["order_app", "print_order", "print_order_page"]

order_app = typer.Typer(help="督办、催办指令：查看上级下发的指令并办复。", no_args_is_help=True)

_Config = Annotated[Path | None, config_option]
_Json = Annotated[bool, typer.Option("--json", help="以 JSON 输出（与接口返回相同）")]


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def print_order(o: OrderView) -> None:
    """One order with its reply and both histories, in Chinese."""
    typer.echo(f"{o['kind_label']}指令 {o['order_id']}  {o['status_label']}  {o['reply_label']}")
    issued, due = moment_text(o["issued_at"]), moment_text(o["reply_due_at"])
    typer.echo(f"  下发：{o['issuer']} {o['issued_by']}，{issued}    办复时限：{due}")
    typer.echo(f"  对象：{o['subject_label']} {o['subject_id']}    县：{o['county']}    办件：{o['case_no'] or '—'}")
    typer.echo(f"  原因：{o['reason']}")
    if o["reply_overdue"]:
        typer.echo("  已超过办复时限，尚未办复")
    reply = o["reply"]
    if reply is not None:
        typer.echo(f"  签收：{moment_text(reply['received_at'])}")
        if reply["answered_at"]:
            typer.echo(f"  办复：{reply['answer']}（{reply['answered_by']}，{moment_text(reply['answered_at'])}）")
    typer.echo("处理记录：")
    steps = [*o["history"], *(reply["history"] if reply else [])]
    for h in sorted(steps, key=lambda h: h["at"]):
        reason = f"  {h['reason']}" if h["reason"] else ""
        typer.echo(f"  {moment_text(h['at'])}  {h['action_label']}  {h['actor']}{reason}")


def print_order_page(view: OrderPageView) -> None:
    pages = max(1, -(-view["total"] // view["page_size"]))
    typer.echo(f"共 {view['total']} 条指令，第 {view['page']}/{pages} 页")
    for o in view["items"]:
        overdue = "  超时未办复" if o["reply_overdue"] else ""
        typer.echo(
            f"  {o['order_id']}  {o['kind_label']}  {o['status_label']}  {o['reply_label']}  "
            f"{o['subject_label']} {o['subject_id']}  县 {o['county']}  下发 {moment_text(o['issued_at'])}{overdue}"
        )


@order_app.command("list")
def order_list(
    *,
    status: Annotated[str | None, typer.Option("--status", help="按指令状态：issued、withdrawn、closed")] = None,
    reply: Annotated[str | None, typer.Option("--reply", help="按办复状态：pending、received、answered")] = None,
    page: Annotated[int, typer.Option("--page", help="页码，从 1 开始")] = 1,
    page_size: Annotated[int, typer.Option("--page-size", help="每页条数（1–200）")] = 20,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """本县收到的督办、催办指令（最新下发的在前）。"""
    with open_node(config) as node:
        reading(node, Permission.ORDER_READ)
        view = node.orders.list(status=status, reply=reply, page=page, page_size=page_size)
    if as_json:
        _echo_json(view)
    else:
        print_order_page(view)


@order_app.command("show")
def order_show(
    *,
    order_id: Annotated[str, typer.Argument(help="指令编号，例如 371100-OD00000001")],
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """一条指令：下发机关、原因、签收与办复。"""
    with open_node(config) as node:
        reading(node, Permission.ORDER_READ)
        view = node.orders.get(order_id)
    if as_json:
        _echo_json(view)
    else:
        print_order(view)


@order_app.command("answer")
def order_answer(
    *,
    order_id: Annotated[str, typer.Argument(help="指令编号")],
    answer: Annotated[str, typer.Option("--answer", help="办复内容")],
    acknowledge: Annotated[
        bool, typer.Option("--acknowledge/--no-acknowledge", help="同时签收指令所涉的预警（尚未签收时）")
    ] = False,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """办复：答复上级的督办、催办指令；答复随同步上报下发机关。办复人为当前登录账号（监察员）。"""
    with open_node(config) as node, acting(node, Permission.ORDER_ANSWER, "办复指令", order_id) as by:
        view = node.orders.answer(order_id, by=by, answer=answer, acknowledge=acknowledge)
    if as_json:
        _echo_json(view)
    else:
        typer.echo(f"已办复指令 {order_id}")
        print_order(view)
