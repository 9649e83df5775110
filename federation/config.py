"""Configuration: a TOML file plus ``SUNSHINE_*`` environment variables, read once into frozen dataclasses.

Only the entry point calls :func:`load_config`; everything below it receives the dataclasses. Precedence
(highest first): environment variable, TOML file, default. Environment names are ``SUNSHINE_<SECTION>_<KEY>``
(``SUNSHINE_HTTP_PORT``, ``SUNSHINE_DATABASE_URL``, ``SUNSHINE_LOG_FORMAT``).

Example ``sunshine.toml``::

    [node]
    division = "371122"
    name = "莒县"
    data_dir = "/var/lib/sunshine"

    [database]
    url = "sqlite:////var/lib/sunshine/node.db"   # or postgresql+psycopg://user@host/db

    [http]
    host = "127.0.0.1"
    port = 8122

    [log]
    format = "console"   # or "json"
    level = "info"

    [replication]
    listen = "127.0.0.1:7122"        # this node's replication receiver (gRPC); empty: none
    upstream = "127.0.0.1:7100"      # the agent's link up (the parent node's receiver); empty: none
    downstream = ["127.0.0.1:7200"]  # the agent's links down (children's receivers)
    metrics = "127.0.0.1:9122"       # the agent's /metrics (Prometheus) and /links (JSON); empty: none

    [clock]
    yellow_days = 1       # yellow when at most this many working days remain (today included)
    yellow_share = 0.8    # … or when this share of the budget is used
    max_extension_days = 10

    [notify]
    sms_url = "http://10.1.2.3:8080/sms/send"   # the SMS gateway; empty: messages are only written to the log
    sms_token_key = "sms-token"     # the keyring entry of the gateway's bearer token (sunshine admin secret set)
    recipients = ["13800138000"]    # mainland mobile numbers (11 digits) told of alerts
    timeout_s = 5.0                 # per request to the gateway
    max_attempts = 5                # deliveries tried per message before it is marked failed
    interval_s = 2.0                # how often pending messages are looked for

    [supervision]
    sweep_interval_s = 60.0         # real seconds between supervision sweeps (0: none in the background)

    [keyring]                       # where the node's secrets are (keys, tokens): never in this file
    backend = "file"                # "file": an encrypted file in the data directory; "system": the OS keyring
    passphrase_file = "/run/credentials/sunshine/keyring"   # or SUNSHINE_KEYRING_PASSPHRASE

    [pki]
    enrol_listen = "127.0.0.1:7101"  # a parent's enrolment port (TLS without client certificates)
    cert_days = 365                  # validity of the certificates this node's CA issues
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from federation.errors import ConfigError
from federation.identities import validate_division_code

__all__ = [
    "ClockConfig",
    "Config",
    "DatabaseConfig",
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
    "dump_toml",
    "load_config",
    "read_toml_sections",
    "split_address",
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
    gzip: bool = True
    max_record_bytes: int = 1_048_576  # a receiver refuses a record larger than this (a real record is < 64 KiB)
    max_message_bytes: int = 16_777_216  # a receiver refuses a gRPC message larger than this before decoding it
    max_streams_per_peer: int = 4  # concurrent replication streams one sender may hold open at a receiver
    hello_timeout_s: float = 10.0  # a stream that has not said Hello by then is closed


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
class SimulationConfig:
    """Demo only: run the node on a simulated clock that starts at ``start`` and runs ``speed`` × real time."""

    enabled: bool = False
    start: str = ""
    speed: float = 1.0

    def start_moment(self) -> datetime | None:
        if not self.start:
            return None
        moment = datetime.fromisoformat(self.start)
        if moment.tzinfo is None:
            raise ConfigError("simulation.start 必须带时区，例如 2026-09-21T08:30:00+08:00", start=self.start)
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

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{Path(self.node.data_dir).resolve() / 'node.db'}"


def _coerce(section: str, key: str, raw: Any, target: type | str) -> Any:
    kind = target if isinstance(target, str) else target.__name__
    if kind == "tuple[str, ...]":  # a TOML array of strings, or (environment) a comma-separated list
        items = raw if isinstance(raw, list) else str(raw).split(",")
        if not all(isinstance(x, str) for x in items):
            raise ConfigError(f"配置项 {section}.{key} 应为字符串列表", key=f"{section}.{key}")
        return tuple(x.strip() for x in items if x.strip())
    try:
        if isinstance(raw, dict | list):  # a TOML table or array where a scalar belongs
            raise ValueError(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if kind == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            return int(raw)
        if kind == "float":
            if isinstance(raw, bool):
                raise ValueError(raw)
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"配置项 {section}.{key} 的值“{raw}”类型不正确，应为 {kind}", key=f"{section}.{key}"
        ) from None


_SECRETS = {"keyring": {"passphrase"}, "notify": {"sms_token"}}
_SECRET_HINTS = {
    "keyring": "请通过环境变量 SUNSHINE_KEYRING_PASSPHRASE 或 passphrase_file 提供",
    "notify": "请用 sunshine admin secret set sms-token 存入密钥库，配置中以 sms_token_key 引用",
}


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the TOML file (if any) and the environment once; validate; return frozen dataclasses."""
    env = dict(os.environ if environ is None else environ)
    data: dict[str, dict[str, Any]] = {}
    if path is not None:
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigError(f"找不到配置文件 {path}", path=str(path)) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"配置文件 {path} 格式错误：{exc}", path=str(path)) from exc
    cfg = Config()
    sections: dict[str, Any] = {}
    for sec_field in fields(Config):
        section = sec_field.name
        current = getattr(cfg, section)
        raw_section = data.get(section, {})
        if not isinstance(raw_section, dict):
            raise ConfigError(f"配置节 [{section}] 格式错误", section=section)
        known = {f.name: f for f in fields(current)}
        secret = _SECRETS.get(section, set()) & set(raw_section)
        if secret:
            raise ConfigError(
                f"配置文件不能含有密钥 [{section}] {', '.join(sorted(secret))}：{_SECRET_HINTS[section]}",
                section=section,
            )
        unknown = set(raw_section) - set(known)
        if unknown:
            raise ConfigError(f"配置节 [{section}] 含有未知配置项：{', '.join(sorted(unknown))}", section=section)
        values: dict[str, Any] = {}
        for name, spec in known.items():
            target = spec.type if isinstance(spec.type, str | type) else str(spec.type)
            env_name = f"SUNSHINE_{section.upper()}_{name.upper()}"
            if env_name in env:
                values[name] = _coerce(section, name, env[env_name], target)
            elif name in raw_section:
                values[name] = _coerce(section, name, raw_section[name], target)
        sections[section] = replace(current, **values)
    for key in data:
        if key not in sections:
            raise ConfigError(f"配置文件含有未知配置节 [{key}]", section=key)
    cfg = Config(**sections)
    _validate(cfg)
    return cfg


def _validate(cfg: Config) -> None:
    validate_division_code(cfg.node.division)
    if cfg.database.sqlite_synchronous not in {"full", "normal"}:
        raise ConfigError("database.sqlite_synchronous 只能是 full 或 normal", value=cfg.database.sqlite_synchronous)
    if cfg.log.format not in {"auto", "console", "json"}:
        raise ConfigError("log.format 只能是 auto、console 或 json", value=cfg.log.format)
    if not 0 < cfg.http.port < 65536 and cfg.http.port != 0:
        raise ConfigError("http.port 超出范围", value=cfg.http.port)
    cfg.simulation.start_moment()
    _validate_replication(cfg.replication)
    _validate_notify(cfg.notify)
    if cfg.supervision.sweep_interval_s < 0:
        raise ConfigError("supervision.sweep_interval_s 不能为负数", value=cfg.supervision.sweep_interval_s)
    _validate_video(cfg.video)
    if cfg.keyring.backend not in {"file", "system"}:
        raise ConfigError("keyring.backend 只能是 file 或 system", value=cfg.keyring.backend)
    if cfg.pki.enrol_listen:
        split_address(cfg.pki.enrol_listen, "pki.enrol_listen")
    if cfg.pki.cert_days < 1 or not 0 < cfg.pki.renew_days < cfg.pki.cert_days or cfg.pki.token_hours <= 0:
        raise ConfigError("pki.cert_days、renew_days、token_hours 须为正数，且 renew_days 小于 cert_days")


def _validate_video(video: VideoConfig) -> None:
    for name in ("retention_days", "max_segment_s"):
        if getattr(video, name) < 1:
            raise ConfigError(f"video.{name} 必须大于 0", value=getattr(video, name))
    for name in ("hold_days", "margin_before_s", "margin_after_s"):
        if getattr(video, name) < 0:
            raise ConfigError(f"video.{name} 不能为负数", value=getattr(video, name))
    if not 0 < video.max_purge_share <= 1:
        raise ConfigError("video.max_purge_share 须大于 0 且不超过 1", value=video.max_purge_share)
    if not 0 <= video.min_index_ratio <= 1:
        raise ConfigError("video.min_index_ratio 须在 0 与 1 之间", value=video.min_index_ratio)


def _validate_replication(rep: ReplicationConfig) -> None:
    for name, address in (("listen", rep.listen), ("upstream", rep.upstream), ("metrics", rep.metrics)):
        if address:
            split_address(address, f"replication.{name}")
    for address in rep.downstream:
        split_address(address, "replication.downstream")
    for name in ("window", "batch_records", "batch_bytes", "max_record_bytes", "max_streams_per_peer"):
        if getattr(rep, name) < 1:
            raise ConfigError(f"replication.{name} 必须大于 0", value=getattr(rep, name))
    if rep.linger_ms < 0:
        raise ConfigError("replication.linger_ms 不能为负数", value=rep.linger_ms)
    if rep.max_message_bytes < max(rep.batch_bytes, rep.max_record_bytes) or rep.hello_timeout_s <= 0:
        raise ConfigError(
            "replication.max_message_bytes 须不小于 batch_bytes 与 max_record_bytes，hello_timeout_s 须为正数",
            value=rep.max_message_bytes,
        )


_MOBILE = re.compile(r"1[3-9][0-9]{9}")  # a mainland mobile number (中国大陆手机号)


def _validate_notify(notify: NotifyConfig) -> None:
    if notify.sms_url and not notify.sms_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"notify.sms_url 的地址“{notify.sms_url}”格式错误，应以 http:// 或 https:// 开头", key="notify.sms_url"
        )
    for number in notify.recipients:
        if not _MOBILE.fullmatch(number):
            raise ConfigError(
                f"notify.recipients 中的“{number}”不是有效的手机号码，应为 11 位大陆手机号，例如 13800138000",
                key="notify.recipients",
            )
    for name in ("timeout_s", "interval_s"):
        if not getattr(notify, name) > 0:
            raise ConfigError(f"notify.{name} 必须大于 0", value=getattr(notify, name))
    if notify.max_attempts < 1:
        raise ConfigError("notify.max_attempts 必须大于 0", value=notify.max_attempts)


def split_address(address: str, key: str = "address") -> tuple[str, int]:
    """``host:port`` → ``(host, port)``; a typed error names the configuration key when it is malformed."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"配置项 {key} 的地址“{address}”格式错误，应为 主机:端口，例如 127.0.0.1:7100", key=key)
    return host.strip("[]"), int(port)


def _toml_value(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(key, v) for v in value) + "]"
    raise ConfigError(f"配置项 {key} 的值类型不受支持", key=key)


def dump_toml(sections: Mapping[str, Mapping[str, Any]], header: str) -> str:
    """A configuration file of ``sections`` (scalars and lists of scalars), with ``header`` as a comment."""
    lines = [f"# {header}"]
    for name, values in sections.items():
        if not isinstance(values, Mapping):
            raise ConfigError(f"配置节 [{name}] 格式错误", section=name)
        lines.append("")
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {_toml_value(f'{name}.{k}', v)}" for k, v in values.items())
    return "\n".join(lines) + "\n"


def read_toml_sections(path: Path) -> dict[str, dict[str, Any]]:
    """An existing configuration file's sections ({} when there is none)."""
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"已有配置文件 {path} 格式错误：{exc}", path=str(path)) from exc
    for section, values in raw.items():
        if not isinstance(values, dict):
            raise ConfigError(f"已有配置文件 {path} 中的 {section} 应为配置节", path=str(path))
    return raw
