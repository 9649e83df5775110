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

    [clock]
    yellow_days = 1       # yellow when at most this many working days remain (today included)
    yellow_share = 0.8    # … or when this share of the budget is used
    max_extension_days = 10
"""

from __future__ import annotations

import os
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
    "LogConfig",
    "NodeConfig",
    "SimulationConfig",
    "load_config",
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
    simulation: SimulationConfig = field(default_factory=SimulationConfig)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{Path(self.node.data_dir).resolve() / 'node.db'}"


def _coerce(section: str, key: str, raw: Any, target: type | str) -> Any:
    kind = target if isinstance(target, str) else target.__name__
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
    validate_division_code(cfg.node.division)
    if cfg.database.sqlite_synchronous not in {"full", "normal"}:
        raise ConfigError("database.sqlite_synchronous 只能是 full 或 normal", value=cfg.database.sqlite_synchronous)
    if cfg.log.format not in {"auto", "console", "json"}:
        raise ConfigError("log.format 只能是 auto、console 或 json", value=cfg.log.format)
    if not 0 < cfg.http.port < 65536 and cfg.http.port != 0:
        raise ConfigError("http.port 超出范围", value=cfg.http.port)
    cfg.simulation.start_moment()
    return cfg
