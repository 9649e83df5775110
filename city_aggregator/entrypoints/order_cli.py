"""``sunshine city order …`` / ``sunshine province order …``: issue and follow orders (督办 / 催办).

=====================================================  ======================================================
order issue --alert ID | --case 办件编号 --kind K …     下发催办（urge）或督办（supervise）指令
order list [--county --issuer --status --reply]        指令及各县的签收、办复情况
order show ID                                          一条指令的详情与处理记录
order withdraw ID --reason 原因                       撤回本节点下发的指令
order close ID [--reason 意见]                        办结本节点下发的指令
=====================================================  ======================================================

Each tier hooks the app of its level into its command group (``order_app(DivisionLevel.CITY)``). The commands
work on the node's database (the configuration's ``[database]``) with the node as issuer, as the person logged in
at the node's command line (``sunshine user login``): reading needs ``order.read`` and shows that person's subtree;
issuing, withdrawing and closing need ``order.issue``, a person of the node's own division, and are recorded under
that person's name (no free-text actor) in the order's history and the audit log. ``--json`` prints what the HTTP
API returns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from sqlalchemy.engine import make_url

from city_aggregator.entrypoints.node_cli import NodeFactory
from county_node.entrypoints.order_cli import print_order, print_order_page
from federation.cli import config_option, setup
from federation.errors import ConfigError, ValidationError
from federation.identities import DivisionLevel

if TYPE_CHECKING:
    from city_aggregator.orders.service import OrderDesk

__all__ = ["order_app"]

_LEVEL_NAMES = {DivisionLevel.CITY: "市级", DivisionLevel.PROVINCE: "省级"}
_Config = Annotated[Path | None, config_option]
_Json = Annotated[bool, typer.Option("--json", help="以 JSON 输出（与接口返回相同）")]


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def order_app(level: DivisionLevel, build: NodeFactory) -> typer.Typer:  # noqa: PLR0915 - five commands, one level
    """The ``order`` commands of a city or province node (``build``: its tier's composition root)."""
    title = _LEVEL_NAMES[level]
    app = typer.Typer(help=f"{title}督办、催办指令：下发、查询、撤回、办结，跟踪各县签收与办复。", no_args_is_help=True)

    @contextmanager
    def desk(config: Path | None, action: str = "", target: str = "") -> Iterator[tuple[OrderDesk, str]]:
        """The order desk as the logged-in person sees it, and the actor label of what they do; with ``action``,
        a write of the node's own (``order.issue``), audited under ``action`` and ``target``."""
        from city_aggregator.orders.service import OrderDesk, OrdersContext, issuing, narrowed
        from security.access import Permission
        from security.people import acting_as, cli_session

        cfg = setup(config)
        url = make_url(cfg.database_url)
        if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
            raise ConfigError(
                f"本节点尚未初始化（找不到数据库 {url.database}），请先执行 sunshine {level.value} init",
                database=url.database,
            )
        node = build(cfg)  # refuses a configuration of another level
        try:
            who, token = cli_session(cfg, node.accounts)
            context = OrdersContext(node.engine, node.division, node.clock)
            if not action:
                who.require(Permission.ORDER_READ)
                yield OrderDesk(narrowed(context, who)), who.label
                return
            with acting_as(node.accounts, who, Permission.ORDER_ISSUE, action, target, token=token) as actor:
                yield OrderDesk(issuing(context, who)), actor
        finally:
            node.close()

    @app.command("issue")
    def issue(
        *,
        kind: Annotated[str, typer.Option("--kind", help="指令类型：urge 催办、supervise 督办")],
        reason: Annotated[str, typer.Option("--reason", help="原因与要求")],
        alert: Annotated[str | None, typer.Option("--alert", help="所督办的预警编号")] = None,
        case_no: Annotated[str | None, typer.Option("--case", help="所督办的办件编号（不针对预警时）")] = None,
        reply_days: Annotated[int | None, typer.Option("--reply-days", help="办复时限（工作日，可选）")] = None,
        as_json: _Json = False,
        config: _Config = None,
    ) -> None:
        """对本节点掌握的预警（或办件）下发催办、督办指令；指令随同步下发到所属县。"""
        if (alert is None) == (case_no is None):
            raise ValidationError("请指定 --alert（预警编号）或 --case（办件编号）之一", field="subject")
        subject_kind, subject_id = ("alert", alert) if alert is not None else ("case", case_no)
        assert subject_id is not None
        with desk(config, "order.issue", f"{subject_kind}:{subject_id}") as (d, actor):
            view = d.issue(
                subject_kind=subject_kind,
                subject_id=subject_id,
                kind=kind,
                reason=reason,
                issued_by=actor,
                reply_limit_days=reply_days,
            )
        if as_json:
            _echo_json(view)
        else:
            typer.echo(f"已下发{view['kind_label']}指令 {view['order_id']}（{view['county']}）")
            print_order(view)

    @app.command("list")
    def list_orders(
        *,
        county: Annotated[str | None, typer.Option("--county", help="按县（区划代码）筛选")] = None,
        issuer: Annotated[str | None, typer.Option("--issuer", help="按下发机关（区划代码）筛选")] = None,
        status: Annotated[str | None, typer.Option("--status", help="按指令状态：issued、withdrawn、closed")] = None,
        reply: Annotated[
            str | None, typer.Option("--reply", help="按办复状态：pending 待签收、received 已签收、answered 已办复")
        ] = None,
        page: Annotated[int, typer.Option("--page", help="页码，从 1 开始")] = 1,
        page_size: Annotated[int, typer.Option("--page-size", help="每页条数（1–200）")] = 20,
        as_json: _Json = False,
        config: _Config = None,
    ) -> None:
        """本节点辖区内的指令（最新下发的在前），附各县的签收与办复。"""
        with desk(config) as (d, _):
            view = d.list(county=county, issuer=issuer, status=status, reply=reply, page=page, page_size=page_size)
        if as_json:
            _echo_json(view)
        else:
            print_order_page(view)

    @app.command("show")
    def show(
        *,
        order_id: Annotated[str, typer.Argument(help="指令编号")],
        as_json: _Json = False,
        config: _Config = None,
    ) -> None:
        """一条指令的详情：原因、办复时限、县的签收与办复、处理记录。"""
        with desk(config) as (d, _):
            view = d.get(order_id)
        if as_json:
            _echo_json(view)
        else:
            print_order(view)

    @app.command("withdraw")
    def withdraw(
        *,
        order_id: Annotated[str, typer.Argument(help="指令编号")],
        reason: Annotated[str, typer.Option("--reason", help="撤回原因")],
        as_json: _Json = False,
        config: _Config = None,
    ) -> None:
        """撤回本节点下发的指令（随同步通知所属县）。"""
        with desk(config, "order.withdraw", order_id) as (d, actor):
            view = d.withdraw(order_id, actor=actor, reason=reason)
        if as_json:
            _echo_json(view)
        else:
            typer.echo(f"已撤回指令 {order_id}")

    @app.command("close")
    def close(
        *,
        order_id: Annotated[str, typer.Argument(help="指令编号")],
        reason: Annotated[str, typer.Option("--reason", help="办结意见（可选）")] = "",
        as_json: _Json = False,
        config: _Config = None,
    ) -> None:
        """办结本节点下发的指令（对县里的办复满意）。"""
        with desk(config, "order.close", order_id) as (d, actor):
            view = d.close(order_id, actor=actor, reason=reason)
        if as_json:
            _echo_json(view)
        else:
            typer.echo(f"已办结指令 {order_id}")

    return app
