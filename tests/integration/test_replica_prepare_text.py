"""The case appliers decide a record from its JSON text (``prepare_text``) exactly as from its decoded payload
(``prepare``): the same row for a good record, the same reason for a bad one, and the decoded path for whatever
the typed decoding leaves to it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, select

from county_node.approval.adapters.replica import CaseApplier, CaseEventApplier
from federation.errors import RecordRejected
from federation.replication import Record
from federation.storage.tables import case_events
from sync_agent.apply import apply_records

ORIGIN = "371122"
EVENT = {
    "action": "request_correction",
    "actor": "审批员",
    "at": "2026-01-06T05:00:00+08:00",
    "case_no": "371122-20260105-000001",
    "event_id": "371122-20260105-000001#0003",
    "from_status": "accepted",
    "n": 3,
    "payload": {"pause_n": 1, "reason": "缺少营业执照副本"},
    "to_status": "correction",
}
CASE = {
    "accepted_at": "2026-01-05T01:30:00+00:00",
    "applicant": "莒*********",
    "case_no": "371122-20260105-000001",
    "concluded_at": None,
    "data": {"经营场所": "莒县城阳街道 1 号"},
    "decided_at": None,
    "decision": None,
    "department": "市场监督管理局",
    "event_count": 3,
    "extended_at": None,
    "extension_approver": None,
    "extension_days": 0,
    "extension_reason": None,
    "fee_charged": None,
    "fee_standard": "0.00",
    "item_code": "XK00003000",
    "item_name": "食品经营许可",
    "kind": "promised",
    "legal_budget": 10,
    "origin": ORIGIN,
    "pauses": [
        {
            "ended_at": None,
            "kind": "correction",
            "n": 1,
            "reason": "缺少营业执照副本",
            "started_at": "2026-01-05T21:30:00+00:00",
        }
    ],
    "promised_budget": 5,
    "resume_status": "accepted",
    "standards_version": "2026.09.1",
    "status": "correction",
    "submitted_at": "2026-01-05T01:00:00+00:00",
    "tasks": [
        {
            "completed_at": None,
            "department": "消防救援大队",
            "limit_days": 10,
            "opinion": None,
            "outcome": None,
            "started_at": "2026-01-09T03:30:00+00:00",
            "status": "pending",
        }
    ],
    "updated_at": "2026-01-06T05:00:00+08:00",
    "window": "03",
}

EVENT_CHANGES: list[dict[str, Any]] = [
    {},
    {"event_id": "371122-20260105-000001#0004"},
    {"event_id": 3},
    {"case_no": "371100-20260105-000001", "event_id": "371100-20260105-000001#0003"},
    {"case_no": "371122-2026-1"},
    {"n": 0, "event_id": "371122-20260105-000001#0000"},
    {"n": True},
    {"at": "2026-01-06T05:00:00"},
    {"at": "2026-01-06 05:00:00+08:00"},
    {"payload": None},
    {"payload": [1, {"a": "\u0000"}]},
    {"actor": "\u0000"},
    {"actor": "人" * 101},
    {"from_status": None},
    {"to_status": None},
]
CASE_CHANGES: list[dict[str, Any]] = [
    {},
    {"origin": "371100"},
    {"case_no": "371122-20260105-000002"},
    {"status": "lost"},
    {"kind": "other"},
    {"pauses": None},
    {"pauses": [CASE["pauses"][0], CASE["pauses"][0]]},  # type: ignore[index]
    {"pauses": [{"n": 1}]},
    {"tasks": "none"},
    {"tasks": [{**CASE["tasks"][0], "limit_days": "10"}]},  # type: ignore[index]
    {"fee_standard": 12.345},
    {"fee_standard": "abc"},
    {"fee_charged": "1e400"},
    {"data": []},
    {"data": "x"},
    {"legal_budget": 2**31},
    {"window": None},
]


def _outcome(thunk: Any) -> Any:
    try:
        return thunk()
    except RecordRejected as exc:
        return ("rejected", exc.message)


def _both(applier: Any, record: Record) -> tuple[Any, Any]:
    plain = _outcome(lambda: applier.prepare(ORIGIN, record, json.loads(record.payload)))
    fast = _outcome(lambda: applier.prepare_text(ORIGIN, record))
    return fast, plain


@pytest.mark.parametrize("change", EVENT_CHANGES)
def test_an_event_is_decided_from_its_text_as_from_its_payload(change: dict[str, Any]) -> None:
    body = {**EVENT, **change}
    record = Record("case_event", "371122-20260105-000001#0003", "insert", 3, json.dumps(body).encode(), 0)
    fast, plain = _both(CaseEventApplier(), record)
    if fast is None:  # left to the decoded path
        assert change, "a good event takes the typed path"
        return
    if isinstance(plain, dict) and isinstance(fast, dict):
        assert json.loads(fast.pop("payload")) == json.loads(plain.pop("payload"))
    assert fast == plain


def test_a_good_event_and_a_good_case_take_the_typed_path() -> None:
    event = Record("case_event", EVENT["event_id"], "insert", 3, json.dumps(EVENT).encode(), 0)  # type: ignore[arg-type]
    case = Record("case", CASE["case_no"], "upsert", 4, json.dumps(CASE).encode(), 0)  # type: ignore[arg-type]
    assert CaseEventApplier().prepare_text(ORIGIN, event) is not None
    assert CaseApplier().prepare_text(ORIGIN, case) is not None
    assert CaseEventApplier().prepare_text(ORIGIN, Record("case_event", "x", "upsert", 3, event.payload, 0)) is None


@pytest.mark.parametrize("change", CASE_CHANGES)
def test_a_case_is_decided_from_its_text_as_from_its_payload(change: dict[str, Any]) -> None:
    body = {**CASE, **change}
    record = Record("case", CASE["case_no"], "upsert", 4, json.dumps(body).encode(), 0)  # type: ignore[arg-type]
    fast, plain = _both(CaseApplier(), record)
    if fast is None:
        return
    assert fast == plain


# -- from the outside review: what the typed path must leave to the plain one ----------------------------------

APPLIERS = {"case": CaseApplier(), "case_event": CaseEventApplier()}


def _event(text: str) -> Record:
    return Record("case_event", str(EVENT["event_id"]), "insert", 2, text.encode(), 0)


def test_a_payload_nested_too_deep_is_quarantined_not_a_stopped_stream(engine: Engine) -> None:
    text = json.dumps({**EVENT, "payload": {"x": 1}}).replace('{"x": 1}', "[" * 5000 + "]" * 5000)
    with engine.begin() as conn:
        (held,) = apply_records(conn, ORIGIN, [_event(text)], [text], APPLIERS)
    assert "JSON" in held["reason"]


def test_a_number_json_loads_refuses_is_refused_not_stored(engine: Engine) -> None:
    text = json.dumps({**EVENT, "payload": {"x": 1}}).replace('{"x": 1}', '{"x": 1%s}' % ("0" * 5000))
    case = json.dumps(CASE)
    with engine.begin() as conn:
        held = apply_records(
            conn,
            ORIGIN,
            [Record("case", str(CASE["case_no"]), "upsert", 1, case.encode(), 0), _event(text)],
            [case, text],
            APPLIERS,
        )
    assert [h["seq"] for h in held] == [2]
    with engine.connect() as conn:
        assert conn.execute(select(case_events)).all() == []  # and what is held reads back


@pytest.mark.parametrize(
    "at",
    [
        "2026-01-06t05:00:00z",  # msgspec takes lowercase; fromisoformat does not
        "2026-01-06T05:00:00.9999999+08:00",  # msgspec rounds to the next second; fromisoformat truncates
        "0001-01-01T00:00:00+08:00",  # before year 1 in UTC: not storable
        "9999-12-31T23:59:59-08:00",  # after year 9999 in UTC
    ],
)
def test_a_moment_is_read_as_the_plain_path_reads_it(at: str) -> None:
    record = _event(json.dumps({**EVENT, "at": at}, ensure_ascii=False))
    fast, plain = _both(CaseEventApplier(), record)
    if fast is None:
        return
    if isinstance(plain, dict) and isinstance(fast, dict):
        assert json.loads(fast.pop("payload")) == json.loads(plain.pop("payload"))
    assert fast == plain


def test_a_moment_out_of_the_storable_range_is_quarantined_not_a_stopped_stream(engine: Engine) -> None:
    case = json.dumps({**CASE, "submitted_at": "0001-01-01T00:00:00+08:00"})
    with engine.begin() as conn:
        (held,) = apply_records(
            conn, ORIGIN, [Record("case", str(CASE["case_no"]), "upsert", 1, case.encode(), 0)], [case], APPLIERS
        )
    assert "超出范围" in held["reason"]
