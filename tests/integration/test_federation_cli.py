"""``sunshine city|province init``, ``agent run``, ``admin holdings|links|quarantine`` as an operator runs them:
real subprocesses on real SQLite databases."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from city_aggregator.bootstrap import replication_appliers as city_appliers
from county_node.approval.services import ApprovalService
from federation.config import ClockConfig
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from federation.storage.standards_store import apply_bundle
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from migrations.runner import upgrade
from sync_agent.domain import ZERO_HASH, seal_batch
from sync_agent.store import SqlBatchSink
from tests.integration.test_replication_store import outbox_records

CITY, JU = "371100", "371122"
FULL = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}


PASSPHRASE = "test-federation-cli"


def sunshine(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "federation.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "SUNSHINE_LOG_FORMAT": "json", "SUNSHINE_KEYRING_PASSPHRASE": PASSPHRASE},
    )


def test_city_and_province_init_write_a_config_and_a_database_and_refuse_the_wrong_level(tmp_path: Path) -> None:
    wrong = sunshine("city", "init", "--division", JU, "--data-dir", str(tmp_path / "x"))
    assert wrong.returncode == 2
    assert "不是市级区划" in wrong.stderr
    assert not (tmp_path / "x").exists()  # refused before anything was created
    unknown = sunshine("province", "init", "--division", "990000", "--data-dir", str(tmp_path / "y"))
    assert unknown.returncode == 2

    data = tmp_path / "province"
    for _ in range(2):  # safe to run again
        done = sunshine("province", "init", "--division", "370000", "--data-dir", str(data), "--listen", "127.0.0.1:0")
        assert done.returncode == 0, done.stdout + done.stderr
    assert "山东省（370000）初始化完成" in done.stdout
    # the first init made the federation's root CA and the province's own certificate; the second kept them
    assert (data / "pki" / "ca.pem").exists()
    assert (data / "pki" / "node.pem").exists()
    assert (data / "keyring.enc").stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE KEY" not in (data / "keyring.enc").read_bytes()
    text = (data / "sunshine.toml").read_text(encoding="utf-8")
    assert '[replication]\nlisten = "127.0.0.1:0"' in text
    other = sunshine("province", "init", "--division", "370000", "--data-dir", str(data), "--listen", "nowhere")
    assert other.returncode == 2
    assert "主机:端口" in other.stderr
    taken = sunshine("city", "init", "--division", CITY, "--data-dir", str(data))
    assert taken.returncode == 2
    assert "已属于区划 370000" in taken.stderr

    held = sunshine("admin", "holdings", "--config", str(data / "sunshine.toml"), "--json")
    assert held.returncode == 0, held.stderr
    assert json.loads(held.stdout) == {"node": "370000", "origins": []}
    no_links = sunshine("agent", "run", "--config", str(data / "sunshine.toml"))
    assert no_links.returncode == 2
    assert "没有任何链路" in no_links.stderr
    no_status = sunshine("admin", "links", "--config", str(data / "sunshine.toml"))
    assert no_status.returncode == 2
    assert "replication.metrics" in no_status.stderr


@pytest.fixture
def county_records(tmp_path: Path, bundle: StandardsBundle) -> list:  # type: ignore[type-arg]
    """The outbox of a real county with one case submitted and accepted."""
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'county.db'}")
    upgrade(engine)
    moment = datetime(2026, 9, 21, 9, tzinfo=CST)
    with UnitOfWork(engine) as uow:
        apply_bundle(uow.conn, bundle, moment)
        uow.commit()
    svc = ApprovalService(engine, JU, lambda: moment + timedelta(minutes=5), ClockConfig())
    case_no = svc.submit(item_code="XK00003000", applicant="张三", data=FULL, actor="窗口 1").case_no
    svc.act(case_no, "accept", actor="审批员", params={})  # type: ignore[arg-type]
    records = outbox_records(engine, JU)
    engine.dispose()
    return records


def test_an_operator_lists_shows_fixes_replays_and_discards_quarantined_records(
    tmp_path: Path,
    county_records: list,  # type: ignore[type-arg]
) -> None:
    data = tmp_path / "city"
    assert sunshine("city", "init", "--division", CITY, "--data-dir", str(data)).returncode == 0
    config = str(data / "sunshine.toml")
    engine = make_engine(f"sqlite:///{data / 'node.db'}")
    # the case's first snapshot arrives broken: it, and its event behind it, are set aside; the stream goes on
    case, event, *later = county_records
    assert (case.record_type, event.record_type) == ("case", "case_event")
    broken = dataclasses.replace(case, payload=b'{"case_no": ')
    first = seal_batch(JU, ZERO_HASH, [broken, event])
    receipt = SqlBatchSink(engine, CITY, city_appliers(), relay=True).receive(JU, first)
    assert receipt.quarantined == 2

    listed = sunshine("admin", "quarantine", "list", "--config", config)
    assert listed.returncode == 0, listed.stderr
    assert "隔离区记录 2 条" in listed.stdout
    assert "不是有效的 JSON" in listed.stdout
    assert "事件暂不能写入" in listed.stdout
    shown = sunshine("admin", "quarantine", "show", "1", "--config", config)
    assert shown.returncode == 0
    assert '载荷：{"case_no": ' in shown.stdout
    assert "办件（case）" in shown.stdout  # the record type by its Chinese name, its wire name beside it
    assert "操作：写入" in shown.stdout
    # when it was set aside: China time to the minute, as every other command prints a moment (not raw UTC ISO)
    assert re.search(r"隔离时间：\d{4}-\d{2}-\d{2} \d{2}:\d{2}\n", shown.stdout), shown.stdout
    assert sunshine("admin", "quarantine", "show", "999", "--config", config).returncode == 2

    # the event cannot be replayed before its case: refused with the reason, still held
    too_early = sunshine("admin", "quarantine", "replay", "2", "--config", config)
    assert too_early.returncode == 2
    assert "不存在" in too_early.stderr
    bad_fix = tmp_path / "bad.json"
    bad_fix.write_text("{not json", encoding="utf-8")
    assert sunshine("admin", "quarantine", "fix", "1", "--payload", str(bad_fix), "--config", config).returncode == 2
    good_fix = tmp_path / "case.json"
    good_fix.write_text(case.payload.decode(), encoding="utf-8")
    fixed = sunshine("admin", "quarantine", "fix", "1", "--payload", str(good_fix), "--config", config)
    assert fixed.returncode == 0, fixed.stderr
    for record in ("1", "2"):
        replayed = sunshine("admin", "quarantine", "replay", record, "--config", config)
        assert replayed.returncode == 0, replayed.stderr
        assert "已重放入库" in replayed.stdout
    assert sunshine("admin", "quarantine", "discard", "1", "--config", config).returncode == 2  # needs a reason
    done_already = sunshine("admin", "quarantine", "discard", "1", "--reason", "重复", "--config", config)
    assert done_already.returncode == 2  # a replayed record is no longer held
    assert "隔离区记录 0 条" in sunshine("admin", "quarantine", "list", "--config", config).stdout
    everything = sunshine("admin", "quarantine", "list", "--state", "all", "--config", config)
    assert "隔离区记录 2 条" in everything.stdout
    assert "已重放" in everything.stdout

    engine = make_engine(f"sqlite:///{data / 'node.db'}")
    SqlBatchSink(engine, CITY, city_appliers(), relay=True).receive(JU, seal_batch(JU, first.batch_hash, later))
    engine.dispose()
    held = json.loads(sunshine("admin", "holdings", "--config", config, "--json").stdout)
    (ju,) = held["origins"]
    assert ju["origin"] == JU
    assert (ju["cases"], ju["events"]) == (1, 2)
    assert ju["high_water"] == county_records[-1].origin_seq


def test_a_command_loads_only_its_own_group_and_the_root_help_lists_every_group() -> None:
    """``sunshine user …`` imports the ``user`` group (and what it needs), not every tier's commands and HTTP apps;
    ``sunshine --help`` still lists every group the packages contribute, ``sunshine admin`` the commands other
    packages add to it."""
    probe = (
        "import sys\n"
        "from federation.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOADED', ' '.join(m for m in ('security.people_cli', 'province_center.demo.cli',"
        " 'county_node.entrypoints.case_cli') if m in sys.modules))\n"
    )

    def loaded(*args: str) -> tuple[str, list[str]]:
        done = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120, check=True
        )
        return done.stdout, done.stdout.splitlines()[-1].split()[1:]

    out, modules = loaded("user", "--help")
    assert "login" in out
    assert modules == ["security.people_cli"]
    out, modules = loaded("--help")
    assert all(group in out for group in ("admin", "case", "city", "county", "demo", "user"))
    assert modules == ["security.people_cli", "province_center.demo.cli", "county_node.entrypoints.case_cli"]
    out, _ = loaded("admin", "--help")
    assert "enrol" in out  # security's PKI commands joined the admin group
    assert "audit" in out  # and its audit group
