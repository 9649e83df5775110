"""``replication``: case events per second from a county to a city over the real gRPC link, beside the transport's
ceiling on this machine.

**The county.** Its SQLite outbox holds ``N`` case events (N = 1,000,000 at scale 1), each case's events preceded
by the case's snapshot — one ``case`` record per 6–8 ``case_event`` records, so the city applies both record
types. The payloads are what :class:`~county_node.approval.services.ApprovalService` writes: three lifecycles are
run once through the real service (a promised case with a correction; a joint case with its three departments'
tasks; a case suspended, resumed, extended and still in review, so the city computes its due moments), and
their outbox rows are replayed with new case numbers of division 371122 (1,000 cases a weekday from
2026-01-05) and their moments moved to the case's day, then bulk-inserted. That preparation is not timed.

**Timed, county → city.** :meth:`SqlBatchSource.seal` (hash-chained batches of 500 records), then
:meth:`Link.run_once` — the real client with the agent's defaults (window 8, gzip) — to the real
:func:`~sync_agent.server.serve` in front of the city's :class:`SqlBatchSink` (the default ``case`` and
``case_event`` appliers, ``relay=True`` as a city that forwards its counties to the province), until the link's
acknowledged mark is the county's last seq; the city's mark, cases and events are then checked. The city runs
on SQLite (the node's default ``synchronous=FULL``), then on PostgreSQL, each from a fresh copy of the county.
The receiver runs in its own process, as a city does: the two ends do not share one interpreter.

**The ceiling.** The same batches, read into memory beforehand, sent by the same :class:`Link` through the same
``serve()`` to a sink that only acknowledges each decoded batch: gRPC, framing, gzip and the protobuf conversion
at both ends, no database at either. ``ratio`` = SQLite events/s ÷ ceiling events/s.

**Machine trust.** The SQLite and PostgreSQL runs are the production path: batches signed at sealing (Ed25519),
mutual TLS on the link, every batch's signature verified by the city (both ends enrolled in a benchmark PKI,
loaded from their data directories and encrypted keyrings, :mod:`bench.pki_material`). The same SQLite run in
plaintext, unsigned (``--insecure-dev``), gives ``sqlite_plaintext_events_per_s`` and ``secure_vs_plaintext``.

Events/s counts the ``case_event`` records; ``sqlite_records_per_s`` counts the snapshots too.
``sqlite_sealed_backlog_events_per_s`` is the stream alone: a county's backlog as it is sealed now, by its
writers at commit (``federation.storage.seal``), so that a county back online only streams it.

**The floor** (:mod:`bench.replication_floor`): SQLite's own time to store the city's rows, the typed decoders'
own time to check every payload, each run's CPU, the bound the machine's cores put on any design of this
pipeline, and the CPU per record left beyond those floors (measured, and the most the target allows).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.harness import Options, catalogue_bundle, postgresql_problem, progress, scaled, temp_postgresql_database
from bench.pki_material import city_authority, enrolled_config
from bench.replication_county import CITY, COUNTY, County, case_templates, prepare_city, prepare_county
from bench.replication_floor import cpu_bound, store_floor_s, validation_floor_s
from bench.replication_receiver import receiver
from county_node.approval.adapters.replica import default_appliers
from federation.config import Config
from federation.replication.trust import LinkSecurity
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from federation.storage.tables import case_events, cases
from security.node import node_trust
from sync_agent.client import Link, LinkStats
from sync_agent.domain import Batch
from sync_agent.ports import BatchSource
from sync_agent.store import SqlBatchSink, SqlBatchSource

__all__ = ["TARGET_RATIO", "TARGET_SQLITE_EVENTS_PER_S", "run"]

NAME = "replication"
TARGET_SQLITE_EVENTS_PER_S = 50_000
TARGET_RATIO = 0.3
BASE_EVENTS = 1_000_000
# the agent's defaults (federation.config ReplicationConfig): batches of 500 records / 1 MiB, 8 in flight, gzip
BATCH_RECORDS, BATCH_BYTES, WINDOW, GZIP = 500, 1_048_576, 8, True
LINK_NAME = "bench-up"
PROGRESS_EVERY_S = 15.0
PROFILE_STAGES = 8  # the receiver's stages in the profile summary, top first
Say = Callable[[str], None]

# -- the timed runs -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Timing:
    seal_s: float
    stream_s: float
    batches: int
    receiver_stages: dict[str, float]  # the receiver's seconds per stage (its profile summary)
    seal_cpu_s: float = 0.0  # the county's CPU sealing
    send_cpu_s: float = 0.0  # the county's CPU streaming (reading its outbox, the link)
    receiver_cpu_s: float = 0.0  # the city's CPU over the run

    @property
    def total_s(self) -> float:
        return self.seal_s + self.stream_s


def _run_link(link: Link, label: str, county: County, say: Say) -> tuple[LinkStats, float]:
    """``link.run_once`` with a progress line every ``PROGRESS_EVERY_S``; the stats and the seconds it took."""
    done = threading.Event()
    started = time.perf_counter()

    def report() -> None:
        while not done.wait(PROGRESS_EVERY_S):
            acked, seconds = link.stats().acked_records, time.perf_counter() - started
            say(f"{label}: {acked:,}/{county.last_seq:,} records acknowledged ({acked / seconds:,.0f}/s so far)")

    reporter = threading.Thread(target=report, name=f"bench-{label}-progress", daemon=True)
    reporter.start()
    try:
        stats = link.run_once(until_idle=True)
    finally:
        done.set()
        reporter.join()
    seconds = time.perf_counter() - started
    origin = stats.origins[COUNTY]
    if origin.acked_high_water != county.last_seq or origin.refusals or origin.quarantined:
        raise RuntimeError(f"{label}: the link ended at {origin}, not cleanly at seq {county.last_seq}")
    return stats, seconds


def _link(target: str, source: BatchSource, security: LinkSecurity | None = None) -> Link:
    if security is None:
        return Link(LINK_NAME, target, source, node=COUNTY, window=WINDOW, gzip=GZIP)
    return Link(
        LINK_NAME,
        target,
        source,
        node=COUNTY,
        window=WINDOW,
        gzip=GZIP,
        credentials=security.channel_credentials,
        trust=security.sender,
        tls_name=security.tls_name,
        up=True,
    )


@dataclass(frozen=True)
class _Secure:
    """The two ends' machine trust: the county's configuration (signing, client TLS) and the city's (its file)."""

    county: Config
    city_toml: Path


def _secure(directory: Path, county_url: str, city_url: str) -> _Secure:
    ca = city_authority(CITY)
    county = enrolled_config(directory / "pki", COUNTY, county_url, ca)
    city = enrolled_config(directory / "pki", CITY, city_url, ca)
    return _Secure(county, Path(city.node.data_dir) / "sunshine.toml")


def _replicate(
    county_url: str, city_url: str, county: County, label: str, say: Say, *, secure: _Secure | None = None
) -> _Timing:
    """Seal the county and stream it to a receiver in front of ``city_url``; check the city holds it all.
    ``secure``: batches signed at sealing, mutual TLS, every batch's signature verified by the city."""
    engine = make_engine(county_url)
    try:
        security = None if secure is None else node_trust(secure.county, engine).link_security()
        signer = None if security is None else security.signer.sign
        source = SqlBatchSource(engine, COUNTY, max_records=BATCH_RECORDS, max_bytes=BATCH_BYTES, signer=signer)
        with receiver(city_url, None if secure is None else secure.city_toml) as rx:
            say(f"{label}: receiver at {rx.target}; sealing and streaming {county.last_seq:,} records")
            started, cpu_started = time.perf_counter(), time.process_time()
            sealed = source.seal()
            seal_s, seal_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
            cpu_started = time.process_time()
            _, stream_s = _run_link(_link(rx.target, source, security), label, county, say)
            send_cpu_s = time.process_time() - cpu_started
    finally:
        engine.dispose()
    _check_city(city_url, county, label)
    timing = _Timing(seal_s, stream_s, sealed, rx.stages, seal_cpu_s, send_cpu_s, rx.cpu_s)
    say(
        f"{label}: {county.events / timing.total_s:,.0f} events/s ({county.last_seq / timing.total_s:,.0f} "
        f"records/s) — sealed {sealed:,} batches in {seal_s:.2f}s, streamed and applied in {stream_s:.2f}s"
    )
    say(f"{label}: where the receiver's time went — " + _profile_line(rx.stages))
    return timing


def _profile_line(stages: dict[str, float]) -> str:
    return ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in list(stages.items())[:PROFILE_STAGES])


def _profile(timing: _Timing) -> dict[str, Any]:
    """The profile summary of one run: sealing, the stream, and the receiver's top stages by time (seconds)."""
    top = dict(list(timing.receiver_stages.items())[:PROFILE_STAGES])
    return {
        "seal_s": round(timing.seal_s, 3),
        "stream_s": round(timing.stream_s, 3),
        "receiver_top_stages_s": {stage: round(seconds, 3) for stage, seconds in top.items()},
        "cpu_s": {
            "county_seal": round(timing.seal_cpu_s, 3),
            "county_send": round(timing.send_cpu_s, 3),
            "city": round(timing.receiver_cpu_s, 3),
        },
    }


def _check_city(city_url: str, county: County, label: str) -> None:
    engine = make_engine(city_url)
    try:
        (mark,) = SqlBatchSink(engine, CITY, default_appliers(), relay=True).marks([COUNTY])
        with engine.connect() as conn:
            n_events = conn.execute(select(func.count()).select_from(case_events)).scalar_one()
            n_cases = conn.execute(select(func.count()).select_from(cases)).scalar_one()
    finally:
        engine.dispose()
    if (mark.high_water, n_events, n_cases) != (county.last_seq, county.events, county.cases):
        raise RuntimeError(
            f"{label}: the city holds seq {mark.high_water}, {n_events:,} events and {n_cases:,} cases; expected "
            f"{county.last_seq}, {county.events:,} and {county.cases:,}"
        )


class _MemorySource(BatchSource):
    """The ceiling's sender: the county's sealed batches, held in memory (no database)."""

    def __init__(self, batches: Sequence[Batch]) -> None:
        self._batches = batches
        self._after = {b.first_seq - 1: i for i, b in enumerate(batches)}

    def origins(self) -> Sequence[str]:
        return [COUNTY]

    def seal(self) -> int:
        return 0

    def batches_after(self, origin: str, high_water: int, limit: int) -> Sequence[Batch]:
        i = self._after.get(high_water)
        return [] if i is None or origin != COUNTY else self._batches[i : i + limit]

    def record_ack(self, link: str, origin: str, high_water: int) -> None:
        pass


def _ceiling(sealed_county_url: str, county: County, say: Say) -> tuple[float, float, float]:
    """The ceiling's events/s, the CPU seconds both ends used (the transport's own work), and the CPU seconds the
    typed decoders take to check the payloads of the same batches (:func:`validation_floor_s`)."""
    engine = make_engine(sealed_county_url)
    try:
        batches = SqlBatchSource(engine, COUNTY).batches_after(COUNTY, 0, county.last_seq)
    finally:
        engine.dispose()
    validation_s = validation_floor_s(r for b in batches for r in b.records)
    say(f"ceiling: {len(batches):,} batches in memory, streamed to a receiver that only acknowledges them")
    with receiver(None) as rx:
        cpu_started = time.process_time()
        _, seconds = _run_link(_link(rx.target, _MemorySource(batches)), "ceiling", county, say)
        sender_cpu_s = time.process_time() - cpu_started
    per_s = county.events / seconds
    cpu_s = sender_cpu_s + rx.cpu_s
    say(
        f"ceiling: {per_s:,.0f} events/s ({county.last_seq / seconds:,.0f} records/s) in {seconds:.2f}s, "
        f"{cpu_s:.2f} CPU seconds (sender {sender_cpu_s:.2f}, receiver {rx.cpu_s:.2f})"
    )
    return per_s, cpu_s, validation_s


def _postgresql(
    options: Options, county_url: str, county: County, bundle: StandardsBundle, say: Say
) -> tuple[_Timing, str] | None:
    """The county → city run with the city on PostgreSQL, and the server's ``autovacuum`` setting."""
    if not options.postgresql:
        say("postgresql: skipped (--no-postgresql); figure is null")
        return None
    problem = postgresql_problem(options.postgres_admin_url)
    if problem is not None:
        say(f"postgresql: skipped, figure is null — {problem}")
        return None
    with temp_postgresql_database(options.postgres_admin_url) as url:
        prepare_city(url, bundle)
        autovacuum = _setting(url, "autovacuum")
        if autovacuum != "on":
            say(
                "postgresql: note — autovacuum is off on this server: the city's tables are never analysed, so "
                "its query plans rest on size estimates alone"
            )
        secure = _secure(county.path.parent / "pki-postgresql", county_url, url)
        return _replicate(county_url, url, county, "postgresql, mTLS + signatures", say, secure=secure), autovacuum


def _setting(url: str, name: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql(f"SHOW {name}").scalar_one())
    finally:
        engine.dispose()


def run(options: Options) -> dict[str, Any]:
    """Run the benchmark; return its figures (the caller prints them as the result line)."""

    def say(message: str) -> None:
        progress(NAME, message)

    n_events = scaled(BASE_EVENTS, options.scale, minimum=10)
    bundle = catalogue_bundle()
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        county = prepare_county(directory / "county.db", case_templates(directory, bundle), n_events)
        say(
            f"county: {county.events:,} events of {county.cases:,} cases ({county.last_seq:,} outbox records) "
            f"prepared in {time.perf_counter() - started:.1f}s"
        )
        plain_city = f"sqlite:///{directory / 'city-plain.db'}"
        prepare_city(plain_city, bundle)
        plain = _replicate(county.fresh_copy("county-plain.db"), plain_city, county, "sqlite, plaintext", say)
        city_url = f"sqlite:///{directory / 'city.db'}"
        prepare_city(city_url, bundle)
        sqlite_county = county.fresh_copy("county-sqlite.db")
        secure = _secure(directory, sqlite_county, city_url)
        sqlite = _replicate(sqlite_county, city_url, county, "sqlite, mTLS + signatures", say, secure=secure)
        ceiling_per_s, transport_cpu_s, validation_s = _ceiling(sqlite_county, county, say)
        say(f"floor: the typed decoders check every payload by themselves in {validation_s:.2f}s of CPU")
        floor_s = store_floor_s(city_url, f"sqlite:///{directory / 'city-floor.db'}", bundle)
        say(f"floor: SQLite stores the city's rows by itself in {floor_s:.2f}s")
        pg = _postgresql(options, county.fresh_copy("county-postgresql.db"), county, bundle, say)
    postgresql, autovacuum = (None, None) if pg is None else pg
    sqlite_per_s = county.events / sqlite.total_s
    plain_per_s = county.events / plain.total_s
    ratio = sqlite_per_s / ceiling_per_s
    pg_per_s = None if postgresql is None else county.events / postgresql.total_s
    cost = sqlite_per_s / plain_per_s
    bound = cpu_bound(
        county.events,
        county.last_seq,
        seal_cpu_s=sqlite.seal_cpu_s,
        transport_cpu_s=transport_cpu_s,
        validation_s=validation_s,
        store_s=floor_s,
        run_cpu_s=sqlite.seal_cpu_s + sqlite.send_cpu_s + sqlite.receiver_cpu_s,
        target_events_per_s=TARGET_SQLITE_EVENTS_PER_S,
    )
    say(
        f"bound: {bound['bound_events_per_s']:,.0f} events/s at most on {bound['cores']} cores with sealing "
        f"({bound['bound_sealed_backlog_events_per_s']:,.0f} for a backlog sealed at commit) — seal "
        f"{bound['seal_cpu_us_per_event']} µs, transport {bound['transport_cpu_us_per_event']} µs, checks "
        f"{bound['validation_floor_us_per_event']} µs, store floor {bound['store_floor_us_per_event']} µs of CPU "
        "per event"
    )
    say(
        f"overhead: the run spent {bound['overhead_us_per_record']} µs of CPU per record beyond those floors; "
        f"{TARGET_SQLITE_EVENTS_PER_S:,} events/s allows {bound['overhead_budget_us_per_record']} µs at most"
    )
    say(f"mTLS + signatures: {sqlite_per_s:,.0f} events/s vs {plain_per_s:,.0f} plaintext = {cost:.3f}")
    say(
        f"sqlite: {sqlite_per_s:,.0f} events/s = {ratio:.2f} × the ceiling "
        f"(targets ≥ {TARGET_SQLITE_EVENTS_PER_S:,}/s and ≥ {TARGET_RATIO} × the ceiling)"
    )
    return {
        "bench": NAME,
        "sqlite_events_per_s": round(sqlite_per_s, 1),
        "sqlite_plaintext_events_per_s": round(plain_per_s, 1),
        "secure_vs_plaintext": round(sqlite_per_s / plain_per_s, 3),
        "postgresql_events_per_s": None if pg_per_s is None else round(pg_per_s, 1),
        "ceiling_events_per_s": round(ceiling_per_s, 1),
        "ratio": round(ratio, 3),
        "target_sqlite_events_per_s": TARGET_SQLITE_EVENTS_PER_S,
        "target_ratio": TARGET_RATIO,
        "sqlite_records_per_s": round(county.last_seq / sqlite.total_s, 1),
        "sqlite_sealed_backlog_events_per_s": round(county.events / sqlite.stream_s, 1),
        "floor": {
            "sqlite_store_s": round(floor_s, 3),
            "transport_cpu_s": round(transport_cpu_s, 3),
            "validation_cpu_s": round(validation_s, 3),
            **bound,
        },
        "sqlite_seal_s": round(sqlite.seal_s, 3),
        "sqlite_stream_s": round(sqlite.stream_s, 3),
        "postgresql_seal_s": None if postgresql is None else round(postgresql.seal_s, 3),
        "postgresql_stream_s": None if postgresql is None else round(postgresql.stream_s, 3),
        "postgresql_ratio": None if pg_per_s is None else round(pg_per_s / ceiling_per_s, 3),
        "profile": {
            "sqlite": _profile(sqlite),
            "postgresql": None if postgresql is None else _profile(postgresql),
        },
        "sqlite_synchronous": "full",
        "postgresql_autovacuum": autovacuum,
        "events": county.events,
        "case_snapshots": county.cases,
        "records": county.last_seq,
        "batches": sqlite.batches,
    }
