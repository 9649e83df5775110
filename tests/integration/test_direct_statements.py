"""The hot path's statements run straight on the driver (:mod:`federation.storage.direct`), the wake sent with the
COMMIT and the pool's ping of idle connections only (:mod:`federation.storage.engine`): same values, same errors,
nothing lost — on real SQLite and real PostgreSQL."""

from __future__ import annotations

import select as select_module
import time
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import Engine, bindparam, select, text
from sqlalchemy.exc import IntegrityError

from county_node.approval.domain import Action
from county_node.approval.services import ApprovalService
from federation.errors import StorageError
from federation.standards import StandardsBundle
from federation.storage import engine as engine_module
from federation.storage import outbox, wake
from federation.storage.direct import DirectStatement
from federation.storage.tables import cases, counters
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from tests.conftest import FakeClock

DIV = "370102"


def _service(engine: Engine, bundle: StandardsBundle) -> ApprovalService:
    svc = ApprovalService(engine, DIV, FakeClock(datetime(2026, 9, 21, 9, 0, tzinfo=CST)))
    svc.apply_standards(bundle)
    return svc


def test_a_row_read_directly_equals_the_row_read_through_sqlalchemy(engine: Engine, bundle: StandardsBundle) -> None:
    svc = _service(engine, bundle)
    item = next(i for i in bundle.items if i.key_fields)
    data = dict.fromkeys(item.key_fields, "x")
    case = svc.submit(item_code=item.code, applicant="某某公司", data=data, actor="窗口1")
    svc.act(case.case_no, Action.ACCEPT, actor="窗口1")
    stmt = select(*cases.c).where(cases.c.case_no == bindparam("case_no"))
    with engine.connect() as conn:
        through = dict(conn.execute(stmt, {"case_no": case.case_no}).mappings().one())
        direct = DirectStatement(stmt).first(conn, {"case_no": case.case_no})
        missing = DirectStatement(stmt).first(conn, {"case_no": "nope"})
    assert direct == through
    assert {type(v) for k, v in direct.items() if k.endswith("_at") and v is not None} == {datetime}
    assert all(v.tzinfo is not None for k, v in direct.items() if k.endswith("_at") and v is not None)
    assert isinstance(direct["fee_standard"], Decimal)
    assert isinstance(direct["data"], dict)
    assert missing is None


def test_a_driver_error_is_sqlalchemys_own_and_the_unit_of_work_rolls_back(engine: Engine) -> None:
    insert = DirectStatement.insert(counters, ["name", "value"])
    with UnitOfWork(engine) as uow:
        insert.execute(uow.conn, {"name": "direct-test", "value": 1})
        uow.commit()

    def both() -> None:
        with UnitOfWork(engine) as uow:
            insert.execute(uow.conn, {"name": "direct-test-2", "value": 1})
            insert.execute(uow.conn, {"name": "direct-test", "value": 2})  # the primary key is taken

    with pytest.raises(StorageError) as refused:
        both()
    assert isinstance(refused.value.__cause__, IntegrityError)  # as Connection.execute raises it
    with engine.connect() as conn:
        held = dict(conn.execute(select(counters.c.name, counters.c.value)).all())
    assert held.get("direct-test") == 1
    assert "direct-test-2" not in held  # the whole unit of work was rolled back
    with pytest.raises(KeyError), engine.connect() as conn:
        insert.execute(conn, {"name": "no value given"})  # no column default is applied behind the caller's back


@pytest.mark.postgresql
def test_the_wake_goes_with_the_commit_and_never_with_a_rollback(pg_url: str) -> None:
    from federation.storage.engine import make_engine
    from migrations.runner import upgrade

    engine = make_engine(pg_url)
    upgrade(engine)
    listener = psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql"), autocommit=True)
    try:
        listener.execute(f"LISTEN {wake.CHANNEL}")

        def write(*, commit: bool) -> None:
            with UnitOfWork(engine) as uow:
                outbox.append(
                    uow.conn,
                    origin=DIV,
                    records=[outbox.OutboxRecord("case_event", f"e{commit}", "insert", {"n": 1})],
                    created_at=datetime(2026, 9, 21, 9, 0, tzinfo=CST),
                )
                if commit:
                    uow.commit()

        def heard(wait: float) -> list[str]:
            got: list[str] = []
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                select_module.select([listener.fileno()], [], [], 0.05)
                got.extend(n.payload for n in listener.notifies(timeout=0.05, stop_after=1))
            return got

        write(commit=False)
        assert heard(0.5) == []
        write(commit=True)
        assert heard(2.0) == [DIV]
        with UnitOfWork(engine) as uow:  # a payload not written into the COMMIT's text: sent with parameters
            wake.written(uow.conn, "it's odd", sealed=True)
            uow.commit()
        assert heard(2.0) == ["it's odd:sealed"]
        with engine.connect() as conn:
            assert outbox.high_water(conn, DIV) == 1  # the rolled-back write gave its number back
    finally:
        listener.close()
        engine.dispose()


@pytest.mark.postgresql
def test_a_failed_commit_with_its_wake_is_a_storage_error_and_nothing_stays(pg_url: str) -> None:
    from federation.storage.engine import make_engine
    from migrations.runner import upgrade

    engine = make_engine(pg_url)
    upgrade(engine)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE deferred_check (n int UNIQUE DEFERRABLE INITIALLY DEFERRED)"))
            conn.execute(text("INSERT INTO deferred_check VALUES (1)"))

        def duplicate() -> None:
            with UnitOfWork(engine) as uow:
                uow.conn.execute(text("INSERT INTO deferred_check VALUES (1)"))  # refused only at COMMIT
                wake.written(uow.conn, DIV, sealed=False)
                uow.commit()

        with pytest.raises(StorageError):
            duplicate()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM deferred_check")).scalar_one() == 1
        with UnitOfWork(engine) as uow:  # the pooled connection is usable again
            uow.conn.execute(text("INSERT INTO deferred_check VALUES (2)"))
            uow.commit()
    finally:
        engine.dispose()


@pytest.mark.postgresql
def test_an_idle_connection_killed_by_the_server_is_replaced_before_use(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from federation.storage.engine import make_engine

    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # as if that connection had been idle in the pool for longer than the ping threshold
        real = time.monotonic
        monkeypatch.setattr(engine_module.time, "monotonic", lambda: real() + timedelta(minutes=1).total_seconds())
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        engine.dispose()


def test_a_direct_write_belongs_to_the_callers_transaction_even_when_none_was_begun(engine: Engine) -> None:
    """As ``Connection.execute`` autobegins: a write on the driver commits or rolls back with the connection's
    transaction (SQLite's driver, left alone, would have committed it at once)."""
    insert = DirectStatement.insert(counters, ["name", "value"])
    with engine.connect() as conn:
        insert.execute(conn, {"name": "never-committed", "value": 1})
        assert conn.in_transaction()
        conn.rollback()
        insert.execute(conn, {"name": "committed", "value": 1})
        conn.commit()
    with engine.connect() as conn:
        names = set(conn.execute(select(counters.c.name)).scalars())
    assert "committed" in names
    assert "never-committed" not in names
