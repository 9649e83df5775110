"""Start a federation of real processes on loopback: the demo's engine, and the multi-process tests' harness.

Every node and every agent is its own ``sunshine …`` process in its own data directory under ``workdir``. The
launcher knows only commands, port files and HTTP/gRPC endpoints; it carries no tier logic. Ports are chosen by
the processes (``host:0``) and read back from their port files; a node restarted after a stop or a kill listens
on the port it had (the node keeps it: :mod:`federation.bound_ports`), so the agents pointed at it reconnect by
themselves. Each process's PID is in ``<kind>.pid`` of its data directory while the launcher runs it.

Once :meth:`Federation.supervise` is called, a node, agent or extranet node that exits without being told to is
started again with the same command line (:mod:`province_center.demo.processes`). :meth:`Federation.stop_all`
stops in order: the writers first (workloads, extranet nodes, county nodes), then each tier's agents drain their
link up (counties, then cities: every record acknowledged by the province), then the agents and the upper tiers.

What the demo reads from the running nodes is :mod:`province_center.demo.readings` (a mixin of
:class:`Federation`); the nodes (:data:`DEMO_TOPOLOGY`, :class:`NodeSpec`) and :class:`LaunchError` are
:mod:`province_center.demo.topology`, re-exported here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from federation.bound_ports import spare_port
from federation.config import Config, dump_toml, load_config, read_toml_sections
from federation.errors import SunshineError
from federation.http_client import http_client, logged_in_client
from federation.identities import DivisionLevel, ca_parent_of, extranet_of
from federation.storage.engine import engine_from_config
from federation.timeutil import utcnow
from province_center.demo.drain import wait_drained
from province_center.demo.processes import Proc, Processes, forget_ports
from province_center.demo.readings import FederationReadings
from province_center.demo.supervisor import Supervisor
from province_center.demo.topology import DEMO_TOPOLOGY, DemoPerson, LaunchError, NodeSpec, cli, people_of, read_port

__all__ = ["DEMO_TOPOLOGY", "LINGER_MS", "DemoPerson", "Federation", "LaunchError", "NodeSpec", "Proc"]

PASSWORD_FILE = "demo-password.txt"  # the one password of every demo account (and of each node's first admin)
LINGER_MS = 50  # [replication] linger_ms of every node and agent: how often a busy writer seals, the tail's hold


DRAIN_TIMEOUT_S = 60.0  # per tier, in an ordered stop


@dataclass
class Federation(FederationReadings):
    """The processes of a federation under ``workdir`` (one data directory per node, named by its code)."""

    workdir: Path
    specs: Sequence[NodeSpec] = DEMO_TOPOLOGY
    env: Mapping[str, str] = field(default_factory=dict)
    county_env: Mapping[str, str] = field(default_factory=dict)  # e.g. the demo's simulated clock
    grpc_ports: dict[str, int] = field(default_factory=dict)
    http_ports: dict[str, int] = field(default_factory=dict)
    insecure_dev: bool = False  # a benchmark's comparison only: plaintext links, unsigned batches, no enrolment
    extranets: Sequence[str] = ()  # counties that run an extranet node (外网节点, ``371122-ext``) beside them

    def __post_init__(self) -> None:
        self.workdir = self.workdir.resolve()
        self.by_code = {s.division: s for s in self.specs}
        if self.county_env.get("SUNSHINE_SIMULATION_ENABLED") == "true" and not self.county_env.get(
            "SUNSHINE_SIMULATION_ANCHOR"
        ):
            # one simulated time for every county process (node, agent, workload): the clock reads its start now
            self.county_env = {**self.county_env, "SUNSHINE_SIMULATION_ANCHOR": utcnow().isoformat()}
        base = {k: v for k, v in os.environ.items() if not k.startswith("SUNSHINE_")}
        # one keyring passphrase for the demo's nodes (each keeps its own encrypted keyring in its data directory)
        passphrase = {"SUNSHINE_KEYRING_PASSPHRASE": secrets.token_urlsafe(24)}
        self._env = {**base, "SUNSHINE_LOG_FORMAT": "json", **passphrase, **self.env}
        self.http = http_client(timeout=10.0)  # the demo's calls to its own nodes (no proxy from the environment)
        self._sessions: dict[tuple[str, str], httpx.Client] = {}  # (division, user) → logged-in client
        self.processes = Processes(self._env)

    @property
    def child_env(self) -> dict[str, str]:
        """The environment every process of the federation starts with (a ``sunshine`` command run beside them)."""
        return dict(self._env)

    # -- people ---------------------------------------------------------------------------------------------------

    @property
    def password_file(self) -> Path:
        """The demo's one password (every account it opens), in a 0600 file made once per working directory."""
        path = self.workdir / PASSWORD_FILE
        if not path.exists():
            self.workdir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(secrets.token_urlsafe(18) + "\n")
        return path

    @property
    def password(self) -> str:
        return self.password_file.read_text(encoding="utf-8").splitlines()[0]

    def people(self, division: str) -> list[DemoPerson]:
        """The demo's people with an account at ``division``'s node."""
        return people_of(self.by_code[division], list(self.specs))

    def person(self, division: str, role: str) -> DemoPerson:
        """The first of ``division``'s people with ``role`` bound to ``division`` itself."""
        return next(p for p in self.people(division) if p.role == role and p.division == division)

    def add_people(self) -> None:
        """Open the demo's accounts at every (initialised) node, in its database, all with the demo's password."""
        from security.accounts import accounts_for

        password = self.password
        for s in self.specs:
            engine = engine_from_config(load_config(self.config(s.division), environ={}))
            try:
                accounts = accounts_for(engine, s.division)
                have = {a.user_id for a in accounts.all()}
                for p in self.people(s.division):
                    if p.user_id not in have:
                        accounts.add(p.user_id, name=p.name, division=p.division, roles=[p.role], password=password)
            finally:
                engine.dispose()

    def session(self, division: str, user_id: str) -> httpx.Client:
        """A client of ``division``'s node logged in as ``user_id`` (``POST /api/v1/auth/token``), made once per
        (node, person) and reused."""
        key = (division, user_id)
        client = self._sessions.get(key)
        if client is None:
            try:
                client = logged_in_client(self.url(division), user_id, self.password)
            except httpx.HTTPStatusError as exc:
                raise LaunchError(f"{user_id} 在 {division} 登录失败：{exc.response.text[:200]}") from None
            self._sessions[key] = client
        return client

    def as_role(self, division: str, role: str) -> httpx.Client:
        """A client of ``division``'s node logged in as its person with ``role``."""
        return self.session(division, self.person(division, role).user_id)

    # -- layout ---------------------------------------------------------------------------------------------------

    def dir(self, division: str) -> Path:
        return self.workdir / division

    def config(self, division: str) -> Path:
        return self.dir(division) / "sunshine.toml"

    def agent_config(self, division: str) -> Path:
        return self.dir(division) / "agent.toml"

    def children(self, division: str) -> list[NodeSpec]:
        return [s for s in self.specs if s.parent == division]

    def counties(self) -> list[NodeSpec]:
        return [s for s in self.specs if s.level is DivisionLevel.COUNTY]

    # -- extranet nodes (外网节点) ----------------------------------------------------------------------------------

    def extranet_ports(self, county: str) -> tuple[int, int]:
        """The gRPC and HTTP ports of ``county``'s extranet node: chosen once, before anything starts, because the
        county publishes to the one and prints the other in its SMS, and both must survive a restart."""
        node = extranet_of(county)
        if node not in self.grpc_ports:
            self.grpc_ports[node] = _free_port()
            self.http_ports[node] = _free_port()
        return self.grpc_ports[node], self.http_ports[node]

    def extranet_env(self, county: str) -> dict[str, str]:
        """What a county with an extranet node adds to its node's and agent's environment: where to publish."""
        if county not in self.extranets:
            return {}
        grpc_port, http_port = self.extranet_ports(county)
        return {
            "SUNSHINE_EXTRANET_LINK": f"127.0.0.1:{grpc_port}",
            "SUNSHINE_EXTRANET_PORTAL_URL": f"http://127.0.0.1:{http_port}",
        }

    def init_extranet(self, county: str) -> None:
        """``sunshine extranet init`` for ``county``'s extranet node, in its own data directory."""
        node = extranet_of(county)
        args = ["extranet", "init", "--division", county, "--data-dir", str(self.dir(node))]
        done = subprocess.run(cli(*args), env=self._env, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise LaunchError(f"{node} 初始化失败：{done.stdout[-400:]}{done.stderr[-400:]}")

    def start_extranet(self, county: str, *, wait: bool = True) -> Proc:
        """Enrol ``county``'s extranet node at the county's city, then start it (public HTTP, its receiver, its link
        up to the county — which must be listening)."""
        node = extranet_of(county)
        self.enrol(node)
        grpc_port, http_port = self.extranet_ports(county)
        d = self.dir(node)
        forget_ports(f"extranet:{node}", d)
        env = {
            "SUNSHINE_REPLICATION_LISTEN": f"127.0.0.1:{grpc_port}",
            "SUNSHINE_REPLICATION_UPSTREAM": f"127.0.0.1:{self.grpc_ports[county]}",
            "SUNSHINE_HTTP_PORT": str(http_port),
        }
        args = cli("extranet", "serve", "--config", str(self.config(node)), *self._dev())
        proc = self._start(f"extranet:{node}", args, "node.log", env)
        if wait:
            self.wait_extranet(county)
        return proc

    def wait_extranet(self, county: str) -> None:
        node = extranet_of(county)
        proc, d = self.procs[f"extranet:{node}"], self.dir(node)
        self._wait_file(d / "http.port", proc)
        self._wait_file(d / "grpc.port", proc)

    # -- set-up ---------------------------------------------------------------------------------------------------

    def init_all(self, *, catalogue: Path | None = None) -> None:
        """Initialise every node (in parallel) and publish the standards at the province."""
        running = []
        secret = str(self.password_file)
        for s in self.specs:
            d = str(self.dir(s.division))
            if s.level is DivisionLevel.COUNTY:
                args = ["county", "init", "--division", s.division, "--name", s.name, "--data-dir", d, "--no-standards"]
            else:
                args = [s.level.value, "init", "--division", s.division, "--name", s.name, "--data-dir", d]
            args += ["--admin-password-file", secret]
            running.append(
                (s, subprocess.Popen(cli(*args), env=self._env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            )
        for s, p in running:
            try:
                out, _ = p.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                raise LaunchError(f"{s.name}（{s.division}）初始化 120 秒内未完成") from None
            if p.returncode != 0:
                raise LaunchError(f"{s.name}（{s.division}）初始化失败：{out.decode(errors='replace')[-800:]}")
        for s in self.specs:  # the node's writers seal with the linger its agent uses (federation.storage.seal)
            path = self.config(s.division)
            if "[replication]" not in path.read_text(encoding="utf-8"):
                with path.open("a", encoding="utf-8") as f:
                    f.write(f"\n[replication]\nlinger_ms = {LINGER_MS}\n")
        self.add_people()
        for county in self.extranets:
            self.init_extranet(county)
        province = next(s for s in self.specs if s.level is DivisionLevel.PROVINCE)
        publish = ["standards", "publish", "--config", str(self.config(province.division))]
        if catalogue is not None:
            publish += ["--from-catalogue", str(catalogue)]
        else:
            from federation.data import CATALOGUE_CSV

            publish += ["--from-catalogue", str(CATALOGUE_CSV)]
        done = subprocess.run(cli(*publish), env=self._env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LaunchError(f"省级发布标准包失败：{done.stdout[-400:]}{done.stderr[-400:]}")

    # -- processes ------------------------------------------------------------------------------------------------

    @property
    def procs(self) -> dict[str, Proc]:
        """The federation's processes by name (``node:371122``, ``agent:371100``, …)."""
        return self.processes.procs

    @property
    def supervisor(self) -> Supervisor | None:
        return self.processes.supervisor

    def _start(self, key: str, args: list[str], log_name: str, env: Mapping[str, str] | None = None) -> Proc:
        return self.processes.start(key, args, self.dir(key.rsplit(":", maxsplit=1)[-1]) / log_name, env)

    def supervise(self, report: Callable[[str], None] = lambda _line: None) -> Supervisor:
        """From now on restart nodes, agents and extranet nodes that exit without being told to (with backoff);
        ``report`` hears of each restart (:mod:`province_center.demo.processes`)."""
        return self.processes.supervise(report)

    def _wait_file(self, path: Path, proc: Proc, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive:
                raise LaunchError(f"{proc.name} 进程提前退出（退出码 {proc.popen.returncode}），详见 {proc.log.name}")
            port = read_port(path)
            if port:
                return port
            time.sleep(0.05)
        raise LaunchError(f"{proc.name} 在 {timeout:.0f} 秒内未就绪（{path}）")

    def start_node(self, division: str, *, wait: bool = True) -> Proc:
        """Start the node process (county: HTTP API and receiver; city/province: receiver); wait until it listens."""
        spec = self.by_code[division]
        d = self.dir(division)
        forget_ports(f"node:{division}", d)
        env = {
            "SUNSHINE_REPLICATION_LISTEN": f"127.0.0.1:{self.grpc_ports.get(division, 0)}",
            # where this node's agent (its own process, agent.toml) serves its status: the exchange admin's pages
            # ask it there (port 0: the port the agent writes to metrics.port in the shared data directory)
            "SUNSHINE_REPLICATION_METRICS": "127.0.0.1:0",
        }
        if spec.level is DivisionLevel.COUNTY:
            port = self.http_ports.get(division, 0)
            args = cli("county", "serve", "--config", str(self.config(division)), "--port", str(port), *self._dev())
            env |= self.extranet_env(division)
            proc = self._start(f"node:{division}", args, "node.log", {**env, **self.county_env})
        else:
            args = cli(spec.level.value, "serve", "--config", str(self.config(division)), *self._dev())
            args += ["--http-port", str(self.http_ports.get(division, 0))]  # the inspectors' API
            proc = self._start(f"node:{division}", args, "node.log", env)
        if wait:
            self.wait_node(division)
        return proc

    def wait_node(self, division: str) -> None:
        proc, d = self.procs[f"node:{division}"], self.dir(division)
        self.http_ports[division] = self._wait_file(d / "http.port", proc)  # every level serves HTTP
        self.grpc_ports[division] = self._wait_file(d / "grpc.port", proc)
        if self.children(division) and not self.insecure_dev:  # its children enrol there
            self._wait_file(d / "enrol.port", proc)

    def write_agent_config(self, division: str, *, upstream: str | None = None) -> Path:
        """The agent's configuration: the node's own sections plus its links (``upstream`` overrides the parent's
        receiver, e.g. to pass through a test's TCP proxy)."""
        spec = self.by_code[division]
        sections = {k: v for k, v in read_toml_sections(self.config(division)).items() if k in {"node", "database"}}
        if upstream is None and spec.parent is not None:
            upstream = f"127.0.0.1:{self.grpc_ports[spec.parent]}"
        sections["replication"] = {
            "upstream": upstream or "",
            "downstream": [f"127.0.0.1:{self.grpc_ports[c.division]}" for c in self.children(division)],
            "metrics": "127.0.0.1:0",
            "linger_ms": LINGER_MS,
        }
        path = self.agent_config(division)
        path.write_text(dump_toml(sections, f"Sunshine 同步代理配置（{spec.name}）"), encoding="utf-8")
        return path

    def start_agent(self, division: str, *, upstream: str | None = None, wait: bool = True) -> Proc:
        d = self.dir(division)
        forget_ports(f"agent:{division}", d)
        path = self.write_agent_config(division, upstream=upstream)
        args = cli("agent", "run", "--config", str(path), *self._dev())
        env = {**self.extranet_env(division)}
        if self.by_code[division].level is DivisionLevel.COUNTY:
            env |= self.county_env  # the county's clock: the backlog's age is measured in the node's time
        proc = self._start(f"agent:{division}", args, "agent.log", env)
        if wait:
            self.wait_agent(division)
        return proc

    def wait_agent(self, division: str) -> None:
        self._wait_file(self.dir(division) / "metrics.port", self.procs[f"agent:{division}"])

    def start_workload(
        self,
        division: str,
        *,
        seed: int,
        rate: float,
        start: str | None = None,
        duration: float = 0.0,
        start_file: Path | None = None,
    ) -> Proc:
        """The hall workload against a county; ``start`` (default: the node's clock now) is the first arrival, or
        the moment written to ``start_file`` once the workload is ready (:meth:`wait_workload`)."""
        url = self.url(division)
        args = cli("workload", "run", "--url", url, "--seed", str(seed), "--rate", str(rate))
        args += ["--password-file", str(self.password_file)]
        if start is not None:
            args += ["--start", start]
        if duration:
            args += ["--duration", str(duration)]
        if start_file is not None:
            args += ["--start-file", str(start_file)]
        return self._start(f"workload:{division}", args, "workload.log")

    def wait_workload(self, division: str, timeout: float = 180.0) -> None:
        """Until the workload of ``division`` has logged its people in (its log says ``workload.started``)."""
        proc = self.procs[f"workload:{division}"]
        path = self.dir(division) / "workload.log"
        deadline = time.monotonic() + timeout
        while b'"workload.started"' not in path.read_bytes():
            if not proc.alive:
                raise LaunchError(f"{proc.name} 进程提前退出（退出码 {proc.popen.returncode}），详见 {path}")
            if time.monotonic() > deadline:
                raise LaunchError(f"{proc.name} 在 {timeout:.0f} 秒内未就绪（{path}）")
            time.sleep(0.1)

    def _dev(self) -> tuple[str, ...]:
        return ("--insecure-dev",) if self.insecure_dev else ()

    def start_nodes(self) -> None:
        """Every node, level by level: each enrolled first at its parent (already running, its enrolment port
        open), then started; in parallel within a level."""
        for level in (DivisionLevel.PROVINCE, DivisionLevel.CITY, DivisionLevel.COUNTY):
            specs = [s for s in self.specs if s.level is level]
            for s in specs:
                self.enrol(s.division)
            for s in specs:
                self.start_node(s.division, wait=False)
            for s in specs:
                self.wait_node(s.division)

    def start_all(self) -> None:
        """Every node (:meth:`start_nodes`) and extranet node, then — once all listen, so each agent knows its
        peers' ports — every agent, in parallel."""
        self.start_nodes()
        for county in self.extranets:
            self.start_extranet(county, wait=False)
        for county in self.extranets:
            self.wait_extranet(county)
        for s in self.specs:
            self.start_agent(s.division, wait=False)
        for s in self.specs:
            self.wait_agent(s.division)

    def load(self, division: str) -> Config:
        """The node's configuration as its processes read it (the demo's keyring passphrase included)."""
        return load_config(
            self.config(division), environ={k: v for k, v in self._env.items() if k.startswith("SUNSHINE_")}
        )

    def enrol(self, division: str) -> None:
        """Enrol ``division`` at its parent (running), as ``sunshine admin enrol`` + ``sunshine admin join`` do: a
        one-time token issued at the parent, keys generated at the child. Nothing when already enrolled (a restart)
        or for the province (its own root made its certificate at ``init``)."""
        from federation.storage.uow import UnitOfWork
        from federation.timeutil import utcnow
        from security.credentials import pki_paths
        from security.enrolment import EnrolmentFile, enrol
        from security.keystore import keystore_for
        from security.node import federation_suite
        from security.tokens import issue_token

        parent_code = ca_parent_of(division)  # a county's extranet node enrols at the county's city
        child = self.load(division)
        if self.insecure_dev or parent_code is None or pki_paths(child).node.exists():
            return
        parent = self.load(parent_code)
        port = read_port(self.dir(parent_code) / "enrol.port")
        if port is None:
            raise LaunchError(f"{parent_code} 的登记端口未就绪，{division} 无法登记")
        engine = engine_from_config(parent)
        try:
            with UnitOfWork(engine) as uow:
                token = issue_token(
                    uow.conn, division=division, issued_by=parent_code, now=utcnow(), ttl=timedelta(minutes=10)
                )
                uow.commit()
            suite = federation_suite(engine)
        finally:
            engine.dispose()
        root = (pki_paths(parent).root).read_text(encoding="ascii")
        ticket = EnrolmentFile(
            division, parent_code, f"127.0.0.1:{port}", token.token, root, suite, token.expires_at.isoformat()
        )
        enrol(child, keystore_for(child), ticket)

    def url(self, division: str) -> str:
        return f"http://127.0.0.1:{self.http_ports[division]}"

    def wait_for_standards(self, timeout: float = 60.0) -> None:
        """Until every county runs the standards the province published (they came down through its city), as its
        public ``/api/v1/health`` says."""
        deadline = time.monotonic() + timeout
        waiting = {s.division for s in self.counties()}
        while waiting:
            for division in sorted(waiting):
                try:
                    reply = self.http.get(f"{self.url(division)}/api/v1/health", timeout=5.0)
                except httpx.HTTPError:
                    continue
                # a node without standards answers too, with no version
                if reply.status_code == 200 and reply.json().get("standards_version"):
                    waiting.discard(division)
            if waiting and time.monotonic() > deadline:
                raise LaunchError(f"{timeout:.0f} 秒内标准包未下发到：{', '.join(sorted(waiting))}")
            time.sleep(0.2)

    def stop(self, *keys: str, sig: int = signal.SIGINT, timeout: float = 20.0) -> None:
        """Signal every process of ``keys`` at once (default: as Ctrl-C), then wait for each (SIGKILL after
        ``timeout``)."""
        self.processes.stop(*keys, sig=sig, timeout=timeout)

    def kill(self, key: str) -> None:
        """SIGKILL: no clean-up of any kind, as in a power cut of that process."""
        self.stop(key, sig=signal.SIGKILL)

    def stop_all(self, *, drain_timeout: float = DRAIN_TIMEOUT_S) -> dict[str, Any]:
        """In order: the writers (workloads, extranet nodes, county nodes); each tier's nodes state their figures
        (``admin attest``) and their agents drain their link up (the counties', then the cities'), so the tiers
        above check every statement; the agents; the cities' and the province's nodes. Every process stops
        cleanly. What an agent could not drain within ``drain_timeout`` is returned (its name → backlog or
        error), and the rest goes on stopping."""
        running = self.processes.names()
        for kind in ("workload:", "extranet:"):
            self.stop(*(k for k in running if k.startswith(kind)))
        self.stop(*(f"node:{c.division}" for c in self.counties()))
        left: dict[str, Any] = {}
        for level in (DivisionLevel.COUNTY, DivisionLevel.CITY):
            tier = [s.division for s in self.specs if s.level is level and f"agent:{s.division}" in running]
            for division in tier:  # its statement of its own figures, last in its stream: every tier checks it
                with contextlib.suppress(SunshineError, OSError):  # a node that cannot state: seen in ``admin verify``
                    self.attest(division)
            left |= wait_drained({d: self._status_url(d) for d in tier}, drain_timeout)
        self.stop(*(k for k in running if k.startswith("agent:")))
        self.stop(*(k for k in running if k.startswith("node:")))
        self.processes.end_supervision()
        for client in self._sessions.values():
            client.close()
        self._sessions.clear()
        self.http.close()
        return left

    def _status_url(self, division: str) -> Callable[[], str]:
        """The agent's status address, read from its port file when asked (after a restart too)."""
        return lambda: f"http://127.0.0.1:{read_port(self.dir(division) / 'metrics.port')}"

    def check_alive(self) -> None:
        self.processes.check_alive()

    # -- observing ------------------------------------------------------------------------------------------------

    def province(self) -> str:
        return next(s.division for s in self.specs if s.level is DivisionLevel.PROVINCE)

    def sunshine(self, division: str, *args: str) -> str:
        """``sunshine …`` with the node's configuration; its output (a failure raises LaunchError)."""
        cmd = cli(*args, "--config", str(self.config(division)))
        done = subprocess.run(cmd, env=self._env, capture_output=True, text=True, check=False, timeout=300)
        if done.returncode != 0:
            raise LaunchError(f"sunshine {' '.join(args)}（{division}）失败：{done.stdout[-400:]}{done.stderr[-400:]}")
        return done.stdout


def _free_port() -> int:
    """A TCP port free on loopback now (a process told to listen on it binds it moments later): below the ephemeral
    range, so that the outgoing connections of the processes already running do not take it meanwhile."""
    return spare_port()
