"""The county hall's pages in a browser (issue 17): a clerk takes a case in through the intake form, accepts it on
its card and watches its light change in the queue without reloading; the approver decides and concludes it and
the card shows the stopped clock; a clerk never sees the approver's actions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from province_center.demo.launcher import Federation
from tests.browser.conftest import COUNTY, Person, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ENTERPRISE = "XK00001000"  # 企业设立登记: promised 1 working day, key data 统一社会信用代码 / 法定代表人


def take_in(p: Person, applicant: str) -> str:
    page = p.page
    page.goto("/hall/intake")
    page.select_option("#item-select", ENTERPRISE)
    page.click("#item-choose")
    page.fill("#applicant", applicant)
    page.fill("#key-0", "91371122MA3C000000")
    page.fill("#key-1", "王五")
    page.check("#material-0")
    page.click("#intake-submit")
    page.wait_for_selector("#case-no")
    return page.locator("#case-no").inner_text().strip()


def act(p: Person, action: str, **fields: str) -> None:
    page = p.page
    for name, value in fields.items():
        selector = f"#{action}-{name}"
        if page.locator(selector).evaluate("e => e.tagName") == "SELECT":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    page.click(f"#act-{action}-submit")
    page.wait_for_selector("#case-clocks")
    assert page.locator("#action-error").count() == 0, page.locator("#action-error").inner_text()


def test_a_case_taken_in_acted_on_and_its_light_changing(fed: Federation, person: Callable[[str], Person]) -> None:
    clerk = person(fed.url(COUNTY))
    clerk.login(fed.person(COUNTY, "clerk").user_id, fed.password)
    case_no = take_in(clerk, "日照市莒县阳光食品有限公司")
    assert case_no.startswith(COUNTY)
    assert clerk.page.locator("#act-accept").count() == 1
    with clerk.page.expect_navigation():
        clerk.page.click("#act-accept-submit")
    # with an extranet node, the acceptance notice comes straight away, with the applicant's one-time query code
    assert clerk.page.locator("#notice-acceptance-doc").count() == 1
    assert clerk.page.locator("#notice-case-no").inner_text().strip() == case_no
    assert len(clerk.page.locator("#query-code").inner_text().strip()) == 8
    clerk.shot("hall-acceptance-notice")
    clerk.page.goto(f"/hall/cases/{case_no}")
    assert clerk.page.locator("#case-status").get_attribute("data-status") == "accepted"
    assert clerk.page.locator("#act-decide").count() == 0  # the clerk may not decide
    clerk.shot("hall-case-card")

    # the queue: the case's row, its light changing as the (simulated) working days pass — without a reload
    clerk.page.goto("/hall/cases")
    row = clerk.page.locator(f'tr[data-case="{case_no}"]')
    first = row.get_attribute("data-light")
    loads = clerk.loads
    wait_for(
        "队列中的灯色变化（不刷新页面）",
        lambda: row.count() and row.get_attribute("data-light") not in (first, None, "none"),
        timeout=120.0,
    )
    assert clerk.loads == loads, "the live part reloaded the page"
    clerk.shot("hall-queue")

    approver = person(fed.url(COUNTY))
    approver.login(fed.person(COUNTY, "approver").user_id, fed.password)
    approver.page.goto(f"/hall/cases/{case_no}")
    act(approver, "review", opinion="材料齐全，符合条件")
    act(approver, "decide", outcome="approve")
    act(approver, "conclude")
    page = approver.page
    assert page.locator("#case-status").get_attribute("data-status") == "concluded"
    assert page.locator("#clock-stopped").count() >= 1
    assert page.locator("#no-actions").count() == 1
    steps = page.locator("#case-timeline li[data-step]").count()
    assert steps >= 5
    approver.shot("hall-case-concluded")
    assert clerk.errors == []
    assert approver.errors == []
