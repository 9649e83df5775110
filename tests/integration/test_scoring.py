"""Scoring on a hand-built data set (``scoring_data``), on SQLite and PostgreSQL: exact points, ranks, small
samples, byte-identical re-runs, explanations with their records, city scope, scores flowing down.

County 371122 (A), November 2026, worked out by hand (rules: ``scoring_data.RULES``, minimum sample 3 a county):

* decided 5 (A1–A5; A6 still running, A7 decided in October): on time A1, A2, A4 → 3; late A3 (its correction
  pause moves the due day to Nov 11, decided Nov 13) and A5 (instant, decided the next day).
* accepted 6 (A1–A6; A7 was accepted in October), 2 of them instant (A4, A5).
* item mix: ITEMA across the scope 6 of 7 on time, ITEMB 1 of 2; A expects 2·6/7 + 6/7 + 2·1/2 = 3.571427 of 5
  → 0.7143; actual 0.6; scope 7/9 → 0.7778; normalised 0.6 − 0.7143 + 0.7778 = 0.6635 → 30 · 0.1635/0.5 = 9.81.
* per 100 accepted: yellow 2 → 33.3333 → 5 · 16.6667/50 = 1.67; red 1 → 16.6667 → 5 · 33.3333/50 = 3.33.
* budget used 13 of 15 (5 + 1 + 7; 3 budgeted decided cases) → 0.8667 → 10 · 0.1333/0.5 = 2.67 (2.666).
* complaints 2 per 6 accepted → 333.3333 per 1,000 → 10 · 666.6667/1000 = 6.67; answered on time 1 of 2 → 5.00.
* negative ratings: followed up on time 1 (P2), late 1 (P1), pending 1 (P3) → 0.5 → 5.00.
* corrections 1 of 5 decided → 5 · 0.3/0.5 = 3.00; instant 2 of 6 accepted → 0.3333 → 5 · 0.3333/0.5 = 3.33;
  key data 1 − 1/6 accepted → 0.8333 → 10 · 0.3333/0.5 = 6.67.
* weighted 47.15 (every sample at least 3: nothing scaled); deductions per accepted case −5·2·1/6 = −1.67 and
  −10·1·1/6 = −1.67; bonus early 1 of 3 → 0.1 · 33.33 = 3.33.
* score 47.15 − 3.34 + 3.33 = 47.14.

County 371123 (B): 3 cases accepted, decided on time and early → on time normalised 1 − 0.8571 + 0.7778 = 0.9207
→ 25.24; every other indicator full but instant share (0); bonus capped at 5 → 95.24. County 371202 (C): one case
accepted and decided — below the minimum on every case basis, so only the complaint and rating indicators (nothing
to judge: full) are measured, scaled 20 of 20 → 100.00, nothing deducted or added; a small sample, not ranked, so B
is 1st and A 2nd of 2.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select

from city_aggregator.scoring.domain import samples
from city_aggregator.scoring.explain import explain_score
from city_aggregator.scoring.service import compute_scores, export_scores
from federation.errors import RecordRejected
from federation.replication import Prepared, Record
from federation.scoring_rules import parse_scoring_rules
from federation.standards import StandardsBundle
from federation.storage.outbox import canonical_json, high_water
from federation.storage.scores_replica import SCORE_RECORD, ScoreApplier
from federation.storage.tables import alerts, outbox, scores
from federation.storage.uow import UnitOfWork
from tests.integration import scoring_data as sd

PROVINCE = "370000"
VERSION = "2026.09.1"


@pytest.fixture
def loaded(engine: Engine, bundle: StandardsBundle) -> Engine:
    sd.load(engine, bundle)
    return engine


def run(engine: Engine, node: str = PROVINCE, scope: str = "37", periods: tuple[str, ...] = ("2026-11",)) -> Any:
    return compute_scores(engine, node=node, scope=scope, periods=periods, now=sd.NOW)


def rows(engine: Engine, node: str = PROVINCE, period: str = "2026-11") -> dict[str, dict[str, Any]]:
    data = json.loads(export_scores(engine, computed_by=node, rules_version=VERSION, period=period))
    return {r["subject"]: r for r in data}


def points(row: dict[str, Any]) -> dict[str, tuple[str | None, str]]:
    return {i["id"]: (i["value"], i["points"]) for i in row["breakdown"]["indicators"]}


def test_the_hand_built_data_set_gives_the_exact_expected_points(loaded: Engine) -> None:
    result = run(loaded)
    assert result.rules_version == VERSION
    assert result.counties == ("371122", "371123", "371202")
    got = rows(loaded)

    a = got["371122"]
    assert points(a) == {
        "on_time_rate": ("0.6635", "9.81"),
        "yellow_cards_per_100": ("33.3333", "1.67"),
        "red_cards_per_100": ("16.6667", "3.33"),
        "budget_used_share": ("0.8667", "2.67"),
        "complaints_per_1000": ("333.3333", "6.67"),
        "complaint_on_time_response": ("0.5000", "5.00"),
        "negative_follow_up": ("0.5000", "5.00"),
        "correction_rate": ("0.2000", "3.00"),
        "instant_share": ("0.3333", "3.33"),
        "key_data_completeness": ("0.8333", "6.67"),
    }
    # the sample of each basis: 6 accepted, 5 decided, 3 budgeted, 2 complaints and 2 negative ratings judged
    measures = a["breakdown"]["measures"]
    assert (measures["accepted"], measures["instant"], measures["cases"], measures["eligible"]) == (6, 2, 5, 3)
    assert samples(measures) == {"accepted": 6, "decided": 5, "budgeted": 3, "complaints": 2, "negatives": 2}
    b = a["breakdown"]
    assert b["reference"] == {
        "actual_on_time_rate": "0.6000",
        "expected_on_time_rate": "0.7143",
        "scope_on_time_rate": "0.7778",
    }
    assert (b["weighted"], b["measured_points"], b["measured_weight"]) == ("47.15", "47.15", "100")
    assert [(d["id"], d["count"], d["points"]) for d in b["deductions"]] == [
        ("yellow_card", 2, "-1.67"),
        ("red_card", 1, "-1.67"),
    ]
    assert [(x["id"], x["count"], x["of"], x["points"]) for x in b["bonuses"]] == [("early_finish", 1, 3, "3.33")]
    assert (a["score"], a["cases"], a["rank"], a["ranked_of"], a["small_sample"]) == ("47.14", 5, 2, 2, False)

    assert points(got["371123"])["on_time_rate"] == ("0.9207", "25.24")
    assert points(got["371123"])["complaint_on_time_response"] == (None, "10.00")  # nothing to measure: full
    assert points(got["371123"])["instant_share"] == ("0.0000", "0.00")
    assert got["371123"]["breakdown"]["bonuses"][0]["points"] == "5.00"  # 10 capped at 5
    assert (got["371123"]["score"], got["371123"]["rank"]) == ("95.24", 1)

    c = got["371202"]  # one case: scored on what it has, marked, not ranked
    assert (c["score"], c["small_sample"], c["rank"], c["ranked_of"]) == ("100.00", True, None, 2)
    cb = c["breakdown"]
    assert [i["id"] for i in cb["indicators"] if i["points"] is None] == [
        "on_time_rate",
        "yellow_cards_per_100",
        "red_cards_per_100",
        "budget_used_share",
        "complaints_per_1000",
        "correction_rate",
        "instant_share",
        "key_data_completeness",
    ]
    assert (cb["measured_weight"], cb["weighted"], cb["bonuses"][0]["points"]) == ("20", "100.00", None)

    # departments are ranked among the same department across the scope, windows within their county
    dept = got["371122/市场监督管理局"]
    assert (dept["cases"], dept["rank"], dept["ranked_of"]) == (5, 2, 2)
    assert dept["breakdown"]["measures"]["complaints"] == 1  # the window complaint (no case) is not the department's
    w01, w02 = got["371122/W01"], got["371122/W02"]
    assert (w01["cases"], w01["rank"], w01["ranked_of"], w01["small_sample"]) == (2, 1, 1, False)
    assert (w02["cases"], w02["rank"], w02["small_sample"]) == (1, None, True)
    assert w02["breakdown"]["measures"]["complaints"] == 1  # a complaint against the window itself
    assert "371122/None" not in got  # cases without a window are not scored at window level


def test_a_quarter_and_a_year_sum_the_months(loaded: Engine) -> None:
    run(loaded, periods=("2026-10", "2026-Q4", "2026"))
    october = rows(loaded, period="2026-10")["371122"]
    assert october["cases"] == 1  # A7
    assert october["breakdown"]["measures"]["accepted"] == 1  # A7, accepted October 20
    assert october["breakdown"]["measures"]["yellow"] == 1  # Y0
    for period in ("2026-Q4", "2026"):
        m = rows(loaded, period=period)["371122"]["breakdown"]["measures"]
        assert (m["cases"], m["accepted"], m["yellow"], m["complaints"]) == (6, 7, 3, 3)
    assert rows(loaded) == {}  # November was not asked for


def test_re_running_gives_byte_identical_output(loaded: Engine) -> None:
    first = run(loaded)
    before = export_scores(loaded, computed_by=PROVINCE, rules_version=VERSION, period="2026-11")
    again = compute_scores(loaded, node=PROVINCE, scope="37", periods=["2026-11"], now=sd.NOW + timedelta(hours=1))
    after = export_scores(loaded, computed_by=PROVINCE, rules_version=VERSION, period="2026-11")
    assert after == before  # computed_at differs, the exported content does not
    assert again.input_digest == first.input_digest
    with loaded.connect() as conn:
        assert conn.execute(select(scores.c.computed_at).limit(1)).scalar() == sd.NOW + timedelta(hours=1)
        # the run replaced its rows: one set, not two
        assert conn.execute(select(scores.c.subject).where(scores.c.level == "county")).all().__len__() == 3


def test_explain_lists_the_records_behind_every_part_and_notices_changed_data(loaded: Engine) -> None:
    run(loaded)
    e = explain_score(loaded, node=PROVINCE, county="371122", period="2026-11", now=sd.NOW)
    assert e.arithmetic_ok
    assert e.changed == {}
    assert e.records == {
        "accepted_cases": ["371122-A1", "371122-A2", "371122-A3", "371122-A4", "371122-A5", "371122-A6"],
        "cases": ["371122-A1", "371122-A2", "371122-A3", "371122-A4", "371122-A5"],
        "late_cases": ["371122-A3", "371122-A5"],
        "early_cases": ["371122-A2"],
        "corrected_cases": ["371122-A3"],
        "instant_cases": ["371122-A4", "371122-A5"],
        "yellow_cards": ["371122-Y1", "371122-Y2"],
        "red_cards": ["371122-R1"],
        "key_data_alerts": ["371122-K1"],
        "complaints": ["371122-Q1", "371122-Q2"],
        "complaints_missed": ["371122-Q2"],
        "negative_ratings": ["371122-P1", "371122-P2", "371122-P3"],
        "negative_ratings_missed": ["371122-P1"],
    }
    assert e.to_dict()["score"] == "47.14"

    with UnitOfWork(loaded) as uow:
        late = {**sd.ALERTS[0], "alert_id": "371122-Y9", "opened_at": sd.cst(11, 20)}
        uow.conn.execute(insert(alerts), [late])
        uow.commit()
    e = explain_score(loaded, node=None, county="371122", period="2026-11", now=sd.NOW)
    assert e.changed == {"yellow": (2, 3)}
    assert e.to_dict()["check"]["data_changed"] is True


def test_a_city_scores_its_own_counties_only_and_sends_nothing_down(loaded: Engine) -> None:
    before = _outbox_count(loaded)
    result = run(loaded, node="371100", scope="3711")
    assert result.counties == ("371122", "371123")
    assert result.outbox_records == 0
    assert _outbox_count(loaded) == before
    got = rows(loaded, node="371100")
    assert {r["county"] for r in got.values()} == {"371122", "371123"}
    # the reference is the city's own: 6 of its 8 cases on time (C's case is another city's)
    assert got["371122"]["breakdown"]["reference"]["scope_on_time_rate"] == "0.7500"


def _outbox_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(outbox.c.seq).where(outbox.c.record_type == SCORE_RECORD)).all())


def _records(engine: Engine) -> list[Record]:
    with engine.connect() as conn:
        got = conn.execute(
            select(outbox)
            .where(outbox.c.origin == PROVINCE, outbox.c.record_type == SCORE_RECORD)
            .order_by(outbox.c.seq)
        ).all()
    return [Record(r.record_type, r.record_id, r.op, r.seq, r.payload.encode("utf-8"), 0) for r in got]


def _apply(engine: Engine, origin: str, records: list[Record]) -> None:
    applier = ScoreApplier()
    prepared = [Prepared(r, applier.prepare(origin, r, json.loads(r.payload))) for r in records]
    with UnitOfWork(engine) as uow:
        assert list(applier.apply(uow.conn, origin, prepared)) == []
        uow.commit()


def test_scores_flow_down_as_records_a_replica_holds_the_same_content(loaded: Engine) -> None:
    run(loaded)
    exported = export_scores(loaded, computed_by=PROVINCE, rules_version=VERSION, period="2026-11")
    records = _records(loaded)
    assert [r.record_id for r in records] == [f"{c}/2026-11/{VERSION}" for c in ("371122", "371123", "371202")]
    assert all(r.payload.decode() == canonical_json(json.loads(r.payload)) for r in records)  # assembled canonically
    with loaded.connect() as conn:
        assert high_water(conn, PROVINCE) == 3

    with UnitOfWork(loaded) as uow:  # the node below holds nothing yet
        uow.conn.execute(delete(scores))
        uow.commit()
    _apply(loaded, PROVINCE, records)
    assert export_scores(loaded, computed_by=PROVINCE, rules_version=VERSION, period="2026-11") == exported

    # a newer record replaces the county's rows; an older one (a resend) changes nothing
    newer_payload = json.loads(records[0].payload)
    newer_payload["rows"] = [r for r in newer_payload["rows"] if r["level"] == "county"]
    newer_payload["rows"][0]["score"] = "50.00"
    newer = dataclasses.replace(records[0], origin_seq=10, payload=json.dumps(newer_payload).encode())
    _apply(loaded, PROVINCE, [newer])
    _apply(loaded, PROVINCE, [records[0]])
    with loaded.connect() as conn:
        held = conn.execute(
            select(scores.c.subject, scores.c.score, scores.c.origin_seq).where(scores.c.county == "371122")
        ).all()
    assert [(s, Decimal(v), seq) for s, v, seq in held] == [("371122", Decimal("50.00"), 10)]


def test_the_score_applier_refuses_forged_and_malformed_records(loaded: Engine) -> None:
    run(loaded)
    record = _records(loaded)[0]
    payload = json.loads(record.payload)
    applier = ScoreApplier()

    def refused(origin: str, changed: dict[str, Any], rec: Record = record) -> str:
        with pytest.raises(RecordRejected) as info:
            applier.prepare(origin, rec, {**payload, **changed})
        return info.value.message

    assert "只能由省级节点下发" in refused("371100", {})  # a city cannot forge the province's scores
    assert "只能由省级节点下发" in refused("371122", {})
    assert "与发送来源" in refused(PROVINCE, {"computed_by": "380000"})
    assert "不属于" in refused(PROVINCE, {"county": "381122"})
    assert "格式错误" in refused(PROVINCE, {"period": "2026-13"})
    assert "rows" in refused(PROVINCE, {"rows": []})
    bad_row = {**payload["rows"][0], "score": "abc"}
    assert "不是数值" in refused(PROVINCE, {"rows": [bad_row]})
    other = {**payload["rows"][0], "subject": "371123"}
    assert "不属于" in refused(PROVINCE, {"rows": [other]})
    assert "记录编号" in refused(PROVINCE, {}, dataclasses.replace(record, record_id="371122/2026-11/x"))
    with pytest.raises(RecordRejected, match="不支持操作"):
        applier.prepare(PROVINCE, dataclasses.replace(record, op="delete"), payload)


def test_rules_given_explicitly_and_a_bundle_without_rules(engine: Engine, bundle: StandardsBundle) -> None:
    from federation.errors import StandardsError

    sd.load(engine, bundle)
    rules = parse_scoring_rules({**sd.RULES, "normalisation": {"item_mix": False}})
    result = compute_scores(
        engine, node=PROVINCE, scope="37", periods=["2026-11"], now=sd.NOW, rules=rules, rules_version="adhoc"
    )
    assert result.rules_version == "adhoc"
    data = json.loads(export_scores(engine, computed_by=PROVINCE, rules_version="adhoc", period="2026-11"))
    a = next(r for r in data if r["subject"] == "371122")
    assert points(a)["on_time_rate"] == ("0.6000", "6.00")  # not normalised: 30 · 0.1/0.5

    with UnitOfWork(engine) as uow:  # a newer bundle with no scoring rules cannot be scored under
        from federation.storage.standards_store import apply_bundle

        empty = dataclasses.replace(bundle, version="2026.10.1", scoring_rules={})
        apply_bundle(uow.conn, empty, sd.cst(10, 1))
        uow.commit()
    with pytest.raises(StandardsError, match="未包含考核评分规则"):
        run(engine)
