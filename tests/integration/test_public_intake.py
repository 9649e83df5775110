"""The county's side of the boundary on SQLite and PostgreSQL: what its extranet node sends in (online applications,
complaints, ratings) applied by the receiver's appliers, the clerk's acceptance and refusal, the public stream
(``371122-pub``) written in the transaction of each change, and the applicant's SMS — masked in the delivery log,
resolved when sent through a real HTTP gateway stand-in.

The records go through :func:`sync_agent.apply.apply_records`, the function the receiver's sink applies a batch
with (what it returns is what the sink quarantines)."""

from __future__ import annotations

import json
import re
import warnings
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from structlog.testing import capture_logs

from county_node.approval.domain import Action, Case
from county_node.bootstrap import CountyNode, assemble_county_node
from county_node.entrypoints.http import create_app
from county_node.public.adapters import APPLICANT_CHANNEL
from county_node.public.appliers import public_complaint_id
from county_node.public.services import IntakeDesk
from county_node.supervision.notify import LogNotifier, Notification, NotificationDispatcher
from federation.config import Config, ExtranetConfig, NodeConfig
from federation.errors import InvalidTransition, SubmissionNotFound, ValidationError
from federation.public_records import (
    parse_disclosure,
    parse_public_case,
    parse_public_catalogue,
    parse_submission_result,
)
from federation.query_codes import (
    check_query_code,
    query_hash,
)
from federation.replication import Record
from federation.standards import StandardsBundle
from federation.storage.outbox import canonical_json
from federation.storage.tables import (
    case_contacts,
    cases,
    complaints,
    notifications,
    outbox,
    public_submissions,
    ratings,
)
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from sync_agent.apply import apply_records
from tests.conftest import FakeClock
from tests.integration.test_notifications import Gateway, sms
from tests.people import add_staff, log_in

with warnings.catch_warnings():  # Starlette asks for "httpx2"; only the import warns (see test_http_api)
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

DIV = "371122"
EXT = "371122-ext"
PUB = "371122-pub"
FOOD = "XK00003000"  # 食品经营许可: promised 5 working days, key fields 统一社会信用代码 / 经营场所
FOOD_DATA = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}
PHONE = "13812345678"
ID_NO = "370122199001011234"
PORTAL = "https://zwfw.juxian.example.cn"
CODE = "K7M2Q9XA"
HASH = query_hash(CODE, salt=b"0123456789abcdef")
SUB_ID = "371122-W20260921-7K3M9Q"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)  # type: ignore[misc]


def county(engine: Engine, clock: FakeClock, bundle: StandardsBundle, *, extranet: bool = True) -> CountyNode:
    ext = ExtranetConfig(link="127.0.0.1:7001", portal_url=PORTAL) if extranet else ExtranetConfig()
    node = assemble_county_node(Config(node=NodeConfig(division=DIV, name="莒县"), extranet=ext), engine, clock)
    node.approval.apply_standards(bundle)
    return node


@pytest.fixture
def node(engine: Engine, bundle: StandardsBundle, clock: FakeClock) -> CountyNode:
    return county(engine, clock, bundle)


def desk(node: CountyNode) -> IntakeDesk:
    assert node.intake is not None
    return node.intake


# -- records in -----------------------------------------------------------------------------------------------------

_SEQ = {"n": 0}


def record(record_type: str, record_id: str, payload: Any) -> tuple[Record, str]:
    _SEQ["n"] += 1
    text = canonical_json(payload) if not isinstance(payload, str) else payload
    return Record(record_type, record_id, "upsert", _SEQ["n"], text.encode(), 0), text


def receive(node: CountyNode, *items: tuple[Record, str], origin: str = EXT) -> list[dict[str, Any]]:
    """Apply ``items`` as the county's receiver does; the quarantine rows (held records with their reasons)."""
    with UnitOfWork(node.engine) as uow:
        held = apply_records(uow.conn, origin, [r for r, _ in items], [t for _, t in items], node.receiver_appliers())
        uow.commit()
    return held


def submission(sub_id: str = SUB_ID, **changes: Any) -> dict[str, Any]:
    return {
        "submission_id": sub_id,
        "item_code": FOOD,
        "applicant": "张三",
        "applicant_id": ID_NO,
        "phone": PHONE,
        "materials": ["营业执照", "场所证明"],
        "data": FOOD_DATA,
        "note": "",
        "sms_opt_out": False,
        "query_hash": HASH,
        "submitted_at": at(2026, 9, 21, 8).isoformat(),
        **changes,
    }


def rows(engine: Engine, table: Any, *where: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).where(*where)).mappings()]


def published(engine: Engine, record_type: str | None = None) -> list[dict[str, Any]]:
    """The public stream's rows (payload decoded), oldest first."""
    conds = [outbox.c.origin == PUB]
    if record_type:
        conds.append(outbox.c.record_type == record_type)
    with engine.connect() as conn:
        found = conn.execute(select(outbox).where(*conds).order_by(outbox.c.seq)).mappings()
        return [{**dict(r), "payload": json.loads(r["payload"])} for r in found]


def about_cases(engine: Engine) -> list[dict[str, Any]]:
    """The public stream but its catalogue (published as soon as the standards are in force)."""
    return [r for r in published(engine) if r["record_type"] != "public_catalogue"]


def last_public_case(engine: Engine, case_no: str) -> Any:
    mine = [r for r in published(engine, "public_case") if r["record_id"] == case_no]
    return parse_public_case(DIV, mine[-1]["payload"])


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


# -- applying what the extranet sends -------------------------------------------------------------------------------


def test_a_public_submission_is_held_pending_once_and_never_a_case_by_itself(engine: Engine, node: CountyNode) -> None:
    first = record("public_submission", SUB_ID, submission())
    assert receive(node, first) == []
    assert receive(node, record("public_submission", SUB_ID, submission(note="再次发送"))) == []  # a resend
    (row,) = rows(engine, public_submissions)
    assert (row["status"], row["origin"], row["phone"], row["note"]) == ("pending", EXT, PHONE, "")
    assert row["materials"] == ["营业执照", "场所证明"]
    assert count(engine, cases) == 0
    assert about_cases(engine) == []


def test_malformed_or_foreign_records_are_quarantined_with_their_reason(engine: Engine, node: CountyNode) -> None:
    held = receive(
        node,
        record("public_submission", "371122-W20260921-BADBAD", submission("371122-W20260921-BADBAD", phone=[1])),
        record("public_submission", "371199-W20260921-AAAAAA", submission("371199-W20260921-AAAAAA")),
        record("public_submission", "371122-W20260921-CCCCCC", submission("371122-W20260921-CCCCCC", item_code="ZZ9")),
        record("public_submission", "371122-W20260921-DDDDDD", submission()),  # id and content disagree
        record("public_complaint", "x", "{not json"),
        record(
            "public_rating",
            "371122-20260921-000001",
            {"case_no": "371122-20260921-000001", "level": 9, "rated_at": at(2026, 9, 21).isoformat()},
        ),
    )
    reasons = [h["reason"] for h in held]
    assert len(held) == 6
    assert "字段 phone 应为文本" in reasons[0]
    assert "不属于本县" in reasons[1]
    assert "不在本县当前的事项目录中" in reasons[2]
    assert "不一致" in reasons[3]
    assert "JSON" in reasons[4]
    assert "level" in reasons[5]
    assert count(engine, public_submissions) == 0


def test_only_the_countys_own_extranet_node_may_send_its_records(engine: Engine, node: CountyNode) -> None:
    held = receive(node, record("public_submission", SUB_ID, submission()), origin="371100")
    assert "只能来自本县外网节点 371122-ext" in held[0]["reason"]
    assert count(engine, public_submissions) == 0


def test_a_public_complaint_is_filed_once_and_replicates_up(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    case = node.approval.submit(item_code=FOOD, applicant="李四", data=FOOD_DATA, actor="窗口 1")
    ref = "371122-T20260921-4QX2ZP"
    body = {
        "complaint_ref": ref,
        "case_no": case.case_no,
        "complainant": "李四",
        "phone": PHONE,
        "content": f"窗口态度差，电话 {PHONE}",
        "filed_at": at(2026, 9, 21, 8, 30).isoformat(),
    }
    general = {**body, "complaint_ref": "371122-T20260921-ZZZZZZ", "case_no": ""}
    unknown = {**body, "complaint_ref": "371122-T20260921-YYYYYY", "case_no": "371122-20260101-000009"}
    held = receive(
        node,
        record("public_complaint", ref, body),
        record("public_complaint", general["complaint_ref"], general),
        record("public_complaint", unknown["complaint_ref"], unknown),
    )
    assert held == []  # a case number the county does not know: filed against the hall, the number noted
    assert receive(node, record("public_complaint", ref, body)) == []  # resent: filed once
    found = {r["complaint_id"]: r for r in rows(engine, complaints)}
    assert set(found) == {
        public_complaint_id(ref),
        public_complaint_id(general["complaint_ref"]),
        public_complaint_id(unknown["complaint_ref"]),
    }
    stray = found[public_complaint_id(unknown["complaint_ref"])]
    assert (stray["target"], stray["case_no"]) == ("window", None)
    assert "投诉人填写的办件编号 371122-20260101-000009 本县未找到" in stray["content"]
    mine = found[public_complaint_id(ref)]
    assert (mine["channel"], mine["target"], mine["case_no"], mine["status"]) == ("web", "case", case.case_no, "open")
    hall = found[public_complaint_id("371122-T20260921-ZZZZZZ")]
    assert (hall["target"], hall["target_id"]) == ("window", "大厅")
    up = rows(engine, outbox, outbox.c.origin == DIV, outbox.c.record_type == "complaint")
    assert len(up) == 3
    assert all(PHONE not in r["payload"] and "李四" not in r["payload"] for r in up)  # masked by the up policy


def concluded(node: CountyNode, clock: FakeClock, *, phone: str = PHONE, opt_out: bool = False) -> Case:
    intake = desk(node)
    clock.set(2026, 9, 21, 9)
    case = intake.submit(
        item_code=FOOD, applicant="王五", data=FOOD_DATA, actor="窗口 3", phone=phone, sms_opt_out=opt_out
    )
    clock.set(2026, 9, 21, 9, 10)
    intake.accept_case(case.case_no, actor="窗口 3")
    clock.set(2026, 9, 22, 10)
    node.approval.act(case.case_no, Action.REVIEW, actor="科长")
    clock.set(2026, 9, 23, 10)
    node.approval.act(case.case_no, Action.DECIDE, actor="局长", params={"outcome": "approve"})
    clock.set(2026, 9, 23, 11)
    return node.approval.act(case.case_no, Action.CONCLUDE, actor="窗口 3")


def rating(case_no: str, level: int = 5) -> tuple[Record, str]:
    return record(
        "public_rating",
        case_no,
        {"case_no": case_no, "level": level, "comment": "很好", "rated_at": at(2026, 9, 24, 9).isoformat()},
    )


def test_a_public_rating_rates_the_accepting_staff_once_and_closes_the_cases_rating(
    engine: Engine, node: CountyNode, clock: FakeClock
) -> None:
    case = concluded(node, clock)
    assert last_public_case(engine, case.case_no).rating_open is True
    clock.set(2026, 9, 24, 9, 30)
    assert receive(node, rating(case.case_no, 2)) == []
    (row,) = rows(engine, ratings)
    assert (row["case_no"], row["staff"], row["level"], row["channel"], row["negative"]) == (
        case.case_no,
        "窗口 3",
        2,
        "web",
        True,
    )
    assert last_public_case(engine, case.case_no).rating_open is False
    again = receive(node, rating(case.case_no, 5))
    assert "已评价过" in again[0]["reason"]
    assert count(engine, ratings) == 1


def test_a_rating_of_an_open_or_unknown_case_is_rejected(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    case = node.approval.submit(item_code=FOOD, applicant="赵六", data=FOOD_DATA, actor="窗口 1")
    held = receive(node, rating(case.case_no), rating("371122-20260101-000077"))
    assert "办结后才能评价" in held[0]["reason"]
    assert "371122-20260101-000077" in held[1]["reason"]
    foreign = receive(node, rating("371199-20260921-000001"))
    assert "不属于本县" in foreign[0]["reason"]
    assert count(engine, ratings) == 0


# -- the clerk's desk -----------------------------------------------------------------------------------------------


def test_accepting_an_online_application_makes_the_case_and_publishes_in_one_transaction(
    engine: Engine, node: CountyNode, clock: FakeClock
) -> None:
    receive(node, record("public_submission", SUB_ID, submission()))
    intake = desk(node)
    page = intake.list()
    assert [s.submission_id for s in page.items] == [SUB_ID]
    clock.set(2026, 9, 21, 10)
    accepted = intake.accept(SUB_ID, actor="窗口 2", window="W02")
    case = accepted.case
    assert accepted.query_code  # a code of the case's own, shown once (the submission's code opens it too)
    assert (case.status.value, case.applicant, case.window, case.data["证件号码"]) == ("accepted", "张三", "W02", ID_NO)
    (sub,) = rows(engine, public_submissions)
    assert (sub["status"], sub["case_no"], sub["decided_by"]) == ("accepted", case.case_no, "窗口 2")
    (contact,) = rows(engine, case_contacts)
    assert (contact["phone"], contact["submission_id"]) == (PHONE, SUB_ID)
    assert check_query_code(accepted.query_code, contact["query_hash"])

    result = parse_submission_result(DIV, published(engine, "submission_result")[0]["payload"])
    assert (result.outcome, result.case_no) == ("accepted", case.case_no)
    public = last_public_case(engine, case.case_no)
    assert (public.status, public.status_label, public.submission_id) == ("accepted", "已受理", SUB_ID)
    assert check_query_code(accepted.query_code, public.query_hash)
    assert not check_query_code(CODE, public.query_hash)  # the extranet opens it through the submission's own hash
    assert public.due_on is not None
    assert public.accepted_at is not None
    assert intake.list().total == 0
    with pytest.raises(InvalidTransition, match="已受理"):
        intake.accept(SUB_ID, actor="窗口 2")
    with pytest.raises(SubmissionNotFound):
        intake.accept("371122-W20260921-NOPE00", actor="窗口 2")
    assert count(engine, cases) == 1


def test_a_failure_inside_the_acceptance_leaves_nothing_half_written(
    engine: Engine, node: CountyNode, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    receive(node, record("public_submission", SUB_ID, submission()))
    assert node.publication is not None
    before = count(engine, outbox)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(node.publication, "text", broken)
    with pytest.raises(RuntimeError):
        desk(node).accept(SUB_ID, actor="窗口 2")
    assert count(engine, cases) == 0
    assert count(engine, case_contacts) == 0
    assert count(engine, outbox) == before
    assert rows(engine, public_submissions)[0]["status"] == "pending"


def test_refusing_an_online_application_publishes_the_reason(engine: Engine, node: CountyNode) -> None:
    receive(node, record("public_submission", SUB_ID, submission()))
    with pytest.raises(ValidationError, match="缺少不予受理的理由"):
        desk(node).refuse(SUB_ID, reason=" ", actor="窗口 2")
    assert about_cases(engine) == []
    refused = desk(node).refuse(SUB_ID, reason=f"材料不全，请来电 {PHONE}", actor="窗口 2")
    assert refused.status.value == "refused"
    (row,) = published(engine, "submission_result")
    result = parse_submission_result(DIV, row["payload"])
    assert (result.outcome, result.case_no) == ("refused", "")
    assert result.reason == "材料不全，请来电 138****5678"  # scrubbed by the out policy
    assert count(engine, cases) == 0
    with pytest.raises(InvalidTransition):
        desk(node).accept(SUB_ID, actor="窗口 2")


def test_a_walk_in_case_gets_its_contact_a_fresh_code_and_its_public_status(
    engine: Engine, node: CountyNode, clock: FakeClock
) -> None:
    intake = desk(node)
    with pytest.raises(ValidationError, match="手机号码格式错误"):
        intake.submit(item_code=FOOD, applicant="王五", data=FOOD_DATA, actor="窗口 3", phone="12345")
    case = intake.submit(item_code=FOOD, applicant="王五", data=FOOD_DATA, actor="窗口 3", phone="138-1234-5678")
    assert published(engine, "public_case") == []  # no code yet: the public cannot see it
    accepted = intake.accept_case(case.case_no, actor="窗口 3")
    assert accepted.query_code is not None
    assert len(accepted.query_code) == 8
    public = last_public_case(engine, case.case_no)
    assert check_query_code(accepted.query_code, public.query_hash)
    assert public.submission_id == ""
    (contact,) = rows(engine, case_contacts)
    assert contact["phone"] == PHONE
    (sms_row,) = rows(engine, notifications)
    assert accepted.query_code in sms_row["message"]
    assert PORTAL in sms_row["message"]


def test_the_public_status_follows_the_lifecycle_with_the_correction_list_and_the_disclosure(
    engine: Engine, node: CountyNode, clock: FakeClock
) -> None:
    intake = desk(node)
    clock.set(2026, 9, 21, 9)
    case = intake.submit(item_code=FOOD, applicant="王五", data=FOOD_DATA, actor="窗口 3", phone=PHONE)
    clock.set(2026, 9, 21, 9, 10)
    intake.accept_case(case.case_no, actor="窗口 3")
    due_on = last_public_case(engine, case.case_no).due_on
    assert due_on is not None
    assert due_on.isoformat() == "2026-09-29"
    clock.set(2026, 9, 22, 10)
    node.approval.act(
        case.case_no,
        Action.REQUEST_CORRECTION,
        actor="窗口 3",
        params={"reason": f"营业执照副本、场所租赁合同、身份证号{ID_NO}与户籍不符"},
    )
    public = last_public_case(engine, case.case_no)
    assert (public.status, public.status_label) == ("correction", "补正中")
    masked = f"身份证号{ID_NO[:6]}{'*' * (len(ID_NO) - 10)}{ID_NO[-4:]}与户籍不符"
    assert public.correction == ("营业执照副本", "场所租赁合同", masked)  # scrubbed by the out policy
    texted = [r["message"] for r in rows(engine, notifications) if "补正" in r["message"]]
    assert texted
    assert all(ID_NO not in m for m in texted)  # nor does the SMS gateway see it
    assert public.due_on is None  # the clock is paused
    clock.set(2026, 9, 24, 10)
    node.approval.act(case.case_no, Action.RECEIVE_CORRECTION, actor="窗口 3")
    assert last_public_case(engine, case.case_no).correction == ()
    clock.set(2026, 9, 25, 10)
    node.approval.act(case.case_no, Action.REVIEW, actor="科长")
    node.approval.act(case.case_no, Action.DECIDE, actor="局长", params={"outcome": "deny", "reason": "场所不符合"})
    clock.set(2026, 9, 25, 11)
    node.approval.act(case.case_no, Action.CONCLUDE, actor="窗口 3")
    public = last_public_case(engine, case.case_no)
    assert (public.status, public.decision, public.on_time, public.rating_open) == ("concluded", "denied", True, True)
    (row,) = published(engine, "disclosure")
    disclosure = parse_disclosure(DIV, row["payload"])
    assert (disclosure.result, disclosure.on_time, disclosure.concluded_on.isoformat()) == (
        "不予许可",
        True,
        "2026-09-25",
    )
    assert disclosure.accepted_on is not None
    assert disclosure.accepted_on.isoformat() == "2026-09-21"
    assert "王五" not in row["payload"].__repr__()

    messages = [r["message"] for r in rows(engine, notifications)]
    assert len(messages) == 3  # 受理, 补正, 办结
    assert "营业执照副本、场所租赁合同" in messages[1]
    assert "不予许可" in messages[2]
    assert "评价" in messages[2]


def test_the_catalogue_is_published_when_the_standards_change_and_on_demand(
    engine: Engine, node: CountyNode, bundle: StandardsBundle
) -> None:
    (row,) = published(engine, "public_catalogue")
    catalogue = parse_public_catalogue(row["payload"])
    assert catalogue.standards_version == bundle.version
    food = next(i for i in catalogue.items if i.code == FOOD)
    assert (food.name, food.promised_days, food.key_fields) == ("食品经营许可", 5, ("统一社会信用代码", "经营场所"))
    node.approval.apply_standards(bundle)  # the same version again: nothing new
    assert len(published(engine, "public_catalogue")) == 1
    assert node.publication is not None
    node.publication.publish_catalogue()
    assert len(published(engine, "public_catalogue")) == 2


# -- SMS --------------------------------------------------------------------------------------------------------------


def test_the_applicants_sms_is_masked_in_the_log_and_resolved_when_sent(
    engine: Engine, node: CountyNode, clock: FakeClock
) -> None:
    case = concluded(node, clock)
    opted = concluded(node, clock, opt_out=True)
    got = rows(engine, notifications)
    assert {r["subject_id"] for r in got} == {case.case_no}  # opted out: no row at all
    assert all(r["recipient"] == "138****5678" and r["channel"] == APPLICANT_CHANNEL for r in got)
    assert count(engine, case_contacts, case_contacts.c.case_no == opted.case_no) == 1

    gateway = Gateway()
    gateway.up()
    try:
        dispatcher = NotificationDispatcher(engine, sms(gateway.url), clock, resolvers=node.address_resolvers())
        report = dispatcher.dispatch_once()
    finally:
        gateway.close()
    assert report.sent == 2  # 受理 and 办结
    assert {r["json"]["to"] for r in gateway.requests} == {PHONE}
    assert all(r["status"] == "sent" and r["recipient"] == "138****5678" for r in rows(engine, notifications))
    sent_code = next(m for r in gateway.requests if (m := re.search(r"查询码 ([0-9A-Z]{8})", r["json"]["message"])))
    assert sent_code  # the applicant got the code …
    logged = " ".join(r["message"] for r in rows(engine, notifications))
    assert sent_code.group(1) not in logged  # … the delivery log keeps it masked once sent
    assert "查询码 ********" in logged
    with capture_logs() as logs:
        LogNotifier().send(Notification(1, "sms", "138****5678", "case", "x", f"查询码 {sent_code.group(1)}"))
    assert sent_code.group(1) not in str(logs)


def test_an_sms_whose_number_is_gone_fails_without_a_call(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    case = concluded(node, clock)
    with UnitOfWork(engine) as uow:
        uow.conn.execute(case_contacts.update().where(case_contacts.c.case_no == case.case_no).values(sms_opt_out=True))
        uow.commit()
    gateway = Gateway()
    gateway.up()
    try:
        report = NotificationDispatcher(
            engine, sms(gateway.url), clock, resolvers=node.address_resolvers()
        ).dispatch_once()
    finally:
        gateway.close()
    assert (report.sent, report.failed, gateway.requests) == (0, 2, [])
    assert all("无法取得" in r["last_error"] for r in rows(engine, notifications))


# -- without an extranet node, and what goes up -----------------------------------------------------------------------


def test_a_county_without_an_extranet_node_publishes_nothing(
    engine: Engine, bundle: StandardsBundle, clock: FakeClock
) -> None:
    plain = county(engine, clock, bundle, extranet=False)
    assert plain.intake is None
    assert plain.publication is None
    case = plain.approval.submit(item_code=FOOD, applicant="王五", data=FOOD_DATA, actor="窗口 3")
    plain.approval.act(case.case_no, Action.ACCEPT, actor="窗口 3")
    assert about_cases(engine) == []
    assert count(engine, case_contacts) == 0
    assert "public_submission" not in plain.receiver_appliers()


def test_the_up_stream_never_carries_phone_id_numbers_or_query_codes(
    engine: Engine, node: CountyNode, clock: FakeClock
) -> None:
    receive(node, record("public_submission", SUB_ID, submission()))
    clock.set(2026, 9, 21, 10)
    desk(node).accept(SUB_ID, actor="窗口 2")
    walk_in = concluded(node, clock)
    clock.set(2026, 9, 24, 9)
    receive(node, rating(walk_in.case_no, 1))
    up = rows(engine, outbox, outbox.c.origin == DIV)
    assert up
    text = "\n".join(r["payload"] for r in up)
    for secret in (PHONE, ID_NO, HASH, "scrypt$"):
        assert secret not in text
    assert not any(r["record_type"] in ("public_case", "disclosure", "submission_result") for r in up)


# -- the hall's HTTP API --------------------------------------------------------------------------------------------


def test_the_desk_over_http_behind_the_login(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    add_staff(node.accounts)
    receive(node, record("public_submission", SUB_ID, submission()))
    with TestClient(create_app(node)) as client:
        log_in(client, "supervisor")  # reads cases, may not take them in
        assert client.get("/api/v1/intake").json()["total"] == 1
        assert client.post(f"/api/v1/intake/{SUB_ID}/accept", json={}).status_code == 403
        log_in(client, "clerk")
        shown = client.get(f"/api/v1/intake/{SUB_ID}").json()
        assert (shown["phone"], shown["status_label"], shown["applicant_id"]) == ("138****5678", "待受理", ID_NO)
        assert client.get("/api/v1/intake/371122-W20260921-NOPE00").json()["error"]["code"] == "submission_not_found"
        resp = client.post(f"/api/v1/intake/{SUB_ID}/accept", json={"window": "W02"})
        assert resp.status_code == 201, resp.text
        body = resp.json()
        assert body["query_code"]
        assert body["submission_id"] == SUB_ID
        assert body["case"]["case"]["status"] == "accepted"
        assert client.post(f"/api/v1/intake/{SUB_ID}/accept", json={}).status_code == 409

        bad = client.post(
            "/api/v1/cases", json={"item_code": FOOD, "applicant": "王五", "data": FOOD_DATA, "phone": "110"}
        )
        assert bad.status_code == 422
        assert "手机号码格式错误" in bad.json()["error"]["message"]
        made = client.post(
            "/api/v1/cases", json={"item_code": FOOD, "applicant": "王五", "data": FOOD_DATA, "phone": PHONE}
        )
        case_no = made.json()["case"]["case_no"]
        accepted = client.post(f"/api/v1/cases/{case_no}/actions/accept", json={}).json()
        assert accepted["case"]["status"] == "accepted"
        assert len(accepted["query_code"]) == 8
        assert check_query_code(accepted["query_code"], last_public_case(engine, case_no).query_hash)

        receive(node, record("public_submission", "371122-W20260921-222222", submission("371122-W20260921-222222")))
        refused = client.post("/api/v1/intake/371122-W20260921-222222/refuse", json={"reason": "非本县事项"})
        assert refused.json()["status"] == "refused"
        assert client.get("/api/v1/intake", params={"status": "all"}).json()["total"] == 2


def test_without_an_extranet_node_there_is_no_desk_and_no_phone(
    engine: Engine, bundle: StandardsBundle, clock: FakeClock
) -> None:
    plain = county(engine, clock, bundle, extranet=False)
    add_staff(plain.accounts)
    with TestClient(create_app(plain)) as client:
        log_in(client, "clerk")
        assert client.get("/api/v1/intake").status_code == 404
        resp = client.post("/api/v1/cases", json={"item_code": FOOD, "applicant": "王五", "phone": PHONE})
        assert resp.status_code == 422
        assert count(engine, cases) == 0
        made = client.post("/api/v1/cases", json={"item_code": FOOD, "applicant": "王五"}).json()
        accepted = client.post(f"/api/v1/cases/{made['case']['case_no']}/actions/accept", json={}).json()
        assert accepted["query_code"] is None
    assert about_cases(engine) == []
