"""督办层级 of an alert: the highest of the county's own escalation and the tiers whose orders acted on it (issue 17:
after a city 督办 the alert still said 县级). Pure: alerts as values."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from county_node.entrypoints.supervision_schemas import alert_view
from county_node.supervision.domain.alerts import Alert, AlertStatus
from federation.errors import ValidationError
from federation.timeutil import CST

T0 = datetime(2026, 9, 30, 9, tzinfo=CST)


def raised() -> Alert:
    return Alert(
        alert_id="371122-A000000001",
        origin="371122",
        subject_kind="case",
        subject_id="371122-20260921-000001",
        case_no="371122-20260921-000001",
        rule_id="SUP-002",
        rule_version=1,
        rule_name="超期（红灯）",
        light="red",
        status=AlertStatus.OPEN,
        standing=True,
        level=0,
        department="市场监督管理局",
        standards_version="2026.09.1",
        opened_at=T0,
        ack_due_at=T0 + timedelta(days=1),
        acknowledged_at=None,
        escalated_at=None,
        closed_at=None,
        close_reason=None,
        evidence=(),
        clock=None,
        details={},
        parameters={},
        history=({"action": "raise", "actor": "system", "at": T0.isoformat(), "reason": ""},),
        updated_at=T0,
    )


def test_a_city_order_makes_the_alert_city_supervised_without_touching_its_escalation() -> None:
    alert = raised()
    assert (alert.supervision_level, alert.supervising_order, alert_view(alert)["level_label"]) == (0, None, "县级")
    city = alert.act(
        "supervise",
        actor="王处长（371100）",
        at=T0 + timedelta(hours=1),
        reason="请三日内办结",
        order=("371100-OD00000001", 1),
    )
    assert city.level == 0  # the county's own escalation is unchanged
    assert (city.supervision_level, city.supervising_order) == (1, "371100-OD00000001")
    assert city.history[-1]["order_id"] == "371100-OD00000001"
    view = alert_view(city)
    assert (view["level"], view["supervision_level"], view["level_label"]) == (0, 1, "市级")
    # a later province order raises it; the county's own escalation to 市级 does not lower it
    province = city.act(
        "supervise",
        actor="省监察室（370000）",
        at=T0 + timedelta(hours=2),
        reason="省级督办",
        order=("370000-OD00000001", 2),
    )
    assert (province.supervision_level, province.supervising_order) == (2, "370000-OD00000001")
    assert alert_view(province)["level_label"] == "省级"
    # a person's step at the county records no order
    acked = province.act("acknowledge", actor="李科长", at=T0 + timedelta(hours=3))
    assert "order_level" not in acked.history[-1]
    assert acked.supervision_level == 2


def test_the_escalation_level_counts_when_it_is_higher() -> None:
    alert = raised().escalate(at=T0 + timedelta(days=1), next_due=T0 + timedelta(days=2), ack_days=1)
    alert = alert.escalate(at=T0 + timedelta(days=2), next_due=None, ack_days=1)
    urged = alert.act(
        "urge", actor="王处长（371100）", at=T0 + timedelta(days=3), reason="请办", order=("371100-OD1", 1)
    )
    assert (urged.level, urged.supervision_level, urged.supervising_order) == (2, 2, None)
    assert alert_view(urged)["level_label"] == "省级"


def test_an_order_level_must_be_a_tier_above_the_county() -> None:
    with pytest.raises(ValidationError):
        raised().act("urge", actor="x", at=T0 + timedelta(hours=1), reason="r", order=("371122-OD1", 0))
