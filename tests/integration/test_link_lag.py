"""The lag a county's agent shows while its city is down, and after the city is back (issue 17).

A real county database and a real city receiver on ``127.0.0.1:0`` (SQLite both); the county's link runs one
session at a time (``run_once``) so the test decides when it connects. The backlog is the county's outbox the
city has not acknowledged — also when nothing of it was sealed, and when the agent restarted while the city was
down — and ``/links``, ``sunshine admin links`` and ``/metrics`` agree on it. An error stands until the link is
connected again, then it is history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from city_aggregator.bootstrap import replication_appliers as city_appliers
from federation.config import Config, DatabaseConfig, NodeConfig, ReplicationConfig
from federation.storage import outbox
from federation.storage.engine import engine_from_config
from federation.storage.outbox import OutboxRecord
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from migrations.runner import upgrade
from sync_agent.client import Link
from sync_agent.entrypoints.cli import admin_app
from sync_agent.errors import LinkError
from sync_agent.metrics import start_status_server
from sync_agent.runtime import Agent, sealed_here, start_receiver, up_origins
from sync_agent.server import RunningServer
from sync_agent.store import SqlBatchSource

CITY, JU = "371100", "371122"
T0 = datetime(2026, 9, 21, 9, tzinfo=CST)


def _config(tmp: Path, division: str) -> Config:
    d = tmp / division
    d.mkdir(exist_ok=True)
    return Config(
        node=NodeConfig(division=division, data_dir=str(d)),
        database=DatabaseConfig(url=f"sqlite:///{d / 'node.db'}", sqlite_synchronous="normal"),
        replication=ReplicationConfig(listen="127.0.0.1:0", linger_ms=10),
    )


def _write(engine: Engine, n: int, at: datetime) -> None:
    """``n`` records in the county's outbox, written at ``at`` (a type the boundary lets cross whole)."""
    records = [
        OutboxRecord(
            "video_event",
            f"{JU}-{at:%H%M}-{i}",
            "upsert",
            {"camera_id": "cam", "window": "W01", "kind": "离岗", "at": f"{at:%Y-%m-%d}", "details": {"n": i}},
        )
        for i in range(n)
    ]
    with UnitOfWork(engine) as uow:
        outbox.append(uow.conn, origin=JU, records=records, created_at=at)
        uow.commit()


class _Ends:
    """The county (database, agent clock) and the city (database, its receiver when up)."""

    def __init__(self, tmp: Path) -> None:
        self.city_cfg = _config(tmp, CITY)
        self.city = engine_from_config(self.city_cfg)
        self.county = engine_from_config(_config(tmp, JU))
        upgrade(self.city)
        upgrade(self.county)
        self.receiver: RunningServer | None = None
        self.target = "127.0.0.1:1"
        self.now = T0  # the county agent's and link's wall clock

    def city_up(self) -> None:
        self.receiver = start_receiver(self.city_cfg, self.city, city_appliers(), relay=True)
        self.target = self.receiver.target

    def city_down(self) -> None:
        assert self.receiver is not None
        self.receiver.stop(grace=0)  # its port now refuses connections
        self.receiver = None

    def agent(self) -> Agent:
        """A fresh agent of the county (as after a restart): one link up to wherever the city is."""
        source = SqlBatchSource(self.county, JU, max_records=10)
        link = Link(
            "up",
            lambda: self.target,
            source,
            node=JU,
            origins=up_origins(JU, source),
            linger=0.01,
            handshake_timeout=5.0,
            wall_clock=lambda: self.now,
        )
        return Agent(JU, self.county, source, [link], clock=lambda: self.now)

    def close(self) -> None:
        if self.receiver is not None:
            self.receiver.stop(grace=0)
        self.city.dispose()
        self.county.dispose()


@pytest.fixture
def ends(tmp_path: Path) -> Iterator[_Ends]:
    made = _Ends(tmp_path)
    try:
        yield made
    finally:
        made.close()


def _metric(text: str, name: str) -> float:
    line = next(x for x in text.splitlines() if x.startswith(f'{name}{{link="up",node="{JU}",origin="{JU}"}}'))
    return float(line.rsplit(" ", 1)[1])


@dataclass(frozen=True)
class _Shown:
    """What an operator sees: the agent's ``/links``, its ``/metrics`` and ``sunshine admin links`` (text)."""

    links: dict[str, Any]
    metrics: str
    table: str

    @property
    def row(self) -> str:
        return next(line for line in self.table.splitlines() if line.strip().startswith(JU))


def _shown(agent: Agent) -> _Shown:
    status = start_status_server("127.0.0.1", 0, agent)
    try:
        url = f"http://127.0.0.1:{status.port}"
        (link,) = httpx.get(f"{url}/links", timeout=5).json()["links"]
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        table = CliRunner().invoke(admin_app, ["links", "--url", url])
        assert table.exit_code == 0, table.output
        as_json = CliRunner().invoke(admin_app, ["links", "--url", url, "--json"])
        (again,) = json.loads(as_json.output)["links"]
        assert again["last_error"] == link["last_error"]
        assert [o["lag_records"] for o in again["origins"]] == [o["lag_records"] for o in link["origins"]]
    finally:
        status.stop()
    return _Shown(link, metrics, table.output)


def _lag(shown: _Shown) -> tuple[int, float]:
    """The lag of the county's origin on its link up (records, seconds), checked to be the same everywhere."""
    (origin,) = shown.links["origins"]
    assert origin["origin"] == JU
    lag = (origin["lag_records"], origin["lag_seconds"])
    assert (
        _metric(shown.metrics, "sunshine_replication_lag_records"),
        _metric(shown.metrics, "sunshine_replication_lag_seconds"),
    ) == lag
    assert _metric(shown.metrics, "sunshine_replication_acked_seq") == origin["acked_seq"]
    assert shown.row.split()[1:5] == [str(origin["sent_seq"]), str(origin["acked_seq"]), str(lag[0]), f"{lag[1]:.1f}"]
    return lag


def _city_went_down(ends: _Ends) -> Agent:
    """26 records acknowledged by the city, then the city goes down and the county writes 126 more (at 09:01);
    the link tries at 09:02 and fails."""
    ends.city_up()
    agent = ends.agent()
    (link,) = agent.links
    _write(ends.county, 26, T0)
    link.run_once()
    assert _lag(_shown(agent)) == (0, 0.0)
    ends.city_down()
    _write(ends.county, 126, T0 + timedelta(minutes=1))
    ends.now = T0 + timedelta(minutes=2)
    with pytest.raises(LinkError):
        link.run_once()
    return agent


def test_while_the_city_is_down_the_lag_is_the_countys_outbox_it_has_not_acknowledged(ends: _Ends) -> None:
    agent = _city_went_down(ends)
    ends.now = T0 + timedelta(minutes=10)
    shown = _shown(agent)
    assert _lag(shown) == (126, 540.0)  # nothing of it sealed or sent; the oldest written at 09:01
    assert shown.links["origins"][0]["acked_seq"] == 26
    assert shown.links["connected"] is False
    error = shown.links["last_error"]
    assert error
    assert shown.links["last_error_at"] == (T0 + timedelta(minutes=2)).isoformat()
    assert shown.links["previous_error"] == ""
    assert error[:20] in shown.row
    assert "2026-09-21 09:02:00" in shown.row

    # the agent restarts while the city is still down: the backlog shows before the link ever connects
    ends.now = T0 + timedelta(minutes=11)
    agent = ends.agent()
    shown = _shown(agent)
    assert _lag(shown) == (126, 600.0)
    assert shown.links["origins"][0]["acked_seq"] == 26  # as recorded in link_acks
    assert shown.links["last_error"] == ""  # nothing went wrong in this process yet


def test_once_the_city_is_back_and_caught_up_the_lag_is_zero_and_the_error_is_history(ends: _Ends) -> None:
    agent = _city_went_down(ends)
    error = agent.views()[0].last_error
    assert error
    ends.city_up()
    ends.now = T0 + timedelta(minutes=12)
    (link,) = agent.links
    link.run_once()
    shown = _shown(agent)
    assert _lag(shown) == (0, 0.0)
    assert shown.links["origins"][0]["acked_seq"] == 152
    assert shown.links["last_error"] == ""
    assert shown.links["last_error_at"] is None
    assert shown.links["previous_error"] == error
    assert shown.links["previous_error_at"] == (T0 + timedelta(minutes=2)).isoformat()
    assert shown.links["recovered_at"] == (T0 + timedelta(minutes=12)).isoformat()
    assert shown.row.rstrip().endswith("-")  # no current error
    assert "上次错误（已于 2026-09-21 09:12:00 恢复）" in shown.table
    assert "发生于 2026-09-21 09:02:00" in shown.table


def test_a_countys_public_stream_lags_by_its_outbox_on_the_extranet_link(ends: _Ends) -> None:
    public = f"{JU}-pub"
    with UnitOfWork(ends.county) as uow:  # control records cross whole (no boundary policy needed here)
        records = [OutboxRecord("standards", f"pub-{i}", "upsert", {"n": i}) for i in range(7)]
        outbox.append(uow.conn, origin=public, records=records, created_at=T0)
        uow.commit()
    source = SqlBatchSource(ends.county, public)
    link = Link("extranet", "127.0.0.1:1", source, node=JU, origins=[public], up=False)
    ends.now = T0 + timedelta(seconds=30)
    agent = Agent(JU, ends.county, SqlBatchSource(ends.county, JU), [link], clock=lambda: ends.now)
    (view,) = agent.views()  # the extranet node never reached: nothing sealed, the backlog shows all the same
    (origin,) = view.origins
    assert (origin.origin, origin.acked_seq, origin.lag_records, origin.lag_seconds) == (public, 0, 7, 30.0)


def test_the_origins_sealed_here_are_the_nodes_own_and_a_countys_public_stream() -> None:
    assert sealed_here(JU) == {JU, f"{JU}-pub"}
    assert sealed_here(CITY) == {CITY}
    assert sealed_here("370000") == {"370000"}
    assert sealed_here(f"{JU}-ext") == {f"{JU}-ext"}
