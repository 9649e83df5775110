"""A county rebuilt from its city (issue 19), with real processes on loopback: the county's database is deleted
mid-run; ``sunshine county recover --from-parent`` makes an empty one and fetches the county's own signed batches
back from its city (and what comes down from above), verifies chain and signatures,
rebuilds the tables, the outbox and its seq, and the counters; the county resumes, writes on without reusing a seq
or a case number, and every tier's verdict agrees (``sunshine admin verify``). A restored backup that wrote on by
itself (its records differ from those the city holds) is refused, naming the seq, and nothing is written."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from county_node.approval.domain import Action
from county_node.bootstrap import build_county_node
from federation.storage.engine import engine_from_config
from federation.storage.tables import alerts, case_events, cases, complaints, counters, outbox
from federation.storage.uow import UnitOfWork
from province_center.demo.launcher import Federation, NodeSpec

pytestmark = pytest.mark.fault

PROVINCE, CITY, COUNTY = "370000", "371100", "371122"
TOPOLOGY = (NodeSpec(PROVINCE, "山东省"), NodeSpec(CITY, "日照市", PROVINCE), NodeSpec(COUNTY, "莒县", CITY))
WAIT = 60.0
DATA = {"统一社会信用代码": "91371122MA3C00000X", "经营场所": "城阳街道 1 号"}


def _cases(fed: Federation, n: int) -> list[str]:
    """``n`` cases taken in and accepted at the county, as its hall would, and a complaint about the first; the
    case numbers, then the complaint's id."""
    node = build_county_node(fed.load(COUNTY))
    try:
        out = []
        for _ in range(n):
            case_no = node.approval.submit(item_code="XK00003000", applicant="张三", data=DATA, actor="窗口 1").case_no
            node.approval.act(case_no, Action.ACCEPT, actor="窗口 1")
            out.append(case_no)
        complaint = node.supervision.file_complaint(
            target="case", target_id=out[0], complainant="李四", content="窗口等候时间过长", actor="窗口 1"
        )
        return [*out, complaint.complaint_id]
    finally:
        node.close()


def _holdings(fed: Federation, division: str) -> dict[str, object]:
    """What ``division`` holds of the county: its cases (number → status, events), alerts, the county's top seq."""
    engine = engine_from_config(fed.load(division))
    try:
        with UnitOfWork(engine, readonly=True) as uow:
            c = uow.conn
            return {
                "cases": dict(c.execute(select(cases.c.case_no, cases.c.status).where(cases.c.origin == COUNTY)).all()),
                "events": c.execute(
                    select(func.count()).select_from(case_events).where(case_events.c.case_no.like(f"{COUNTY}-%"))
                ).scalar_one(),
                "alerts": c.execute(select(func.count()).select_from(alerts).where(alerts.c.origin == COUNTY)).scalar(),
                "complaints": set(
                    c.execute(select(complaints.c.complaint_id).where(complaints.c.origin == COUNTY)).scalars()
                ),
                "top": int(c.execute(select(func.max(outbox.c.seq)).where(outbox.c.origin == COUNTY)).scalar() or 0),
            }
    finally:
        engine.dispose()


def _same_records(now: dict[str, object], before: dict[str, object]) -> None:
    """The county's records as before; its outbox may have grown (what came down again made it report, e.g. the
    standards it runs), never shrunk."""
    assert {k: v for k, v in now.items() if k != "top"} == {k: v for k, v in before.items() if k != "top"}
    assert int(now["top"]) >= int(before["top"])  # type: ignore[call-overload]


def _sunshine(fed: Federation, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "federation.cli", *args],
        env=fed.child_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _recover(fed: Federation) -> subprocess.CompletedProcess[str]:
    return _sunshine(fed, "county", "recover", "--from-parent", "--config", str(fed.agent_config(COUNTY)))


def _drain(fed: Federation) -> None:
    done = _sunshine(fed, "admin", "drain", "--config", str(fed.agent_config(COUNTY)), "--timeout", str(WAIT))
    assert done.returncode == 0, done.stdout + done.stderr


def _database(fed: Federation) -> Path:
    return fed.dir(COUNTY) / "node.db"


def _drop_database(fed: Federation) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{_database(fed)}{suffix}").unlink(missing_ok=True)


def _backup(fed: Federation, to: Path) -> None:
    """An online-consistent copy of the county's database (SQLite's backup API), as an operator's backup."""
    with sqlite3.connect(_database(fed)) as source, sqlite3.connect(to) as target:
        source.backup(target)


def _refuses_a_forked_backup(fed: Federation, backup: Path, later: list[str]) -> None:
    """A restored backup that went on writing by itself: its new records are not those the city holds → refused,
    naming the fork, and nothing is written."""
    _drop_database(fed)
    shutil.copy(backup, _database(fed))
    forked = _cases(fed, 1)
    assert forked[0] in later  # the fork reused a case number the city holds with other content
    held = _holdings(fed, COUNTY)
    refused = _recover(fed)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "分叉，不能自动恢复" in refused.stderr, refused.stderr
    assert _holdings(fed, COUNTY) == held


def _brings_an_older_backup_up_to_date(fed: Federation, backup: Path, before: dict[str, object]) -> None:
    """A restored backup, older than what the city holds: what it lacks is taken back (what it has is checked)."""
    _drop_database(fed)
    shutil.copy(backup, _database(fed))
    done = _recover(fed)
    assert done.returncode == 0, done.stdout + done.stderr
    _same_records(_holdings(fed, COUNTY), before)


def _rebuilds_a_lost_database(fed: Federation, before: dict[str, object]) -> None:
    """The database lost: everything back from the city (recover makes the database), once; then county init makes
    the first administrator again (its audit record continues the county's chain)."""
    _drop_database(fed)
    done = _recover(fed)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"已从上级 {CITY}" in done.stdout, done.stdout
    assert "本县记录：取回批次" in done.stdout, done.stdout
    assert "未能恢复：申请人联系电话" in done.stdout
    recovered = _holdings(fed, COUNTY)
    _same_records(recovered, before)
    again = _sunshine(fed, "county", "recover", "--from-parent", "--json", "--config", str(fed.agent_config(COUNTY)))
    assert again.returncode == 0, again.stdout + again.stderr  # run again: nothing more to take back, nothing changes
    report = json.loads(again.stdout)
    assert (report["node"], report["parent"], report["own"]["batches"]) == (COUNTY, CITY, 0), report
    assert report["held_before"] == recovered["top"], report
    assert [d["origin"] for d in report["down"]] == [CITY, PROVINCE], report
    assert _holdings(fed, COUNTY) == recovered
    # the counters were moved past every number used: the outbox's seq counter stands at its last seq
    engine = engine_from_config(fed.load(COUNTY))
    with UnitOfWork(engine, readonly=True) as uow:
        seq = uow.conn.execute(select(counters.c.value).where(counters.c.name == f"outbox:{COUNTY}")).scalar()
    engine.dispose()
    assert seq == recovered["top"]
    init = _sunshine(
        fed,
        "county", "init", "--division", COUNTY, "--data-dir", str(fed.dir(COUNTY)), "--no-standards",
        "--admin-password-file", str(fed.password_file),
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr


def test_county_database_lost_mid_run_is_rebuilt_from_its_city(tmp_path: Path) -> None:
    fed = Federation(tmp_path / "fed", TOPOLOGY)
    backup = tmp_path / "county-backup.db"
    try:
        fed.init_all()
        fed.start_all()
        fed.wait_for_standards()
        early = _cases(fed, 4)
        _drain(fed)
        _backup(fed, backup)  # the operator's backup, older than what the city will hold
        later = _cases(fed, 4)
        _drain(fed)
        running = _recover(fed)  # never under a running node
        assert running.returncode == 2, running.stdout + running.stderr
        assert "县级节点仍在运行" in running.stderr, running.stderr
        fed.stop(f"node:{COUNTY}", f"agent:{COUNTY}")
        before = _holdings(fed, COUNTY)
        at_city = _holdings(fed, CITY)
        assert at_city["top"] == 0
        assert set(at_city["cases"]) == set(early[:-1] + later[:-1])  # type: ignore[call-overload]
        assert at_city["complaints"] == {early[-1], later[-1]}

        _refuses_a_forked_backup(fed, backup, later)
        _brings_an_older_backup_up_to_date(fed, backup, before)
        _rebuilds_a_lost_database(fed, before)
        fed.start_node(COUNTY)
        fed.start_agent(COUNTY)
        resumed = _cases(fed, 3)
        assert not set(resumed) & set(early + later)  # no case number, no complaint id handed out twice
        assert max(early[:-1] + later[:-1]) < min(resumed[:-1])  # same day, higher serials
        assert later[-1] < resumed[-1]
    finally:
        left = fed.stop_all()
    assert left == {}
    county, city, province = (_holdings(fed, d) for d in (COUNTY, CITY, PROVINCE))
    assert set(county["cases"]) == set(early[:-1] + later[:-1] + resumed[:-1])  # type: ignore[call-overload]
    assert county["complaints"] == {early[-1], later[-1], resumed[-1]}
    assert city["cases"] == province["cases"] == county["cases"]
    assert city["complaints"] == province["complaints"] == county["complaints"]
    assert city["events"] == province["events"] == county["events"]
    verify = _sunshine(fed, "admin", "verify", "--config", str(fed.config(PROVINCE)))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.count("✓ 一致") == 3, verify.stdout
