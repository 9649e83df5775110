"""The boundary identities (``371122-ext``, ``371122-pub``): who they are, who may send them, who signs them."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from cryptography.hazmat.primitives import serialization

from federation.boundary import default_boundary_policy
from federation.errors import InvalidDivisionCode, RecordRejected, SignatureInvalid
from federation.identities import (
    BoundaryKind,
    boundary_kind,
    ca_parent_of,
    county_of,
    extranet_of,
    origin_signer,
    public_stream_of,
    validate_node_id,
    validate_origin,
)
from federation.public_records import (
    parse_public_case,
    parse_public_rating,
    parse_public_submission,
    submission_id,
)
from federation.query_codes import (
    check_query_code,
    new_query_code,
    query_hash,
)
from federation.storage.boundary_gate import directions_of
from security.pki import CertificateAuthority, build_csr, generate_tls_key, identity_of
from security.signing import generate_signing_key
from security.trust import Revocations, TrustStore
from sync_agent.runtime import down_origins, receiver_policy, up_origins
from sync_agent.server import default_allowed

NOW = dt.datetime.now(dt.UTC)
DER = serialization.Encoding.DER


def test_a_county_has_an_extranet_node_and_a_public_stream_and_nothing_else_does() -> None:
    assert extranet_of("371122") == "371122-ext"
    assert public_stream_of("371122") == "371122-pub"
    assert boundary_kind("371122-ext") is BoundaryKind.EXTRANET
    assert boundary_kind("371122-pub") is BoundaryKind.PUBLIC
    assert county_of("371122-ext") == county_of("371122-pub") == county_of("371122") == "371122"
    for not_a_county in ("371100", "370000"):
        with pytest.raises(InvalidDivisionCode, match="县级"):
            extranet_of(not_a_county)
        assert boundary_kind(not_a_county + "-ext") is None
    for bad in ("371122-EXT", "371122-ext ", "371122-abc", "071122-ext", "", "371122-ext\n"):
        assert boundary_kind(bad) is None
        with pytest.raises(InvalidDivisionCode):
            validate_origin(bad)


def test_only_the_extranet_is_a_node_the_public_stream_is_an_origin_signed_by_its_county() -> None:
    assert validate_node_id("371122-ext") == "371122-ext"
    with pytest.raises(InvalidDivisionCode, match="节点标识"):
        validate_node_id("371122-pub")
    assert origin_signer("371122-pub") == "371122"
    assert origin_signer("371122-ext") == "371122-ext"
    assert origin_signer("371100") == "371100"
    assert ca_parent_of("371122-ext") == "371100"  # the county has no CA: its city certifies its extranet node
    assert ca_parent_of("371122") == "371100"


def test_the_directions_the_boundary_streams_cross_under_the_policy() -> None:
    assert directions_of("371122-pub") == ("out",)
    assert directions_of("371122-ext") == ("in",)
    assert directions_of("371122") == ("up",)
    compiled = default_boundary_policy().compile("t")
    assert compiled.directions["out"].allows("public_case")
    assert not compiled.directions["out"].allows("case")  # the intranet's case never goes out
    assert not compiled.directions["up"].allows("public_submission")  # nor the public's data up
    assert compiled.directions["in"].allows("public_submission")


def test_receivers_let_the_boundary_streams_cross_only_between_a_county_and_its_own_extranet_node() -> None:
    county, extranet, city, province = (
        receiver_policy("371122"),
        receiver_policy("371122-ext"),
        receiver_policy("371100"),
        receiver_policy("370000"),
    )
    assert county("371122-ext", "371122-ext")
    assert not county("371121-ext", "371121-ext")  # another county's extranet node
    assert not county("371122-ext", "371122")  # an extranet node cannot speak as its county
    assert not county("371122-ext", "371122-pub")
    assert not county("371100", "371122-pub")  # nobody sends a county its own public stream
    assert extranet("371122", "371122-pub")
    assert not extranet("371122", "371122")  # the county's intranet stream never goes out
    assert not extranet("371100", "370000")  # standards from above are not the extranet's business
    assert not extranet("371121", "371121-pub")
    for upper in (city, province):
        assert not upper("371122", "371122-ext")  # a county never relays its extranet's stream up
        assert not upper("371122", "371122-pub")
        assert not upper("371122-ext", "371122-ext")  # an extranet node cannot reach past its county
    assert city("371122", "371122")  # the intranet is as it was
    assert default_allowed("371122", "371122-pub")
    assert not default_allowed("371100", "371122-pub")
    assert not default_allowed("371122-ext", "371122")


class _Source:
    def __init__(self, origins: list[str]) -> None:
        self._origins = origins

    def origins(self) -> list[str]:
        return self._origins


def test_links_up_and_down_never_carry_a_boundary_stream() -> None:
    held = _Source(["371122", "371122-pub", "371122-ext", "370000", "371100"])
    assert up_origins("371122", held)() == ["371122"]  # type: ignore[arg-type]
    assert sorted(down_origins("371100", _Source(["371100", "371122-pub", "370000"]))()) == ["370000", "371100"]  # type: ignore[arg-type]
    assert up_origins("371122-ext", held)() == ["371122-ext"]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pki() -> tuple[CertificateAuthority, CertificateAuthority]:
    root = CertificateAuthority.create_root("370000", NOW)
    key = generate_tls_key()
    issued = root.issue_intermediate("371100", key.public_key(), NOW, 365)
    return root, CertificateAuthority(issued.certificate, key, issued.chain, root.certificate)


def test_the_city_ca_certifies_its_county_s_extranet_node_and_its_batches_verify_as_its_own(
    pki: tuple[CertificateAuthority, CertificateAuthority],
) -> None:
    root, city = pki
    signing = generate_signing_key("ed25519")
    issued = city.issue_node(build_csr("371122-ext", generate_tls_key(), signing.public), "371122-ext", NOW, 30)
    assert identity_of(issued.certificate).division == "371122-ext"
    store = TrustStore(root.certificate, Revocations, suite=lambda: "ed25519", clock=lambda: NOW)
    chain = [c.public_bytes(DER) for c in issued.chain]
    digest = os.urandom(32)
    store.verify_batch("371122-ext", digest, signing.sign(digest), chain)
    with pytest.raises(SignatureInvalid, match="签名者却是 371122-ext"):
        store.verify_batch("371122", digest, signing.sign(digest), chain)  # it cannot sign as its county
    with pytest.raises(SignatureInvalid):
        store.verify_batch("371122-pub", digest, signing.sign(digest), chain)  # nor the county's public stream


def test_a_county_signs_its_public_stream(pki: tuple[CertificateAuthority, CertificateAuthority]) -> None:
    root, city = pki
    signing = generate_signing_key("ed25519")
    issued = city.issue_node(build_csr("371122", generate_tls_key(), signing.public), "371122", NOW, 30)
    store = TrustStore(root.certificate, Revocations, suite=lambda: "ed25519", clock=lambda: NOW)
    chain = [c.public_bytes(DER) for c in issued.chain]
    digest = os.urandom(32)
    store.verify_batch("371122-pub", digest, signing.sign(digest), chain)
    with pytest.raises(SignatureInvalid):
        store.verify_batch("371121-pub", digest, signing.sign(digest), chain)


def test_query_codes_are_stored_only_as_salted_hashes_and_typed_loosely() -> None:
    code = new_query_code()
    stored = query_hash(code)
    assert code not in stored
    assert stored != query_hash(code)  # salted
    assert check_query_code(code.lower(), stored)
    assert check_query_code(f" {code[:4]} {code[4:]} ", stored)
    assert not check_query_code(code[:-1] + ("2" if code[-1] != "2" else "3"), stored)
    assert not check_query_code(code, "scrypt$1048576$8$1$" + "0" * 32 + "$" + "0" * 64)  # n too costly: refused
    assert not check_query_code(code, "plain")


def test_public_records_are_checked_field_by_field_with_the_reason_in_chinese() -> None:
    sid = submission_id("371122", dt.date(2026, 12, 7))
    good = {
        "submission_id": sid,
        "item_code": "JY-001",
        "applicant": "张三",
        "phone": "13812345678",
        "materials": ["营业执照"],
        "data": {"统一社会信用代码": "91371122MA3C00000X"},
        "submitted_at": "2026-12-07T09:00:00+08:00",
    }
    assert parse_public_submission("371122", good).applicant == "张三"
    with pytest.raises(RecordRejected, match="不属于本县"):
        parse_public_submission("371121", good)
    with pytest.raises(RecordRejected, match="缺少字段 applicant"):
        parse_public_submission("371122", {**good, "applicant": ""})
    with pytest.raises(RecordRejected, match="时区"):
        parse_public_submission("371122", {**good, "submitted_at": "2026-12-07T09:00:00"})
    with pytest.raises(RecordRejected, match="文本列表"):
        parse_public_submission("371122", {**good, "materials": "营业执照"})
    with pytest.raises(RecordRejected, match="1–5"):
        parse_public_rating("371122", {"case_no": "371122-20261207-000001", "level": 6, "rated_at": NOW.isoformat()})
    with pytest.raises(RecordRejected, match="JSON 对象"):
        parse_public_case("371122", ["not", "an", "object"])


def test_a_field_added_to_a_public_record_without_a_policy_entry_does_not_go_out() -> None:
    out = default_boundary_policy().compile("t").direction("out")
    payload = {
        "case_no": "371122-20261207-000001",
        "status": "accepted",
        "applicant": "张三",  # a writer added it; the policy does not list it
        "handled_by": "孙丽",
    }
    screened = out.screen("public_case", payload)
    assert screened.payload == {"case_no": "371122-20261207-000001", "status": "accepted"}
    assert sorted(screened.unlisted) == ["applicant", "handled_by"]
    assert out.screen("case", {"case_no": "x"}).payload is None  # an intranet record type never goes out


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("applicant", "张三\x1b[2K\r\x1b[1A李四"),  # ANSI: rewrites the clerk's terminal line
        ("applicant", "张三\u202e四李"),  # a bidi override
        ("note", "第一行\x1b]52;c;ZXZpbA==\x07"),  # OSC 52: the clerk's clipboard
        ("materials", ["申请书\x00"]),
        ("data", {"经营场所\u2066": "莒县"}),
    ],
)
def test_public_input_with_control_or_bidi_characters_is_rejected_naming_the_field(field: str, value: object) -> None:
    payload = {
        "submission_id": submission_id("371122", dt.date(2026, 12, 7)),
        "item_code": "JY-001",
        "applicant": "张三",
        "note": "第一行\n第二行\t（换行与制表符可以）",
        "submitted_at": "2026-12-07T09:00:00+08:00",
        field: value,
    }
    with pytest.raises(RecordRejected, match=f"字段 {field} 含有不可见的控制字符"):
        parse_public_submission("371122", payload)


def test_a_malformed_value_is_not_echoed_in_the_reason() -> None:
    payload = {
        "submission_id": submission_id("371122", dt.date(2026, 12, 7)),
        "item_code": "JY-001",
        "applicant": "张三",
        "phone": "1381234567X",
        "submitted_at": "2026-12-07T09:00:00+08:00",
    }
    with pytest.raises(RecordRejected) as caught:
        parse_public_submission("371122", payload)
    assert "1381234567" not in caught.value.message
