"""The exchange admin's pages in a browser (issue 17): a record the city's receiver quarantined (a county's event
spoilt in its outbox before it was sealed, as tests/fault does it) is found, fixed and replayed by the city's
exchange admin through the pages, and lands; the links page shows every link live."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from federation.storage.engine import engine_from_config
from federation.storage.tables import cases, outbox
from federation.storage.uow import UnitOfWork
from province_center.demo.launcher import Federation
from tests.browser.conftest import CITY, COUNTY, Person, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _spoil_the_next_case(fed: Federation) -> tuple[str, str]:
    """A case submitted at the county while its agent is stopped, its first event's payload cut short in the
    outbox (no longer JSON): the city will quarantine that record. Returns the case number and the true payload."""
    fed.stop(f"agent:{COUNTY}")
    try:
        clerk = fed.as_role(COUNTY, "clerk")
        reply = clerk.post(
            "/api/v1/cases",
            json={
                "item_code": "XK00001000",
                "applicant": "隔离测试有限公司",
                "data": {"统一社会信用代码": "91371122MA3C000001", "法定代表人": "赵六"},
            },
        )
        assert reply.status_code == 201, reply.text
        case_no: str = reply.json()["case"]["case_no"]
        engine = engine_from_config(fed.load(COUNTY))
        try:
            with UnitOfWork(engine) as uow:
                where = (outbox.c.origin == COUNTY, outbox.c.record_id == f"{case_no}#0001")
                original: str = uow.conn.execute(select(outbox.c.payload).where(*where)).scalar_one()
                uow.conn.execute(update(outbox).where(*where).values(payload=original[:-9]))
                uow.commit()
        finally:
            engine.dispose()
    finally:
        fed.start_agent(COUNTY)
    return case_no, original


def _city_holds_event(fed: Federation, case_no: str) -> bool:
    from federation.storage.tables import case_events

    engine = engine_from_config(fed.load(CITY))
    try:
        with engine.connect() as conn:
            held = conn.execute(select(case_events.c.case_no).where(case_events.c.case_no == case_no)).first()
            known = conn.execute(select(cases.c.case_no).where(cases.c.case_no == case_no)).first()
        return held is not None and known is not None
    finally:
        engine.dispose()


def test_an_admin_replays_a_quarantined_record_through_the_pages(
    fed: Federation, person: Callable[[str], Person]
) -> None:
    case_no, original = _spoil_the_next_case(fed)
    admin = person(fed.url(CITY))
    admin.login(fed.person(CITY, "exchange_admin").user_id, fed.password)
    page = admin.page

    def listed() -> bool:
        page.goto("/exchange/quarantine")
        return page.locator('tr[data-testid="quarantine-row"]').count() > 0

    wait_for("市级隔离区出现被拒收的记录", listed, timeout=60.0)
    admin.shot("exchange-quarantine")
    page.locator('tr[data-testid="quarantine-row"] a').first.click()
    assert page.locator("#quarantine-state").get_attribute("data-state") == "held"
    assert "JSON" in page.locator("#quarantine-reason").inner_text()
    page.fill("#payload", original)
    page.click("#quarantine-fix")
    assert page.locator("#quarantine-done").count() == 1
    page.click("#quarantine-replay")
    assert page.locator("#quarantine-state").get_attribute("data-state") == "replayed"
    admin.shot("exchange-quarantine-replayed")
    wait_for("重放的记录在市级落地", lambda: _city_holds_event(fed, case_no), timeout=30.0)

    page.goto("/exchange/links")
    assert page.locator("#agent-state").get_attribute("data-running") == "1"
    assert page.locator('[data-testid="link"]').count() >= 1
    admin.shot("exchange-links")
    assert admin.errors == []
