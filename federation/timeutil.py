"""Time zone and day arithmetic shared by every tier.

All moments are timezone-aware. Halls count days in China Standard Time (UTC+8, no daylight saving since
1991), so the local date of a moment is computed with a fixed offset, cheaply.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from federation.errors import ValidationError

if TYPE_CHECKING:
    from federation.config import SimulationConfig

__all__ = [
    "CST",
    "MAX_YEAR",
    "MIN_YEAR",
    "UTC",
    "Clock",
    "SimulatedClock",
    "check_moment",
    "from_us",
    "local_date",
    "local_ordinal",
    "node_clock",
    "ordinal_to_date",
    "start_of_local_day",
    "to_us",
    "utcnow",
]

CST = timezone(timedelta(hours=8), "CST")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_CST_OFFSET_S = 8 * 3600


Clock = Callable[[], datetime]
"""A node's "now": a zero-argument callable returning an aware moment (tests and the demo inject their own)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


MIN_YEAR = 2000
MAX_YEAR = 2099
"""The years a moment given to a node may fall in (both as local time and as UTC): a hall's records, its video and
its reports are of this century; outside it a moment is a typo, and near year 1 or 9999 arithmetic overflows."""


def check_moment(moment: datetime, field: str) -> datetime:
    """``moment`` itself if it is aware and falls in :data:`MIN_YEAR`–:data:`MAX_YEAR` both in its own offset, in
    China Standard Time and in UTC; a :class:`ValidationError` naming ``field`` otherwise (never an overflow)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(f"{field} 须为带时区的时间", field=field)
    if MIN_YEAR <= moment.year <= MAX_YEAR and all(  # the year first, so the conversions cannot overflow
        MIN_YEAR <= m.year <= MAX_YEAR for m in (moment.astimezone(UTC), moment.astimezone(CST))
    ):
        return moment
    raise ValidationError(
        f"{field} 的时间 {moment.isoformat()} 超出范围：应在 {MIN_YEAR} 年至 {MAX_YEAR} 年之间", field=field
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch, exactly (no float rounding): how a record's moment crosses the wire."""
    return (moment - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def local_ordinal(moment: datetime) -> int:
    """Proleptic ordinal of the China-Standard-Time date of an aware ``moment`` (fast path, no tz objects)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: Sunshine only handles timezone-aware moments")
    return int((moment.timestamp() + _CST_OFFSET_S) // 86400) + _EPOCH_ORDINAL


def local_date(moment: datetime) -> date:
    return date.fromordinal(local_ordinal(moment))


def ordinal_to_date(ordinal: int) -> date:
    return date.fromordinal(ordinal)


def start_of_local_day(day: date | int) -> datetime:
    """00:00 China Standard Time of ``day`` (a date or a proleptic ordinal)."""
    d = date.fromordinal(day) if isinstance(day, int) else day
    return datetime(d.year, d.month, d.day, tzinfo=CST)


class SimulatedClock:
    """A clock that starts at ``start`` and runs ``speed`` times faster than real time (demo only).

    Monotonic underneath, so the simulated time never goes backwards. With an ``anchor`` (the real moment the
    clock read ``start``), every process given the same start, speed and anchor reads the same simulated time.
    """

    def __init__(self, start: datetime, speed: float, *, anchor: datetime | None = None) -> None:
        import time

        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs an aware start moment")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._monotonic = time.monotonic
        self._t0 = time.monotonic()
        if anchor is not None:  # the monotonic origin moved back to the anchor's real moment
            self._t0 -= (datetime.now(UTC) - anchor).total_seconds()
        self.start = start
        self.speed = speed

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(self._monotonic() - self._t0) * self.speed)


def node_clock(simulation: SimulationConfig) -> Clock:
    """The node's clock as ``[simulation]`` configures it: the real clock, or (the demo) a simulated one that
    starts at ``simulation.start`` (default: now) and runs ``simulation.speed`` × real time. Every composition
    root builds its clock here, once."""
    if not simulation.enabled:
        return utcnow
    import structlog

    start = simulation.start_moment() or utcnow()
    structlog.get_logger(__name__).warning("clock.simulated", start=start.isoformat(), speed=simulation.speed)
    return SimulatedClock(start, simulation.speed, anchor=simulation.anchor_moment())
