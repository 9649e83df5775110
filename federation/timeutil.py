"""Time zone and day arithmetic shared by every tier.

All moments are timezone-aware. Halls count days in China Standard Time (UTC+8, no daylight saving since
1991), so the local date of a moment is computed with a fixed offset, cheaply.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

__all__ = [
    "CST",
    "UTC",
    "SimulatedClock",
    "local_date",
    "local_ordinal",
    "ordinal_to_date",
    "start_of_local_day",
    "utcnow",
]

CST = timezone(timedelta(hours=8), "CST")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_CST_OFFSET_S = 8 * 3600


def utcnow() -> datetime:
    return datetime.now(UTC)


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

    Monotonic underneath, so the simulated time never goes backwards.
    """

    def __init__(self, start: datetime, speed: float) -> None:
        import time

        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs an aware start moment")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._monotonic = time.monotonic
        self._t0 = time.monotonic()
        self.start = start
        self.speed = speed

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(self._monotonic() - self._t0) * self.speed)
