"""The video routes of the county HTTP API on SQLite and PostgreSQL: register a camera → index segments → query
them with their gaps → the clip of a case step → purge (files deleted from a real directory); a bad camera id or
an overlapping segment is refused with a Chinese error and nothing is written. The client is logged in as the
node admin (节点管理员: cameras, segments, the purge); the hall's supervisor reads recordings and may not purge."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from county_node.bootstrap import assemble_county_node
from county_node.entrypoints.http import create_app
from federation.config import Config, NodeConfig, VideoConfig
from federation.storage.audit_log import AUDIT_RECORD
from federation.storage.tables import cameras, outbox, video_purges, video_segments
from federation.timeutil import CST
from tests.conftest import FakeClock
from tests.integration.test_supervision_http import as_user, assert_error
from tests.integration.video_fixtures import CAM1, COUNTY, add_case
from tests.people import add_staff, log_in

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

DAY = datetime(2026, 9, 21, tzinfo=CST)
API = "/api/v1"


def count(engine: Engine, table: Any) -> int:
    """Rows of ``table`` (of the outbox: but the audit log's, since a refusal is audited and that goes up too)."""
    query = select(func.count()).select_from(table)
    if table is outbox:
        query = query.where(outbox.c.record_type != AUDIT_RECORD)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


@pytest.fixture
def setup(engine: Engine, tmp_path: Path) -> Iterator[tuple[TestClient, FakeClock, Path]]:
    root = tmp_path / "nvr"
    root.mkdir()
    config = Config(
        node=NodeConfig(division=COUNTY, data_dir=str(tmp_path)),
        video=VideoConfig(storage_root=str(root), max_purge_share=1.0),
    )
    clock = FakeClock(DAY + timedelta(hours=9))
    node = assemble_county_node(config, engine, clock)
    add_staff(node.accounts)
    with TestClient(create_app(node)) as client:
        log_in(client, "admin")
        yield client, clock, root


def _segment(root: Path, start: datetime) -> dict[str, Any]:
    path = root / f"{CAM1}_{start:%Y%m%dT%H%M%S}.mp4"
    path.write_bytes(b"video")
    end = start + timedelta(minutes=5)
    return {
        "camera_id": CAM1,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "uri": path.as_uri(),
        "size": 5,
        "checksum": "ab12",
    }


def test_register_index_clip_and_purge(setup: tuple[TestClient, FakeClock, Path], engine: Engine) -> None:
    client, clock, root = setup
    r = client.post(
        f"{API}/cameras",
        json={
            "camera_id": CAM1,
            "name": "一号窗口",
            "hall": "政务服务中心",
            "window": "W01",
            "since": "2026-09-01T00:00:00",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["window"] == "W01"
    assert r.json()["bindings"] == [{"window": "W01", "valid_from": "2026-09-01T00:00:00+08:00", "valid_to": None}]
    assert [c["camera_id"] for c in client.get(f"{API}/cameras").json()] == [CAM1]

    t = DAY + timedelta(hours=8, minutes=55)  # 08:55, 09:00, then a gap 09:05–09:10, then 09:10
    body = [_segment(root, t), _segment(root, t + timedelta(minutes=5)), _segment(root, t + timedelta(minutes=15))]
    r = client.post(f"{API}/video/segments", json=body)
    assert r.status_code == 201, r.text
    assert r.json() == {"received": 3, "indexed": 3}
    assert client.post(f"{API}/video/segments", json=body[:1]).json() == {"received": 1, "indexed": 0}  # re-sent

    r = client.get(
        f"{API}/video/segments",
        params={"camera": CAM1, "from": "2026-09-21T09:00:00+08:00", "to": "2026-09-21T09:12:00+08:00"},
    )
    view = r.json()
    assert [s["start"] for s in view["segments"]] == ["2026-09-21T09:00:00+08:00", "2026-09-21T09:10:00+08:00"]
    assert view["gaps"] == [{"from": "2026-09-21T09:05:00+08:00", "to": "2026-09-21T09:10:00+08:00"}]
    assert view["complete"] is False

    add_case(engine, "371122-20260921-000001", "W01", [DAY + timedelta(hours=8, minutes=30), DAY + timedelta(hours=9)])
    clip = client.get(f"{API}/cases/371122-20260921-000001/steps/2/clip").json()  # 09:00, margin −2 / +5 min
    assert clip["camera_id"] == CAM1
    assert clip["window"] == "W01"
    assert [s["start"][11:16] for s in clip["segments"]] == ["08:55", "09:00"]
    assert clip["gaps"] == []
    missing = client.get(f"{API}/cases/371122-20260921-000001/steps/9/clip")
    assert_error(missing, 404, "not_found")

    r = client.post(f"{API}/video/events", json=[{"camera_id": CAM1, "kind": "motion", "at": "2026-09-21T09:01:00"}])
    assert r.status_code == 201, r.text
    events = client.get(f"{API}/video/events", params={"from": "2026-09-21", "to": "2026-09-22", "type": "motion"})
    assert [(e["camera_id"], e["window"], e["at"]) for e in events.json()] == [
        (CAM1, "W01", "2026-09-21T09:01:00+08:00")
    ]

    supervisor = as_user(client, "supervisor")  # reads recordings and clips; neither indexes nor purges them
    assert client.get(f"{API}/cases/371122-20260921-000001/steps/2/clip", headers=supervisor).json() == clip
    assert_error(client.post(f"{API}/video/events", json=[], headers=supervisor), 403, "forbidden")
    clock.now = DAY + timedelta(days=30, hours=9, minutes=5)  # the first two segments expired, the third not
    assert_error(client.post(f"{API}/video/purge", headers=supervisor), 403, "forbidden")
    assert (count(engine, video_segments), count(engine, video_purges)) == (3, 0)
    anonymous = client.get(f"{API}/cameras", headers={"Authorization": ""})
    assert_error(anonymous, 401, "unauthenticated")
    report = client.post(f"{API}/video/purge").json()
    assert (report["status"], report["expired"], report["removed"]) == ("done", 2, 2)
    assert report["files"]["removed"] == 2
    assert sorted(p.name for p in root.iterdir()) == [f"{CAM1}_20260921T091000.mp4"]
    assert count(engine, video_segments) == 1


def test_bad_camera_id_and_overlap_refused_with_nothing_written(
    setup: tuple[TestClient, FakeClock, Path], engine: Engine
) -> None:
    client, _clock, root = setup
    before = count(engine, outbox)
    r = client.post(f"{API}/cameras", json={"camera_id": "3711220000131100000X", "name": "甲", "hall": "大厅"})
    error = assert_error(r, 422, "validation_error")
    assert "摄像机" in error["message"] or "编号" in error["message"]
    r = client.post(f"{API}/cameras", json={"camera_id": "37010200001311000001", "name": "甲", "hall": "大厅"})
    assert_error(r, 422, "validation_error")  # another county's centre code
    assert (count(engine, cameras), count(engine, outbox)) == (0, before)

    client.post(f"{API}/cameras", json={"camera_id": CAM1, "name": "甲", "hall": "大厅", "window": "W01"})
    t = DAY + timedelta(hours=8)
    assert client.post(f"{API}/video/segments", json=[_segment(root, t)]).status_code == 201
    written = count(engine, outbox)
    overlapping = _segment(root, t + timedelta(minutes=2)) | {"uri": "file:///other.mp4"}
    r = client.post(f"{API}/video/segments", json=[_segment(root, t + timedelta(minutes=30)), overlapping])
    error = assert_error(r, 409, "conflict")
    assert "重叠" in error["message"]
    assert (count(engine, video_segments), count(engine, outbox)) == (1, written)

    r = client.get(
        f"{API}/video/segments", params={"camera": CAM1, "from": "2026-09-21T10:00", "to": "2026-09-21T09:00"}
    )
    assert_error(r, 422, "validation_error")
    assert_error(client.get(f"{API}/cameras/{CAM1[:-1]}9"), 404, "not_found")


def test_empty_index_purge_refused(setup: tuple[TestClient, FakeClock, Path], engine: Engine) -> None:
    client, _clock, _root = setup
    report = client.post(f"{API}/video/purge").json()
    assert report["status"] == "refused"
    assert "为空" in report["reason"]
    assert count(engine, video_purges) == 1  # the refusal itself is logged
