"""Ratings (好差评): five levels per case and staff member, and the rule that watches negative ones.

Levels follow the national 好差评 scale: 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意. A rating at or below
``negative_rating_max_level`` (default 2) is negative and must be followed up (回访核实) within its limit in working
days, counted like the case clock. A :class:`Rating` is the record as stored (and replicated); its lifecycle is in
:mod:`county_node.supervision.domain.feedback`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from county_node.supervision.domain.model import Verdict
from county_node.supervision.domain.parameters import SupervisionParameters
from county_node.supervision.domain.records import History
from federation.calendar import WorkingCalendar
from federation.clock import ClockSpec, Light, read_clock
from federation.errors import ValidationError

__all__ = ["RATING_LABELS", "Rating", "RatingFacts", "RatingStatus", "check_level", "negative_rating_not_followed_up"]

RATING_LABELS: Mapping[int, str] = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


class RatingStatus(enum.StrEnum):
    RECORDED = "recorded"  # 已记录 (not negative)
    FOLLOW_UP_PENDING = "follow_up_pending"  # 待回访
    FOLLOWED_UP = "followed_up"  # 已回访


def check_level(level: Any) -> int:
    """A rating level: an integer 1 … 5 (a bool is no level)."""
    if isinstance(level, bool) or not isinstance(level, int) or level not in RATING_LABELS:
        raise ValidationError(
            f"评价等级应为 1（非常不满意）到 5（非常满意）之间的整数，实际为“{level!r}”", field="level"
        )
    return level


@dataclass(frozen=True, slots=True, kw_only=True)
class Rating:
    """好差评: one applicant's rating of a case and the staff member who handled it; a negative one is followed
    up within ``follow_up_limit_days`` working days of ``at`` (``due_at``, kept for the sweep's index)."""

    rating_id: str
    origin: str
    case_no: str
    staff: str
    level: int
    comment: str | None
    channel: str
    at: datetime
    negative: bool
    status: RatingStatus
    follow_up_limit_days: int
    due_at: datetime | None
    followed_up_at: datetime | None
    followed_up_by: str | None
    follow_up_note: str | None
    history: History
    updated_at: datetime

    def __post_init__(self) -> None:
        if not self.rating_id.strip():
            raise ValidationError("缺少评价编号", field="rating_id")
        if not self.case_no.strip():
            raise ValidationError("缺少被评价的办件编号", field="case_no")
        check_level(self.level)
        if (
            isinstance(self.follow_up_limit_days, bool)
            or not isinstance(self.follow_up_limit_days, int)
            or self.follow_up_limit_days < 0
        ):
            raise ValidationError("差评回访时限应为不小于 0 的工作日数", field="follow_up_limit_days")
        if self.at.tzinfo is None:
            raise ValidationError("评价时间必须带时区", field="at")
        if self.followed_up_at is not None:
            if self.followed_up_at.tzinfo is None:
                raise ValidationError("回访时间必须带时区", field="followed_up_at")
            if self.followed_up_at < self.at:
                raise ValidationError("回访时间早于评价时间", field="followed_up_at")

    @property
    def label(self) -> str:
        return RATING_LABELS[self.level]

    def is_negative(self, max_level: int) -> bool:
        return self.level <= max_level

    def clock_spec(self) -> ClockSpec:
        return ClockSpec(self.at, self.follow_up_limit_days)


@dataclass(frozen=True, slots=True)
class RatingFacts:
    rating: Rating
    now: datetime
    calendar: WorkingCalendar
    params: SupervisionParameters


def negative_rating_not_followed_up(f: RatingFacts) -> Verdict:
    """SUP-201 差评超时未回访: a negative rating with no follow-up by the end of its limit (or a late one).

    Read as of ``now``: a follow-up recorded after ``now`` is not yet known.
    """
    r = f.rating
    if not r.is_negative(f.params.negative_rating_max_level):
        return Verdict(False, details={"level": r.level, "negative": False})
    done = r.followed_up_at if r.followed_up_at is not None and r.followed_up_at <= f.now else None
    reading = read_clock(f.calendar, r.clock_spec(), done or f.now, f.params.light_policy)
    fired = reading.light is Light.RED
    wake = reading.deadline.due_at if done is None and not fired else None
    return Verdict(
        fired,
        (r.rating_id,),
        reading,
        Light.RED,
        wake,
        {"level": r.level, "negative": True, "case_no": r.case_no, "staff": r.staff, "followed_up": done is not None},
    )
