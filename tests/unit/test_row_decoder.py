"""The replicated-row decoder's fast paths give exactly what its converters give, and refuse what they refuse."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text

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


def test_text_and_integer_fields_take_the_fast_path_only_when_well_formed() -> None:
    table = Table(
        "t",
        MetaData(),
        Column("name", String(4), nullable=False),
        Column("note", Text),
        Column("n", Integer, nullable=False),
        Column("big", BigInteger),
        Column("at", UTCDateTime),
    )
    decoder = RowDecoder(table, ["name", "note", "n", "big", "at"], label="测试")
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
