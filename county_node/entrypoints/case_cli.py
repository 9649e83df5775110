"""``sunshine case …``: work cases directly on this node's database (submit, act, show, list).

The commands mirror the HTTP API (:mod:`county_node.entrypoints.http`) — same views, same validation — but go
through :class:`county_node.approval.services.ApprovalService` on the configured database, not over HTTP. They
refuse to run on a node that was never initialised (no database yet) instead of creating an empty one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pydantic
import typer

from county_node.approval.adapters.repository import CaseFilter
from county_node.approval.domain import ACTION_LABELS, STATUS_LABELS, Action, Status
from county_node.entrypoints.case_output import print_case_detail, print_case_page
from county_node.entrypoints.cli_node import node_of
from county_node.entrypoints.cli_people import acting, reading
from county_node.entrypoints.intake_cli import intake_app, print_accepted
from county_node.entrypoints.permissions import action_permission
from county_node.entrypoints.schemas import ACTION_BODIES
from county_node.entrypoints.views import LIGHT_LABELS, case_detail_view, case_page_view
from federation.cli import config_option
from federation.clock import Light
from federation.errors import ValidationError
from federation.http_errors import validation_error
from federation.text import choices
from security.access import Permission

__all__ = ["case_app"]

case_app = typer.Typer(help="办件：申请、办理、查看与查询（直接操作本节点数据库）。", no_args_is_help=True)
case_app.add_typer(intake_app, name="intake")

_ACTION_NAMES = {a.value: label for a, label in ACTION_LABELS.items()}
_STATUS_NAMES = {s.value: label for s, label in STATUS_LABELS.items()}
_LIGHT_NAMES = {light: label.partition("（")[0] for light, label in LIGHT_LABELS.items()}  # 红灯（超期） → 红灯


def _pairs(values: list[str], option: str) -> list[tuple[str, str]]:
    out = []
    for raw in values:
        key, sep, value = raw.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"{option} 应为“名称=值”的形式：{raw}", option=option)
        out.append((key.strip(), value))
    return out


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


@case_app.command("submit")
def case_submit(
    *,
    item: Annotated[str, typer.Option("--item", help="事项编码，例如 XK00001000")],
    applicant: Annotated[str, typer.Option("--applicant", help="申请人")],
    data: Annotated[list[str] | None, typer.Option("--data", help="关键数据 字段名=值（可重复）")] = None,
    window: Annotated[str | None, typer.Option("--window", help="受理窗口编号，例如 W01")] = None,
    phone: Annotated[
        str | None, typer.Option("--phone", help="申请人手机号码（受理、补正、办结时短信告知；需配置外网节点）")
    ] = None,
    sms_opt_out: Annotated[bool, typer.Option("--sms-opt-out", help="申请人不接收短信")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出办件详情")] = False,
    config: Annotated[Path | None, config_option] = None,
) -> None:
    """申请：登记一件新办件（需窗口人员登录，经办人为当前登录账号）。"""
    fields = dict(_pairs(data or [], "--data"))
    with node_of(config) as node:
        if phone and node.intake is None:
            raise ValidationError(
                "本县未配置外网节点（[extranet] link），不登记申请人手机号码，也不发送办件短信", field="phone"
            )
        with acting(node, Permission.CASE_INTAKE, ACTION_LABELS[Action.SUBMIT], item) as actor:
            if node.intake is not None:
                case = node.intake.submit(
                    item_code=item,
                    applicant=applicant,
                    data=fields,
                    actor=actor,
                    window=window,
                    phone=phone,
                    sms_opt_out=sms_opt_out,
                )
            else:
                case = node.approval.submit(
                    item_code=item, applicant=applicant, data=fields, actor=actor, window=window
                )
        detail = node.approval.get(case.case_no)
    if as_json:
        _echo_json(case_detail_view(detail))
        return
    typer.echo(
        f"已登记办件 {case.case_no}：{case.item_name}（{case.item_code}，{case.department}），"
        f"申请人 {case.applicant}，状态：{STATUS_LABELS[case.status]}"
    )


def _action_params(action: Action, json_params: str | None, params: list[str]) -> dict[str, Any]:
    """Parameters from ``--json`` then ``--param`` (``data.字段=值`` fills the ``data`` mapping), typed by the
    action's body model (``days=5`` becomes the integer 5)."""
    merged: dict[str, Any] = {}
    if json_params:
        try:
            loaded = json.loads(json_params)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"--json 不是有效的 JSON：{exc.msg}（第 {exc.pos + 1} 个字符）") from None
        if not isinstance(loaded, dict):
            raise ValidationError("--json 应为 JSON 对象，例如 '{\"days\": 5}'")
        merged.update(loaded)
    for key, value in _pairs(params, "--param"):
        head, dot, field = key.partition(".")
        if dot and head == "data" and field:
            data = merged.get("data")
            merged["data"] = {**(data if isinstance(data, dict) else {}), field: value}
        else:
            merged[key] = value
    model = ACTION_BODIES[action]
    try:
        body = model.model_validate(merged)
    except pydantic.ValidationError as exc:
        err = validation_error(exc.errors(), summary=f"“{ACTION_LABELS[action]}”的参数不正确")
        raise ValidationError(err.message, action=action.value) from None  # the message names every field
    return body.params()


@case_app.command("act")
def case_act(
    *,
    case_no: Annotated[str, typer.Argument(help="办件编号")],
    action: Annotated[str, typer.Argument(help="操作，例如 accept、review、decide、extend")],
    param: Annotated[
        list[str] | None, typer.Option("--param", help="操作参数 名称=值（可重复；data.字段=值 录入关键数据）")
    ] = None,
    json_params: Annotated[str | None, typer.Option("--json", help="操作参数（JSON 对象）")] = None,
    config: Annotated[Path | None, config_option] = None,
) -> None:
    """办理：对办件执行一个操作（受理、审核、审批决定、办结、补正、暂停、延期、退回……），经办人为当前登录账号：
    受理、补正、信息采集、办结等窗口操作需窗口人员，审核、决定、暂停、延期、退回等需审批负责人。"""
    known = {a.value: a for a in ACTION_BODIES}
    if action not in known:
        raise ValidationError(f"未知的办件操作“{action}”，可用操作：{choices(known, _ACTION_NAMES)}", action=action)
    act = known[action]
    params = _action_params(act, json_params, param or [])
    with node_of(config) as node, acting(node, action_permission(act), ACTION_LABELS[act], case_no) as actor:
        if act is Action.ACCEPT and node.intake is not None:  # a query code for the 受理通知书, shown once
            accepted = node.intake.accept_case(case_no, actor=actor, params=params)
            print_accepted(accepted, node.config.extranet.portal_url)
            return
        case = node.approval.act(case_no, act, actor=actor, params=params)
    typer.echo(f"办件 {case.case_no}：已{ACTION_LABELS[act]}，当前状态：{STATUS_LABELS[case.status]}")


@case_app.command("show")
def case_show(
    *,
    case_no: Annotated[str, typer.Argument(help="办件编号")],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出（与接口的办件详情相同）")] = False,
    config: Annotated[Path | None, config_option] = None,
) -> None:
    """查看办件：基本信息、时限时钟与办理过程。"""
    with node_of(config) as node:
        reading(node, Permission.CASE_READ)
        view = case_detail_view(node.approval.get(case_no))
    if as_json:
        _echo_json(view)
    else:
        print_case_detail(view, typer.echo)


@case_app.command("list")
def case_list(
    *,
    status: Annotated[str | None, typer.Option("--status", help="按状态筛选，例如 accepted")] = None,
    light: Annotated[str | None, typer.Option("--light", help="按灯色筛选：white、yellow、red")] = None,
    department: Annotated[str | None, typer.Option("--department", help="按实施部门筛选")] = None,
    item: Annotated[str | None, typer.Option("--item", help="按事项编码筛选")] = None,
    page: Annotated[int, typer.Option("--page", help="页码，从 1 开始")] = 1,
    page_size: Annotated[int, typer.Option("--page-size", help="每页条数（1–200）")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出（与接口 GET /api/v1/cases 相同）")] = False,
    config: Annotated[Path | None, config_option] = None,
) -> None:
    """查询办件列表（最新申请的在前）。"""
    if status is not None and status not in {s.value for s in Status}:
        raise ValidationError(f"未知的状态“{status}”，可选：{choices(_STATUS_NAMES, _STATUS_NAMES)}", field="status")
    if light is not None and light not in {lt.value for lt in Light}:
        raise ValidationError(f"未知的灯色“{light}”，可选：{choices(_LIGHT_NAMES, _LIGHT_NAMES)}", field="light")
    flt = CaseFilter(status=status, light=light, department=department, item_code=item)
    with node_of(config) as node:
        reading(node, Permission.CASE_READ)
        view = case_page_view(node.approval.list(flt, page=page, page_size=page_size))
    if as_json:
        _echo_json(view)
    else:
        print_case_page(view, typer.echo)
