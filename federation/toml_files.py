"""Configuration files written and read back section by section: :func:`dump_toml` (``sunshine … init``, the
demo's agent configurations) and :func:`read_toml_sections`. Re-exported by :mod:`federation.config`.
"""

from __future__ import annotations

import json
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
