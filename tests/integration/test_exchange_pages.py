"""The exchange admin's pages (交换管理, issue 17) on real nodes: a city and a county over real migrated SQLite
databases, driven in-process with FastAPI's TestClient and logged in through ``/login`` as a person would.

- a record the city's receiver quarantined is listed, shown with why it was refused, fixed, replayed and lands
  (and its event behind it), every action audited under the admin's name; a form without the session's CSRF
  token is refused, a bad payload or a record already resolved is an error page and changes nothing;
- the county's links page shows the lag against its outbox when its agent is not running (and says so), and the
  agent's own figures through its real status server (port 0) when it is; the htmx fragment refreshes the same;
- the standards, certificates and holdings pages render what the node holds, in Chinese;
- a clerk (county) and an inspector (city) get a 403 page.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from city_aggregator.bootstrap import CityNode
from city_aggregator.bootstrap import replication_appliers as city_appliers
from county_node.bootstrap import CountyNode, assemble_county_node
from county_node.entrypoints.http import create_app as create_county_app
from federation.bound_ports import write_port_file
from federation.config import Config, NodeConfig, ReplicationConfig
from federation.nodes import build_node
from federation.standards import StandardsBundle
from federation.storage import audit_log
from federation.storage.engine import make_engine
from federation.storage.tables import case_events, cases, outbox
from federation.timeutil import CST
from federation.web import csrf_token
from migrations.runner import upgrade
from security.access import Role
from security.http import COOKIE
from sync_agent.client import Link
from sync_agent.domain import ZERO_HASH, seal_batch
from sync_agent.link_status import METRICS_PORT_FILE
from sync_agent.metrics import start_status_server
from sync_agent.runtime import Agent, up_origins
from sync_agent.store import SqlBatchSink, SqlBatchSource
from tests.conftest import FakeClock
from tests.integration.test_federation_cli import county_records  # noqa: F401 - fixture
from tests.people import PASSWORD, add_staff, add_user

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

CITY, JU = "371100", "371122"
START = datetime(2026, 9, 21, 9, 0, tzinfo=CST)
BASE = "http://testserver"


def login(client: TestClient, user: str) -> str:
    """Log in through the login page; the session's CSRF token (what every form of a page carries)."""
    r = client.post("/login", data={"username": user, "password": PASSWORD, "next": "/"})
    assert r.status_code == 303, r.text
    return csrf_token(client.cookies[COOKIE])


def visible_text(html: str) -> str:
    """What a person reads: the markup, attributes, the payload's JSON and the receiver's stored reasons (data, not
    the page's prose: ``data-raw``) taken out."""
    html = re.sub(r"<(textarea|pre|code)[^>]*>.*?</\1>", "", html, flags=re.S)
    html = re.sub(r"<(td|dd|span)[^>]*data-raw[^>]*>.*?</\1>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def english_words(html: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z]{3,}", visible_text(html)) if w != "JSON"]


# -- the city: quarantine -------------------------------------------------------------------------------------


@pytest.fixture
def city(tmp_path: Path) -> Iterator[CityNode]:
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'city.db'}")
    upgrade(engine)
    config = Config(node=NodeConfig(division=CITY, name="日照市", data_dir=str(tmp_path)))
    node = build_node(config, engine=engine, clock=FakeClock(START))
    assert isinstance(node, CityNode)
    add_user(node.accounts, "jh-admin", [Role.EXCHANGE_ADMIN], name="交换管理员甲")
    add_user(node.accounts, "rz-jiancha", [Role.INSPECTOR], name="钱市督")
    yield node
    engine.dispose()


@pytest.fixture
def city_client(city: CityNode) -> Iterator[TestClient]:
    with TestClient(city.http_app(), base_url=BASE, follow_redirects=False) as c:
        yield c


def _quarantine_a_broken_case(engine: Engine, records: list[Any]) -> Any:
    """The county's first case snapshot arrives broken: it and its event are set aside (2 records held)."""
    case, event, *_ = records
    broken = dataclasses.replace(case, payload=b'{"case_no": ')
    receipt = SqlBatchSink(engine, CITY, city_appliers(), relay=True).receive(
        JU, seal_batch(JU, ZERO_HASH, [broken, event])
    )
    assert receipt.quarantined == 2
    return case


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_an_admin_shows_fixes_and_replays_a_quarantined_record_and_it_lands(
    city: CityNode,
    city_client: TestClient,
    county_records: list[Any],  # noqa: F811 - the fixture
) -> None:
    client = city_client
    case = _quarantine_a_broken_case(city.engine, county_records)
    csrf = login(client, "jh-admin")
    assert client.get("/").headers["location"] == "/exchange/links"  # the admin's first page

    listed = client.get("/exchange/quarantine")
    assert listed.status_code == 200, listed.text
    assert 'data-total="2"' in listed.text
    assert "不是有效的 JSON" in listed.text
    assert listed.text.count('data-testid="quarantine-row"') == 2
    assert 'href="/exchange/quarantine/1"' in listed.text
    assert not english_words(listed.text), english_words(listed.text)

    shown = client.get("/exchange/quarantine/1")
    assert shown.status_code == 200
    assert "拒收原因" in shown.text
    assert "不是有效的 JSON" in shown.text
    assert "办件" in shown.text
    assert 'data-state="held"' in shown.text
    assert f'name="csrf" value="{csrf}"' in shown.text  # every form carries the session's token
    assert not english_words(shown.text), english_words(shown.text)

    # a form without the token: refused, nothing changed
    forged = client.post("/exchange/quarantine/1/fix", data={"payload": case.payload.decode()})
    assert forged.status_code == 403
    # the event cannot land before its case: an error page with the applier's reason, still held
    early = client.post("/exchange/quarantine/2/replay", data={"csrf": csrf})
    assert early.status_code in {409, 422}, early.text
    assert "重放失败" in early.text
    bad = client.post("/exchange/quarantine/1/fix", data={"csrf": csrf, "payload": "{not json"})
    assert bad.status_code == 422
    assert "不是有效的 JSON" in bad.text

    fixed = client.post("/exchange/quarantine/1/fix", data={"csrf": csrf, "payload": case.payload.decode()})
    assert fixed.status_code == 303
    assert fixed.headers["location"] == "/exchange/quarantine/1?done=fixed"
    assert "载荷已修正" in client.get(fixed.headers["location"]).text
    for record in (1, 2):
        replayed = client.post(f"/exchange/quarantine/{record}/replay", data={"csrf": csrf})
        assert replayed.status_code == 303, replayed.text
        page = client.get(replayed.headers["location"])
        assert "已重放入库" in page.text
        assert 'data-state="replayed"' in page.text
    assert (_count(city.engine, cases), _count(city.engine, case_events)) == (1, 1)  # it landed

    again = client.post("/exchange/quarantine/1/discard", data={"csrf": csrf, "reason": "重复"})
    assert again.status_code == 409  # resolved already
    assert 'data-total="0"' in client.get("/exchange/quarantine").text
    assert 'data-total="2"' in client.get("/exchange/quarantine?state=replayed").text

    with city.engine.connect() as conn:
        entries = audit_log.read_entries(conn, CITY, user_id="jh-admin")
    actions = [(e.entry.action, e.entry.target, e.entry.outcome) for e in entries]
    assert ("修正隔离记录", "/exchange/quarantine/1/fix", "ok") in actions
    assert ("重放隔离记录", "/exchange/quarantine/1/replay", "ok") in actions
    assert ("重放隔离记录", "/exchange/quarantine/2/replay", "ok") in actions
    assert any(a == "重放隔离记录" and t.endswith("/2/replay") and o != "ok" for a, t, o in actions)  # the refusal
    # a held record's payload may carry personal data: each view of it is on record (security review)
    assert ("隔离记录", "/exchange/quarantine/1", "read") in actions


def test_an_admin_discards_a_record_with_a_reason(
    city: CityNode,
    city_client: TestClient,
    county_records: list[Any],  # noqa: F811 - the fixture
) -> None:
    _quarantine_a_broken_case(city.engine, county_records)
    csrf = login(city_client, "jh-admin")
    assert city_client.post("/exchange/quarantine/2/discard", data={"csrf": csrf, "reason": " "}).status_code == 422
    done = city_client.post("/exchange/quarantine/2/discard", data={"csrf": csrf, "reason": "来源将重发"})
    assert done.status_code == 303
    page = city_client.get(done.headers["location"])
    assert 'data-state="discarded"' in page.text
    assert "丢弃原因：来源将重发" in page.text


def test_the_city_pages_render_in_chinese(city: CityNode, city_client: TestClient) -> None:
    login(city_client, "jh-admin")
    for path in ("/exchange/links", "/exchange/standards", "/exchange/certificates", "/exchange/holdings"):
        page = city_client.get(path)
        assert page.status_code == 200, (path, page.text)
        assert not english_words(page.text), (path, english_words(page.text))
    standards = city_client.get("/exchange/standards").text
    assert 'data-division="371122"' in standards  # every county of the city, reported or not
    assert "未报告" in standards
    certificates = city_client.get("/exchange/certificates").text
    assert "本节点尚未登记" in certificates
    assert "PRIVATE" not in certificates


def test_an_inspector_gets_403_on_the_exchange_pages(city_client: TestClient) -> None:
    csrf = login(city_client, "rz-jiancha")
    for path in ("/exchange/links", "/exchange/quarantine", "/exchange/holdings"):
        page = city_client.get(path)
        assert page.status_code == 403, path
        assert "无权" in page.text
    assert city_client.post("/exchange/quarantine/1/replay", data={"csrf": csrf}).status_code == 403


# -- the county: links --------------------------------------------------------------------------------------------


@pytest.fixture
def county(tmp_path: Path, bundle: StandardsBundle) -> Iterator[CountyNode]:
    data = tmp_path / "county"
    data.mkdir()
    engine: Engine = make_engine(f"sqlite:///{data / 'node.db'}")
    upgrade(engine)
    config = Config(
        node=NodeConfig(division=JU, name="莒县", data_dir=str(data)),
        replication=ReplicationConfig(upstream="127.0.0.1:1", metrics="127.0.0.1:0", linger_ms=10),
    )
    node = assemble_county_node(config, engine, FakeClock(START))
    node.approval.apply_standards(bundle)  # a record or two in the outbox: the county's standards report
    add_staff(node.accounts)
    add_user(node.accounts, "jh-admin", [Role.EXCHANGE_ADMIN], name="交换管理员乙")
    yield node
    engine.dispose()


@pytest.fixture
def county_client(county: CountyNode) -> Iterator[TestClient]:
    with TestClient(create_county_app(county), base_url=BASE, follow_redirects=False) as c:
        yield c


def _outbox_high(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(outbox.c.seq)).where(outbox.c.origin == JU)).scalar_one() or 0)


def _lag_cell(html: str, origin: str = JU) -> str:
    row = re.search(rf'data-origin="{origin}">(.*?)</tr>', html, flags=re.S)
    assert row, html
    cell = re.search(r'data-testid="lag-records">([^<]*)<', row.group(1))
    assert cell
    return cell.group(1)


def test_the_links_page_shows_the_lag_against_the_outbox_with_the_agent_down_and_up(
    county: CountyNode, county_client: TestClient
) -> None:
    client = county_client
    login(client, "jh-admin")  # audited: the login's entry is in the outbox too
    high = _outbox_high(county.engine)
    assert high > 0

    # no agent running (no port file): said so, and the backlog is the outbox the city never acknowledged
    down = client.get("/exchange/links")
    assert down.status_code == 200, down.text
    assert 'data-running="0"' in down.text
    assert "同步代理未运行" in down.text
    assert 'data-link="up"' in down.text
    assert "127.0.0.1:1" in down.text  # the peer, as configured
    assert _lag_cell(down.text) == f"{high:,}"
    assert 'hx-get="/exchange/links/live"' in down.text
    assert 'hx-trigger="every 5s"' in down.text
    assert not english_words(down.text), english_words(down.text)

    # the agent runs (its real status server on port 0, the port in the data directory as `agent run` writes it)
    source = SqlBatchSource(county.engine, JU, max_records=10)
    link = Link("up", "127.0.0.1:1", source, node=JU, origins=up_origins(JU, source), linger=0.01)
    agent = Agent(JU, county.engine, source, [link])
    status = start_status_server("127.0.0.1", 0, agent)
    try:
        write_port_file(Path(county.config.node.data_dir) / METRICS_PORT_FILE, status.port)
        live = client.get("/exchange/links/live")
        assert live.status_code == 200
        assert "<html" not in live.text  # a fragment for htmx to swap in
        assert 'data-running="1"' in live.text
        assert "同步代理运行中" in live.text
        assert _lag_cell(live.text) == f"{high:,}"
        assert "未连接" in live.text
    finally:
        status.stop()
    # the agent stopped, its port file left behind: not running again, the lag unchanged
    after = client.get("/exchange/links/live")
    assert 'data-running="0"' in after.text
    assert _lag_cell(after.text) == f"{high:,}"


def test_the_county_holdings_compare_its_outbox_with_the_citys_acknowledgement(
    county: CountyNode, county_client: TestClient
) -> None:
    login(county_client, "jh-admin")
    county.approval.submit(
        item_code="XK00001000",
        applicant="张三",
        data={"统一社会信用代码": "91371122MA3C000000", "法定代表人": "王五"},
        actor="窗口 1",
    )
    page = county_client.get("/exchange/holdings")
    assert page.status_code == 200, page.text
    row = re.search(rf'data-origin="{JU}">(.*?)</tr>', page.text, flags=re.S)
    assert row
    assert f'data-testid="holding-held">{_outbox_high(county.engine):,}<' in row.group(1)
    assert 'data-testid="holding-acked-up">—<' in row.group(1)  # the city never acknowledged anything
    digest = county_client.get(f"/exchange/holdings?digest={JU}")
    assert re.search(r'data-testid="digest-value">[0-9a-f]{64}<', digest.text)
    assert not english_words(page.text), english_words(page.text)
    assert county_client.get("/exchange/holdings?digest=x").status_code == 422


def test_a_clerk_gets_403_on_the_exchange_pages(county_client: TestClient) -> None:
    login(county_client, "clerk")
    for path in ("/exchange/links", "/exchange/links/live", "/exchange/quarantine", "/exchange/certificates"):
        page = county_client.get(path)
        assert page.status_code == 403, path
        assert "无权" in page.text
    nav = county_client.get("/account").text
    assert "/exchange/links" not in nav  # the admin's entries are not in a clerk's navigation


def test_the_lag_shows_in_time_since_the_oldest_record_the_city_has_not_acknowledged(
    county: CountyNode, county_client: TestClient
) -> None:
    login(county_client, "jh-admin")
    page = county_client.get("/exchange/links").text
    seconds = re.search(r'data-testid="lag-seconds" data-seconds="([0-9.]+)">([^<]*)<', page)
    assert seconds
    assert float(seconds.group(1)) > 0
    assert re.fullmatch(r"(\d+ 天 \d+ 小时|\d+ 小时 \d+ 分|\d+ 分 \d+ 秒|\d+ 秒)", seconds.group(2).strip())
