"""The boundary policy as data: its masks, its compiled screening of records, its place in the standards bundle."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import pytest

from federation.boundary import (
    Action,
    BoundaryPolicy,
    default_boundary_policy,
    mask_id,
    mask_name,
    mask_phone,
    scrub,
)
from federation.data import CATALOGUE_CSV
from federation.errors import StandardsError
from federation.standards import StandardsBundle, bundle_from_catalogue_csv
from federation.standards_source import load_bundle_source
from federation.storage.boundary_gate import directions_of

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "standards"


# -- masks --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"), [("张三", "张*"), ("张三丰", "张**"), ("欧阳明远", "欧***"), ("张", "*"), (" 李四 ", "李*")]
)
def test_a_name_keeps_its_first_character(name: str, masked: str) -> None:
    assert mask_name(name) == masked
    assert mask_name(masked) == masked  # idempotent: a city's records are screened by both directions


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("370122199001011234", "370122********1234"),
        ("91371122MA3C000001", "913711********0001"),
        ("370122900101123", "370122*****1123"),
        ("A1234567", "A1****67"),
        ("1234", "****"),
    ],
)
def test_an_id_number_keeps_its_region_and_last_four(number: str, masked: str) -> None:
    assert mask_id(number) == masked
    assert mask_id(masked) == masked


@pytest.mark.parametrize(
    ("phone", "masked"), [("13812345678", "138****5678"), ("0633-1234567", "0633****4567"), ("12345", "***45")]
)
def test_a_phone_number_keeps_its_prefix_and_last_four(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked
    assert mask_phone(masked) == masked


def test_free_text_is_scrubbed_of_id_credit_code_and_phone_numbers() -> None:
    text = "身份证370122199001011234，手机 13812345678，代码 91371122MA3C12345X，座机0633-1234567，第 3 号窗口"
    assert scrub(text) == (
        "身份证370122********1234，手机 138****5678，代码 913711********345X，座机0633****4567，第 3 号窗口"
    )
    assert scrub(scrub(text)) == scrub(text)
    assert scrub("办理太慢") == "办理太慢"
    assert scrub("订单号 2026092100000123456789 不是身份证") == "订单号 2026092100000123456789 不是身份证"


# -- screening ----------------------------------------------------------------------------------------------------

POLICY = BoundaryPolicy.from_dict(
    {
        "up": {
            "case": {
                "case_no": "keep",
                "applicant": "mask_name",
                "data": "clear",
                "secret": "drop",
                "pauses": {"n": "keep", "reason": "scrub"},
            },
        }
    }
)


def test_a_record_crosses_with_its_listed_fields_only_masked_as_the_policy_says() -> None:
    up = POLICY.compile("v1").direction("up")
    screened = up.screen(
        "case",
        {
            "case_no": "371122-20260921-000001",
            "applicant": "张三",
            "data": {"经营者身份证号": "370122199001011234"},
            "secret": "x",
            "phone": "13812345678",
            "pauses": [{"n": 1, "reason": "电话 13812345678", "by": "张三"}],
        },
    )
    assert screened.payload == {
        "case_no": "371122-20260921-000001",
        "applicant": "张*",
        "data": {},
        "pauses": [{"n": 1, "reason": "电话 138****5678"}],
    }
    assert screened.redacted
    assert screened.unlisted == ("pauses.by", "phone")  # the explicitly dropped field is not "unlisted"


def test_a_record_type_not_listed_is_refused_and_the_control_records_cross_as_written() -> None:
    compiled = POLICY.compile("v1")
    assert compiled.direction("up").screen("complaint", {"a": 1}).payload is None
    assert compiled.direction("down").screen("case", {"case_no": "1"}).payload is None  # no down direction at all
    entry = {"entry": {"seq": 1}, "hash": "h", "prev_hash": "p"}
    assert compiled.direction("up").screen("audit", entry).payload is entry  # the hash chain crosses whole
    # the standards channel is never screened, whatever the policy
    assert compiled.direction("down").screen("standards", {"version": "v"}).payload == {"version": "v"}


def test_nothing_changed_is_not_redacted() -> None:
    up = POLICY.compile("v1").direction("up")
    screened = up.screen("case", {"case_no": "1", "applicant": "张*", "data": {}})
    assert not screened.redacted
    assert screened.unlisted == ()


def test_a_value_of_the_wrong_shape_does_not_cross() -> None:
    up = POLICY.compile("v1").direction("up")
    screened = up.screen("case", {"case_no": "1", "applicant": {"name": "张三"}, "pauses": "three"})
    assert screened.payload == {"case_no": "1"}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"sideways": {}}, "方向"),
        ({"up": {"case": {"applicant": "hide"}}}, "处理方式"),
        ({"up": {"case": "keep"}}, "逐字段"),
        ({"up": {"audit": {"entry": "keep"}}}, "始终整条放行"),
        ({"up": {"standards": {"version": "keep"}}}, "始终整条放行"),
        ({"up": {"case": {}}}, "没有列出"),
        ({"up": {"case": {"applicant": 3}}}, "处理方式或字段表"),
    ],
)
def test_a_malformed_policy_is_refused_naming_where(raw: dict[str, object], says: str) -> None:
    with pytest.raises(StandardsError, match=says):
        BoundaryPolicy.from_dict(raw)


def test_directions_by_level() -> None:
    assert directions_of("371122") == ("up",)
    assert directions_of("371100") == ("up", "down")
    assert directions_of("370000") == ("down",)


def test_the_default_policy_masks_what_the_minimum_necessary_decision_says() -> None:
    up = default_boundary_policy().compile("").direction("up")
    case = up.screen("case", {"applicant": "张三", "data": {"统一社会信用代码": "91371122MA3C000001"}}).payload
    assert case == {"applicant": "张*", "data": {}}
    complaint = up.screen("complaint", {"complainant": "李四", "content": "电话13812345678"}).payload
    assert complaint == {"complainant": "李*", "content": "电话138****5678"}
    event = up.screen("case_event", {"payload": {"applicant": "张三", "data": {"a": "b"}, "x": 1}})
    assert event.payload == {"payload": {"applicant": "张*", "data": {}}}
    assert event.unlisted == ("payload.x",)


# -- in the standards bundle --------------------------------------------------------------------------------------


def test_the_policy_travels_in_the_bundle_and_its_digest() -> None:
    bundle = bundle_from_catalogue_csv(CATALOGUE_CSV, "2026.09.1", date(2026, 9, 1))
    assert bundle.boundary_policy == default_boundary_policy()
    again = StandardsBundle.from_json(bundle.to_json())
    assert again.boundary_policy == bundle.boundary_policy
    assert again.digest == bundle.digest
    changed = BoundaryPolicy.from_dict({"up": {"case": {"case_no": "keep"}}})
    other = StandardsBundle.from_dict(bundle.to_dict() | {"boundary": changed.to_dict()})
    assert other.digest != bundle.digest
    assert other.boundary_policy.directions["up"]["case"] == {"case_no": Action.KEEP}


def test_a_bundle_published_before_the_policy_keeps_its_digest_and_runs_the_default() -> None:
    bundle = bundle_from_catalogue_csv(CATALOGUE_CSV, "2026.09.1", date(2026, 9, 1), boundary={})
    assert "boundary" not in bundle.to_dict()
    assert bundle.boundary_policy == default_boundary_policy()


def test_a_bundle_with_a_malformed_policy_is_refused() -> None:
    raw = bundle_from_catalogue_csv(CATALOGUE_CSV, "2026.09.1", date(2026, 9, 1)).to_dict()
    with pytest.raises(StandardsError, match="处理方式"):
        StandardsBundle.from_dict(raw | {"boundary": {"up": {"case": {"applicant": "publish"}}}})


def test_the_example_source_directory_publishes_the_default_policy() -> None:
    with (EXAMPLE / "boundary.toml").open("rb") as f:
        assert BoundaryPolicy.from_dict(tomllib.load(f)) == default_boundary_policy()
    assert load_bundle_source(EXAMPLE).boundary_policy == default_boundary_policy()
