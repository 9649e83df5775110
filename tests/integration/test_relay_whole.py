"""A city relays its counties' batches whole: each batch's wire message is kept as it arrived (``batch_log.wire``)
and sent on byte for byte — no copy of every record in the city's outbox, no re-encoding — and the province
applies them as if the county had sent them. Real SQLite stores, real gRPC servers on 127.0.0.1 port 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bench.harness import catalogue_bundle
from bench.replication_county import CITY, COUNTY, case_templates, prepare_city, prepare_county
from county_node.approval.adapters.replica import default_appliers
from federation.storage.engine import make_engine
from federation.storage.tables import batch_log, case_events, cases, outbox
from sync_agent.client import Link
from sync_agent.convert import batch_to_proto
from sync_agent.server import serve
from sync_agent.store import SqlBatchSink, SqlBatchSource

PROVINCE = "370000"
EVENTS = 120


@pytest.fixture(scope="module")
def tiers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Engine]]:
    directory: Path = tmp_path_factory.mktemp("relay")
    bundle = catalogue_bundle()
    county = prepare_county(directory / "county.db", case_templates(directory, bundle), EVENTS)
    engines = {COUNTY: make_engine(f"sqlite:///{county.path}")}
    for node in (CITY, PROVINCE):
        url = f"sqlite:///{directory / f'{node}.db'}"
        prepare_city(url, bundle)
        engines[node] = make_engine(url)
    yield engines
    for engine in engines.values():
        engine.dispose()


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_city_forwards_each_batch_byte_for_byte_and_the_province_applies_it(tiers: dict[str, Engine]) -> None:
    county = SqlBatchSource(tiers[COUNTY], COUNTY, max_records=16)
    with serve(SqlBatchSink(tiers[CITY], CITY, default_appliers(), relay=True)) as city_server:
        stats = Link("up", city_server.target, county, node=COUNTY, gzip=True).run_once()
    last = stats.origins[COUNTY].acked_high_water
    assert last > EVENTS  # the events and their cases' snapshots

    sent = county.batches_after(COUNTY, 0, 1000)
    held = SqlBatchSource(tiers[CITY], CITY).batches_after(COUNTY, 0, 1000)
    assert [b.last_seq for b in held] == [b.last_seq for b in sent]
    assert all(b.wire and not b.records for b in held)  # kept whole: no records decoded to relay them
    assert [b.wire for b in held] == [batch_to_proto(b).SerializeToString() for b in sent]  # byte for byte
    with tiers[CITY].connect() as conn:  # no per-record copy in the city's outbox
        assert conn.execute(select(func.count()).select_from(outbox).where(outbox.c.origin == COUNTY)).scalar() == 0
        assert all(w for (w,) in conn.execute(select(batch_log.c.wire).where(batch_log.c.origin == COUNTY)))

    city = SqlBatchSource(tiers[CITY], CITY)
    with serve(SqlBatchSink(tiers[PROVINCE], PROVINCE, default_appliers(), relay=False)) as province_server:
        relayed = Link("up", province_server.target, city, node=CITY, origins=[COUNTY]).run_once()
    assert relayed.origins[COUNTY].acked_high_water == last
    assert relayed.origins[COUNTY].sent_records == last
    (mark,) = SqlBatchSink(tiers[PROVINCE], PROVINCE, {}, relay=False).marks([COUNTY])
    assert (mark.high_water, mark.last_hash) == (last, sent[-1].batch_hash)  # the county's chain, unbroken
    assert _count(tiers[PROVINCE], case_events) == _count(tiers[CITY], case_events) == EVENTS
    assert _count(tiers[PROVINCE], cases) == _count(tiers[CITY], cases) > 0
