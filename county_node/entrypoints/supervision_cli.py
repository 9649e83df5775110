"""``sunshine alert|complaint|rating …``: supervision (电子监察) on this node's database, from the command line.

The commands mirror the supervision routes of the HTTP API (:mod:`county_node.entrypoints.supervision_http`):
same service, same views (``--json`` prints exactly what the API returns), same Chinese errors — printed by
``federation.cli.main`` as one line with exit status 2. They open the node the way ``sunshine case`` does and
refuse to run on a node that was never initialised.

=========================================  =================================================================
sunshine alert list|show                   预警查询（灯色、规则、状态、办件、层级筛选）
sunshine alert ack|urge|supervise|close    签收、催办、督办、关闭（``alert act ID ACTION`` 同接口的操作名）
sunshine alert sweep [--at 时刻]           立即巡检一次
sunshine complaint file|list|show|answer|close   投诉
sunshine rating add|list|show|follow-up    好差评与差评回访
=========================================  =================================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from county_node.entrypoints.case_cli import _node as open_node  # the one way a command opens the node
from county_node.entrypoints.supervision_schemas import (
    PERSON_ACTION_ORDER,
    AlertPageView,
    AlertView,
    ComplaintPageView,
    ComplaintView,
    RatingPageView,
    RatingView,
    SweepView,
    alert_page_view,
    alert_view,
    complaint_page_view,
    complaint_view,
    rating_page_view,
    rating_view,
    sweep_view,
)
from county_node.supervision.adapters.store import AlertFilter
from county_node.supervision.domain.alerts import ACTION_LABELS, AlertAction
from federation.cli import config_option
from federation.errors import ValidationError

__all__ = ["alert_app", "complaint_app", "rating_app"]

alert_app = typer.Typer(help="电子监察预警：查询、签收、催办、督办、关闭与巡检。", no_args_is_help=True)
complaint_app = typer.Typer(help="投诉：登记、查询、答复与办结。", no_args_is_help=True)
rating_app = typer.Typer(help="好差评：记录评价、查询与差评回访。", no_args_is_help=True)

_Config = Annotated[Path | None, config_option]
_Json = Annotated[bool, typer.Option("--json", help="以 JSON 输出（与接口返回相同）")]
_Actor = Annotated[str, typer.Option("--actor", help="操作人（姓名或岗位）")]
_Page = Annotated[int, typer.Option("--page", help="页码，从 1 开始")]
_PageSize = Annotated[int, typer.Option("--page-size", help="每页条数（1–200）")]

Echo = Callable[[str], Any]


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _when(moment: str | None) -> str:
    """``2026-09-21T09:00:00+08:00`` → ``2026-09-21 09:00`` (Beijing time)."""
    return "—" if not moment else moment[:16].replace("T", " ")


def _pages(total: int, page_size: int) -> int:
    return max(1, -(-total // page_size))


# -- text output ----------------------------------------------------------------------------------------------


def _alert_line(a: AlertView) -> str:
    subject = a["case_no"] or a["subject_id"]
    return (
        f"  {a['alert_id']}  {a['light_label'] or '—'}  {a['status_label']}  {a['rule_id']} {a['rule_name']}  "
        f"{subject}  {a['level_label']}  触发 {_when(a['opened_at'])}"
    )


def _print_alert(a: AlertView, echo: Echo) -> None:
    echo(f"预警 {a['alert_id']}  {a['rule_id']} {a['rule_name']}（规则第 {a['rule_version']} 版）")
    echo(f"  对象：{a['subject_kind']} {a['subject_id']}    部门：{a['department'] or '—'}")
    echo(f"  灯色：{a['light_label'] or '—'}    状态：{a['status_label']}    督办层级：{a['level_label']}")
    echo(f"  触发：{_when(a['opened_at'])}    签收时限：{_when(a['ack_due_at'])}    关闭：{_when(a['closed_at'])}")
    if a["close_reason"]:
        echo(f"  关闭原因：{a['close_reason']}")
    if a["evidence"]:
        echo("  证据：" + "、".join(a["evidence"]))
    clock = a["clock"]
    if clock:
        echo(
            f"  时钟：截止 {_when(clock.get('due_at'))}，剩余 {clock.get('remaining_days')} 个工作日，"
            f"超期 {clock.get('overdue_days')} 个工作日"
        )
    echo("处理记录：")
    for h in a["history"]:
        reason = f"  {h['reason']}" if h["reason"] else ""
        echo(f"  {_when(h['at'])}  {h['action_label']}  {h['actor']}{reason}")


def _print_alert_page(view: AlertPageView, echo: Echo) -> None:
    echo(f"共 {view['total']} 条预警，第 {view['page']}/{_pages(view['total'], view['page_size'])} 页")
    for a in view["items"]:
        echo(_alert_line(a))


def _print_sweep(view: SweepView, echo: Echo) -> None:
    def counted(counts: dict[str, int]) -> str:
        if not counts:
            return "0 条"
        parts = "，".join(f"{r} {view['rule_names'][r]} {n}" for r, n in counts.items())
        return f"{sum(counts.values())} 条（{parts}）"

    echo(f"巡检完成（时刻 {_when(view['as_of'])}）")
    echo(f"  新触发预警：{counted(view['raised'])}")
    echo(f"  条件消除：{counted(view['cleared'])}")
    echo(f"  超时未签收升级：{view['escalated']} 条    复核对象：{view['evaluated']} 个")


def _print_complaint(c: ComplaintView, echo: Echo) -> None:
    echo(f"投诉 {c['complaint_id']}  {c['status_label']}")
    echo(f"  对象：{c['target_label']} {c['target_id']}    投诉人：{c['complainant']}    渠道：{c['channel_label']}")
    echo(f"  内容：{c['content']}")
    echo(f"  登记：{_when(c['filed_at'])}    答复时限：{c['limit_days']} 个工作日（截止 {_when(c['due_at'])}）")
    if c["answer"]:
        echo(f"  答复：{c['answer']}（{c['answered_by']}，{_when(c['answered_at'])}）")
    if c["closed_at"]:
        echo(f"  办结：{_when(c['closed_at'])}")


def _print_complaint_page(view: ComplaintPageView, echo: Echo) -> None:
    echo(f"共 {view['total']} 件投诉，第 {view['page']}/{_pages(view['total'], view['page_size'])} 页")
    for c in view["items"]:
        echo(
            f"  {c['complaint_id']}  {c['status_label']}  {c['target_label']} {c['target_id']}  "
            f"投诉人 {c['complainant']}  登记 {_when(c['filed_at'])}  截止 {_when(c['due_at'])}"
        )


def _print_rating(r: RatingView, echo: Echo) -> None:
    echo(f"评价 {r['rating_id']}  {r['level']} 级 {r['level_label']}  {r['status_label']}")
    echo(f"  办件：{r['case_no']}    工作人员：{r['staff']}    渠道：{r['channel_label']}    时间：{_when(r['at'])}")
    if r["comment"]:
        echo(f"  内容：{r['comment']}")
    if r["negative"]:
        echo(f"  差评回访时限：{r['follow_up_limit_days']} 个工作日（截止 {_when(r['due_at'])}）")
    if r["follow_up_note"]:
        echo(f"  回访：{r['follow_up_note']}（{r['followed_up_by']}，{_when(r['followed_up_at'])}）")


def _print_rating_page(view: RatingPageView, echo: Echo) -> None:
    echo(f"共 {view['total']} 条评价，第 {view['page']}/{_pages(view['total'], view['page_size'])} 页")
    for r in view["items"]:
        echo(
            f"  {r['rating_id']}  {r['level']} 级 {r['level_label']}  {r['status_label']}  "
            f"{r['case_no']}  {r['staff']}  {_when(r['at'])}"
        )


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
    page: _Page = 1,
    page_size: _PageSize = 20,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """查询预警（最新触发的在前）。"""
    flt = AlertFilter(status=status, light=light, rule_id=rule, case_no=case_no, level=level)
    with open_node(config) as node:
        view = alert_page_view(node.supervision.list_alerts(flt, page=page, page_size=page_size))
    if as_json:
        _echo_json(view)
    else:
        _print_alert_page(view, typer.echo)


@alert_app.command("show")
def alert_show(
    *,
    alert_id: Annotated[str, typer.Argument(help="预警编号")],
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """查看预警：规则、证据、时钟读数与处理记录。"""
    with open_node(config) as node:
        view = alert_view(node.supervision.get_alert(alert_id))
    if as_json:
        _echo_json(view)
    else:
        _print_alert(view, typer.echo)


def _act(alert_id: str, action: AlertAction, actor: str, reason: str, as_json: bool, config: Path | None) -> None:
    with open_node(config) as node:
        view = alert_view(node.supervision.act(alert_id, action, actor=actor, reason=reason))
    if as_json:
        _echo_json(view)
        return
    typer.echo(f"预警 {view['alert_id']}：已{ACTION_LABELS[action]}，当前状态：{view['status_label']}")


@alert_app.command("act")
def alert_act(
    *,
    alert_id: Annotated[str, typer.Argument(help="预警编号")],
    action: Annotated[str, typer.Argument(help="操作：acknowledge、urge、supervise、close")],
    actor: _Actor,
    reason: Annotated[str, typer.Option("--reason", help="原因或意见（催办、督办、关闭时必填）")] = "",
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """对预警执行一个操作（与接口 POST /api/v1/alerts/{预警编号}/{操作} 相同）。"""
    known = {a.value: a for a in PERSON_ACTION_ORDER}
    if action not in known:
        raise ValidationError(f"未知的预警操作“{action}”，可用操作：{'、'.join(known)}", action=action)
    _act(alert_id, known[action], actor, reason, as_json, config)


@alert_app.command("ack")
def alert_ack(
    *,
    alert_id: Annotated[str, typer.Argument(help="预警编号")],
    actor: _Actor,
    reason: Annotated[str, typer.Option("--reason", help="签收意见（可不填）")] = "",
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """签收预警：本级已知悉并开始处理，签收后不再超时升级。"""
    _act(alert_id, AlertAction.ACKNOWLEDGE, actor, reason, as_json, config)


@alert_app.command("urge")
def alert_urge(
    *,
    alert_id: Annotated[str, typer.Argument(help="预警编号")],
    actor: _Actor,
    reason: Annotated[str, typer.Option("--reason", help="催办意见（必填）")] = "",
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """催办：向承办部门发出催办（可重复）。"""
    _act(alert_id, AlertAction.URGE, actor, reason, as_json, config)


@alert_app.command("supervise")
def alert_supervise(
    *,
    alert_id: Annotated[str, typer.Argument(help="预警编号")],
    actor: _Actor,
    reason: Annotated[str, typer.Option("--reason", help="督办意见（必填）")] = "",
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """督办：发出督办令。"""
    _act(alert_id, AlertAction.SUPERVISE, actor, reason, as_json, config)


@alert_app.command("close")
def alert_close(
    *,
    alert_id: Annotated[str, typer.Argument(help="预警编号")],
    actor: _Actor,
    reason: Annotated[str, typer.Option("--reason", help="关闭原因（必填）")] = "",
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """关闭预警：记录关闭人、时间与原因。"""
    _act(alert_id, AlertAction.CLOSE, actor, reason, as_json, config)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"--at 不是有效的时刻：{text}（例如 2026-09-30T00:00:00+08:00）", at=text) from None
    if moment.tzinfo is None:
        raise ValidationError(f"--at 必须带时区，例如 {text}+08:00", at=text)
    return moment


@alert_app.command("sweep")
def alert_sweep(
    *,
    at: Annotated[
        str | None,
        typer.Option("--at", help="按指定时刻巡检（ISO 8601，带时区；演示与测试用，默认节点时钟的当前时间）"),
    ] = None,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """立即巡检一次：触发到点的黄灯、红灯与超时预警，升级超时未签收的预警。可重复执行。"""
    moment = None if at is None else _moment(at)
    with open_node(config) as node:
        view = sweep_view(node.supervision.sweep(moment))
    if as_json:
        _echo_json(view)
    else:
        _print_sweep(view, typer.echo)


# -- sunshine complaint ---------------------------------------------------------------------------------------


@complaint_app.command("file")
def complaint_file(
    *,
    target: Annotated[str, typer.Option("--target", help="投诉对象类型：case 办件、window 窗口、staff 工作人员")],
    target_id: Annotated[str, typer.Option("--target-id", help="投诉对象：办件编号、窗口编号或工作人员")],
    complainant: Annotated[str, typer.Option("--complainant", help="投诉人")],
    content: Annotated[str, typer.Option("--content", help="投诉内容")],
    actor: Annotated[str, typer.Option("--actor", help="登记人（受理投诉的工作人员）")],
    channel: Annotated[
        str, typer.Option("--channel", help="投诉渠道：window、web、app、phone、sms、12345、kiosk")
    ] = "window",
    limit_days: Annotated[int | None, typer.Option("--limit-days", help="答复时限（工作日；默认取标准包参数）")] = None,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """登记一件投诉；投诉办件时办件须存在。"""
    with open_node(config) as node:
        row = node.supervision.file_complaint(
            target=target,
            target_id=target_id,
            complainant=complainant,
            content=content,
            channel=channel,
            limit_days=limit_days,
            actor=actor,
        )
    view = complaint_view(row)
    if as_json:
        _echo_json(view)
        return
    typer.echo(
        f"已登记投诉 {view['complaint_id']}：{view['target_label']} {view['target_id']}，"
        f"答复时限 {view['limit_days']} 个工作日（截止 {_when(view['due_at'])}）"
    )


@complaint_app.command("list")
def complaint_list(
    *,
    status: Annotated[str | None, typer.Option("--status", help="按状态筛选：open、answered、closed")] = None,
    case_no: Annotated[str | None, typer.Option("--case", help="按办件编号筛选")] = None,
    page: _Page = 1,
    page_size: _PageSize = 20,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """查询投诉（最新登记的在前）。"""
    statuses = ("open", "answered", "closed")
    if status is not None and status not in statuses:
        raise ValidationError(f"未知的投诉状态“{status}”，可选：{'、'.join(statuses)}", field="status")
    with open_node(config) as node:
        found = node.supervision.list_complaints(status=status, case_no=case_no, page=page, page_size=page_size)
    view = complaint_page_view(found, page, page_size)
    if as_json:
        _echo_json(view)
    else:
        _print_complaint_page(view, typer.echo)


@complaint_app.command("show")
def complaint_show(
    *,
    complaint_id: Annotated[str, typer.Argument(help="投诉编号")],
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """查看投诉。"""
    with open_node(config) as node:
        view = complaint_view(node.supervision.get_complaint(complaint_id))
    if as_json:
        _echo_json(view)
    else:
        _print_complaint(view, typer.echo)


@complaint_app.command("answer")
def complaint_answer(
    *,
    complaint_id: Annotated[str, typer.Argument(help="投诉编号")],
    answer: Annotated[str, typer.Option("--answer", help="答复内容")],
    actor: _Actor,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """答复一件待答复的投诉。"""
    with open_node(config) as node:
        view = complaint_view(node.supervision.answer_complaint(complaint_id, answer=answer, actor=actor))
    if as_json:
        _echo_json(view)
    else:
        typer.echo(f"投诉 {view['complaint_id']}：已答复，当前状态：{view['status_label']}")


@complaint_app.command("close")
def complaint_close(
    *,
    complaint_id: Annotated[str, typer.Argument(help="投诉编号")],
    actor: _Actor,
    reason: Annotated[str, typer.Option("--reason", help="办结说明")] = "",
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """办结一件已答复的投诉。"""
    with open_node(config) as node:
        view = complaint_view(node.supervision.close_complaint(complaint_id, actor=actor, reason=reason))
    if as_json:
        _echo_json(view)
    else:
        typer.echo(f"投诉 {view['complaint_id']}：已办结，当前状态：{view['status_label']}")


# -- sunshine rating ------------------------------------------------------------------------------------------

_LEVEL_HELP = "评价等级：5 非常满意、4 满意、3 基本满意、2 不满意、1 非常不满意"


def _level(text: str) -> int:
    """The level as an integer; the range (1–5) is the domain's to check, with its own message."""
    try:
        return int(text.strip())
    except ValueError:
        raise ValidationError(
            f"评价等级应为 1（非常不满意）到 5（非常满意）之间的整数，实际为“{text}”", field="level"
        ) from None


@rating_app.command("add")
def rating_add(
    *,
    case_no: Annotated[str, typer.Option("--case", help="办件编号")],
    staff: Annotated[str, typer.Option("--staff", help="被评价的工作人员")],
    level: Annotated[str, typer.Option("--level", help=_LEVEL_HELP)],
    comment: Annotated[str | None, typer.Option("--comment", help="评价内容")] = None,
    channel: Annotated[str, typer.Option("--channel", help="评价渠道（同投诉渠道）")] = "window",
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """记录一条好差评（每件每人一次）；差评须在时限内回访。"""
    value = _level(level)
    with open_node(config) as node:
        row = node.supervision.rate(case_no=case_no, staff=staff, level=value, comment=comment, channel=channel)
    view = rating_view(row)
    if as_json:
        _echo_json(view)
        return
    follow = f"，须在 {_when(view['due_at'])} 前回访" if view["negative"] else ""
    typer.echo(
        f"已记录评价 {view['rating_id']}：{view['case_no']} {view['staff']} "
        f"{view['level']} 级（{view['level_label']}），{view['status_label']}{follow}"
    )


@rating_app.command("list")
def rating_list(
    *,
    case_no: Annotated[str | None, typer.Option("--case", help="按办件编号筛选")] = None,
    staff: Annotated[str | None, typer.Option("--staff", help="按工作人员筛选")] = None,
    negative: Annotated[
        bool | None, typer.Option("--negative/--not-negative", help="只看差评 / 只看非差评（默认全部）")
    ] = None,
    page: _Page = 1,
    page_size: _PageSize = 20,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """查询评价（最新的在前）。"""
    with open_node(config) as node:
        found = node.supervision.list_ratings(
            case_no=case_no, staff=staff, negative=negative, page=page, page_size=page_size
        )
    view = rating_page_view(found, page, page_size)
    if as_json:
        _echo_json(view)
    else:
        _print_rating_page(view, typer.echo)


@rating_app.command("show")
def rating_show(
    *,
    rating_id: Annotated[str, typer.Argument(help="评价编号")],
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """查看评价。"""
    with open_node(config) as node:
        view = rating_view(node.supervision.get_rating(rating_id))
    if as_json:
        _echo_json(view)
    else:
        _print_rating(view, typer.echo)


@rating_app.command("follow-up")
def rating_follow_up(
    *,
    rating_id: Annotated[str, typer.Argument(help="评价编号")],
    note: Annotated[str, typer.Option("--note", help="回访情况")],
    actor: _Actor,
    as_json: _Json = False,
    config: _Config = None,
) -> None:
    """差评回访：记录回访情况。"""
    with open_node(config) as node:
        view = rating_view(node.supervision.follow_up(rating_id, note=note, actor=actor))
    if as_json:
        _echo_json(view)
    else:
        typer.echo(f"评价 {view['rating_id']}：已回访，当前状态：{view['status_label']}")
