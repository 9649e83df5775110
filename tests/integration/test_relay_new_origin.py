"""A relay whose link up never goes idle still takes up a county it has not carried yet (found by the soak under
load: a city kept streaming its own records and those of the counties it already carried, and a county whose first
batch arrived meanwhile was never sent up — the link looked for new origins only when nothing was in flight).

Real SQLite, a real gRPC server on 127.0.0.1 and the real :class:`Link`; the province answers slowly (each group
of batches takes 50 ms) and the city writes its own records every few milliseconds, so batches are always in
flight. 莒县's first batch then reaches the city: the province must hold it within seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine, func, insert, select

from federation.replication import Record
from federation.storage.engine import make_engine
from federation.storage.outbox import canonical_json, next_value
from federation.storage.tables import outbox
from federation.storage.uow import UnitOfWork
from federation.timeutil import to_us, utcnow
from migrations.runner import upgrade
from sync_agent.client import Link
from sync_agent.domain import ZERO_HASH, Batch, seal_batch
from sync_agent.errors import BatchRefused
from sync_agent.ports import Receipt
from sync_agent.runtime import up_origins
from sync_agent.server import serve
from sync_agent.store import SqlBatchSink, SqlBatchSource
from tests.settings_applier import Settings

PROVINCE, CITY, COUNTY = "370000", "371100", "371122"


class SlowSink(SqlBatchSink):
    """The province's real sink, answering each group 50 ms late (a busy receiver)."""

    def receive_many(self, sender: str, batches: Sequence[Batch]) -> list[Receipt | BatchRefused]:
        time.sleep(0.05)
        return super().receive_many(sender, batches)


def _engine(tmp: Path, name: str) -> Engine:
    engine = make_engine(f"sqlite:///{tmp / name}.db")
    upgrade(engine)
    return engine


def _write_own(engine: Engine, n: int) -> None:
    """``n`` setting records of the city's own origin (rows: the boundary policy lets no setting out)."""
    with UnitOfWork(engine) as uow:
        top = int(uow.conn.execute(select(func.max(outbox.c.seq)).where(outbox.c.origin == CITY)).scalar() or 0)
        rows = [
            {
                "origin": CITY,
                "seq": top + i,
                "record_type": "setting",
                "record_id": f"c{top + i}",
                "op": "upsert",
                "payload": canonical_json({"value": str(top + i)}),
                "created_at": utcnow(),
            }
            for i in range(1, n + 1)
        ]
        uow.conn.execute(insert(outbox), rows)
        next_value(uow.conn, f"outbox:{CITY}", n)
        uow.commit()


def _held(engine: Engine, origin: str) -> int:
    sink = SqlBatchSink(engine, PROVINCE, {}, relay=False)
    (mark,) = sink.marks([origin])
    return mark.high_water


def test_a_busy_relay_takes_up_a_county_it_did_not_carry_yet(tmp_path: Path) -> None:
    city, province = _engine(tmp_path, "city"), _engine(tmp_path, "province")
    server = serve(SlowSink(province, PROVINCE, {"setting": Settings()}, relay=False))
    source = SqlBatchSource(city, CITY, max_records=5)
    link = Link(
        "up",
        f"127.0.0.1:{server.port}",
        source,
        node=CITY,
        origins=up_origins(CITY, source),
        linger=0.01,
        window=4,
        gzip=False,
    )
    stop = threading.Event()
    writer_stop = threading.Event()

    def writing() -> None:
        while not writer_stop.wait(0.005):
            _write_own(city, 3)

    threads = [threading.Thread(target=link.run_forever, args=(stop,)), threading.Thread(target=writing)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while _held(province, CITY) == 0:  # the city's own stream flows
            assert time.monotonic() < deadline, "the city's own records never reached the province"
            time.sleep(0.05)
        records = [
            Record("setting", f"k{i}", "upsert", i, canonical_json({"value": str(i)}).encode(), to_us(utcnow()))
            for i in (1, 2, 3)
        ]
        SqlBatchSink(city, CITY, {"setting": Settings()}, relay=True).receive(
            COUNTY, seal_batch(COUNTY, ZERO_HASH, records)
        )
        deadline = time.monotonic() + 15
        while _held(province, COUNTY) < 3:
            assert time.monotonic() < deadline, "a county relayed while the link was busy never reached the province"
            time.sleep(0.05)
    finally:
        writer_stop.set()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        server.stop(grace=None)
        city.dispose()
        province.dispose()
