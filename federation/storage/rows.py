"""Decode a replicated JSON payload into a row of a table, checked against the table's own column types.

A receiver must never let one malformed record roll back a batch, so every value is checked *before* it reaches
the database: its JSON type, the length of a ``String(n)``, the range of an ``Integer``, the precision of a
``Numeric``, an aware ISO-8601 moment for a ``UTCDateTime``, no NUL character (PostgreSQL text cannot hold one).
The converters are derived once per table from the metadata, so a column added to the schema is checked the
same way without code here.

:meth:`RowDecoder.decode_json` decodes a payload's JSON text straight into the row, the same checks made in C
(``msgspec``, with a type per column derived from the same metadata; moments and numerics still go through their
converters); whatever it cannot take (a value of an unexpected kind, an escaped NUL, malformed or too deeply
nested JSON, an integer longer than ``json.loads`` reads) it leaves to the plain path — ``json.loads`` and
:meth:`RowDecoder.decode` — which accepts what is right and names what is wrong, so both paths agree on every
payload and every reason comes from one place.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import msgspec
from sqlalchemy import JSON, BigInteger, Boolean, Integer, Numeric, String, Table
from sqlalchemy.types import TypeEngine

from federation.errors import RecordRejected
from federation.storage.outbox import canonical_json
from federation.storage.types import UTCDateTime

__all__ = ["RowDecoder", "parse_moment"]

Converter = Callable[[Any], Any]

_INT32 = 2**31 - 1
_INT64 = 2**63 - 1
_UNBOUNDED = 2**62  # the length bound of a text column without one


def _reject(message: str, field: str) -> RecordRejected:
    return RecordRejected(message, field=field)


_OFFSETS: dict[str, tzinfo] = {}  # "+08:00" → the tzinfo ``datetime.fromisoformat`` gives it, once seen
_MAX_OFFSETS = 64


def parse_moment(value: Any, field: str) -> datetime:
    """An aware moment from its ISO-8601 text (the outbox writes ``datetime.isoformat()``).

    ``datetime.fromisoformat`` builds a new ``timezone`` for every offset it reads, most of the time it takes:
    a moment ending in an offset already seen (``±HH:MM``, the same text) is parsed without it and given that
    offset's ``timezone`` — the same value, compared and stored alike."""
    if not isinstance(value, str):
        raise _reject(f"字段“{field}”应为 ISO 8601 时间文本", field)
    offset = _OFFSETS.get(value[-6:]) if len(value) > 16 and value[-3] == ":" else None
    if offset is not None and (value[10] == "T" or value[10] == " "):
        try:
            local = datetime.fromisoformat(value[:-6])
        except ValueError:
            local = None  # the whole text decides, below
        if local is not None and local.tzinfo is None:
            return _storable(local.replace(tzinfo=offset), field)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _reject(f"字段“{field}”的时间“{value[:40]}”格式错误", field) from None
    if moment.tzinfo is None:
        raise _reject(f"字段“{field}”的时间缺少时区", field)
    suffix = value[-6:]
    if suffix not in _OFFSETS and len(_OFFSETS) < _MAX_OFFSETS and _is_offset(suffix):
        _OFFSETS[suffix] = moment.tzinfo
    return _storable(moment, field)


def _storable(moment: datetime, field: str) -> datetime:
    """``moment`` if it is a UTC moment of years 1–9999 (what ``UTCDateTime`` stores): at the ends of that range
    an offset can move it out (``0001-01-01T00:00:00+08:00``), and storing it would fail the whole batch."""
    if moment.year in {1, 9999}:
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise _reject(f"字段“{field}”的时间超出范围", field) from None
    return moment


def _is_offset(text: str) -> bool:
    """``±HH:MM``."""
    return text[0] in "+-" and text[1:3].isdigit() and text[3] == ":" and text[4:6].isdigit()


def _text(field: str, length: int | None) -> Converter:
    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            raise _reject(f"字段“{field}”应为文本", field)
        if length is not None and len(value) > length:
            raise _reject(f"字段“{field}”超过 {length} 个字符", field)
        if "\x00" in value:
            raise _reject(f"字段“{field}”含有空字符（NUL）", field)
        return value

    return convert


def _integer(field: str, bound: int) -> Converter:
    def convert(value: Any) -> Any:
        if type(value) is not int:  # bool is an int subclass: refused
            raise _reject(f"字段“{field}”应为整数", field)
        if not -bound - 1 <= value <= bound:
            raise _reject(f"字段“{field}”超出整数范围", field)
        return value

    return convert


def _boolean(field: str) -> Converter:
    def convert(value: Any) -> Any:
        if not isinstance(value, bool):
            raise _reject(f"字段“{field}”应为 true 或 false", field)
        return value

    return convert


def _numeric(field: str, precision: int | None, scale: int | None) -> Converter:
    limit = Decimal(10) ** ((precision or 38) - (scale or 0))
    quantum = None if scale is None else Decimal(1).scaleb(-scale)

    def convert(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _reject(f"字段“{field}”应为数值", field)
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise _reject(f"字段“{field}”的数值“{str(value)[:40]}”格式错误", field) from None
        if not number.is_finite() or abs(number) >= limit:
            raise _reject(f"字段“{field}”的数值超出范围", field)
        return number if quantum is None else number.quantize(quantum)

    return convert


def _moment(field: str) -> Converter:
    return lambda value: parse_moment(value, field)


def _json(field: str) -> Converter:
    def convert(value: Any) -> Any:
        if not isinstance(value, dict | list):
            raise _reject(f"字段“{field}”应为 JSON 对象或数组", field)
        return value

    return convert


def _converter(field: str, type_: TypeEngine[Any]) -> Converter:
    # order matters: BigInteger is an Integer, Text is a String
    if isinstance(type_, UTCDateTime):
        return _moment(field)
    if isinstance(type_, String):
        return _text(field, type_.length)
    if isinstance(type_, BigInteger):
        return _integer(field, _INT64)
    if isinstance(type_, Integer):
        return _integer(field, _INT32)
    if isinstance(type_, Boolean):
        return _boolean(field)
    if isinstance(type_, Numeric):
        return _numeric(field, type_.precision, type_.scale)
    if isinstance(type_, JSON):
        return _json(field)
    raise NotImplementedError(f"no replicated-row converter for column {field} of type {type_!r}")


def _typed(type_: TypeEngine[Any], json_text: bool) -> tuple[Any, bool]:
    """The ``msgspec`` type a column's value is decoded as, and whether :func:`_converter` still converts it
    after decoding (a numeric, a moment)."""
    if isinstance(type_, UTCDateTime):  # text: parse_moment decides (msgspec rounds, and takes "t"/"z")
        return str, True
    if isinstance(type_, String):
        return (str if type_.length is None else Annotated[str, msgspec.Meta(max_length=type_.length)]), False
    if isinstance(type_, BigInteger):
        return Annotated[int, msgspec.Meta(ge=-_INT64 - 1, le=_INT64)], False
    if isinstance(type_, Integer):
        return Annotated[int, msgspec.Meta(ge=-_INT32 - 1, le=_INT32)], False
    if isinstance(type_, Boolean):
        return bool, False
    if isinstance(type_, Numeric):
        return str | int | float, True
    if isinstance(type_, JSON):
        return (msgspec.Raw if json_text else dict[str, Any] | list[Any]), False
    raise NotImplementedError(f"no replicated-row type for {type_!r}")


_ESCAPED_NUL = b"\\u0000"
_MAX_DIGITS = sys.get_int_max_str_digits() or 4300  # json.loads refuses an integer longer than this
_LONG_NUMBER = re.compile(rb"\d{%d}" % _MAX_DIGITS)
_FAST_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, RecursionError)  # too deep: the plain path says so


class RowDecoder:
    """Checks and converts the payload fields named after ``columns`` of ``table`` into a row dict.

    A ``NOT NULL`` column must be present and not null; a nullable column may be absent (read as null), so an
    origin running an older schema still replicates. Keys that are not among ``columns`` are ignored."""

    def __init__(
        self,
        table: Table,
        columns: Iterable[str],
        *,
        label: str,
        json_text: bool = False,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """``json_text``: a JSON column's value is its canonical JSON text (:func:`canonical_json`), as received
        when it can be (the row is written with the column's serialiser bypassed), not the decoded value.
        ``extra``: payload fields that are not columns that :meth:`decode_json` also returns, each with its
        ``msgspec`` type (absent: ``None``)."""
        self.table = table
        self.label = label  # the record in Chinese, for the reason of a rejection (e.g. "办件")
        self.json_text = json_text
        self._fields: list[tuple[str, Converter, bool]] = []
        # (name, converter, nullable, text bound, integer bound): the bounds let ``decode`` take a well-formed text
        # or integer without calling its converter (the same checks, inlined; -1: not that kind)
        self._fast: list[tuple[str, Converter, bool, int, int]] = []
        for name in columns:
            col = table.c[name]
            convert = _converter(name, col.type)
            self._fields.append((name, convert, bool(col.nullable)))
            text = integer = -1
            if isinstance(col.type, String) and not isinstance(col.type, UTCDateTime):
                text = col.type.length if col.type.length is not None else _UNBOUNDED
            elif isinstance(col.type, BigInteger):
                integer = _INT64
            elif isinstance(col.type, Integer):
                integer = _INT32
            self._fast.append((name, convert, bool(col.nullable), text, integer))
        self._json_columns = [name for name, _, _ in self._fields if isinstance(table.c[name].type, JSON)]
        self._typed, self._after = self._typed_decoder(extra or {})

    def _typed_decoder(self, extra: Mapping[str, Any]) -> tuple[msgspec.json.Decoder[Any], list[tuple[str, Any]]]:
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        after: list[tuple[str, Any]] = []  # (column, what to do once decoded: a converter, or "json")
        for column, convert, nullable in self._fields:
            type_, converting = _typed(self.table.c[column].type, self.json_text)
            name = str(column)  # a column's name may be a str subclass (quoted_name); msgspec takes str only
            if type_ is msgspec.Raw:
                fields.append((name, type_, msgspec.Raw()) if nullable else (name, type_))
                after.append((name, "json or null" if nullable else "json"))
                continue
            fields.append((name, type_ | None, None) if nullable else (name, type_))
            if converting:
                after.append((name, convert))
        fields += [(name, type_ | None, None) for name, type_ in extra.items()]
        self._struct = msgspec.defstruct(f"{self.table.name}_row", fields, kw_only=True)
        return msgspec.json.Decoder(self._struct), after

    @property
    def columns(self) -> list[str]:
        return [name for name, _, _ in self._fields]

    def decode(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The row of ``payload``; raises RecordRejected naming the first field that is wrong."""
        row: dict[str, Any] = {}
        get = payload.get
        for name, convert, nullable, text, integer in self._fast:
            value = get(name)
            if value is None:
                if not nullable:
                    raise _reject(f"{self.label}记录缺少必填字段“{name}”", name)
                row[name] = None
            elif (value.__class__ is str and len(value) <= text and "\x00" not in value) or (
                value.__class__ is int and -integer - 1 <= value <= integer
            ):
                row[name] = value
            else:  # another kind, or wrong: the converter converts it or says what is wrong
                row[name] = convert(value)
        if self.json_text:
            for name in self._json_columns:
                if row[name] is not None:
                    row[name] = canonical_json(row[name])
        return row

    @property
    def struct(self) -> type[msgspec.Struct]:
        """The ``msgspec`` type of a payload (nest it in another decoder's ``extra``: ``list[d.struct]``)."""
        return self._struct

    def decode_json(self, text: bytes) -> dict[str, Any] | None:
        """The row of the JSON payload ``text`` (UTF-8), with the ``extra`` fields — or None if the fast path
        cannot tell (then ``decode(json.loads(text))`` decides, and names what is wrong)."""
        if _ESCAPED_NUL in text:  # a NUL can only come in escaped: the plain path refuses it where it must
            return None
        if len(text) > _MAX_DIGITS and _LONG_NUMBER.search(text):  # json.loads refuses it: so must this path
            return None
        try:
            decoded = self._typed.decode(text)
        except _FAST_ERRORS:
            return None
        return self.row_of(decoded)

    def rows_of(self, decoded: list[msgspec.Struct] | None) -> list[dict[str, Any]] | None:
        """:meth:`row_of` of each payload of a nested list (None: absent, or one the fast path cannot tell)."""
        if decoded is None:
            return None
        rows = []
        for item in decoded:
            row = self.row_of(item)
            if row is None:
                return None
            rows.append(row)
        return rows

    def row_of(self, decoded: msgspec.Struct) -> dict[str, Any] | None:
        """The row of a payload decoded as :attr:`struct` (None: one the fast path cannot tell)."""
        row = msgspec.structs.asdict(decoded)
        for name, then in self._after:
            value = row[name]
            if then in {"json", "json or null"}:
                if not value:  # absent (nullable)
                    row[name] = None
                    continue
                text_of = bytes(value).decode()
                if then == "json or null" and text_of == "null":
                    row[name] = None
                    continue
                if text_of[0] not in "{[":  # null where it may not be, or not an object or array: the plain path
                    return None
                row[name] = text_of
            elif value is not None:
                try:
                    row[name] = then(value)
                except RecordRejected:
                    return None
        return row
