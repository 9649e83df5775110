"""The file ferry for a one-way gateway (网闸): a county's signed batches sealed into files, carried by a "gateway"
the test plays (copying, duplicating, truncating, reordering, corrupting files), taken by the city's intake and
acknowledged by its signed statement. Both ends are enrolled in a real PKI (Ed25519 keys, certificates from the
city's CA, encrypted keyrings) and run on real SQLite; the receiver killed mid-file runs in its own process.

The city's appliers are empty on purpose: every record is quarantined once as "unknown type", so the quarantine
counts how often each record was applied (exactly once, or the test fails); ``relay=True`` keeps the city's copy
of the county's stream, record by record, so nothing lost is checked seq by seq.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bench.pki_material import PASSPHRASE, city_authority, enrolled_config
from federation.config import Config, DatabaseConfig, NodeConfig, ReplicationConfig, load_config
from federation.errors import ConfigError
from federation.replication.trust import LinkSecurity
from federation.storage import outbox
from federation.storage.engine import make_engine
from federation.storage.outbox import OutboxRecord
from federation.storage.tables import batch_log, quarantine
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from migrations.runner import upgrade
from security.node import node_trust
from sync_agent.errors import FerryFileRefused
from sync_agent.ferry_files import decode_batch_file, encode_batch_file, file_name
from sync_agent.ferry_intake import FerryIntake
from sync_agent.ferry_link import FerryLink, spool_files
from sync_agent.runtime import build_agent, receiver_policy, up_origins
from sync_agent.store import SqlBatchSink, SqlBatchSource

CITY, JU, WULIAN = "371100", "371122", "371121"
NOW = datetime(2026, 11, 2, 9, tzinfo=CST)
N = 120  # records of the county, in batches of 7 (18 batches), two batches a file (9 files)
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Ends:
    tmp: Path
    engines: dict[str, Engine]
    configs: dict[str, Config]
    security: dict[str, LinkSecurity]
    out: Path
    ret: Path
    inbox: Path

    def link(self, county: str = JU, **kw: object) -> FerryLink:
        source = SqlBatchSource(self.engines[county], county, max_records=7, signer=self.security[county].signer.sign)
        sender = self.security[county].sender
        args: dict[str, object] = {
            "node": county,
            "out_dir": self.out,
            "return_dir": self.ret,
            "origins": up_origins(county, source),
            "file_batches": 2,
            "sign": self.security[county].signer.sign,
            "verify": lambda chain, proof, digest: sender.verify_receiver(chain, proof, digest, up=True),
        }
        return FerryLink("up", source, **(args | kw))  # type: ignore[arg-type]

    def intake(self) -> FerryIntake:
        policy = receiver_policy(CITY)
        sink = SqlBatchSink(self.engines[CITY], CITY, {}, relay=True, allow=policy)
        trust = self.security[CITY].receiver
        return FerryIntake(sink, self.inbox, self.ret, allowed=policy, trust=trust, settle=0.0)

    def carry(self, *names: str) -> None:
        """The gateway: copy files from the county's spool into the city's (a temp name, then rename)."""
        for name in names:
            shutil.copyfile(self.out / name, self.inbox / f".tmp-{name}")
            os.replace(self.inbox / f".tmp-{name}", self.inbox / name)

    def city_seqs(self) -> list[int]:
        """Every seq of 莒县 the city holds to relay (its batches, each whole as it arrived), in order."""
        with UnitOfWork(self.engines[CITY], readonly=True) as uow:
            held = uow.conn.execute(
                select(batch_log.c.first_seq, batch_log.c.last_seq, batch_log.c.wire)
                .where(batch_log.c.origin == JU)
                .order_by(batch_log.c.first_seq)
            ).all()
        assert all(b.wire for b in held)
        return [seq for b in held for seq in range(b.first_seq, b.last_seq + 1)]

    def applied_times(self) -> int:
        with UnitOfWork(self.engines[CITY], readonly=True) as uow:
            return int(uow.conn.execute(select(func.count()).select_from(quarantine)).scalar_one())


def _engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def _write_outbox(engine: Engine, division: str, n: int) -> None:
    with UnitOfWork(engine) as uow:
        records = [  # a record type and fields the boundary policy lets cross whole
            OutboxRecord(
                "video_event",
                f"{division}-{i}",
                "insert",
                {
                    "camera_id": f"{division}-cam",
                    "window": "W01",
                    "kind": "摆渡",
                    "at": "2026-09-21",
                    "details": {"n": i},
                },
            )
            for i in range(n)
        ]
        outbox.append(uow.conn, origin=division, records=records, created_at=NOW)
        uow.commit()


@pytest.fixture
def ends(tmp_path: Path) -> Iterator[Ends]:
    ca = city_authority(CITY)
    engines = {d: _engine(tmp_path / f"{d}.db") for d in (CITY, JU, WULIAN)}
    configs = {d: enrolled_config(tmp_path, d, f"sqlite:///{tmp_path / f'{d}.db'}", ca) for d in (CITY, JU, WULIAN)}
    security = {d: node_trust(configs[d], engines[d]).link_security() for d in configs}
    _write_outbox(engines[JU], JU, N)
    _write_outbox(engines[WULIAN], WULIAN, 5)
    dirs = [tmp_path / name for name in ("out", "return", "in")]
    for d in dirs:
        d.mkdir()
    yield Ends(tmp_path, engines, configs, security, *dirs)
    for engine in engines.values():
        engine.dispose()


def _names(directory: Path) -> list[str]:
    return [f.path.name for f in spool_files(directory)]


def test_duplicated_truncated_and_reordered_files_converge_with_nothing_lost(ends: Ends) -> None:
    link = ends.link()
    link.run_once()
    names = _names(ends.out)
    assert len(names) == 9
    assert names[0] == file_name(JU, JU, 1, 14)
    intake = ends.intake()
    # reordered: the last files first; they wait in the spool for the ones before them
    ends.carry(*reversed(names[5:]))
    assert intake.run_once() == 0
    assert ends.city_seqs() == []
    assert intake.stats().waiting_files == 4
    # truncated: the gateway delivers half of file 1 under its final name; refused whole, nothing applied
    data = (ends.out / names[0]).read_bytes()
    (ends.inbox / names[0]).write_bytes(data[: len(data) // 2])
    intake.run_once()
    assert ends.city_seqs() == []
    assert intake.stats().refused_files == 1
    assert len(list((ends.inbox / "refused").glob(f"{names[0]}.*.reason.txt"))) == 1
    # the rest, file 1 complete this time, two of them twice (duplicated)
    ends.carry(*names[:5])
    ends.carry(names[2], names[7])
    intake.run_once()
    assert ends.city_seqs() == list(range(1, N + 1))
    ends.carry(names[0], names[3])  # and again after they were applied
    intake.run_once()
    assert ends.city_seqs() == list(range(1, N + 1))
    assert ends.applied_times() == N  # every record applied exactly once
    assert _names(ends.inbox) == []
    # the statement goes back; the county verifies it, records the acknowledgement and empties its spool
    statements = list(ends.ret.glob(f"statement.{CITY}.{JU}.*.json"))
    assert len(statements) == 1
    stats = link.run_once()
    assert link.acked(JU) == N
    assert stats.origins[JU].acked_high_water == N
    assert _names(ends.out) == []
    assert stats.spool_bytes == 0
    assert not stats.spool_full
    assert {a.origin: a.acked_seq for a in SqlBatchSource(ends.engines[JU], JU).link_acks()} == {JU: N}


def test_bad_files_get_typed_errors_and_change_nothing(ends: Ends) -> None:
    ends.link().run_once()
    first = _names(ends.out)[0]
    good = (ends.out / first).read_bytes()
    with pytest.raises(FerryFileRefused) as truncated:
        decode_batch_file(good[:-10], first)
    assert truncated.value.reason == "truncated"
    with pytest.raises(FerryFileRefused) as inflated:  # inflates past the receiver's bound: stopped there
        decode_batch_file(good, first, max_bytes=1000)
    assert inflated.value.reason == "too_large"
    corrupt = bytearray(good)
    corrupt[len(good) // 2] ^= 0xFF
    jb = SqlBatchSource(ends.engines[JU], JU, max_records=7).batches_after(JU, 0, 2)
    foreign_ca = city_authority(CITY)  # another federation's CA: a key nobody here enrolled
    stranger = enrolled_config(ends.tmp / "stranger", JU, f"sqlite:///{ends.tmp / 'stranger.db'}", foreign_ca)
    stranger_sign = node_trust(stranger, _engine(ends.tmp / "stranger.db")).link_security().signer.sign
    bad = {
        "corrupt": bytes(corrupt),
        "unsigned": encode_batch_file(JU, jb, None)[0],
        "foreign": encode_batch_file(JU, jb, stranger_sign)[0],
        # 五莲县 is enrolled and signs its file, but it may not send 莒县's records
        "not_allowed": encode_batch_file(WULIAN, jb, ends.security[WULIAN].signer.sign)[0],
        "wrong_name": good,
    }
    names = {
        "not_allowed": file_name(WULIAN, JU, 1, 14),
        "wrong_name": file_name(JU, JU, 1, 13),
    }
    intake = ends.intake()
    reasons = {}
    for kind, data in bad.items():
        name = names.get(kind, first)
        (ends.inbox / name).write_bytes(data)
        assert intake.take(ends.inbox / name) == "refused", kind
        reasons[kind] = next((ends.inbox / "refused").glob(f"{name}.*.reason.txt")).read_text(encoding="utf-8")
        shutil.rmtree(ends.inbox / "refused")
    assert "校验失败" in reasons["corrupt"]
    assert "不是已登记的节点" in reasons["unsigned"]
    assert "不是已登记的节点" in reasons["foreign"]
    assert "not_allowed" in reasons["not_allowed"]
    assert "文件名与内容不符" in reasons["wrong_name"]
    assert ends.city_seqs() == []
    assert ends.applied_times() == 0
    assert intake.sink.marks([JU])[0].high_water == 0
    small = FerryIntake(intake.sink, ends.inbox, None, allowed=receiver_policy(CITY), trust=None, max_file_bytes=100)
    (ends.inbox / first).write_bytes(good)
    assert small.take(ends.inbox / first) == "refused"  # too large: not even read
    assert "超过上限" in next((ends.inbox / "refused").glob(f"{first}.*.reason.txt")).read_text(encoding="utf-8")
    assert ends.city_seqs() == []
    # a statement not signed by the county's parent changes nothing at the county either
    link = ends.link()
    wulian_intake = FerryIntake(
        SqlBatchSink(ends.engines[WULIAN], WULIAN, {}, relay=False),
        ends.inbox,
        ends.ret,
        allowed=lambda s, o: True,
        trust=ends.security[WULIAN].receiver,
    )
    name, data = wulian_intake.signed_statement(JU)
    (ends.ret / name).write_bytes(data)
    stats = link.run_once()
    assert link.acked(JU) == 0
    assert "签名验证失败" in stats.last_error
    assert len(_names(ends.out)) == 9


def test_the_spool_is_bounded_and_resumes_when_acknowledged(ends: Ends) -> None:
    link = ends.link(spool_limit=1)  # room for one file at a time
    stats = link.run_once()
    assert len(_names(ends.out)) == 1
    assert stats.spool_full
    assert "已满" in stats.last_error
    intake = ends.intake()
    rounds = 0
    while link.acked(JU) < N:
        rounds += 1
        assert rounds < 20
        ends.carry(*_names(ends.out))
        intake.run_once()
        link.run_once()
    assert rounds == 9
    assert ends.city_seqs() == list(range(1, N + 1))
    stats = link.run_once()
    assert not stats.spool_full
    assert stats.current_error == ""
    assert "已满" in stats.last_error  # kept as history, recovered
    assert _names(ends.out) == []


def test_an_unacknowledged_file_is_written_again_when_the_receiver_still_waits_for_it(ends: Ends) -> None:
    moments = iter(range(1_001_000, 2_000_000, 1000))  # each statement 1000 s after the one before
    link = ends.link(resend_after=500.0)
    link.run_once()
    intake = ends.intake()
    intake._clock = lambda: float(next(moments))
    names = _names(ends.out)
    for name in names:
        os.utime(ends.out / name, (1_000_000.0, 1_000_000.0))
    ends.carry(names[1])  # the gateway lost the first file: the receiver waits
    intake._senders.add(JU)
    intake.run_once()
    link.run_once()
    assert (ends.out / names[0]).stat().st_mtime > 1_000_000.0  # written again for the gateway
    ends.carry(names[0])
    intake.run_once()
    link.run_once()
    assert link.acked(JU) == 28
    assert ends.city_seqs() == list(range(1, 29))


def test_a_receiver_killed_mid_file_recovers(ends: Ends) -> None:
    many = 3000
    _write_outbox(ends.engines[JU], JU, many)
    link = ends.link(file_batches=1000)
    link.run_once()
    names = _names(ends.out)
    city_toml = Path(ends.configs[CITY].node.data_dir) / "sunshine.toml"
    args = [sys.executable, "-m", "tests.integration.ferry_intake_process", str(city_toml)]
    args += [f"sqlite:///{ends.tmp / f'{CITY}.db'}", str(ends.inbox), str(ends.ret)]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        ends.carry(*names)
        deadline = time.monotonic() + 60
        while not 0 < len(ends.city_seqs()) < N + many:  # killed in the middle of the first file
            assert time.monotonic() < deadline
            assert proc.poll() is None
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    held = len(ends.city_seqs())
    assert 0 < held < N + many
    assert (ends.inbox / names[0]).exists()
    intake = ends.intake()
    intake._senders.add(JU)
    intake.run_once()
    assert ends.city_seqs() == list(range(1, N + many + 1))
    assert ends.applied_times() == N + many
    link.run_once()
    assert link.acked(JU) == N + many
    assert _names(ends.out) == []


def test_the_agent_builds_a_ferry_link_from_configuration(ends: Ends, tmp_path: Path) -> None:
    d = tmp_path / "agent"
    d.mkdir()
    rep = ReplicationConfig(transport="ferry", ferry_out=str(d / "out"), ferry_return=str(d / "ret"))
    cfg = Config(
        node=NodeConfig(division=JU, data_dir=str(d)),
        database=DatabaseConfig(url=f"sqlite:///{tmp_path / f'{JU}.db'}"),
        replication=rep,
    )
    agent = build_agent(cfg, engine=ends.engines[JU], security=ends.security[JU])
    (link,) = agent.links
    assert isinstance(link, FerryLink)
    assert (d / "out").is_dir()
    link.run_once()
    (view,) = agent.views()
    body = view.to_dict()
    assert body["target"] == f"ferry:{d / 'out'}"
    assert body["spool"]["files"] == 1
    assert body["spool"]["bytes"] > 0
    assert body["origins"][0]["sent_seq"] == N
    toml = d / "bad.toml"
    toml.write_text(f'[node]\ndivision = "{JU}"\n\n[replication]\ntransport = "ferry"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="ferry_out"):
        load_config(toml, environ={})


def _sunshine(*args: str) -> str:
    """``sunshine ARGS`` as an operator runs it (its own process); its standard output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUNSHINE_")}
    env["SUNSHINE_KEYRING_PASSPHRASE"] = PASSPHRASE
    done = subprocess.run(
        [sys.executable, "-m", "federation.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_admin_ferry_status_reports_both_spools(ends: Ends, tmp_path: Path) -> None:
    ends.link(spool_limit=1).run_once()
    (ends.inbox / file_name(JU, JU, 1, 13)).write_bytes((ends.out / file_name(JU, JU, 1, 14)).read_bytes())
    ends.intake().run_once()  # misnamed: refused, with its reason
    toml = tmp_path / "ferry.toml"
    toml.write_text(
        f'[node]\ndivision = "{CITY}"\ndata_dir = "{tmp_path}"\n\n[replication]\n'
        f'ferry_out = "{ends.out}"\nferry_return = "{ends.ret}"\nferry_in = "{ends.inbox}"\n'
        f"ferry_spool_bytes = 100\n",
        encoding="utf-8",
    )
    result = _sunshine("admin", "ferry", "status", "--json", "--config", str(toml))
    body = json.loads(result)
    sender = body["sender"]["spool"]
    assert sender["files"] == 1
    assert sender["full"]
    assert sender["origins"] == [{"origin": JU, "first_seq": 1, "last_seq": 14, "files": 1}]
    refused = body["receiver"]["spool"]["refused"]
    assert len(refused) == 1
    assert "文件名与内容不符" in refused[0]["reason"]
    text = _sunshine("admin", "ferry", "status", "--config", str(toml))
    assert "已满，暂停封装新文件" in text
    assert "被拒收 1 个文件" in text


def test_the_senders_of_what_a_receiver_holds() -> None:
    from sync_agent.ferry_intake import senders_of

    province, county_policy = receiver_policy("370000"), receiver_policy(JU)
    assert senders_of("370000", [JU, WULIAN, CITY, "371300"], province) == {CITY, "371300"}
    assert senders_of(CITY, [JU, WULIAN, "370000"], receiver_policy(CITY)) == {JU, WULIAN, "370000"}
    assert senders_of(JU, ["370000", CITY, WULIAN], county_policy) == {CITY}


@pytest.mark.postgresql
def test_a_city_on_postgresql_takes_the_ferry_too(ends: Ends, pg_url: str) -> None:
    city = make_engine(pg_url)
    try:
        upgrade(city)
        ends.engines[CITY].dispose()
        ends.engines[CITY] = city
        ends.security[CITY] = node_trust(ends.configs[CITY], city).link_security()
        link = ends.link()
        link.run_once()
        names = _names(ends.out)
        ends.carry(*reversed(names))
        ends.carry(names[0])
        ends.intake().run_once()
        assert ends.city_seqs() == list(range(1, N + 1))
        assert ends.applied_times() == N
        link.run_once()
        assert link.acked(JU) == N
    finally:
        city.dispose()


def test_admin_ferry_statement_is_signed_for_the_sender_to_verify(ends: Ends, tmp_path: Path) -> None:
    link = ends.link()
    link.run_once()
    ends.carry(*_names(ends.out))
    ends.intake().run_once()
    for old in ends.ret.glob("statement.*.json"):
        old.unlink()  # the return path lost it: the operator makes one and carries it
    city_toml = Path(ends.configs[CITY].node.data_dir) / "sunshine.toml"
    usb = tmp_path / "usb"
    shown = _sunshine("admin", "ferry", "statement", "--sender", JU, "-o", str(usb), "--config", str(city_toml))
    assert f"来源 {JU}：已接收到序号 {N}" in shown
    (statement,) = usb.glob(f"statement.{CITY}.{JU}.*.json")
    shutil.copyfile(statement, ends.ret / statement.name)
    link.run_once()
    assert link.acked(JU) == N
    assert _names(ends.out) == []
