"""Identities (division codes, case numbers), configuration (TOML + SUNSHINE_* env), the standards bundle."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from federation.calendar import WorkingCalendar
from federation.config import Config, load_config
from federation.data import DIVISIONS_CSV
from federation.errors import (
    ConfigError,
    InvalidDivisionCode,
    ItemNotFound,
    StandardsError,
    ValidationError,
)
from federation.identities import (
    CaseNumber,
    DivisionLevel,
    DivisionRegistry,
    format_case_number,
    level_of,
    parse_case_number,
    scope_prefix,
    validate_division_code,
)
from federation.standards import Item, ItemKind, JointDepartment, StandardsBundle, load_bundle

# -- division codes --------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["370000", "371100", "371122", "110101", "999999"])
def test_valid_division_codes(code: str) -> None:
    assert validate_division_code(code) == code


@pytest.mark.parametrize(
    "code",
    [
        "",
        "37112",
        "3711222",
        "071122",
        "37112a",
        "37 122",
        " 371122",
        "371122\n",
        "3７1122",
        "３７１１２２",
        371122,
        None,
    ],
)
def test_invalid_division_codes(code: Any) -> None:
    with pytest.raises(InvalidDivisionCode) as info:
        validate_division_code(code)
    assert isinstance(info.value, ValidationError)
    assert info.value.code == "invalid_division_code"


@pytest.mark.parametrize(
    ("code", "level", "prefix"),
    [
        ("370000", DivisionLevel.PROVINCE, "37"),
        ("371100", DivisionLevel.CITY, "3711"),
        ("371122", DivisionLevel.COUNTY, "371122"),
        ("370102", DivisionLevel.COUNTY, "370102"),
    ],
)
def test_level_and_scope_prefix(code: str, level: DivisionLevel, prefix: str) -> None:
    assert level_of(code) is level
    assert scope_prefix(code) == prefix
    assert code.startswith(prefix)


def test_scope_prefix_rejects_a_bad_code() -> None:
    with pytest.raises(InvalidDivisionCode):
        scope_prefix("37")


# -- case numbers ----------------------------------------------------------------------------------


def test_case_number_format_and_parse_round_trip() -> None:
    text = format_case_number("371122", date(2026, 9, 21), 1)
    assert text == "371122-20260921-000001"
    parsed = parse_case_number(text)
    assert parsed == CaseNumber("371122", date(2026, 9, 21), 1)
    assert str(parsed) == text
    assert str(CaseNumber("371122", date(2027, 1, 2), 999_999)) == "371122-20270102-999999"


@pytest.mark.parametrize("seq", [0, -1, 1_000_000])
def test_case_number_sequence_out_of_range(seq: int) -> None:
    with pytest.raises(ValidationError):
        format_case_number("371122", date(2026, 9, 21), seq)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "371122-20260921-00001",  # five-digit sequence
        "371122-20260921-0000001",
        "371122-2026921-000001",
        "371122-20260230-000001",  # no 30 February
        "371122-20261301-000001",
        "371122-20260921-000000",  # sequence starts at 1
        "071122-20260921-000001",  # not a division code
        "371122_20260921_000001",
        " 371122-20260921-000001",
        "371122-20260921-000001\n",
        "371122-20260921-000001x",
        "371122-２０２６0921-000001",  # full-width digits
    ],
)
def test_invalid_case_numbers_are_rejected(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_case_number(text)


# -- the division registry -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry() -> DivisionRegistry:
    return DivisionRegistry.from_csv(DIVISIONS_CSV)


def test_shandong_has_1_province_17_cities_137_counties(registry: DivisionRegistry) -> None:
    assert len(registry) == 155
    assert len(registry.of_level(DivisionLevel.PROVINCE)) == 1
    assert len(registry.of_level(DivisionLevel.CITY)) == 17
    assert len(registry.of_level(DivisionLevel.COUNTY)) == 137


def test_the_registry_is_a_tree_that_matches_the_prefixes(registry: DivisionRegistry) -> None:
    province = registry.get("370000")
    assert (province.name, province.level, province.parent) == ("山东省", DivisionLevel.PROVINCE, None)
    cities = registry.children("370000")
    assert len(cities) == 17
    assert sum(len(registry.children(c.code)) for c in cities) == 137
    for division in registry.of_level(DivisionLevel.COUNTY) + cities:
        assert division.parent is not None
        assert division.code.startswith(scope_prefix(division.parent))
        assert level_of(division.code) is division.level
    juxian = registry.get("371122")
    assert (juxian.name, juxian.parent) == ("莒县", "371100")
    assert "371122" in registry
    assert "371199" not in registry


def test_registry_get_rejects_unknown_and_malformed_codes(registry: DivisionRegistry) -> None:
    with pytest.raises(InvalidDivisionCode, match="不在区划表中"):
        registry.get("371199")
    with pytest.raises(InvalidDivisionCode, match="格式错误"):
        registry.get("3711")


def test_registry_from_csv_rejects_a_bad_code(tmp_path: Path) -> None:
    path = tmp_path / "divisions.csv"
    path.write_text("code,name,level,parent\n370000,山东省,province,\n37010,济南市,city,370000\n", encoding="utf-8")
    with pytest.raises(InvalidDivisionCode):
        DivisionRegistry.from_csv(path)


# -- configuration ---------------------------------------------------------------------------------


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sunshine.toml"
    path.write_text(text, encoding="utf-8")
    return path


FULL_TOML = """
[node]
division = "371121"
name = "五莲县"
data_dir = "/var/lib/sunshine"

[database]
url = "sqlite:////var/lib/sunshine/node.db"
echo = true

[http]
host = "0.0.0.0"
port = 9000

[log]
format = "json"
level = "debug"

[clock]
yellow_days = 2
yellow_share = 0.75
max_extension_days = 8

[simulation]
enabled = true
start = "2026-09-21T08:30:00+08:00"
speed = 60
"""


def test_defaults_without_file_or_environment() -> None:
    cfg = load_config(None, environ={})
    assert cfg == Config()
    assert cfg.node.division == "371122"
    assert cfg.http.port == 8122
    assert cfg.clock.yellow_share == 0.8
    assert cfg.database_url == f"sqlite:///{Path('.').resolve() / 'node.db'}"
    assert cfg.simulation.start_moment() is None


def test_toml_values_are_read(tmp_path: Path) -> None:
    cfg = load_config(write_toml(tmp_path, FULL_TOML), environ={})
    assert cfg.node.division == "371121"
    assert cfg.node.name == "五莲县"
    assert cfg.database.echo is True
    assert cfg.database_url == "sqlite:////var/lib/sunshine/node.db"
    assert (cfg.http.host, cfg.http.port) == ("0.0.0.0", 9000)
    assert (cfg.log.format, cfg.log.level) == ("json", "debug")
    assert (cfg.clock.yellow_days, cfg.clock.yellow_share, cfg.clock.max_extension_days) == (2, 0.75, 8)
    assert cfg.clock.max_extension_days_joint == 15  # default kept
    assert cfg.simulation.speed == 60.0
    assert isinstance(cfg.simulation.speed, float)
    moment = cfg.simulation.start_moment()
    assert moment is not None
    assert moment.utcoffset() is not None


def test_environment_beats_toml_beats_defaults(tmp_path: Path) -> None:
    env = {
        "SUNSHINE_HTTP_PORT": "9100",
        "SUNSHINE_NODE_NAME": "莒县",
        "SUNSHINE_DATABASE_ECHO": "off",
        "SUNSHINE_CLOCK_YELLOW_SHARE": "0.9",
        "UNRELATED": "x",
    }
    cfg = load_config(write_toml(tmp_path, FULL_TOML), environ=env)
    assert cfg.http.port == 9100
    assert cfg.node.name == "莒县"
    assert cfg.database.echo is False
    assert cfg.clock.yellow_share == 0.9
    assert cfg.http.host == "0.0.0.0"  # from the file
    assert cfg.log.level == "debug"


def test_short_environment_names(tmp_path: Path) -> None:
    cfg = load_config(
        write_toml(tmp_path, FULL_TOML),
        environ={"SUNSHINE_DATABASE_URL": "postgresql+psycopg://u@db/sunshine", "SUNSHINE_LOG_FORMAT": "console"},
    )
    assert cfg.database_url == "postgresql+psycopg://u@db/sunshine"
    assert cfg.log.format == "console"


def test_load_config_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUNSHINE_HTTP_PORT", "9200")
    assert load_config(None).http.port == 9200


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("yes", True), ("ON", True), ("0", False), ("no", False)])
def test_boolean_spellings(value: str, expected: bool) -> None:
    assert load_config(None, environ={"SUNSHINE_DATABASE_ECHO": value}).database.echo is expected


@pytest.mark.parametrize(
    "text",
    [
        "[node]\ndivison = '371122'\n",  # misspelt key
        "[http]\nport = 8122\nhots = '0.0.0.0'\n",
        "[nodes]\ndivision = '371122'\n",  # unknown section
        "division = '371122'\n",  # a key outside any section
        "node = 'x'\n",  # a section that is not a table
    ],
)
def test_unknown_keys_and_sections_are_config_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        load_config(write_toml(tmp_path, text), environ={})


@pytest.mark.parametrize(
    "text",
    [
        "[http]\nport = 'eighty'\n",
        "[http]\nport = true\n",
        "[http]\nport = 8122.5\n",
        "[http]\nport = [8122]\n",
        "[http]\nport = {value = 8122}\n",
        "[clock]\nyellow_share = 'most'\n",
        "[clock]\nyellow_share = true\n",
        "[clock]\nyellow_days = 1.5\n",
        "[database]\necho = 'maybe'\n",
        "[database]\necho = 2\n",
        "[node]\nname = ['a', 'b']\n",
        "[simulation]\nspeed = {x = 1}\n",
    ],
)
def test_bad_types_in_the_file_are_config_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="类型不正确") as info:
        load_config(write_toml(tmp_path, text), environ={})
    assert "key" in info.value.details


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SUNSHINE_HTTP_PORT", "eighty"),
        ("SUNSHINE_HTTP_PORT", "8122.0"),
        ("SUNSHINE_CLOCK_YELLOW_DAYS", ""),
        ("SUNSHINE_CLOCK_YELLOW_SHARE", "most"),
        ("SUNSHINE_DATABASE_ECHO", "perhaps"),
    ],
)
def test_bad_types_in_the_environment_are_config_errors(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match="类型不正确"):
        load_config(None, environ={name: value})


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"SUNSHINE_LOG_FORMAT": "xml"}, ConfigError),
        ({"SUNSHINE_HTTP_PORT": "70000"}, ConfigError),
        ({"SUNSHINE_HTTP_PORT": "-1"}, ConfigError),
        ({"SUNSHINE_SIMULATION_START": "2026-09-21T08:30:00"}, ConfigError),  # no time zone
        ({"SUNSHINE_NODE_DIVISION": "37112"}, InvalidDivisionCode),
    ],
)
def test_bad_values_are_refused(env: dict[str, str], error: type[Exception]) -> None:
    with pytest.raises(error):
        load_config(None, environ=env)


def test_port_zero_means_any_free_port() -> None:
    assert load_config(None, environ={"SUNSHINE_HTTP_PORT": "0"}).http.port == 0


def test_missing_or_malformed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="找不到"):
        load_config(tmp_path / "absent.toml", environ={})
    with pytest.raises(ConfigError, match="格式错误"):
        load_config(write_toml(tmp_path, "[node\ndivision = "), environ={})


def test_config_dataclasses_are_frozen(tmp_path: Path) -> None:
    cfg = load_config(write_toml(tmp_path, FULL_TOML), environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.http.port = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.node = cfg.node  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.clock.yellow_share = 0.5  # type: ignore[misc]
    for section in dataclasses.fields(cfg):
        assert dataclasses.is_dataclass(getattr(cfg, section.name))
        assert type(getattr(cfg, section.name)).__dataclass_params__.frozen  # type: ignore[attr-defined]


# -- the standards bundle --------------------------------------------------------------------------


def test_the_demo_bundle(bundle: StandardsBundle, calendar: WorkingCalendar) -> None:
    assert len(bundle.items) == 36
    joint = bundle.item("XK00036000")
    assert joint.kind is ItemKind.JOINT
    assert [d.department for d in joint.joint_departments] == ["自然资源局", "住房和城乡建设局", "消防救援大队"]
    assert bundle.item("XK00002000").instant
    assert bundle.item("XK00009000").fee_yuan == Decimal("80")
    assert bundle.calendar().version == calendar.version
    with pytest.raises(ItemNotFound):
        bundle.item("XK99999000")


def test_bundle_json_round_trip_keeps_the_digest(bundle: StandardsBundle, tmp_path: Path) -> None:
    text = bundle.to_json()
    again = StandardsBundle.from_json(text)
    assert again == bundle
    assert again.digest == bundle.digest
    assert again.to_json() == text
    assert len(bundle.digest) == 64
    path = tmp_path / "bundle.json"
    path.write_text(text, encoding="utf-8")
    assert load_bundle(path).digest == bundle.digest


def test_the_digest_changes_with_the_content(bundle: StandardsBundle) -> None:
    changed = dataclasses.replace(bundle, rule_parameters={**bundle.rule_parameters, "yellow_days": 2})
    assert changed.digest != bundle.digest
    fewer = dataclasses.replace(bundle, items=bundle.items[:-1])
    assert fewer.digest != bundle.digest
    assert dataclasses.replace(bundle).digest == bundle.digest


def _raw(bundle: StandardsBundle) -> dict[str, Any]:
    return json.loads(bundle.to_json())  # type: ignore[no-any-return]


def _item_raw(**changes: Any) -> dict[str, Any]:
    raw = {
        "code": "XK00001000",
        "name": "企业设立登记",
        "department": "市场监督管理局",
        "kind": "promised",
        "legal_limit_days": 3,
        "promised_limit_days": 1,
        "fee_yuan": "0",
        "key_fields": [],
    }
    raw.update(changes)
    return raw


@pytest.mark.parametrize(
    "item",
    [
        _item_raw(code="xk00001000"),  # lower case
        _item_raw(code="XK1"),  # too short
        _item_raw(code="XK00001000\n"),
        _item_raw(code="XK-0001"),
        _item_raw(promised_limit_days=5),  # promised > legal
        _item_raw(legal_limit_days=-1, promised_limit_days=-1),
        _item_raw(kind="instant"),  # instant must promise 0
        _item_raw(promised_limit_days=0),  # promised 0 must be instant
        _item_raw(kind="urgent"),
        _item_raw(fee_yuan="-1"),
        _item_raw(fee_yuan="ten"),
        _item_raw(name=""),
        _item_raw(legal_limit_days="three"),
        _item_raw(kind="joint", joint_departments=[{"department": "A", "limit_days": 1}]),  # one department
        _item_raw(
            kind="joint",
            joint_departments=[{"department": "A", "limit_days": 1}, {"department": "A", "limit_days": 1}],
        ),
        _item_raw(
            kind="joint",
            joint_departments=[{"department": "A", "limit_days": 1}, {"department": "B", "limit_days": 9}],
        ),  # a department's limit beyond the promise
        _item_raw(joint_departments=[{"department": "A", "limit_days": 1}, {"department": "B", "limit_days": 1}]),
        {"code": "XK00001000"},  # fields missing
    ],
)
def test_a_malformed_item_is_a_standards_error(bundle: StandardsBundle, item: dict[str, Any]) -> None:
    raw = _raw(bundle)
    raw["items"] = [*raw["items"][1:], item]
    with pytest.raises(StandardsError):
        StandardsBundle.from_json(json.dumps(raw))


def test_a_duplicate_item_code_is_a_standards_error(bundle: StandardsBundle) -> None:
    raw = _raw(bundle)
    raw["items"].append(raw["items"][0])
    with pytest.raises(StandardsError, match="重复") as info:
        StandardsBundle.from_json(json.dumps(raw))
    assert info.value.details["item_code"] == raw["items"][0]["code"]


@pytest.mark.parametrize(
    "change",
    [
        {"format": "sunshine-standards/2"},
        {"format": None},
        {"version": ""},
        {"version": "1.0 beta"},
        {"version": "v1\n"},
        {"effective_date": "2026-13-01"},
        {"items": None},
    ],
)
def test_a_malformed_bundle_is_a_standards_error(bundle: StandardsBundle, change: dict[str, Any]) -> None:
    raw = _raw(bundle)
    raw.update(change)
    with pytest.raises(StandardsError):
        StandardsBundle.from_json(json.dumps(raw))


def test_a_bundle_without_items_or_format_is_a_standards_error(bundle: StandardsBundle) -> None:
    raw = _raw(bundle)
    del raw["items"]
    with pytest.raises(StandardsError):
        StandardsBundle.from_dict(raw)
    raw = _raw(bundle)
    del raw["format"]
    with pytest.raises(StandardsError, match="format"):
        StandardsBundle.from_dict(raw)


@pytest.mark.parametrize("text", ["", "not json", "{", "[1, 2]", '"a string"', "null"])
def test_text_that_is_not_a_json_object_is_a_standards_error(text: str) -> None:
    with pytest.raises(StandardsError):
        StandardsBundle.from_json(text)


def test_a_bundle_with_a_bad_calendar_year_is_a_standards_error(bundle: StandardsBundle) -> None:
    raw = _raw(bundle)
    raw["calendar_years"][-1]["makeup_workdays"].append("2026-03-04")  # a Wednesday
    with pytest.raises(StandardsError, match="调休"):
        StandardsBundle.from_json(json.dumps(raw))
    raw = _raw(bundle)
    raw["calendar_years"].append(raw["calendar_years"][0])
    with pytest.raises(StandardsError, match="日历年份重复"):
        StandardsBundle.from_json(json.dumps(raw))


def test_load_bundle_reports_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(StandardsError, match="无法读取"):
        load_bundle(tmp_path / "absent.json")


def test_items_build_directly() -> None:
    item = Item(
        "XK00036001",
        "联合审批",
        "住房和城乡建设局",
        ItemKind.JOINT,
        45,
        20,
        joint_departments=(JointDepartment("自然资源局", 10), JointDepartment("消防救援大队", 20)),
    )
    assert Item.from_dict(item.to_dict()) == item
