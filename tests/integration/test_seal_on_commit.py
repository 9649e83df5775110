"""Seal on commit, wake on commit (issue 18), on real SQLite and PostgreSQL.

A node's writer seals its own outbox rows into batches in its own transaction when a seal is due
(:mod:`federation.storage.seal`), and a committed write wakes the node's agent (:mod:`federation.storage.wake`):
a link with a waker sends a new commit at once instead of after a linger (``sync_agent.client.Link``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from structlog.testing import capture_logs

from bench.pki_material import city_authority, enrolled_config
from federation.storage import outbox
from federation.storage.engine import make_engine
from federation.storage.outbox import OutboxRecord
from federation.storage.seal import SealPolicy, register
from federation.storage.tables import batch_log, replication_marks
from federation.storage.tables import outbox as outbox_table
from federation.storage.uow import UnitOfWork
from federation.storage.wake import WakeListener
from migrations.runner import upgrade
from security.node import node_trust
from sync_agent.client import Link
from sync_agent.domain import Mark, Verdict, check_batch
from sync_agent.server import serve
from sync_agent.store import SqlBatchSink, SqlBatchSource
from tests.conftest import create_pg_database

COUNTY, CITY = "371122", "371100"
NOW = datetime(2026, 9, 21, 9, 30, tzinfo=UTC)
ALL = 10**6


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A county's and a city's database URL, of each backend."""
    if request.param == "sqlite":
        yield {d: f"sqlite:///{tmp_path / f'{d}.db'}" for d in (COUNTY, CITY)}
        return
    made = [create_pg_database() for _ in range(2)]
    try:
        yield {COUNTY: made[0][0], CITY: made[1][0]}
    finally:
        for _, drop in made:
            drop()


def _engine(url: str, policy: SealPolicy | None = None) -> Engine:
    engine = make_engine(url)
    upgrade(engine)
    if policy is not None:
        register(engine, policy)
    return engine


@pytest.fixture
def engines(urls: dict[str, str]) -> Iterator[Callable[..., Engine]]:
    made: list[Engine] = []

    def make(division: str = COUNTY, policy: SealPolicy | None = None) -> Engine:
        made.append(_engine(urls[division], policy))
        return made[-1]

    yield make
    for engine in made:
        engine.dispose()


def write(engine: Engine, n: int = 1, *, commit: bool = True, tag: str = "r") -> None:
    """``n`` records of the county in one transaction (a record type the boundary lets cross whole)."""
    with UnitOfWork(engine) as uow:
        records = [
            OutboxRecord(
                "video_event",
                f"{COUNTY}-{tag}-{i}",
                "insert",
                {"camera_id": f"{COUNTY}-cam", "window": "W01", "kind": "封批", "at": "2026-09-21", "details": {}},
            )
            for i in range(n)
        ]
        outbox.append(uow.conn, origin=COUNTY, records=records, created_at=NOW)
        if commit:
            uow.commit()


def batches(engine: Engine) -> list[tuple[int, int, bytes, str | None]]:
    with UnitOfWork(engine, readonly=True) as uow:
        rows = uow.conn.execute(
            select(batch_log.c.first_seq, batch_log.c.last_seq, batch_log.c.signature, batch_log.c.signer)
            .where(batch_log.c.origin == COUNTY)
            .order_by(batch_log.c.first_seq)
        ).all()
    return [(int(r.first_seq), int(r.last_seq), bytes(r.signature), r.signer) for r in rows]


def top(engine: Engine) -> int:
    with UnitOfWork(engine, readonly=True) as uow:
        return int(uow.conn.execute(select(func.max(outbox_table.c.seq))).scalar() or 0)


def assert_chain_accepted(engine: Engine) -> None:
    """Every batch held is the next of the chain for a receiver starting from nothing (``check_batch``)."""
    mark = Mark(COUNTY)
    for b in SqlBatchSource(engine, COUNTY).batches_after(COUNTY, 0, ALL):
        assert check_batch(mark, b) is Verdict.APPLY
        mark = Mark(COUNTY, b.last_seq, b.batch_hash)
    assert mark.high_water == top(engine)


# -- the writer's seal --------------------------------------------------------------------------------------------


def test_an_idle_writer_seals_its_commit_at_once_unsigned(engines: Callable[..., Engine]) -> None:
    county = engines(policy=SealPolicy(linger_ms=60_000))
    write(county, 3)
    assert batches(county) == [(1, 3, b"", None)]  # one batch of the three, no signature, no signer
    assert_chain_accepted(county)


def test_a_writer_seals_when_due_and_not_before(engines: Callable[..., Engine]) -> None:
    county = engines(policy=SealPolicy(batch_records=5, linger_ms=60_000))
    write(county)  # nothing sealed yet: due at once
    first = batches(county)
    assert len(first) == 1
    write(county, 2, tag="a")  # sealed a moment ago, 2 pending < 5: not due
    assert batches(county) == first
    write(county, 3, tag="b")  # 5 pending: a batch's worth
    after = batches(county)
    assert [b[:2] for b in after[1:]] == [(first[0][1] + 1, top(county))]
    assert_chain_accepted(county)


def test_a_writer_seals_again_once_the_linger_has_passed(engines: Callable[..., Engine]) -> None:
    county = engines(policy=SealPolicy(linger_ms=100))
    write(county)
    write(county, tag="a")  # within the linger: joins the next batch
    assert len(batches(county)) == 1
    time.sleep(0.15)
    write(county, tag="b")  # due: both pending writes in one batch
    sealed = batches(county)
    assert [b[:2] for b in sealed] == [(1, 1), (2, top(county))]
    assert_chain_accepted(county)


def test_a_rolled_back_writer_leaves_no_batch(engines: Callable[..., Engine]) -> None:
    county = engines(policy=SealPolicy(linger_ms=0))
    write(county, 2, commit=False)
    assert (batches(county), top(county)) == ([], 0)
    write(county, 1)
    assert batches(county)[0][0] == 1
    assert_chain_accepted(county)


def test_a_writer_seals_no_more_than_four_batches_of_a_backlog(engines: Callable[..., Engine]) -> None:
    plain = engines()  # no policy: the rows are left to the agent
    write(plain, 30)
    assert batches(plain) == []
    county = engines(policy=SealPolicy(batch_records=4, linger_ms=0))
    write(county, 1, tag="a")
    sealed = batches(county)
    # 4 batches of 4; the rest is the agent's (or the next writer's)
    assert [b[:2] for b in sealed] == [(1, 4), (5, 8), (9, 12), (13, 16)]
    assert SqlBatchSource(county, COUNTY, max_records=4).seal() > 0
    assert_chain_accepted(county)


def test_writer_and_agent_seals_interleaved_keep_one_chain_a_receiver_accepts(engines: Callable[..., Engine]) -> None:
    county = engines(policy=SealPolicy(batch_records=3, linger_ms=60_000))
    agent = SqlBatchSource(county, COUNTY, max_records=2)
    for i in range(6):
        write(county, i % 3 + 1, tag=f"w{i}")
        if i % 2:
            agent.seal()  # seals what the writers left (in batches of 2)
    agent.seal()
    assert_chain_accepted(county)
    city = engines(CITY)
    sink = SqlBatchSink(city, CITY, {}, relay=True)
    for b in agent.batches_after(COUNTY, 0, ALL):
        assert sink.receive(COUNTY, b).mark.high_water == b.last_seq
    assert sink.marks([COUNTY])[0].high_water == top(county)


def test_a_failing_writer_seal_never_fails_the_business_write(engines: Callable[..., Engine]) -> None:
    county = engines(policy=SealPolicy(linger_ms=0))
    with county.begin() as conn:  # the seal's INSERT into batch_log fails, in the database itself
        if county.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_batch() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$BEGIN RAISE EXCEPTION 'refused'; END$$"
                )
            )
            conn.execute(
                text("CREATE TRIGGER refuse BEFORE INSERT ON batch_log FOR EACH ROW EXECUTE FUNCTION refuse_batch()")
            )
        else:
            conn.execute(
                text("CREATE TRIGGER refuse BEFORE INSERT ON batch_log BEGIN SELECT RAISE(ABORT, 'refused'); END")
            )
    with capture_logs() as logs:
        write(county, 2)
    assert (top(county), batches(county)) == (2, [])  # the write committed, the seal was rolled back
    assert any(e["event"] == "replication.writer_seal_failed" for e in logs)
    with county.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse" + (" ON batch_log" if county.dialect.name == "postgresql" else "")))
    assert SqlBatchSource(county, COUNTY).seal() == 1  # the agent seals what the writer could not
    assert_chain_accepted(county)


def test_an_unsigned_writer_batch_is_signed_at_send_and_verified(tmp_path: Path) -> None:
    ca = city_authority(CITY)
    url = f"sqlite:///{tmp_path / 'county.db'}"
    county = _engine(url, SealPolicy(linger_ms=0))
    city_db = _engine(f"sqlite:///{tmp_path / 'city.db'}")
    try:
        security = {
            d: node_trust(enrolled_config(tmp_path, d, u, ca), e).link_security()
            for d, u, e in ((COUNTY, url, county), (CITY, f"sqlite:///{tmp_path / 'city.db'}", city_db))
        }
        write(county, 2)
        assert batches(county)[0][2] == b""  # stored without a signature
        source = SqlBatchSource(county, COUNTY, signer=security[COUNTY].signer.sign)
        (batch,) = source.batches_after(COUNTY, 0, ALL)
        assert batch.signature
        assert batch.signer_chain
        security[CITY].receiver.verify_batch(COUNTY, batch.batch_hash, batch.signature, batch.signer_chain)
        (unsigned,) = SqlBatchSource(county, COUNTY).batches_after(COUNTY, 0, ALL)  # no signer: as stored
        assert unsigned.signature == b""
    finally:
        county.dispose()
        city_db.dispose()


# -- the wake -----------------------------------------------------------------------------------------------------


def test_a_commit_wakes_the_listener_and_a_rollback_does_not(engines: Callable[..., Engine]) -> None:
    county = engines()
    listener = WakeListener(engines())
    assert listener.start()
    assert listener.listening
    heard: queue.SimpleQueue[tuple[str, bool]] = queue.SimpleQueue()
    unsubscribe = listener.subscribe(lambda origin, sealed: heard.put((origin, sealed)))
    try:
        write(county, commit=False)
        write(county)
        assert heard.get(timeout=5) == (COUNTY, False)  # no policy here: the rows wait for the agent
        time.sleep(0.2)
        assert heard.empty()  # one wake: the rolled-back write sent none
    finally:
        unsubscribe()
        listener.close()


def test_a_second_listener_on_the_same_sqlite_database_falls_back_to_polling(tmp_path: Path) -> None:
    engine = _engine(f"sqlite:///{tmp_path / 'node.db'}")
    first, second = WakeListener(engine), WakeListener(engine)
    try:
        assert first.start()
        with capture_logs() as logs:
            assert not second.start()
        assert not second.listening
        assert any(e["event"] == "replication.wake_unavailable" for e in logs)
    finally:
        first.close()
        second.close()
        engine.dispose()


@pytest.fixture
def woken_link(engines: Callable[..., Engine]) -> Iterator[tuple[Engine, Engine, Callable[..., Link]]]:
    """A county whose writers seal (linger 0.2 s), a city receiving it, and a maker of the county's woken link."""
    county = engines(policy=SealPolicy(linger_ms=200))
    city = engines(CITY)
    server = serve(SqlBatchSink(city, CITY, {}, relay=True), max_workers=4)
    listener = WakeListener(engines())
    listener.start()
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(**options: object) -> Link:
        settings: dict[str, object] = {"node": COUNTY, "origins": [COUNTY], "waker": listener, "idle_poll": 30.0}
        source = SqlBatchSource(county, COUNTY)
        link = Link("up", server.target, source, **(settings | options))  # type: ignore[arg-type]
        t = threading.Thread(target=link.run_forever, args=(stop,), daemon=True)
        t.start()
        threads.append(t)
        return link

    yield county, city, start
    stop.set()
    for t in threads:
        t.join(10)
    listener.close()
    server.stop(grace=0)


def _city_mark(city: Engine) -> int:
    with UnitOfWork(city, readonly=True) as uow:
        found = uow.conn.execute(
            select(replication_marks.c.high_water).where(replication_marks.c.origin == COUNTY)
        ).scalar()
    return int(found or 0)


def _arrives(city: Engine, seq: int, within: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        if _city_mark(city) >= seq:
            return time.monotonic() - start
        time.sleep(0.005)
    raise AssertionError(f"seq {seq} not at the city within {within} s (mark {_city_mark(city)})")


def test_a_woken_link_sends_a_commit_well_within_its_linger(
    woken_link: tuple[Engine, Engine, Callable[..., Link]],
) -> None:
    county, city, start = woken_link
    link = start(linger=5.0)  # a link that polled would wait up to 5 s
    _arrives(city, 0, 5)
    deadline = time.monotonic() + 10
    while not link.stats().connected and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # settled: connected and idle, sleeping on its inbox
    for _ in range(3):
        time.sleep(0.25)  # past the writers' linger (0.2 s): each commit is sealed by its writer
        write(county, tag=str(time.monotonic()))
        assert _arrives(city, top(county), 5) < 1.0


def test_a_woken_link_seals_the_tail_no_writer_sealed(woken_link: tuple[Engine, Engine, Callable[..., Link]]) -> None:
    county, city, start = woken_link
    start(linger=0.2)
    write(county)  # sealed by its writer (idle: due)
    write(county, tag="tail")  # within the writer's linger, and no writer after it: the link seals it
    assert len(batches(county)) == 1
    _arrives(city, top(county), 5)
    assert len(batches(county)) == 2
