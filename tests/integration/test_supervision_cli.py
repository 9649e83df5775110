"""``sunshine alert|complaint|rating …`` run as real processes (``python -m federation.cli``), as in ``test_cli``.

One initialised county node per module; a case is submitted and accepted with ``sunshine case``, then swept at
its due moment with ``sunshine alert sweep --at`` (the node's clock is the real one), and its red alert, a
complaint and ratings are worked through the commands — text, ``--json`` and the Chinese error line (status 2).
The window's clerk (孙丽) takes cases, complaints and ratings in; the supervisor (王海燕) works the alerts and the
complaints and follows ratings up, each logged in with ``sunshine user login`` and recorded as the actor.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from federation.data import CATALOGUE_CSV
from tests.integration.test_cli import (
    CASE_NO,
    DIVISION,
    actor_label,
    add_staff,
    error_line,
    init,
    login,
    ok,
    sunshine,
)

FOOD = "XK00003000"  # 食品经营许可: promised 5 working days
COMPLAINT_ID = re.compile(rf"{DIVISION}-TS\d{{8}}")
RATING_ID = re.compile(rf"{DIVISION}-PJ\d{{8}}")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The ``--config`` of one initialised county node shared by this module's tests."""
    data_dir = tmp_path_factory.mktemp("county") / DIVISION
    ok(init(data_dir, "--name", "莒县", "--catalogue", str(CATALOGUE_CSV)))
    add_staff(data_dir)
    return ["--config", str(data_dir / "sunshine.toml")]


def run_json(*args: str) -> Any:
    return json.loads(ok(sunshine(*args)))


def accepted_case(config: list[str]) -> tuple[str, str]:
    """A food licence submitted and accepted with ``sunshine case`` by the clerk (logged in at the end): its
    number and promised due moment."""
    login(config, "clerk")
    out = ok(
        sunshine(
            "case",
            "submit",
            "--item",
            FOOD,
            "--applicant",
            "张三",
            "--data",
            "统一社会信用代码=91371122MA3C000001",
            "--data",
            "经营场所=莒县城阳街道 1 号",
            *config,
        )
    )
    match = CASE_NO.search(out)
    assert match is not None, out
    case_no = match.group()
    ok(sunshine("case", "act", case_no, "accept", *config))
    detail = run_json("case", "show", case_no, "--json", *config)
    due_at: str = detail["clock"]["promised"]["due_at"]
    return case_no, due_at


def test_sweep_and_the_alert_lifecycle(config: list[str]) -> None:
    case_no, due_at = accepted_case(config)
    assert "forbidden" in error_line(sunshine("alert", "sweep", "--at", due_at, *config))  # not the window's
    login(config, "supervisor")
    report = run_json("alert", "sweep", "--at", due_at, "--json", *config)
    assert report["as_of"] == due_at
    assert report["raised"]["SUP-002"] == 1
    assert report["rule_names"]["SUP-002"] == "超期（红灯）"
    again = ok(sunshine("alert", "sweep", "--at", due_at, *config))  # nothing alerted twice
    assert "巡检完成" in again
    assert "SUP-002" not in again

    page = run_json("alert", "list", "--light", "red", "--case", case_no, "--json", *config)
    assert page["total"] == 1
    (red,) = page["items"]
    assert (red["rule_id"], red["light_label"], red["status_label"]) == ("SUP-002", "红灯", "待签收")
    alert_id = red["alert_id"]
    listed = ok(sunshine("alert", "list", "--case", case_no, *config))
    assert "条预警" in listed
    assert alert_id in listed
    assert "红灯" in listed
    assert "超期（红灯）" in listed
    assert "共 0 条预警" in ok(sunshine("alert", "list", "--status", "closed", "--case", case_no, *config))

    shown = ok(sunshine("alert", "show", alert_id, *config))
    assert f"预警 {alert_id}  SUP-002 超期（红灯）" in shown
    assert "处理记录" in shown
    assert "触发  系统" in shown  # the system's own step, by its Chinese name
    assert "对象：办件 " in shown  # the subject kind by its Chinese name, not "case"
    assert re.search(r"触发：\d{4}-\d{2}-\d{2} \d{2}:\d{2} ", shown)  # China time, to the minute

    assert "已签收，当前状态：已签收" in ok(sunshine("alert", "ack", alert_id, *config))
    no_reason = error_line(sunshine("alert", "urge", alert_id, *config))
    assert "validation_error" in no_reason
    assert "催办预警必须填写原因或意见" in no_reason
    urged = ok(sunshine("alert", "urge", alert_id, "--reason", "请今日内办结", *config))
    assert "已催办" in urged
    supervised = ok(sunshine("alert", "act", alert_id, "supervise", "--reason", "挂牌督办", *config))
    assert "已督办" in supervised
    closed = run_json("alert", "close", alert_id, "--reason", "已办结", "--json", *config)
    assert closed["status"] == "closed"
    assert closed["close_reason"] == "已办结"
    assert [h["action_label"] for h in closed["history"]] == ["触发", "签收", "催办", "督办", "关闭"]
    assert {h["actor"] for h in closed["history"][1:]} == {actor_label("supervisor")}
    assert run_json("alert", "show", alert_id, "--json", *config) == closed

    twice = error_line(sunshine("alert", "close", alert_id, "--reason", "再关", *config))
    assert "invalid_transition" in twice
    assert f"预警 {alert_id} 当前状态为“已关闭”，不能关闭" in twice


def test_alert_commands_report_user_errors_in_chinese(config: list[str]) -> None:
    login(config, "supervisor")
    unknown_action = error_line(sunshine("alert", "act", f"{DIVISION}-A000000001", "reopen", *config))
    assert (
        "未知的预警操作“reopen”，可用操作：签收（acknowledge）、催办（urge）、督办（supervise）、关闭（close）"
        in unknown_action
    )
    missing = error_line(sunshine("alert", "ack", f"{DIVISION}-A000009999", *config))
    assert "alert_not_found" in missing
    assert f"未找到预警“{DIVISION}-A000009999”" in missing
    assert "未知的预警灯色“green”" in error_line(sunshine("alert", "list", "--light", "green", *config))
    assert "未知的监察规则“SUP-999”" in error_line(sunshine("alert", "list", "--rule", "SUP-999", *config))
    assert "--at 必须带时区" in error_line(sunshine("alert", "sweep", "--at", "2026-09-30T00:00:00", *config))
    assert "--at 不是有效的时刻" in error_line(sunshine("alert", "sweep", "--at", "明天", *config))


def test_complaint_file_answer_close(config: list[str]) -> None:
    case_no, _ = accepted_case(config)
    filed = ok(
        sunshine(
            "complaint",
            "file",
            "--target",
            "case",
            "--target-id",
            case_no,
            "--complainant",
            "张三",
            "--content",
            "办理太慢",
            "--channel",
            "12345",
            *config,
        )
    )
    assert f"办件 {case_no}" in filed
    assert "答复时限 5 个工作日" in filed
    match = COMPLAINT_ID.search(filed)
    assert match is not None, filed
    complaint_id = match.group()

    page = run_json("complaint", "list", "--case", case_no, "--json", *config)
    assert [c["complaint_id"] for c in page["items"]] == [complaint_id]
    assert page["items"][0]["status_label"] == "待答复"
    assert complaint_id in ok(sunshine("complaint", "list", "--status", "open", *config))
    assert "forbidden" in error_line(sunshine("complaint", "answer", complaint_id, "--answer", "好", *config))
    login(config, "supervisor")
    early = error_line(sunshine("complaint", "close", complaint_id, *config))
    assert "请先答复" in early

    answered = ok(sunshine("complaint", "answer", complaint_id, "--answer", "已督促办理", *config))
    assert "已答复" in answered
    closed = run_json("complaint", "close", complaint_id, "--reason", "申请人满意", "--json", *config)
    assert closed["status"] == "closed"
    assert [h["action_label"] for h in closed["history"]] == ["登记投诉", "答复", "办结"]
    assert [h["actor"] for h in closed["history"]] == [actor_label("clerk")] + [actor_label("supervisor")] * 2
    shown = ok(sunshine("complaint", "show", complaint_id, *config))
    assert f"投诉 {complaint_id}  已办结" in shown
    assert f"答复：已督促办理（{actor_label('supervisor')}" in shown


def test_complaint_commands_report_user_errors_in_chinese(config: list[str]) -> None:
    login(config, "clerk")
    unknown_case = sunshine(
        "complaint",
        "file",
        "--target",
        "case",
        "--target-id",
        f"{DIVISION}-20260921-999999",
        "--complainant",
        "张三",
        "--content",
        "x",
        *config,
    )
    assert "未找到办件" in error_line(unknown_case)
    assert "未知的投诉状态“pending”" in error_line(sunshine("complaint", "list", "--status", "pending", *config))
    assert "未找到投诉" in error_line(sunshine("complaint", "show", f"{DIVISION}-TS00009999", *config))


def test_rating_add_and_follow_up(config: list[str]) -> None:
    case_no, _ = accepted_case(config)
    good = ok(sunshine("rating", "add", "--case", case_no, "--staff", "窗口01", "--level", "5", *config))
    assert "5 级（非常满意），已记录" in good
    bad = run_json(
        "rating",
        "add",
        "--case",
        case_no,
        "--staff",
        "审批员",
        "--level",
        "2",
        "--comment",
        "反复补正",
        "--json",
        *config,
    )
    assert bad["negative"]
    assert bad["status_label"] == "待回访"
    rating_id = bad["rating_id"]
    assert RATING_ID.fullmatch(rating_id)

    negatives = run_json("rating", "list", "--case", case_no, "--negative", "--json", *config)
    assert [r["rating_id"] for r in negatives["items"]] == [rating_id]
    others = run_json("rating", "list", "--case", case_no, "--not-negative", "--json", *config)
    assert [r["staff"] for r in others["items"]] == ["窗口01"]
    assert "共 2 条评价" in ok(sunshine("rating", "list", "--case", case_no, *config))
    login(config, "supervisor")

    done = ok(sunshine("rating", "follow-up", rating_id, "--note", "已回访，申请人表示理解", *config))
    assert "已回访" in done
    shown = ok(sunshine("rating", "show", rating_id, *config))
    assert "2 级 不满意  已回访" in shown
    assert f"回访：已回访，申请人表示理解（{actor_label('supervisor')}" in shown
    again = error_line(sunshine("rating", "follow-up", rating_id, "--note", "再访", *config))
    assert "不需要回访" in again


@pytest.mark.parametrize("level", ["0", "6", "五"])
def test_a_rating_outside_one_to_five_is_refused_in_chinese(config: list[str], level: str) -> None:
    case_no, _ = accepted_case(config)
    line = error_line(sunshine("rating", "add", "--case", case_no, "--staff", "窗口01", "--level", level, *config))
    assert "评价等级应为 1（非常不满意）到 5（非常满意）之间的整数" in line
    assert run_json("rating", "list", "--case", case_no, "--json", *config)["total"] == 0  # nothing written
