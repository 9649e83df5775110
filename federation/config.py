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
    transport = "grpc"               # or "ferry": the link up as signed files (ferry_out, ferry_return; 网闸)

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

The sections are frozen dataclasses (:mod:`federation.config_sections`); the helpers that write and read back
configuration files are :mod:`federation.toml_files`. Both are re-exported here.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from federation.config_sections import (
    ClockConfig,
    Config,
    DatabaseConfig,
    ExtranetConfig,
    HttpConfig,
    KeyringConfig,
    LogConfig,
    NodeConfig,
    NotifyConfig,
    PkiConfig,
    ReplicationConfig,
    SimulationConfig,
    SupervisionConfig,
    VideoConfig,
)
from federation.errors import ConfigError
from federation.identities import DivisionLevel, boundary_kind, level_of, validate_node_id
from federation.toml_files import dump_toml, read_toml_sections

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
    "dump_toml",
    "load_config",
    "read_toml_sections",
    "split_address",
]


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


def _has_password(url: object) -> bool:
    """Whether a database URL carries a password (``scheme://user:secret@host/db``): never in a file."""
    if not isinstance(url, str) or "://" not in url:
        return False
    authority = url.split("://", 1)[1].split("/", 1)[0]
    return "@" in authority and ":" in authority.rsplit("@", 1)[0]


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
        if section == "database" and _has_password(raw_section.get("url")):
            raise ConfigError(
                "配置文件中的 [database] url 不能含有数据库口令：请用 PostgreSQL 的口令文件（PGPASSFILE，权限 0600）"
                "或环境变量 SUNSHINE_DATABASE_URL 提供",
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
    validate_node_id(cfg.node.division)  # a division code, or a county's extranet node (371122-ext)
    if cfg.database.sqlite_synchronous not in {"full", "normal"}:
        raise ConfigError("database.sqlite_synchronous 只能是 full 或 normal", value=cfg.database.sqlite_synchronous)
    if cfg.log.format not in {"auto", "console", "json"}:
        raise ConfigError("log.format 只能是 auto、console 或 json", value=cfg.log.format)
    if not 0 < cfg.http.port < 65536 and cfg.http.port != 0:
        raise ConfigError("http.port 超出范围", value=cfg.http.port)
    cfg.simulation.start_moment()
    cfg.simulation.anchor_moment()
    _validate_replication(cfg.replication)
    _validate_notify(cfg.notify)
    if cfg.supervision.sweep_interval_s < 0:
        raise ConfigError("supervision.sweep_interval_s 不能为负数", value=cfg.supervision.sweep_interval_s)
    _validate_video(cfg.video)
    if cfg.keyring.backend not in {"file", "system"}:
        raise ConfigError("keyring.backend 只能是 file 或 system", value=cfg.keyring.backend)
    if cfg.pki.enrol_listen:
        split_address(cfg.pki.enrol_listen, "pki.enrol_listen")
    _validate_extranet(cfg)
    if cfg.pki.cert_days < 1 or not 0 < cfg.pki.renew_days < cfg.pki.cert_days or cfg.pki.token_hours <= 0:
        raise ConfigError("pki.cert_days、renew_days、token_hours 须为正数，且 renew_days 小于 cert_days")


def _validate_extranet(cfg: Config) -> None:
    ext = cfg.extranet
    if ext.link and ext.ferry_out:
        raise ConfigError("extranet.link 与 extranet.ferry_out 只能配置其一（直连或经网闸摆渡）", key="extranet.link")
    if ext.ferry_out and not ext.ferry_return:
        raise ConfigError("经网闸摆渡（extranet.ferry_out）时须配置回执目录 ferry_return", key="extranet.ferry_return")
    if ext.link:
        split_address(ext.link, "extranet.link")
    county = boundary_kind(cfg.node.division) is None and level_of(cfg.node.division) is DivisionLevel.COUNTY
    if ext.enabled and not county:
        raise ConfigError("extranet.link / ferry_out 只用于县级节点（发往其外网节点）", node=cfg.node.division)
    for name in ("client_per_minute", "case_per_minute", "submissions_per_hour", "max_body_bytes"):
        if getattr(ext, name) < 1:
            raise ConfigError(f"extranet.{name} 须为正数", value=getattr(ext, name))


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
    for name in (
        "window",
        "batch_records",
        "batch_bytes",
        "max_record_bytes",
        "max_streams_per_peer",
        "attest_records",
    ):
        if getattr(rep, name) < 1:
            raise ConfigError(f"replication.{name} 必须大于 0", value=getattr(rep, name))
    if rep.linger_ms < 0:
        raise ConfigError("replication.linger_ms 不能为负数", value=rep.linger_ms)
    if rep.attest_interval_s <= 0:
        raise ConfigError("replication.attest_interval_s 必须大于 0", value=rep.attest_interval_s)
    _validate_ferry(rep)
    if rep.max_message_bytes < max(rep.batch_bytes, rep.max_record_bytes) or rep.hello_timeout_s <= 0:
        raise ConfigError(
            "replication.max_message_bytes 须不小于 batch_bytes 与 max_record_bytes，hello_timeout_s 须为正数",
            value=rep.max_message_bytes,
        )


def _validate_ferry(rep: ReplicationConfig) -> None:
    if rep.transport not in {"grpc", "ferry"}:
        raise ConfigError("replication.transport 只能是 grpc 或 ferry", value=rep.transport)
    if rep.transport == "ferry" and not (rep.ferry_out and rep.ferry_return):
        raise ConfigError(
            'replication.transport = "ferry" 时须配置 ferry_out（发往网闸的摆渡目录）与 ferry_return（回执目录）',
            key="replication.ferry_out",
        )
    if rep.ferry_spool_bytes < 1 or rep.ferry_file_batches < 1:
        raise ConfigError("replication.ferry_spool_bytes 与 ferry_file_batches 必须大于 0", value=rep.ferry_spool_bytes)
    if not (rep.ferry_statement_s > 0 and rep.ferry_resend_s > 0 and rep.ferry_settle_s >= 0):
        raise ConfigError("replication.ferry_statement_s、ferry_resend_s 须为正数，ferry_settle_s 不能为负数")


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
