"""Configuration files written and read back section by section: :func:`dump_toml` (``sunshine … init``, the
demo's agent configurations) and :func:`read_toml_sections`. Re-exported by :mod:`federation.config`.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from federation.errors import ConfigError

__all__ = ["dump_toml", "read_toml_sections"]


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


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by its owner only (0600): a node's configuration names
    its database and keyring, which no other local user needs to read."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def make_private_dir(path: Path) -> bool:
    """Create the node's data directory (0700: databases, keyring, logs) or tighten an existing one; True if it was
    created."""
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return created


def make_private(*paths: Path) -> None:
    """Restrict files that exist among ``paths`` (a SQLite database and its -wal/-shm) to their owner."""
    for p in paths:
        if p.exists():
            os.chmod(p, 0o600)
