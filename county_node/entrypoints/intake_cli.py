"""``sunshine case intake …``: online applications (网上申报) from the county's extranet node — list, show, accept
(it becomes a case), refuse. Run as the logged-in person: reading needs ``case.read``, deciding ``case.intake``.

Only on a county with an extranet node (``[extranet] link``); elsewhere each command says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from county_node.entrypoints.cli_node import node_of
from county_node.entrypoints.cli_people import acting, reading
from county_node.entrypoints.intake_views import accepted_view, submission_page_view, submission_view
from county_node.entrypoints.views import case_detail_view
from county_node.public.services import Accepted, require_desk
from federation.cli import config_option
from federation.text import moment_text
from security.access import Permission

__all__ = ["intake_app", "print_accepted"]

intake_app = typer.Typer(help="网上受理：外网提交的网上申报（列表、查看、受理、不予受理）。", no_args_is_help=True)


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def print_accepted(accepted: Accepted, portal_url: str) -> None:
    """What the clerk reads after an acceptance: the case number and, once, the query code for the 受理通知书."""
    case = accepted.case
    typer.echo(f"已受理办件 {case.case_no}：{case.item_name}，申请人 {case.applicant}")
    if accepted.query_code:
        where = f"（外网查询：{portal_url}）" if portal_url else ""
        typer.echo(f"查询码：{accepted.query_code}{where}——仅显示这一次，请打印在受理通知书上交申请人")
    if accepted.submission_id:
        typer.echo(f"申请人在网上申报（{accepted.submission_id}）时获得的查询码同样可用")


@intake_app.command("list")
def intake_list(
    *,
    status: Annotated[str, typer.Option("--status", help="pending 待受理、accepted 已受理、refused 不予受理、all")] = (
        "pending"
    ),
    page: Annotated[int, typer.Option("--page", help="页码，从 1 开始")] = 1,
    page_size: Annotated[int, typer.Option("--page-size", help="每页条数（1–200）")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出（与接口 GET /api/v1/intake 相同）")] = False,
    config: Annotated[Path | None, config_option] = None,
) -> None:
    """网上申报列表（最早提交的在前）。"""
    with node_of(config) as node:
        reading(node, Permission.CASE_READ)
        found = require_desk(node.intake).list(
            status=None if status == "all" else status, page=page, page_size=page_size
        )
    view = submission_page_view(found)
    if as_json:
        _echo_json(view)
        return
    typer.echo(f"网上申报 共 {view['total']} 件（第 {view['page']} 页）")
    for s in view["items"]:
        case = f" → {s['case_no']}" if s["case_no"] else ""
        submitted = moment_text(s["submitted_at"])
        line = f"{s['submission_id']}  {s['status_label']}  {s['item_code']}  {s['applicant']}  {submitted}"
        typer.echo(f"  {line}{case}")


@intake_app.command("show")
def intake_show(
    *,
    submission_id: Annotated[str, typer.Argument(help="申报编号，例如 371122-W20261207-7K3M9Q")],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
    config: Annotated[Path | None, config_option] = None,
) -> None:
    """查看一件网上申报：事项、申请人、材料与关键数据（手机号码脱敏显示）。"""
    with node_of(config) as node:
        reading(node, Permission.CASE_READ)
        view = submission_view(require_desk(node.intake).get(submission_id))
    if as_json:
        _echo_json(view)
        return
    typer.echo(f"网上申报 {view['submission_id']}（{view['status_label']}）")
    typer.echo(f"  事项：{view['item_code']}  申请人：{view['applicant']}  证件号码：{view['applicant_id'] or '-'}")
    no_sms = "（不接收短信）" if view["sms_opt_out"] else ""
    typer.echo(f"  手机：{view['phone'] or '-'}{no_sms}  提交：{moment_text(view['submitted_at'])}")
    typer.echo(f"  材料：{'、'.join(view['materials']) or '-'}")
    for key, value in view["data"].items():
        typer.echo(f"  {key}：{value}")
    if view["note"]:
        typer.echo(f"  备注：{view['note']}")
    if view["case_no"]:
        typer.echo(f"  办件：{view['case_no']}（{view['decided_by']}，{moment_text(view['decided_at'])}）")
    if view["reason"]:
        typer.echo(f"  不予受理理由：{view['reason']}")


@intake_app.command("accept")
def intake_accept(
    *,
    submission_id: Annotated[str, typer.Argument(help="申报编号")],
    window: Annotated[str | None, typer.Option("--window", help="受理窗口编号，例如 W01")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出办件详情与查询码")] = False,
    config: Annotated[Path | None, config_option] = None,
) -> None:
    """受理网上申报：登记并受理办件（同一事务），申请人收到受理短信（经办人为当前登录账号）。"""
    with node_of(config) as node:
        desk = require_desk(node.intake)
        with acting(node, Permission.CASE_INTAKE, "网上申报受理", submission_id) as actor:
            accepted = desk.accept(submission_id, actor=actor, window=window)
        detail = case_detail_view(node.approval.get(accepted.case.case_no))
        portal = node.config.extranet.portal_url
    if as_json:
        _echo_json(accepted_view(detail, accepted.query_code, accepted.submission_id))
        return
    print_accepted(accepted, portal)


@intake_app.command("refuse")
def intake_refuse(
    *,
    submission_id: Annotated[str, typer.Argument(help="申报编号")],
    reason: Annotated[str, typer.Option("--reason", help="不予受理的理由（申请人将在外网看到）")],
    config: Annotated[Path | None, config_option] = None,
) -> None:
    """不予受理网上申报：理由经外网告知申请人（经办人为当前登录账号）。"""
    with node_of(config) as node:
        desk = require_desk(node.intake)
        with acting(node, Permission.CASE_INTAKE, "网上申报不予受理", submission_id) as actor:
            desk.refuse(submission_id, reason=reason, actor=actor)
    typer.echo(f"网上申报 {submission_id}：已不予受理，理由已发布至外网")
