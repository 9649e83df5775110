"""federation.text: moments for people in China time, one style; columns padded by display width."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from county_node.entrypoints.score_cli import render_ranking
from federation.text import choices, display_width, ljust, moment_text, rjust


def test_a_moment_is_shown_in_china_time_to_the_minute_whatever_its_zone() -> None:
    utc = datetime(2026, 12, 6, 6, 5, 9, 123456, tzinfo=UTC)
    assert moment_text(utc) == "2026-12-06 14:05"
    assert moment_text(utc.isoformat()) == "2026-12-06 14:05"  # as a JSON view carries it, microseconds and all
    assert moment_text(utc.astimezone(timezone(timedelta(hours=-5)))) == "2026-12-06 14:05"
    assert moment_text(utc, seconds=True) == "2026-12-06 14:05:09"
    assert moment_text(datetime(2026, 12, 31, 20, tzinfo=UTC)) == "2027-01-01 04:00"  # the local date
    assert moment_text(None) == moment_text("") == "—"
    assert moment_text("不是时间") == "不是时间"


def test_width_counts_a_chinese_character_as_two_columns() -> None:
    assert display_width("W01") == 3
    assert display_width("莒县行政审批服务局") == 18
    assert display_width("（）") == 4  # fullwidth punctuation
    assert ljust("莒县", 8) == "莒县    "
    assert rjust("已发送", 10) == "    已发送"
    assert ljust("超过宽度的名称", 4) == "超过宽度的名称"  # never cut


def _row(subject: str, rank: int | None) -> dict[str, object]:
    return {"rank": rank, "ranked_of": 3, "subject": subject, "score": "91.5", "cases": 12, "breakdown": {}}


def test_the_ranking_columns_line_up_with_chinese_and_latin_subjects() -> None:
    lines = render_ranking([_row("莒县", 1), _row("W01", 2), _row("莒县行政审批服务局", None)])
    columns = {display_width(line[: line.index(" 分")]) for line in lines}
    assert len(columns) == 1  # the score ends in the same terminal column on every line


def test_a_value_a_person_must_type_is_shown_with_its_chinese_name() -> None:
    from county_node.approval.domain import ACTION_LABELS

    labels = {a.value: label for a, label in ACTION_LABELS.items()}
    assert choices(["accept", "review", "unknown"], labels) == "受理（accept）、审核（review）、unknown"
