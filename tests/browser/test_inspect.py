"""The inspectors' pages in a browser (issue 17): the lights wall of the city updates without a reload as the
county takes cases in; an inspector issues a 督办 on a county's alert and sees the county's reply, given on the
hall's 督办 page, arrive through the federation."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from province_center.demo.launcher import Federation
from tests.browser.conftest import CITY, COUNTY, PROVINCE, Person, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _take_in(clerk: httpx.Client, applicant: str) -> str:
    reply = clerk.post(
        "/api/v1/cases",
        json={
            "item_code": "XK00001000",
            "applicant": applicant,
            "data": {"统一社会信用代码": "91371122MA3C000002", "法定代表人": "钱七"},
        },
    )
    assert reply.status_code == 201, reply.text
    case_no: str = reply.json()["case"]["case_no"]
    accepted = clerk.post(f"/api/v1/cases/{case_no}/actions/accept", json={})
    assert accepted.status_code == 200, accepted.text
    return case_no


def _tile(p: Person) -> tuple[int, int, int]:
    tile = p.page.locator(f'[data-testid=wall-tile][data-key="{COUNTY}"]')
    if tile.count() == 0:
        return (0, 0, 0)
    return tuple(int(tile.get_attribute(k) or 0) for k in ("data-white", "data-yellow", "data-red"))  # type: ignore[return-value]


def test_the_lights_wall_updates_without_a_reload(fed: Federation, person: Callable[[str], Person]) -> None:
    inspector = person(fed.url(CITY))
    inspector.login(fed.person(CITY, "inspector").user_id, fed.password)
    inspector.page.goto("/inspect/wall")
    before, loads = _tile(inspector), inspector.loads
    clerk = fed.as_role(COUNTY, "clerk")
    for n in range(3):
        _take_in(clerk, f"实时监控测试{n}号公司")
    wait_for(
        "实时监控墙上莒县的在办件数增加（不刷新页面）",
        lambda: sum(_tile(inspector)) >= sum(before) + 3,
        timeout=60.0,
    )
    assert inspector.loads == loads, "the wall reloaded the page"
    assert inspector.page.locator("#wall-updated").get_attribute("data-as-of")
    inspector.shot("inspect-wall")
    inspector.page.goto("/inspect/wall?wall=1")
    assert "wall" in (inspector.page.locator("body").get_attribute("class") or "")
    inspector.shot("inspect-wall-display")
    assert inspector.errors == []


def test_an_inspector_supervises_an_alert_and_sees_the_county_reply(
    fed: Federation, person: Callable[[str], Person]
) -> None:
    clerk = fed.as_role(COUNTY, "clerk")
    case_no = _take_in(clerk, "督办测试有限公司")
    inspector = person(fed.url(CITY))
    inspector.login(fed.person(CITY, "inspector").user_id, fed.password)
    page = inspector.page

    # the case's light turns yellow, then red, on the county's (fast) simulated clock: its alert reaches the city
    def alert_of_the_case() -> str | None:
        page.goto(f"/inspect/alerts?county={COUNTY}")
        rows = page.locator("#alerts-table tr[data-alert]")
        for i in range(rows.count()):
            if case_no in rows.nth(i).inner_text():
                return rows.nth(i).get_attribute("data-alert")
        return None

    alert_id = wait_for("办件的预警同步到市级", alert_of_the_case, timeout=120.0)
    page.goto(f"/inspect/alerts/{alert_id}")
    inspector.shot("inspect-alert")
    page.select_option("#order-kind", "supervise")
    page.fill("#order-reason", "请于限期内办结并说明超期原因")
    page.click("#order-submit")
    assert "/inspect/orders/" in page.url, page.url
    order_id = page.url.rsplit("/", 1)[1].split("?")[0]

    supervisor = person(fed.url(COUNTY))
    supervisor.login(fed.person(COUNTY, "supervisor").user_id, fed.password)

    def order_arrived() -> bool:
        supervisor.page.goto("/hall/orders")
        return supervisor.page.locator(f'[id="receive-{order_id}-submit"]').count() == 1

    wait_for("督办指令下达到县级", order_arrived, timeout=60.0)
    supervisor.page.click(f'[id="receive-{order_id}-submit"]')
    supervisor.page.fill(f'[id="answer-{order_id}-text"]', "已督促窗口当日办结，超期原因为材料补正")
    supervisor.page.check(f'[id="answer-{order_id}-ack"]')
    supervisor.page.click(f'[id="answer-{order_id}-submit"]')
    assert supervisor.page.locator("#action-error").count() == 0
    supervisor.shot("hall-orders")

    def reply_arrived() -> bool:
        page.goto(f"/inspect/orders/{order_id}")
        return "已办复" in page.locator("[data-testid=order-reply-status]").inner_text()

    wait_for("县级办复回到市级", reply_arrived, timeout=60.0)
    assert "已督促窗口当日办结" in page.content()
    inspector.shot("inspect-order-replied")
    assert inspector.errors == []
    assert supervisor.errors == []


def test_the_province_ranks_and_charts(fed: Federation, person: Callable[[str], Person]) -> None:
    inspector = person(fed.url(PROVINCE))
    inspector.login(fed.person(PROVINCE, "inspector").user_id, fed.password)
    inspector.page.goto("/inspect/trends")
    inspector.page.wait_for_selector("#trends-chart[data-chart-ready]")
    inspector.shot("inspect-trends")
    assert inspector.errors == []
