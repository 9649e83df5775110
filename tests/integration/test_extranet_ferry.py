"""Both boundary streams through a one-way gateway (网闸) as ferry files, with a real PKI at both ends: the county's
public stream (``371122-pub``) into its extranet node's intake, the extranet node's own stream (``371122-ext``)
into the county's, each acknowledged by the receiver's signed statement — and a file of the county's intranet
stream carried to the DMZ by mistake is refused there, whole.

The extranet node applies with its real appliers; the county's appliers are empty on purpose (every record is
quarantined once as "unknown type", so the quarantine counts how often each record was applied).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bench.pki_material import city_authority, enrolled_config
from county_node.extranet.adapters.appliers import extranet_appliers
from federation.config import Config, ExtranetConfig, ReplicationConfig
from federation.public_records import submission_id
from federation.replication.trust import LinkSecurity
from federation.storage import outbox
from federation.storage.engine import make_engine
from federation.storage.outbox import OutboxRecord
from federation.storage.tables import ext_cases, ext_items, quarantine
from federation.storage.uow import UnitOfWork
from migrations.runner import upgrade
from security.node import node_trust
from sync_agent.ferry_intake import FerryIntake
from sync_agent.ferry_link import FerryLink
from sync_agent.runtime import build_agent, receiver_policy
from sync_agent.store import SqlBatchSink
from tests.integration.extranet_fixtures import T0, case_payload, catalogue_payload

CITY, COUNTY, EXT, PUB = "371100", "371122", "371122-ext", "371122-pub"


@dataclass
class Ends:
    engines: dict[str, Engine]
    configs: dict[str, Config]
    security: dict[str, LinkSecurity]
    gateway: Path

    def folder(self, name: str) -> Path:
        path = self.gateway / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def carry(self, src: str, dst: str, pattern: str = "*.ferry") -> list[str]:
        """The gateway: copies (never moves) every file matching ``pattern`` from one folder to another."""
        names = sorted(p.name for p in self.folder(src).glob(pattern))
        for name in names:
            shutil.copy2(self.folder(src) / name, self.folder(dst) / name)
        return names

    def intake(self, node: str, appliers: dict[str, object], into: str, ack: str) -> FerryIntake:
        policy = receiver_policy(node)
        sink = SqlBatchSink(self.engines[node], node, appliers, relay=False, allow=policy)  # type: ignore[arg-type]
        return FerryIntake(
            sink, self.folder(into), self.folder(ack), allowed=policy, trust=self.security[node].receiver, settle=0.0
        )


@pytest.fixture
def ends(tmp_path: Path) -> Iterator[Ends]:
    ca = city_authority(CITY)
    engines, configs = {}, {}
    for node in (COUNTY, EXT):
        url = f"sqlite:///{tmp_path / f'{node}.db'}"
        engines[node] = make_engine(url)
        upgrade(engines[node])
        configs[node] = enrolled_config(tmp_path, node, url, ca)
    security = {n: node_trust(configs[n], engines[n]).link_security() for n in configs}
    yield Ends(engines, configs, security, tmp_path / "gateway")
    for engine in engines.values():
        engine.dispose()


def _write(engine: Engine, origin: str, records: list[OutboxRecord]) -> None:
    with UnitOfWork(engine) as uow:
        outbox.lock_origin(uow.conn, origin)
        outbox.append(uow.conn, origin=origin, records=records, created_at=T0)
        uow.commit()


def _agent_link(ends: Ends, node: str, *, extranet: ExtranetConfig | None = None, rep: ReplicationConfig) -> FerryLink:
    cfg = ends.configs[node]
    from dataclasses import replace

    cfg = replace(cfg, replication=rep, extranet=extranet or ExtranetConfig())
    agent = build_agent(cfg, engine=ends.engines[node], security=ends.security[node])
    (link,) = agent.links
    assert isinstance(link, FerryLink)
    return link


def test_both_streams_cross_a_one_way_gateway_signed_and_acknowledged(ends: Ends) -> None:
    cases = [f"{COUNTY}-20261207-{i:06d}" for i in range(1, 6)]
    _write(
        ends.engines[COUNTY],
        PUB,
        [OutboxRecord("public_catalogue", "catalogue", "upsert", catalogue_payload("A01", "A02"))]
        + [OutboxRecord("public_case", no, "upsert", case_payload(no)) for no in cases],
    )
    sid = submission_id(COUNTY, T0.date())
    _write(
        ends.engines[EXT],
        EXT,
        [
            OutboxRecord(
                "public_submission",
                sid,
                "insert",
                {
                    "submission_id": sid,
                    "item_code": "A01",
                    "applicant": "张三",
                    "phone": "13812345678",
                    "submitted_at": T0.isoformat(),
                },
            )
        ],
    )
    out = _agent_link(
        ends,
        COUNTY,
        extranet=ExtranetConfig(
            ferry_out=str(ends.folder("county-out")), ferry_return=str(ends.folder("county-return"))
        ),
        rep=ReplicationConfig(),
    )
    into = _agent_link(
        ends,
        EXT,
        rep=ReplicationConfig(
            transport="ferry", ferry_out=str(ends.folder("ext-out")), ferry_return=str(ends.folder("ext-return"))
        ),
    )
    out.run_once()
    into.run_once()
    assert ends.carry("county-out", "ext-in")
    assert ends.carry("ext-out", "county-in")
    at_ext = ends.intake(EXT, dict(extranet_appliers(COUNTY)), "ext-in", "ext-ack")
    at_county = ends.intake(COUNTY, {}, "county-in", "county-ack")
    assert at_ext.run_once() == 1
    assert at_county.run_once() == 1
    with UnitOfWork(ends.engines[EXT], readonly=True) as uow:
        assert sorted(uow.conn.execute(select(ext_cases.c.case_no)).scalars()) == cases
        assert sorted(uow.conn.execute(select(ext_items.c.code)).scalars()) == ["A01", "A02"]
    with UnitOfWork(ends.engines[COUNTY], readonly=True) as uow:
        held = uow.conn.execute(select(quarantine.c.origin, quarantine.c.record_type)).all()
    assert [tuple(r) for r in held] == [(EXT, "public_submission")]  # applied once (no applier here: quarantined)
    # the statements go back through the gateway; each sender verifies its receiver's signature and empties its spool
    assert ends.carry("ext-ack", "county-return", "statement.*.json")
    assert ends.carry("county-ack", "ext-return", "statement.*.json")
    out.run_once()
    into.run_once()
    assert out.acked(PUB) == len(cases) + 1
    assert into.acked(EXT) == 1
    assert list(ends.folder("county-out").glob("*.ferry")) == []
    assert list(ends.folder("ext-out").glob("*.ferry")) == []


def test_the_county_s_intranet_stream_carried_to_the_dmz_is_refused_there(ends: Ends) -> None:
    event = {"camera_id": "cam", "window": "W01", "kind": "摆渡", "at": "2026-12-07", "details": {}}
    _write(ends.engines[COUNTY], COUNTY, [OutboxRecord("video_event", "e-1", "insert", event)])
    up = _agent_link(
        ends,
        COUNTY,
        rep=ReplicationConfig(
            transport="ferry", ferry_out=str(ends.folder("up-out")), ferry_return=str(ends.folder("up-return"))
        ),
    )
    up.run_once()
    (name,) = ends.carry("up-out", "ext-in")  # the gateway operator takes the wrong folder
    at_ext = ends.intake(EXT, dict(extranet_appliers(COUNTY)), "ext-in", "ext-ack")
    at_ext.run_once()
    assert at_ext.stats().refused_files == 1
    assert list((ends.folder("ext-in") / "refused").glob(f"{name}.*.reason.txt"))
    with UnitOfWork(ends.engines[EXT], readonly=True) as uow:
        assert uow.conn.execute(select(quarantine.c.id)).all() == []  # refused before anything was applied
