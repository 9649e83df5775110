"""``clock``: due-moment computations per second over a realistic, seeded mix of cases.

The workload is generated up front (untimed) from the catalogue and the seeded calendar, then
:func:`federation.clock.compute_deadline` runs over it for several rounds; the figure is the **best** round
(the median is reported beside it). The mix:

* budgets drawn from the catalogue — the promised limit (3 in 4) or the legal limit — instant items (budget 0)
  included;
* acceptance moments over 2025–2026 during office hours: mostly working days, some any day (weekends,
  holidays), a quarter on the days just before or inside a statutory holiday; half the moments are UTC-aware
  (as read back from a database), half CST;
* 0–2 pauses (补正, 暂停, 特别程序) of realistic lengths, some ending the day they start, some still open;
* an extension (延期) on about 10 % of cases;
* about 2 % accepted late in December 2026 with long budgets, so their deadlines reach unpublished 2027.

``read_per_s`` is the rate of :func:`federation.clock.read_clock` (deadline plus light) over the same mix,
each read at a moment between acceptance and ~2 months later.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.harness import Options, catalogue_bundle, progress, scaled, time_rounds
from federation.calendar import WorkingCalendar
from federation.clock import ClockSpec, LightPolicy, Pause, PauseKind, compute_deadline, read_clock
from federation.standards import Item
from federation.timeutil import CST

__all__ = ["TARGET_PER_S", "Workload", "make_workload", "run"]

NAME = "clock"
TARGET_PER_S = 200_000
BASE_N = 200_000
ROUNDS = 5

# Calendar days a pause lasts (inclusive range): applicants take days to weeks to bring missing documents,
# suspensions last a few weeks at most, special procedures (hearings, tests, expert review) up to ~6 weeks.
_PAUSE_DAYS: dict[PauseKind, tuple[int, int]] = {
    PauseKind.CORRECTION: (1, 20),
    PauseKind.SUSPENSION: (2, 25),
    PauseKind.SPECIAL_PROCEDURE: (5, 45),
}
_PAUSE_KINDS = tuple(_PAUSE_DAYS)
_PAUSE_KIND_WEIGHTS = (6, 3, 1)
_OFFICE_OPENS = timedelta(hours=8, minutes=30)
_OFFICE_SECONDS = 9 * 3600  # 08:30–17:30


@dataclass(frozen=True, slots=True)
class Workload:
    """Precomputed clock specs, and the moment each is read at (for ``read_clock``)."""

    specs: list[ClockSpec]
    read_at: list[datetime]
    with_pauses: int
    with_extension: int
    instant: int
    into_2027: int  # generated to reach unpublished 2027 (late-December acceptance, long budget)


def _moment(rng: random.Random, day: date) -> datetime:
    """An office-hours moment on ``day``, CST-aware or (half the time) the same instant in UTC."""
    moment = datetime(day.year, day.month, day.day, tzinfo=CST) + _OFFICE_OPENS
    moment += timedelta(seconds=rng.randrange(_OFFICE_SECONDS))
    return moment.astimezone(UTC) if rng.random() < 0.5 else moment


def _pauses(rng: random.Random, accepted: datetime) -> tuple[Pause, ...]:
    count = rng.choices((0, 1, 2), weights=(60, 30, 10))[0]
    out: list[Pause] = []
    cursor = accepted
    for i in range(count):
        kind = rng.choices(_PAUSE_KINDS, weights=_PAUSE_KIND_WEIGHTS)[0]
        start = cursor + timedelta(days=rng.randint(0, 8), minutes=rng.randrange(6 * 60))
        lo, hi = _PAUSE_DAYS[kind]
        days = 0 if rng.random() < 0.05 else rng.randint(lo, hi)  # some pauses end the day they start
        end = start + timedelta(days=days, minutes=rng.randrange(3 * 60))
        still_open = i == count - 1 and rng.random() < 0.08
        out.append(Pause(kind, start, None if still_open else end))
        cursor = end
    return tuple(out)


def make_workload(calendar: WorkingCalendar, items: tuple[Item, ...], n: int, seed: int) -> Workload:
    """``n`` clock specs drawn with ``random.Random(seed)`` (same seed, same workload)."""
    rng = random.Random(seed)
    first, last = date(2025, 1, 1).toordinal(), date(2026, 12, 31).toordinal()
    every_day = [date.fromordinal(o) for o in range(first, last + 1)]
    working = [d for d in every_day if calendar.is_working_day(d)]
    holidays = sorted(
        d for y in (2025, 2026) if (yc := calendar.year(y)) is not None for d in yc.holidays
    )  # empty when the seed data lacks these years: the near-holiday share then falls back to working days
    late_december = [d for d in working if d >= date(2026, 12, 10)] or working
    long_items = [i for i in items if i.legal_limit_days >= 20]
    specs: list[ClockSpec] = []
    read_at: list[datetime] = []
    with_pauses = with_extension = instant = into_2027 = 0
    for _ in range(n):
        draw = rng.random()
        item = rng.choice(items)
        budget = item.promised_limit_days if rng.random() < 0.75 else item.legal_limit_days
        if draw < 0.02 and long_items:
            item = rng.choice(long_items)
            budget = item.legal_limit_days
            day = rng.choice(late_december)
            into_2027 += 1
        elif draw < 0.27 and holidays:
            day = rng.choice(holidays) + timedelta(days=rng.randint(-5, 1))  # just before, or inside
        elif draw < 0.40:
            day = rng.choice(every_day)
        else:
            day = rng.choice(working)
        accepted = _moment(rng, day)
        pauses = _pauses(rng, accepted)
        extension = rng.randint(1, 10) if rng.random() < 0.10 else 0
        specs.append(ClockSpec(accepted, budget, pauses, extension))
        read_at.append(accepted + timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 8)))
        with_pauses += bool(pauses)
        with_extension += bool(extension)
        instant += budget == 0
    return Workload(specs, read_at, with_pauses, with_extension, instant, into_2027)


def _deadlines_body(calendar: WorkingCalendar, specs: list[ClockSpec]) -> None:
    compute = compute_deadline
    for spec in specs:
        compute(calendar, spec)


def _reads_body(calendar: WorkingCalendar, specs: list[ClockSpec], read_at: list[datetime]) -> None:
    read = read_clock
    policy = LightPolicy()
    for spec, now in zip(specs, read_at, strict=True):
        read(calendar, spec, now, policy)


def run(options: Options) -> dict[str, Any]:
    """Run the benchmark; return its figures (the caller prints them as the result line)."""
    bundle = catalogue_bundle()
    calendar = bundle.calendar()
    n = scaled(BASE_N, options.scale, minimum=100)
    progress(NAME, f"calendar {calendar.version}, published years {calendar.published_years[-3:]}…")
    progress(NAME, f"generating {n:,} clock specs from {len(bundle.items)} catalogue items (seed {options.seed})")
    work = make_workload(calendar, bundle.items, n, options.seed)

    # One untimed pass: warms the caches and describes what the mix actually produced.
    deadlines = [compute_deadline(calendar, s) for s in work.specs]
    paused = sum(d.paused for d in deadlines)
    provisional = sum(d.provisional for d in deadlines)
    digest = hashlib.sha256(repr([(d.due_ordinal, d.remaining_at_pause) for d in deadlines]).encode()).hexdigest()
    del deadlines
    progress(
        NAME,
        f"mix: {work.with_pauses:,} with pauses ({paused:,} still paused), {work.with_extension:,} extended, "
        f"{work.instant:,} instant, {work.into_2027:,} accepted late Dec 2026 with long budgets, "
        f"{provisional:,} provisional (reach 2027); result digest {digest[:16]}",
    )

    deadline_rounds = time_rounds(n, ROUNDS, lambda: _deadlines_body(calendar, work.specs))
    progress(
        NAME,
        f"compute_deadline: best {deadline_rounds.best_per_s:,.0f}/s, median {deadline_rounds.median_per_s:,.0f}/s "
        f"over {ROUNDS} rounds of {n:,}",
    )
    read_rounds = time_rounds(n, ROUNDS, lambda: _reads_body(calendar, work.specs, work.read_at))
    progress(
        NAME,
        f"read_clock: best {read_rounds.best_per_s:,.0f}/s, median {read_rounds.median_per_s:,.0f}/s "
        f"over {ROUNDS} rounds of {n:,}",
    )
    per_s = deadline_rounds.best_per_s
    return {
        "bench": NAME,
        "per_s": round(per_s),
        "target_per_s": TARGET_PER_S,
        "ratio_to_target": round(per_s / TARGET_PER_S, 3),
        "n": n,
        "statistic": f"best of {ROUNDS} rounds",
        "median_per_s": round(deadline_rounds.median_per_s),
        "read_per_s": round(read_rounds.best_per_s),
        "provisional": provisional,
        "paused": paused,
    }
