"""The soak (issue 19), bounded: ``bench.soak`` itself on a slice of Shandong — two cities and three counties each,
every node its own database, machine trust and process-multiplexed hosts as in ``python -m bench soak`` — under 60
faults in 30 s of every kind (SIGKILL of senders, relays and the receiver at the top; connections cut mid-stream;
duplicated, reordered and corrupted batches; receivers' databases write-locked). Afterwards nothing is lost,
nothing duplicated, nothing held with other content, every mark at its origin's last seq, every verdict "agree"."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import Settings, soak

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def test_a_slice_of_the_province_loses_nothing_under_faults_of_every_kind(tmp_path: Path) -> None:
    figures = soak(tmp_path, Settings(faults=60, span_s=30.0, cities=2, counties_per_city=3, case_every_s=1.5))
    assert figures["faults"] == figures["faults_planned"] == 60, figures
    assert set(figures["faults_by_kind"]) == {"kill", "cut", "lock", "duplicate", "reorder", "corrupt"}, figures
    assert figures["records_written"] > 500, figures
    assert (figures["lost"], figures["duplicated"], figures["divergent"]) == (0, 0, 0), figures
    assert figures["marks_not_at_top"] == 0, figures
    assert figures["verdicts_diverging"] == 0, figures
    assert figures["quarantined"] == 0, figures
    assert figures["unexpected_exits"] == 0, figures
    assert figures["restarts"] == figures["faults_by_kind"]["kill"], figures
