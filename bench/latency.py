"""``latency``: county commit → visible at the province, p50 and p99, under 1,000 events/s of background load.

**The federation.** The demo's seven nodes (the province 370000, the cities 371100 and 371300, the counties
371122, 371121, 371323 and 371324), each node and each sync agent its own process on loopback
(:class:`province_center.demo.launcher.Federation`, every node and agent with the launcher's ``LINGER_MS``), in a
temporary directory; every process is stopped at the end, also on failure.

**Background load.** One load-generator process per county writes case transitions (submit → accept → review →
decide → conclude, up to 16 cases in progress; each transition one transaction writing the case, its event and
two outbox rows) straight into the county's SQLite database through
:class:`~county_node.approval.services.ApprovalService`, as the county's HTTP API would. Each paces itself
with a token bucket (a burst of at most 50 ms) at 1,000 ÷ 4 = 250 events/s, so the aggregate target is
1,000 events/s; a generator that cannot keep up loses its surplus tokens, and the rate it achieved over the
measurement window is what is reported (``background_events_per_s``).

**Probes.** Every 100 ms a marker case is submitted at a county, rotating over the four: generator ``i``
submits one every 400 ms, offset by ``i`` × 100 ms, ahead of its background work when due (so a probe never
waits behind a writer of another process for its county's write lock, and the probe schedule holds when the
generator lags), taking ``time.time()`` right after the commit and then looking up its event's outbox seq. A
dedicated thread of the benchmark polls the province's database every 5 ms while probes are outstanding, in a
fresh read-only transaction: the province's ``replication_marks.high_water`` of each county. The mark advances
in the same transaction as the applied records (DESIGN.md §4), so a mark ≥ the probe's seq means its event is
visible at the province; the visible time is taken right after that read (an over- rather than an
under-estimate, by at most one poll). Latency = visible time − commit time. Probes committed during the
warm-up (5 s at scale 1, at least 1 s) are not counted. After the run every probe's event is looked up in the
province's ``case_events`` (``probes_missing`` must be 0).

**Where the time goes** (``stages``, cumulative from the commit, p50 and p99): ``sealed`` — the county's
``batch_log.sealed_at`` of the batch holding the probe (sealed in a writer's transaction when due, or by the
agent; it can be a little before the commit time, which is taken after the commit); ``at_city`` — the city's
``batch_log.sealed_at`` of that batch, which a relaying receiver stamps on arrival, before it applies it;
``at_province`` — the latency itself.

Measurement lasts 60 s at scale 1 (at least 3 s); the background rate does not scale. Probes not visible
within 60 s of the end count as infinitely late (a percentile that falls on one is null). Besides ``p50_ms``,
``p99_ms``, ``max_ms``, ``probes`` and ``background_events_per_s``: the province's received county records per
second over the window, the backlog it had left when the load stopped, and how long the probes' own submits
took (``probe_write_*``).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bench.cpu_share import CpuReading, cores_used, read_cpu
from bench.harness import Options, progress
from bench.latency_load import PROBE_EVERY_S, Load, Probe
from bench.latency_province import (
    Seen,
    Watcher,
    missing_at_province,
    percentile,
    province_backlog,
    province_records,
    stage_percentiles,
)
from federation.config import load_config
from federation.identities import DivisionLevel
from federation.storage.engine import make_engine
from province_center.demo.launcher import DEMO_TOPOLOGY, LINGER_MS, Federation

__all__ = ["TARGET_BACKGROUND_PER_S", "TARGET_P99_MS", "run"]

NAME = "latency"
TARGET_P99_MS = 1000
TARGET_BACKGROUND_PER_S = 1000
BASE_MEASURE_S = 60.0
MIN_MEASURE_S = 3.0
BASE_WARMUP_S = 5.0
MIN_WARMUP_S = 1.0
DRAIN_TIMEOUT_S = 60.0  # how long outstanding probes may still become visible once the measurement ends
PROGRESS_EVERY_S = 10.0
Say = Callable[[str], None]


# -- the run ------------------------------------------------------------------------------------------------------


@dataclass
class _Window:
    started: float  # time.monotonic()
    wall: float  # time.time()
    transitions: int
    province_records: int
    cpu: CpuReading  # every process's CPU seconds, and the machine's


def _pids(fed: Federation, load: Load) -> dict[str, int]:
    """The benchmark's processes by name: the federation's (``node:…``, ``agent:…``), the load generators
    (``load:…``) and this one (``bench``)."""
    pids = {key: proc.popen.pid for key, proc in fed.procs.items()}
    pids.update({f"load:{g.division}": g.process.pid for g in load.generators if g.process.pid is not None})
    pids["bench"] = os.getpid()
    return pids


_LEVEL = {s.division: s.level for s in DEMO_TOPOLOGY}


def _cpu_groups(names: Sequence[str]) -> dict[str, list[str]]:
    """The processes in the groups the result reports: the load generators, and nodes and agents per tier."""
    groups: dict[str, list[str]] = {"load_generators": [n for n in names if n.startswith("load:")]}
    for level in (DivisionLevel.COUNTY, DivisionLevel.CITY, DivisionLevel.PROVINCE):
        for kind in ("node", "agent"):
            groups[f"{level.name.lower()}_{kind}s"] = [
                n for n in names if n.startswith(f"{kind}:") and _LEVEL.get(n.split(":", 1)[1]) is level
            ]
    groups["benchmark"] = ["bench"]
    return groups


def _measure(
    fed: Federation,
    load: Load,
    watcher: Watcher,
    province: Engine,
    counties: Sequence[str],
    *,
    warmup_s: float,
    measure_s: float,
    say: Say,
) -> tuple[list[Seen], _Window, _Window]:
    load.start()
    say(f"background load released; warming up {warmup_s:.1f}s")
    deadline = time.monotonic() + warmup_s
    while time.monotonic() < deadline:
        load.collect(0.2)  # the warm-up's probes are not counted
        fed.check_alive()
    marks = province_records(province, counties)
    pids = _pids(fed, load)
    start = _Window(
        time.monotonic(), time.time(), load.transitions(), sum(r for _, r in marks.values()), read_cpu(pids)
    )
    say(f"measuring {measure_s:.1f}s: a probe every {PROBE_EVERY_S * 1000:.0f} ms, rotating over {len(counties)}")
    probes: list[Seen] = []

    def take(batch: Sequence[Probe], until: float) -> None:
        for probe in batch:
            if start.wall <= probe.committed <= until:
                seen = Seen(probe)
                watcher.add(seen)
                probes.append(seen)

    end_at = start.started + measure_s
    next_report = start.started + PROGRESS_EVERY_S
    while (now := time.monotonic()) < end_at:
        take(load.collect(min(0.1, end_at - now)), math.inf)
        fed.check_alive()
        watcher.check()
        if now >= next_report:
            seen = sorted(p.latency_s for p in probes if p.visible is not None)
            rate = (load.transitions() - start.transitions) / (now - start.started)
            say(
                f"{now - start.started:.0f}s: {len(probes)} probes, p50 {percentile(seen, 0.5)} ms, "
                f"p99 {percentile(seen, 0.99)} ms, {watcher.outstanding()} outstanding; background {rate:,.0f}/s"
            )
            next_report = now + PROGRESS_EVERY_S
    marks = province_records(province, counties)
    end = _Window(time.monotonic(), time.time(), load.transitions(), sum(r for _, r in marks.values()), read_cpu(pids))
    take(load.collect(0.5), end.wall)  # probes committed in the window, still in their pipes
    return probes, start, end


@dataclass(frozen=True)
class _Outcome:
    unseen: int  # probes never seen at the province within DRAIN_TIMEOUT_S of the end
    missing: int  # probes whose event is not in the province's case_events
    backlog: int  # county records not yet at the province when the load stopped
    polls: int  # reads of the province's marks
    stages: dict[str, dict[str, Any]]  # where the time goes (see stage_percentiles)


def run(options: Options) -> dict[str, Any]:
    """Run the benchmark; return its figures (the caller prints them as the result line)."""

    def say(message: str) -> None:
        progress(NAME, message)

    measure_s = max(MIN_MEASURE_S, BASE_MEASURE_S * options.scale)
    warmup_s = max(MIN_WARMUP_S, min(BASE_WARMUP_S, BASE_WARMUP_S * options.scale))
    province_code = next(s.division for s in DEMO_TOPOLOGY if s.level is DivisionLevel.PROVINCE)
    counties = [s.division for s in DEMO_TOPOLOGY if s.level is DivisionLevel.COUNTY]
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-latency-") as tmp:
        fed = Federation(Path(tmp), DEMO_TOPOLOGY, insecure_dev=options.plaintext)
        engines: dict[str, Engine] = {}
        load: Load | None = None
        watcher: Watcher | None = None
        try:
            started = time.perf_counter()
            fed.init_all()
            say(f"{len(DEMO_TOPOLOGY)} nodes initialised, standards published in {time.perf_counter() - started:.1f}s")
            started = time.perf_counter()
            fed.start_all()
            fed.wait_for_standards()
            say(
                f"{len(fed.procs)} processes (nodes and agents, linger {LINGER_MS} ms) up, standards at every "
                f"county in {time.perf_counter() - started:.1f}s"
            )
            load = Load(fed, counties, TARGET_BACKGROUND_PER_S)
            for division in (s.division for s in DEMO_TOPOLOGY):
                cfg = load_config(fed.config(division), environ={})
                engines[division] = make_engine(cfg.database_url, sqlite_synchronous=cfg.database.sqlite_synchronous)
            province = engines[province_code]
            watcher = Watcher(province)
            load.wait_ready()
            say(f"{len(counties)} load generators ready, {TARGET_BACKGROUND_PER_S / len(counties):,.0f} events/s each")
            probes, start, end = _measure(
                fed, load, watcher, province, counties, warmup_s=warmup_s, measure_s=measure_s, say=say
            )
            load.stop()
            backlog = province_backlog(province, {c: engines[c] for c in counties})
            say(f"load stopped; province backlog {backlog:,} records; waiting for {watcher.outstanding()} probes")
            watcher.drain(DRAIN_TIMEOUT_S)
            outcome = _Outcome(
                unseen=watcher.outstanding(),
                missing=missing_at_province(province, probes),
                backlog=backlog,
                polls=watcher.polls,
                stages=stage_percentiles(fed, engines, probes),
            )
        finally:
            if watcher is not None:
                watcher.stop()
            if load is not None:
                load.stop()
            for engine in engines.values():
                engine.dispose()
            fed.stop_all()
    return _result(probes, start, end, outcome, counties=len(counties), plaintext=options.plaintext, say=say)


def _result(
    probes: Sequence[Seen], start: _Window, end: _Window, outcome: _Outcome, *, counties: int, plaintext: bool, say: Say
) -> dict[str, Any]:
    latencies = sorted(p.latency_s for p in probes)
    writes = sorted(p.probe.write_s for p in probes)
    window = end.started - start.started
    background = (end.transitions - start.transitions) / window
    p99 = percentile(latencies, 0.99)
    cpu = _cpu(start, end, window, background)
    result = {
        "bench": NAME,
        "machine_trust": "plaintext" if plaintext else "mtls+signatures",
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": p99,
        "max_ms": percentile(latencies, 1.0),
        "target_p99_ms": TARGET_P99_MS,
        "p99_within_target": p99 is not None and p99 < TARGET_P99_MS,
        "probes": len(probes),
        "probes_unseen": outcome.unseen,
        "probes_missing": outcome.missing,
        "background_events_per_s": round(background, 1),
        "background_target_per_s": TARGET_BACKGROUND_PER_S,
        "province_records_per_s": round((end.province_records - start.province_records) / window, 1),
        "backlog_records_at_end": outcome.backlog,
        "measure_s": round(window, 1),
        "counties": counties,
        "linger_ms": LINGER_MS,
        "province_polls": outcome.polls,
        "probe_write_p50_ms": percentile(writes, 0.5),
        "probe_write_max_ms": percentile(writes, 1.0),
        "stages": outcome.stages,
        "cpu": cpu,
    }
    say(
        f"p50 {result['p50_ms']} ms, p99 {p99} ms, max {result['max_ms']} ms over {len(probes)} probes; "
        f"background {background:,.0f} events/s (target {TARGET_BACKGROUND_PER_S:,})"
    )
    if background < 0.95 * TARGET_BACKGROUND_PER_S:
        say(_shortfall(cpu, background))
    return result


def _cpu(start: _Window, end: _Window, window: float, background: float) -> dict[str, Any]:
    """Where the machine's cores went over the window: cores per group of processes, the machine's busy share, and
    the writers' CPU per transition (what the asked background rate would take of the cores by itself)."""
    used = cores_used(start.cpu, end.cpu, window, _cpu_groups(list(start.cpu.processes)))
    writers = used["load_generators"]
    per_transition = None if writers is None or background <= 0 else writers / background
    return {
        "cores": os.cpu_count(),
        "cores_used": used,
        "writer_cpu_ms_per_transition": None if per_transition is None else round(per_transition * 1000, 2),
        "writers_cores_at_target": None
        if per_transition is None
        else round(per_transition * TARGET_BACKGROUND_PER_S, 2),
    }


def _shortfall(cpu: dict[str, Any], background: float) -> str:
    """Why the background rate fell short, from the CPU figures."""
    used = cpu["cores_used"]
    busy = used.get("machine_busy_share")
    spent = ", ".join(
        f"{group} {cores:.2f}" for group, cores in used.items() if group != "machine_busy_share" and cores
    )
    return (
        f"background {background:,.0f}/s of {TARGET_BACKGROUND_PER_S:,}/s: the machine's {cpu['cores']} cores were "
        f"{'?' if busy is None else f'{busy:.0%}'} busy (cores used: {spent}); each transition cost its writer "
        f"{cpu['writer_cpu_ms_per_transition']} ms of CPU, so the writers alone would need "
        f"{cpu['writers_cores_at_target']} cores at {TARGET_BACKGROUND_PER_S:,}/s"
    )
