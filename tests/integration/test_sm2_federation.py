"""The 国密 option end to end: a federation whose standards name SM2/SM3 signs and verifies batches with it over
mutual TLS, and refuses a node that signs with another suite (issue 14)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bench.pki_material import city_authority, enrolled_config
from federation.standards import StandardsBundle
from federation.storage import outbox
from federation.storage.engine import make_engine
from federation.storage.outbox import OutboxRecord
from federation.storage.standards_store import apply_bundle
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from migrations.runner import upgrade
from security.node import node_trust
from sync_agent.client import Link
from sync_agent.errors import LinkError
from sync_agent.server import serve
from sync_agent.store import SqlBatchSink, SqlBatchSource

CITY, JU, WULIAN = "371100", "371122", "371121"
NOW = datetime(2026, 11, 2, 9, tzinfo=CST)


def _engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


@pytest.fixture
def federation(tmp_path: Path, bundle: StandardsBundle) -> Iterator[dict[str, object]]:
    ca = city_authority(CITY)
    engines = {d: _engine(tmp_path / f"{d}.db") for d in (CITY, JU, WULIAN)}
    with UnitOfWork(engines[CITY]) as uow:  # the province's standards, as the city holds them: 国密
        apply_bundle(uow.conn, dataclasses.replace(bundle, signature_suite="sm2"), NOW)
        uow.commit()
    configs = {
        CITY: enrolled_config(tmp_path, CITY, f"sqlite:///{tmp_path / 'city.db'}", ca, suite="sm2"),
        JU: enrolled_config(tmp_path, JU, f"sqlite:///{tmp_path / 'ju.db'}", ca, suite="sm2"),
        WULIAN: enrolled_config(tmp_path, WULIAN, f"sqlite:///{tmp_path / 'wulian.db'}", ca, suite="ed25519"),
    }
    for division in (JU, WULIAN):
        with UnitOfWork(engines[division]) as uow:
            # a type and fields the boundary policy lets cross (docs/boundary.md)
            records = [
                OutboxRecord("video_event", f"{division}-{i}", "upsert", {"kind": "note", "details": {"n": i}})
                for i in range(5)
            ]
            outbox.append(uow.conn, origin=division, records=records, created_at=NOW)
            uow.commit()
    yield {"engines": engines, "configs": configs}
    for engine in engines.values():
        engine.dispose()


def _link(county: str, target: str, engines: dict[str, Engine], configs: dict[str, object]) -> Link:
    security = node_trust(configs[county], engines[county]).link_security()  # type: ignore[arg-type]
    source = SqlBatchSource(engines[county], county, signer=security.signer.sign)
    return Link(
        "up",
        target,
        source,
        node=county,
        credentials=security.channel_credentials,
        trust=security.sender,
        tls_name=security.tls_name,
        handshake_timeout=10.0,
        ack_timeout=10.0,
    )


def test_a_sm2_federation_signs_and_verifies_and_refuses_a_mixed_suite(federation: dict[str, object]) -> None:
    engines: dict[str, Engine] = federation["engines"]  # type: ignore[assignment]
    configs: dict[str, object] = federation["configs"]  # type: ignore[assignment]
    city = node_trust(configs[CITY], engines[CITY]).link_security()  # type: ignore[arg-type]
    sink = SqlBatchSink(engines[CITY], CITY, {}, relay=True)
    server = serve(sink, credentials=city.server_credentials(), trust=city.receiver)
    try:
        stats = _link(JU, server.target, engines, configs).run_once()
        assert stats.origins[JU].acked_high_water == 5  # signed with SM2/SM3, verified, applied
        with pytest.raises(LinkError, match="不同算法的节点不能混用"):  # 五莲县 signs with Ed25519: refused
            _link(WULIAN, server.target, engines, configs).run_once()
        assert sink.marks([WULIAN])[0].high_water == 0
    finally:
        server.stop(grace=0)
