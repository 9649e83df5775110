"""The extranet portal's pure parts: the public's forms, the rate limits on an injected clock, the client behind
trusted proxies."""

from __future__ import annotations

import threading

import pytest

from county_node.extranet.domain import (
    CASE_SPREAD,
    PortalLimits,
    SlidingWindow,
    check_application,
    check_complaint,
    check_lookup,
    check_rating,
)
from county_node.extranet.entrypoints.client import ClientResolver, client_digest, client_network
from federation.errors import ConfigError, NotFound, RateLimited, ValidationError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_sliding_window_counts_per_key_and_says_how_long_to_wait() -> None:
    clock = Clock()
    window = SlidingWindow(3, 60.0, clock)
    assert [window.hit("a") for _ in range(3)] == [0, 0, 0]
    clock.now += 10
    assert window.hit("a") == 50  # the first hit leaves the window in 50 s
    assert window.hit("b") == 0
    clock.now += 50
    assert window.wait("a") == 0  # the three first hits have left the window
    assert [window.hit("a") for _ in range(3)] == [0, 0, 0]
    assert window.hit("a") == 60


def test_a_sliding_window_holds_a_bounded_number_of_keys() -> None:
    clock = Clock()
    window = SlidingWindow(1, 60.0, clock, max_keys=100)
    for n in range(1000):
        window.hit(f"client-{n}")
    assert len(window._hits) <= 100


def test_portal_limits_raise_rate_limited_with_retry_after() -> None:
    clock = Clock()
    limits = PortalLimits.per_config(client_per_minute=1, submissions_per_hour=1, case_per_minute=1, clock=clock)
    limits.request("c")
    with pytest.raises(RateLimited, match="访问过于频繁") as caught:
        limits.request("c")
    assert caught.value.retry_after == 60
    with limits.submission("c"):
        pass
    with pytest.raises(RateLimited, match="60 分钟") as hourly, limits.submission("c"):
        pass
    assert hourly.value.retry_after == 3600


CASE = "371122-20261207-000001"


def _fail(limits: PortalLimits, client: str, number: str = CASE) -> None:
    with pytest.raises(NotFound), limits.lookup(number, client):
        raise NotFound("未找到该办件或查询码不正确")


def test_only_failed_code_checks_count_per_number_and_client() -> None:
    clock = Clock()
    limits = PortalLimits.per_config(client_per_minute=100, submissions_per_hour=1, case_per_minute=2, clock=clock)
    for _ in range(5):  # the right code (the body does not raise NotFound) never counts
        with limits.lookup(CASE, "owner"):
            pass
    with pytest.raises(ValidationError), limits.lookup(CASE, "owner"):  # nor does a malformed request
        raise ValidationError("格式不正确")
    _fail(limits, "junk")
    _fail(limits, "junk")
    with pytest.raises(RateLimited, match="输错次数过多") as locked, limits.lookup(CASE, "junk"):
        pytest.fail("a locked pair is refused before its code is checked")  # right or wrong
    assert locked.value.retry_after == 60
    with limits.lookup(CASE, "owner"):  # another client of the same number is not held back
        pass
    with limits.lookup("371122-20261207-000002", "junk"):  # nor the same client on another number
        pass
    clock.now += 60
    _fail(limits, "junk")  # a minute on, the failures have left the window


def test_a_number_locks_after_ten_times_the_failures_from_anyone() -> None:
    clock = Clock()
    limits = PortalLimits.per_config(client_per_minute=100, submissions_per_hour=1, case_per_minute=2, clock=clock)
    assert CASE_SPREAD == 10
    for n in range(10):
        _fail(limits, f"bot-{n}")
        _fail(limits, f"bot-{n}")
    for client in ("bot-10", "owner"):  # the 21st failure's turn: refused for everyone, before any check
        with pytest.raises(RateLimited, match="已暂停查询"), limits.lookup(CASE, client):
            pytest.fail("a locked number is refused before its code is checked")
    assert limits.case_client.wait(f"{CASE}\nowner") == 0  # a refusal counts nothing against the pair
    clock.now += 61
    with limits.lookup(CASE, "owner"):
        pass


def test_a_submission_slot_is_taken_atomically_and_given_back_on_failure() -> None:
    limits = PortalLimits.per_config(client_per_minute=100, submissions_per_hour=2, case_per_minute=1, clock=Clock())
    with pytest.raises(ValidationError), limits.submission("c"):
        raise ValidationError("手机号码：应为 11 位手机号码")  # nothing stored: nothing counted
    threads = 8
    start, inside = threading.Barrier(threads), threading.Barrier(threads)
    passed: list[bool] = []

    def submit() -> None:
        start.wait(timeout=10)
        try:
            with limits.submission("c"):
                passed.append(True)
                inside.wait(timeout=10)  # every thread has tried before any leaves
        except RateLimited:
            passed.append(False)
            inside.wait(timeout=10)

    workers = [threading.Thread(target=submit) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    assert sorted(passed) == [False] * 6 + [True] * 2


def test_ipv6_clients_are_known_by_their_64() -> None:
    assert client_network("2001:db8:1:2:aaaa::1") == client_network("2001:db8:1:2:ffff:1:2:3") == "2001:db8:1:2::/64"
    assert client_network("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert client_network("203.0.113.9") == "203.0.113.9"
    assert client_network("::ffff:203.0.113.9") == "203.0.113.9"
    assert client_network("unknown") == "unknown"


def _application(**changes: object) -> dict[str, object]:
    return {
        "item_code": "A01",
        "applicant": " 张三 ",
        "applicant_id": "37012219900101123x",
        "phone": "138 1234 5678",
        "materials": ["身份证", " "],
        "data": {"经营场所": "城阳街道"},
        "note": "",
        "sms_opt_out": False,
        "key_fields": ("经营场所",),
    } | changes


def test_an_application_is_trimmed_and_checked_field_by_field() -> None:
    form = check_application(**_application())  # type: ignore[arg-type]
    assert (form.applicant, form.applicant_id, form.phone, form.materials) == (
        "张三",
        "37012219900101123X",
        "13812345678",
        ("身份证",),
    )
    for change, field in (
        ({"phone": "23812345678"}, "phone"),
        ({"data": {}}, "data.经营场所"),
        ({"data": {"经营场所": "x", "法人": "y"}}, "data"),
        ({"applicant": "张" * 101}, "applicant"),
        ({"sms_opt_out": "yes"}, "sms_opt_out"),
        ({"materials": "身份证"}, "materials"),
    ):
        with pytest.raises(ValidationError) as caught:
            check_application(**_application(**change))  # type: ignore[arg-type]
        assert caught.value.details["field"] == field


def test_lookups_complaints_and_ratings() -> None:
    lookup = check_lookup(number=" 371122-w20261207-7k3m9q ", query_code="k7m3 q9xa")
    assert (lookup.number, lookup.code, lookup.is_submission) == ("371122-W20261207-7K3M9Q", "K7M3Q9XA", True)
    with pytest.raises(ValidationError, match="查询码"):
        check_lookup(number="371122-20261207-000001", query_code="漢字")
    with pytest.raises(ValidationError, match="本县"):
        check_complaint(county="371122", case_no="371121-20261207-000001", complainant="李", phone="13912345678",
                        content="x")  # fmt: skip
    rating = check_rating(case_no="371122-20261207-000001", query_code="K7M3Q9XA", level="4", comment="")
    assert rating.level == 4
    with pytest.raises(ValidationError, match="申报编号"):
        check_rating(case_no="371122-W20261207-7K3M9Q", query_code="K7M3Q9XA", level=5, comment="")


def test_the_client_behind_trusted_proxies() -> None:
    direct = ClientResolver(())
    assert direct.resolve("203.0.113.9", ["10.0.0.1"]) == "203.0.113.9"  # no proxy trusted: the header is ignored
    proxied = ClientResolver(["10.0.0.0/24", "127.0.0.1"])
    assert proxied.resolve("198.51.100.1", ["1.2.3.4"]) == "198.51.100.1"  # an untrusted peer's header is ignored
    assert proxied.resolve("127.0.0.1", ["6.6.6.6, 203.0.113.9, 10.0.0.7"]) == "203.0.113.9"
    assert proxied.resolve("127.0.0.1", ["10.0.0.7"]) == "10.0.0.7"
    assert client_digest(b"k", "1.2.3.4") == client_digest(b"k", "1.2.3.4") != client_digest(b"j", "1.2.3.4")
    with pytest.raises(ConfigError, match="trusted_proxies"):
        ClientResolver(["not-an-address"])


@pytest.mark.parametrize(
    "bad",
    ["\x01", "\x07", "\x1b[2J", "\x7f", "\x85", "\x9b", "\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f",
     "\u061c"],
)  # fmt: skip
def test_control_and_bidi_characters_are_refused_naming_the_field(bad: str) -> None:
    for change, field in (
        ({"applicant": f"张{bad}三"}, "applicant"),
        ({"note": f"备{bad}注"}, "note"),
        ({"materials": ["身份证", f"营业{bad}执照"]}, "materials"),
        ({"data": {"经营场所": f"城阳{bad}街道"}}, "data"),
        ({"data": {f"经营场所{bad}": "x"}, "key_fields": (f"经营场所{bad}",)}, "data"),
    ):
        with pytest.raises(ValidationError, match="含有不可见的控制字符") as caught:
            check_application(**_application(**change))  # type: ignore[arg-type]
        assert caught.value.details["field"] == field
    with pytest.raises(ValidationError, match="投诉人：含有不可见的控制字符"):
        check_complaint(county="371122", case_no="", complainant=f"李{bad}四", phone="13912345678", content="x")
    with pytest.raises(ValidationError, match="投诉内容：含有不可见的控制字符"):
        check_complaint(county="371122", case_no="", complainant="李四", phone="13912345678", content=f"x{bad}y")
    with pytest.raises(ValidationError, match="评价意见：含有不可见的控制字符"):
        check_rating(case_no="371122-20261207-000001", query_code="K7M3Q9XA", level=5, comment=f"很{bad}好")


def test_line_breaks_and_tabs_only_in_multi_line_fields() -> None:
    form = check_application(**_application(note="第一行\r\n第二行\t完"))  # type: ignore[arg-type]
    assert form.note == "第一行\r\n第二行\t完"
    complaint = check_complaint(county="371122", case_no="", complainant="李四", phone="13912345678",
                                content="一\n二\t三")  # fmt: skip
    assert complaint.content == "一\n二\t三"
    assert check_rating(case_no="371122-20261207-000001", query_code="K7M3Q9XA", level=5, comment="好\n很好").comment
    for change, field in (
        ({"applicant": "张\n三"}, "applicant"),
        ({"applicant": "张\t三"}, "applicant"),
        ({"materials": ["身份\r证"]}, "materials"),
        ({"data": {"经营场所": "城阳\n街道"}}, "data"),
    ):
        with pytest.raises(ValidationError, match="含有不可见的控制字符") as caught:
            check_application(**_application(**change))  # type: ignore[arg-type]
        assert caught.value.details["field"] == field


def test_the_scheme_comes_from_x_forwarded_proto_only_through_a_trusted_proxy() -> None:
    proxied = ClientResolver(["10.0.0.0/24"])
    assert proxied.scheme("10.0.0.5", "http", ["https"]) == "https"  # TLS ended at the proxy: the cookie is Secure
    assert proxied.scheme("10.0.0.5", "http", ["https, http"]) == "http"  # the last hop said it
    assert proxied.scheme("203.0.113.9", "http", ["https"]) == "http"  # a client cannot claim it
    assert proxied.scheme("10.0.0.5", "http", ["gopher"]) == "http"
    assert ClientResolver(()).scheme("10.0.0.5", "http", ["https"]) == "http"
