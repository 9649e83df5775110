"""One process of the ``soak`` benchmark (:mod:`bench.soak`): ``python -m bench.soak_host PLAN HOST``.

It runs the nodes the plan gives ``HOST``, each over its own SQLite database and its own machine trust (mutual TLS,
batches signed by their origin and verified at every tier), with the production parts: the province's receiver;
a city's receiver (a relay) and its link up; a county's writer (a case — its snapshot and events — about every
``case_every_s``, through the transactional outbox), its link up and its statements of its own figures. Links
reach their receivers through the orchestrator's TCP proxies (which cut connections mid-stream).

The frame faults of its senders are injected here, as the plan schedules them: a batch sent twice, two batches
sent in the wrong order, a record altered after its batch was sealed (the receiver must refuse it). Each one,
once it has touched what a link sent, is appended to ``faults-HOST.log`` (so a restarted host neither repeats nor
loses count of it).

Control files in the plan's directory: ``stop-writing`` (county writers stop, then each county states its figures
and the host writes ``stated-HOST``), ``state-cities`` (each city states, then ``stated-HOST``). SIGTERM stops it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.soak_plan import FRAME_KINDS, PASSPHRASE, Fault, Plan
from city_aggregator.bootstrap import replication_appliers as city_appliers
from federation.config import load_config
from federation.logging import configure_logging
from federation.storage import outbox as outbox_store
from federation.storage.attestation import AttestEvery
from federation.storage.engine import make_engine
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST, utcnow
from federation.wire.v1 import replication_pb2 as pb
from province_center.bootstrap import replication_appliers as province_appliers
from security.node import node_trust
from sync_agent.client import Link
from sync_agent.domain import Batch
from sync_agent.runtime import receiver_policy, up_origins
from sync_agent.server import RunningServer, serve
from sync_agent.store import SqlBatchSink, SqlBatchSource

__all__ = ["main"]

Template = list[tuple[str, str, str, str]]  # a case's records: type, id, op, payload (@CASE@ and @ORIGIN@ to fill in)


class ChaosSource:
    """A node's :class:`SqlBatchSource` whose next batches sent may be tampered with once (a frame fault)."""

    def __init__(self, source: SqlBatchSource, node: str, log: Callable[[Fault, int], None]) -> None:
        self._source = source
        self._node = node
        self._log = log
        self._armed: list[Fault] = []
        self._lock = threading.Lock()

    def arm(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append(fault)

    def origins(self) -> Sequence[str]:
        return self._source.origins()

    def seal(self) -> int:
        return self._source.seal()

    def unsealed(self) -> tuple[int, int]:
        return self._source.unsealed()

    def record_ack(self, link: str, origin: str, high_water: int) -> None:
        self._source.record_ack(link, origin, high_water)

    def batches_after(self, origin: str, high_water: int, limit: int) -> Sequence[Batch]:
        batches = list(self._source.batches_after(origin, high_water, limit))
        with self._lock:
            fault = self._armed[0] if self._armed else None
            if fault is None or not batches:
                return batches
            if fault.kind == "reorder" and len(batches) < 2:  # held back until a second batch is there to swap
                return []
            self._armed.pop(0)
        if fault.kind == "duplicate":
            batches = [batches[0], *batches]
        elif fault.kind == "reorder":
            batches = [batches[1], batches[0], *batches[2:]]
        else:
            batches = [_corrupted(batches[0]), *batches[1:]]
        self._log(fault, batches[0].first_seq)
        return batches


def _corrupted(batch: Batch) -> Batch:
    """``batch`` with one byte of its first record's payload changed, its hash and signature left as sealed."""
    if batch.wire:
        message = pb.Batch.FromString(batch.wire)
        payload = bytearray(message.records[0].payload)
        payload[len(payload) // 2] ^= 0x01
        message.records[0].payload = bytes(payload)
        return replace(batch, wire=message.SerializeToString())
    first = batch.records[0]
    payload = bytearray(first.payload)
    payload[len(payload) // 2] ^= 0x01
    return replace(batch, records=(replace(first, payload=bytes(payload)), *batch.records[1:]))


class Host:
    def __init__(self, plan: Plan, name: str) -> None:
        self.plan = plan
        self.name = name
        self.stop = threading.Event()
        self.directory = Path(plan.root)
        self.log_path = self.directory / f"faults-{name}.log"
        self.applied = self._applied()
        self.log_lock = threading.Lock()
        self.servers: list[RunningServer] = []
        self.threads: list[threading.Thread] = []
        self.chaos: dict[str, ChaosSource] = {}
        self.sources: dict[str, SqlBatchSource] = {}
        self.engines: list[Any] = []
        self.templates: list[Template] = json.loads((self.directory / "templates.json").read_text(encoding="utf-8"))

    def _applied(self) -> set[int]:
        if not self.log_path.exists():
            return set()
        return {int(json.loads(line)["id"]) for line in self.log_path.read_text(encoding="utf-8").splitlines() if line}

    def note(self, fault: Fault, seq: int) -> None:
        line = json.dumps({"id": fault.id, "kind": fault.kind, "node": fault.target, "seq": seq, "at": time.time()})
        with self.log_lock, self.log_path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
        self.applied.add(fault.id)

    def start(self) -> None:
        for node in self.plan.hosts[self.name]:
            self._start_node(node)
        self._spawn(self._chaos, "chaos")
        self._spawn(self._control, "control")

    def _spawn(self, target: Callable[[], object], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _start_node(self, node: str) -> None:
        cfg = load_config(self.plan.config(node), environ={"SUNSHINE_KEYRING_PASSPHRASE": PASSPHRASE})
        engine = make_engine(cfg.database_url)
        self.engines.append(engine)
        security = node_trust(cfg, engine).link_security()
        if node == self.plan.province or node in self.plan.cities:
            relay = node != self.plan.province
            appliers = city_appliers(node) if relay else province_appliers(node)
            policy = receiver_policy(node)
            sink = SqlBatchSink(engine, node, appliers, relay=relay, allow=policy)
            self.servers.append(
                serve(
                    sink,
                    port=self.plan.ports[node],
                    allowed=policy,
                    credentials=security.server_credentials(),
                    trust=security.receiver,
                    max_workers=48,
                )
            )
        if node == self.plan.province:
            return
        source = SqlBatchSource(
            engine,
            node,
            signer=security.signer.sign,
            attest=AttestEvery(self.plan.attest_records, self.plan.attest_interval_s),
        )
        self.sources[node] = source
        chaos = self.chaos[node] = ChaosSource(source, node, self.note)
        parent = self.plan.province if node in self.plan.cities else self.plan.city_of(node)
        link = Link(
            "up",
            f"127.0.0.1:{self.plan.proxies[parent]}",
            chaos,
            node=node,
            origins=up_origins(node, source),
            linger=self.plan.linger_s,
            backoff_max=3.0,
            credentials=security.channel_credentials,
            trust=security.sender,
            tls_name=security.tls_name,
            up=True,
        )
        self._spawn(lambda: link.run_forever(self.stop), f"link-{node}")
        self._spawn(lambda: self._attesting(source), f"attest-{node}")
        if node not in self.plan.cities:
            self._spawn(lambda: self._writing(engine, node), f"writer-{node}")

    def _attesting(self, source: SqlBatchSource) -> None:
        while not self.stop.wait(1.0):
            try:
                source.attest()
            except Exception as exc:  # a store fault: the next round tries again
                print(f"attest failed: {exc!r}", file=sys.stderr)

    def _writing(self, engine: Any, county: str) -> None:
        """A case about every ``case_every_s`` (jittered), as a hall's transitions write it: its snapshot and its
        events through the outbox, numbered by the county's gap-free counter."""
        rng = random.Random(f"{county}-{os.getpid()}")
        writing = self.directory / "stop-writing"
        while not self.stop.wait(rng.uniform(0.5, 1.5) * self.plan.case_every_s):
            if writing.exists():
                return
            try:
                _write_case(engine, county, rng.choice(self.templates))
            except Exception as exc:  # a store fault: the next case tries again
                print(f"write failed at {county}: {exc!r}", file=sys.stderr)

    def _chaos(self) -> None:
        go = self.directory / "go"
        while not go.exists():
            if self.stop.wait(0.2):
                return
        t0 = float(go.read_text(encoding="utf-8"))
        due = sorted(
            (f for f in self.plan.faults if f.kind in FRAME_KINDS and f.target in self.chaos),
            key=lambda f: f.at,
        )
        for fault in due:
            if fault.id in self.applied:
                continue
            if self.stop.wait(max(0.0, t0 + fault.at - time.time())):
                return
            self.chaos[fault.target].arm(fault)

    def _control(self) -> None:
        counties = [n for n in self.plan.hosts[self.name] if n in self.sources and n not in self.plan.cities]
        cities = [n for n in self.plan.hosts[self.name] if n in self.plan.cities]
        for flag, nodes in (("stop-writing", counties), ("state-cities", cities)):
            while not (self.directory / flag).exists():
                if self.stop.wait(0.2):
                    return
            if flag == "stop-writing":
                time.sleep(2 * self.plan.case_every_s)  # every writer has seen the flag
            tops = {}
            for node in nodes:
                while True:
                    try:
                        tops[node] = self.sources[node].attest(force=True) or 0
                        break
                    except Exception as exc:  # a store fault: again
                        print(f"statement failed at {node}: {exc!r}", file=sys.stderr)
                        time.sleep(0.5)
            (self.directory / f"{flag}-{self.name}.done").write_text(json.dumps(tops), encoding="utf-8")

    def close(self) -> None:
        self.stop.set()
        for server in self.servers:
            server.stop(grace=None)
        for thread in self.threads:
            thread.join(timeout=5)
        for engine in self.engines:
            engine.dispose()


_CASE = "@CASE@"
_ORIGIN = "@ORIGIN@"


def _write_case(engine: Any, county: str, template: Template) -> None:
    now = utcnow()
    day = now.astimezone(CST).date()
    with UnitOfWork(engine) as uow:
        n = outbox_store.next_value(uow.conn, f"case_no:{county}:{day:%Y%m%d}")
        case_no = f"{county}-{day:%Y%m%d}-{n:06d}"
        records = [
            outbox_store.OutboxRecord(
                t,
                i.replace(_CASE, case_no),
                op,
                json.loads(payload.replace(_CASE, case_no).replace(_ORIGIN, county)),
            )
            for t, i, op, payload in template
        ]
        outbox_store.append(uow.conn, origin=county, records=records, created_at=now)
        uow.commit()


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    plan = Plan.read(Path(args[0]))
    configure_logging("json", "error")
    host = Host(plan, args[1])
    ended = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: ended.set())
    signal.signal(signal.SIGINT, lambda *_: ended.set())
    host.start()
    (Path(plan.root) / f"up-{args[1]}.{os.getpid()}").touch()
    ended.wait()
    host.close()


if __name__ == "__main__":
    main()
