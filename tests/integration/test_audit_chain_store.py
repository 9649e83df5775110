"""A county's audit chain kept in its outbox (issue 15), on SQLite and PostgreSQL: two writers of one county (a
node and an operator's command: two engines, two head caches) append in turn and the chain stays one gap-free,
verifying sequence; a rolled-back write leaves no entry and does not move the head; a write whose session ended
by another writer is refused and writes nothing; reading by user and newest first work on both stores."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from federation.audit import Actor, AuditScope, ChainBreak, audited
from federation.errors import Unauthenticated
from federation.storage import audit_log, outbox
from federation.storage.engine import make_engine
from federation.storage.tables import outbox as outbox_table
from federation.storage.uow import UnitOfWork
from security.access import Role
from security.accounts import accounts_for

COUNTY = "371122"
AT = datetime(2026, 9, 21, 1, 0, tzinfo=UTC)


def _write(engine: Engine, scope: AuditScope, record_id: str, *, fail: bool = False, lock_first: bool = False) -> None:
    """One write of the county (an outbox record) in ``scope``; ``fail``: it raises before committing;
    ``lock_first``: it takes the origin's lock first, as the county's services do."""
    with audited(scope), UnitOfWork(engine) as uow:
        if lock_first:
            outbox.lock_origin(uow.conn, COUNTY)
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


@pytest.mark.postgresql
@pytest.mark.parametrize("lock_first", [False, True], ids=["counter-last", "lock-first"])
def test_a_write_queued_behind_a_disable_on_postgresql_is_refused(pg_url: str, lock_first: bool) -> None:
    """PostgreSQL, READ COMMITTED: a write that waits for the outbox counter's lock while the account is being
    disabled (the disable holds the lock until it commits) must see the disable — an upsert that waited would not
    re-evaluate its condition, so the session is checked again once the lock is held."""
    from sqlalchemy import update

    from federation.storage.tables import users
    from migrations.runner import upgrade

    node = make_engine(pg_url)
    try:
        upgrade(node)
        accounts = accounts_for(node, COUNTY, clock=lambda: AT)
        accounts.add("w03", name="何敏", division=COUNTY, roles=[Role.CLERK.value], password="a-long-password-1")
        session = accounts.login("w03", "a-long-password-1")
        who = accounts.claimed(session.token)
        _write(node, accounts.scope(who.actor(), "write", "c1", token=session.token), "c1")
        outcome: list[str] = []

        def queued_write() -> None:
            try:
                scope = accounts.scope(who.actor(), "write", "c2", token=session.token)
                _write(node, scope, "c2", lock_first=lock_first)
                outcome.append("committed")
            except Unauthenticated:
                outcome.append("refused")

        with node.connect() as admin, admin.begin():  # the disable: account first, the counter last, held
            admin.execute(update(users).where(users.c.user_id == "w03").values(disabled=True))
            outbox.next_value(admin, f"outbox:{COUNTY}", 0)
            writer = threading.Thread(target=queued_write)
            writer.start()
            writer.join(timeout=1.0)
            assert writer.is_alive()  # waiting for the counter's lock
        writer.join(timeout=30)
        assert outcome == ["refused"]
        with node.connect() as conn:
            assert [e.entry.target for e in audit_log.read_entries(conn, COUNTY)][-1] != "c2"
    finally:
        node.dispose()


def test_a_garbled_or_misplaced_entry_row_is_named_and_stops_appends_with_a_clear_error(db_url: str) -> None:
    from sqlalchemy import update

    from federation.errors import StorageError
    from migrations.runner import upgrade

    node = make_engine(db_url)
    try:
        upgrade(node)
        clerk = Actor("w03", "何敏", "窗口人员", COUNTY, "10.0.0.8")
        for i in range(3):
            _write(node, _scope(clerk, f"c{i}"), f"c{i}")
        audit_rows = outbox_table.c.record_type == "audit"
        with node.begin() as conn:  # the second entry claims to be another origin's
            row = conn.execute(select(outbox_table).where(audit_rows).order_by(outbox_table.c.seq)).all()[1]
            forged = row.payload.replace(f'"origin":"{COUNTY}"', '"origin":"371199"')
            conn.execute(update(outbox_table).where(outbox_table.c.seq == row.seq).values(payload=forged))
        with node.connect() as conn:
            assert audit_log.verify_origin(conn, COUNTY)[1] == ChainBreak(
                COUNTY, 2, "条目内容与其哈希不符（内容被改动）"
            )
        with node.begin() as conn:  # now the last one no longer parses at all
            last = conn.execute(select(outbox_table).where(audit_rows).order_by(outbox_table.c.seq.desc())).first()
            assert last is not None
            conn.execute(update(outbox_table).where(outbox_table.c.seq == last.seq).values(payload="{garbled"))
        with node.connect() as conn:
            listed = audit_log.read_entries(conn, COUNTY, user_id="w03", newest_first=True)
            newest = listed[0]
        assert (newest.seq, newest.entry.detail) == (3, "审计条目已被改动，无法解析")
        fresh = make_engine(db_url)  # another process: it must read the head, and cannot
        try:
            with pytest.raises(StorageError, match="末条记录无法解析"):
                _write(fresh, _scope(clerk, "c9"), "c9")
        finally:
            fresh.dispose()
    finally:
        node.dispose()
