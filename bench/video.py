"""``video``: the county video index at 10,000,000 segments — ingest rate and camera + time-range queries.

A county with 500 cameras recording 5-minute segments for ~69 days holds ``10,000,000 × scale`` segments (500
cameras × ~55 days is ~8 M; rounded up). They are ingested through
:meth:`county_node.video.services.VideoIndexService.add_segments` as an NVR poller delivers them: one call per
recorded hour of every camera (500 × 12 = 6,000 segments, each call one transaction writing the segment rows and
their ``video_segment`` outbox rows, overlap check included). Only the ``add_segments`` calls are timed
(``ingest_per_s``, target ≥ 50,000 segments/s); generating the segments is not.

Then 2,000 random one-hour queries on random cameras (:meth:`VideoIndexService.segments`: the overlapping
segments in order and the gaps) are timed one by one (``query_p50_ms`` / ``query_p99_ms``, target p99 < 5 ms).
Last, one day's retention purge is timed (``purge_s``, ``purged``: no target; it runs once a night).
Both on SQLite and on PostgreSQL, each a fresh database migrated to head.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import Options, optional_postgresql, progress, scaled
from county_node.unit_of_work import SqlCountyUnits
from county_node.video.adapters.files import DirectoryFiles
from county_node.video.domain import RetentionPolicy, Segment
from county_node.video.services import VideoIndexService
from federation.storage.engine import make_engine
from federation.timeutil import CST
from migrations.runner import upgrade

__all__ = ["NAME", "run"]

NAME = "video"
TARGET_INGEST_PER_S = 50_000
TARGET_QUERY_P99_MS = 5.0
BASE_SEGMENTS = 10_000_000
CAMERAS = 500
SEGMENT = timedelta(minutes=5)
PER_HOUR = 12
QUERIES = 2000
DIVISION = "371122"
START = datetime(2026, 9, 1, 0, 0, tzinfo=CST)

Say = Callable[[str], None]


def _camera_id(n: int) -> str:
    """A GB/T 28181 id in the county: centre code 37112200, industry 00, type 131 (camera), network 1, serial."""
    return f"{DIVISION}00" + "00" + "131" + "1" + f"{n:06d}"


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _hour(cameras: list[str], hour: int, slots: int) -> list[Segment]:
    """The segments every camera recorded in hour ``hour`` (the first ``slots`` 5-minute slots of it)."""
    base = START + timedelta(hours=hour)
    moments = [base + SEGMENT * i for i in range(slots + 1)]
    stamp = f"{base:%Y%m%d%H}"
    return [
        Segment(cam, moments[i], moments[i + 1], f"{cam}/{stamp}{i * 5:02d}.mp4", 52_428_800 + i, f"{i:064x}")
        for cam in cameras
        for i in range(slots)
    ]


def _measure(label: str, url: str, *, segments: int, cameras: int, seed: int, say: Say) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        upgrade(engine)
        clock = _Clock(START)
        service = VideoIndexService(SqlCountyUnits(engine, DIVISION), clock)
        ids = [_camera_id(n + 1) for n in range(cameras)]
        for n, cid in enumerate(ids):
            service.register_camera(cid, name=f"{n + 1} 号窗口摄像机", hall="县政务服务大厅", window=f"W{n + 1:03d}")
        per_camera = -(-segments // cameras)
        hours = -(-per_camera // PER_HOUR)
        ingested = 0
        spent = 0.0
        for hour in range(hours):
            slots = min(PER_HOUR, per_camera - hour * PER_HOUR)
            batch = _hour(ids, hour, slots)
            clock.now = START + timedelta(hours=hour + 1, minutes=2)
            started = time.perf_counter()
            ingested += service.add_segments(batch)
            spent += time.perf_counter() - started
            if hour % 200 == 199:
                say(f"{label}: {ingested:,} segments, {ingested / spent:,.0f}/s so far")
        ingest_per_s = ingested / spent
        say(f"{label}: {ingested:,} segments ingested in {spent:.1f}s of add_segments: {ingest_per_s:,.0f}/s")
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        rng = random.Random(seed)
        span = hours * 3600 - 3600
        latencies: list[float] = []
        found = 0
        for _ in range(QUERIES):
            cid = rng.choice(ids)
            t1 = START + timedelta(seconds=rng.randrange(max(1, span)))
            started = time.perf_counter()
            timeline = service.segments(cid, t1, t1 + timedelta(hours=1))
            latencies.append((time.perf_counter() - started) * 1000)
            found += len(timeline.segments)
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        p50, p99 = statistics.median(latencies), cuts[98]
        say(
            f"{label}: {QUERIES:,} one-hour queries ({found / QUERIES:.1f} segments each): "
            f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"
        )
        purge = _daily_purge(engine, clock, hours, label, say)
        return {"ingested": ingested, "ingest_per_s": ingest_per_s, "p50": p50, "p99": p99} | purge
    finally:
        engine.dispose()


def _daily_purge(engine: Any, clock: _Clock, hours: int, label: str, say: Say) -> dict[str, Any]:
    """One day's purge at the end of the run: retention set so the oldest day (500 × 288 segments at full scale)
    has expired, files through the directory adapter on an empty folder (every file "missing"), so the purge does
    all its work — the expired count, the oldest-first pages, the purge log, the outbox deletes, the check that no
    kept segment shares a file, the file outcomes. Skipped (null) when the run spans under two days."""
    if hours < 48:
        say(f"{label}: purge skipped (the run spans {hours} hours, under two days)")
        return {"purge_s": None, "purged": None}
    retention = RetentionPolicy(days=hours // 24 - 1, max_share=0.5)
    clock.now = START + timedelta(days=retention.days + 1)  # the first day (and only it) has expired
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-nvr-") as folder:
        service = VideoIndexService(
            SqlCountyUnits(engine, DIVISION), clock, retention=retention, files=DirectoryFiles(Path(folder))
        )
        started = time.perf_counter()
        report = service.purge()
        spent = time.perf_counter() - started
    say(f"{label}: daily purge removed {report.removed:,} of {report.index_before:,} segments in {spent:.1f}s")
    return {"purge_s": spent, "purged": report.removed}


def run(options: Options) -> dict[str, Any]:
    def say(message: str) -> None:
        progress(NAME, message)

    segments = scaled(BASE_SEGMENTS, options.scale, minimum=CAMERAS * PER_HOUR)
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-") as tmp:
        sqlite = _measure(
            "sqlite",
            f"sqlite:///{Path(tmp) / 'county.db'}",
            segments=segments,
            cameras=CAMERAS,
            seed=options.seed,
            say=say,
        )
    pg: dict[str, Any] | None = None
    with optional_postgresql(options, say) as url:
        if url is not None:
            pg = _measure("postgresql", url, segments=segments, cameras=CAMERAS, seed=options.seed, say=say)

    def r(v: float) -> float:
        return round(v, 3)

    return {
        "bench": NAME,
        "segments": sqlite["ingested"],
        "cameras": CAMERAS,
        "sqlite_ingest_per_s": round(sqlite["ingest_per_s"]),
        "sqlite_query_p50_ms": r(sqlite["p50"]),
        "sqlite_query_p99_ms": r(sqlite["p99"]),
        "postgresql_ingest_per_s": round(pg["ingest_per_s"]) if pg else None,
        "postgresql_query_p50_ms": r(pg["p50"]) if pg else None,
        "postgresql_query_p99_ms": r(pg["p99"]) if pg else None,
        "sqlite_purge_s": r(sqlite["purge_s"]) if sqlite["purge_s"] is not None else None,
        "postgresql_purge_s": r(pg["purge_s"]) if pg and pg["purge_s"] is not None else None,
        "purged": sqlite["purged"],
        "target_ingest_per_s": TARGET_INGEST_PER_S,
        "target_query_p99_ms": TARGET_QUERY_P99_MS,
    }
