"""What a sender's batch may cost a receiver before it is refused (review V5, V6): real gRPC on loopback.

A gzip bomb is refused once it inflates past the record limit, a batch once its records pass the batch limit;
a batch of an origin the sender may not send is refused before any payload is decoded; and whatever a peer
wrote in an identifier comes back in a refusal (and a log line) as a bounded excerpt only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from federation.replication import Record
from federation.wire.v1 import replication_pb2 as pb
from sync_agent.convert import batch_to_proto
from sync_agent.domain import ZERO_HASH, seal_batch
from sync_agent.server import RunningServer, StreamLimits, serve
from tests.integration.test_grpc_transport import FakeSink
from tests.integration.test_machine_trust import open_stream

CITY, COUNTY = "371100", "371122"
MiB = 1024 * 1024


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink(CITY)


@pytest.fixture
def server(sink: FakeSink) -> Iterator[RunningServer]:
    limits = StreamLimits(max_record_bytes=1 * MiB, max_batch_bytes=4 * MiB)
    running = serve(sink, max_workers=4, limits=limits)
    try:
        yield running
    finally:
        running.stop(0)


def _batch(payloads: list[bytes], *, origin: str = COUNTY) -> pb.Batch:
    records = [Record("case", f"{origin}-20261102-{i:06d}", "upsert", i, p, 1) for i, p in enumerate(payloads, 1)]
    return batch_to_proto(seal_batch(origin, ZERO_HASH, records), compress=True)


def test_a_gzip_bomb_is_refused_at_the_record_limit_without_being_inflated(
    server: RunningServer, sink: FakeSink
) -> None:
    """8 MiB of zeros (8 KiB compressed) in one record, the record limit 1 MiB: refused while inflating."""
    stream = open_stream(server.target, None, COUNTY, (COUNTY,))
    try:
        answer = stream.send(_batch([b"0" * (8 * MiB)]))
    finally:
        stream.close()
    assert answer.refusal.reason == pb.Refusal.MALFORMED, answer
    assert f"解压后超过 {MiB} 字节的上限" in answer.refusal.message
    assert sink.count(COUNTY) == 0


def test_a_batch_whose_records_inflate_past_the_batch_limit_is_refused(server: RunningServer, sink: FakeSink) -> None:
    """Six records of 900 KiB each: every one under the record limit, together over the 4 MiB batch limit."""
    payload = json.dumps({"x": "0" * (900 * 1024)}).encode()
    stream = open_stream(server.target, None, COUNTY, (COUNTY,))
    try:
        answer = stream.send(_batch([payload] * 6))
    finally:
        stream.close()
    assert answer.refusal.reason == pb.Refusal.MALFORMED, answer
    assert "整批上限" in answer.refusal.message
    assert sink.count(COUNTY) == 0


def test_permission_is_checked_before_any_payload_is_decoded(server: RunningServer, sink: FakeSink) -> None:
    """A county sending another county's origin with a payload that is not even gzip: NOT_ALLOWED, not MALFORMED."""
    bad = pb.Batch(origin="371121", first_seq=1, last_seq=1, gzip=True, records=[pb.Record(payload=b"not gzip")])
    stream = open_stream(server.target, None, COUNTY, (COUNTY,))
    try:
        answer = stream.send(bad)
    finally:
        stream.close()
    assert answer.refusal.reason == pb.Refusal.NOT_ALLOWED, answer


def test_peer_supplied_identifiers_come_back_as_bounded_excerpts(server: RunningServer) -> None:
    long_origin = "3" * 100_000
    stream = open_stream(server.target, None, COUNTY, (COUNTY,))
    try:
        answer = stream.send(pb.Batch(origin=long_origin, first_seq=1, last_seq=1))
    finally:
        stream.close()
    assert answer.refusal.reason in (pb.Refusal.NOT_ALLOWED, pb.Refusal.MALFORMED), answer
    assert len(answer.refusal.message) < 300
    assert len(answer.refusal.origin) < 100
    assert "共 100000 字符" in answer.refusal.message
