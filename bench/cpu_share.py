"""Where a machine's CPU goes during a benchmark window: each process's CPU seconds (``/proc/<pid>/stat``, every
thread) and the whole machine's busy share (``/proc/stat``), read at the window's start and end — so a benchmark
that cannot reach a rate can say exactly why (which processes hold the cores). Linux only: elsewhere the readings
are empty and the figures null.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuReading", "cores_used", "read_cpu"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class CpuReading:
    """CPU seconds of each process (by name) and the machine's busy and total seconds, at one moment."""

    processes: dict[str, float]
    machine_busy_s: float
    machine_total_s: float


def _process_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime of every thread


def _machine_s() -> tuple[float, float]:
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return 0.0, 0.0
    ticks = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / _TICKS, sum(ticks) / _TICKS


def read_cpu(pids: Mapping[str, int]) -> CpuReading:
    """The CPU seconds of each named process (those that are gone are left out) and of the machine."""
    processes = {name: s for name, pid in pids.items() if (s := _process_s(pid)) is not None}
    busy, total = _machine_s()
    return CpuReading(processes, busy, total)


def cores_used(
    start: CpuReading, end: CpuReading, seconds: float, groups: Mapping[str, Sequence[str]]
) -> dict[str, float | None]:
    """Cores each group of processes used between the readings (``groups``: group → process names), and the
    machine's busy share of its cores (``machine_busy_share``, 0–1)."""
    used: dict[str, float | None] = {}
    for group, names in groups.items():
        both = [n for n in names if n in start.processes and n in end.processes]
        used[group] = round(sum(end.processes[n] - start.processes[n] for n in both) / seconds, 3) if both else None
    total = end.machine_total_s - start.machine_total_s
    used["machine_busy_share"] = round((end.machine_busy_s - start.machine_busy_s) / total, 3) if total else None
    return used
