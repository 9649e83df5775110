"""The replicated-row decoder's fast paths give exactly what its converters give, and refuse what they refuse."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import JSON, BigInteger, Boolean, Column, Integer, MetaData, Numeric, String, Table, Text

from federation.errors import RecordRejected
from federation.storage.rows import RowDecoder, parse_moment
from federation.storage.types import UTCDateTime

MOMENTS = [
    "2026-01-05T09:30:00+08:00",
    "2026-01-05T09:30:00.123456+08:00",
    "2026-01-05 09:30:00+08:00",
    "2026-01-05T09:30:00.5+08:00",
    "2026-01-05T09:30+08:00",
    "2026-01-05T09:30:00+00:00",
    "2026-01-05T09:30:00-05:30",
    "2026-01-05+08:00",
    "2026-01-05T09:30:00Z+08:00",
    "xxxxxxxxxxxxxxxxxxxx+08:00",
    "2026-13-05T09:30:00+08:00",
    "2026-01-05T09:30:00+08:00:00",
    "2026-01-05T09:30:00",
]


def _reference(text: str) -> datetime | str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return "format"
    return moment if moment.tzinfo is not None else "no zone"


def _parsed(text: str) -> datetime | str:
    try:
        return parse_moment(text, "at")
    except RecordRejected as exc:
        return "no zone" if "缺少时区" in exc.message else "format"


@pytest.mark.parametrize("rounds", [2])
def test_a_moment_parses_as_fromisoformat_parses_it_whether_its_offset_was_seen_or_not(rounds: int) -> None:
    for _ in range(rounds):  # the second round takes the fast path for every offset seen in the first
        for text in MOMENTS:
            expected, got = _reference(text), _parsed(text)
            assert type(got) is type(expected), text
            assert got == expected, text
            if isinstance(got, datetime) and isinstance(expected, datetime):
                assert got.isoformat() == expected.isoformat()
                assert got.tzinfo == expected.tzinfo


_TABLE = Table(
    "fast",
    MetaData(),
    Column("name", String(4), nullable=False),
    Column("note", Text),
    Column("n", Integer, nullable=False),
    Column("big", BigInteger),
    Column("at", UTCDateTime),
    Column("fee", Numeric(12, 2)),
    Column("flag", Boolean),
    Column("doc", JSON, nullable=False),
    Column("extra_doc", JSON),
)


def test_text_and_integer_fields_take_the_fast_path_only_when_well_formed() -> None:
    decoder = RowDecoder(_TABLE, ["name", "note", "n", "big", "at"], label="测试")
    row = decoder.decode({"name": "abcd", "n": 2**31 - 1, "big": -(2**63), "at": "2026-01-05T09:30:00+08:00"})
    assert row == {
        "name": "abcd",
        "note": None,
        "n": 2**31 - 1,
        "big": -(2**63),
        "at": datetime.fromisoformat("2026-01-05T09:30:00+08:00"),
    }
    for bad, field in (
        ({"name": "abcde", "n": 1}, "name"),  # over String(4)
        ({"name": "a\x00", "n": 1}, "name"),  # a NUL
        ({"name": "a", "n": 2**31}, "n"),  # over int32
        ({"name": "a", "n": True}, "n"),  # a bool is not an integer
        ({"name": "a", "n": "1"}, "n"),  # text is not an integer
        ({"name": 1, "n": 1}, "name"),  # an integer is not text
        ({"name": "a", "n": 1, "big": 2**63}, "big"),
        ({"n": 1}, "name"),  # missing
    ):
        with pytest.raises(RecordRejected) as caught:
            decoder.decode(bad)
        assert caught.value.details.get("field") == field, bad


# -- decode_json: the typed (msgspec) path agrees with json.loads + decode on every payload ------------------------

_COLUMNS = ["name", "note", "n", "big", "at", "fee", "flag", "doc", "extra_doc"]

_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63 - 1, 2**63, 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(["abcd", "abcde", "a\x00", "0.005", "12.5", "1e3", "x", *MOMENTS]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
_GOOD = {"name": "ab", "n": 7, "doc": {"k": [1]}, "at": "2026-01-05T09:30:00+08:00", "fee": "12.50", "flag": True}
_PAYLOADS = st.one_of(  # anything, and a good payload with a few fields changed or dropped
    st.fixed_dictionaries({}, optional=dict.fromkeys([*_COLUMNS, "other"], _VALUES)),
    st.builds(
        lambda changed, dropped: {k: v for k, v in {**_GOOD, **changed}.items() if k not in dropped},
        st.dictionaries(st.sampled_from([*_COLUMNS, "other"]), _VALUES, max_size=2),
        st.sets(st.sampled_from(_COLUMNS), max_size=1),
    ),
)


def _plain(decoder: RowDecoder, text: bytes) -> dict[str, Any] | str:
    try:
        payload = json.loads(text)
        if not isinstance(payload, dict):
            return "not an object"
        return decoder.decode(payload)
    except (ValueError, RecordRejected) as exc:
        return type(exc).__name__


@pytest.mark.parametrize("json_text", [False, True])
@settings(max_examples=400, deadline=None)
@given(payload=_PAYLOADS)
@example(payload={**_GOOD, "extra_doc": None, "at": None})  # null in a nullable JSON column: taken, as null
def test_the_typed_path_takes_a_payload_only_as_the_plain_path_does(json_text: bool, payload: dict[str, Any]) -> None:
    decoder = RowDecoder(_TABLE, _COLUMNS, label="测试", json_text=json_text)
    text = json.dumps(payload, ensure_ascii=False).encode()
    fast, plain = decoder.decode_json(text), _plain(decoder, text)
    if fast is not None:  # what the typed path takes, the plain path takes, and gives the same row
        assert isinstance(plain, dict)
        if json_text:  # JSON columns as text: the same JSON (the text as received, canonical on the plain path)
            for name in ("doc", "extra_doc"):
                fast[name], plain[name] = (None if r[name] is None else json.loads(r[name]) for r in (fast, plain))
        assert fast == plain
    if fast is None and isinstance(plain, dict):  # a good payload it leaves: an escaped NUL, a moment it cannot read
        assert b"\\u0000" in text or plain["at"] is not None


def test_the_typed_path_keeps_a_json_column_as_the_text_received() -> None:
    decoder = RowDecoder(_TABLE, _COLUMNS, label="测试", json_text=True, extra={"id": str})
    text = '{"name":"ab","n":1,"doc":{"b":[1,2],"a":"办件"},"id":"x#1"}'.encode()
    row = decoder.decode_json(text)
    assert row is not None
    assert row["doc"] == '{"b":[1,2],"a":"办件"}'  # as received, not re-serialised
    assert row["extra_doc"] is None
    assert row["id"] == "x#1"
    assert decoder.decode(json.loads(text))["doc"] == '{"a":"办件","b":[1,2]}'  # the plain path: canonical text
    for left_to_the_plain_path in (
        b'{"name":"ab","n":1,"doc":null}',  # a NOT NULL JSON column
        b'{"name":"ab","n":1,"doc":3}',  # not an object or array
        b'{"name":"a\\u0000","n":1,"doc":{}}',  # an escaped NUL
        b'{"name":"ab","n":1,"doc":{}',  # malformed
        b'{"name":"ab","n":true,"doc":{}}',  # a bool for an integer
        b'{"name":"ab","n":1,"doc":{},"at":"2026-01-05T09:30:00"}',  # no time zone
    ):
        assert decoder.decode_json(left_to_the_plain_path) is None, left_to_the_plain_path
