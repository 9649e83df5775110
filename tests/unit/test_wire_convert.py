"""Domain ⇄ protobuf conversion (sync_agent.convert): every pair round-trips, malformed input is refused."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.errors import InvalidDivisionCode, SyncError, ValidationError
from federation.replication import Record
from federation.wire.v1 import replication_pb2 as pb
from sync_agent import convert
from sync_agent.convert import Hello, OriginStatus, Welcome
from sync_agent.domain import ZERO_HASH, Batch, Mark, RefusalReason, check_batch, seal_batch
from sync_agent.errors import BatchRefused
from sync_agent.ports import Receipt

ORIGIN = "371122"


def _records(first: int, n: int) -> list[Record]:
    return [
        Record(
            "case", f"371122-20260921-{seq:06d}", "upsert", seq, f'{{"n":{seq},"名":"张三"}}'.encode(), 1_790_000 + seq
        )
        for seq in range(first, first + n)
    ]


def _batch(first: int = 1, n: int = 3, prev: bytes = ZERO_HASH) -> Batch:
    return seal_batch(ORIGIN, prev, _records(first, n))


def _wire(message: pb.Batch) -> pb.Batch:
    """What the peer receives: the message serialised and parsed again."""
    return pb.Batch.FromString(message.SerializeToString())


records = st.builds(
    Record,
    record_type=st.text(max_size=20),
    record_id=st.text(max_size=40),
    op=st.sampled_from(["upsert", "insert", "delete"]),
    origin_seq=st.integers(0, 2**64 - 1),
    payload=st.binary(max_size=200),
    created_at_us=st.integers(-(2**63), 2**63 - 1),
)


@given(records)
def test_record_round_trip(record: Record) -> None:
    assert convert.record_from_proto(pb.Record.FromString(convert.record_to_proto(record).SerializeToString())) == (
        record
    )


@given(records, st.booleans())
def test_record_round_trip_with_compressed_payload(record: Record, compress: bool) -> None:
    message = convert.record_to_proto(record, compress=compress)
    assert convert.record_from_proto(message, compressed=compress) == record


@pytest.mark.parametrize("compress", [False, True])
def test_batch_round_trip_keeps_the_hash_valid(compress: bool) -> None:
    batch = _batch(n=5)
    batch = Batch(**{**{f: getattr(batch, f) for f in Batch.__slots__}, "signature": b"sig"})
    message = _wire(convert.batch_to_proto(batch, compress=compress))
    assert message.gzip is compress
    back = convert.batch_from_proto(message)
    assert back == batch
    check_batch(Mark(ORIGIN), back)  # the receiver's check passes on what crossed the wire


def test_compression_shrinks_repetitive_payloads() -> None:
    big = [Record("case", str(i), "upsert", i, b'{"text":"' + b"a" * 4000 + b'"}', 0) for i in range(1, 4)]
    batch = seal_batch(ORIGIN, ZERO_HASH, big)
    assert convert.batch_to_proto(batch, compress=True).ByteSize() * 10 < convert.batch_to_proto(batch).ByteSize()


@pytest.mark.parametrize(
    "mark",
    [Mark(ORIGIN), Mark(ORIGIN, 42, bytes(range(32))), Mark("371100", 2**64 - 1, b"\xff" * 32)],
)
def test_mark_round_trip(mark: Mark) -> None:
    assert convert.mark_from_proto(pb.OriginMark.FromString(convert.mark_to_proto(mark).SerializeToString())) == mark


def test_a_mark_with_no_hash_on_the_wire_reads_as_the_zero_hash() -> None:
    assert convert.mark_from_proto(pb.OriginMark(origin=ORIGIN)) == Mark(ORIGIN, 0, ZERO_HASH)


@pytest.mark.parametrize("receipt", [Receipt(Mark(ORIGIN, 7, b"\x01" * 32)), Receipt(Mark(ORIGIN, 9, b"h" * 32), 2)])
def test_ack_round_trip(receipt: Receipt) -> None:
    assert convert.ack_from_proto(convert.ack_to_proto(receipt)) == receipt


def test_ack_does_not_carry_the_duplicate_flag() -> None:
    receipt = Receipt(Mark(ORIGIN, 7, b"\x01" * 32), duplicate=True)
    assert convert.ack_from_proto(convert.ack_to_proto(receipt)) == Receipt(receipt.mark)


@pytest.mark.parametrize("reason", list(RefusalReason))
def test_every_refusal_reason_round_trips(reason: RefusalReason) -> None:
    refused = BatchRefused("批次哈希与内容不符", reason=reason.value, origin=ORIGIN, high_water=12, last_hash=b"x" * 32)
    back = convert.refusal_from_proto(pb.Refusal.FromString(convert.refusal_to_proto(refused).SerializeToString()))
    assert (back.reason, back.origin, back.high_water, back.last_hash, back.message) == (
        reason.value,
        ORIGIN,
        12,
        b"x" * 32,
        "批次哈希与内容不符",
    )


def test_reason_names_match_between_domain_and_wire() -> None:
    wire_names = {n for n in pb.Refusal.Reason.keys() if n != "REASON_UNSPECIFIED"}  # noqa: SIM118 — not a dict
    assert wire_names == {r.name for r in RefusalReason}
    for reason in RefusalReason:
        assert pb.Refusal.Reason.Name(convert.reason_to_proto(reason)) == reason.name


@pytest.mark.parametrize("value", [pb.Refusal.REASON_UNSPECIFIED, 99])
def test_an_unknown_refusal_reason_is_a_sync_error(value: int) -> None:
    with pytest.raises(SyncError, match="无法识别"):
        convert.refusal_from_proto(pb.Refusal(origin=ORIGIN, reason=value))  # type: ignore[arg-type]


def test_hello_welcome_and_status_round_trip() -> None:
    hello = Hello("371100", ("371100", "371122", "371121"), "sunshine-sync-agent/1")
    assert convert.hello_from_proto(convert.hello_to_proto(hello)) == hello
    welcome = Welcome("370000", (Mark("371100", 3, b"a" * 32), Mark("371122")))
    assert convert.welcome_from_proto(convert.welcome_to_proto(welcome)) == welcome
    statuses = (OriginStatus(Mark("371122", 5, b"b" * 32), 5, 1_790_000_000, 1), OriginStatus(Mark("371121")))
    assert convert.status_reply_from_proto(convert.status_reply_to_proto("370000", statuses)) == ("370000", statuses)


def test_a_hello_from_an_invalid_sender_is_a_validation_error() -> None:
    with pytest.raises(InvalidDivisionCode):
        convert.hello_from_proto(pb.Hello(sender="37112"))


@pytest.mark.parametrize(
    "item",
    [
        Welcome("370000", (Mark(ORIGIN, 3, b"a" * 32),)),
        Receipt(Mark(ORIGIN, 3, b"a" * 32), 1),
    ],
)
def test_server_messages_round_trip(item: Welcome | Receipt) -> None:
    wire = pb.ServerMessage.FromString(convert.server_message_to_proto(item).SerializeToString())
    assert convert.server_message_from_proto(wire) == item


def test_a_refusal_envelope_comes_back_as_batch_refused() -> None:
    refused = BatchRefused("不连续", reason="gap", origin=ORIGIN, high_water=4, last_hash=b"z" * 32)
    back = convert.server_message_from_proto(convert.server_message_to_proto(refused))
    assert isinstance(back, BatchRefused)
    assert (back.reason, back.high_water) == ("gap", 4)


def test_an_empty_server_message_is_a_sync_error() -> None:
    with pytest.raises(SyncError):
        convert.server_message_from_proto(pb.ServerMessage())


def test_client_message_envelopes() -> None:
    hello = convert.client_message_to_proto(Hello(ORIGIN, (ORIGIN,)))
    batch = convert.client_message_to_proto(_batch())
    assert convert.client_message_kind(hello) == "hello"
    assert convert.client_message_kind(batch) == "batch"
    assert convert.batch_from_proto(batch.batch) == _batch()
    with pytest.raises(ValidationError):
        convert.client_message_kind(pb.ClientMessage())


# --- malformed input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["", "37112", "3711220", "０７１１２２", "371122\n"])
def test_a_batch_from_an_invalid_origin_is_refused_as_malformed(origin: str) -> None:
    message = convert.batch_to_proto(_batch())
    message.origin = origin
    with pytest.raises(BatchRefused) as caught:
        convert.batch_from_proto(_wire(message))
    assert caught.value.reason == RefusalReason.MALFORMED.value
    assert (caught.value.high_water, caught.value.last_hash) == (0, ZERO_HASH)


@pytest.mark.parametrize(
    "payload",
    [
        b"not gzip at all",
        gzip.compress(b'{"a":1}', mtime=0)[:-3],  # truncated
        gzip.compress(b'{"a":1}', mtime=0) + b"trailing",
        gzip.compress(b"\0" * (convert.MAX_PAYLOAD_BYTES + 1), mtime=0),  # a decompression bomb
    ],
    ids=["garbage", "truncated", "padded", "bomb"],
)
def test_a_compressed_batch_that_does_not_decompress_is_refused_as_malformed(payload: bytes) -> None:
    message = convert.batch_to_proto(_batch(), compress=True)
    message.records[1].payload = payload
    with pytest.raises(BatchRefused, match="无法解压") as caught:
        convert.batch_from_proto(_wire(message))
    assert caught.value.reason == RefusalReason.MALFORMED.value


def test_structural_faults_pass_conversion_and_are_caught_by_the_chain_check() -> None:
    """Conversion is faithful; gaps, short hashes and altered bytes are check_batch's to refuse."""
    message = convert.batch_to_proto(_batch(n=3))
    message.records[1].payload = b'{"n":2,"altered":true}'
    with pytest.raises(BatchRefused) as caught:
        check_batch(Mark(ORIGIN), convert.batch_from_proto(_wire(message)))
    assert caught.value.reason == RefusalReason.BAD_HASH.value
    message = convert.batch_to_proto(_batch(n=3))
    message.prev_hash = b"short"
    with pytest.raises(BatchRefused) as caught:
        check_batch(Mark(ORIGIN), convert.batch_from_proto(_wire(message)))
    assert caught.value.reason == RefusalReason.MALFORMED.value
