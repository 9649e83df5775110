"""The demo's simulated clock: processes given the same start, speed and anchor read the same time (issue 17:
the demo's backlog in seconds was the real clock minus the node's simulated one, about 3 million seconds)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from federation.config_sections import SimulationConfig
from federation.errors import ConfigError
from federation.timeutil import SimulatedClock, node_clock

START = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)


def test_clocks_with_one_anchor_agree_whenever_their_processes_started() -> None:
    anchor = datetime.now(UTC) - timedelta(seconds=10)  # the demo started 10 s ago; this process only now
    late = SimulatedClock(START, 3600.0, anchor=anchor)
    early = SimulatedClock(START, 3600.0, anchor=anchor)
    assert abs((late() - early()).total_seconds()) < 3600 * 0.5  # the same time, within half a real second
    assert late() - START >= timedelta(hours=10)  # ten real seconds at 3600x: ten simulated hours already


def test_without_an_anchor_the_clock_starts_with_its_process() -> None:
    clock = SimulatedClock(START, 3600.0)
    assert clock() - START < timedelta(hours=1)


def test_node_clock_reads_the_anchor_and_refuses_a_bad_one() -> None:
    anchor = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    clock = node_clock(SimulationConfig(enabled=True, start=START.isoformat(), speed=60.0, anchor=anchor))
    assert clock() - START >= timedelta(minutes=5)
    with pytest.raises(ConfigError, match=r"simulation\.anchor"):
        SimulationConfig(enabled=True, anchor="2026-11-02T08:30:00").anchor_moment()  # no time zone
    with pytest.raises(ConfigError, match=r"simulation\.anchor"):
        SimulationConfig(enabled=True, anchor="yesterday").anchor_moment()
