"""What the demo reads from the nodes of a running federation: what a node holds (from its database), its
certificate, its answer to a forged Hello, its agent's links and metrics, ``sunshine admin … --json``.

:class:`FederationReadings` is a mixin of :class:`province_center.demo.launcher.Federation`, which lays out the
nodes' directories and starts their processes.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any, Protocol

import httpx

from federation.config import Config
from province_center.demo.topology import LaunchError, cli, read_port

__all__ = ["FederationReadings"]


class _Layout(Protocol):
    """What the readings need of the federation: its nodes' layout, ports, environment and HTTP client."""

    http: httpx.Client
    grpc_ports: dict[str, int]
    _env: dict[str, str]

    def dir(self, division: str) -> Path: ...

    def config(self, division: str) -> Path: ...

    def load(self, division: str) -> Config: ...


class FederationReadings:
    """What the nodes and agents of a running federation hold and answer (a mixin of ``Federation``)."""

    def certificate(self: _Layout, division: str) -> dict[str, str]:
        """The node's certificate as ``sunshine admin certs`` shows it: issuer, validity, signature suite."""
        from security.credentials import NodeCredentials
        from security.keystore import keystore_for
        from security.trust import issuer_division

        cfg = self.load(division)
        creds = NodeCredentials(cfg, keystore_for(cfg))
        leaf = creds.chain[0]
        issuer = issuer_division(leaf) or ""
        return {"issuer": issuer, "not_after": leaf.not_valid_after_utc.isoformat(), "suite": creds.signing.suite}

    def forgery_attempt(self: _Layout, impostor: str, victim: str, receiver: str) -> str:
        """What ``receiver`` answers a node that opens a stream with its own certificate but says Hello as
        ``victim`` (the demo shows the refusal)."""
        import grpc

        from federation.wire.v1 import replication_pb2 as pb
        from federation.wire.v1 import replication_pb2_grpc as pb_grpc
        from security.credentials import NodeCredentials
        from security.keystore import keystore_for
        from security.pki import COMMON_NAME
        from sync_agent.convert import Hello, hello_to_proto

        cfg = self.load(impostor)
        creds = NodeCredentials(cfg, keystore_for(cfg))
        target = f"127.0.0.1:{self.grpc_ports[receiver]}"
        options = [("grpc.ssl_target_name_override", COMMON_NAME), ("grpc.enable_http_proxy", 0)]
        hello = Hello(victim, (victim,), "demo-forgery/1", secrets.token_bytes(32))
        with grpc.secure_channel(target, creds.channel_credentials(), options) as channel:
            try:
                for _ in pb_grpc.ReplicationStub(channel).Stream(
                    iter([pb.ClientMessage(hello=hello_to_proto(hello))]), timeout=10
                ):
                    return "未被拒绝"
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else None
                return f"{code.name if code else 'ERROR'}：{exc.details() if isinstance(exc, grpc.Call) else exc}"
        return "未被拒绝"

    def admin(self: _Layout, division: str, *args: str, config: Path | None = None) -> Any:
        """``sunshine admin … --json`` on a node, parsed."""
        cmd = cli("admin", *args, "--config", str(config or self.config(division)), "--json")
        done = subprocess.run(cmd, env=self._env, capture_output=True, text=True, check=False, timeout=60)
        if done.returncode != 0:
            raise LaunchError(
                f"sunshine admin {' '.join(args)}（{division}）失败：{done.stdout[-400:]}{done.stderr[-400:]}"
            )
        return json.loads(done.stdout)

    def holdings(self: _Layout, division: str) -> dict[str, dict[str, Any]]:
        """What the node holds per origin: cases, events, digest — what ``sunshine admin holdings`` shows, read
        from the node's database in this process (faster than a command per call)."""
        from federation.config import load_config
        from federation.storage.engine import engine_from_config
        from federation.storage.holdings import approval_holdings
        from federation.storage.uow import UnitOfWork

        engine = engine_from_config(load_config(self.config(division), environ={}))
        try:
            with UnitOfWork(engine, readonly=True) as uow:
                return {h.origin: h.to_dict() for h in approval_holdings(uow.conn)}
        finally:
            engine.dispose()

    def verdicts(self: _Layout, division: str) -> list[Any]:
        """The node's latest verdict per origin and tier on the origins' statements (``sunshine admin verify``),
        read from its database in this process."""
        from federation.config import load_config
        from federation.storage.attestation import latest_verdicts
        from federation.storage.engine import engine_from_config
        from federation.storage.uow import UnitOfWork

        engine = engine_from_config(load_config(self.config(division), environ={}))
        try:
            with UnitOfWork(engine, readonly=True) as uow:
                return list(latest_verdicts(uow.conn, node=division))
        finally:
            engine.dispose()

    def attest(self: _Layout, division: str) -> int | None:
        """The node's statement of its own figures, written now (``sunshine admin attest``); its seq or None."""
        from federation.config import load_config
        from federation.storage.engine import engine_from_config
        from sync_agent.store import SqlBatchSource

        engine = engine_from_config(load_config(self.config(division), environ={}))
        try:
            return SqlBatchSource(engine, division).attest(force=True)
        finally:
            engine.dispose()

    def supervision_counts(self: _Layout, division: str) -> dict[str, dict[str, Any]]:
        """What the node holds of supervision per origin: alerts by "rule/light", complaints, ratings."""
        from sqlalchemy import func, select

        from federation.config import load_config
        from federation.storage.engine import engine_from_config
        from federation.storage.tables import alerts, complaints, ratings
        from federation.storage.uow import UnitOfWork

        engine = engine_from_config(load_config(self.config(division), environ={}))
        out: dict[str, dict[str, Any]] = {}
        try:
            with UnitOfWork(engine, readonly=True) as uow:
                stmt = select(alerts.c.origin, alerts.c.rule_id, alerts.c.light, func.count()).group_by(
                    alerts.c.origin, alerts.c.rule_id, alerts.c.light
                )
                for origin, rule, light, n in uow.conn.execute(stmt):
                    entry = out.setdefault(origin, {"alerts": {}, "complaints": 0, "ratings": 0})
                    entry["alerts"][f"{rule}/{light or '-'}"] = int(n)
                for table, key in ((complaints, "complaints"), (ratings, "ratings")):
                    for origin, n in uow.conn.execute(select(table.c.origin, func.count()).group_by(table.c.origin)):
                        out.setdefault(origin, {"alerts": {}, "complaints": 0, "ratings": 0})[key] = int(n)
        finally:
            engine.dispose()
        return out

    def audit_report(self: _Layout, division: str) -> dict[str, dict[str, Any]]:
        """The audit chains ``division``'s node holds, per origin: the entries counted per person and action
        (``(user_id, name, role, action, outcome)`` → n) and the chain recomputed there (count, first break)."""
        from collections import Counter

        from federation.config import load_config
        from federation.storage.audit_log import audit_origins, read_entries, verify_origin
        from federation.storage.engine import engine_from_config
        from federation.storage.uow import UnitOfWork

        engine = engine_from_config(load_config(self.config(division), environ={}))
        out: dict[str, dict[str, Any]] = {}
        try:
            with UnitOfWork(engine, readonly=True) as uow:
                for origin in audit_origins(uow.conn):
                    counts: Counter[tuple[str, str, str, str, str]] = Counter(
                        (e.entry.user_id, e.entry.name, e.entry.role, e.entry.action, e.entry.outcome)
                        for e in read_entries(uow.conn, origin)
                    )
                    checked, broken = verify_origin(uow.conn, origin)
                    out[origin] = {"counts": counts, "checked": checked, "break": broken}
        finally:
            engine.dispose()
        return out

    def boundary_report(self: _Layout, division: str) -> dict[str, Any]:
        """What ``division``'s node let cross its boundary (``sunshine admin boundary report --json``'s content)."""
        from federation.config import load_config
        from federation.storage.boundary_report import boundary_report
        from federation.storage.engine import engine_from_config
        from federation.storage.uow import UnitOfWork

        engine = engine_from_config(load_config(self.config(division), environ={}))
        try:
            with UnitOfWork(engine, readonly=True) as uow:
                return boundary_report(uow.conn, division).to_dict()
        finally:
            engine.dispose()

    def personal_data_held(self: _Layout, division: str) -> dict[str, int]:
        """What ``division``'s database holds of the counties' personal data, read straight from its tables:
        applicant names in full (not ``张*``), and raw ID, credit-code or phone numbers anywhere in a case's or an
        event's text."""
        from sqlalchemy import select

        from federation.boundary import scrub
        from federation.config import load_config
        from federation.storage.engine import engine_from_config
        from federation.storage.tables import case_events, cases
        from federation.storage.uow import UnitOfWork

        engine = engine_from_config(load_config(self.config(division), environ={}))
        try:
            with UnitOfWork(engine, readonly=True) as uow:
                names = [str(a) for (a,) in uow.conn.execute(select(cases.c.applicant))]
                texts = [str(d) for (d,) in uow.conn.execute(select(cases.c.data))]
                texts += [str(p) for (p,) in uow.conn.execute(select(case_events.c.payload))]
        finally:
            engine.dispose()
        return {
            "cases": len(names),
            "full_names": sum(1 for n in names if "*" not in n),
            "raw_numbers": sum(1 for t in texts if scrub(t) != t),
        }

    def links(self: _Layout, division: str) -> dict[str, Any]:
        port = read_port(self.dir(division) / "metrics.port")
        if port is None:
            raise LaunchError(f"{division} 的同步代理未运行")
        body: dict[str, Any] = self.http.get(f"http://127.0.0.1:{port}/links", timeout=5.0).json()
        return body

    def metrics(self: _Layout, division: str) -> str:
        port = read_port(self.dir(division) / "metrics.port")
        if port is None:
            raise LaunchError(f"{division} 的同步代理未运行")
        return self.http.get(f"http://127.0.0.1:{port}/metrics", timeout=5.0).text
