"""A receiver applies the batches that arrived together in one transaction — without that changing what it applies
(an outside review's findings, each kept as a test): the outcome does not depend on how batches were grouped; a
group that fails keeps the good batches before the failing one; a relay keeps only bytes that were checked; what
the reader holds ahead of the servicer is bounded in bytes. Real SQLite, a real gRPC server on 127.0.0.1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from federation.replication import Prepared, Record, Rejection
from federation.storage.engine import make_engine
from federation.storage.tables import batch_log, node_settings
from federation.wire.v1 import replication_pb2 as pb
from migrations.runner import upgrade
from sync_agent.answers import PartlyAnswered, answer_batches
from sync_agent.convert import batch_message_bytes, batch_to_proto
from sync_agent.domain import ZERO_HASH, seal_batch
from sync_agent.ports import Receipt
from sync_agent.server import StreamLimits, serve
from sync_agent.store import SqlBatchSink
from sync_agent.stream_groups import groups_of

COUNTY, CITY = "371122", "371100"


class Settings:
    """Upserts ``node_settings`` rows; a value ``bad`` is a poison record, ``explode`` a bug (not a record's fault)."""

    def prepare(self, origin: str, record: Record, payload: Any) -> dict[str, str]:
        if payload["value"] == "bad":
            raise ValueError("bad value")
        if payload["value"] == "explode":
            raise RuntimeError("a bug, not a poison record")
        return {"key": record.record_id, "value": str(payload["value"])}

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[dict[str, str]]]) -> Sequence[Rejection]:
        for i in items:
            stmt = sqlite_insert(node_settings).values(i.value)
            conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": i.value["value"]}))
        return []


def _record(seq: int, key: str, value: str) -> Record:
    return Record("setting", key, "upsert", seq, f'{{"value":"{value}"}}'.encode(), 0)


def _engine(tmp: Path, name: str) -> Engine:
    engine = make_engine(f"sqlite:///{tmp / name}.db")
    upgrade(engine)
    return engine


def _value(engine: Engine, key: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(node_settings.c.value).where(node_settings.c.key == key)).scalar()


def test_the_outcome_does_not_depend_on_how_batches_were_grouped(tmp_path: Path) -> None:
    b1 = seal_batch(COUNTY, ZERO_HASH, [_record(1, "k", "v1")])
    b2 = seal_batch(COUNTY, b1.batch_hash, [_record(2, "k", "bad")])  # quarantined: must not undo batch 1
    one_by_one, grouped = _engine(tmp_path, "a"), _engine(tmp_path, "b")
    single = SqlBatchSink(one_by_one, CITY, {"setting": Settings()}, relay=False)
    single.receive(COUNTY, b1)
    single.receive(COUNTY, b2)
    answers = SqlBatchSink(grouped, CITY, {"setting": Settings()}, relay=False).receive_many(COUNTY, [b1, b2])
    assert [a.quarantined for a in answers if isinstance(a, Receipt)] == [0, 1]
    assert _value(one_by_one, "k") == _value(grouped, "k") == "v1"


def test_a_group_that_fails_keeps_the_good_batches_before_the_failing_one(tmp_path: Path) -> None:
    b1 = seal_batch(COUNTY, ZERO_HASH, [_record(1, "k", "v1")])
    b2 = seal_batch(COUNTY, b1.batch_hash, [_record(2, "j", "explode")])
    sink = SqlBatchSink(_engine(tmp_path, "c"), CITY, {"setting": Settings()}, relay=False)
    messages = [batch_to_proto(b1), batch_to_proto(b2)]
    with pytest.raises(PartlyAnswered) as caught:
        answer_batches(sink, COUNTY, messages, allowed=lambda s, o: True, trust=None, limits=StreamLimits())
    assert caught.value.answers == [Receipt(sink.marks([COUNTY])[0])]  # batch 1 answered, and durable
    assert isinstance(caught.value.cause, RuntimeError)
    assert sink.marks([COUNTY])[0].high_water == 1


def test_a_relay_keeps_only_the_bytes_it_checked(tmp_path: Path) -> None:
    """A batch padded with a field unknown to the schema is acknowledged, but the relay keeps (and forwards) the
    batch without it: nothing travels on that no tier checked."""
    city = _engine(tmp_path, "city")
    batch = seal_batch(COUNTY, ZERO_HASH, [_record(1, "k", "v1")])
    canonical = batch_to_proto(batch).SerializeToString()
    padded = canonical + b"\x9a\x06" + bytes([100]) + b"\0" * 100  # Batch field 99 (unknown), 100 bytes
    hello = pb.ClientMessage(hello=pb.Hello(sender=COUNTY, origins=[COUNTY])).SerializeToString()
    with serve(SqlBatchSink(city, CITY, {"setting": Settings()}, relay=True)) as server:
        channel = grpc.insecure_channel(server.target)
        call = channel.stream_stream(
            "/federation.wire.v1.Replication/Stream",
            request_serializer=lambda b: b,
            response_deserializer=pb.ServerMessage.FromString,
        )
        kinds = [m.WhichOneof("kind") for m in call(iter([hello, batch_message_bytes(padded)]))]
        channel.close()
    assert kinds == ["welcome", "ack"]
    with city.connect() as conn:
        (stored,) = conn.execute(select(batch_log.c.wire)).one()
    assert stored == canonical


def test_what_the_reader_holds_ahead_is_bounded_in_bytes() -> None:
    size = 200_000
    pulled = 0

    def requests() -> Iterator[pb.ClientMessage]:
        nonlocal pulled
        for seq in range(1, 100):
            pulled += 1
            record = pb.Record(record_type="setting", record_id="k", op="upsert", origin_seq=seq, payload=b"x" * size)
            yield pb.ClientMessage(batch=pb.Batch(origin=COUNTY, first_seq=seq, last_seq=seq, records=[record]))

    groups = groups_of(requests(), most=16, budget=3 * size)
    first, failure = next(groups)  # the servicer applies its first group: the reader may only read ahead so far
    assert failure is None
    time.sleep(0.3)
    held = pulled - len(first)
    assert held <= 3, f"the reader read {held} messages ahead of a budget of 3"
    done = threading.Event()

    def drain() -> None:
        for _ in groups:  # answering releases room: the reader goes on to the end
            pass
        done.set()

    threading.Thread(target=drain, daemon=True).start()
    assert done.wait(10)
    assert pulled == 99
