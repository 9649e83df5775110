"""``sunshine complaint|rating …``: complaints (投诉) and ratings (好差评) on this node's database, from the
command line.

The commands mirror the complaint and rating routes of the HTTP API
(:mod:`county_node.entrypoints.supervision_http`): same service, same views (``--json`` prints exactly what the API
returns), same Chinese errors — printed by ``federation.cli.main`` as one line with exit status 2. They open the
node the way ``sunshine case`` does and refuse to run on a node that was never initialised. The alert commands are
in :mod:`county_node.entrypoints.supervision_cli`.

=========================================  =================================================================
sunshine complaint file|list|show|answer|close   投诉
sunshine rating add|list|show|follow-up    好差评与差评回访
=========================================  =================================================================
"""

from __future__ import annotations

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
    ComplaintPageView,
    ComplaintView,
    RatingPageView,
    RatingView,
    complaint_page_view,
    complaint_view,
    rating_page_view,
    rating_view,
)
from county_node.supervision.domain.feedback import COMPLAINT_STATUS_LABELS
from federation.errors import ValidationError
from federation.text import choices
from security.access import Permission

__all__ = ["complaint_app", "rating_app"]

complaint_app = typer.Typer(help="投诉：登记、查询、答复与办结。", no_args_is_help=True)
rating_app = typer.Typer(help="好差评：记录评价、查询与差评回访。", no_args_is_help=True)


# -- text output ----------------------------------------------------------------------------------------------


def _print_complaint(c: ComplaintView, echo: Echo) -> None:
    echo(f"投诉 {c['complaint_id']}  {c['status_label']}")
    echo(f"  对象：{c['target_label']} {c['target_id']}    投诉人：{c['complainant']}    渠道：{c['channel_label']}")
    echo(f"  内容：{c['content']}")
    echo(f"  登记：{when(c['filed_at'])}    答复时限：{c['limit_days']} 个工作日（截止 {when(c['due_at'])}）")
    if c["answer"]:
        echo(f"  答复：{c['answer']}（{c['answered_by']}，{when(c['answered_at'])}）")
    if c["closed_at"]:
        echo(f"  办结：{when(c['closed_at'])}")


def _print_complaint_page(view: ComplaintPageView, echo: Echo) -> None:
    echo(f"共 {view['total']} 件投诉，第 {view['page']}/{pages(view['total'], view['page_size'])} 页")
    for c in view["items"]:
        echo(
            f"  {c['complaint_id']}  {c['status_label']}  {c['target_label']} {c['target_id']}  "
            f"投诉人 {c['complainant']}  登记 {when(c['filed_at'])}  截止 {when(c['due_at'])}"
        )


def _print_rating(r: RatingView, echo: Echo) -> None:
    echo(f"评价 {r['rating_id']}  {r['level']} 级 {r['level_label']}  {r['status_label']}")
    echo(f"  办件：{r['case_no']}    工作人员：{r['staff']}    渠道：{r['channel_label']}    时间：{when(r['at'])}")
    if r["comment"]:
        echo(f"  内容：{r['comment']}")
    if r["negative"]:
        echo(f"  差评回访时限：{r['follow_up_limit_days']} 个工作日（截止 {when(r['due_at'])}）")
    if r["follow_up_note"]:
        echo(f"  回访：{r['follow_up_note']}（{r['followed_up_by']}，{when(r['followed_up_at'])}）")


def _print_rating_page(view: RatingPageView, echo: Echo) -> None:
    echo(f"共 {view['total']} 条评价，第 {view['page']}/{pages(view['total'], view['page_size'])} 页")
    for r in view["items"]:
        echo(
            f"  {r['rating_id']}  {r['level']} 级 {r['level_label']}  {r['status_label']}  "
            f"{r['case_no']}  {r['staff']}  {when(r['at'])}"
        )


# -- sunshine complaint ---------------------------------------------------------------------------------------


@complaint_app.command("file")
def complaint_file(
    *,
    target: Annotated[str, typer.Option("--target", help="投诉对象类型：case 办件、window 窗口、staff 工作人员")],
    target_id: Annotated[str, typer.Option("--target-id", help="投诉对象：办件编号、窗口编号或工作人员")],
    complainant: Annotated[str, typer.Option("--complainant", help="投诉人")],
    content: Annotated[str, typer.Option("--content", help="投诉内容")],
    channel: Annotated[
        str, typer.Option("--channel", help="投诉渠道：window、web、app、phone、sms、12345、kiosk")
    ] = "window",
    limit_days: Annotated[int | None, typer.Option("--limit-days", help="答复时限（工作日；默认取标准包参数）")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """登记一件投诉；投诉办件时办件须存在。登记人为当前登录账号。"""
    with open_node(config) as node, acting(node, Permission.FEEDBACK_RECORD, "登记投诉", target_id) as actor:
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
        echo_json(view)
        return
    typer.echo(
        f"已登记投诉 {view['complaint_id']}：{view['target_label']} {view['target_id']}，"
        f"答复时限 {view['limit_days']} 个工作日（截止 {when(view['due_at'])}）"
    )


@complaint_app.command("list")
def complaint_list(
    *,
    status: Annotated[str | None, typer.Option("--status", help="按状态筛选：open、answered、closed")] = None,
    case_no: Annotated[str | None, typer.Option("--case", help="按办件编号筛选")] = None,
    page: PageOption = 1,
    page_size: PageSizeOption = 20,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """查询投诉（最新登记的在前）。"""
    statuses = ("open", "answered", "closed")
    if status is not None and status not in statuses:
        raise ValidationError(
            f"未知的投诉状态“{status}”，可选：{choices(statuses, COMPLAINT_STATUS_LABELS)}", field="status"
        )
    with open_node(config) as node:
        reading(node, Permission.FEEDBACK_READ)
        found = node.supervision.list_complaints(status=status, case_no=case_no, page=page, page_size=page_size)
    view = complaint_page_view(found, page, page_size)
    if as_json:
        echo_json(view)
    else:
        _print_complaint_page(view, typer.echo)


@complaint_app.command("show")
def complaint_show(
    *,
    complaint_id: Annotated[str, typer.Argument(help="投诉编号")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """查看投诉。"""
    with open_node(config) as node:
        reading(node, Permission.FEEDBACK_READ)
        view = complaint_view(node.supervision.get_complaint(complaint_id))
    if as_json:
        echo_json(view)
    else:
        _print_complaint(view, typer.echo)


@complaint_app.command("answer")
def complaint_answer(
    *,
    complaint_id: Annotated[str, typer.Argument(help="投诉编号")],
    answer: Annotated[str, typer.Option("--answer", help="答复内容")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """答复一件待答复的投诉。"""
    with open_node(config) as node, acting(node, Permission.FEEDBACK_HANDLE, "答复投诉", complaint_id) as actor:
        view = complaint_view(node.supervision.answer_complaint(complaint_id, answer=answer, actor=actor))
    if as_json:
        echo_json(view)
    else:
        typer.echo(f"投诉 {view['complaint_id']}：已答复，当前状态：{view['status_label']}")


@complaint_app.command("close")
def complaint_close(
    *,
    complaint_id: Annotated[str, typer.Argument(help="投诉编号")],
    reason: Annotated[str, typer.Option("--reason", help="办结说明")] = "",
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """办结一件已答复的投诉。"""
    with open_node(config) as node, acting(node, Permission.FEEDBACK_HANDLE, "办结投诉", complaint_id) as actor:
        view = complaint_view(node.supervision.close_complaint(complaint_id, actor=actor, reason=reason))
    if as_json:
        echo_json(view)
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
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """记录一条好差评（每件每人一次）；差评须在时限内回访。"""
    value = _level(level)
    with open_node(config) as node, acting(node, Permission.FEEDBACK_RECORD, "记录评价", case_no):
        row = node.supervision.rate(case_no=case_no, staff=staff, level=value, comment=comment, channel=channel)
    view = rating_view(row)
    if as_json:
        echo_json(view)
        return
    follow = f"，须在 {when(view['due_at'])} 前回访" if view["negative"] else ""
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
    page: PageOption = 1,
    page_size: PageSizeOption = 20,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """查询评价（最新的在前）。"""
    with open_node(config) as node:
        reading(node, Permission.FEEDBACK_READ)
        found = node.supervision.list_ratings(
            case_no=case_no, staff=staff, negative=negative, page=page, page_size=page_size
        )
    view = rating_page_view(found, page, page_size)
    if as_json:
        echo_json(view)
    else:
        _print_rating_page(view, typer.echo)


@rating_app.command("show")
def rating_show(
    *,
    rating_id: Annotated[str, typer.Argument(help="评价编号")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """查看评价。"""
    with open_node(config) as node:
        reading(node, Permission.FEEDBACK_READ)
        view = rating_view(node.supervision.get_rating(rating_id))
    if as_json:
        echo_json(view)
    else:
        _print_rating(view, typer.echo)


@rating_app.command("follow-up")
def rating_follow_up(
    *,
    rating_id: Annotated[str, typer.Argument(help="评价编号")],
    note: Annotated[str, typer.Option("--note", help="回访情况")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """差评回访：记录回访情况。"""
    with open_node(config) as node, acting(node, Permission.FEEDBACK_HANDLE, "差评回访", rating_id) as actor:
        view = rating_view(node.supervision.follow_up(rating_id, note=note, actor=actor))
    if as_json:
        echo_json(view)
    else:
        typer.echo(f"评价 {view['rating_id']}：已回访，当前状态：{view['status_label']}")
