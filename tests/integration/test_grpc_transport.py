"""Replication over real gRPC on 127.0.0.1 (port 0): the Link (client.py) against the servicer (server.py).

The two ports are in-memory fakes here — :class:`FakeSource` and :class:`FakeSink` stand in for the SQL store
(``sync_agent.store``), which has its own contract tests. They keep to the ports' contracts: the source seals
staged outbox records into hash-chained batches with ``seal_batch``; the sink checks every batch against its
mark with ``check_batch`` and applies it atomically, as the store does in one transaction.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from structlog.testing import capture_logs

from federation.errors import Conflict, NotFound, StorageError, SunshineError, ValidationError
from federation.replication import Record
from federation.wire.v1 import replication_pb2 as pb
from federation.wire.v1 import replication_pb2_grpc as pb_grpc
from sync_agent import convert
from sync_agent.client import Backoff, Link
from sync_agent.domain import ZERO_HASH, Batch, Mark, Verdict, check_batch, seal_batch
from sync_agent.errors import BatchRefused, LinkError
from sync_agent.ports import BatchSink, BatchSource, Receipt
from sync_agent.server import SERVICE_NAME, ReplicationServicer, RunningServer, serve

PROVINCE, CITY, COUNTY, OTHER_COUNTY = "370000", "371100", "371122", "371121"
DEADLINE = 10.0  # seconds any wait in this file may take at most


class FakeSource(BatchSource):
    """Stands in for the SQL outbox store (which has its own tests): staged rows, sealed into chained batches."""

    def __init__(self, batch_size: int = 4) -> None:
        self.batch_size = batch_size
        self.acks: dict[tuple[str, str], int] = {}
        self.tamper_once: set[tuple[str, int]] = set()  # (origin, first_seq): hand out an altered copy once
        self._staged: dict[str, list[Record]] = {}
        self._chains: dict[str, list[Batch]] = {}
        self._all: dict[str, list[Record]] = {}
        self._lock = threading.Lock()

    def add(self, origin: str, n: int) -> None:
        """Commit ``n`` outbox records of ``origin`` (sealed by the next ``seal``)."""
        with self._lock:
            done = self._all.setdefault(origin, [])
            self._chains.setdefault(origin, [])
            for _ in range(n):
                seq = len(done) + 1
                payload = f'{{"case_no":"{origin}-20260921-{seq:06d}","status":"受理"}}'.encode()
                done.append(Record("case", f"{origin}-20260921-{seq:06d}", "upsert", seq, payload, 1_790_000 + seq))
                self._staged.setdefault(origin, []).append(done[-1])

    def records(self, origin: str) -> list[Record]:
        with self._lock:
            return list(self._all.get(origin, []))

    def origins(self) -> Sequence[str]:
        with self._lock:
            return list(self._chains)

    def seal(self) -> int:
        sealed = 0
        with self._lock:
            for origin, staged in self._staged.items():
                chain = self._chains[origin]
                while staged:
                    chunk, staged[:] = staged[: self.batch_size], staged[self.batch_size :]
                    chain.append(seal_batch(origin, chain[-1].batch_hash if chain else ZERO_HASH, chunk))
                    sealed += 1
        return sealed

    def batches_after(self, origin: str, high_water: int, limit: int) -> Sequence[Batch]:
        with self._lock:
            out = [b for b in self._chains.get(origin, []) if b.first_seq > high_water][:limit]
            for i, b in enumerate(out):
                if (origin, b.first_seq) in self.tamper_once:
                    self.tamper_once.discard((origin, b.first_seq))
                    altered = dataclasses.replace(b.records[0], payload=b.records[0].payload.replace(b"1", b"7"))
                    out[i] = dataclasses.replace(b, records=(altered, *b.records[1:]))
            return out

    def record_ack(self, link: str, origin: str, high_water: int) -> None:
        with self._lock:
            self.acks[(link, origin)] = high_water


class FakeSink(BatchSink):
    """Stands in for the SQL receiving store (which has its own tests): check_batch, then apply atomically.

    ``quarantine`` names (origin, seq) records set aside; ``fail_with`` makes ``receive`` raise.
    """

    def __init__(self, node: str = PROVINCE) -> None:
        self.node = node
        self.applied: dict[str, list[Record]] = {}
        self.quarantine: set[tuple[str, int]] = set()
        self.fail_with: Exception | None = None
        self.delay = 0.0
        self._marks: dict[str, Mark] = {}
        self._lock = threading.Lock()

    def marks(self, origins: Sequence[str]) -> Sequence[Mark]:
        with self._lock:
            return [self._marks.get(o, Mark(o)) for o in origins]

    def receive(self, sender: str, batch: Batch) -> Receipt:
        time.sleep(self.delay)
        with self._lock:
            if self.fail_with is not None:
                raise self.fail_with
            mark = self._marks.get(batch.origin, Mark(batch.origin))
            if check_batch(mark, batch) is Verdict.DUPLICATE:
                return Receipt(mark, duplicate=True)
            kept = [r for r in batch.records if (batch.origin, r.origin_seq) not in self.quarantine]
            self.applied.setdefault(batch.origin, []).extend(kept)
            self._marks[batch.origin] = Mark(batch.origin, batch.last_seq, batch.batch_hash)
            return Receipt(self._marks[batch.origin], len(batch.records) - len(kept))

    def held(self) -> Sequence[str]:
        with self._lock:
            return sorted(self._marks)

    def count(self, origin: str) -> int:
        with self._lock:
            return len(self.applied.get(origin, []))


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def server(sink: FakeSink) -> Iterator[RunningServer]:
    running = serve(sink, origins_held=sink.held, max_workers=8)
    yield running
    running.stop(grace=0)


@pytest.fixture
def channel(server: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.target) as ch:
        yield ch


def make_link(target: str | Callable[[], str], source: FakeSource, node: str = CITY, **options: object) -> Link:
    settings: dict[str, object] = {
        "handshake_timeout": 5.0,
        "ack_timeout": 5.0,
        "backoff_initial": 0.02,
        "backoff_max": 0.2,
        "linger": 0.01,
        **options,
    }
    return Link("to-province", target, source, node=node, **settings)  # type: ignore[arg-type]


def city_source() -> FakeSource:
    """A city relaying two counties: its own origin first."""
    source = FakeSource()
    source.add(CITY, 23)
    source.add(COUNTY, 17)
    source.add(OTHER_COUNTY, 9)
    return source


def records_of(origin: str, n: int) -> list[Record]:
    source = FakeSource()
    source.add(origin, n)
    return source.records(origin)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def assert_converged(source: FakeSource, sink: FakeSink, origins: Sequence[str]) -> None:
    for origin in origins:
        assert sink.applied.get(origin, []) == source.records(origin), origin  # once each, in order


# --- streaming -----------------------------------------------------------------------------------------------


def test_everything_sent_arrives_once_in_order(server: RunningServer, sink: FakeSink) -> None:
    source = city_source()
    stats = make_link(server.target, source, window=3).run_once()
    assert_converged(source, sink, [CITY, COUNTY, OTHER_COUNTY])
    assert stats.sent_records == stats.acked_records == 23 + 17 + 9
    assert stats.lag == 0
    assert stats.refusals == 0
    assert source.acks == {("to-province", CITY): 23, ("to-province", COUNTY): 17, ("to-province", OTHER_COUNTY): 9}

    again = make_link(server.target, source).run_once()  # resumes at the receiver's marks: nothing to send
    assert again.sent_records == 0
    source.add(COUNTY, 6)
    more = make_link(server.target, source).run_once()
    assert more.sent_records == 6
    assert_converged(source, sink, [CITY, COUNTY, OTHER_COUNTY])


def test_one_window_at_a_time(server: RunningServer, sink: FakeSink) -> None:
    source = FakeSource(batch_size=2)
    source.add(COUNTY, 20)
    link = make_link(server.target, source, node=COUNTY, window=3)
    first = link.run_once(until_idle=False)
    assert (first.origins[COUNTY].acked_batches, first.origins[COUNTY].acked_high_water) == (3, 6)
    assert first.origins[COUNTY].lag == 14
    assert sink.count(COUNTY) == 6
    link.run_once()
    assert_converged(source, sink, [COUNTY])


def test_compressed_and_uncompressed_links_deliver_the_same(server: RunningServer, sink: FakeSink) -> None:
    source = city_source()
    make_link(server.target, source, gzip=False, origins=[CITY]).run_once()
    make_link(server.target, source, gzip=True).run_once()
    assert_converged(source, sink, [CITY, COUNTY, OTHER_COUNTY])


def test_quarantined_records_do_not_stop_the_stream(server: RunningServer, sink: FakeSink) -> None:
    source = city_source()
    sink.quarantine = {(COUNTY, 3), (COUNTY, 11)}
    stats = make_link(server.target, source).run_once()
    assert stats.origins[COUNTY].quarantined == 2
    assert stats.lag == 0
    assert [r.origin_seq for r in sink.applied[COUNTY]] == [s for s in range(1, 18) if s not in {3, 11}]


def test_a_tampered_batch_is_refused_and_the_correct_one_resent(server: RunningServer, sink: FakeSink) -> None:
    source = city_source()
    source.seal()
    source.tamper_once = {(COUNTY, 5)}  # the second batch of the county, altered after sealing
    with capture_logs() as logs:
        stats = make_link(server.target, source, window=8).run_once()
    refusals = [e for e in logs if e["event"] == "replication.batch_refused" and "link" in e]
    assert [(e["origin"], e["reason"], e["resend_after"]) for e in refusals] == [(COUNTY, "bad_hash", 4)]
    assert stats.origins[COUNTY].refusals == 1  # the GAP refusals of the batches behind it were stale
    assert_converged(source, sink, [CITY, COUNTY, OTHER_COUNTY])


def test_store_and_forward_across_a_receiver_restart(sink: FakeSink) -> None:
    """The receiver goes down mid-stream and comes back on a new port: nothing lost, nothing duplicated."""
    source = FakeSource(batch_size=2)
    source.add(COUNTY, 120)
    sink.delay = 0.002
    first = serve(sink, max_workers=4)
    where = {"target": first.target}
    link = make_link(lambda: where["target"], source, node=COUNTY)
    stop = threading.Event()
    worker = threading.Thread(target=link.run_forever, args=(stop,), name="link-under-test")
    worker.start()
    second: RunningServer | None = None
    try:
        wait_until(lambda: sink.count(COUNTY) >= 30, "the first records")
        first.stop(grace=0)  # mid-stream: batches are in flight
        source.add(COUNTY, 40)  # the county keeps working while the province is away
        wait_until(lambda: link.stats().failures >= 2, "the link to notice and retry")
        second = serve(sink, max_workers=4)
        where["target"] = second.target
        wait_until(lambda: sink.count(COUNTY) == 160, "the link to catch up")
    finally:
        stop.set()
        worker.join(timeout=DEADLINE)
        first.stop(grace=0)
        if second is not None:
            second.stop(grace=0)
    assert not worker.is_alive()
    assert_converged(source, sink, [COUNTY])
    stats = link.stats()
    assert stats.sessions >= 2
    assert stats.last_error_status == "UNAVAILABLE"
    assert stats.lag == 0
    assert source.acks[("to-province", COUNTY)] == 160


def test_a_peer_that_is_down_is_a_link_error(sink: FakeSink) -> None:
    gone = serve(sink)
    gone.stop(grace=0)
    started = time.monotonic()
    with pytest.raises(LinkError) as caught:
        make_link(gone.target, city_source()).run_once()
    assert caught.value.status == "UNAVAILABLE"
    assert "无法连接" in caught.value.message
    assert time.monotonic() - started < 5


def test_reconnects_back_off_exponentially_with_full_jitter(sink: FakeSink) -> None:
    gone = serve(sink)
    gone.stop(grace=0)
    delays: list[float] = []
    stop = threading.Event()

    def record(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 6:
            stop.set()

    link = make_link(
        gone.target, city_source(), backoff_initial=0.2, backoff_max=1.0, sleep=record, rng=random.Random(7)
    )
    link.run_forever(stop)
    assert len(delays) == 6
    assert all(0 <= d <= min(1.0, 0.2 * 2**n) for n, d in enumerate(delays))
    assert link.stats().failures == 6


def test_backoff_ceiling_doubles_to_the_maximum_and_resets() -> None:
    backoff = Backoff(0.2, 10.0, random.Random(1))
    ceilings = []
    for _ in range(10):
        ceilings.append(min(backoff.maximum, backoff.initial * 2**backoff.attempts))
        assert 0 <= backoff.next_delay() <= ceilings[-1]
    assert ceilings == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0, 10.0]
    backoff.reset()
    assert backoff.next_delay() <= 0.2


# --- policy and protocol -------------------------------------------------------------------------------------


def test_a_sender_may_not_send_an_origin_it_does_not_own(server: RunningServer, sink: FakeSink) -> None:
    source = FakeSource()
    source.add(COUNTY, 5)
    source.add(OTHER_COUNTY, 5)  # a neighbouring county's records: not this county's to send
    with capture_logs() as logs:
        stats = make_link(server.target, source, node=COUNTY).run_once()
    assert_converged(source, sink, [COUNTY])
    assert OTHER_COUNTY not in sink.applied
    assert stats.origins[OTHER_COUNTY].refusals == 1
    assert stats.origins[OTHER_COUNTY].parked  # not resent in a loop
    assert [e["reason"] for e in logs if e["event"] == "replication.batch_refused" and "link" in e] == ["not_allowed"]


def _stream(channel: grpc.Channel, *messages: pb.ClientMessage) -> list[pb.ServerMessage]:
    stub = pb_grpc.ReplicationStub(channel)
    return list(stub.Stream(iter(messages), timeout=DEADLINE))


def test_refusal_not_allowed_keeps_the_stream_open(channel: grpc.Channel, sink: FakeSink) -> None:
    own = seal_batch(COUNTY, ZERO_HASH, records_of(COUNTY, 3))
    foreign = seal_batch(OTHER_COUNTY, ZERO_HASH, records_of(OTHER_COUNTY, 3))
    answers = _stream(
        channel,
        convert.client_message_to_proto(convert.Hello(COUNTY, (COUNTY, OTHER_COUNTY))),
        convert.client_message_to_proto(foreign),
        convert.client_message_to_proto(own),
    )
    welcome, refusal, ack = (convert.server_message_from_proto(m) for m in answers)
    assert welcome == convert.Welcome(PROVINCE, (Mark(COUNTY),))  # no marks of origins it may not send
    assert isinstance(refusal, BatchRefused)
    assert (refusal.reason, refusal.origin, refusal.high_water) == ("not_allowed", OTHER_COUNTY, 0)
    assert "无权发送" in refusal.message
    assert ack == Receipt(Mark(COUNTY, 3, own.batch_hash))


@pytest.mark.parametrize(
    "first",
    [
        pb.ClientMessage(batch=pb.Batch(origin=COUNTY)),
        pb.ClientMessage(),
        pb.ClientMessage(hello=pb.Hello(sender="not-a-division")),
    ],
    ids=["batch", "empty", "bad-sender"],
)
def test_a_stream_must_open_with_a_valid_hello(channel: grpc.Channel, first: pb.ClientMessage) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _stream(channel, first)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert any("\u4e00" <= ch <= "\u9fff" for ch in caught.value.details() or "")  # a Chinese message


def test_a_second_hello_aborts_the_stream(channel: grpc.Channel) -> None:
    hello = pb.ClientMessage(hello=pb.Hello(sender=COUNTY, origins=[COUNTY]))
    with pytest.raises(grpc.RpcError) as caught:
        _stream(channel, hello, hello)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (ValidationError("记录字段缺失"), "INVALID_ARGUMENT", "记录字段缺失"),
        (NotFound("找不到事项"), "NOT_FOUND", "找不到事项"),
        (Conflict("状态冲突"), "FAILED_PRECONDITION", "状态冲突"),
        (StorageError("数据库暂时不可用"), "UNAVAILABLE", "数据库暂时不可用"),
        (SunshineError("未归类的错误"), "INTERNAL", "未归类的错误"),
        (RuntimeError("a bug with a traceback"), "INTERNAL", "接收端内部错误"),
    ],
)
def test_receiver_failures_reach_the_sender_as_one_typed_error(
    server: RunningServer, sink: FakeSink, error: Exception, status: str, message: str
) -> None:
    source = city_source()
    sink.fail_with = error
    with capture_logs(), pytest.raises(LinkError) as caught:
        make_link(server.target, source).run_once()
    assert caught.value.status == status
    assert message in caught.value.message
    assert "Traceback" not in caught.value.message
    sink.fail_with = None
    make_link(server.target, source).run_once()  # the next session resumes and converges
    assert_converged(source, sink, [CITY, COUNTY, OTHER_COUNTY])


def test_status_reports_the_marks_held(server: RunningServer, sink: FakeSink, channel: grpc.Channel) -> None:
    make_link(server.target, city_source()).run_once()
    reply = pb_grpc.ReplicationStub(channel).Status(pb.StatusRequest(origin_prefix="3711"), timeout=DEADLINE)
    receiver, statuses = convert.status_reply_from_proto(reply)
    assert receiver == PROVINCE
    assert {s.mark.origin: s.mark.high_water for s in statuses} == {CITY: 23, OTHER_COUNTY: 9, COUNTY: 17}
    everything = pb_grpc.ReplicationStub(channel).Status(pb.StatusRequest(), timeout=DEADLINE)
    assert len(everything.origins) == 3


# --- the server around the service ---------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["", SERVICE_NAME])
def test_health_check_answers_serving(channel: grpc.Channel, service: str) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service=service)
    reply = stub.Check(request, timeout=DEADLINE)  # type: ignore[attr-defined]  # typeshed's stub lists no RPCs
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_service(channel: grpc.Channel) -> None:
    db = ProtoReflectionDescriptorDatabase(channel)
    services = db.get_services()
    assert SERVICE_NAME in services
    assert "grpc.health.v1.Health" in services
    assert db.FindFileContainingSymbol(SERVICE_NAME).name == "federation/wire/v1/replication.proto"


def test_every_rpc_of_the_contract_is_implemented() -> None:
    """Like temporalio's service test: an RPC added to the proto must not fall back to UNIMPLEMENTED."""
    declared = {m.name for m in pb.DESCRIPTOR.services_by_name["Replication"].methods}
    generated = {n for n in vars(pb_grpc.ReplicationServicer) if not n.startswith("_")}
    assert declared == generated
    for name in declared:
        ours = getattr(ReplicationServicer, name)
        assert ours is not getattr(pb_grpc.ReplicationServicer, name), f"{name} is not implemented"
