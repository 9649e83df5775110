"""``ferry``: case events per second from a county to a city over the file ferry (网闸), beside the gRPC link on the
same machine in the same run.

**The county** is the ``replication`` benchmark's (:mod:`bench.replication_county`: N case events, N = 200,000 at
scale 1, each case's events preceded by its snapshot), prepared once and copied fresh for each run; both ends are
enrolled in a benchmark PKI (:mod:`bench.pki_material`): batches signed at sealing (Ed25519), every signature
verified by the city, which runs on SQLite (``synchronous=FULL``) in a process of its own, with the ``case`` and
``case_event`` appliers and ``relay=True``.

**Timed, gRPC.** :meth:`SqlBatchSource.seal` (batches of 500 records), then :meth:`Link.run_once` over mutual TLS
(window 8, gzip) to the real ``serve()`` until the county's last seq is acknowledged.

**Timed, ferry.** The same seal, then :class:`~sync_agent.ferry_link.FerryLink` (16 batches a file, signed,
written atomically) into the county's spool; a gateway thread copies each new file into the city's spool (a
temporary name, then a rename, as a gateway delivers); the city's :class:`~sync_agent.ferry_intake.FerryIntake`
(its own process) verifies the file and every batch's signature and applies them; its signed statement comes back
through the return folder, and the run ends when the county has verified the statement that acknowledges its last
seq. ``ratio`` = ferry events/s ÷ gRPC events/s (target ≥ 0.5). Both runs' city holdings are checked.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.harness import Options, catalogue_bundle, progress, scaled
from bench.pki_material import PASSPHRASE, city_authority, enrolled_config
from bench.replication_county import CITY, COUNTY, County, case_templates, prepare_city, prepare_county
from bench.replication_receiver import receiver
from county_node.approval.adapters.replica import default_appliers
from federation.config import Config
from federation.storage.engine import make_engine
from federation.storage.tables import case_events
from security.node import node_trust
from sync_agent.client import Link
from sync_agent.ferry_files import TEMP_PREFIX
from sync_agent.ferry_link import FerryLink, spool_files
from sync_agent.runtime import up_origins
from sync_agent.store import SqlBatchSource

__all__ = ["NAME", "TARGET_RATIO", "run"]

NAME = "ferry"
TARGET_RATIO = 0.5
BASE_EVENTS = 200_000
BATCH_RECORDS, BATCH_BYTES, WINDOW, FILE_BATCHES = 500, 1_048_576, 8, 16
LINK_NAME = "bench-up"
LINGER_S = 0.05  # the agent's default linger_ms: how often the ferry link looks for new rows and statements
Say = Callable[[str], None]


def _receiver_main(city_url: str, city_toml: str, in_dir: str, ack_dir: str, pipe: Pipe) -> None:
    """The city's ferry intake in its own process, as ``sunshine city serve`` runs it with ``ferry_in``."""
    from federation.config import load_config
    from federation.logging import configure_logging
    from sync_agent.ferry_intake import FerryIntake
    from sync_agent.runtime import receiver_policy
    from sync_agent.store import SqlBatchSink

    configure_logging(level="warning")
    engine = make_engine(city_url)
    stop = threading.Event()
    try:
        cfg = load_config(Path(city_toml), environ={"SUNSHINE_KEYRING_PASSPHRASE": PASSPHRASE})
        security = node_trust(cfg, engine).link_security()
        policy = receiver_policy(CITY)
        sink = SqlBatchSink(engine, CITY, default_appliers(), relay=True, allow=policy)
        intake = FerryIntake(sink, Path(in_dir), Path(ack_dir), allowed=policy, trust=security.receiver, settle=1.0)
        worker = threading.Thread(target=intake.run_forever, args=(stop,), daemon=True)
        worker.start()
        pipe.send("ready")
        pipe.recv()
        stop.set()
        worker.join(30)
    finally:
        engine.dispose()
        pipe.close()


@contextmanager
def _intake_process(city_url: str, city_toml: Path, in_dir: Path, ack_dir: Path) -> Iterator[None]:
    ctx = multiprocessing.get_context("spawn")
    pipe, child = ctx.Pipe()
    args = (city_url, str(city_toml), str(in_dir), str(ack_dir), child)
    process = ctx.Process(target=_receiver_main, args=args, name="bench-ferry-city", daemon=True)
    process.start()
    child.close()
    try:
        if pipe.recv() != "ready":  # pragma: no cover
            raise RuntimeError("the ferry receiver did not start")
        yield
    finally:
        with suppress(OSError):
            pipe.send("stop")
        process.join(30)
        if process.is_alive():  # pragma: no cover
            process.terminate()
            process.join(5)
        pipe.close()


def _gateway(out_dir: Path, in_dir: Path, stop: threading.Event) -> None:
    """Copy every new file of the county's spool into the city's: a temporary name, then a rename."""
    carried: set[str] = set()
    while not stop.wait(0.02):
        for f in spool_files(out_dir):
            name = f.path.name
            if name in carried:
                continue
            tmp = in_dir / f"{TEMP_PREFIX}{name}"
            with suppress(FileNotFoundError):  # acknowledged and deleted meanwhile
                shutil.copyfile(f.path, tmp)
                os.replace(tmp, in_dir / name)
                carried.add(name)


def _pki(directory: Path, county_url: str, city_url: str) -> tuple[Config, Config]:
    ca = city_authority(CITY)
    return enrolled_config(directory, COUNTY, county_url, ca), enrolled_config(directory, CITY, city_url, ca)


def _grpc(county_url: str, city_url: str, directory: Path, say: Say) -> float:
    county_cfg, city_cfg = _pki(directory, county_url, city_url)
    engine = make_engine(county_url)
    try:
        security = node_trust(county_cfg, engine).link_security()
        source = SqlBatchSource(
            engine, COUNTY, max_records=BATCH_RECORDS, max_bytes=BATCH_BYTES, signer=security.signer.sign
        )
        with receiver(city_url, Path(city_cfg.node.data_dir) / "sunshine.toml") as rx:
            started = time.perf_counter()
            source.seal()
            link = Link(
                LINK_NAME,
                rx.target,
                source,
                node=COUNTY,
                window=WINDOW,
                credentials=security.channel_credentials,
                trust=security.sender,
                tls_name=security.tls_name,
                up=True,
            )
            stats = link.run_once(until_idle=True)
            seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    say(f"grpc: acknowledged to seq {stats.origins[COUNTY].acked_high_water:,} in {seconds:.2f}s")
    return seconds


def _ferry(county_url: str, city_url: str, directory: Path, last_seq: int, say: Say) -> tuple[float, int]:
    county_cfg, city_cfg = _pki(directory, county_url, city_url)
    out_dir, in_dir, ret_dir = (directory / d for d in ("out", "in", "return"))
    for d in (out_dir, in_dir, ret_dir):
        d.mkdir()
    engine = make_engine(county_url)
    stop = threading.Event()
    try:
        security = node_trust(county_cfg, engine).link_security()
        source = SqlBatchSource(
            engine, COUNTY, max_records=BATCH_RECORDS, max_bytes=BATCH_BYTES, signer=security.signer.sign
        )
        sender = security.sender
        link = FerryLink(
            LINK_NAME,
            source,
            node=COUNTY,
            out_dir=out_dir,
            return_dir=ret_dir,
            origins=up_origins(COUNTY, source),
            file_batches=FILE_BATCHES,
            sign=security.signer.sign,
            verify=lambda chain, proof, digest: sender.verify_receiver(chain, proof, digest, up=True),
        )
        with _intake_process(city_url, Path(city_cfg.node.data_dir) / "sunshine.toml", in_dir, ret_dir):
            gateway = threading.Thread(target=_gateway, args=(out_dir, in_dir, stop), daemon=True)
            gateway.start()
            started = time.perf_counter()
            source.seal()
            files = 0
            deadline = started + 3600
            while link.acked(COUNTY) < last_seq:
                stats = link.run_once()
                files = max(files, stats.spool_files)
                if time.perf_counter() > deadline:  # pragma: no cover
                    raise RuntimeError(f"ferry: acknowledged only to {link.acked(COUNTY)} of {last_seq}")
                time.sleep(LINGER_S)
            seconds = time.perf_counter() - started
            stop.set()
            gateway.join(5)
    finally:
        stop.set()
        engine.dispose()
    sent = link.stats().origins[COUNTY].sent_batches
    say(f"ferry: {sent:,} batches in files of {FILE_BATCHES}, acknowledged by statement in {seconds:.2f}s")
    return seconds, sent


def _check_city(city_url: str, county: County, label: str) -> None:
    engine = make_engine(city_url)
    try:
        with engine.connect() as conn:
            events = int(conn.execute(select(func.count()).select_from(case_events)).scalar_one())
    finally:
        engine.dispose()
    if events != county.events:
        raise RuntimeError(f"{label}: the city holds {events} events, not {county.events}")


def run(options: Options) -> dict[str, Any]:
    """Run the benchmark; return its figures (the caller prints them as the result line)."""

    def say(message: str) -> None:
        progress(NAME, message)

    n_events = scaled(BASE_EVENTS, options.scale, minimum=10)
    bundle = catalogue_bundle()
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-ferry-") as tmp:
        directory = Path(tmp)
        county = prepare_county(directory / "county.db", case_templates(directory, bundle), n_events)
        say(f"county: {county.events:,} events ({county.last_seq:,} outbox records)")
        results: dict[str, float] = {}
        batches = 0
        for label in ("grpc", "ferry"):
            city_url = f"sqlite:///{directory / f'city-{label}.db'}"
            prepare_city(city_url, bundle)
            county_url = county.fresh_copy(f"county-{label}.db")
            where = directory / label
            where.mkdir()
            if label == "grpc":
                results[label] = _grpc(county_url, city_url, where, say)
            else:
                results[label], batches = _ferry(county_url, city_url, where, county.last_seq, say)
            _check_city(city_url, county, label)
    grpc_per_s = county.events / results["grpc"]
    ferry_per_s = county.events / results["ferry"]
    ratio = ferry_per_s / grpc_per_s
    say(f"ferry {ferry_per_s:,.0f} events/s vs gRPC {grpc_per_s:,.0f} events/s = {ratio:.2f} (target ≥ {TARGET_RATIO})")
    return {
        "bench": NAME,
        "ferry_events_per_s": round(ferry_per_s, 1),
        "grpc_events_per_s": round(grpc_per_s, 1),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "ferry_s": round(results["ferry"], 3),
        "grpc_s": round(results["grpc"], 3),
        "events": county.events,
        "records": county.last_seq,
        "batches": batches,
        "file_batches": FILE_BATCHES,
        "sqlite_synchronous": "full",
    }
