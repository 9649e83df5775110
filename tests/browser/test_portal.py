"""The extranet portal (网上办事门户) in a browser (issue 17): an applicant applies online, keeps the number and
the query code shown once, and follows the status as the county's clerk accepts the application."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from province_center.demo.launcher import Federation
from tests.browser.conftest import COUNTY, EXTRANET, Person, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_an_applicant_applies_online_and_follows_the_status(fed: Federation, person: Callable[[str], Person]) -> None:
    p = person(fed.url(EXTRANET))
    page = p.page

    def catalogue_arrived() -> bool:
        page.goto("/")
        return page.locator("a", has_text="网上申报").count() > 0

    wait_for("事项目录同步到外网节点", catalogue_arrived, timeout=60.0)
    p.shot("portal-home")
    page.locator("a", has_text="网上申报").first.click()
    page.fill("#applicant", "王小明")
    page.fill("#phone", "13912345678")
    for field in page.locator("input[id^=kf]").all():
        field.fill("371122-测试-001")
    page.fill("#materials", "营业执照复印件\n法定代表人身份证")
    page.click("button[type=submit]")
    codes = page.locator(".code").all_inner_texts()
    assert len(codes) == 2, page.content()
    number, code = codes
    assert re.fullmatch(r"371122-W\d{8}-\w{6}", number)
    p.shot("portal-submitted")

    # the county's clerk takes it in on the hall's 网上申报 page
    clerk = person(fed.url(COUNTY))
    clerk.login(fed.person(COUNTY, "clerk").user_id, fed.password)

    def arrived() -> bool:
        clerk.page.goto("/hall/online")
        return clerk.page.locator(f'tr[data-submission="{number}"]').count() == 1

    wait_for("网上申报到达县级节点", arrived, timeout=30.0)
    clerk.shot("hall-online")
    clerk.page.locator(f'tr[data-submission="{number}"] [data-testid=submission-link]').click()
    assert "****" in clerk.page.locator("#submission-phone").inner_text()  # masked in the hall's list
    clerk.page.click("#online-accept-submit")
    case_no = clerk.page.locator("#notice-case-no").inner_text().strip()
    assert case_no.startswith(COUNTY)
    assert clerk.errors == []

    def status_shows_the_case() -> bool:
        page.goto("/status")
        page.fill("#number", number)
        page.fill("#query_code", code)
        page.click("button[type=submit]")
        return case_no in page.content()

    wait_for("外网查询到受理后的办件", status_shows_the_case, timeout=30.0)
    assert "已受理" in page.content() or "受理" in page.content()
    p.shot("portal-status")
    assert p.errors == []
