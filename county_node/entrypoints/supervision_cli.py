"""``sunshine alert …``: supervision alerts (电子监察预警) on this node's database, from the command line.

The commands mirror the alert routes of the HTTP API (:mod:`county_node.entrypoints.supervision_http`):
same service, same views (``--json`` prints exactly what the API returns), same Chinese errors — printed by
``federation.cli.main`` as one line with exit status 2. They open the node the way ``sunshine case`` does and
refuse to run on a node that was never initialised. The complaint and rating commands are in
:mod:`county_node.entrypoints.feedback_cli`.

=========================================  =================================================================
sunshine alert list|show                   预警查询（灯色、规则、状态、办件、层级筛选）
sunshine alert ack|urge|supervise|close    签收、催办、督办、关闭（``alert act ID ACTION`` 同接口的操作名）
sunshine alert sweep [--at 时刻]           立即巡检一次
=========================================  =================================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from county_node.entrypoints.cli_node import node_of as open_node  # the one way a command opens the node
from county_node.entrypoints.cli_people import acting, reading
from county_node.entrypoints.supervision_cli_common import (
    ConfigOption,
    Echo,
    JsonOption,
    PageOption,
    PageSizeOption,
    echo_json,
    pages,
    when,
)
from county_node.entrypoints.supervision_schemas import (
    PERSON_ACTION_ORDER,
    AlertPageView,
    AlertView,
    SweepView,
    alert_page_view,
    alert_view,
    sweep_view,
)
from county_node.supervision.adapters.store import AlertFilter
from county_node.supervision.domain.alerts import ACTION_LABELS, ACTOR_LABELS, AlertAction
from county_node.supervision.domain.model import SUBJECT_KIND_LABELS
from county_node.video.domain.segments import EVENT_KIND_LABELS
from federation.cli import at_moment
from federation.errors import ValidationError
from federation.text import choices
from security.access import Permission

__all__ = ["alert_app"]

alert_app = typer.Typer(help="电子监察预警：查询、签收、催办、督办、关闭与巡检。", no_args_is_help=True)


# -- text output ----------------------------------------------------------------------------------------------


def _alert_line(a: AlertView) -> str:
    subject = a["case_no"] or a["subject_id"]
    return (
        f"  {a['alert_id']}  {a['light_label'] or '—'}  {a['status_label']}  {a['rule_id']} {a['rule_name']}  "
        f"{subject}  {a['level_label']}  触发 {when(a['opened_at'])}"
    )


def _print_alert(a: AlertView, echo: Echo) -> None:
    echo(f"预警 {a['alert_id']}  {a['rule_id']} {a['rule_name']}（规则第 {a['rule_version']} 版）")
    kind = SUBJECT_KIND_LABELS.get(a["subject_kind"], a["subject_kind"])
    echo(f"  对象：{kind} {a['subject_id']}    部门：{a['department'] or '—'}")
    by_order = f"（指令 {a['supervising_order']}）" if a["supervising_order"] else ""
    echo(f"  灯色：{a['light_label'] or '—'}    状态：{a['status_label']}    督办层级：{a['level_label']}{by_order}")
    echo(f"  触发：{when(a['opened_at'])}    签收时限：{when(a['ack_due_at'])}    关闭：{when(a['closed_at'])}")
    if a["close_reason"]:
        echo(f"  关闭原因：{a['close_reason']}")
    if a["evidence"]:
        echo("  证据：" + "、".join(a["evidence"]))
    _print_clip(a, echo)
    clock = a["clock"]
    if clock:
        echo(
            f"  时钟：截止 {when(clock.get('due_at'))}，剩余 {clock.get('remaining_days')} 个工作日，"
            f"超期 {clock.get('overdue_days')} 个工作日"
        )
    echo("处理记录：")
    for h in a["history"]:
        reason = f"  {h['reason']}" if h["reason"] else ""
        echo(f"  {when(h['at'])}  {h['action_label']}  {ACTOR_LABELS.get(h['actor'], h['actor'])}{reason}")


def _print_clip(a: AlertView, echo: Echo) -> None:
    """A video event's alert (SUP-301 / SUP-302): what the camera reported, and where its clip is."""
    details = a["details"] if isinstance(a["details"], dict) else {}
    clip = details.get("clip")
    if not isinstance(clip, dict):
        return
    kind = EVENT_KIND_LABELS.get(str(details.get("event_kind")), str(details.get("event_kind") or "—"))
    echo(f"  视频事件：{kind}，发生于 {when(details.get('at'))}")
    camera = f"摄像机 {clip['camera_id']}" if clip.get("camera_id") else (clip.get("note") or "无摄像机")
    echo(
        f"  录像：窗口 {clip.get('window') or '—'}，{camera}，{when(clip.get('start'))} 至 {when(clip.get('end'))}"
        f"（{clip.get('segments', 0)} 段，缺失 {clip.get('gaps', 0)} 处）"
    )


def _print_alert_page(view: AlertPageView, echo: Echo) -> None:
    echo(f"共 {view['total']} 条预警，第 {view['page']}/{pages(view['total'], view['page_size'])} 页")
    for a in view["items"]:
        echo(_alert_line(a))


def _print_sweep(view: SweepView, echo: Echo) -> None:
    def counted(counts: dict[str, int]) -> str:
        if not counts:
            return "0 条"
        parts = "，".join(f"{r} {view['rule_names'][r]} {n}" for r, n in counts.items())
        return f"{sum(counts.values())} 条（{parts}）"

    echo(f"巡检完成（时刻 {when(view['as_of'])}）")
    echo(f"  新触发预警：{counted(view['raised'])}")
    echo(f"  条件消除：{counted(view['cleared'])}")
    echo(f"  超时未签收升级：{view['escalated']} 条    复核对象：{view['evaluated']} 个")


# -- sunshine alert -------------------------------------------------------------------------------------------


@alert_app.command("list")
def alert_list(
    *,
    status: Annotated[
        str | None, typer.Option("--status", help="按状态筛选：open、acknowledged、urged、supervised、closed、active")
    ] = None,
    light: Annotated[str | None, typer.Option("--light", help="按灯色筛选：yellow、red")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="按监察规则筛选，例如 SUP-002")] = None,
    case_no: Annotated[str | None, typer.Option("--case", help="按办件编号筛选")] = None,
    level: Annotated[int | None, typer.Option("--level", help="按督办层级筛选：0 县级、1 市级、2 省级")] = None,
    page: PageOption = 1,
    page_size: PageSizeOption = 20,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """查询预警（最新触发的在前）。"""
    flt = AlertFilter(status=status, light=light, rule_id=rule, case_no=case_no, level=level)
    with open_node(config) as node:
        reading(node, Permission.ALERT_READ)
        view = alert_page_view(node.supervision.list_alerts(flt, page=page, page_size=page_size))
    if as_json:
        echo_json(view)
    else:
        _print_alert_page(view, typer.echo)


@alert_app.command("show")
def alert_show(
    *,
    alert_id: Annotated[str, typer.Argument(help="预警编号")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """查看预警：规则、证据、时钟读数与处理记录。"""
    with open_node(config) as node:
        reading(node, Permission.ALERT_READ)
        view = alert_view(node.supervision.get_alert(alert_id))
    if as_json:
        echo_json(view)
    else:
        _print_alert(view, typer.echo)


def _act(alert_id: str, action: AlertAction, reason: str, as_json: bool, config: Path | None) -> None:
    """An alert action as the logged-in person (监察员: 预警处理)."""
    with open_node(config) as node, acting(node, Permission.ALERT_HANDLE, ACTION_LABELS[action], alert_id) as actor:
        view = alert_view(node.supervision.act(alert_id, action, actor=actor, reason=reason))
    if as_json:
        echo_json(view)
        return
    typer.echo(f"预警 {view['alert_id']}：已{ACTION_LABELS[action]}，当前状态：{view['status_label']}")


@alert_app.command("act")
def alert_act(
    *,
    alert_id: Annotated[str, typer.Argument(help="预警编号")],
    action: Annotated[str, typer.Argument(help="操作：acknowledge、urge、supervise、close")],
    reason: Annotated[str, typer.Option("--reason", help="原因或意见（催办、督办、关闭时必填）")] = "",
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """对预警执行一个操作（与接口 POST /api/v1/alerts/{预警编号}/{操作} 相同）。"""
    known = {a.value: a for a in PERSON_ACTION_ORDER}
    if action not in known:
        names = choices(known, {a.value: ACTION_LABELS[a] for a in known.values()})
        raise ValidationError(f"未知的预警操作“{action}”，可用操作：{names}", action=action)
    _act(alert_id, known[action], reason, as_json, config)


@alert_app.command("ack")
def alert_ack(
    *,
    alert_id: Annotated[str, typer.Argument(help="预警编号")],
    reason: Annotated[str, typer.Option("--reason", help="签收意见（可不填）")] = "",
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """签收预警：本级已知悉并开始处理，签收后不再超时升级。"""
    _act(alert_id, AlertAction.ACKNOWLEDGE, reason, as_json, config)


@alert_app.command("urge")
def alert_urge(
    *,
    alert_id: Annotated[str, typer.Argument(help="预警编号")],
    reason: Annotated[str, typer.Option("--reason", help="催办意见（必填）")] = "",
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """催办：向承办部门发出催办（可重复）。"""
    _act(alert_id, AlertAction.URGE, reason, as_json, config)


@alert_app.command("supervise")
def alert_supervise(
    *,
    alert_id: Annotated[str, typer.Argument(help="预警编号")],
    reason: Annotated[str, typer.Option("--reason", help="督办意见（必填）")] = "",
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """督办：发出督办令。"""
    _act(alert_id, AlertAction.SUPERVISE, reason, as_json, config)


@alert_app.command("close")
def alert_close(
    *,
    alert_id: Annotated[str, typer.Argument(help="预警编号")],
    reason: Annotated[str, typer.Option("--reason", help="关闭原因（必填）")] = "",
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """关闭预警：记录关闭人、时间与原因。"""
    _act(alert_id, AlertAction.CLOSE, reason, as_json, config)


@alert_app.command("sweep")
def alert_sweep(
    *,
    at: Annotated[
        str | None,
        typer.Option("--at", help="按指定时刻巡检（ISO 8601，带时区；演示与测试用，默认节点时钟的当前时间）"),
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """立即巡检一次：触发到点的黄灯、红灯与超时预警，升级超时未签收的预警。可重复执行。"""
    moment = None if at is None else at_moment(at)
    with open_node(config) as node, acting(node, Permission.ALERT_HANDLE, "立即巡检", node.config.node.division):
        view = sweep_view(node.supervision.sweep(moment))
    if as_json:
        echo_json(view)
    else:
        _print_sweep(view, typer.echo)
