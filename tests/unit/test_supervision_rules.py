"""The supervision rules, domain only: each fires on its positive case and stays silent on a near miss.

Cases are built with the approval domain (``new_case`` / ``apply_action``) on the real seeded 2026 calendar:
Mid-Autumn 09-25 … 09-27 and National Day 10-01 … 10-07 off, make-up working days Sunday 09-20 and Saturday 10-10
(``federation.calendar_seed.seed_years``). The working days around them: Mon 09-21, 22, 23, Thu 24, | Mon 09-28, 29,
Wed 30, | Thu 10-08, Fri 09, Sat 10 (make-up), | Mon 10-12, 13, 14 …
"""

from __future__ import annotations

import dataclasses
import random
import re
import subprocess
import sys
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from county_node.approval.domain import Action, Case, Event, Status, apply_action, event_id, index_values, new_case
from county_node.supervision.domain import (
    CASE_RULES,
    REGISTRY,
    Complaint,
    ComplaintTarget,
    Rating,
    RuleResult,
    SubjectKind,
    SupervisionParameters,
    evaluate,
    evaluate_complaint,
    evaluate_rating,
    next_wake_at,
)
from federation.calendar import WorkingCalendar
from federation.clock import Light
from federation.errors import StandardsError, ValidationError
from federation.standards import Item, StandardsBundle
from federation.timeutil import CST
from tests import records

SECOND = timedelta(seconds=1)
P = SupervisionParameters()
CASE_NO = "371122-20260921-000001"

FOOD = "XK00003000"  # 食品经营许可: promised 5, legal 10, key fields 统一社会信用代码;经营场所, no fee
BUILD = "XK00005000"  # 建筑工程施工许可证核发: promised 3, legal 7, key fields 项目代码;施工单位
LAND = "XK00009000"  # 不动产首次登记: promised 5, fee 80
JOINT = "XK00036000"  # 建设项目联合审批: promised 20; 自然资源局 10, 住房和城乡建设局 15, 消防救援大队 10
INSTANT = "XK00002000"  # 个体工商户设立登记: instant

DATA = {
    FOOD: {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"},
    BUILD: {"项目代码": "2026-371122-47-01-000001", "施工单位": "莒县建工"},
    LAND: {"不动产单元号": "371122001001GB00001F00010001", "权利人": "张三"},
    JOINT: {"项目代码": "2026-371122-47-01-000002", "建设单位": "莒县城投公司"},
    INSTANT: {"经营者身份证号": "371122199001010011"},
}


def at(m: int, d: int, hh: int = 9, mm: int = 0, y: int = 2026) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CST)


def midnight(m: int, d: int) -> datetime:
    return datetime(2026, m, d, tzinfo=CST)


class Story:
    """A case and its timeline, built action by action at explicit moments."""

    def __init__(self, item: Item, when: datetime, data: Mapping[str, Any] | None = None) -> None:
        created = new_case(
            case_no=CASE_NO,
            origin="371122",
            item=item,
            standards_version="2026.09.1",
            applicant="张三",
            data=DATA.get(item.code, {}) if data is None else data,
            actor="窗口 1",
            now=when,
        )
        self.case: Case = created.case
        self.events: list[Event] = [created.event]

    def do(self, action: Action, when: datetime, **params: Any) -> Story:
        result = apply_action(self.case, action, actor="审批员 王五", now=when, params=params)
        self.case = result.case
        self.events.append(result.event)
        return self

    def accepted(self, when: datetime) -> Story:
        return self.do(Action.ACCEPT, when)

    def run(self, now: datetime, calendar: WorkingCalendar, params: SupervisionParameters = P) -> dict[str, RuleResult]:
        return {r.rule_id: r for r in evaluate(self.case, self.events, now, calendar, params)}

    def fires(self, rule: str, now: datetime, calendar: WorkingCalendar, params: SupervisionParameters = P) -> bool:
        return self.run(now, calendar, params)[rule].fired

    def ids(self, *actions: Action) -> tuple[str, ...]:
        return tuple(e.event_id for e in self.events if e.action in actions)


@pytest.fixture(scope="module")
def items(bundle: StandardsBundle) -> dict[str, Item]:
    return {code: bundle.item(code) for code in (FOOD, BUILD, LAND, JOINT, INSTANT)}


# -- the registry --------------------------------------------------------------------------------------------------


def test_the_registry_holds_every_rule_once_with_an_id_and_a_version() -> None:
    assert len(REGISTRY) == len({r.rule_id for r in REGISTRY.values()}) == 13
    for rule_id, rule in REGISTRY.items():
        assert re.fullmatch(r"SUP-\d{3}", rule_id)
        assert rule.rule_id == rule_id
        assert rule.version >= 1
        assert rule.name
        for name in rule.parameters:
            assert hasattr(P, name)
    assert [r.rule_id for r in CASE_RULES] == [f"SUP-00{i}" for i in range(1, 10)]
    assert REGISTRY["SUP-101"].subject is SubjectKind.COMPLAINT
    assert REGISTRY["SUP-201"].subject is SubjectKind.RATING


def test_evaluate_runs_every_case_rule_and_records_what_fired_it(
    items: dict[str, Item], calendar: WorkingCalendar
) -> None:
    story = Story(items[BUILD], at(9, 30, 8)).accepted(at(9, 30))
    results = evaluate(story.case, story.events, midnight(10, 11), calendar, P)
    assert [r.rule_id for r in results] == [r.rule_id for r in CASE_RULES]
    red = {r.rule_id: r for r in results}["SUP-002"]
    assert red.fired
    assert red.version == 1
    assert red.key == ("case", CASE_NO, "SUP-002")
    assert red.light is Light.RED
    assert red.evidence == (event_id(CASE_NO, 2),)  # the acceptance that started the clock
    assert red.clock is not None
    assert red.clock.as_of == midnight(10, 11)
    assert red.parameters == {"yellow_days": 1, "yellow_share": 0.8}
    record = red.to_dict()
    assert record["clock"]["due_at"] == midnight(10, 11)
    assert record["clock"]["calendar_version"] == calendar.version
    assert record["evidence"] == [f"{CASE_NO}#0002"]


def test_evaluation_is_deterministic_and_ignores_the_order_events_come_in(
    items: dict[str, Item], calendar: WorkingCalendar
) -> None:
    story = (
        Story(items[FOOD], at(9, 21, 8))
        .accepted(at(9, 21))
        .do(Action.REQUEST_CORRECTION, at(9, 22), reason="缺营业执照")
        .do(Action.RECEIVE_CORRECTION, at(9, 23))
        .do(Action.SUSPEND, at(9, 28, 10), reason="申请人申请")
    )
    shuffled = list(story.events)
    random.Random(7).shuffle(shuffled)
    first = evaluate(story.case, story.events, at(10, 20), calendar, P)
    assert first == evaluate(story.case, shuffled, at(10, 20), calendar, P)


def test_a_disabled_rule_is_not_run(items: dict[str, Item], calendar: WorkingCalendar) -> None:
    story = Story(items[BUILD], at(9, 30, 8)).accepted(at(9, 30))
    params = SupervisionParameters.from_mapping({"disabled_rules": ["SUP-002", "SUP-004"]})
    ids = [r.rule_id for r in evaluate(story.case, story.events, midnight(10, 11), calendar, params)]
    assert "SUP-002" not in ids
    assert "SUP-004" not in ids
    assert "SUP-001" in ids


def test_the_domain_imports_no_io_library() -> None:
    # in a fresh interpreter: this one has SQLAlchemy loaded already (conftest)
    code = (
        "import sys, county_node.supervision.domain; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy', 'grpc', 'httpx', 'fastapi', 'starlette', 'google', 'psycopg'} or m.endswith('_pb2')))"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    assert out.stdout.strip() == "[]"


# -- parameters ------------------------------------------------------------------------------------------------------


def test_parameters_come_from_the_bundle_with_documented_defaults(bundle: StandardsBundle) -> None:
    params = SupervisionParameters.from_bundle(bundle)
    assert params == SupervisionParameters()
    assert (params.light_policy.yellow_days, params.light_policy.yellow_share) == (1, 0.8)
    custom = SupervisionParameters.from_bundle(
        dataclasses.replace(
            bundle, rule_parameters={**bundle.rule_parameters, "correction_threshold": 3, "unrelated_key": "kept"}
        )
    )
    assert custom.correction_threshold == 3
    assert custom.to_dict()["fee_tolerance_yuan"] == "0.00"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"yellow_days": "1"}, "yellow_days"),
        ({"yellow_days": True}, "yellow_days"),
        ({"review_step_share": 0}, "review_step_share"),
        ({"decision_step_share": 1.5}, "decision_step_share"),
        ({"correction_threshold": 0}, "correction_threshold"),
        ({"negative_rating_max_level": 5}, "negative_rating_max_level"),
        ({"fee_tolerance_yuan": "abc"}, "fee_tolerance_yuan"),
        ({"fee_tolerance_yuan": -1}, "fee_tolerance_yuan"),
        ({"disabled_rules": "SUP-001"}, "disabled_rules"),
    ],
)
def test_a_bad_parameter_is_refused_with_its_key(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(StandardsError) as err:
        SupervisionParameters.from_mapping(raw)
    assert err.value.details["key"] == key


# -- SUP-001 / SUP-002: the light, across National Day -------------------------------------------------------------


def test_lights_change_at_exactly_the_right_working_day_moment_across_national_day(
    items: dict[str, Item], calendar: WorkingCalendar
) -> None:
    # promised 3, accepted Wed 09-30: 10-08 (1), 10-09 (2), the make-up Saturday 10-10 (3) → due 10-11 00:00.
    # Yellow when ≤ 1 working day remains (today included): from 10-10 00:00.
    story = Story(items[BUILD], at(9, 30, 8)).accepted(at(9, 30))

    def lights(now: datetime) -> tuple[bool, bool]:
        r = story.run(now, calendar)
        return r["SUP-001"].fired, r["SUP-002"].fired

    assert lights(at(10, 4, 12)) == (False, False)  # in the holiday: nothing counted yet
    assert lights(midnight(10, 10) - SECOND) == (False, False)  # Friday 10-09: two working days left
    assert lights(midnight(10, 10)) == (True, False)  # the make-up Saturday is the last working day
    assert lights(midnight(10, 11) - SECOND) == (True, False)
    assert lights(midnight(10, 11)) == (False, True)  # Sunday 00:00: the due moment has passed
    assert lights(at(10, 20)) == (False, True)

    early = story.run(at(9, 30, 10), calendar)
    assert early["SUP-001"].wake_at == midnight(10, 10)
    assert early["SUP-002"].wake_at == midnight(10, 11)
    assert next_wake_at(early.values()) == midnight(10, 10)
    yellow = story.run(midnight(10, 10), calendar)
    assert yellow["SUP-001"].wake_at == midnight(10, 11)  # it stops being yellow when it turns red
    assert yellow["SUP-001"].light is Light.YELLOW
    assert yellow["SUP-001"].details["remaining_days"] == 1


def test_yellow_days_from_the_bundle_move_the_yellow_moment_by_one_working_day(
    items: dict[str, Item], calendar: WorkingCalendar
) -> None:
    story = Story(items[BUILD], at(9, 30, 8)).accepted(at(9, 30))
    two = SupervisionParameters.from_mapping({"yellow_days": 2})
    assert not story.fires("SUP-001", midnight(10, 9) - SECOND, calendar, two)  # Thursday 10-08: three left
    assert story.fires("SUP-001", midnight(10, 9), calendar, two)  # Friday 10-09: two left


def test_a_short_budget_is_not_yellow_at_acceptance_and_the_index_agrees(
    items: dict[str, Item], calendar: WorkingCalendar
) -> None:
    # issue 17: a budget within yellow_days (here promised 3 under yellow_days 3; in the field a 1-day item under
    # the default 1) raised SUP-001 the moment it was accepted. Yellow needs the budget in use: from 00:00 of its
    # first counted working day, Thursday 10-08 (accepted Wed 09-30, National Day off).
    three = SupervisionParameters.from_mapping({"yellow_days": 3})
    story = Story(items[BUILD], at(9, 30, 8)).accepted(at(9, 30))
    accepted = story.run(at(9, 30, 10), calendar, three)["SUP-001"]
    assert not accepted.fired
    assert accepted.wake_at == midnight(10, 8)
    assert not story.fires("SUP-001", midnight(10, 8) - SECOND, calendar, three)
    assert story.fires("SUP-001", midnight(10, 8), calendar, three)
    # the indexed yellow moment the sweep raises SUP-001 from is the same moment
    assert index_values(story.case, calendar, three.light_policy).yellow_at == midnight(10, 8)


def test_a_paused_case_does_not_turn_red_while_paused(items: dict[str, Item], calendar: WorkingCalendar) -> None:
    # promised 5 from Mon 09-21 → due 09-29. Correction requested Thu 09-24: 3 working days left, frozen.
    story = Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21))
    story.do(Action.REQUEST_CORRECTION, at(9, 24, 10), reason="缺少营业执照复印件")
    for now in (midnight(9, 30), at(10, 12), at(12, 31, 23, 59)):
        r = story.run(now, calendar)
        assert not r["SUP-002"].fired
        assert not r["SUP-001"].fired  # 3 working days left is still white
        assert r["SUP-002"].wake_at is None  # only an event can change a paused clock
        assert r["SUP-001"].clock is not None
        assert r["SUP-001"].clock.light is Light.WHITE
    # received Mon 10-12: [09-24, 10-12) excluded; 10-12, 10-13, 10-14 are the three left → due 10-15 00:00
    story.do(Action.RECEIVE_CORRECTION, at(10, 12, 9))
    assert not story.fires("SUP-001", midnight(10, 14) - SECOND, calendar)
    assert story.fires("SUP-001", midnight(10, 14), calendar)
    assert not story.fires("SUP-002", midnight(10, 15) - SECOND, calendar)
    assert story.fires("SUP-002", midnight(10, 15), calendar)


def test_a_case_decided_in_time_goes_quiet_and_a_late_decision_stays_red(
    items: dict[str, Item], calendar: WorkingCalendar
) -> None:
    in_time = Story(items[BUILD], at(9, 30, 8)).accepted(at(9, 30)).do(Action.REVIEW, at(10, 8))
    in_time.do(Action.DECIDE, at(10, 10, 17), outcome="approve")  # on the yellow day, before the due moment
    r = in_time.run(at(11, 2), calendar)
    assert not r["SUP-001"].fired
    assert not r["SUP-002"].fired
    assert next_wake_at(r.values()) is None

    late = Story(items[BUILD], at(9, 30, 8)).accepted(at(9, 30)).do(Action.REVIEW, at(10, 8))
    late.do(Action.DECIDE, at(10, 12, 9), outcome="approve").do(Action.CONCLUDE, at(10, 12, 10))
    r = late.run(at(11, 2), calendar)
    assert r["SUP-002"].fired
    assert r["SUP-002"].clock is not None
    assert r["SUP-002"].clock.as_of == at(10, 12, 10)  # read at the conclusion, as the case view does
    assert r["SUP-002"].details["overdue_days"] == 1
    assert r["SUP-002"].details["legal_overdue"] is False  # legal limit 7: still inside
    assert late.ids(Action.DECIDE, Action.CONCLUDE)[1] in r["SUP-002"].evidence


def test_a_case_without_a_clock_fires_no_clock_rule(items: dict[str, Item], calendar: WorkingCalendar) -> None:
    story = Story(items[BUILD], at(9, 30, 8))
    r = story.run(at(12, 1), calendar)
    assert not r["SUP-001"].fired
    assert not r["SUP-002"].fired


# -- SUP-003: a step overdue inside the budget ----------------------------------------------------------------------


def test_acceptance_step_over_five_working_days_across_national_day(
    items: dict[str, Item], calendar: WorkingCalendar
) -> None:
    # submitted Wed 09-30: 10-08, 10-09, 10-10, 10-12, 10-13 → the acceptance step is due 10-14 00:00
    waiting = Story(items[BUILD], at(9, 30, 10))
    assert not waiting.fires("SUP-003", midnight(10, 14) - SECOND, calendar)
    assert waiting.run(at(10, 1), calendar)["SUP-003"].wake_at == midnight(10, 14)
    r = waiting.run(midnight(10, 14), calendar)["SUP-003"]
    assert r.fired
    assert r.evidence == (event_id(CASE_NO, 1),)
    assert r.details["steps"][0]["step"] == "acceptance"
    assert r.details["steps"][0]["finished"] is False

    in_time = Story(items[BUILD], at(9, 30, 10)).accepted(at(10, 13, 17))
    assert not in_time.fires("SUP-003", at(10, 13, 18), calendar)
    late = Story(items[BUILD], at(9, 30, 10)).accepted(at(10, 14, 9))
    r = late.run(at(10, 14, 10), calendar)["SUP-003"]
    assert r.fired
    assert r.evidence == (event_id(CASE_NO, 1), event_id(CASE_NO, 2))


def test_review_and_decision_steps_have_their_share_of_the_budget(
    items: dict[str, Item], calendar: WorkingCalendar
) -> None:
    # promised 5 from Mon 09-21: review gets ceil(0.6 × 5) = 3 → 09-22, 23, 24 → due 09-25 00:00
    reviewed = Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21)).do(Action.REVIEW, at(9, 24, 17))
    assert not reviewed.fires("SUP-003", at(9, 24, 18), calendar)
    late_review = Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21)).do(Action.REVIEW, at(9, 28, 9))
    r = late_review.run(at(9, 28, 10), calendar)["SUP-003"]
    assert r.fired
    assert r.light is Light.YELLOW
    assert [s["step"] for s in r.details["steps"]] == ["review"]
    assert r.evidence == late_review.ids(Action.ACCEPT, Action.REVIEW)
    assert not Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21)).fires("SUP-003", midnight(9, 25) - SECOND, calendar)
    assert Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21)).fires("SUP-003", midnight(9, 25), calendar)

    # decision gets ceil(0.4 × 5) = 2 after the review of Tue 09-22 → 09-23, 24 → due 09-25 00:00
    def decided(when: datetime) -> Story:
        story = Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21)).do(Action.REVIEW, at(9, 22, 10))
        return story.do(Action.DECIDE, when, outcome="approve")

    assert not decided(at(9, 24, 17)).fires("SUP-003", at(10, 20), calendar)
    r = decided(at(9, 28, 9)).run(at(10, 20), calendar)["SUP-003"]
    assert r.fired
    assert [s["step"] for s in r.details["steps"]] == ["decision"]


def test_a_paused_step_does_not_run_out(items: dict[str, Item], calendar: WorkingCalendar) -> None:
    story = Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21))
    story.do(Action.REQUEST_CORRECTION, at(9, 22, 10), reason="缺少材料")
    assert not story.fires("SUP-003", at(11, 30), calendar)


def test_a_joint_department_over_its_own_limit(items: dict[str, Item], calendar: WorkingCalendar) -> None:
    # 自然资源局 has 10 working days from Mon 09-21: 09-22 … 10-12 (the 10th) → due 10-13 00:00
    def joint(done: datetime) -> Story:
        story = Story(items[JOINT], at(9, 21, 8)).accepted(at(9, 21)).do(Action.REVIEW, at(9, 22))
        return story.do(Action.COMPLETE_TASK, done, department="自然资源局")

    def late_steps(story: Story) -> list[str]:
        return [s["step"] for s in story.run(at(10, 13, 10), calendar)["SUP-003"].details["steps"]]

    assert "task:自然资源局" not in late_steps(joint(at(10, 12, 17)))
    late = joint(at(10, 13, 9))
    assert "task:自然资源局" in late_steps(late)
    assert late.ids(Action.COMPLETE_TASK)[0] in late.run(at(10, 13, 10), calendar)["SUP-003"].evidence


# -- SUP-004: repeated correction requests ---------------------------------------------------------------------------


def test_repeated_correction_requests(items: dict[str, Item], calendar: WorkingCalendar) -> None:
    story = Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21))
    story.do(Action.REQUEST_CORRECTION, at(9, 22), reason="缺营业执照").do(Action.RECEIVE_CORRECTION, at(9, 23))
    assert not story.fires("SUP-004", at(9, 23, 10), calendar)  # one request: 一次性告知 kept
    story.do(Action.REQUEST_CORRECTION, at(9, 24), reason="又缺平面图")
    r = story.run(at(9, 24, 10), calendar)["SUP-004"]
    assert r.fired
    assert r.evidence == story.ids(Action.REQUEST_CORRECTION)
    assert r.parameters == {"correction_threshold": 2}
    assert not story.fires("SUP-004", at(9, 24, 10), calendar, SupervisionParameters(correction_threshold=3))


# -- SUP-005: return and resubmit ------------------------------------------------------------------------------------


def test_return_after_acceptance_and_resubmit(items: dict[str, Item], calendar: WorkingCalendar) -> None:
    story = Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21))
    story.do(Action.RETURN, at(9, 28), reason="材料不符")
    assert not story.fires("SUP-005", at(9, 28, 10), calendar)  # returned, not (yet) resubmitted
    story.do(Action.RESUBMIT, at(9, 29))
    r = story.run(at(9, 29, 10), calendar)["SUP-005"]
    assert r.fired
    assert r.evidence == story.ids(Action.RETURN, Action.RESUBMIT)
    assert r.details == {"cycles": 1, "after_acceptance": 1}


def test_returns_before_acceptance_fire_only_when_repeated(items: dict[str, Item], calendar: WorkingCalendar) -> None:
    story = Story(items[FOOD], at(9, 21, 8))
    story.do(Action.RETURN, at(9, 21, 10), reason="材料不全").do(Action.RESUBMIT, at(9, 22))
    assert not story.fires("SUP-005", at(9, 22, 10), calendar)  # the ordinary way to send back materials
    story.do(Action.RETURN, at(9, 22, 10), reason="仍不全").do(Action.RESUBMIT, at(9, 23))
    assert story.fires("SUP-005", at(9, 23, 10), calendar)


# -- SUP-006: clock gaming -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "when", "fired"),
    [
        (Action.SUSPEND, at(9, 28, 10), True),  # Mon 09-28: 2 working days left (09-28, 09-29)
        (Action.SUSPEND, at(9, 24, 10), False),  # Thu 09-24: 3 left — one working day short of the window
        (Action.START_SPECIAL_PROCEDURE, at(9, 29, 15), True),  # the due day itself
        (Action.REQUEST_CORRECTION, at(9, 29, 15), False),  # corrections wait on the applicant: not gaming
    ],
)
def test_a_pause_started_just_before_the_deadline(
    items: dict[str, Item], calendar: WorkingCalendar, action: Action, when: datetime, fired: bool
) -> None:
    story = Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21)).do(action, when, reason="原因")
    r = story.run(when + timedelta(hours=1), calendar)["SUP-006"]
    assert r.fired is fired
    if fired:
        assert r.evidence == story.ids(Action.ACCEPT, action)
        assert r.details["pauses"][0]["remaining_days"] <= 2
        assert r.clock is not None
        assert r.clock.deadline.due_at == midnight(9, 30)  # the clock as it stood before the pause


def test_an_extension_granted_before_the_pause_widens_the_window(
    items: dict[str, Item], calendar: WorkingCalendar
) -> None:
    story = Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21))
    story.do(Action.EXTEND, at(9, 22), days=5, reason="情况复杂", approver="局长 李四")
    story.do(Action.SUSPEND, at(9, 28, 10), reason="申请人申请")
    assert not story.fires("SUP-006", at(9, 28, 11), calendar)


# -- SUP-007: key data missing at the decision ------------------------------------------------------------------------


def _imported(events: list[Event], drop_data_of: Action) -> list[Event]:
    """The timeline as a legacy system might send it: ``drop_data_of`` events arrive without their data."""
    return [
        dataclasses.replace(e, payload={k: v for k, v in e.payload.items() if k != "data"})
        if e.action is drop_data_of
        else e
        for e in events
    ]


def test_key_data_missing_at_the_decision(items: dict[str, Item], calendar: WorkingCalendar) -> None:
    story = Story(items[FOOD], at(9, 21, 8), data={"统一社会信用代码": "91371122MA3C000001"})
    story.accepted(at(9, 21)).do(Action.RECORD_DATA, at(9, 22), data={"经营场所": "莒县城阳街道 1 号"})
    story.do(Action.REVIEW, at(9, 23)).do(Action.DECIDE, at(9, 24), outcome="approve")
    assert not story.fires("SUP-007", at(9, 25), calendar)  # the field was recorded before the decision

    imported = _imported(story.events, Action.RECORD_DATA)
    results = {r.rule_id: r for r in evaluate(story.case, imported, at(9, 25), calendar, P)}
    r = results["SUP-007"]
    assert r.fired
    assert r.details["missing"] == ["经营场所"]
    assert r.evidence == story.ids(Action.DECIDE)


def test_data_back_filled_after_the_decision_does_not_hide_the_gap(
    items: dict[str, Item], calendar: WorkingCalendar
) -> None:
    story = Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21)).do(Action.REVIEW, at(9, 23))
    story.do(Action.DECIDE, at(9, 24), outcome="approve")
    imported = _imported(story.events, Action.SUBMIT)
    last = imported[-1]
    backfill = Event(
        event_id(CASE_NO, last.n + 1),
        CASE_NO,
        last.n + 1,
        Action.RECORD_DATA,
        "数据治理",
        at(9, 28),
        Status.APPROVED,
        Status.APPROVED,
        {"data": dict(DATA[FOOD])},
    )
    results = {r.rule_id: r for r in evaluate(story.case, [*imported, backfill], at(9, 29), calendar, P)}
    assert results["SUP-007"].fired
    assert results["SUP-007"].details["missing"] == ["统一社会信用代码", "经营场所"]


# -- SUP-008: steps out of order --------------------------------------------------------------------------------------


def _ev(n: int, action: Action, when: datetime, frm: Status | None, to: Status) -> Event:
    return Event(event_id(CASE_NO, n), CASE_NO, n, action, "外部系统", when, frm, to, {})


def test_a_lifecycle_timeline_is_in_order(items: dict[str, Item], calendar: WorkingCalendar) -> None:
    story = Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21)).do(Action.REVIEW, at(9, 22))
    story.do(Action.SUSPEND, at(9, 22, 10), reason="暂停").do(Action.RESUME, at(9, 23))
    story.do(Action.DECIDE, at(9, 23, 10), outcome="approve").do(Action.CONCLUDE, at(9, 23, 11))
    r = story.run(at(9, 24), calendar)["SUP-008"]
    assert not r.fired
    assert r.details["findings"] == []


def test_an_imported_decision_without_review_and_conclusion_without_decision(
    items: dict[str, Item], calendar: WorkingCalendar
) -> None:
    story = Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21))
    decide = _ev(3, Action.DECIDE, at(9, 22), Status.ACCEPTED, Status.APPROVED)
    r = {x.rule_id: x for x in evaluate(story.case, [*story.events, decide], at(9, 23), calendar, P)}["SUP-008"]
    assert r.fired
    assert [f["kind"] for f in r.details["findings"]] == ["illegal_transition"]
    assert r.evidence == (event_id(CASE_NO, 2), event_id(CASE_NO, 3))

    review = _ev(3, Action.REVIEW, at(9, 22), Status.ACCEPTED, Status.IN_REVIEW)
    conclude = _ev(4, Action.CONCLUDE, at(9, 23), Status.IN_REVIEW, Status.CONCLUDED)
    events = [*story.events, review, conclude]
    r = {x.rule_id: x for x in evaluate(story.case, events, at(9, 24), calendar, P)}["SUP-008"]
    assert [f["kind"] for f in r.details["findings"]] == ["illegal_transition"]
    assert r.evidence == (event_id(CASE_NO, 3), event_id(CASE_NO, 4))


def test_a_timeline_with_a_missing_step(items: dict[str, Item], calendar: WorkingCalendar) -> None:
    story = Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21)).do(Action.REVIEW, at(9, 22))
    story.do(Action.DECIDE, at(9, 23), outcome="approve")
    without_review = [e for e in story.events if e.action is not Action.REVIEW]
    r = {x.rule_id: x for x in evaluate(story.case, without_review, at(9, 24), calendar, P)}["SUP-008"]
    # the decision itself was legal from IN_REVIEW: what is wrong is the step missing before it
    assert {f["kind"] for f in r.details["findings"]} == {"gap", "broken_chain"}
    assert r.evidence == (event_id(CASE_NO, 2), event_id(CASE_NO, 4))


def test_an_extension_granted_after_the_due_moment(items: dict[str, Item], calendar: WorkingCalendar) -> None:
    # promised 5 from Mon 09-21 → due 09-30 00:00
    def extended(when: datetime) -> Story:
        story = Story(items[FOOD], at(9, 21, 8)).accepted(at(9, 21))
        return story.do(Action.EXTEND, when, days=5, reason="情况复杂", approver="局长 李四")

    in_time = extended(midnight(9, 30) - SECOND)
    assert not in_time.fires("SUP-008", at(9, 30, 10), calendar)
    late = extended(midnight(9, 30))
    r = late.run(at(9, 30, 10), calendar)
    assert not r["SUP-002"].fired  # the late extension turned the red case white again …
    assert r["SUP-008"].fired  # … which is what this rule is for
    assert r["SUP-008"].details["findings"][0]["kind"] == "extension_after_due"
    assert r["SUP-008"].evidence == late.ids(Action.EXTEND)


# -- SUP-009: fee ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "fee", "fired"),
    [
        ("approve", "80", False),  # the standard fee of 不动产首次登记
        ("approve", "100", True),
        ("approve", "79.99", True),
        ("deny", None, False),  # a denial is not charged for: 0.00 is what is expected
        ("deny", "80", True),
    ],
)
def test_fee_charged_against_the_standard(
    items: dict[str, Item], calendar: WorkingCalendar, outcome: str, fee: str | None, fired: bool
) -> None:
    story = Story(items[LAND], at(9, 21, 8)).accepted(at(9, 21)).do(Action.REVIEW, at(9, 22))
    params: dict[str, Any] = {"outcome": outcome}
    if outcome == "deny":
        params["reason"] = "不符合法定条件"
    if fee is not None:
        params["fee_charged"] = fee
    story.do(Action.DECIDE, at(9, 23), **params).do(Action.CONCLUDE, at(9, 23, 10))
    r = story.run(at(9, 24), calendar)["SUP-009"]
    assert r.fired is fired
    if fired:
        assert r.evidence == story.ids(Action.CONCLUDE)


def test_a_fee_within_the_tolerance(items: dict[str, Item], calendar: WorkingCalendar) -> None:
    story = Story(items[LAND], at(9, 21, 8)).accepted(at(9, 21)).do(Action.REVIEW, at(9, 22))
    story.do(Action.DECIDE, at(9, 23), outcome="approve", fee_charged="80.50")
    tolerant = SupervisionParameters(fee_tolerance_yuan=Decimal("0.50"))
    assert not story.fires("SUP-009", at(9, 24), calendar, tolerant)
    assert story.fires("SUP-009", at(9, 24), calendar, SupervisionParameters(fee_tolerance_yuan=Decimal("0.49")))


# -- SUP-101: complaints -------------------------------------------------------------------------------------------


def _complaint(answered_at: datetime | None = None, limit: int = 3) -> Complaint:
    return records.complaint(
        complaint_id="TS-0001", target_id="3号窗口", filed_at=at(9, 30, 10), limit_days=limit, answered_at=answered_at
    )


def test_a_complaint_not_answered_within_its_limit(calendar: WorkingCalendar) -> None:
    # limit 3 from Wed 09-30: 10-08, 10-09, 10-10 (make-up Saturday) → due 10-11 00:00
    def run(c: Complaint, now: datetime) -> RuleResult:
        (result,) = evaluate_complaint(c, now, calendar, P)
        return result

    open_ = _complaint()
    quiet = run(open_, midnight(10, 11) - SECOND)
    assert not quiet.fired
    assert quiet.wake_at == midnight(10, 11)
    loud = run(open_, midnight(10, 11))
    assert loud.fired
    assert loud.light is Light.RED
    assert loud.key == ("complaint", "TS-0001", "SUP-101")
    assert loud.evidence == ("TS-0001",)
    assert not run(_complaint(at(10, 10, 18)), at(10, 20)).fired  # answered on the last (make-up) day
    late = run(_complaint(at(10, 12, 9)), at(10, 20))
    assert late.fired
    assert late.details["answered"] is True
    assert not run(_complaint(at(10, 12, 9)), at(10, 10, 12)).fired  # as of 10-10 the answer is not yet known


def test_a_bad_complaint_is_refused() -> None:
    with pytest.raises(ValidationError):
        records.complaint(target=ComplaintTarget.CASE, target_id=CASE_NO, filed_at=at(9, 30), answered_at=at(9, 29))
    with pytest.raises(ValidationError):
        records.complaint(target=ComplaintTarget.STAFF, target_id="工号 001", limit_days=-1)
    with pytest.raises(ValidationError):
        records.complaint(target=ComplaintTarget.STAFF, target_id=" ")


# -- SUP-201: ratings ------------------------------------------------------------------------------------------------


def _rating(level: int, followed_up_at: datetime | None = None) -> Rating:
    """What SUP-201 reads: the level, the moment, the limit and the follow-up (the status it does not)."""
    return records.rating(
        rating_id="PJ-0001",
        staff="工号 001",
        level=level,
        at=at(9, 30, 10),
        follow_up_limit_days=3,
        followed_up_at=followed_up_at,
    )


def test_a_negative_rating_not_followed_up_within_its_limit(calendar: WorkingCalendar) -> None:
    def fired(r: Rating, now: datetime) -> bool:
        (result,) = evaluate_rating(r, now, calendar, P)
        return result.fired

    assert not fired(_rating(2), midnight(10, 11) - SECOND)
    assert fired(_rating(2), midnight(10, 11))
    assert fired(_rating(1), at(10, 20))
    assert not fired(_rating(3), at(12, 31))  # 基本满意: one level above negative, never followed up, no alert
    assert not fired(_rating(2, at(10, 10, 18)), at(10, 20))
    assert fired(_rating(2, at(10, 12, 9)), at(10, 20))
    stricter = SupervisionParameters(negative_rating_max_level=3)
    (result,) = evaluate_rating(_rating(3), at(10, 20), calendar, stricter)
    assert result.fired


@pytest.mark.parametrize("level", [0, 6, -1, True, 2.0])
def test_a_rating_outside_one_to_five_is_refused(level: Any) -> None:
    with pytest.raises(ValidationError) as err:
        _rating(level)
    assert err.value.details["field"] == "level"


# -- properties ------------------------------------------------------------------------------------------------------

_CODES = st.sampled_from([INSTANT, BUILD, FOOD, JOINT])
_MOMENTS = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 20), timezones=st.just(CST)).map(
    lambda d: d.replace(second=0, microsecond=0)
)


@settings(max_examples=150, deadline=None)
@given(code=_CODES, accept=_MOMENTS, offsets=st.lists(st.integers(0, 60 * 24 * 120), min_size=1, max_size=4))
def test_property_overdue_never_with_approaching_and_red_stays_red(
    items: dict[str, Item], calendar: WorkingCalendar, code: str, accept: datetime, offsets: list[int]
) -> None:
    story = Story(items[code], accept - timedelta(hours=1)).accepted(accept)
    was_red = False
    for minutes in sorted(offsets):
        r = story.run(accept + timedelta(minutes=minutes), calendar)
        assert not (r["SUP-001"].fired and r["SUP-002"].fired)
        assert r["SUP-002"].fired or not was_red  # an untouched case never leaves red
        was_red = r["SUP-002"].fired
        wake = next_wake_at(r.values())
        assert wake is None or wake > accept + timedelta(minutes=minutes)


@settings(max_examples=150, deadline=None)
@given(
    code=_CODES,
    accept=_MOMENTS,
    kind=st.sampled_from([Action.REQUEST_CORRECTION, Action.SUSPEND, Action.START_SPECIAL_PROCEDURE]),
    pause_pick=st.floats(0, 1, exclude_max=True),
    after=st.integers(0, 60 * 24 * 400),
)
def test_property_a_case_paused_before_its_due_moment_never_fires_overdue(
    items: dict[str, Item],
    calendar: WorkingCalendar,
    *,
    code: str,
    accept: datetime,
    kind: Action,
    pause_pick: float,
    after: int,
) -> None:
    story = Story(items[code], accept - timedelta(hours=1)).accepted(accept)
    due_at = story.run(accept, calendar)["SUP-002"].details["due_at"]
    pause_at = accept + (due_at - accept) * pause_pick
    pause_at = max(accept, min(pause_at, due_at - SECOND))
    story.do(kind, pause_at, reason="原因")
    r = story.run(pause_at + timedelta(minutes=after), calendar)
    assert not r["SUP-002"].fired
    assert r["SUP-002"].clock is not None
    assert r["SUP-002"].clock.light is not Light.RED
    assert r["SUP-002"].wake_at is None


def test_the_seeded_calendar_is_the_one_these_tests_assume(calendar: WorkingCalendar) -> None:
    off = [date(2026, 9, d) for d in (25, 26, 27)] + [date(2026, 10, d) for d in range(1, 8)]
    assert not any(calendar.is_working_day(d) for d in off)
    assert calendar.is_working_day(date(2026, 9, 20))
    assert calendar.is_working_day(date(2026, 10, 10))
    assert not calendar.is_working_day(date(2026, 10, 11))


# -- the hall's cameras (SUP-301, SUP-302) ------------------------------------------------------------------------


def _video(kind: str, **details: Any) -> Any:
    from county_node.supervision.domain import VideoEvent

    return VideoEvent("371122-e1", "37112200001311000001", "W01", kind, datetime(2026, 9, 21, 12, tzinfo=CST), details)


def test_an_alarm_fires_sup_301_and_motion_nothing() -> None:
    from county_node.supervision.domain import evaluate_video_event

    fired = {r.rule_id: r for r in evaluate_video_event(_video("alarm"), P) if r.fired}
    assert list(fired) == ["SUP-301"]
    assert (fired["SUP-301"].light, fired["SUP-301"].evidence) == (Light.RED, ("371122-e1",))
    assert not any(r.fired for r in evaluate_video_event(_video("motion"), P))
    assert not any(r.fired for r in evaluate_video_event(_video("complaint_linked"), P))


@pytest.mark.parametrize(
    ("details", "minutes", "fires"),
    [({"duration_s": 599}, 10, False), ({"duration_s": 600}, 10, True), ({}, 10, True), ({"duration_s": 60}, 1, True)],
)
def test_an_unattended_window_fires_sup_302_from_its_minutes(
    details: dict[str, Any], minutes: int, fires: bool
) -> None:
    from county_node.supervision.domain import evaluate_video_event

    params = SupervisionParameters.from_mapping({"unattended_minutes": minutes, "unattended_light": "red"})
    [r] = [r for r in evaluate_video_event(_video("window_unattended", **details), params) if r.rule_id == "SUP-302"]
    assert r.fired is fires
    assert r.light == (Light.RED if fires else None)


@pytest.mark.parametrize(
    "raw",
    [{"unattended_minutes": -1}, {"unattended_minutes": "10"}, {"video_alarm_light": "white"}, {"unattended_light": 1}],
)
def test_bad_video_parameters_are_refused_naming_the_key(raw: dict[str, Any]) -> None:
    with pytest.raises(StandardsError, match=next(iter(raw))):
        SupervisionParameters.from_mapping(raw)
