"""The sections of a node's configuration (``sunshine.toml``), as frozen dataclasses with their defaults.

:func:`federation.config.load_config` fills them from the file and the ``SUNSHINE_*`` environment and validates
them; :mod:`federation.config` re-exports every class here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from federation.errors import ConfigError

__all__ = [
    "ClockConfig",
    "Config",
    "DatabaseConfig",
    "ExtranetConfig",
    "HttpConfig",
    "KeyringConfig",
    "LogConfig",
    "NodeConfig",
    "NotifyConfig",
    "PkiConfig",
    "ReplicationConfig",
    "SimulationConfig",
    "SupervisionConfig",
    "VideoConfig",
]


@dataclass(frozen=True)
class NodeConfig:
    """Who this node is."""

    division: str = "371122"
    name: str = ""
    data_dir: str = "."


@dataclass(frozen=True)
class DatabaseConfig:
    """Where the node keeps its records. Empty url: SQLite file ``node.db`` in ``node.data_dir``."""

    url: str = ""
    echo: bool = False
    # SQLite durability: "full" (default) survives a power cut with every committed transaction; "normal"
    # is faster (no fsync per commit) but may lose the last commits on power loss — see docs/operations.md
    sqlite_synchronous: str = "full"


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8122
    # the web pages' session cookie always ``Secure``: set it when browsers reach the node over HTTPS through a
    # proxy that terminates TLS (the node itself then sees plain HTTP); off, it is Secure on HTTPS requests only
    secure_cookies: bool = False


@dataclass(frozen=True)
class LogConfig:
    format: str = "auto"  # auto (console on a terminal, else JSON) | console | json
    level: str = "info"


@dataclass(frozen=True)
class ClockConfig:
    yellow_days: int = 1
    yellow_share: float = 0.8
    max_extension_days: int = 10
    max_extension_days_joint: int = 15


@dataclass(frozen=True)
class ReplicationConfig:
    """The node's receiver and its agent's links (DESIGN.md §4). Addresses are ``host:port``."""

    listen: str = ""  # the node process serves the replication receiver here ("host:0": any free port)
    upstream: str = ""  # the agent's link up: the parent's receiver
    downstream: tuple[str, ...] = ()  # the agent's links down: the children's receivers
    metrics: str = ""  # the agent's HTTP status: /metrics (Prometheus text) and /links (JSON)
    window: int = 8  # batches in flight per link
    batch_records: int = 500
    batch_bytes: int = 1_048_576
    linger_ms: int = 50  # how long the agent waits for more outbox rows before sealing a short batch
    attest_records: int = 10_000  # the origin states its figures (核对声明) after this many records sealed …
    attest_interval_s: float = 60.0  # … or this long after its last statement, if anything was sealed since
    gzip: bool = True
    max_record_bytes: int = 1_048_576  # a receiver refuses a record larger than this (a real record is < 64 KiB)
    max_message_bytes: int = 16_777_216  # a receiver refuses a gRPC message larger than this before decoding it
    max_streams_per_peer: int = 4  # concurrent replication streams one sender may hold open at a receiver
    hello_timeout_s: float = 10.0  # a stream that has not said Hello by then is closed
    # the file ferry for a one-way gateway (网闸), docs/replication.md "A ferry link"
    transport: str = "grpc"  # the agent's link up: "grpc" (to ``upstream``) or "ferry" (files in ``ferry_out``)
    ferry_out: str = ""  # sender: the spool its sealed files are written to (the gateway carries them across)
    ferry_return: str = ""  # sender: where the receiver's signed statements arrive (gateway or operator)
    ferry_in: str = ""  # receiver: the spool the gateway delivers files to; empty: no ferry intake
    ferry_ack: str = ""  # receiver: where its signed statements are written (the return path); empty: none
    ferry_spool_bytes: int = 1_073_741_824  # sender: the spool's bound; sealing new files stops when it is full
    ferry_file_batches: int = 16  # sender: batches sealed into one file at most
    ferry_statement_s: float = 60.0  # receiver: a statement at least this often (and after every file applied)
    ferry_resend_s: float = 600.0  # sender: a file unacknowledged this long after a later statement is rewritten
    ferry_settle_s: float = 5.0  # receiver: an unreadable file younger than this may still be arriving: wait


@dataclass(frozen=True)
class NotifyConfig:
    """Notifications (短信通知) of supervision alerts, delivered from the ``notifications`` table by a dispatcher.

    Empty ``sms_url``: no gateway, every message is written to the log and counted as delivered."""

    sms_url: str = ""  # http(s) URL the SMS gateway accepts a POST on
    sms_token_key: str = ""  # the keyring entry holding the gateway's bearer token; empty: no Authorization header
    recipients: tuple[str, ...] = ()  # mainland mobile numbers, 11 digits
    timeout_s: float = 5.0  # per HTTP request to the gateway
    max_attempts: int = 5  # deliveries tried per message (each may retry in-call) before it is marked failed
    interval_s: float = 2.0  # the dispatcher's pause between looks for due messages


@dataclass(frozen=True)
class SupervisionConfig:
    """The county's supervision sweep (电子监察定时巡检): how often time-driven verdicts are brought up to date."""

    sweep_interval_s: float = 60.0  # real seconds between sweeps; 0: no background sweep (run `sunshine alert sweep`)


@dataclass(frozen=True)
class VideoConfig:
    """The county video index (视频索引, DESIGN.md §7): retention, legal holds, clip margins, recording files."""

    retention_days: int = 30  # segments older than this are purged
    hold_days: int = 30  # a clip held for an alert or complaint is kept this long after it closes
    max_purge_share: float = 0.1  # one purge never deletes more than this share of the index
    min_index_ratio: float = 0.5  # purge refused when the index is below this share of what the last purge left
    margin_before_s: int = 120  # a clip starts this many seconds before its moment
    margin_after_s: int = 300  # and ends this many seconds after it
    max_segment_s: int = 3600  # the longest segment accepted
    storage_root: str = ""  # the recordings' folder: a purge deletes files only under it; empty: index only


@dataclass(frozen=True)
class KeyringConfig:
    """Where the node's secrets live (:mod:`security.keystore`): private keys, CA keys, tokens. Never in a file
    of configuration: ``passphrase`` is read from ``SUNSHINE_KEYRING_PASSPHRASE`` only."""

    backend: str = "file"  # "file": an AES-GCM sealed file in the data directory; "system": the OS keyring
    file: str = "keyring.enc"  # relative to node.data_dir
    passphrase_file: str = ""  # a file holding the passphrase (e.g. a systemd credential); else the environment
    passphrase: str = field(default="", repr=False)  # SUNSHINE_KEYRING_PASSPHRASE only


@dataclass(frozen=True)
class PkiConfig:
    """The node's part of the federation PKI (:mod:`security.pki`)."""

    enrol_listen: str = ""  # a parent's enrolment port: TLS without client certificates (the token authenticates)
    cert_days: int = 365  # validity of the certificates this node's CA issues (node certificates)
    renew_days: int = 120  # the agent renews this node's certificate when fewer days than this remain
    token_hours: float = 24.0  # validity of the enrolment tokens this node issues


@dataclass(frozen=True)
class ExtranetConfig:
    """The intranet/extranet boundary (docs/boundary.md).

    At a **county**: ``link`` is its extranet node's replication receiver; when set, the county publishes its public
    stream (``371122-pub``: catalogue, case status, submission results, 办件公示) and its agent sends it there.
    At the **extranet node** (``node.division = "371122-ext"``): the public portal's limits."""

    link: str = ""  # county: the extranet node's receiver (host:port); empty: no extranet, nothing published
    # county, through a one-way gateway (网闸) instead of ``link``: the public stream as sealed files
    ferry_out: str = ""  # the spool the gateway carries to the extranet node's replication.ferry_in
    ferry_return: str = ""  # where the extranet node's signed statements arrive
    portal_url: str = ""  # county: the public portal's address, printed in SMS and on 受理通知书
    client_per_minute: int = 30  # extranet: requests per client address per minute (每个访问者)
    case_per_minute: int = 10  # extranet: failed code checks per case and client per minute (x10 from anyone)
    submissions_per_hour: int = 20  # extranet: applications and complaints per client address per hour
    max_body_bytes: int = 65536  # extranet: the largest request body accepted
    trusted_proxies: tuple[str, ...] = ()  # extranet: reverse proxies whose X-Forwarded-For names the client

    @property
    def enabled(self) -> bool:
        """Whether this county publishes to an extranet node (over gRPC or through a gateway)."""
        return bool(self.link or self.ferry_out)


@dataclass(frozen=True)
class SimulationConfig:
    """Demo only: run the node on a simulated clock that starts at ``start`` and runs ``speed`` × real time.

    ``anchor``: the real moment the simulated clock read ``start`` (default: when the process started). Processes
    given the same anchor — a county's node, its agent, the demo's workload — read the same simulated time, so
    what one writes and another measures (an outbox row's age, the backlog in seconds) agree."""

    enabled: bool = False
    start: str = ""
    speed: float = 1.0
    anchor: str = ""

    def start_moment(self) -> datetime | None:
        return self._moment("start", self.start)

    def anchor_moment(self) -> datetime | None:
        return self._moment("anchor", self.anchor)

    @staticmethod
    def _moment(key: str, text: str) -> datetime | None:
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError(f"simulation.{key} 不是有效的时刻：{text}", **{key: text}) from None
        if moment.tzinfo is None:
            raise ConfigError(f"simulation.{key} 必须带时区，例如 2026-09-21T08:30:00+08:00", **{key: text})
        return moment


@dataclass(frozen=True)
class Config:
    node: NodeConfig = field(default_factory=NodeConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    log: LogConfig = field(default_factory=LogConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    replication: ReplicationConfig = field(default_factory=ReplicationConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    supervision: SupervisionConfig = field(default_factory=SupervisionConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    keyring: KeyringConfig = field(default_factory=KeyringConfig)
    pki: PkiConfig = field(default_factory=PkiConfig)
    extranet: ExtranetConfig = field(default_factory=ExtranetConfig)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{Path(self.node.data_dir).resolve() / 'node.db'}"
