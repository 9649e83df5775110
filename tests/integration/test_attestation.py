"""Attested completeness (issue 19) through three real tiers on 127.0.0.1 — a county, its city (a relay) and the
province, each its own database, real gRPC servers and links: the county states its own figures in its stream; the
city and the province each compare, at that point of the stream, what they hold; the city sends its verdict up.
A record quarantined at the city makes the city's verdict name the kind, the counts and the seq range; replayed, the
next statement agrees again. Forged or malformed statements and verdicts are quarantined, never believed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, select

from federation.replication import Record
from federation.replication.attest import Statement
from federation.replication.attest import totals_of as attestation_totals
from federation.storage import attestation
from federation.storage.engine import make_engine
from federation.storage.outbox import canonical_json, next_value
from federation.storage.tables import outbox, quarantine, stream_totals
from federation.storage.uow import UnitOfWork
from federation.timeutil import utcnow
from migrations.runner import upgrade
from sync_agent.client import Link
from sync_agent.domain import ZERO_HASH, seal_batch
from sync_agent.quarantine import QuarantineService
from sync_agent.server import RunningServer, serve
from sync_agent.store import SqlBatchSink, SqlBatchSource
from tests.settings_applier import Settings

PROVINCE, CITY, COUNTY = "370000", "371100", "371122"


def _write(engine: Engine, values: Sequence[str]) -> None:
    """Setting records in the county's outbox, after what it holds (rows: the boundary policy lets no setting out)."""
    with UnitOfWork(engine) as uow:
        top = int(uow.conn.execute(select(func.max(outbox.c.seq)).where(outbox.c.origin == COUNTY)).scalar() or 0)
        rows = [
            {
                "origin": COUNTY,
                "seq": top + i,
                "record_type": "setting",
                "record_id": f"k{top + i:03d}",
                "op": "upsert",
                "payload": canonical_json({"value": v}),
                "created_at": utcnow(),
            }
            for i, v in enumerate(values, start=1)
        ]
        uow.conn.execute(insert(outbox), rows)
        next_value(uow.conn, f"outbox:{COUNTY}", len(rows))  # the outbox's seq counter follows the rows written
        uow.commit()


class Tier:
    def __init__(self, tmp: Path, node: str, *, relay: bool, strict: bool) -> None:
        self.node = node
        self.engine = make_engine(f"sqlite:///{tmp / node}.db")
        upgrade(self.engine)
        self.settings = Settings(strict=strict)
        self.sink = SqlBatchSink(self.engine, node, {"setting": self.settings}, relay=relay)
        self.server: RunningServer = serve(self.sink)

    def verdicts(self) -> dict[tuple[str, str], attestation.Verdict]:
        with UnitOfWork(self.engine, readonly=True) as uow:
            return {(v.origin, v.checked_by): v for v in attestation.latest_verdicts(uow.conn)}

    def close(self) -> None:
        self.server.stop(grace=None)
        self.engine.dispose()


@pytest.fixture
def tiers(tmp_path: Path) -> Iterator[tuple[Engine, Tier, Tier]]:
    county = make_engine(f"sqlite:///{tmp_path / COUNTY}.db")
    upgrade(county)
    city = Tier(tmp_path, CITY, relay=True, strict=True)
    province = Tier(tmp_path, PROVINCE, relay=False, strict=False)
    yield county, city, province
    city.close()
    province.close()
    county.dispose()


def _ship(county: Engine, city: Tier, province: Tier) -> None:
    Link("up", city.server.target, SqlBatchSource(county, COUNTY), node=COUNTY, gzip=False).run_once()
    Link("up", province.server.target, SqlBatchSource(city.engine, CITY), node=CITY, gzip=False).run_once()


def test_every_tier_checks_the_origins_statement_and_a_quarantined_record_is_named(
    tiers: tuple[Engine, Tier, Tier],
) -> None:
    county, city, province = tiers
    source = SqlBatchSource(county, COUNTY)
    _write(county, [f"v{i}" for i in range(12)] + ["bad"] + [f"w{i}" for i in range(7)])  # seq 13: poison at the city
    first = source.attest(force=True)
    assert first == 21  # after the 20 records: it covers 1–20
    assert source.attest(force=True) is None  # nothing new since: no statement
    _ship(county, city, province)

    at_city, at_province = city.verdicts(), province.verdicts()
    assert at_province[(COUNTY, PROVINCE)].verdict == "agree"
    diverged = at_city[(COUNTY, CITY)]
    assert (diverged.verdict, diverged.statement_seq, diverged.covers, diverged.agreed_before) == ("diverge", 21, 20, 0)
    assert diverged.differ is not None
    assert diverged.differ["setting"]["origin"][0] == 20
    assert diverged.differ["setting"]["held"][0] == 19
    # the city's verdict travelled up in its own stream: the province knows both tiers' verdicts
    assert at_province[(COUNTY, CITY)].verdict == "diverge"
    assert at_province[(COUNTY, CITY)].differ == diverged.differ
    # and ``sunshine admin verify`` at the province names the first divergence, exit status 1
    verify = _verify(province)
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert "错误[divergent]：来源 371122 在 371100 的 setting 不一致，序号 1–20：来源 20 条，371100 持有 19 条" in (
        verify.stderr
    )
    assert "371100   ✗ 不一致" in verify.stdout
    assert "370000   ✓ 一致" in verify.stdout

    # the city replays the record (its rule relaxed): held now; the county's next statement agrees at both tiers
    city.settings.strict = False
    with UnitOfWork(city.engine, readonly=True) as uow:
        (held_id,) = uow.conn.execute(select(quarantine.c.id).where(quarantine.c.state == "held")).scalars().all()
    QuarantineService(city.engine, {"setting": city.settings}).replay(held_id)
    _write(county, ["x0", "x1"])
    stated = _admin(COUNTY, county, "attest")  # as an operator states the county's figures now
    assert stated.returncode == 0, stated.stdout + stated.stderr
    assert "节点 371122 已写入核对声明（序号 24）" in stated.stdout
    again = _admin(COUNTY, county, "attest")
    assert "自上次核对声明以来没有新记录，无需再写" in again.stdout
    _ship(county, city, province)
    at_city, at_province = city.verdicts(), province.verdicts()
    assert (at_city[(COUNTY, CITY)].verdict, at_city[(COUNTY, CITY)].covers) == ("agree", 23)
    assert at_city[(COUNTY, CITY)].agreed_before == 0  # its last agreeing one before: none (the first diverged)
    assert at_province[(COUNTY, PROVINCE)].verdict == "agree"
    assert at_province[(COUNTY, CITY)].verdict == "agree"
    with UnitOfWork(county, readonly=True) as uow:
        own = {(v.origin, v.checked_by): v for v in attestation.latest_verdicts(uow.conn)}
    assert own[(COUNTY, COUNTY)].verdict == "stated"
    assert own[(COUNTY, COUNTY)].kinds == at_province[(COUNTY, PROVINCE)].kinds


def _verify(tier: Tier) -> subprocess.CompletedProcess[str]:
    """``sunshine admin verify`` at ``tier``."""
    return _admin(tier.node, tier.engine, "verify")


def _admin(node: str, engine: Engine, command: str) -> subprocess.CompletedProcess[str]:
    """``sunshine admin <command>`` at the node of ``engine`` (a configuration naming the node and its database)."""
    config = Path(str(engine.url.database)).with_suffix(".toml")
    config.write_text(
        f'[node]\ndivision = "{node}"\ndata_dir = "{config.parent}"\n\n'
        f'[database]\nurl = "sqlite:///{engine.url.database}"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUNSHINE_")}
    args = [sys.executable, "-m", "federation.cli", "admin", command, "--config", str(config)]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_a_statement_is_due_after_its_records_or_its_interval(tmp_path: Path) -> None:
    county = make_engine(f"sqlite:///{tmp_path / COUNTY}.db")
    upgrade(county)
    now = [100.0]
    source = SqlBatchSource(
        county, COUNTY, max_records=5, attest=attestation.AttestEvery(records=10, seconds=60), monotonic=lambda: now[0]
    )
    try:
        _write(county, ["a"] * 4)
        source.seal()
        assert source.attest() is None  # 4 sealed, 0 s: not due
        now[0] += 61
        assert source.attest() == 5  # the interval passed and something was sealed
        source.seal()
        now[0] += 61
        assert source.attest() is None  # only the statement itself was sealed since: nothing to state
        _write(county, ["b"] * 10)
        source.seal()
        assert source.attest() == 16  # ten records sealed since: due at once
    finally:
        county.dispose()


_D = "0" * 64  # a well-formed digest


def _check(**fields: Any) -> dict[str, Any]:
    return {"origin": COUNTY, "statement_seq": 3, "covers": 2, "verdict": "agree", "differ": None} | fields


@pytest.mark.parametrize(
    ("sender", "record_type", "record_id", "payload", "reason"),
    [
        (COUNTY, "attestation", f"{COUNTY}@5", {"covers": 5, "kinds": {"setting": [5, "zz"]}}, "条数或摘要格式错误"),
        (COUNTY, "attestation", f"{COUNTY}@9", {"covers": 3, "kinds": {}}, "编号"),
        (COUNTY, "attestation", f"{COUNTY}@99", {"covers": 99, "kinds": {}}, "covers"),
        # a kind name a relay could not even write again (a lone surrogate), or too many kinds: refused here
        (COUNTY, "attestation", f"{COUNTY}@5", '{"covers":5,"kinds":{"\\ud800":[1,"' + _D + '"]}}', "类型名"),
        (COUNTY, "attestation", f"{COUNTY}@5", {"covers": 5, "kinds": {f"k{i}": [1, _D] for i in range(65)}}, "64"),
        (CITY, "attestation_check", f"{PROVINCE}@3", _check(origin=PROVINCE), "不是 371100 下属的县级"),
        (CITY, "attestation_check", "371122-ext@3", _check(origin="371122-ext"), "不是 371100 下属的县级"),
        (CITY, "attestation_check", "371321@3", _check(origin="371321"), "不是 371100 下属的县级"),
        (COUNTY, "attestation_check", "371122-ext@3", _check(origin="371122-ext"), "只有市级节点"),
        (CITY, "attestation_check", f"{COUNTY}@3", _check(verdict="diverge"), "结论"),
        (CITY, "attestation_check", f"{COUNTY}@3", _check(verdict="diverge", differ={"case": "x"}), "条数或摘要"),
        (CITY, "attestation_check", f"{COUNTY}@{2**63}", _check(statement_seq=2**63), "序号"),
    ],
)
def test_malformed_or_forged_statements_and_verdicts_are_quarantined(  # noqa: PLR0917 - the cases' columns
    tmp_path: Path, sender: str, record_type: str, record_id: str, payload: dict[str, Any] | str, reason: str
) -> None:
    """Each is one poison record: quarantined with its reason, never believed, and the stream goes on."""
    engine = make_engine(f"sqlite:///{tmp_path / 'province'}.db")
    upgrade(engine)
    try:
        sink = SqlBatchSink(engine, PROVINCE, {}, relay=False)
        text = payload if isinstance(payload, str) else canonical_json(payload)
        records = [Record(record_type, record_id, "insert", 10, text.encode(), 0)]
        filler = [Record("noop", f"n{i}", "insert", i, b"{}", 0) for i in range(1, 10)]
        receipt = sink.receive(sender, seal_batch(sender, ZERO_HASH, [*filler, *records]))
        assert receipt.mark.high_water == 10  # the batch is applied: the poison record set aside
        with UnitOfWork(engine, readonly=True) as uow:
            reasons = uow.conn.execute(select(quarantine.c.reason).where(quarantine.c.seq == 10)).scalars().all()
            verdicts = attestation.latest_verdicts(uow.conn)
        assert len(reasons) == 1, reasons
        assert reason in reasons[0], reasons
        assert verdicts == []  # nothing believed
    finally:
        engine.dispose()


def test_verdicts_from_above_are_not_a_countys_and_a_pinned_verdict_is_not_believed(tmp_path: Path) -> None:
    """A county gets its city's whole stream down, verdicts on its sibling counties included: not its concern
    (neither noted nor quarantined). At the province, a verdict the city sent on a statement the province never
    checked itself (a seq pinned far ahead) does not count as that tier's latest."""
    county = Tier(tmp_path, COUNTY, relay=False, strict=False)
    province = Tier(tmp_path, PROVINCE, relay=False, strict=False)
    try:
        sibling = _check(origin="371121", verdict="diverge", differ={"case": {"origin": [3, _D], "held": [2, _D]}})
        down = [Record("attestation_check", "371121@3", "insert", 1, canonical_json(sibling).encode(), 0)]
        county.sink.receive(CITY, seal_batch(CITY, ZERO_HASH, down))
        with UnitOfWork(county.engine, readonly=True) as uow:
            assert attestation.latest_verdicts(uow.conn) == []
            assert uow.conn.execute(select(func.count()).select_from(quarantine)).scalar_one() == 0
        pinned = _check(statement_seq=2**61, covers=2**61 - 1)
        up = [Record("attestation_check", f"{COUNTY}@{2**61}", "insert", 1, canonical_json(pinned).encode(), 0)]
        province.sink.receive(CITY, seal_batch(CITY, ZERO_HASH, up))
        with UnitOfWork(province.engine, readonly=True) as uow:
            assert [v.statement_seq for v in attestation.latest_verdicts(uow.conn)] == [2**61]  # noted as sent
            assert attestation.latest_verdicts(uow.conn, node=PROVINCE) == []  # but not believed
    finally:
        county.close()
        province.close()


def test_a_receiver_that_held_records_before_it_counted_takes_the_next_statement_as_its_baseline(
    tiers: tuple[Engine, Tier, Tier],
) -> None:
    """Upgrading a running federation (migration 0015): a city already holds part of a county's stream when it
    begins to count. Its first statement is a baseline (what the origin stated, less this node's quarantine), not a
    false divergence; every later statement is compared."""
    county, city, province = tiers
    _write(county, [f"v{i}" for i in range(10)])
    _ship(county, city, province)
    with UnitOfWork(city.engine) as uow:  # as if the city had held these before it kept figures
        uow.conn.execute(delete(stream_totals))
        uow.commit()
    _write(county, ["w0", "bad", "w2"])  # the city quarantines "bad" (seq 12)
    source = SqlBatchSource(county, COUNTY)
    assert source.attest(force=True) == 14
    _ship(county, city, province)
    assert city.verdicts()[(COUNTY, CITY)].verdict == "baseline"
    assert province.verdicts()[(COUNTY, PROVINCE)].verdict == "agree"  # it counted from the start
    _write(county, ["x0"])
    assert source.attest(force=True) == 16
    _ship(county, city, province)
    later = city.verdicts()[(COUNTY, CITY)]
    assert later.verdict == "diverge"  # the record quarantined at the city is still not held there
    assert later.differ is not None
    assert later.differ["setting"]["origin"][0] == later.differ["setting"]["held"][0] + 1


def test_a_relay_sends_up_its_verdicts_on_its_subtree_only(tmp_path: Path) -> None:
    """A city checks the province's statements coming down too, but its verdict on them stays at the city: the
    province would refuse a verdict on an origin outside the city's subtree."""
    city = Tier(tmp_path, CITY, relay=True, strict=False)
    try:
        kinds = Statement.of(PROVINCE, 1, attestation_totals([Record("setting", "a", "upsert", 1, b"{}", 0)]))
        statement = Record("attestation", f"{PROVINCE}@1", "insert", 2, canonical_json(kinds.payload()).encode(), 0)
        down = [Record("setting", "a", "upsert", 1, b'{"value":"x"}', 0), statement]
        city.sink.receive(PROVINCE, seal_batch(PROVINCE, ZERO_HASH, down))
        assert city.verdicts()[(PROVINCE, CITY)].verdict == "diverge"  # its payload differs from the one stated
        with UnitOfWork(city.engine, readonly=True) as uow:
            checks = uow.conn.execute(select(func.count()).where(outbox.c.record_type == "attestation_check"))
            assert checks.scalar_one() == 0
    finally:
        city.close()


def test_an_extranet_node_receives_with_the_attestation_appliers_and_is_no_ones_checker(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ext'}.db")
    upgrade(engine)
    try:
        sink = SqlBatchSink(engine, "371122-ext", {}, relay=False)  # a boundary node: no subtree below it
        check = _check(origin="371121", verdict="agree")
        records = [Record("attestation_check", "371121@3", "insert", 1, canonical_json(check).encode(), 0)]
        sink.receive("371122-pub", seal_batch("371122-pub", ZERO_HASH, records))
        with UnitOfWork(engine, readonly=True) as uow:
            assert attestation.latest_verdicts(uow.conn) == []
            assert uow.conn.execute(select(func.count()).select_from(quarantine)).scalar_one() == 0
    finally:
        engine.dispose()
