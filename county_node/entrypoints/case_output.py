"""Readable Chinese text of a case, its clocks and its timeline, and of a page of cases (``sunshine case``).

Renders the JSON views of :mod:`county_node.entrypoints.views`, so the text and ``--json`` never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta
from typing import Any

from county_node.entrypoints.views import (
    LIGHT_LABELS,
    CaseDetailView,
    CasePageView,
    CaseView,
    ReadingView,
    StoppedView,
)
from federation.text import moment_text
from federation.timeutil import CST

__all__ = ["print_case_detail", "print_case_page"]

Echo = Callable[[str], Any]

_KIND_LABELS: Mapping[str, str] = {"instant": "即办件", "promised": "承诺件", "joint": "联办件（并联审批）"}
_PAYLOAD_LABELS: Mapping[str, str] = {
    "item_code": "事项",
    "applicant": "申请人",
    "reason": "理由",
    "note": "备注",
    "opinion": "意见",
    "outcome": "结论",
    "fee_charged": "实收费用",
    "fee_standard": "收费标准",
    "days": "天数",
    "approver": "批准人",
    "department": "部门",
    "procedure": "程序",
    "pause_n": "暂停序号",
    "data": "数据",
    "window": "窗口",
}
_NO_CLOCK: Mapping[str, str] = {
    "refused": "不予受理，未计时",
    "returned": "已退回，计时终止（重新提交并受理后重新起算）",
}
_OUTCOME_LABELS: Mapping[str, str] = {"approve": "准予许可", "deny": "不予许可", "agree": "同意", "disagree": "不同意"}


def _deadline(due_at: str | None) -> str:
    """A due moment (00:00 of the next day) shown the way halls say it: ``2026-09-22 24:00``."""
    if due_at is None:
        return "—"
    moment = datetime.fromisoformat(due_at).astimezone(CST)
    if moment.time() == time(0, 0):
        return f"{(moment - timedelta(days=1)).date().isoformat()} 24:00"
    return moment_text(due_at)


def _due(reading: ReadingView) -> str:
    if reading["due_date"] is None:
        return "暂停中，恢复后重新计算"
    return f"{reading['due_date']} 24:00"


def _stopped_text(stopped: StoppedView) -> str:
    """``用时 3 个工作日，按时`` / ``用时 7 个工作日，超时 2 个工作日``."""
    used = "受理当日完成" if stopped["used_days"] == 0 else f"用时 {stopped['used_days']} 个工作日"
    if stopped["in_time"]:
        return f"{used}，按时"
    if stopped["overdue_days"]:
        return f"{used}，超时 {stopped['overdue_days']} 个工作日"
    return f"{used}，超时（截止后的非工作日完成）"


def _reading_line(label: str, reading: ReadingView, stopped_label: str | None = None) -> str:
    parts = [f"{label} {reading['budget_days']} 个工作日", f"截止 {_due(reading)}"]
    stopped = reading["stopped"]
    if stopped is not None:  # the clock stopped: no remaining time, no light
        parts.append(f"{stopped_label or '已完成'}：{_stopped_text(stopped)}")
        if reading["provisional"]:
            parts.append("临时推算")
        return "，".join(parts)
    light = LIGHT_LABELS[reading["light"]]
    if reading["paused"]:
        parts.append(f"暂停时剩余 {reading['remaining_days']} 个工作日")
    elif reading["overdue_days"]:
        parts.append(f"已超期 {reading['overdue_days']} 个工作日")
    else:
        parts.append(f"剩余 {reading['remaining_days']} 个工作日（含当日）")
    parts.append(light)
    if reading["provisional"]:
        parts.append("临时推算")
    return "，".join(parts)


def _payload_text(payload: Mapping[str, Any]) -> str:
    parts = []
    for key, value in payload.items():
        if key in {"item_code", "applicant", "fee_standard", "pause_n"}:
            continue
        shown: Any = value
        if isinstance(value, Mapping):
            shown = "；".join(f"{k}={v}" for k, v in value.items())
        elif key == "outcome":
            shown = _OUTCOME_LABELS.get(str(value), value)
        elif not isinstance(value, str):
            shown = json.dumps(value, ensure_ascii=False)
        parts.append(f"{_PAYLOAD_LABELS.get(key, key)}：{shown}")
    return "  ".join(parts)


def _print_case(case: CaseView, echo: Echo) -> None:
    echo(f"办件 {case['case_no']}  {case['item_name']}（{case['item_code']}）")
    echo(f"  实施部门：{case['department']}    类型：{_KIND_LABELS.get(case['kind'], case['kind'])}")
    echo(f"  申请人：{case['applicant']}    状态：{case['status_label']}")
    echo(
        f"  申请：{moment_text(case['submitted_at'])}  受理：{moment_text(case['accepted_at'])}  "
        f"决定：{moment_text(case['decided_at'])}  办结：{moment_text(case['concluded_at'])}"
    )
    if case["data"]:
        echo("  关键数据：" + "；".join(f"{k}={v}" for k, v in case["data"].items()))
    missing = [k for k in case["key_fields"] if not case["data"].get(k, "").strip()]
    if missing:
        echo("  尚缺关键数据：" + "、".join(missing))
    charged = "" if case["fee_charged"] is None else f"，实收 {case['fee_charged']} 元"
    echo(f"  收费：标准 {case['fee_standard']} 元{charged}")
    if case["extension_days"]:
        echo(
            f"  延期：{case['extension_days']} 个工作日（理由：{case['extension_reason']}；"
            f"批准人：{case['extension_approver']}）"
        )


def _print_clock(view: CaseDetailView, echo: Echo) -> None:
    clock = view["clock"]
    echo(f"时限（读数时间 {moment_text(view['as_of'])}）：")
    if clock is None:
        echo("  " + _NO_CLOCK.get(view["case"]["status"], "尚未受理，未开始计时"))
        return
    if clock["state"] == "stopped":
        stop = clock["promised"]["stopped"]
        echo(f"  计时已停止（{clock['stopped_label']}，{moment_text(None if stop is None else stop['at'])}）")
    echo("  " + _reading_line("承诺时限", clock["promised"], clock["stopped_label"]))
    echo("  " + _reading_line("法定时限", clock["legal"], clock["stopped_label"]))
    for dept, reading in clock["tasks"].items():
        echo("  " + _reading_line(f"联办 {dept}", reading, clock["stopped_label"] or "部门已办结"))
    for warning in dict.fromkeys(clock["promised"]["warnings"] + clock["legal"]["warnings"]):
        echo(f"  注意：{warning}")


def _print_pauses_and_tasks(case: CaseView, echo: Echo) -> None:
    if case["pauses"]:
        echo("暂停记录（不计入时限）：")
        for p in case["pauses"]:
            end = moment_text(p["ended_at"]) if p["ended_at"] else "进行中"
            echo(f"  {p['n']}. {p['kind_label']} {moment_text(p['started_at'])} → {end}  {p['reason']}")
    if case["tasks"]:
        echo("联办部门：")
        for t in case["tasks"]:
            state = "已办结" if t["status"] == "done" else "办理中"
            outcome = f"，{_OUTCOME_LABELS.get(t['outcome'], t['outcome'])}" if t["outcome"] else ""
            echo(f"  {t['department']}：{state}{outcome}（时限 {t['limit_days']} 个工作日）")


def print_case_detail(view: CaseDetailView, echo: Echo) -> None:
    """The case, its clocks, pauses, joint tasks and timeline, in Chinese."""
    _print_case(view["case"], echo)
    _print_clock(view, echo)
    _print_pauses_and_tasks(view["case"], echo)
    echo("办理过程：")
    for e in view["timeline"]:
        extra = _payload_text(e["payload"])
        echo(
            f"  {e['n']:>3}  {moment_text(e['at'])}  {e['action_label']}  {e['actor']}  → {e['to_status_label']}"
            + (f"  {extra}" if extra else "")
        )


def print_case_page(view: CasePageView, echo: Echo) -> None:
    """One page of case summaries, one line each."""
    pages = max(1, -(-view["total"] // view["page_size"]))
    echo(f"共 {view['total']} 件，第 {view['page']}/{pages} 页（读数时间 {moment_text(view['as_of'])}）")
    for c in view["items"]:
        light = LIGHT_LABELS[c["light"]] if c["light"] else "未计时"
        due = _deadline(c["due_at"])
        echo(
            f"  {c['case_no']}  {c['status_label']}  {light}  截止 {due}  "
            f"{c['item_name']}（{c['department']}）  申请人 {c['applicant']}"
        )
