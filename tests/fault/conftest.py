"""The harness of the fault tests: a small federation of real processes, load, a cutting proxy, convergence.

One federation per module (start-up costs seconds per process): the province, a city and two counties on
loopback, each node and each agent its own process (:class:`province_center.demo.launcher.Federation`), 莒县's agent
reaching the city through a TCP proxy of the test's that can cut its connections mid-batch. Load is written
straight into a county's database from the test process through its :class:`ApprovalService`, as its HTTP API
would write it (fast and deterministic); the county's agent picks it up from the outbox like any other.
Every wait is bounded and polls; nothing sleeps for correctness.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import pytest
from sqlalchemy import Engine, select

from county_node.approval.domain import Action
from county_node.approval.services import ApprovalService
from county_node.bootstrap import build_county_node
from federation.config import load_config
from federation.storage import outbox
from federation.storage.engine import engine_from_config
from federation.storage.holdings import approval_holdings
from federation.storage.tables import replication_marks
from federation.storage.uow import UnitOfWork
from province_center.demo.launcher import Federation, NodeSpec

PROVINCE, CITY, JU, WULIAN = "370000", "371100", "371122", "371121"
TOPOLOGY = (
    NodeSpec(PROVINCE, "山东省"),
    NodeSpec(CITY, "日照市", PROVINCE),
    NodeSpec(JU, "莒县", CITY),
    NodeSpec(WULIAN, "五莲县", CITY),
)
COUNTIES = (JU, WULIAN)
UPPER = (CITY, PROVINCE)

WAIT = 30.0  # seconds any single step of a test may wait for at most
CONVERGE = 90.0  # seconds the federation has to converge after a fault

ITEM = "XK00003000"  # 食品经营许可 (promised), key fields 统一社会信用代码;经营场所
APPLICANT = "张三"
STEPS: tuple[tuple[Action, dict[str, Any]], ...] = (
    (Action.ACCEPT, {}),
    (Action.REVIEW, {"opinion": "同意"}),
    (Action.DECIDE, {"outcome": "approve", "fee_charged": "79.5"}),
    (Action.CONCLUDE, {}),
)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT, every: float = 0.05) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"等待超时（{timeout:g} 秒）：{what}")
        time.sleep(every)


# -- load ---------------------------------------------------------------------------------------------------------


class CountyWriter:
    """Cases written into a running county's database, transition by transition: up to ``open_cases`` cases in
    progress, each taken through submit → accept → review → decide → conclude."""

    def __init__(self, fed: Federation, division: str, *, open_cases: int = 16) -> None:
        self.division = division
        self._node = build_county_node(load_config(fed.config(division), environ={}))
        self.service: ApprovalService = self._node.approval
        self._open: deque[tuple[str, int]] = deque()
        self._open_cases = open_cases
        self.transitions = 0

    def submit(self) -> str:
        data = {"统一社会信用代码": "91371122MA3C000001", "经营场所": f"{self.division} 城阳街道 {self.transitions} 号"}
        case_no = self.service.submit(item_code=ITEM, applicant=APPLICANT, data=data, actor="窗口 1").case_no
        self._open.append((case_no, 0))
        self.transitions += 1
        return case_no

    def step(self) -> None:
        if len(self._open) < self._open_cases:
            self.submit()
            return
        case_no, k = self._open.popleft()
        action, params = STEPS[k]
        self.service.act(case_no, action, actor="审批员", params=params)
        if k + 1 < len(STEPS):
            self._open.append((case_no, k + 1))
        self.transitions += 1

    def run(self, n: int) -> None:
        for _ in range(n):
            self.step()

    def close(self) -> None:
        self._node.close()


class BackgroundLoad:
    """Writers stepping round-robin on a thread until stopped (at most ``limit`` transitions: bounded)."""

    def __init__(self, *writers: CountyWriter, limit: int = 50_000) -> None:
        self._writers = writers
        self._limit = limit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-load", daemon=True)
        self._error: BaseException | None = None
        self.transitions = 0

    def _run(self) -> None:
        try:
            while not self._stop.is_set() and self.transitions < self._limit:
                for w in self._writers:
                    w.step()
                self.transitions += 1
        except BaseException as exc:  # re-raised in the test's thread on exit
            self._error = exc

    def wait_more(self, n: int) -> None:
        """Until ``n`` more rounds have been written."""
        target = self.transitions + n
        wait_for(lambda: self.transitions >= target or self._error is not None, f"再写入 {n} 轮办件")
        self._check()

    def _check(self) -> None:
        if self._error is not None:
            raise AssertionError(f"写入负载失败：{self._error!r}") from self._error

    def __enter__(self) -> BackgroundLoad:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "负载线程未能在时限内停止"
        if exc is None:
            self._check()


# -- what each node holds -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkRow:
    high_water: int
    records: int


class Probe:
    """Reads every node's database from the test process (one engine per node, read-only transactions)."""

    def __init__(self, fed: Federation) -> None:
        self.fed = fed
        self._engines: dict[str, Engine] = {}

    def engine(self, division: str) -> Engine:
        if division not in self._engines:
            self._engines[division] = engine_from_config(load_config(self.fed.config(division), environ={}))
        return self._engines[division]

    def holdings(self, division: str) -> dict[str, dict[str, Any]]:
        with UnitOfWork(self.engine(division), readonly=True) as uow:
            return {h.origin: h.to_dict() for h in approval_holdings(uow.conn)}

    def marks(self, division: str) -> dict[str, MarkRow]:
        with UnitOfWork(self.engine(division), readonly=True) as uow:
            rows = uow.conn.execute(
                select(replication_marks.c.origin, replication_marks.c.high_water, replication_marks.c.records)
            ).all()
        return {r.origin: MarkRow(int(r.high_water), int(r.records)) for r in rows}

    def last_seq(self, county: str) -> int:
        """The county's last outbox seq (what its replicas' marks must reach)."""
        with UnitOfWork(self.engine(county), readonly=True) as uow:
            return outbox.high_water(uow.conn, county)

    def differences(self) -> list[str]:
        """Why the federation has not converged (empty once every tier holds exactly its subtree's records)."""
        diffs = []
        held = {d: self.holdings(d) for d in UPPER}
        marks = {d: self.marks(d) for d in UPPER}
        for county in COUNTIES:
            own = self.holdings(county)
            if set(own) - {county}:
                diffs.append(f"{county} 持有其他来源的办件：{sorted(set(own) - {county})}")
            expected, last = own.get(county), self.last_seq(county)
            for tier in UPPER:
                got = held[tier].get(county)
                if got != expected:
                    diffs.append(f"{tier} 持有 {county} 的 {got}，而 {county} 自身为 {expected}")
                mark = marks[tier].get(county, MarkRow(0, 0))
                if mark.high_water != last:
                    diffs.append(f"{tier} 对 {county} 的高水位 {mark.high_water}，{county} 发件箱末序号 {last}")
                if mark.records != mark.high_water:
                    diffs.append(
                        f"{tier} 收到 {county} 的记录 {mark.records} 条，高水位 {mark.high_water}（有记录重复或缺失）"
                    )
        for tier in UPPER:
            extra = set(held[tier]) - set(COUNTIES)
            if extra:
                diffs.append(f"{tier} 持有其下级之外的来源：{sorted(extra)}")
        return diffs

    def wait_converged(self, timeout: float = CONVERGE) -> None:
        """Until every tier holds exactly the records of its subtree: per origin the same cases, events and
        digest as the origin, marks at the origin's last seq, every record received once."""
        deadline = time.monotonic() + timeout
        while diffs := self.differences():
            self.fed.check_alive()
            if time.monotonic() > deadline:
                pytest.fail(f"{timeout:g} 秒内未收敛：\n" + "\n".join(diffs))
            time.sleep(0.25)

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()


def wait_attested(fed: Federation) -> None:
    """Each county states its figures now (``sunshine admin attest``); wait until its city and the province have
    checked that very statement — and every verdict agrees: every record of every kind held at every tier."""
    stated = {county: fed.attest(county) for county in COUNTIES}

    def verdicts() -> dict[tuple[str, str], Any]:
        return {(v.origin, v.checked_by): v for v in fed.verdicts(PROVINCE)}

    def checked() -> bool:
        held = verdicts()
        return all(
            seq is None or ((county, tier) in held and held[(county, tier)].statement_seq >= seq)
            for county, seq in stated.items()
            for tier in UPPER
        )

    wait_for(checked, "各县的核对声明经市级与省级核对", CONVERGE)
    differ = {key: v.differ for key, v in verdicts().items() if key[0] in COUNTIES and v.verdict != "agree"}
    assert differ == {}, differ


def up_link(fed: Federation, county: str) -> dict[str, Any]:
    """The county agent's link up, as its ``/links`` shows it."""
    links = fed.links(county)["links"]
    return next(link for link in links if link["link"] == "up")


def lag(fed: Federation, county: str) -> int:
    """Records of ``county`` its agent has not had acknowledged by the city yet (``/links``)."""
    origins = up_link(fed, county)["origins"]
    return sum(o["lag_records"] for o in origins if o["origin"] == county)


# -- a TCP proxy that cuts -----------------------------------------------------------------------------------------


@dataclass
class _Pipe:
    client: socket.socket
    server: socket.socket
    threads: list[threading.Thread] = field(default_factory=list)

    def shut(self) -> None:
        for s in (self.client, self.server):
            with contextlib.suppress(OSError):  # already shut, or closed
                s.shutdown(socket.SHUT_RDWR)


class CuttingProxy:
    """A TCP forwarder on ``127.0.0.1:0`` to ``127.0.0.1:target_port`` that cuts every connection at once.

    ``cut_after(n)`` arms a cut: once ``n`` more bytes have gone from client to server, the proxy forwards only
    the first half of the chunk in hand and then shuts both sockets of every connection — a batch cut off
    mid-transfer, as by a dropped line."""

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pipes: list[_Pipe] = []
        self._closed = threading.Event()
        self._cut_at: int | None = None
        self.upstream_bytes = 0
        self.connections = 0
        self.cuts = 0
        self._acceptor = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        self._acceptor.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                server = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            pipe = _Pipe(client, server)
            with self._lock:
                self._pipes.append(pipe)
                self.connections += 1
            for src, dst, up in ((client, server, True), (server, client, False)):
                t = threading.Thread(target=self._pump, args=(pipe, src, dst, up), name="proxy-pump", daemon=True)
                pipe.threads.append(t)
                t.start()

    def _pump(self, pipe: _Pipe, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    return
                if upstream:
                    with self._lock:
                        self.upstream_bytes += len(data)
                        cut = self._cut_at is not None and self.upstream_bytes >= self._cut_at
                        if cut:
                            self._cut_at = None
                    if cut:
                        dst.sendall(data[: max(1, len(data) // 2)])
                        self.cut()
                        return
                dst.sendall(data)
        except OSError:
            return
        finally:
            pipe.shut()  # one direction ended: end the other one too

    def cut(self) -> None:
        """Shut every connection at once (both sockets)."""
        with self._lock:
            pipes, self._pipes = self._pipes, []
            self.cuts += 1
        for pipe in pipes:
            pipe.shut()
        for pipe in pipes:
            for t in pipe.threads:
                if t is not threading.current_thread():
                    t.join(WAIT)
            pipe.client.close()
            pipe.server.close()

    def cut_after(self, n: int) -> None:
        """Arm a cut ``n`` client-to-server bytes from now and wait until it has happened."""
        with self._lock:
            cuts = self.cuts
            self._cut_at = self.upstream_bytes + n
        wait_for(lambda: self.cuts > cuts, f"代理在 {n} 字节后切断连接")

    def close(self) -> None:
        self._closed.set()
        self._acceptor.join(WAIT)
        self._listener.close()
        self.cut()


# -- the rig -----------------------------------------------------------------------------------------------------


@dataclass
class Rig:
    """The running federation, with 莒县's agent reaching the city through ``proxy`` (a pass-through until a test
    arms a cut), a probe of every node's database, and a writer per county."""

    fed: Federation
    proxy: CuttingProxy
    probe: Probe
    writers: dict[str, CountyWriter]

    def start_agent(self, division: str) -> None:
        self.fed.start_agent(division, upstream=self.proxy.address if division == JU else None)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """Every node and agent started, the province's standards down at every county (they came through the city)."""
    fed = Federation(tmp_path_factory.mktemp("federation"), TOPOLOGY)
    proxy: CuttingProxy | None = None
    probe = Probe(fed)
    writers: dict[str, CountyWriter] = {}
    try:
        fed.init_all()
        fed.start_nodes()  # each enrolled at its parent, with mutual TLS on every link
        proxy = CuttingProxy(fed.grpc_ports[CITY])
        for spec in TOPOLOGY:
            fed.start_agent(spec.division, upstream=proxy.address if spec.division == JU else None, wait=False)
        for spec in TOPOLOGY:
            fed.wait_agent(spec.division)
        fed.wait_for_standards()
        writers.update((c, CountyWriter(fed, c)) for c in COUNTIES)
        yield Rig(fed, proxy, probe, writers)
    finally:
        for w in writers.values():
            w.close()
        probe.close()
        fed.stop_all()
        if proxy is not None:
            proxy.close()
