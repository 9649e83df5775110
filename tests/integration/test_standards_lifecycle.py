"""Standards over their life: validation at publish and apply, the effective date, what a calendar revision moves,
and every node's report of the version it runs flowing up to the province.

Real SQLite and real PostgreSQL (clones of the template of ``test_standards_down``: the demo bundle ``2026.09.1``
in force), the real sinks and sources of the replication store, the county's real approval service.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from structlog.testing import capture_logs

from county_node.approval.domain import OPEN_STATUSES, Action
from county_node.approval.services import ApprovalService
from county_node.bootstrap import replication_appliers as county_appliers
from county_node.standards_validation import bundle_validators
from federation.errors import StandardsError
from federation.scoring_rules import default_scoring_rules
from federation.standards import StandardsBundle
from federation.storage.standards_status import STATUS_RECORD, StandardsStatusApplier, status_rows
from federation.storage.standards_store import current_bundle, in_force_version
from federation.storage.tables import cases, clock_moves, outbox, standards_status
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from province_center.bootstrap import replication_appliers as province_appliers
from province_center.standards import publish_standards
from sync_agent.store import SqlBatchSink, SqlBatchSource
from tests.conftest import FakeClock
from tests.integration.test_replication_store import rechain
from tests.integration.test_standards_down import (  # the template databases and bundles of the path down
    ALL,
    CITY,
    COUNTY,
    PROMISED,
    PROVINCE,
    STANDARDS_TABLES,
    clones,
    held,
    publish_clock,
    snapshot,
    standards_rec,
    successor,
    templates,
)

__all__ = ["clones", "publish_clock", "templates"]  # fixtures imported for this module

OTHER_COUNTY = "371121"  # 五莲县, the city's other county
FULL_DATA = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)  # type: ignore[misc]


def county_service(engine: Engine, clock: FakeClock, division: str = COUNTY) -> ApprovalService:
    return ApprovalService(engine, division, clock, standards_ttl=0.0, validators=bundle_validators())


def accepted_case(svc: ApprovalService) -> str:
    case = svc.submit(item_code=PROMISED, applicant="张三", data=FULL_DATA, actor="窗口 1")
    svc.act(case.case_no, Action.ACCEPT, actor="审批员")
    return case.case_no


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def reports(engine: Engine) -> dict[str, Any]:
    with UnitOfWork(engine, readonly=True) as uow:
        return status_rows(uow.conn)


# -- validation at publish and at apply ---------------------------------------------------------------------------


def bad_parameters(base: StandardsBundle) -> StandardsBundle:
    return successor(base, "2026.10.1", date(2026, 10, 1), rule_parameters={"yellow_days": 1, "yellow_share": 2})


def bad_scoring(base: StandardsBundle) -> StandardsBundle:
    rules = default_scoring_rules()
    rules["indicators"][0]["weight"] = "31"  # the weights add up to 101
    return successor(base, "2026.10.1", date(2026, 10, 1), scoring_rules=rules)


def test_a_bundle_a_rule_or_the_scoring_cannot_read_is_refused_at_publish_and_quarantined_on_receipt(
    clones: Callable[[], Engine], bundle: StandardsBundle, publish_clock: FakeClock
) -> None:
    province, county = clones(), clones()
    expected = {"yellow_share": "规则参数 yellow_share", "weights": "指标权重之和应为 100，实为 101"}
    before = snapshot(province, (*STANDARDS_TABLES, outbox, standards_status))
    for make, reason in ((bad_parameters, expected["yellow_share"]), (bad_scoring, expected["weights"])):
        with pytest.raises(StandardsError, match=reason):
            publish_standards(province, make(bundle), PROVINCE, publish_clock, bundle_validators())
    assert snapshot(province, (*STANDARDS_TABLES, outbox, standards_status)) == before

    target = SqlBatchSink(county, COUNTY, county_appliers(county_service(county, publish_clock)), relay=False)
    before = snapshot(county, (*STANDARDS_TABLES, outbox, standards_status))
    batches = rechain(PROVINCE, [standards_rec(1, bad_parameters(bundle)), standards_rec(2, bad_scoring(bundle))], 1)
    assert [target.receive(CITY, b).quarantined for b in batches] == [1, 1]
    assert snapshot(county, (*STANDARDS_TABLES, outbox, standards_status)) == before  # the old bundle stays
    first, second = (q.reason for q in held(county))
    assert first.startswith("标准包 2026.10.1 无效：")
    assert expected["yellow_share"] in first
    assert expected["weights"] in second
    with UnitOfWork(county, readonly=True) as uow:
        assert current_bundle(uow.conn) == bundle


# -- the effective date -------------------------------------------------------------------------------------------


def test_a_bundle_received_before_its_effective_date_is_held_and_comes_into_force_on_that_date(
    clones: Callable[[], Engine], bundle: StandardsBundle
) -> None:
    county = clones()
    clock = FakeClock(at(2026, 9, 29, 23, 50))
    svc = county_service(county, clock)
    v2 = successor(bundle, "2026.10.1", date(2026, 9, 30))  # promised limit of PROMISED one day shorter
    target = SqlBatchSink(county, COUNTY, county_appliers(svc), relay=False)
    assert target.receive(CITY, rechain(PROVINCE, [standards_rec(1, v2)], 1)[0]).quarantined == 0

    with UnitOfWork(county, readonly=True) as uow:
        assert in_force_version(uow.conn, date(2026, 9, 29)) == bundle.version  # the day before: the old one
        assert in_force_version(uow.conn, date(2026, 9, 30)) == v2.version  # from its date on: the new one
        assert current_bundle(uow.conn) == v2  # the newest held, which a newer bundle is compared with
    assert svc.standards.bundle == bundle
    before = svc.submit(item_code=PROMISED, applicant="张三", data=FULL_DATA, actor="窗口 1")
    assert before.standards_version == bundle.version
    assert before.promised_budget == bundle.item(PROMISED).promised_limit_days

    clock.now = at(2026, 9, 30, 0, 0)  # midnight in Shandong: the bundle comes into force
    with capture_logs() as logs:
        assert svc.standards.bundle == v2
    assert [(e["version"], e["previous"]) for e in logs if e["event"] == "standards.reloaded"] == [
        (v2.version, bundle.version)
    ]
    after = svc.submit(item_code=PROMISED, applicant="李四", data=FULL_DATA, actor="窗口 1")
    assert after.standards_version == v2.version
    assert after.promised_budget == v2.item(PROMISED).promised_limit_days
    # a case keeps the version it was accepted under, and the limits of that version
    kept = svc.get(before.case_no).case
    assert kept.standards_version == bundle.version
    assert kept.promised_budget == bundle.item(PROMISED).promised_limit_days
    # the county reported the bundle on receipt, with its effective date
    mine = reports(county)[COUNTY]
    assert (mine.version, mine.effective_date) == (v2.version, date(2026, 9, 30))


def test_calendar_years_of_a_pending_bundle_apply_on_receipt(
    clones: Callable[[], Engine], bundle: StandardsBundle
) -> None:
    county = clones()
    clock = FakeClock(at(2026, 9, 21, 9))
    svc = county_service(county, clock)
    extra = date(2026, 9, 25)  # a Friday, declared a holiday by the pending bundle's revised 2026
    pending = successor(bundle, "2026.12.1", date(2026, 12, 1), years=[revised_2026(bundle, extra)])
    target = SqlBatchSink(county, COUNTY, county_appliers(svc), relay=False)
    assert target.receive(CITY, rechain(PROVINCE, [standards_rec(1, pending)], 1)[0]).quarantined == 0
    assert svc.standards.bundle == bundle  # not yet in force...
    assert not svc.calendar.is_working_day(extra)  # ...but its calendar is data for every date


# -- a calendar revision moves the open cases' clocks, and says so -------------------------------------------------


def revised_2026(bundle: StandardsBundle, extra: date) -> Any:
    y2026 = bundle.calendar().year(2026)
    assert y2026 is not None
    return dataclasses.replace(y2026, holidays=y2026.holidays | {extra}, revision=y2026.revision + 1)


def test_a_calendar_revision_arriving_through_the_applier_moves_an_open_case_and_logs_it(
    clones: Callable[[], Engine], bundle: StandardsBundle
) -> None:
    county = clones()
    clock = FakeClock(at(2026, 9, 21, 9))
    svc = county_service(county, clock)
    moving = accepted_case(svc)
    waiting = svc.submit(item_code=PROMISED, applicant="王五", data=FULL_DATA, actor="窗口 2")  # not yet accepted
    with county.connect() as conn:
        old_due, old_legal = conn.execute(
            select(cases.c.idx_due_at, cases.c.idx_legal_due_at).where(cases.c.case_no == moving)
        ).one()
    extra = date(2026, 9, 23)  # a Wednesday inside the case's 5 working days becomes a holiday
    revised = successor(bundle, "2026.09.2", date(2026, 9, 21), years=[revised_2026(bundle, extra)], promised_cut=0)
    target = SqlBatchSink(county, COUNTY, county_appliers(svc), relay=False)
    with capture_logs() as logs:
        (batch,) = rechain(PROVINCE, [standards_rec(1, revised)], 1)
        assert target.receive(CITY, batch).quarantined == 0

    with county.connect() as conn:
        new_due, new_legal = conn.execute(
            select(cases.c.idx_due_at, cases.c.idx_legal_due_at).where(cases.c.case_no == moving)
        ).one()
    assert new_due > old_due
    assert new_legal > old_legal
    with county.connect() as conn:
        (move,) = conn.execute(select(clock_moves)).all()
    by_name = move._asdict()
    assert by_name["case_no"] == moving
    assert (by_name["old_due_at"], by_name["new_due_at"]) == (old_due, new_due)
    assert (by_name["old_legal_due_at"], by_name["new_legal_due_at"]) == (old_legal, new_legal)
    assert by_name["standards_version"] == revised.version
    assert by_name["calendar_version"] == svc.calendar.version
    assert svc.get(moving).clocks is not None
    (line,) = [e for e in logs if e["event"] == "clock.recomputed"]
    # the case not yet accepted has no clock: it is looked at, not moved
    assert (line["cases_moved"], line["standards_version"]) == (1, revised.version)
    assert line["open_cases"] == (2 if waiting.status in OPEN_STATUSES else 1)
    # the county's report of the new version went into its outbox in the same transaction
    with county.connect() as conn:
        assert [r.record_type for r in conn.execute(select(outbox).where(outbox.c.origin == COUNTY))][-1] == (
            STATUS_RECORD
        )
    assert reports(county)[COUNTY].calendar_revisions["2026"] == revised_2026(bundle, extra).revision


# -- which node runs which version --------------------------------------------------------------------------------


def test_a_bundle_reaches_every_county_through_the_city_once_and_every_report_reaches_the_province(
    clones: Callable[[], Engine], bundle: StandardsBundle, publish_clock: FakeClock
) -> None:
    from city_aggregator.bootstrap import replication_appliers as city_appliers

    province, city, counties = clones(), clones(), {COUNTY: clones(), OTHER_COUNTY: clones()}
    v2 = successor(bundle, "2026.10.1", date(2026, 9, 28))
    publish_standards(province, v2, PROVINCE, publish_clock, bundle_validators())
    city_sink = SqlBatchSink(city, CITY, city_appliers(CITY), relay=True)
    services = {code: county_service(engine, publish_clock, code) for code, engine in counties.items()}
    county_sinks = {
        code: SqlBatchSink(engine, code, county_appliers(services[code]), relay=False)
        for code, engine in counties.items()
    }
    province_sink = SqlBatchSink(province, PROVINCE, province_appliers(PROVINCE), relay=False)

    def down() -> None:
        source = SqlBatchSource(province, PROVINCE)
        source.seal()
        (mark,) = city_sink.marks([PROVINCE])
        for b in source.batches_after(PROVINCE, mark.high_water, ALL):
            city_sink.receive(PROVINCE, b)
        city_source = SqlBatchSource(city, CITY)
        city_source.seal()
        for sink in county_sinks.values():
            for origin in (PROVINCE, CITY):
                (mark,) = sink.marks([origin])
                for b in city_source.batches_after(origin, mark.high_water, ALL):
                    sink.receive(CITY, b)

    def up() -> None:
        for code, engine in counties.items():
            source = SqlBatchSource(engine, code)
            source.seal()
            (mark,) = city_sink.marks([code])
            for b in source.batches_after(code, mark.high_water, ALL):
                city_sink.receive(code, b)
        city_source = SqlBatchSource(city, CITY)
        city_source.seal()
        for origin in (CITY, *counties):
            (mark,) = province_sink.marks([origin])
            for b in city_source.batches_after(origin, mark.high_water, ALL):
                province_sink.receive(CITY, b)

    down()
    down()  # again: nothing new, nothing applied twice
    for code, engine in counties.items():
        with UnitOfWork(engine, readonly=True) as uow:
            assert current_bundle(uow.conn) == v2
        assert held(engine) == []
        with engine.connect() as conn:  # applied once: one report of the county's own
            assert conn.execute(select(func.count()).where(outbox.c.origin == code)).scalar_one() == 1
    up()
    up()
    assert held(city) == held(province) == []
    at_province = reports(province)
    assert sorted(at_province) == sorted([PROVINCE, CITY, *counties])
    assert {r.version for r in at_province.values()} == {v2.version}
    assert {r.digest for r in at_province.values()} == {v2.digest}

    # a report never goes back: an older one of a node (lower seq) does not overwrite a newer one
    older = dataclasses.replace(at_province[COUNTY], version="2026.09.1", origin_seq=0)
    with UnitOfWork(province) as uow:
        StandardsStatusApplier().apply(uow.conn, COUNTY, [_prepared(older)])
        uow.commit()
    assert reports(province)[COUNTY].version == v2.version


def _prepared(status: Any) -> Any:
    from federation.replication import Prepared, Record

    payload = json.dumps(status.to_payload()).encode()
    return Prepared(Record(STATUS_RECORD, status.node, "upsert", status.origin_seq or 0, payload, 0), status)


def test_a_report_of_another_node_or_a_malformed_one_is_quarantined(clones: Callable[[], Engine]) -> None:
    city = clones()
    sink = SqlBatchSink(city, CITY, {STATUS_RECORD: StandardsStatusApplier()}, relay=False)
    good = {
        "node": COUNTY,
        "version": "2026.10.1",
        "digest": "0" * 64,
        "effective_date": "2026-10-01",
        "applied_at": "2026-09-28T10:00:00+08:00",
        "calendar_revisions": {"2026": 1},
    }

    def rec(seq: int, payload: dict[str, Any], record_id: str = COUNTY) -> Any:
        from federation.replication import Record
        from federation.storage.outbox import canonical_json

        return Record(STATUS_RECORD, record_id, "upsert", seq, canonical_json(payload).encode(), 0)

    records = [
        rec(1, good | {"node": OTHER_COUNTY}, OTHER_COUNTY),  # a county reporting for another
        rec(2, good | {"effective_date": "2026-13-01"}),
        rec(3, good | {"calendar_revisions": {"2026": "1"}}),
        rec(4, good),
    ]
    receipts = [sink.receive(CITY, b) for b in rechain(COUNTY, records, 1)]
    assert [r.quarantined for r in receipts] == [1, 1, 1, 0]
    reasons = [q.reason for q in held(city)]
    assert "只能由节点自己报告" in reasons[0]
    assert "标准版本状态记录无效" in reasons[1]
    assert "calendar_revisions" in reasons[2]
    assert reports(city)[COUNTY].origin_seq == 4


def test_status_rows_are_scoped_by_prefix(clones: Callable[[], Engine], bundle: StandardsBundle) -> None:
    engine = clones()
    with UnitOfWork(engine) as uow:
        for node in (PROVINCE, CITY, COUNTY, "370102"):
            uow.conn.execute(
                standards_status.insert().values(
                    node=node,
                    version=bundle.version,
                    digest=bundle.digest,
                    effective_date=bundle.effective_date,
                    applied_at=at(2026, 9, 1, 8),
                    calendar_revisions={},
                    origin_seq=1,
                )
            )
        uow.conn.execute(update(standards_status).where(standards_status.c.node == COUNTY).values(version="x"))
        uow.commit()
    with UnitOfWork(engine, readonly=True) as uow:
        assert sorted(status_rows(uow.conn, "3711")) == [CITY, COUNTY]
        assert status_rows(uow.conn, "3711")[COUNTY].version == "x"
        assert len(status_rows(uow.conn)) == 4


# -- the indexed light moments follow the light policy in force, at every tier ------------------------------------


def _yellow_at(engine: Engine, case_no: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(cases.c.idx_yellow_at).where(cases.c.case_no == case_no)).scalar_one()


def test_new_light_thresholds_coming_into_force_reindex_the_open_cases_even_after_a_restart(
    clones: Callable[[], Engine], bundle: StandardsBundle
) -> None:
    """Review finding: with no standards cached (a restarted node), a bundle bringing other yellow thresholds into
    force used to leave every open case's indexed yellow moment on the old policy."""
    county = clones()
    clock = FakeClock(at(2026, 9, 29, 9))
    svc = county_service(county, clock)
    case_no = accepted_case(svc)
    old_yellow = _yellow_at(county, case_no)
    wider = successor(
        bundle, "2026.10.1", date(2026, 9, 30), promised_cut=0, rule_parameters={"yellow_days": 3, "yellow_share": 0.8}
    )
    target = SqlBatchSink(county, COUNTY, county_appliers(svc), relay=False)
    assert target.receive(CITY, rechain(PROVINCE, [standards_rec(1, wider)], 1)[0]).quarantined == 0
    assert _yellow_at(county, case_no) == old_yellow  # pending: nothing moves before its date

    clock.now = at(2026, 9, 30, 8)  # the node was down at midnight; a new process starts the next morning
    restarted = county_service(county, clock)
    assert restarted.policy.yellow_days == 3
    assert _yellow_at(county, case_no) < old_yellow  # three working days of warning instead of one
    with capture_logs() as logs:
        county_service(county, clock).standards  # noqa: B018 - a second process finds nothing left to do
    assert not [e for e in logs if e["event"] == "standards.policy_switched"]


def test_a_citys_replicas_follow_the_bundles_light_policy_and_a_calendar_revision(
    clones: Callable[[], Engine], bundle: StandardsBundle, publish_clock: FakeClock
) -> None:
    """Review finding: replicas were indexed with the default thresholds whatever the bundle said, and a calendar
    revision never moved them — an inspector's light counts disagreed with the county's."""
    from city_aggregator.bootstrap import replication_appliers as city_appliers

    province, city, county = clones(), clones(), clones()
    wider = successor(bundle, "2026.09.2", date(2026, 9, 21), promised_cut=0, rule_parameters={"yellow_days": 3})
    publish_standards(province, wider, PROVINCE, publish_clock, bundle_validators())
    city_sink = SqlBatchSink(city, CITY, city_appliers(CITY), relay=True)
    county_sink = SqlBatchSink(county, COUNTY, county_appliers(county_service(county, publish_clock)), relay=False)

    def flow() -> None:
        for source_engine, origin, sink, sender in (
            (province, PROVINCE, city_sink, PROVINCE),
            (city, PROVINCE, county_sink, CITY),
            (county, COUNTY, city_sink, COUNTY),
        ):
            source = SqlBatchSource(source_engine, CITY if source_engine is city else origin)
            source.seal()
            (mark,) = sink.marks([origin])
            for b in source.batches_after(origin, mark.high_water, ALL):
                assert sink.receive(sender, b).quarantined == 0

    flow()
    clock = FakeClock(at(2026, 9, 22, 9))
    svc = county_service(county, clock)
    case_no = accepted_case(svc)
    flow()
    assert _yellow_at(city, case_no) == _yellow_at(county, case_no) is not None

    extra = date(2026, 9, 24)  # a Thursday inside the case's working days becomes a holiday
    revised = successor(wider, "2026.09.3", date(2026, 9, 21), promised_cut=0, years=[revised_2026(wider, extra)])
    publish_standards(province, revised, PROVINCE, publish_clock, bundle_validators())
    flow()
    with county.connect() as c, city.connect() as k:
        due = select(cases.c.idx_due_at).where(cases.c.case_no == case_no)
        assert k.execute(due).scalar_one() == c.execute(due).scalar_one()
        assert [r.case_no for r in k.execute(select(clock_moves))] == [case_no]  # the city logged what moved


def test_a_bundle_held_already_delivered_again_is_a_no_op_not_a_poison_record(
    clones: Callable[[], Engine], bundle: StandardsBundle
) -> None:
    """Review finding: re-delivering a bundle the node holds but that is no longer its newest (a resend, a replay)
    was quarantined as "older"; the same content is a no-op, other content under that version is tampering."""
    from federation.replication import Prepared
    from federation.storage.standards_replica import StandardsApplier

    county = clones()
    v2 = successor(bundle, "2026.10.1", date(2026, 9, 28))
    svc = county_service(county, FakeClock(at(2026, 9, 21)))
    target = SqlBatchSink(county, COUNTY, county_appliers(svc), relay=False)
    assert target.receive(CITY, rechain(PROVINCE, [standards_rec(1, v2)], 1)[0]).quarantined == 0
    applier = StandardsApplier(validators=bundle_validators())
    tampered = dataclasses.replace(bundle, rule_parameters={**bundle.rule_parameters, "yellow_days": 2})
    with UnitOfWork(county) as uow:
        again = applier.apply(uow.conn, PROVINCE, [Prepared(standards_rec(2, bundle), bundle)])
        assert again == []
        (refused,) = applier.apply(uow.conn, PROVINCE, [Prepared(standards_rec(3, tampered), tampered)])
        assert "内容不同" in refused.reason
        assert current_bundle(uow.conn) == v2


def test_the_admins_replay_applies_with_the_appliers_serve_uses(
    clones: Callable[[], Engine], bundle: StandardsBundle
) -> None:
    """Review finding: ``admin quarantine replay`` built a county's appliers without its services — no order
    applier, and a replayed bundle neither moved the open cases' clocks nor was reported up."""
    from federation.config import Config, NodeConfig
    from federation.nodes import build_node

    county = clones()
    appliers = build_node(Config(node=NodeConfig(division=COUNTY, name="莒县")), engine=county).receiver_appliers()
    assert {"standards", "standards_status", "score", "order"} <= set(appliers)
    assert "order_reply" in build_node(Config(node=NodeConfig(division=CITY)), engine=county).receiver_appliers()
    v2 = successor(bundle, "2026.10.1", date(2026, 9, 28))
    sink = SqlBatchSink(county, COUNTY, appliers, relay=False)
    assert sink.receive(CITY, rechain(PROVINCE, [standards_rec(1, v2)], 1)[0]).quarantined == 0
    assert reports(county)[COUNTY].version == v2.version  # reported up, as the serving receiver does


def test_the_first_case_after_midnight_is_accepted_under_the_bundle_coming_into_force_whatever_the_cache(
    clones: Callable[[], Engine], bundle: StandardsBundle
) -> None:
    """Review finding: the standards cached for a few seconds could accept a case just after midnight under the
    previous bundle; the cache now also ends with the local date it was read for."""
    county = clones()
    clock = FakeClock(at(2026, 9, 29, 23, 59))
    svc = ApprovalService(county, COUNTY, clock, standards_ttl=3600.0, validators=bundle_validators())
    v2 = successor(bundle, "2026.10.1", date(2026, 9, 30))
    assert svc.standards.bundle == bundle  # cached for an hour of process time
    receiver = county_service(county, clock)  # the receiver is another process: this one's cache is not told
    target = SqlBatchSink(county, COUNTY, county_appliers(receiver), relay=False)
    assert target.receive(CITY, rechain(PROVINCE, [standards_rec(1, v2)], 1)[0]).quarantined == 0
    clock.now = at(2026, 9, 30, 0, 0, 3)
    case = svc.submit(item_code=PROMISED, applicant="张三", data=FULL_DATA, actor="窗口 1")
    assert case.standards_version == v2.version
