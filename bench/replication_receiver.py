"""The ``replication`` benchmark's receiving city, in a process of its own (see :mod:`bench.replication`): the
real ``serve()`` in front of the city's sink, or of a sink that only acknowledges (for the ceiling).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from pathlib import Path

from bench.pki_material import PASSPHRASE
from bench.replication_county import CITY
from county_node.approval.adapters.replica import default_appliers
from federation.storage.engine import make_engine
from sync_agent.domain import Batch, Mark
from sync_agent.ports import BatchSink, Receipt
from sync_agent.server import serve
from sync_agent.store import SqlBatchSink

__all__ = ["Receiver", "receiver"]


class _AckingSink(BatchSink):
    """The ceiling's receiver: acknowledges every batch the servicer decoded; stores and checks nothing."""

    node = CITY

    def marks(self, origins: Sequence[str]) -> Sequence[Mark]:
        return [Mark(o) for o in origins]

    def receive(self, sender: str, batch: Batch) -> Receipt:
        return Receipt(Mark(batch.origin, batch.last_seq, batch.batch_hash))


def _receiver_main(city_url: str | None, pipe: Pipe, secure: Path | None) -> None:
    """The city's process: serve ``city_url`` (None: the acking sink), say where, stop when told. ``secure``: the
    city's configuration — mutual TLS and every batch's signature checked, as ``sunshine city serve`` runs it."""
    from federation.config import load_config
    from federation.logging import configure_logging
    from security.node import node_trust

    configure_logging(level="warning")  # stderr; the parent's stdout carries only the result line
    engine = None if city_url is None else make_engine(city_url)
    try:
        sink = _AckingSink() if engine is None else SqlBatchSink(engine, CITY, default_appliers(), relay=True)
        if secure is not None and engine is not None:
            cfg = load_config(secure, environ={"SUNSHINE_KEYRING_PASSPHRASE": PASSPHRASE})
            security = node_trust(cfg, engine).link_security()
            server = serve(sink, credentials=security.server_credentials(), trust=security.receiver)
        else:
            server = serve(sink)
        try:
            pipe.send(server.target)
            cpu_started = time.process_time()
            pipe.recv()
            cpu_s = time.process_time() - cpu_started  # every thread of this process, serving until told to stop
        finally:
            server.stop(grace=None)
        stages = getattr(sink, "stages", None)
        # where the receiver's time went, and the CPU it used
        pipe.send({"stages": {} if stages is None else stages.snapshot(), "cpu_s": cpu_s})
    finally:
        if engine is not None:
            engine.dispose()
        pipe.close()


@dataclass
class Receiver:
    """A running receiver process: where it listens; once it has stopped, the seconds of each of its stages and
    the CPU seconds it used while serving."""

    target: str
    stages: dict[str, float] = field(default_factory=dict)
    cpu_s: float = 0.0


@contextmanager
def receiver(city_url: str | None, secure: Path | None = None) -> Iterator[Receiver]:
    """A receiver process serving ``city_url`` (``secure``: with the city's machine trust); yields it (its
    ``host:port``), stops and joins it on exit and then reads its stage timings."""
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads or connections
    pipe, child = ctx.Pipe()
    process = ctx.Process(target=_receiver_main, args=(city_url, child, secure), name="bench-city", daemon=True)
    process.start()
    child.close()
    running: Receiver | None = None
    try:
        while not pipe.poll(0.1) and process.is_alive():
            pass
        try:
            target = pipe.recv()
        except EOFError:
            process.join(5)
            raise RuntimeError(f"the receiver process exited (code {process.exitcode}) before serving") from None
        running = Receiver(target)
        yield running
    finally:
        with suppress(OSError, EOFError):  # it has exited already
            pipe.send("stop")
            if running is not None and pipe.poll(30):
                report = pipe.recv()
                running.stages, running.cpu_s = report["stages"], report["cpu_s"]
        process.join(30)
        if process.is_alive():  # pragma: no cover - a receiver that does not stop
            process.terminate()
            process.join(5)
        pipe.close()
