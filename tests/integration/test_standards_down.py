"""Standards flow down: published at the province, relayed unchanged by the city, applied atomically by a county.

The same replication path that carries cases up carries the province's ``standards`` records down: the
province's outbox is sealed into hash-chained batches, the city receives them with ``relay=True`` (applying the
bundle itself and keeping the batches), and the county receives the city's copy. Runs on real SQLite and real
PostgreSQL, on clones of one template database per backend (a node with the demo bundle ``2026.09.1`` in force).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

import province_center.standards as province_standards
from county_node.approval.adapters.replica import default_appliers
from federation.calendar import WorkingCalendar, YearCalendar
from federation.errors import Conflict, StandardsError, ValidationError
from federation.replication import Applier, Record
from federation.standards import StandardsBundle
from federation.storage import standards_replica
from federation.storage.outbox import canonical_json, high_water
from federation.storage.standards_replica import (
    STANDARDS_RECORD,
    StandardsApplier,
    is_newer,
    version_key,
)
from federation.storage.standards_status import STATUS_RECORD, StandardsStatusApplier, status_rows
from federation.storage.standards_store import AppliedStandards, apply_bundle, current_bundle, load_calendar
from federation.storage.tables import (
    batch_log,
    calendar_years,
    catalogue_items,
    counters,
    node_settings,
    outbox,
    quarantine,
    replication_marks,
    standards_bundles,
    standards_status,
)
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from province_center.standards import publish_standards
from sync_agent.domain import Batch
from sync_agent.ports import Receipt
from sync_agent.store import SqlBatchSink, SqlBatchSource
from tests.conftest import FakeClock
from tests.integration.test_replication_store import Databases, rechain, rows

PROVINCE, CITY, COUNTY = "370000", "371100", "371122"
ALL = 10**6
PROMISED = "XK00003000"  # 食品经营许可: legal 10, promised 5 working days
NEW_YEAR_2027, MAKEUP_2027 = date(2027, 1, 1), date(2027, 2, 14)  # a Friday off, a Sunday worked (illustrative)
STANDARDS_TABLES = (standards_bundles, catalogue_items, calendar_years, node_settings)
WATCHED = (*STANDARDS_TABLES, outbox, batch_log, replication_marks, quarantine, counters)


# -- bundles ------------------------------------------------------------------------------------------------------


def year_2027(revision: int = 1, *extra_holidays: date, source: str = "山东省人民政府办公厅") -> YearCalendar:
    holidays = {NEW_YEAR_2027, *(date(2027, 2, d) for d in range(6, 13)), *extra_holidays}
    return YearCalendar(2027, frozenset(holidays), frozenset({MAKEUP_2027}), revision=revision, source=source)


def successor(
    base: StandardsBundle,
    version: str,
    effective: date,
    *,
    years: Sequence[YearCalendar] = (),
    promised_cut: int = 1,
    **changes: Any,
) -> StandardsBundle:
    """``base`` with a new version, the promised limit of one item shortened and ``years`` added or replaced."""
    items = tuple(
        dataclasses.replace(i, promised_limit_days=i.promised_limit_days - promised_cut) if i.code == PROMISED else i
        for i in base.items
    )
    by_year = {y.year: y for y in base.calendar_years} | {y.year: y for y in years}
    return dataclasses.replace(
        base,
        version=version,
        effective_date=effective,
        items=items,
        calendar_years=tuple(by_year[y] for y in sorted(by_year)),
        **changes,
    )


@pytest.fixture
def v2(bundle: StandardsBundle) -> StandardsBundle:
    return successor(bundle, "2026.10.1", date(2026, 10, 1), years=[year_2027()])


@pytest.fixture
def v3(v2: StandardsBundle) -> StandardsBundle:
    return successor(v2, "2026.11.1", date(2026, 11, 1), years=[year_2027(2, date(2027, 2, 15))])


def standards_rec(seq: int, bundle: StandardsBundle | dict[str, Any], **overrides: Any) -> Record:
    """A hand-made ``standards`` record, as a province's outbox would carry it."""
    content = bundle.to_dict() if isinstance(bundle, StandardsBundle) else bundle
    fields: dict[str, Any] = {
        "record_type": STANDARDS_RECORD,
        "record_id": str(content.get("version", "?")),
        "op": "upsert",
        "origin_seq": seq,
        "payload": canonical_json(content).encode(),
        "created_at_us": 0,
    } | overrides
    return Record(**fields)


# -- databases ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def templates(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, bundle: StandardsBundle
) -> Iterator[Databases]:
    dbs = Databases(request.param, tmp_path_factory.mktemp("standards"))
    try:

        def node(engine: Engine) -> None:  # every tier starts with the demo bundle in force
            with UnitOfWork(engine) as uow:
                apply_bundle(uow.conn, bundle, datetime(2026, 9, 1, 8, tzinfo=CST))
                uow.commit()

        dbs.build_template("node", node)
        yield dbs
    finally:
        dbs.close()


@pytest.fixture
def clones(templates: Databases) -> Iterator[Callable[[], Engine]]:
    engines: list[Engine] = []

    def clone() -> Engine:
        engine = templates.clone("node")
        engines.append(engine)
        return engine

    yield clone
    for engine in engines:
        engine.dispose()
    templates.drop(keep=1)


@pytest.fixture
def province(clones: Callable[[], Engine]) -> Engine:
    return clones()


@pytest.fixture
def city(clones: Callable[[], Engine]) -> Engine:
    return clones()


@pytest.fixture
def county(clones: Callable[[], Engine]) -> Engine:
    return clones()


@pytest.fixture
def publish_clock() -> FakeClock:
    return FakeClock(datetime(2026, 9, 28, 10, 0, tzinfo=CST))


# -- helpers ------------------------------------------------------------------------------------------------------


def appliers(**options: Any) -> dict[str, Applier[Any]]:
    """What a real node runs: the standards first (cases are indexed with the calendar), the nodes' reports of the
    standards they run, then the case records."""
    return {
        STANDARDS_RECORD: StandardsApplier(**options),
        STATUS_RECORD: StandardsStatusApplier(),
        **default_appliers(),
    }


def current(engine: Engine) -> StandardsBundle | None:
    with UnitOfWork(engine, readonly=True) as uow:
        return current_bundle(uow.conn)


def calendar_of(engine: Engine) -> WorkingCalendar:
    with UnitOfWork(engine, readonly=True) as uow:
        return load_calendar(uow.conn)


def snapshot(engine: Engine, tables: Sequence[Any] = WATCHED) -> dict[str, list[tuple[Any, ...]]]:
    return {t.name: rows(engine, t) for t in tables}


def held(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(quarantine).order_by(quarantine.c.id)).all())


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def versions_held(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(standards_bundles.c.version)).scalars())


@dataclasses.dataclass
class Downstream:
    """The city and the county sinks, and the path from the province to the county through the city."""

    province: Engine
    city: Engine
    county: Engine
    city_sink: SqlBatchSink
    county_sink: SqlBatchSink

    def flow(self) -> tuple[list[Batch], list[Batch], list[Receipt]]:
        """Seal the province's outbox; city receives (and keeps) what it lacks; county receives the city's copy."""
        source = SqlBatchSource(self.province, PROVINCE)
        source.seal()
        (city_mark,) = self.city_sink.marks([PROVINCE])
        sent = source.batches_after(PROVINCE, city_mark.high_water, ALL)
        for b in sent:
            assert not self.city_sink.receive(PROVINCE, b).duplicate
        (county_mark,) = self.county_sink.marks([PROVINCE])
        relayed = SqlBatchSource(self.city, CITY).batches_after(PROVINCE, county_mark.high_water, ALL)
        receipts = [self.county_sink.receive(CITY, b) for b in relayed]
        return sent, relayed, receipts


@pytest.fixture
def down(province: Engine, city: Engine, county: Engine) -> Downstream:
    return Downstream(
        province,
        city,
        county,
        SqlBatchSink(city, CITY, appliers(node=CITY), relay=True),
        SqlBatchSink(county, COUNTY, appliers(node=COUNTY), relay=False),
    )


# -- the path down ------------------------------------------------------------------------------------------------


def test_a_bundle_published_at_the_province_reaches_the_county_through_the_city(
    down: Downstream, bundle: StandardsBundle, v2: StandardsBundle, publish_clock: FakeClock
) -> None:
    assert calendar_of(down.county).is_working_day(NEW_YEAR_2027)  # 2027 unpublished: the provisional rule
    publication = publish_standards(down.province, v2, PROVINCE, publish_clock)
    assert (publication.seq, publication.previous, publication.calendar_changed) == (1, bundle.version, True)
    # published = in force at the province, and one outbox row carrying the bundle's canonical JSON
    assert current(down.province) == v2
    with down.province.connect() as conn:
        row, report = conn.execute(select(outbox).order_by(outbox.c.seq)).all()
    assert (row.origin, row.seq, row.record_type, row.record_id, row.op) == (
        PROVINCE,
        1,
        "standards",
        v2.version,
        "upsert",
    )
    assert row.payload == canonical_json(v2.to_dict())
    # and, in the same transaction, the province's own report of the version it runs
    assert (report.seq, report.record_type, report.record_id) == (2, STATUS_RECORD, PROVINCE)
    assert StandardsBundle.from_json(row.payload).digest == v2.digest

    sent, relayed, receipts = down.flow()
    # the city forwards the province's batches byte for byte: same boundaries, records and hashes
    assert len(sent) == 1
    assert relayed == sent
    assert [b.batch_hash for b in relayed] == [b.batch_hash for b in sent]
    assert [r.quarantined for r in receipts] == [0]

    for node in (down.city, down.county):  # the city applies it too: it indexes its case replicas with it
        in_force = current(node)
        assert in_force is not None
        assert (in_force.version, in_force.digest) == (v2.version, v2.digest)
        assert in_force.to_dict() == v2.to_dict()
        assert in_force.item(PROMISED).promised_limit_days == bundle.item(PROMISED).promised_limit_days - 1
    calendar = calendar_of(down.county)
    assert calendar.is_published(2027)
    assert not calendar.is_working_day(NEW_YEAR_2027)
    assert calendar.is_working_day(MAKEUP_2027)
    assert calendar.version == calendar_of(down.province).version  # the very same published years
    # the same catalogue rows as the province, for both versions (history kept)
    assert rows(down.county, catalogue_items) == rows(down.province, catalogue_items)
    assert versions_held(down.county) == sorted([bundle.version, v2.version])
    assert held(down.county) == []
    assert held(down.city) == []
    # relay=False: the county keeps no copy of the stream; its outbox holds only its own report, to go up
    with down.county.connect() as conn:
        assert [(r.origin, r.record_type) for r in conn.execute(select(outbox))] == [(COUNTY, STATUS_RECORD)]
    with down.city.connect() as conn:  # the city keeps the province's batch to forward, and reports its own
        assert sorted((r.origin, r.record_type) for r in conn.execute(select(outbox))) == [
            (PROVINCE, STANDARDS_RECORD),
            (PROVINCE, STATUS_RECORD),
            (CITY, STATUS_RECORD),
        ]
    assert count(down.city, batch_log) == 1
    # every node reports what it runs; the county also holds the reports of the nodes above it
    for node, reporter in ((down.province, PROVINCE), (down.city, CITY), (down.county, COUNTY)):
        with UnitOfWork(node, readonly=True) as uow:
            mine = status_rows(uow.conn)[reporter]
        assert (mine.version, mine.digest, mine.effective_date) == (v2.version, v2.digest, v2.effective_date)
        assert mine.calendar_revisions["2027"] == 1
    with UnitOfWork(down.county, readonly=True) as uow:
        assert sorted(status_rows(uow.conn)) == [PROVINCE, COUNTY]


def test_a_newer_bundle_replaces_it_and_a_redelivery_is_a_duplicate_that_changes_nothing(
    down: Downstream, v2: StandardsBundle, v3: StandardsBundle, publish_clock: FakeClock
) -> None:
    seen: list[tuple[str, bool]] = []

    def on_applied(conn: Any, result: AppliedStandards) -> None:
        assert current_bundle(conn) == result.bundle  # called inside the receiving transaction
        seen.append((result.bundle.version, result.calendar_changed))

    down.county_sink = SqlBatchSink(down.county, COUNTY, appliers(on_applied=on_applied), relay=False)
    publish_standards(down.province, v2, PROVINCE, publish_clock)
    down.flow()
    publish_clock.now += timedelta(days=30)
    assert publish_standards(down.province, v3, PROVINCE, publish_clock).seq == 3  # after v2 and its report
    sent, relayed, _ = down.flow()
    assert relayed == sent
    assert seen == [(v2.version, True), (v3.version, True)]

    in_force = current(down.county)
    assert in_force is not None
    assert (in_force.version, in_force.digest) == (v3.version, v3.digest)
    revised = calendar_of(down.county).year(2027)
    assert revised is not None
    assert revised.revision == 2
    assert not calendar_of(down.county).is_working_day(date(2027, 2, 15))

    # resending everything from the start: duplicates, acknowledged, nothing written
    for node, sink, sender in ((down.city, down.city_sink, PROVINCE), (down.county, down.county_sink, CITY)):
        before = snapshot(node)
        every = SqlBatchSource(down.province, PROVINCE).batches_after(PROVINCE, 0, ALL)
        assert len(every) == 2
        for b in every:
            receipt = sink.receive(sender, b)
            assert receipt.duplicate
            assert receipt.mark.high_water == 4
        assert snapshot(node) == before
    assert seen == [(v2.version, True), (v3.version, True)]


def test_an_older_or_tampered_bundle_is_quarantined_with_its_reason_one_held_already_is_a_no_op(
    county: Engine, bundle: StandardsBundle, v2: StandardsBundle, v3: StandardsBundle
) -> None:
    tampered = dataclasses.replace(v3, scoring_rules={"yellow": -50})
    target = SqlBatchSink(county, COUNTY, appliers(node=COUNTY), relay=False)
    batches = rechain(
        PROVINCE,
        [
            standards_rec(1, v3),
            standards_rec(2, v2),  # older: never downgrade
            standards_rec(3, bundle),  # the one the county started with, held already: nothing to do
            standards_rec(4, v3),  # the same again (a republication): nothing to do
            standards_rec(5, tampered),  # the same version with other content
        ],
        1,
    )
    assert target.receive(CITY, batches[0]).quarantined == 0
    before = snapshot(county, (*STANDARDS_TABLES, standards_status, outbox))
    receipts = [target.receive(CITY, b) for b in batches[1:]]
    assert [r.quarantined for r in receipts] == [1, 0, 0, 1]
    assert snapshot(county, (*STANDARDS_TABLES, standards_status, outbox)) == before  # nothing written, v3 stays
    assert current(county) == v3
    assert versions_held(county) == sorted([bundle.version, v3.version])
    reasons = {q.seq: (q.record_id, q.reason) for q in held(county)}
    assert sorted(reasons) == [2, 5]
    assert reasons[2][1] == (
        "标准包 2026.10.1（生效日期 2026-10-01）早于本节点已有的 2026.11.1（生效日期 2026-11-01），"
        "拒绝应用；继续使用 2026.11.1"
    )
    assert reasons[5] == (v3.version, "标准版本 2026.11.1 已在使用但内容不同，拒绝应用（可能被篡改）")


# -- poison records -----------------------------------------------------------------------------------------------


def test_malformed_bundles_are_quarantined_with_a_reason_and_the_stream_goes_on(
    county: Engine, v2: StandardsBundle
) -> None:
    good = v2.to_dict()
    too_long_promise = json.loads(json.dumps(good))
    too_long_promise["items"][0]["promised_limit_days"] = 999
    not_a_bundle = {k: v for k, v in good.items() if k != "format"}
    wrong_types = good | {"items": [1, 2]}
    unknown_part = good | {"warning_rules": {"yellow_days": 2}}
    foreign_issuer = good | {"issuer": "360000"}
    records = [
        standards_rec(1, too_long_promise),
        standards_rec(2, not_a_bundle),
        standards_rec(3, wrong_types),
        standards_rec(4, good, record_id="2026.10.9"),
        standards_rec(5, foreign_issuer),
        standards_rec(6, good, op="delete"),
        standards_rec(7, unknown_part),
        standards_rec(8, good, payload=b'{"format": "sunshine-standards/1", '),
        standards_rec(9, good),
    ]
    target = SqlBatchSink(county, COUNTY, appliers(), relay=False)
    # one batch each: an upsert followed in its batch by another of the same record is skipped unread
    receipts = [target.receive(CITY, b) for b in rechain(PROVINCE, records, 1)]
    assert [r.quarantined for r in receipts] == [1] * 8 + [0]
    assert receipts[-1].mark.high_water == 9
    reasons = {q.seq: q.reason for q in held(county)}
    assert "承诺时限不能长于法定时限" in reasons[1]
    assert "不是 Sunshine 标准包" in reasons[2]
    assert "标准包格式错误" in reasons[3]
    assert "与记录编号“2026.10.9”不符" in reasons[4]
    assert "签发机关 360000" in reasons[5]
    assert "不支持操作“delete”" in reasons[6]
    assert "无法识别的内容" in reasons[7]
    assert "JSON" in reasons[8]
    assert all(q.origin == PROVINCE and q.state == "held" for q in held(county))
    # the good bundle behind them was applied
    assert current(county) == v2


def test_a_bundle_originated_below_the_province_is_quarantined_and_the_province_stream_goes_on(
    down: Downstream, v2: StandardsBundle, publish_clock: FakeClock
) -> None:
    forged = dataclasses.replace(v2, version="2099.01.1", effective_date=date(2099, 1, 1), issuer=COUNTY)
    by_county = rechain(COUNTY, [standards_rec(1, forged), standards_rec(2, v2)], 2)
    by_city = rechain(CITY, [standards_rec(1, dataclasses.replace(forged, issuer=CITY))], 1)
    before = current(down.city)
    assert down.city_sink.receive(COUNTY, by_county[0]).quarantined == 2
    assert down.county_sink.receive(CITY, by_city[0]).quarantined == 1
    for node, origin in ((down.city, COUNTY), (down.county, CITY)):
        reasons = [q.reason for q in held(node)]
        assert reasons
        assert all(f"标准包只能由省级节点发布，不能由 {origin} 发送" in r for r in reasons)
    assert current(down.city) == current(down.county) == before

    publish_standards(down.province, v2, PROVINCE, publish_clock)
    down.flow()
    assert current(down.county) == v2
    assert current(down.city) == v2


# -- atomicity ----------------------------------------------------------------------------------------------------


def test_a_bundle_the_store_refuses_midway_leaves_nothing_behind_and_the_next_one_applies(
    county: Engine, bundle: StandardsBundle, v3: StandardsBundle
) -> None:
    # apply_bundle writes the bundle row, its catalogue and the revised 2025 before it reaches 2026, whose days
    # changed without a new revision: it refuses there, midway
    y2025, y2026 = (bundle.calendar().year(y) for y in (2025, 2026))
    assert y2025 is not None
    assert y2026 is not None
    revised_2025 = dataclasses.replace(y2025, holidays=y2025.holidays | {date(2025, 3, 3)}, revision=2)
    sneaky_2026 = dataclasses.replace(y2026, holidays=y2026.holidays | {date(2026, 3, 3)})
    bad = successor(bundle, "2026.10.1", date(2026, 10, 1), years=[revised_2025, sneaky_2026, year_2027()])
    before = snapshot(county, STANDARDS_TABLES)
    target = SqlBatchSink(county, COUNTY, appliers(), relay=False)
    (receipt,) = [target.receive(CITY, b) for b in rechain(PROVINCE, [standards_rec(1, bad)], 1)]
    assert receipt.quarantined == 1
    assert snapshot(county, STANDARDS_TABLES) == before  # no bundle row, no catalogue, no calendar year
    (q,) = held(county)
    assert "修订号" in q.reason

    target.receive(CITY, rechain(PROVINCE, [standards_rec(1, bad), standards_rec(2, v3)], 1)[1])
    assert current(county) == v3


def test_a_database_failure_after_a_partial_write_leaves_nothing_behind(
    county: Engine, v2: StandardsBundle, v3: StandardsBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = apply_bundle

    def fails_after_writing(conn: Any, bundle: StandardsBundle, now: datetime) -> AppliedStandards:
        real(conn, bundle, now)  # everything written, the setting switched...
        assert current_bundle(conn) == bundle
        raise IntegrityError("INSERT INTO catalogue_items …", {}, Exception("模拟的约束冲突"))  # ...then refused

    monkeypatch.setattr(standards_replica, "apply_bundle", fails_after_writing)
    before = snapshot(county, STANDARDS_TABLES)
    batches = rechain(PROVINCE, [standards_rec(1, v2), standards_rec(2, v3)], 1)
    target = SqlBatchSink(county, COUNTY, appliers(), relay=False)
    assert target.receive(CITY, batches[0]).quarantined == 1
    assert snapshot(county, STANDARDS_TABLES) == before
    (q,) = held(county)
    assert q.reason == "写入失败：模拟的约束冲突"

    monkeypatch.undo()
    assert target.receive(CITY, batches[1]).quarantined == 0
    assert current(county) == v3


def test_a_value_the_database_refuses_is_quarantined_and_leaves_nothing_behind(
    templates: Databases, county: Engine, v2: StandardsBundle
) -> None:
    if templates.backend == "sqlite":
        pytest.skip("SQLite does not enforce VARCHAR lengths; the same path is covered by the injected failure")
    bad = successor(v2, "2026.10.2", date(2026, 10, 2), years=[year_2027(source="来源" * 60)])  # > String(100)
    before = snapshot(county, STANDARDS_TABLES)
    target = SqlBatchSink(county, COUNTY, appliers(), relay=False)
    (receipt,) = [target.receive(CITY, b) for b in rechain(PROVINCE, [standards_rec(1, bad)], 1)]
    assert receipt.quarantined == 1
    assert snapshot(county, STANDARDS_TABLES) == before
    (q,) = held(county)
    assert q.reason.startswith("写入失败")


# -- publishing ---------------------------------------------------------------------------------------------------


def test_publishing_refuses_a_bundle_that_is_not_newer_and_writes_nothing(
    province: Engine, bundle: StandardsBundle, v2: StandardsBundle, publish_clock: FakeClock
) -> None:
    before = snapshot(province)
    same_day_lower = dataclasses.replace(v2, version="2026.09.0", effective_date=bundle.effective_date)
    earlier = dataclasses.replace(v2, version="2027.01.1", effective_date=date(2026, 8, 1))
    for stale in (bundle, same_day_lower, earlier):
        with pytest.raises(Conflict, match=r"不比当前的 2026\.09\.1（2026-09-01）新，不能发布"):
            publish_standards(province, stale, PROVINCE, publish_clock)
    with pytest.raises(ValidationError, match="只有省级节点可以发布标准包"):
        publish_standards(province, v2, CITY, publish_clock)
    with pytest.raises(ValidationError, match="签发机关是 370000，不能由 360000 发布"):
        publish_standards(province, v2, "360000", publish_clock)
    assert snapshot(province) == before

    same_day_higher = dataclasses.replace(v2, version="2026.09.10", effective_date=bundle.effective_date)
    assert publish_standards(province, same_day_higher, PROVINCE, publish_clock).seq == 1


def test_publishing_is_one_transaction_a_failure_midway_leaves_no_trace_and_no_seq_is_lost(
    province: Engine,
    bundle: StandardsBundle,
    v2: StandardsBundle,
    publish_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = snapshot(province)
    y2026 = bundle.calendar().year(2026)
    assert y2026 is not None
    sneaky = successor(
        bundle,
        "2026.10.1",
        date(2026, 10, 1),
        years=[dataclasses.replace(y2026, holidays=y2026.holidays | {date(2026, 3, 3)})],
    )
    with pytest.raises(StandardsError, match="修订号"):  # the store refuses after writing the bundle and catalogue
        publish_standards(province, sneaky, PROVINCE, publish_clock)
    assert snapshot(province) == before

    real = apply_bundle

    def applies_then_crashes(conn: Any, b: StandardsBundle, now: datetime) -> AppliedStandards:
        real(conn, b, now)
        raise RuntimeError("进程在写发件箱之前崩溃")

    monkeypatch.setattr(province_standards, "apply_bundle", applies_then_crashes)
    with pytest.raises(RuntimeError):
        publish_standards(province, v2, PROVINCE, publish_clock)
    assert snapshot(province) == before
    monkeypatch.undo()

    assert publish_standards(province, v2, PROVINCE, publish_clock).seq == 1  # gap-free: no number was used
    with UnitOfWork(province, readonly=True) as uow:
        assert high_water(uow.conn, PROVINCE) == 2  # the bundle, then the province's own status report


def test_newer_means_a_later_effective_date_then_a_later_version(bundle: StandardsBundle) -> None:
    def at(version: str, day: date) -> StandardsBundle:
        return dataclasses.replace(bundle, version=version, effective_date=day)

    d = date(2026, 9, 1)
    assert is_newer(bundle, None)
    assert is_newer(at("2026.09.10", d), at("2026.09.9", d))
    assert is_newer(at("2026.09.1", date(2026, 9, 2)), at("2026.09.9", d))  # the effective date decides first
    assert not is_newer(at("2026.09.9", d), at("2026.09.9", d))
    assert not is_newer(at("2026.09.1", d), at("2026.09.1-a", d))
    assert is_newer(at("2026.09.1-b", d), at("2026.09.1-a", d))
    assert sorted(["v10", "v9", "v9.1", "v1"], key=version_key) == ["v1", "v9", "v9.1", "v10"]


# -- the command line ---------------------------------------------------------------------------------------------


def sunshine(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUNSHINE_")}
    env["SUNSHINE_LOG_FORMAT"] = "json"
    return subprocess.run(
        [sys.executable, "-m", "federation.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def user_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("错误[")]
    return line


def node_config(directory: Path, division: str) -> Path:
    directory.mkdir()
    path = directory / "sunshine.toml"
    path.write_text(
        f'[node]\ndivision = "{division}"\ndata_dir = "{directory}"\n\n'
        f'[database]\nurl = "sqlite:///{directory / "node.db"}"\n',
        encoding="utf-8",
    )
    return path


def test_sunshine_standards_publish_and_show(tmp_path: Path, bundle: StandardsBundle, v2: StandardsBundle) -> None:
    from federation.data import CATALOGUE_CSV
    from federation.storage.engine import make_engine

    cfg = node_config(tmp_path / "province", PROVINCE)
    bundle_file = tmp_path / "v2.json"
    bundle_file.write_text(v2.to_json(), encoding="utf-8")

    assert "sunshine db upgrade" in user_error(
        sunshine("standards", "publish", "--bundle", str(bundle_file), "-c", str(cfg))
    )
    ok(sunshine("db", "upgrade", "--config", str(cfg)))
    assert "尚未应用任何标准包" in user_error(sunshine("standards", "show", "--config", str(cfg)))
    assert "三者选一" in user_error(sunshine("standards", "publish", "--config", str(cfg)))

    out = ok(sunshine("standards", "publish", "--bundle", str(bundle_file), "--config", str(cfg)))
    assert "已发布标准包 2026.10.1" in out
    assert "发件箱序号 1" in out
    shown = ok(sunshine("standards", "show", "--config", str(cfg)))
    assert "当前标准包：2026.10.1" in shown
    assert f"摘要：{v2.digest}" in shown
    assert "错误[conflict]" in user_error(
        sunshine("standards", "publish", "--bundle", str(bundle_file), "-c", str(cfg))
    )

    # from a catalogue CSV: the seeded calendar plus the province's own 2027, a later version and date
    args = ["standards", "publish", "--from-catalogue", str(CATALOGUE_CSV), "--config", str(cfg)]
    out = ok(sunshine(*args, "--version", "2026.12.1", "--effective-date", "2026-12-01"))
    assert "已发布标准包 2026.12.1" in out
    assert "发件箱序号 3" in out  # after 2026.10.1 and the province's report of it
    assert "无需发布" in ok(sunshine(*args, "--version", "2026.12.2", "--effective-date", "2026-12-02"))
    assert "格式错误" in user_error(sunshine(*args, "--effective-date", "12/2026"))

    engine = make_engine(f"sqlite:///{tmp_path / 'province' / 'node.db'}")
    try:
        in_force = current(engine)
        assert in_force is not None
        assert in_force.version == "2026.12.1"
        assert in_force.item(PROMISED) == bundle.item(PROMISED)  # the catalogue as the CSV has it
        assert in_force.calendar().is_published(2027)  # the province's published year was kept
        with engine.connect() as conn:
            published = conn.execute(select(outbox.c.seq, outbox.c.record_id).order_by(outbox.c.seq)).all()
        assert [tuple(r) for r in published] == [(1, "2026.10.1"), (2, PROVINCE), (3, "2026.12.1"), (4, PROVINCE)]
    finally:
        engine.dispose()

    county_cfg = node_config(tmp_path / "county", COUNTY)
    ok(sunshine("db", "upgrade", "--config", str(county_cfg)))
    refused = user_error(sunshine("standards", "publish", "--bundle", str(bundle_file), "--config", str(county_cfg)))
    assert "只有省级节点可以发布标准包" in refused
