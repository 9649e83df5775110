"""Running replication in a node's processes: the receiver a node serves and the links its agent keeps up.

Who may send what (DESIGN.md §2, §4), for a receiving node ``N``:

* **up** — a node of ``N``'s subtree sends the records of its own subtree: ``371122`` and relayed ``3711xx``
  records from city ``371100`` to province ``370000``;
* **down** — ``N``'s ancestor sends the records of ``N``'s ancestors: standards of ``370000`` relayed by city
  ``371100`` to county ``371122``.

* **in** — a county's extranet node (``371122-ext``) sends its own stream to ``371122``;
* **out** — county ``371122`` sends its public stream (``371122-pub``) to its extranet node.

The boundary identities cross only between a county and its own extranet node: no division ever sends or relays
them, and no extranet node sends anything else (``docs/boundary.md``).

An agent's link up carries the origins of its own subtree; a link down carries its own origin and those of its
ancestors (what came down from above is relayed further down); a county's link to its extranet node carries its
public stream only. Every receiver and every agent is its own
process; this module builds them from the configuration and nothing else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine, func, select

from federation.bound_ports import sticky_port, taken_hint, write_port_file
from federation.config import Config, split_address
from federation.errors import ConfigError, ValidationError
from federation.identities import (
    BoundaryKind,
    DivisionLevel,
    boundary_kind,
    county_of,
    is_boundary_origin,
    level_of,
    public_stream_of,
    scope_prefix,
    validate_division_code,
)
from federation.replication import AppliersByType
from federation.replication.trust import LinkSecurity
from federation.storage.attestation import AttestEvery
from federation.storage.engine import engine_from_config
from federation.storage.tables import quarantine
from federation.storage.uow import UnitOfWork
from federation.storage.wake import WakeListener
from federation.timeutil import node_clock, to_us, utcnow
from sync_agent.client import Link
from sync_agent.convert import OriginStatus
from sync_agent.domain import Mark
from sync_agent.ferry_intake import FerryIntake
from sync_agent.ferry_link import FerryLink
from sync_agent.link_stats import LinkStats, OriginStats
from sync_agent.link_views import LinkView, OriginView, RateMeter, backlog, persisted_acks
from sync_agent.server import ExtraService, RunningServer, StreamLimits, serve
from sync_agent.store import SqlBatchSink, SqlBatchSource

__all__ = [
    "ENROL_PORT_FILE",
    "GRPC_PORT_FILE",
    "Agent",
    "LinkView",
    "OriginView",
    "build_agent",
    "down_origins",
    "is_ancestor",
    "receiver_policy",
    "sealed_here",
    "start_ferry_intake",
    "start_receiver",
    "up_origins",
]

log = structlog.get_logger(__name__)

_ATTEST_CHECK_S = 1.0  # how often the agent looks whether its node's statement is due
GRPC_PORT_FILE = "grpc.port"  # in the node's data directory: the receiver's bound port
ENROL_PORT_FILE = "enrol.port"  # in a parent's data directory: the enrolment port
_RENEW_CHECK_S = 3600.0
_RENEW_RETRY_S = 600.0


def in_subtree(code: str, root: str) -> bool:
    """Whether division ``code`` is ``root`` or below it."""
    return code.startswith(scope_prefix(root))


def is_ancestor(code: str, of: str) -> bool:
    """Whether ``code`` is a strict ancestor of division ``of`` (``370000`` of ``371122``)."""
    return code != of and in_subtree(of, code)


def receiver_policy(node: str) -> Callable[[str, str], bool]:
    """``allowed(sender, origin)`` for the receiver of ``node``: its subtree up, its ancestors down; a county
    from its extranet node that node's own stream, an extranet node from its county that county's public stream."""
    extranet = boundary_kind(node) is BoundaryKind.EXTRANET

    def allowed(sender: str, origin: str) -> bool:
        if extranet:
            return sender == county_of(node) and origin == public_stream_of(sender)
        if is_boundary_origin(sender) or is_boundary_origin(origin):
            return sender == origin and boundary_kind(sender) is BoundaryKind.EXTRANET and county_of(sender) == node
        try:
            if sender != node and in_subtree(sender, node):  # a child (or grandchild) sending up
                return in_subtree(origin, sender)
            if is_ancestor(sender, node):  # a parent sending down
                return is_ancestor(origin, node)
        except ConfigError:  # pragma: no cover - malformed codes never reach here (validated on receipt)
            return False
        return False

    return allowed


def fetch_policy(node: str) -> Callable[[str, str], bool]:
    """``allowed(caller, origin)`` for a ``Fetch`` at ``node``: a node below it takes back its own origin's batches
    (its recovery) and those of its ancestors this node holds (what the link down sends it) — nothing of a
    sibling, nothing across the boundary."""

    def allowed(caller: str, origin: str) -> bool:
        if boundary_kind(node) is not None or is_boundary_origin(caller) or is_boundary_origin(origin):
            return False
        try:
            validate_division_code(caller)
            validate_division_code(origin)
            if caller == node or not in_subtree(caller, node):
                return False
            return origin == caller or (is_ancestor(origin, caller) and in_subtree(node, origin))
        except (ConfigError, ValidationError):  # malformed codes: refused
            return False

    return allowed


def up_origins(node: str, source: SqlBatchSource) -> Callable[[], list[str]]:
    """The origins a link up carries: ``node``'s subtree — never a boundary stream (an extranet node's own link
    up carries its own stream only)."""
    if boundary_kind(node) is BoundaryKind.EXTRANET:
        return lambda: [node]
    return lambda: [o for o in source.origins() if not is_boundary_origin(o) and in_subtree(o, node)]


def down_origins(node: str, source: SqlBatchSource) -> Callable[[], list[str]]:
    return lambda: [o for o in source.origins() if not is_boundary_origin(o) and (o == node or is_ancestor(o, node))]


def sealed_here(node: str) -> frozenset[str]:
    """The origins whose outbox ``node`` writes and seals itself: its own and, a county, its public stream."""
    if boundary_kind(node) is None and level_of(node) is DivisionLevel.COUNTY:
        return frozenset({node, public_stream_of(node)})
    return frozenset({node})


def start_receiver(
    cfg: Config,
    engine: Engine,
    appliers: AppliersByType,
    *,
    relay: bool,
    port_file: Path | None = None,
    security: LinkSecurity | None = None,
    extra: Sequence[ExtraService] = (),
    enrol_port_file: Path | None = None,
) -> RunningServer:
    """Serve this node's replication receiver on ``replication.listen``; write the bound port to ``port_file``
    (port 0: the port chosen at the first start is kept and bound again, :mod:`federation.bound_ports`).

    With ``security`` (always, but with ``--insecure-dev``): mutual TLS, senders identified by their certificates,
    batches verified against their origins' signatures; ``extra`` services (a parent's enrolment) are served on
    the same server, and on ``pki.enrol_listen`` (TLS without client certificates, port in ``enrol_port_file``)."""
    host, configured = split_address(cfg.replication.listen, "replication.listen")
    port = configured if port_file is None else sticky_port(port_file, configured)
    node = cfg.node.division
    policy = receiver_policy(node)
    sink = SqlBatchSink(engine, node, appliers, relay=relay, allow=policy)
    rep = cfg.replication
    limits = StreamLimits(
        rep.max_record_bytes, rep.max_streams_per_peer, rep.hello_timeout_s, max_batch_bytes=rep.max_message_bytes
    )
    enrol: list[tuple[str, Any]] = []
    enrol_configured = enrol_port = 0
    if security is not None and extra and cfg.pki.enrol_listen:
        enrol_host, enrol_configured = split_address(cfg.pki.enrol_listen, "pki.enrol_listen")
        enrol_port = enrol_configured if enrol_port_file is None else sticky_port(enrol_port_file, enrol_configured)
        enrol = [(f"{enrol_host}:{enrol_port}", security.enrol_credentials())]

    def status(prefix: str) -> list[OriginStatus]:
        return [
            OriginStatus(Mark(s.origin, s.high_water, s.last_hash), s.records, to_us(s.updated_at), s.quarantined)
            for s in sink.status(prefix)
        ]

    try:
        running = serve(
            sink,
            host=host,
            port=port,
            allowed=policy,
            status=status,
            credentials=security.server_credentials() if security is not None else None,
            trust=security.receiver if security is not None else None,
            limits=limits,
            max_message_bytes=rep.max_message_bytes,
            extra=extra,
            extra_ports=enrol,
            # the node's own batches sealed by a writer are signed as they are read, as its agent does
            batches_after=SqlBatchSource(
                engine, node, signer=security.signer.sign if security is not None else None
            ).batches_after,
            fetch_allowed=fetch_policy(node),
        )
    except ConfigError as exc:  # a port kept from the first start that something else holds now: say so
        failed = str(exc.details.get("address", ""))
        hint = "".join(
            taken_hint(f, c, p)
            for f, c, p in ((port_file, configured, port), (enrol_port_file, enrol_configured, enrol_port))
            if f is not None and failed.endswith(f":{p}")
        )
        if not hint:
            raise
        raise ConfigError(exc.message + hint, **exc.details) from exc
    if port_file is not None:
        write_port_file(port_file, running.port, configured=configured)
    if enrol_port_file is not None and running.extra_ports:
        write_port_file(enrol_port_file, running.extra_ports[0], configured=enrol_configured)
    return running


def start_ferry_intake(
    cfg: Config, engine: Engine, appliers: AppliersByType, *, relay: bool, security: LinkSecurity | None = None
) -> FerryIntake | None:
    """Start this node's ferry intake on ``replication.ferry_in`` (None when it is not configured): files a one-way
    gateway delivers, applied through the same checks as the gRPC receiver's, statements to ``ferry_ack``."""
    rep = cfg.replication
    if not rep.ferry_in:
        return None
    node = cfg.node.division
    in_dir = _spool_dir(rep.ferry_in, "replication.ferry_in")
    ack_dir = _spool_dir(rep.ferry_ack, "replication.ferry_ack") if rep.ferry_ack else None
    policy = receiver_policy(node)
    sink = SqlBatchSink(engine, node, appliers, relay=relay, allow=policy)
    limits = StreamLimits(
        rep.max_record_bytes, rep.max_streams_per_peer, rep.hello_timeout_s, max_batch_bytes=rep.max_message_bytes
    )
    intake = FerryIntake(
        sink,
        in_dir,
        ack_dir,
        allowed=policy,
        trust=security.receiver if security is not None else None,
        limits=limits,
        statement_every=rep.ferry_statement_s,
        settle=rep.ferry_settle_s,
        max_file_bytes=rep.ferry_file_batches * rep.max_message_bytes,
    )
    return intake.start()


def _spool_dir(path: str, key: str) -> Path:
    directory = Path(path).expanduser().resolve()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"配置项 {key} 的摆渡目录 {directory} 无法创建：{exc}", key=key) from exc
    return directory


# -- the agent ----------------------------------------------------------------------------------------------------


class Agent:
    """A node's sync agent: one link up (if configured) and one per child down, each on its own thread."""

    def __init__(
        self,
        node: str,
        engine: Engine,
        source: SqlBatchSource,
        links: Sequence[Link | FerryLink],
        *,
        clock: Any = utcnow,
        renew: Callable[[], bool] | None = None,
        waker: WakeListener | None = None,
    ) -> None:
        self.node = node
        self._waker = waker
        self.engine = engine
        self.source = source
        self.links = tuple(links)
        self._renew = renew
        self._clock: Callable[[], datetime] = clock
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._rates = RateMeter()
        self._sealed_here = sealed_here(node)
        self._rates_lock = threading.Lock()

    def start(self) -> None:
        if self._waker is not None:  # before the links: they sleep on its wakes (or poll, if it cannot listen)
            self._waker.start()
        for link in self.links:
            t = threading.Thread(target=link.run_forever, args=(self._stop,), name=f"link-{link.name}", daemon=True)
            t.start()
            self._threads.append(t)
        if self._renew is not None:
            t = threading.Thread(target=self._renewing, name="certificate-renewal", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._attesting, name="attestation", daemon=True)
        t.start()
        self._threads.append(t)
        log.info("agent.started", node=self.node, links=[link.name for link in self.links])

    def _attesting(self) -> None:
        """The node's statements of its own figures into its stream, when due (looked at every second)."""
        while not self._stop.wait(_ATTEST_CHECK_S):
            try:
                self.source.attest()
            except Exception as exc:  # the store failed: the next look tries again, the links go on
                log.warning("replication.attest_failed", node=self.node, error=str(exc))

    def _renewing(self) -> None:
        """Renew the node's certificate before it expires (checked at start and every hour; a failure is retried
        in ten minutes): the links and the node's receiver pick the new one up at their next handshake."""
        assert self._renew is not None
        delay = 0.0
        while not self._stop.wait(delay):
            try:
                self._renew()
                delay = _RENEW_CHECK_S
            except Exception as exc:  # the old certificate still works: retry soon, never stop the agent
                log.warning("pki.renew_failed", node=self.node, error=str(exc))
                delay = _RENEW_RETRY_S

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        if self._waker is not None:
            self._waker.close()
        log.info("agent.stopped", node=self.node)

    def wait(self, timeout: float | None = None) -> bool:
        return self._stop.wait(timeout)

    @property
    def stopping(self) -> threading.Event:
        return self._stop

    def stats(self) -> list[LinkStats]:
        return [link.stats() for link in self.links]

    def views(self) -> list[LinkView]:
        """Every link and origin: seq sent and acked, lag in records and seconds, rate, last error.

        The lag is measured against what this node holds, not against what the link happened to read or seal
        (:mod:`sync_agent.link_views`): an origin sealed here against its outbox, a relayed one against the
        batches held. Every origin a link carries is shown, also before it has connected once (its mark as last
        recorded in ``link_acks``)."""
        stats = self.stats()
        carried = [link.carried_origins() for link in self.links]
        now_mono = time.monotonic()
        now = self._clock()
        out = []
        with UnitOfWork(self.engine, readonly=True) as uow, self._rates_lock:
            recorded = persisted_acks(uow.conn)
            for s, origins_carried in zip(stats, carried, strict=True):
                origins = []
                for origin in sorted(set(s.origins) | set(origins_carried)):
                    o = s.origins.get(origin)
                    if o is None:  # not connected since the agent started: the mark as last recorded
                        mark = recorded.get((s.link, origin), 0)
                        o = OriginStats(acked_high_water=mark, source_high_water=mark)
                    held = backlog(uow.conn, origin, o.acked_high_water, sealed_here=origin in self._sealed_here)
                    lag = max(0, max(held.high, o.source_high_water) - o.acked_high_water)
                    age = (now - held.oldest).total_seconds() if held.oldest is not None and lag else 0.0
                    origins.append(
                        OriginView(
                            origin=origin,
                            sent_seq=o.source_high_water,
                            acked_seq=o.acked_high_water,
                            lag_records=lag,
                            lag_seconds=round(max(0.0, age), 3),
                            sent_records=o.sent_records,
                            sent_batches=o.sent_batches,
                            acked_records=o.acked_records,
                            refusals=o.refusals,
                            rate_per_s=round(self._rates.rate((s.link, origin), now_mono, o.acked_records), 2),
                        )
                    )
                out.append(LinkView.of(s, tuple(origins)))
        return out

    def quarantine_held(self) -> dict[str, int]:
        """Records held in this node's quarantine, per origin."""
        with UnitOfWork(self.engine, readonly=True) as uow:
            rows = uow.conn.execute(
                select(quarantine.c.origin, func.count())
                .where(quarantine.c.state == "held")
                .group_by(quarantine.c.origin)
            ).all()
        return {str(origin): int(n) for origin, n in rows}


def build_agent(cfg: Config, *, engine: Engine | None = None, security: LinkSecurity | None = None) -> Agent:
    """The agent of ``cfg.node.division``: its source over the node's database and its links, not yet started.

    ``security`` (the node's, from its composition root; None only with ``--insecure-dev``): batches sealed here
    are signed, links run over mutual TLS and check the receiver's proof of identity, and the certificate is
    renewed at the parent when due. The gRPC links sleep on the node's wakes on commit
    (:class:`federation.storage.wake.WakeListener`) instead of polling the outbox."""
    rep = cfg.replication
    node = cfg.node.division
    ferry = rep.transport == "ferry"
    extranet = cfg.extranet
    if not rep.upstream and not rep.downstream and not ferry and not extranet.enabled:
        raise ConfigError("代理没有任何链路：请在 [replication] 中配置 upstream 或 downstream", node=node)
    if boundary_kind(node) is BoundaryKind.EXTRANET and (rep.downstream or not (rep.upstream or ferry)):
        raise ConfigError("外网节点只有一条链路：发往其县级节点（replication.upstream）", node=node)
    if (rep.upstream or ferry) and boundary_kind(node) is None and level_of(node) is DivisionLevel.PROVINCE:
        raise ConfigError("省级节点没有上级，replication.upstream 应为空", node=node)
    engine = engine or engine_from_config(cfg)
    source = SqlBatchSource(
        engine,
        node,
        max_records=rep.batch_records,
        max_bytes=rep.batch_bytes,
        signer=security.signer.sign if security is not None else None,
        attest=AttestEvery(rep.attest_records, rep.attest_interval_s),
    )
    waker = WakeListener(engine)  # the node's commits wake the links (started with the agent)
    common: dict[str, Any] = {
        "node": node,
        "window": rep.window,
        "gzip": rep.gzip,
        "linger": rep.linger_ms / 1000.0,
        "waker": waker,
    }
    if security is not None:
        common |= {
            "credentials": security.channel_credentials,
            "trust": security.sender,
            "tls_name": security.tls_name,
        }
    links: list[Link | FerryLink] = []
    if ferry:  # the link up as files through a one-way gateway (网闸)
        links.append(
            FerryLink(
                "up",
                source,
                node=node,
                out_dir=_spool_dir(rep.ferry_out, "replication.ferry_out"),
                return_dir=_spool_dir(rep.ferry_return, "replication.ferry_return"),
                origins=up_origins(node, source),
                spool_limit=rep.ferry_spool_bytes,
                file_batches=rep.ferry_file_batches,
                resend_after=rep.ferry_resend_s,
                linger=rep.linger_ms / 1000.0,
                sign=security.signer.sign if security is not None else None,
                verify=_statement_verifier(security),
            )
        )
    elif rep.upstream:
        split_address(rep.upstream, "replication.upstream")
        links.append(Link("up", rep.upstream, source, origins=up_origins(node, source), up=True, **common))
    for target in rep.downstream:
        split_address(target, "replication.downstream")
        links.append(Link(f"down-{target}", target, source, origins=down_origins(node, source), up=False, **common))
    if extranet.enabled:  # the county's public stream, to its extranet node (出网): sealed and signed by the county
        public = public_stream_of(node)
        pub_source = SqlBatchSource(
            engine,
            public,
            max_records=rep.batch_records,
            max_bytes=rep.batch_bytes,
            signer=security.signer.sign if security is not None else None,
        )
        if extranet.ferry_out:  # through a one-way gateway (网闸): files, the extranet node's statements back
            links.append(
                FerryLink(
                    "extranet",
                    pub_source,
                    node=node,
                    out_dir=_spool_dir(extranet.ferry_out, "extranet.ferry_out"),
                    return_dir=_spool_dir(extranet.ferry_return, "extranet.ferry_return"),
                    origins=lambda: [public],
                    spool_limit=rep.ferry_spool_bytes,
                    file_batches=rep.ferry_file_batches,
                    resend_after=rep.ferry_resend_s,
                    linger=rep.linger_ms / 1000.0,
                    sign=security.signer.sign if security is not None else None,
                    verify=_statement_verifier(security, up=False),
                )
            )
        else:
            split_address(extranet.link, "extranet.link")
            links.append(Link("extranet", extranet.link, pub_source, origins=lambda: [public], up=False, **common))
    renew = None
    # renewal is served by the parent's CA over the link up; an extranet node's parent is its county, which has no
    # CA (it enrols again at the city: docs/boundary.md)
    if security is not None and security.renew_if_due is not None and rep.upstream and boundary_kind(node) is None:
        renew_at = security.renew_if_due
        renew = lambda: renew_at(rep.upstream)  # noqa: E731 - the parent is reached on the link up
    # the node's clock (the demo's simulated one): what the agent measures against its outbox is in the node's time
    return Agent(node, engine, source, links, clock=node_clock(cfg.simulation), renew=renew, waker=waker)


def _statement_verifier(
    security: LinkSecurity | None, *, up: bool = True
) -> Callable[[Sequence[bytes], bytes, bytes], str] | None:
    """A receiver's statement is verified as its Welcome is: its proof over the statement's digest, by an
    ancestor of this node (``up``) or, on a county's link out, by its extranet node."""
    if security is None:
        return None
    sender = security.sender
    return lambda chain, proof, digest: sender.verify_receiver(chain, proof, digest, up=up)
