"""Robust processes (issue 19), with real processes on loopback: a small federation under the launcher's
supervision. An agent killed from outside is started again on the status port it had; ``sunshine admin drain``
waits until a link up has nothing unacknowledged (and names a link the agent does not have); and the ordered stop
— writers first, each tier's statement of its figures, each tier's agents drained up, then the tiers above —
leaves every record a county wrote acknowledged at its city and at the province, even records written just before
the stop, and every tier's verdict on every statement agrees (``sunshine admin verify``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from county_node.approval.domain import Action
from county_node.bootstrap import build_county_node
from federation.bound_ports import kept_port_file
from federation.storage.engine import engine_from_config
from federation.storage.tables import outbox, replication_marks
from federation.storage.uow import UnitOfWork
from province_center.demo.launcher import Federation, NodeSpec
from province_center.demo.topology import read_port

pytestmark = pytest.mark.fault

PROVINCE, CITY, COUNTY = "370000", "371100", "371122"
TOPOLOGY = (NodeSpec(PROVINCE, "山东省"), NodeSpec(CITY, "日照市", PROVINCE), NodeSpec(COUNTY, "莒县", CITY))
WAIT = 60.0


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"等待超时（{WAIT:g} 秒）：{what}")
        time.sleep(0.1)


def _cases(fed: Federation, n: int) -> None:
    """``n`` cases taken in and accepted at the county, as its hall would (its outbox grows)."""
    node = build_county_node(fed.load(COUNTY))
    try:
        data = {"统一社会信用代码": "91371122MA3C00000X", "经营场所": "城阳街道 1 号"}
        for _ in range(n):
            case_no = node.approval.submit(item_code="XK00003000", applicant="张三", data=data, actor="窗口 1").case_no
            node.approval.act(case_no, Action.ACCEPT, actor="窗口 1")
    finally:
        node.close()


def _held(fed: Federation, division: str) -> int:
    """What ``division`` holds of the county's stream: its outbox's last seq (the county), else its mark."""
    engine = engine_from_config(fed.load(division))
    try:
        with UnitOfWork(engine, readonly=True) as uow:
            if division == COUNTY:
                top = select(func.max(outbox.c.seq)).where(outbox.c.origin == COUNTY)
            else:
                top = select(replication_marks.c.high_water).where(replication_marks.c.origin == COUNTY)
            return int(uow.conn.execute(top).scalar() or 0)
    finally:
        engine.dispose()


def _drain(fed: Federation, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "federation.cli", "admin", "drain", "--config", str(fed.agent_config(COUNTY))]
    return subprocess.run(
        [*command, *args], env=fed.child_env, capture_output=True, text=True, timeout=120, check=False
    )


def test_supervised_agent_drain_and_ordered_stop_leave_nothing_unshipped(tmp_path: Path) -> None:
    fed = Federation(tmp_path / "fed", TOPOLOGY)
    restarts: list[str] = []
    try:
        fed.init_all()
        fed.start_all()
        fed.wait_for_standards()
        fed.supervise(report=restarts.append)
        status_port = read_port(fed.dir(COUNTY) / "metrics.port")
        assert read_port(kept_port_file(fed.dir(COUNTY) / "metrics.port")) == status_port

        # an agent killed from outside comes back, on the status port it had
        first = fed.procs[f"agent:{COUNTY}"].popen.pid
        os.kill(int((fed.dir(COUNTY) / "agent.pid").read_text(encoding="utf-8")), signal.SIGKILL)
        _wait_for(lambda: fed.procs[f"agent:{COUNTY}"].popen.pid != first, "the agent restarted")
        assert (fed.dir(COUNTY) / "agent.pid").read_text(encoding="utf-8").strip() != str(first)
        assert any(f"进程 agent:{COUNTY} 意外退出（退出码 -9）" in line for line in restarts), restarts
        fed.wait_agent(COUNTY)
        assert read_port(fed.dir(COUNTY) / "metrics.port") == status_port

        _cases(fed, 5)
        drained = _drain(fed, "--link", "up", "--timeout", str(WAIT))
        assert drained.returncode == 0, drained.stdout + drained.stderr
        assert "链路已无积压：up的记录均已被对端确认" in drained.stdout
        assert _held(fed, CITY) == _held(fed, COUNTY) > 0
        unknown = _drain(fed, "--link", "sideways", "--timeout", "1")
        assert unknown.returncode == 2, unknown.stdout + unknown.stderr
        assert "同步代理没有链路 sideways（它的链路：up）" in unknown.stderr

        # a backlog at the stop: written while the city was down, the city back just before the stop — the ordered
        # stop waits for the agent to reconnect and ship it all before anything above the county stops
        fed.stop(f"node:{CITY}")
        _cases(fed, 20)
        assert _held(fed, COUNTY) > _held(fed, CITY)
        fed.start_node(CITY)
    finally:
        left = fed.stop_all()
    assert left == {}
    top = _held(fed, COUNTY)
    assert (_held(fed, CITY), _held(fed, PROVINCE)) == (top, top)
    assert all(not p.alive for p in fed.procs.values())
    # each tier stated its figures before its agents drained: the province checked the county's statement, the
    # city's verdict on it, and the city's own statement — all agree (``sunshine admin verify``, exit status 0)
    verdicts = {(v.origin, v.checked_by): v.verdict for v in fed.verdicts(PROVINCE)}
    assert verdicts == {(COUNTY, PROVINCE): "agree", (COUNTY, CITY): "agree", (CITY, PROVINCE): "agree"}
    verify = subprocess.run(
        [sys.executable, "-m", "federation.cli", "admin", "verify", "--config", str(fed.config(PROVINCE))],
        env=fed.child_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.count("✓ 一致") == 3, verify.stdout
