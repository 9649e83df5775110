"""Standards authored as files (标准包源目录): a directory the province edits, built into one bundle.

Layout (see ``docs/standards.md`` and ``docs/examples/standards/``)::

    bundle.toml            version, effective_date, issuer (and optionally catalogue = "other.csv")
    catalogue.csv          the item catalogue, columns of shared/data/county_items.csv (+ joint_departments)
    calendar/2026.toml     one file per published year: revision, source, holidays, make-up working days
    rule_parameters.toml   the supervision rules' parameters (flat keys)
    scoring.toml           the scoring rules
    boundary.toml          the boundary policy (docs/boundary.md); without it, the default policy

Pure reading and checking: no database. Every problem is a :class:`~federation.errors.StandardsError` that names
the file (and the line or key) and says what is wrong, so an author can fix it before anything is published.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from federation.boundary import BoundaryPolicy, default_boundary_policy
from federation.calendar import YearCalendar
from federation.errors import StandardsError
from federation.standards import StandardsBundle, read_catalogue_csv

__all__ = ["BUNDLE_FILE", "load_bundle_source", "year_from_toml"]

BUNDLE_FILE = "bundle.toml"
_CATALOGUE = "catalogue.csv"
_RULE_PARAMETERS = "rule_parameters.toml"
_SCORING = "scoring.toml"
_BOUNDARY = "boundary.toml"
_CALENDAR_DIR = "calendar"
_BUNDLE_KEYS = frozenset({"version", "effective_date", "issuer", "catalogue", "signature_suite"})
_YEAR_KEYS = frozenset({"year", "revision", "source", "holidays", "makeup_workdays"})
_MAX_HOLIDAY_SPAN = 31  # days: a holiday range longer than a month is an authoring mistake


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise StandardsError(f"无法读取 {path}：{exc.strerror}", path=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise StandardsError(f"{path.name} 不是有效的 TOML：{exc}", path=str(path)) from exc


def _plain_json(path: Path, value: Any, where: str = "") -> Any:
    """``value`` as plain JSON data (tables, arrays, strings, numbers, booleans); TOML dates and times are
    refused, so what is published is exactly what every node reads back."""
    if isinstance(value, Mapping):
        return {str(k): _plain_json(path, v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(path, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise StandardsError(f"{path.name} 中 {where} 不能是无穷大或 NaN", path=str(path), key=where)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise StandardsError(
        f"{path.name} 中 {where} 的取值类型 {type(value).__name__} 不能发布（请用字符串、数字或布尔值）",
        path=str(path),
        key=where,
    )


def _day(path: Path, value: Any, where: str) -> date:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise StandardsError(f"{path.name} 中 {where} 应为日期（如 2026-10-01），实际为“{value!r}”", path=str(path))


def _holidays(path: Path, raw: Any) -> tuple[set[date], dict[str, str]]:
    """``holidays`` is a list whose entries are dates or tables ``{name, from, to}`` (a range, both ends in)."""
    if not isinstance(raw, list):
        raise StandardsError(f"{path.name} 中 holidays 应为列表", path=str(path))
    days: set[date] = set()
    names: dict[str, str] = {}
    for i, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            days.add(_day(path, entry, f"holidays[{i}]"))
            continue
        unknown = set(entry) - {"name", "from", "to"}
        if unknown or "from" not in entry:
            raise StandardsError(
                f"{path.name} 中 holidays[{i}] 应为 {{ name, from, to }}（多余或缺少：{sorted(unknown) or 'from'}）",
                path=str(path),
            )
        first = _day(path, entry["from"], f"holidays[{i}].from")
        last = _day(path, entry.get("to", entry["from"]), f"holidays[{i}].to")
        span = (last - first).days
        if not 0 <= span < _MAX_HOLIDAY_SPAN:
            raise StandardsError(f"{path.name} 中 holidays[{i}] 的起止日期无效（{first} 至 {last}）", path=str(path))
        name = str(entry.get("name", "")).strip()
        for n in range(span + 1):
            d = first + timedelta(days=n)
            days.add(d)
            if name:
                names[d.isoformat()] = name
    return days, names


def year_from_toml(path: Path) -> YearCalendar:
    """One ``calendar/<year>.toml`` file as a published year; the file name must be the year."""
    raw = _read_toml(path)
    unknown = set(raw) - _YEAR_KEYS
    if unknown:
        raise StandardsError(f"{path.name} 中有未知的键：{', '.join(sorted(unknown))}", path=str(path))
    year = raw.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or str(year) != path.stem:
        raise StandardsError(f"{path.name} 的 year 应为与文件名相同的年份（{path.stem}）", path=str(path))
    revision = raw.get("revision", 1)
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise StandardsError(f"{path.name} 的 revision 应为整数", path=str(path))
    holidays, names = _holidays(path, raw.get("holidays", []))
    makeup_raw = raw.get("makeup_workdays", [])
    if not isinstance(makeup_raw, list):
        raise StandardsError(f"{path.name} 中 makeup_workdays 应为日期列表", path=str(path))
    makeup = {_day(path, d, f"makeup_workdays[{i}]") for i, d in enumerate(makeup_raw)}
    try:
        return YearCalendar(
            year,
            frozenset(holidays),
            frozenset(makeup),
            revision=revision,
            source=str(raw.get("source", "province")),
            names=names,
        )
    except StandardsError as exc:
        raise StandardsError(f"{path.name}：{exc.message}", path=str(path), **exc.details) from exc


def load_bundle_source(directory: Path) -> StandardsBundle:
    """Build the bundle authored in ``directory``; raise :class:`StandardsError` on the first problem found."""
    if not directory.is_dir():
        raise StandardsError(f"标准包源目录 {directory} 不存在或不是目录", path=str(directory))
    head_path = directory / BUNDLE_FILE
    if not head_path.is_file():
        raise StandardsError(f"标准包源目录 {directory} 中缺少 {BUNDLE_FILE}", path=str(directory))
    head = _read_toml(head_path)
    unknown = set(head) - _BUNDLE_KEYS
    if unknown:
        raise StandardsError(f"{BUNDLE_FILE} 中有未知的键：{', '.join(sorted(unknown))}", path=str(head_path))
    for key in ("version", "effective_date", "issuer"):
        if key not in head:
            raise StandardsError(f"{BUNDLE_FILE} 中缺少 {key}", path=str(head_path), key=key)
    effective = _day(head_path, head["effective_date"], "effective_date")
    catalogue = directory / str(head.get("catalogue", _CATALOGUE))
    items = read_catalogue_csv(catalogue)
    years: list[YearCalendar] = []
    calendar_dir = directory / _CALENDAR_DIR
    if calendar_dir.is_dir():
        years = [year_from_toml(p) for p in sorted(calendar_dir.glob("*.toml"))]
    parameters = directory / _RULE_PARAMETERS
    scoring = directory / _SCORING
    rule_parameters = _plain_json(parameters, _read_toml(parameters)) if parameters.is_file() else {}
    scoring_rules = _plain_json(scoring, _read_toml(scoring)) if scoring.is_file() else {}
    boundary_path = directory / _BOUNDARY
    try:  # without boundary.toml the bundle publishes the default policy: every bundle built here names its policy
        boundary = (
            BoundaryPolicy.from_dict(_read_toml(boundary_path))
            if boundary_path.is_file()
            else default_boundary_policy()
        )
    except StandardsError as exc:
        raise StandardsError(f"{_BOUNDARY}：{exc.message}", path=str(boundary_path)) from exc
    return StandardsBundle(
        version=str(head["version"]),
        effective_date=effective,
        items=items,
        calendar_years=tuple(years),
        rule_parameters=rule_parameters,
        scoring_rules=scoring_rules,
        issuer=str(head["issuer"]),
        signature_suite=str(head.get("signature_suite", "ed25519")),
        boundary=boundary.to_dict(),
    )
