"""The audit chain replicating up (issue 15), on SQLite and PostgreSQL: the entries of what named people did at a
county travel with the county's records to its city and on to the province, where the county's chain is held
as it was written and verifies; a single changed byte, a deleted entry or two entries swapped are found at the
province and the first bad entry is named. An audit record that is not a county's own is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, select, update

from federation.audit import audited
from federation.errors import RecordRejected
from federation.replication import Record
from federation.storage import audit_log
from federation.storage.audit_log import AuditApplier
from federation.storage.tables import audit_log as audit_table
from federation.storage.uow import UnitOfWork
from security.access import Permission
from tests.integration.test_supervision_replication import (
    COUNTY,
    PROVINCE,
    Tiers,
    tiers,  # noqa: F401 - the fixture
)
from tests.people import PASSWORD, add_staff

ENTERPRISE = "XK00001000"
DATA = {"统一社会信用代码": "91371122MA3C000000", "法定代表人": "王五"}


def _work(t: Tiers, n: int = 3) -> None:
    """What the hall's people do, as the HTTP API does it: each use case in the person's audit scope."""
    accounts = t.county.accounts
    add_staff(accounts)
    clerk = accounts.login("clerk", PASSWORD)
    approver = accounts.login("approver", PASSWORD)
    for i in range(n):
        who = accounts.claimed(clerk.token)
        actor = who.actor(Permission.CASE_INTAKE)
        with audited(accounts.scope(actor, "申请", "/api/v1/cases", token=clerk.token)):
            case = t.county.approval.submit(item_code=ENTERPRISE, applicant=f"申请人{i}", data=DATA, actor=actor.label)
        with audited(accounts.scope(actor, "受理", case.case_no, token=clerk.token)):
            t.county.approval.act(case.case_no, "accept", actor=actor.label)
    boss = accounts.claimed(approver.token).actor(Permission.CASE_DECIDE)
    accounts.record(boss, "办件详情", "/api/v1/cases", token=approver.token)


def _entries(engine: Engine) -> list[tuple[int, str, str, str]]:
    with UnitOfWork(engine, readonly=True) as uow:
        return [(e.seq, e.entry.user_id, e.entry.action, e.hash) for e in audit_log.read_entries(uow.conn, COUNTY)]


def _verify(engine: Engine) -> tuple[int, int | None, str | None]:
    with UnitOfWork(engine, readonly=True) as uow:
        n, broken = audit_log.verify_origin(uow.conn, COUNTY)
    return n, None if broken is None else broken.seq, None if broken is None else broken.reason


def test_a_countys_audit_chain_reaches_the_province_intact(tiers: Tiers) -> None:  # noqa: F811
    t = tiers
    _work(t)
    t.ship()
    at_county = _entries(t.county.engine)
    assert len(at_county) >= 4 + 2 + 6 + 1  # accounts added, two logins, six use cases, one read
    assert _entries(t.city) == at_county
    assert _entries(t.province) == at_county
    people = {(user, action) for _, user, action, _ in at_county}
    assert {("clerk", "申请"), ("clerk", "受理"), ("approver", "办件详情")} <= people
    assert _verify(t.province) == (len(at_county), None, None)
    with UnitOfWork(t.province, readonly=True) as uow:
        assert audit_log.audit_origins(uow.conn) == [COUNTY]  # the upper tiers' own entries stay local

    _work_more = t.county.accounts.login("clerk", PASSWORD)  # more work later: the chain continues
    del _work_more
    t.ship()
    assert _entries(t.province) == _entries(t.county.engine)
    assert _verify(t.province)[1] is None


def _tampered(engine: Engine, how: str) -> tuple[int | None, str | None]:
    with engine.begin() as conn:
        rows = conn.execute(select(audit_table).where(audit_table.c.origin == COUNTY).order_by(audit_table.c.seq))
        by_seq = {r.seq: r._mapping for r in rows}
        key = (audit_table.c.origin == COUNTY) & (audit_table.c.seq == 5)
        if how == "byte":
            target = str(by_seq[5]["target"])
            conn.execute(update(audit_table).where(key).values(target=target[:-1] + chr(ord(target[-1]) ^ 1)))
        elif how == "delete":
            conn.execute(delete(audit_table).where(key))
        else:  # swap the contents of entries 5 and 6, seqs kept
            five, six = dict(by_seq[5]), dict(by_seq[6])
            for seq, row in ((5, six), (6, five)):
                values = {k: v for k, v in row.items() if k not in ("origin", "seq")}
                conn.execute(
                    update(audit_table)
                    .where((audit_table.c.origin == COUNTY) & (audit_table.c.seq == seq))
                    .values(**values)
                )
    _, first_bad, reason = _verify(engine)
    return first_bad, reason


@pytest.mark.parametrize(
    ("how", "words"),
    [("byte", "内容被改动"), ("delete", "缺少第 5 条"), ("swap", "前一条的哈希不符")],
)
def test_tampering_at_the_province_is_found_and_the_first_bad_entry_named(
    tiers: Tiers,  # noqa: F811
    how: str,
    words: str,
) -> None:
    _work(tiers)
    tiers.ship()
    first_bad, reason = _tampered(tiers.province, how)
    assert first_bad == 5
    assert reason is not None
    assert words in reason
    assert _verify(tiers.county.engine)[1] is None  # the county's own chain is untouched


def _audit_record(origin: str, payload: dict[str, object], record_id: str | None = None) -> Record:
    body = json.dumps(payload, ensure_ascii=False).encode()
    entry = payload.get("entry", {})
    assert isinstance(entry, dict)
    return Record("audit", record_id or f"{entry.get('origin')}:{entry.get('seq')}", "insert", 1, body, 0)


def test_an_audit_record_not_of_its_own_county_is_refused() -> None:
    applier = AuditApplier()
    entry = {
        "origin": COUNTY,
        "seq": 1,
        "at": datetime(2026, 9, 21, tzinfo=UTC).isoformat(),
        "user_id": "x",
        "name": "x",
        "role": "x",
        "division": COUNTY,
        "action": "x",
        "target": "x",
        "source": "",
        "outcome": "ok",
        "detail": "",
    }
    good = {"entry": entry, "prev_hash": "0" * 64, "hash": "1" * 64}
    with pytest.raises(RecordRejected, match="来源"):
        applier.prepare("371121", _audit_record("371121", good), good)  # another county's entry
    at_province = {**good, "entry": {**entry, "origin": PROVINCE}}
    with pytest.raises(RecordRejected, match="县级"):
        applier.prepare(PROVINCE, _audit_record(PROVINCE, at_province), at_province)
    with pytest.raises(RecordRejected, match="格式"):
        applier.prepare(COUNTY, _audit_record(COUNTY, {"entry": {"origin": COUNTY}}), {"entry": {"origin": COUNTY}})
    assert applier.prepare(COUNTY, _audit_record(COUNTY, good), good).seq == 1
