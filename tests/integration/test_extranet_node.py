"""The extranet node's store and services on real SQLite and PostgreSQL: the county's public stream applied through
the real receiving sink (newer seq wins, catalogue replaced, malformed records quarantined), and the public's use
cases — apply, ask, complain, rate, read 办件公示 — each writing its row and its outbox record (origin
``371122-ext``, through the boundary policy's ``in`` direction) in one transaction, or nothing."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from county_node.extranet.adapters.appliers import CaseApplier, extranet_appliers
from county_node.extranet.bootstrap import ExtranetNode
from county_node.extranet.domain import CaseStatus, SubmissionStatus
from federation.errors import Conflict, ItemNotFound, NotFound, ValidationError
from federation.public_records import (
    DISCLOSURE,
    PUBLIC_CASE,
    PUBLIC_CATALOGUE,
    PUBLIC_COMPLAINT,
    PUBLIC_RATING,
    PUBLIC_SUBMISSION,
    SUBMISSION_RESULT,
    parse_public_case,
    parse_public_complaint,
    parse_public_rating,
    parse_public_submission,
)
from federation.replication import Prepared, Record
from federation.storage.tables import (
    boundary_refusals,
    ext_cases,
    ext_complaints,
    ext_items,
    ext_ratings,
    ext_submissions,
    outbox,
)
from federation.storage.uow import UnitOfWork
from tests.conftest import FakeClock
from tests.integration.extranet_fixtures import (
    CASE_CODE,
    COUNTY,
    EXT,
    PUB,
    T0,
    County,
    backend_engine,
    case_payload,
    catalogue_payload,
    concluded,
    county_engine,
    disclosure_payload,
    ext_node,
    quarantined,
    wipe,
)

__all__ = ["backend_engine", "county_engine"]  # module-scoped fixtures used here

CASE_1 = f"{COUNTY}-20261207-000001"
CASE_2 = f"{COUNTY}-20261207-000002"


@pytest.fixture
def ext(backend_engine: Engine, tmp_path: Path) -> ExtranetNode:
    wipe(backend_engine)
    return ext_node(backend_engine, FakeClock(T0), tmp_path)


@pytest.fixture
def county(county_engine: Engine, ext: ExtranetNode) -> County:
    wipe(county_engine)
    return County(county_engine, ext.engine, ext.receiver_appliers())


def _rows(engine: Engine, table: Any) -> list[Any]:
    with UnitOfWork(engine, readonly=True) as uow:
        return list(uow.conn.execute(select(table)))


def _outbox(engine: Engine) -> list[Any]:
    with UnitOfWork(engine, readonly=True) as uow:
        return list(uow.conn.execute(select(outbox).order_by(outbox.c.seq)))


APPLICATION = {
    "item_code": "A01",
    "applicant": "日照某某商贸有限公司",
    "applicant_id": "91371122MA3C0XXXX1",
    "phone": "13812345678",
    "materials": ["营业执照", "法定代表人身份证"],
    "data": {"统一社会信用代码": "91371122MA3C0XXXX1", "经营场所": "莒县城阳街道 1 号"},
    "note": "",
    "sms_opt_out": False,
}


# -- the county's public stream, applied ----------------------------------------------------------------------------


def test_the_public_stream_is_applied_and_the_newer_snapshot_wins(ext: ExtranetNode, county: County) -> None:
    assert county.send((PUBLIC_CATALOGUE, "catalogue", catalogue_payload("A01", "B02"))) == 0
    assert county.send((PUBLIC_CASE, CASE_1, case_payload(CASE_1))) == 0
    (seq,) = county.publish((PUBLIC_CASE, CASE_1, concluded(CASE_1)))
    assert county.deliver() == 0
    (row,) = _rows(ext.engine, ext_cases)
    assert (row.status, row.origin_seq, row.rating_open, row.on_time) == ("concluded", seq, True, True)

    # an older snapshot applied again (a replayed quarantine row) changes nothing
    old = case_payload(CASE_1)
    record = Record(PUBLIC_CASE, CASE_1, "upsert", seq - 1, json.dumps(old).encode(), 0)
    with UnitOfWork(ext.engine) as uow:
        assert CaseApplier(COUNTY).apply(uow.conn, PUB, [Prepared(record, parse_public_case(COUNTY, old))]) == []
        uow.commit()
    (row,) = _rows(ext.engine, ext_cases)
    assert (row.status, row.origin_seq) == ("concluded", seq)
    assert [r.code for r in _rows(ext.engine, ext_items)] == ["A01", "B02"]


def test_a_newer_catalogue_replaces_the_item_list_and_an_older_one_does_not(ext: ExtranetNode, county: County) -> None:
    county.send((PUBLIC_CATALOGUE, "catalogue", catalogue_payload("A01", "B02")))
    county.send((PUBLIC_CATALOGUE, "catalogue", catalogue_payload("B02", "B03", version="2026.12.2")))
    assert [(i.code, i.key_fields) for i in ext.portal.catalogue()] == [
        ("B02", ("统一社会信用代码", "经营场所")),
        ("B03", ("统一社会信用代码", "经营场所")),
    ]
    assert {r.standards_version for r in _rows(ext.engine, ext_items)} == {"2026.12.2"}
    # the first catalogue once more, as a quarantine replay would apply it: older, ignored
    applier = extranet_appliers(COUNTY)[PUBLIC_CATALOGUE]
    payload = catalogue_payload("A01")
    record = Record(PUBLIC_CATALOGUE, "catalogue", "upsert", 1, b"{}", 0)
    with UnitOfWork(ext.engine) as uow:
        applier.apply(uow.conn, PUB, [Prepared(record, applier.prepare(PUB, record, payload))])
        uow.commit()
    assert [i.code for i in ext.portal.catalogue()] == ["B02", "B03"]
    # an empty catalogue (nothing offered online any more) is a catalogue too
    county.send((PUBLIC_CATALOGUE, "catalogue", catalogue_payload()))
    assert ext.portal.catalogue() == []


def test_malformed_or_misaddressed_records_are_quarantined_and_the_rest_applied(
    ext: ExtranetNode, county: County
) -> None:
    held = county.send(
        (PUBLIC_CASE, CASE_1, case_payload(CASE_1, status="")),  # a required field empty
        (PUBLIC_CASE, f"{COUNTY}-20261207-000003", case_payload(CASE_1)),  # the record id names another case
        (PUBLIC_CASE, "370000-20261207-000001", case_payload("370000-20261207-000001")),  # not this county's
        (DISCLOSURE, CASE_2, disclosure_payload(CASE_2, date(2026, 12, 4)) | {"on_time": "yes"}),
        (
            SUBMISSION_RESULT,
            f"{COUNTY}-W20261207-AAAAAA",
            {
                "submission_id": f"{COUNTY}-W20261207-AAAAAA",
                "outcome": "refused",
                "case_no": "",
                "reason": "材料不全",
                "decided_at": T0.isoformat(),
            },
        ),  # a submission this node does not hold
        (PUBLIC_CASE, CASE_2, case_payload(CASE_2)),  # a good one behind them all
    )
    assert held == 5
    reasons = quarantined(ext.engine)
    assert [t for t, _ in reasons] == [PUBLIC_CASE, PUBLIC_CASE, PUBLIC_CASE, DISCLOSURE, SUBMISSION_RESULT]
    assert "缺少字段 status" in reasons[0][1]
    assert "不符" in reasons[1][1]
    assert "不属于本县" in reasons[2][1]
    assert "本节点没有网上申报" in reasons[4][1]
    assert [r.case_no for r in _rows(ext.engine, ext_cases)] == [CASE_2]


# -- applying -------------------------------------------------------------------------------------------------------


def test_an_application_is_stored_with_its_outbox_record_and_crosses_in(ext: ExtranetNode, county: County) -> None:
    county.send((PUBLIC_CATALOGUE, "catalogue", catalogue_payload("A01")))
    receipt = ext.portal.submit(**APPLICATION, client="c" * 64)
    assert receipt.submission_id.startswith(f"{COUNTY}-W20261207-")
    assert len(receipt.query_code) == 8
    (row,) = _rows(ext.engine, ext_submissions)
    assert (row.submission_id, row.phone, row.client, row.outcome) == (
        receipt.submission_id,
        "13812345678",
        "c" * 64,
        None,
    )
    (sent,) = _outbox(ext.engine)
    assert (sent.origin, sent.seq, sent.record_type, sent.record_id) == (
        EXT,
        1,
        PUBLIC_SUBMISSION,
        receipt.submission_id,
    )
    parsed = parse_public_submission(COUNTY, json.loads(sent.payload))  # what the county will accept
    assert parsed.data == APPLICATION["data"]
    assert parsed.phone == "13812345678"
    # the code itself is stored nowhere: only its hash, here and in the record
    assert receipt.query_code not in sent.payload
    assert receipt.query_code not in row.query_hash
    assert _rows(ext.engine, boundary_refusals) == []

    pending = ext.portal.status(number=receipt.submission_id, query_code=receipt.query_code.lower())
    assert isinstance(pending, SubmissionStatus)
    assert pending.state_label == "待受理"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"phone": "1381234567"}, "手机号码"),
        ({"applicant": " "}, "申请人"),
        ({"data": {"统一社会信用代码": "91371122MA3C0XXXX1"}}, "经营场所"),
        ({"data": {**APPLICATION["data"], "别的": "x"}}, "没有"),
        ({"applicant_id": "12345"}, "证件号码"),
        ({"materials": ["x" * 101]}, "申请材料"),
        ({"note": "备" * 1001}, "备注"),
    ],
)
def test_a_bad_application_changes_nothing(
    ext: ExtranetNode, county: County, change: dict[str, Any], message: str
) -> None:
    county.send((PUBLIC_CATALOGUE, "catalogue", catalogue_payload("A01")))
    with pytest.raises(ValidationError, match=message):
        ext.portal.submit(**(APPLICATION | change), client="c")
    with pytest.raises(ItemNotFound):
        ext.portal.submit(**(APPLICATION | {"item_code": "Z99"}), client="c")
    assert _rows(ext.engine, ext_submissions) == []
    assert _outbox(ext.engine) == []


def test_the_hall_s_result_reaches_the_submission_and_its_code_opens_the_case(
    ext: ExtranetNode, county: County
) -> None:
    county.send((PUBLIC_CATALOGUE, "catalogue", catalogue_payload("A01")))
    receipt = ext.portal.submit(**APPLICATION, client="c")
    sid, code = receipt.submission_id, receipt.query_code
    result = {
        "submission_id": sid,
        "outcome": "accepted",
        "case_no": CASE_1,
        "reason": "",
        "decided_at": T0.isoformat(),
    }
    assert (
        county.send(
            (SUBMISSION_RESULT, sid, result),
            (PUBLIC_CASE, CASE_1, case_payload(CASE_1, submission_id=sid, query_hash="")),
        )
        == 0
    )
    answer = ext.portal.status(number=sid, query_code=code)
    assert isinstance(answer, SubmissionStatus)
    assert (answer.state_label, answer.case_no) == ("已受理", CASE_1)
    assert answer.case is not None
    assert answer.case.status_label == "已受理"
    # the submission's code opens the case it became
    by_case = ext.portal.status(number=CASE_1, query_code=code)
    assert isinstance(by_case, CaseStatus)
    assert by_case.due_on == date(2026, 12, 14)
    (row,) = _rows(ext.engine, ext_submissions)
    assert (row.outcome, row.case_no, row.result_seq) == ("accepted", CASE_1, 2)

    # a refusal of another submission, with its reason
    other = ext.portal.submit(**APPLICATION, client="c")
    county.send(
        (
            SUBMISSION_RESULT,
            other.submission_id,
            {
                "submission_id": other.submission_id,
                "outcome": "refused",
                "case_no": "",
                "reason": "不属于本事项受理范围",
                "decided_at": T0.isoformat(),
            },
        )
    )
    refused = ext.portal.status(number=other.submission_id, query_code=other.query_code)
    assert isinstance(refused, SubmissionStatus)
    assert (refused.state_label, refused.reason, refused.case) == ("不予受理", "不属于本事项受理范围", None)


# -- asking ---------------------------------------------------------------------------------------------------


def test_an_unknown_number_and_a_wrong_code_get_the_same_answer(ext: ExtranetNode, county: County) -> None:
    county.send((PUBLIC_CASE, CASE_1, case_payload(CASE_1)))
    answers = []
    for number, code in (
        (CASE_1, "WRONG234"),
        (CASE_2, CASE_CODE),  # no such case
        (CASE_2, "WRONG234"),
        (f"{COUNTY}-W20261207-ABCDEF", CASE_CODE),  # no such submission
    ):
        with pytest.raises(NotFound) as caught:
            ext.portal.status(number=number, query_code=code)
        answers.append((type(caught.value), caught.value.to_dict()))
    assert len({json.dumps(a[1], sort_keys=True) for a in answers}) == 1
    assert {a[0] for a in answers} == {NotFound}
    assert answers[0][1]["message"].startswith("未找到该办件或查询码不正确")
    found = ext.portal.status(number=f" {CASE_1.lower()} ", query_code=CASE_CODE.lower())
    assert isinstance(found, CaseStatus)
    assert found.status_label == "已受理"
    assert not found.can_rate
    with pytest.raises(ValidationError, match="格式不正确"):
        ext.portal.status(number="371122-1", query_code=CASE_CODE)


# -- complaining and rating -----------------------------------------------------------------------------------


def test_a_complaint_is_stored_and_sent_in(ext: ExtranetNode) -> None:
    receipt = ext.portal.complain(
        case_no=CASE_1, complainant="李四", phone="13912345678", content="窗口态度差", client="c"
    )
    (row,) = _rows(ext.engine, ext_complaints)
    assert (row.complaint_ref, row.case_no, row.content) == (receipt.complaint_ref, CASE_1, "窗口态度差")
    (sent,) = _outbox(ext.engine)
    assert (sent.origin, sent.record_type) == (EXT, PUBLIC_COMPLAINT)
    assert parse_public_complaint(COUNTY, json.loads(sent.payload)).complainant == "李四"
    general = ext.portal.complain(complainant="王五", phone="13912345678", content="排队太久", client="c")
    assert general.complaint_ref != receipt.complaint_ref
    for bad, message in (
        ({"content": "长" * 2001}, "投诉内容"),
        ({"case_no": "370102-20261207-000001"}, "办件编号"),
        ({"phone": ""}, "手机号码"),
    ):
        with pytest.raises(ValidationError, match=message):
            ext.portal.complain(**({"complainant": "李四", "phone": "13912345678", "content": "x"} | bad), client="c")
    assert len(_rows(ext.engine, ext_complaints)) == 2
    assert len(_outbox(ext.engine)) == 2


def test_a_concluded_case_is_rated_once(ext: ExtranetNode, county: County) -> None:
    county.send((PUBLIC_CASE, CASE_1, concluded(CASE_1)), (PUBLIC_CASE, CASE_2, case_payload(CASE_2)))
    with pytest.raises(NotFound, match="未找到该办件或查询码不正确"):
        ext.portal.rate(case_no=CASE_1, query_code="WRONG234", level=5, client="c")
    with pytest.raises(Conflict, match="尚未办结"):
        ext.portal.rate(case_no=CASE_2, query_code=CASE_CODE, level=5, client="c")
    with pytest.raises(ValidationError, match="评价等级"):
        ext.portal.rate(case_no=CASE_1, query_code=CASE_CODE, level=6, client="c")
    receipt = ext.portal.rate(case_no=CASE_1, query_code=CASE_CODE, level=4, comment="办事快", client="c")
    assert (receipt.level, receipt.label) == (4, "满意")
    with pytest.raises(Conflict, match="只能评价一次"):
        ext.portal.rate(case_no=CASE_1, query_code=CASE_CODE, level=1, client="c")
    (row,) = _rows(ext.engine, ext_ratings)
    assert (row.case_no, row.level, row.comment) == (CASE_1, 4, "办事快")
    (sent,) = _outbox(ext.engine)
    assert (sent.origin, sent.record_type, sent.record_id) == (EXT, PUBLIC_RATING, CASE_1)
    assert parse_public_rating(COUNTY, json.loads(sent.payload)).level == 4
    status = ext.portal.status(number=CASE_1, query_code=CASE_CODE)
    assert isinstance(status, CaseStatus)
    assert status.rated
    assert not status.can_rate


# -- 办件公示 (disclosures) ------------------------------------------------------------------------------


def test_disclosures_are_paged_newest_concluded_first(ext: ExtranetNode, county: County) -> None:
    county.send(
        *[
            (
                DISCLOSURE,
                f"{COUNTY}-20261101-{n:06d}",
                disclosure_payload(
                    f"{COUNTY}-20261101-{n:06d}",
                    date(2026, 11, 1) + timedelta(days=n),
                    "住建局" if n % 5 == 0 else "市场监管局",
                ),
            )
            for n in range(1, 26)
        ]
    )
    first = ext.portal.disclosures(page=1, page_size=10)
    assert (first.total, first.pages, len(first.items)) == (25, 3, 10)
    assert [d.concluded_on for d in first.items] == [date(2026, 11, 1) + timedelta(days=n) for n in range(25, 15, -1)]
    last = ext.portal.disclosures(page=3, page_size=10)
    assert [d.case_no[-2:] for d in last.items] == ["05", "04", "03", "02", "01"]
    housing = ext.portal.disclosures(department="住建局")
    assert housing.total == 5
    assert {d.department for d in housing.items} == {"住建局"}
    with pytest.raises(ValidationError):
        ext.portal.disclosures(page=0)
    with UnitOfWork(ext.engine, readonly=True) as uow:
        assert uow.conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0  # reads write nothing


# -- retention: what the county acknowledged leaves the DMZ -----------------------------------------------------------


def test_once_the_county_acknowledges_them_the_public_s_personal_data_leave_the_dmz(
    ext: ExtranetNode, county: County
) -> None:
    from county_node.extranet.retention import purge_acknowledged
    from federation.storage.tables import ext_complaints
    from sync_agent.store import SqlBatchSource

    county.send((PUBLIC_CATALOGUE, "catalogue", catalogue_payload("A01")))
    first = ext.portal.submit(**APPLICATION, client="c" * 64)
    ext.portal.complain(case_no="", complainant="李四", phone="13912345678", content="窗口态度差", client="c" * 64)
    later = ext.portal.submit(**APPLICATION, client="c" * 64)
    assert purge_acknowledged(ext.engine, EXT).acked_seq == 0  # nothing acknowledged: nothing cleared
    SqlBatchSource(ext.engine, EXT).record_ack("up", EXT, 2)  # the county holds the first two records
    purged = purge_acknowledged(ext.engine, EXT)
    assert (purged.acked_seq, purged.submissions, purged.complaints, purged.outbox_rows) == (2, 1, 1, 2)
    rows = {r.submission_id: r for r in _rows(ext.engine, ext_submissions)}
    gone = rows[first.submission_id]
    assert (gone.applicant, gone.applicant_id, gone.phone, gone.data, gone.materials, gone.note) == (
        "日*",
        "",
        "",
        {},
        [],
        "",
    )
    assert rows[later.submission_id].phone == "13812345678"  # not acknowledged yet: kept until it is
    (complaint,) = _rows(ext.engine, ext_complaints)
    assert (complaint.complainant, complaint.phone, complaint.content) == ("李*", "", "")
    held = {r.seq: r.payload for r in _outbox(ext.engine)}
    assert held[1] == held[2] == '{"purged":true}'
    assert "13812345678" in held[3]
    # the applicant still follows the application with the code shown at submission
    assert ext.portal.status(number=first.submission_id, query_code=first.query_code).state_label == "待受理"
    assert purge_acknowledged(ext.engine, EXT).total == 0  # idempotent
