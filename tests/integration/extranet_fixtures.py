"""The county side of an extranet node's tests: the county's public stream (``371122-pub``) written to a county
outbox, sealed and delivered to the extranet node's real receiving sink, and plausible public records.

The county's publication itself is not built here (the county node writes these records); a test writes them with
``outbox.append`` exactly as a publisher would, so they pass the boundary policy's ``out`` direction as the
county's would, and reach the extranet node sealed, through :class:`sync_agent.store.SqlBatchSink`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from county_node.extranet.bootstrap import ExtranetNode, build_extranet_node
from federation.config import Config, ExtranetConfig, NodeConfig
from federation.query_codes import query_hash
from federation.storage import outbox
from federation.storage.engine import make_engine
from federation.storage.outbox import OutboxRecord
from federation.storage.tables import metadata, quarantine
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from migrations.runner import upgrade
from sync_agent.runtime import receiver_policy
from sync_agent.store import SqlBatchSink, SqlBatchSource
from tests.conftest import FakeClock, create_pg_database

__all__ = [
    "CASE_CODE",
    "COUNTY",
    "EXT",
    "PUB",
    "County",
    "case_payload",
    "catalogue_payload",
    "disclosure_payload",
    "ext_node",
    "fresh_engine",
]

COUNTY = "371122"
EXT = "371122-ext"
PUB = "371122-pub"
T0 = datetime(2026, 12, 7, 9, 30, tzinfo=CST)
CASE_CODE = "K7M3Q9XA"  # the query code of every case below (its hash is computed once)
_CASE_HASH = query_hash(CASE_CODE)
_ALL = 10**6


def catalogue_payload(*codes: str, version: str = "2026.12.1") -> dict[str, Any]:
    return {
        "standards_version": version,
        "published_at": T0.isoformat(),
        "items": [
            {
                "code": code,
                "name": f"事项{code}",
                "department": "市场监管局" if code < "B" else "住建局",
                "kind": "promised",
                "legal_days": 20,
                "promised_days": 5,
                "fee": "0",
                "key_fields": ["统一社会信用代码", "经营场所"],
            }
            for code in codes
        ],
    }


def case_payload(case_no: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "case_no": case_no,
        "item_code": "A01",
        "item_name": "事项A01",
        "department": "市场监管局",
        "status": "accepted",
        "status_label": "已受理",
        "submitted_at": T0.isoformat(),
        "accepted_at": T0.isoformat(),
        "concluded_at": "",
        "due_on": "2026-12-14",
        "decision": "",
        "on_time": None,
        "correction": [],
        "rating_open": False,
        "query_hash": _CASE_HASH,
        "submission_id": "",
        "updated_at": T0.isoformat(),
    }
    return base | changes


def concluded(case_no: str, **changes: Any) -> dict[str, Any]:
    return case_payload(
        case_no,
        status="concluded",
        status_label="已办结",
        concluded_at=(T0 + timedelta(days=3)).isoformat(),
        decision="approved",
        on_time=True,
        rating_open=True,
        **changes,
    )


def disclosure_payload(case_no: str, concluded_on: date, department: str = "市场监管局") -> dict[str, Any]:
    return {
        "case_no": case_no,
        "item_code": "A01",
        "item_name": "事项A01",
        "department": department,
        "accepted_on": (concluded_on - timedelta(days=2)).isoformat(),
        "concluded_on": concluded_on.isoformat(),
        "result": "准予许可",
        "on_time": concluded_on.day % 2 == 0,
    }


class County:
    """The county's end of the link: its public stream in its own database, delivered to the extranet's sink."""

    def __init__(self, engine: Engine, ext_engine: Engine, appliers: Any) -> None:
        self.engine = engine
        self.sink = SqlBatchSink(ext_engine, EXT, appliers, relay=False, allow=receiver_policy(EXT))

    def publish(self, *records: tuple[str, str, Any]) -> list[int]:
        """Write ``(record_type, record_id, payload)`` upserts to the public stream; their seqs."""
        with UnitOfWork(self.engine) as uow:
            seqs = outbox.append(
                uow.conn,
                origin=PUB,
                records=[OutboxRecord(t, rid, "upsert", p) for t, rid, p in records],
                created_at=T0,
            )
            uow.commit()
        return seqs

    def deliver(self) -> int:
        """Seal what was published and hand every new batch to the extranet node's sink; records quarantined."""
        SqlBatchSource(self.engine, PUB).seal()
        (mark,) = self.sink.marks([PUB])
        held = 0
        for batch in SqlBatchSource(self.engine, PUB).batches_after(PUB, mark.high_water, _ALL):
            held += self.sink.receive(COUNTY, batch).quarantined
        return held

    def send(self, *records: tuple[str, str, Any]) -> int:
        self.publish(*records)
        return self.deliver()


def quarantined(engine: Engine) -> list[tuple[str, str]]:
    """(record_type, reason) of every record held in the extranet node's quarantine."""
    with UnitOfWork(engine, readonly=True) as uow:
        return [(r.record_type, r.reason) for r in uow.conn.execute(select(quarantine).order_by(quarantine.c.seq))]


def wipe(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        for table in reversed(metadata.sorted_tables):
            uow.conn.execute(table.delete())
        uow.commit()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def backend_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The extranet node's database on each backend, migrated once per module (emptied before each test)."""
    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('ext') / 'ext.db'}"
    else:
        url, drop = create_pg_database()
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    eng.dispose()
    if drop is not None:
        drop()


@pytest.fixture(scope="module")
def county_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('county') / 'county.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


def fresh_engine(engine: Engine) -> Engine:
    wipe(engine)
    return engine


def ext_node(engine: Engine, clock: FakeClock, data_dir: Path, **limits: Any) -> ExtranetNode:
    cfg = Config(node=NodeConfig(division=EXT, data_dir=str(data_dir)), extranet=ExtranetConfig(**limits))
    return build_extranet_node(cfg, engine=engine, clock=clock, client_key=b"k" * 32)
