"""Each role logs in through the login page of its node and lands on its first page (issue 17)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from province_center.demo.launcher import Federation
from tests.browser.conftest import CITY, COUNTY, PROVINCE, Person

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize(
    ("division", "role", "landing"),
    [
        (COUNTY, "clerk", "/hall/intake"),
        (COUNTY, "approver", "/hall/intake"),
        (COUNTY, "supervisor", "/hall/cases"),
        (COUNTY, "exchange_admin", "/exchange/links"),
        (CITY, "inspector", "/inspect/"),
        (PROVINCE, "inspector", "/inspect/"),
        (PROVINCE, "exchange_admin", "/exchange/links"),
    ],
)
def test_each_role_logs_in_and_lands_on_its_pages(
    fed: Federation, person: Callable[[str], Person], division: str, role: str, landing: str
) -> None:
    user_id = fed.person(division, role).user_id
    p = person(fed.url(division))
    p.page.goto("/")
    assert "/login" in p.page.url
    p.login(user_id, fed.password)
    assert landing in p.page.url, p.page.url
    assert (
        p.page.locator("header.top .who")
        .inner_text()
        .startswith(next(x.name for x in fed.people(division) if x.user_id == user_id))
    )
    assert p.errors == []


def test_a_wrong_password_is_told_in_chinese(fed: Federation, person: Callable[[str], Person]) -> None:
    p = person(fed.url(COUNTY))
    p.page.goto("/login")
    p.page.fill("#username", fed.person(COUNTY, "clerk").user_id)
    p.page.fill("#password", "not-the-password")
    p.page.click("button[type=submit]")
    assert "账号或密码" in p.page.locator("[role=alert]").inner_text()
    p.shot("login")
