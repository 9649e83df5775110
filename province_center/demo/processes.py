"""The launcher's processes: each started in its own session with its log and PID file in its data directory,
stopped by signal, restarted with the command line it was started with, and — once :meth:`Processes.supervise`
is called — watched by a :class:`~province_center.demo.supervisor.Supervisor` (nodes, agents and extranet nodes
that exit without being told to are started again).

A process is named ``kind:division`` (``node:371122``, ``agent:371100``, ``extranet:371122-ext``,
``workload:371122``); its PID is in ``<kind>.pid`` of its data directory while the launcher runs it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from province_center.demo.supervisor import Supervisor
from province_center.demo.topology import LaunchError

__all__ = ["SUPERVISED", "Proc", "Processes", "forget_ports"]

SUPERVISED = ("node:", "agent:", "extranet:")  # services; workloads are jobs that end by themselves
_PORT_FILES = {  # what each kind of process writes to its data directory while it listens
    "node": ("grpc.port", "http.port", "enrol.port"),
    "agent": ("metrics.port",),
    "extranet": ("grpc.port", "http.port"),
}


def forget_ports(key: str, directory: Path) -> None:
    """Remove the port files process ``key`` (``kind:division``) writes to ``directory`` while it listens, so that
    a wait reads the ports of its next start, not the last one's."""
    for name in _PORT_FILES.get(key.split(":", maxsplit=1)[0], ()):
        (directory / name).unlink(missing_ok=True)


@dataclass
class Proc:
    name: str
    args: list[str]
    popen: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None


class Processes:
    """The processes of one federation, by name; ``env``: the environment every one of them starts with."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.procs: dict[str, Proc] = {}
        self.supervisor: Supervisor | None = None
        self._lock = threading.RLock()  # procs and _stopping: the supervisor's thread restarts beside the caller's
        self._stopping: set[str] = set()

    def names(self) -> list[str]:
        with self._lock:
            return list(self.procs)

    def start(self, key: str, args: list[str], log_path: Path, env: Mapping[str, str] | None = None) -> Proc:
        """Start ``key`` (``env`` added to the common environment); its output appended to ``log_path``."""
        with self._lock:
            self._stopping.discard(key)
            proc = self.procs[key] = self._spawn(key, args, log_path, dict(env or {}))
        return proc

    def _spawn(self, key: str, args: list[str], path: Path, env: dict[str, str]) -> Proc:
        log = path.open("ab")
        popen = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**self.env, **env},
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - a single prctl call, no locks
        )
        pid_file = path.parent / f"{key.split(':', maxsplit=1)[0]}.pid"
        pid_file.write_text(f"{popen.pid}\n", encoding="utf-8")
        return Proc(key, args, popen, log, path, env)

    def restart(self, key: str) -> Proc:
        """Start ``key`` again with the command line and environment it was started with (its log goes on) —
        unless it is being stopped (then it is left as it is)."""
        with self._lock:
            old = self.procs[key]
            if key in self._stopping:
                return old
            old.log.close()
            forget_ports(key, old.log_path.parent)  # a killed process leaves its port files behind
            proc = self.procs[key] = self._spawn(key, old.args, old.log_path, dict(old.env))
        return proc

    def supervise(self, report: Callable[[str], None]) -> Supervisor:
        """Restart nodes, agents and extranet nodes that exit without being told to (with backoff); ``report``
        hears of each restart."""

        def keys() -> list[str]:
            return [k for k in self.names() if k.startswith(SUPERVISED)]

        def stopping(key: str) -> bool:
            with self._lock:
                return key in self._stopping

        self.supervisor = Supervisor(
            keys=keys,
            exited=lambda key: self.procs[key].popen.poll(),
            started_at=lambda key: self.procs[key].started,
            stopping=stopping,
            restart=self.restart,
            report=report,
        )
        self.supervisor.start()
        return self.supervisor

    def stop(self, *keys: str, sig: int = signal.SIGINT, timeout: float = 20.0) -> None:
        """Signal every process of ``keys`` at once (default: as Ctrl-C), then wait for each (SIGKILL after
        ``timeout``). The supervisor leaves them stopped."""
        with self._lock:
            self._stopping.update(keys)
            procs = [self.procs[k] for k in keys if k in self.procs]
        for proc in procs:
            if proc.alive:
                proc.popen.send_signal(sig)
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
            proc.log.close()

    def end_supervision(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()

    def check_alive(self) -> None:
        """A process that exited unexpectedly: an error — unless it is supervised (it is being restarted), or the
        supervisor has given up on it."""
        failed = self.supervisor.failed() if self.supervisor is not None else {}
        with self._lock:
            procs = list(self.procs.values())
        for proc in procs:
            supervised = self.supervisor is not None and proc.name.startswith(SUPERVISED)
            if proc.name in failed or (not proc.alive and not proc.log.closed and not supervised):
                raise LaunchError(f"{proc.name} 意外退出（退出码 {proc.popen.returncode}），详见 {proc.log.name}")


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, SIGTERM this process when the launcher dies — a launcher killed
    outright (a test's timeout, SIGKILL) leaves no node or agent running in its own session behind it."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
