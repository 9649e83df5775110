"""An NVR alarm or an unattended window raises a supervision alert (SUP-301 / SUP-302) in the transaction that
indexes the event, with the event and its clip as evidence — on SQLite and PostgreSQL, through the county node's
composition root (the video index observed by supervision)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from county_node.bootstrap import CountyNode, assemble_county_node
from county_node.entrypoints.supervision_cli import _print_alert
from county_node.entrypoints.supervision_schemas import alert_view
from county_node.supervision.adapters.store import AlertFilter
from county_node.supervision.domain.alerts import AlertAction, AlertStatus
from county_node.video.domain import Segment
from federation.config import Config, NodeConfig
from federation.data import CATALOGUE_CSV
from federation.standards import StandardsBundle, bundle_from_catalogue_csv
from federation.storage.tables import alerts, outbox, video_events
from federation.timeutil import CST
from tests.conftest import FakeClock
from tests.integration.video_fixtures import CAM1, CAM2, COUNTY

NOON = datetime(2026, 9, 21, 12, tzinfo=CST)


def count(engine: Engine, table: Any, **where: Any) -> int:
    q = select(func.count()).select_from(table)
    for k, v in where.items():
        q = q.where(table.c[k] == v)
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def node_with(engine: Engine, bundle: StandardsBundle, clock: FakeClock) -> CountyNode:
    node = assemble_county_node(Config(node=NodeConfig(division=COUNTY, name="莒县")), engine, clock)
    node.approval.apply_standards(bundle)
    since = NOON - timedelta(days=1)
    node.video.register_camera(CAM1, name="一号窗口摄像机", hall="政务服务中心", window="W01", since=since)
    node.video.register_camera(CAM2, name="二号窗口摄像机", hall="政务服务中心", window="W02", since=since)
    return node


@pytest.fixture
def node(engine: Engine, bundle: StandardsBundle) -> CountyNode:
    return node_with(engine, bundle, FakeClock(NOON + timedelta(minutes=10)))


def event_alerts(node: CountyNode) -> list[Any]:
    return node.supervision.list_alerts(AlertFilter(), page_size=100).items


def test_an_alarm_raises_one_red_alert_with_its_clip(node: CountyNode, engine: Engine) -> None:
    segs = [
        Segment(CAM1, NOON + timedelta(minutes=5 * i), NOON + timedelta(minutes=5 * i + 5), f"c1/{i}.mp4", 9, "x")
        for i in range(-1, 1)
    ]
    node.video.add_segments(segs)
    [event_id] = node.video.record_events([{"event_id": "a1", "camera_id": CAM1, "kind": "alarm", "at": NOON}])
    [alert] = event_alerts(node)
    assert (alert.rule_id, alert.rule_name, alert.light) == ("SUP-301", "窗口视频报警", "red")
    assert (alert.subject_kind, alert.subject_id, alert.status) == ("video_event", event_id, AlertStatus.OPEN)
    clip = alert.details["clip"]
    assert (clip["window"], clip["camera_id"], clip["segments"], clip["gaps"]) == ("W01", CAM1, 2, 0)
    start, end = NOON - timedelta(minutes=2), NOON + timedelta(minutes=5)  # the default margins
    assert alert.evidence == (event_id, f"clip:{CAM1}/{start.isoformat()}/{end.isoformat()}")
    assert alert.parameters == {"video_alarm_light": "red"}
    # replicates up in the event's own transaction: the event's outbox row and the alert's
    assert count(engine, outbox, record_type="alert") == 1
    assert count(engine, outbox, record_type="video_event") == 1
    # the clip of the alert is the event's, through the index's own lookup
    assert (node.video.clip_for_alert(alert.alert_id).at, node.video.clip_for_alert(alert.alert_id).camera_id) == (
        NOON,
        CAM1,
    )
    # a re-sent event raises nothing
    node.video.record_events([{"event_id": "a1", "camera_id": CAM1, "kind": "alarm", "at": NOON}])
    assert len(event_alerts(node)) == 1
    # the normal lifecycle
    node.supervision.act(alert.alert_id, AlertAction.ACKNOWLEDGE, actor="jc01")
    closed = node.supervision.act(alert.alert_id, AlertAction.CLOSE, actor="jc01", reason="已核实，误报")
    assert closed.status is AlertStatus.CLOSED
    assert count(engine, outbox, record_type="alert") == 3


def test_motion_raises_nothing_and_unattended_honours_its_minutes(node: CountyNode, engine: Engine) -> None:
    node.video.record_events(
        [
            {"event_id": "m1", "camera_id": CAM1, "kind": "motion", "at": NOON},
            {
                "event_id": "u1",
                "camera_id": CAM2,
                "kind": "window_unattended",
                "at": NOON,
                "details": {"duration_s": 300},
            },
            {
                "event_id": "u2",
                "camera_id": CAM2,
                "kind": "window_unattended",
                "at": NOON,
                "details": {"duration_s": 900},
            },
        ]
    )
    assert count(engine, video_events) == 3
    [alert] = event_alerts(node)  # 5 minutes is under the default 10
    assert (alert.rule_id, alert.subject_id, alert.light) == ("SUP-302", f"{COUNTY}-u2", "yellow")
    assert alert.details["clip"]["camera_id"] == CAM2
    assert alert.parameters == {"unattended_minutes": 10, "unattended_light": "yellow"}


def test_parameters_from_the_bundle_are_honoured(engine: Engine, seeded_years: list) -> None:  # type: ignore[type-arg]
    params = {"yellow_days": 1, "unattended_minutes": 3, "unattended_light": "red", "video_alarm_light": "yellow"}
    bundle = bundle_from_catalogue_csv(CATALOGUE_CSV, "2026.09.1", date(2026, 9, 1), seeded_years, params)
    node = node_with(engine, bundle, FakeClock(NOON + timedelta(minutes=10)))
    node.video.record_events(
        [
            {
                "event_id": "u1",
                "camera_id": CAM2,
                "kind": "window_unattended",
                "at": NOON,
                "details": {"duration_s": 300},
            },
            {"event_id": "a1", "camera_id": CAM1, "kind": "alarm", "at": NOON},
        ]
    )
    lights = {a.rule_id: a.light for a in event_alerts(node)}
    assert lights == {"SUP-302": "red", "SUP-301": "yellow"}
    off = replace(bundle, version="2026.09.2", rule_parameters={**params, "disabled_rules": ["SUP-301"]})
    node.approval.apply_standards(off)
    node.video.record_events([{"event_id": "a2", "camera_id": CAM1, "kind": "alarm", "at": NOON}])
    assert count(engine, alerts) == 2  # a switched-off rule raises nothing


def test_alert_show_prints_the_video_alert_in_chinese(node: CountyNode) -> None:
    node.video.record_events([{"event_id": "a1", "camera_id": CAM1, "kind": "alarm", "at": NOON}])
    [alert] = event_alerts(node)
    lines: list[str] = []
    _print_alert(alert_view(alert), lines.append)
    text = "\n".join(lines)
    assert "SUP-301 窗口视频报警" in text
    assert f"对象：视频事件 {COUNTY}-a1" in text
    assert f"录像：窗口 W01，摄像机 {CAM1}" in text
    assert "报警" in text
