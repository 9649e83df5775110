"""A county's audit chain kept in its outbox (issue 15), on SQLite and PostgreSQL: two writers of one county (a
node and an operator's command: two engines, two head caches) append in turn and the chain stays one gap-free,
verifying sequence; a rolled-back write leaves no entry and does not move the head; a write whose session ended
by another writer is refused and writes nothing; reading by user and newest first work on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from federation.audit import Actor, AuditScope, audited
from federation.errors import Unauthenticated
from federation.storage import audit_log, outbox
from federation.storage.engine import make_engine
from federation.storage.tables import outbox as outbox_table
from federation.storage.uow import UnitOfWork
from security.access import Role
from security.accounts import accounts_for

COUNTY = "371122"
AT = datetime(2026, 9, 21, 1, 0, tzinfo=UTC)


def _write(engine: Engine, scope: AuditScope, record_id: str, *, fail: bool = False) -> None:
    """One write of the county (an outbox record) in ``scope``; ``fail``: it raises before committing."""
    with audited(scope), UnitOfWork(engine) as uow:
        outbox.append(
            uow.conn,
            origin=COUNTY,
            records=[
                outbox.OutboxRecord("case", record_id, "upsert", {"case_no": record_id})
            ],  # a field the policy lists
            created_at=AT,
        )
        if fail:
            raise RuntimeError("the use case failed after its write")
        uow.commit()


def _scope(actor: Actor, target: str, session: str | None = None) -> AuditScope:
    return AuditScope(COUNTY, actor, "write", target, AT, replicate=True, session=session)


def test_two_writers_alternate_on_one_chain_and_it_stays_whole(db_url: str) -> None:
    from migrations.runner import upgrade

    node, operator = make_engine(db_url), make_engine(db_url)  # two processes' engines: two head caches
    try:
        upgrade(node)
        clerk = Actor("w03", "何敏", "窗口人员", COUNTY, "10.0.0.8")
        admin = Actor("admin", "管理员", "节点管理员", COUNTY, "cli:root")
        for i in range(4):
            _write(node, _scope(clerk, f"c{i}"), f"c{i}")
            _write(operator, _scope(admin, f"o{i}"), f"o{i}")
            _write(node, _scope(clerk, f"c{i}b"), f"c{i}b")  # the node's cache is stale: the operator wrote
        with pytest.raises(RuntimeError):
            _write(node, _scope(clerk, "lost"), "lost", fail=True)
        _write(node, _scope(clerk, "after"), "after")
        with node.connect() as conn:
            entries = audit_log.read_entries(conn, COUNTY)
            assert [e.seq for e in entries] == list(range(1, 14))
            assert [e.entry.target for e in entries][-2:] == ["c3b", "after"]
            assert audit_log.verify_origin(conn, COUNTY) == (13, None)
            assert audit_log.audit_origins(conn) == [COUNTY]
            mine = audit_log.read_entries(conn, COUNTY, user_id="admin", newest_first=True, limit=2)
            assert [e.entry.target for e in mine] == ["o3", "o2"]
            n = conn.execute(select(func.count()).select_from(outbox_table)).scalar_one()
            assert n == 26  # each write: its record and its entry — nothing of the rolled-back one
    finally:
        node.dispose()
        operator.dispose()


def test_a_write_under_a_session_ended_by_another_writer_is_refused_and_writes_nothing(db_url: str) -> None:
    from migrations.runner import upgrade

    node, operator = make_engine(db_url), make_engine(db_url)
    try:
        upgrade(node)
        accounts = accounts_for(node, COUNTY, clock=lambda: AT)
        accounts.add("w03", name="何敏", division=COUNTY, roles=[Role.CLERK.value], password="a-long-password-1")
        session = accounts.login("w03", "a-long-password-1")
        who = accounts.claimed(session.token)
        scope = accounts.scope(who.actor(), "write", "c1", token=session.token)
        _write(node, scope, "c1")
        accounts_for(operator, COUNTY, clock=lambda: AT + timedelta(seconds=1)).set_disabled("w03", True)
        with node.connect() as conn:
            before = conn.execute(select(func.count()).select_from(outbox_table)).scalar_one()
        with pytest.raises(Unauthenticated):
            _write(node, accounts.scope(who.actor(), "write", "c2", token=session.token), "c2")
        with node.connect() as conn:
            assert conn.execute(select(func.count()).select_from(outbox_table)).scalar_one() == before
            assert audit_log.verify_origin(conn, COUNTY)[1] is None
    finally:
        node.dispose()
        operator.dispose()
