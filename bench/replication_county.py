"""The ``replication`` benchmark's county and city, prepared before anything is timed (see
:mod:`bench.replication`): three real lifecycles run once through the approval service, their outbox rows replayed
as the county's ``N`` case events, and a city migrated with the standards applied.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from county_node.approval.domain import Action
from county_node.approval.services import ApprovalService
from federation.standards import StandardsBundle
from federation.storage.bulk import BulkStatement
from federation.storage.engine import make_engine
from federation.storage.outbox import canonical_json
from federation.storage.tables import counters, outbox
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from migrations.runner import upgrade

__all__ = ["CITY", "COUNTY", "County", "case_templates", "prepare_city", "prepare_county"]

COUNTY, CITY = "371122", "371100"
CASES_PER_DAY = 1000
FIRST_DAY = date(2026, 1, 5)  # a Monday
_PLACEHOLDER = "@CASE@"  # the case number in a template's payloads, replaced per case
_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00")
_INSERT_OUTBOX = BulkStatement(insert(outbox), [c.name for c in outbox.c])


class _SetClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _lifecycles(svc: ApprovalService, clock: _SetClock) -> None:
    """Three real cases of 7, 8 and 6 events; the third stays open."""

    def act(case_no: str, action: Action, hours: float = 20, **params: Any) -> None:
        clock.now += timedelta(hours=hours)
        svc.act(case_no, action, actor="审批员", params=params)

    food = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}
    a = svc.submit(item_code="XK00003000", applicant="莒县某某餐饮有限公司", data=food, actor="窗口03").case_no
    act(a, Action.ACCEPT, 0.5)
    act(a, Action.REQUEST_CORRECTION, reason="缺少营业执照副本")
    act(a, Action.RECEIVE_CORRECTION, 30, data={"经营场所": "莒县城阳街道 9 号"})
    act(a, Action.REVIEW, opinion="材料齐全，符合条件")
    act(a, Action.DECIDE, outcome="approve", fee_charged="0")
    act(a, Action.CONCLUDE, 2)

    clock.now = clock.now.replace(hour=10)
    project = {"项目代码": "2026-371122-47-01-000001", "建设单位": "莒县城投公司"}
    b = svc.submit(item_code="XK00036000", applicant="莒县城投公司", data=project, actor="窗口07").case_no
    act(b, Action.ACCEPT, 1)
    act(b, Action.REVIEW, opinion="转联办部门")
    for department in ("自然资源局", "住房和城乡建设局", "消防救援大队"):
        act(b, Action.COMPLETE_TASK, department=department, outcome="agree", opinion="符合要求")
    act(b, Action.DECIDE, outcome="approve")
    act(b, Action.CONCLUDE, 2)

    clock.now = clock.now.replace(hour=11)
    pharmacy = {"统一社会信用代码": "91371122MA3C000077", "质量负责人": "王五"}
    c = svc.submit(item_code="XK00004000", applicant="莒县某某大药房有限公司", data=pharmacy, actor="窗口01").case_no
    act(c, Action.ACCEPT, 0.5)
    act(c, Action.SUSPEND, reason="申请人要求暂停")
    act(c, Action.RESUME, 26)
    act(c, Action.EXTEND, days=5, reason="需现场核查", approver="局长")
    act(c, Action.REVIEW, opinion="现场核查中")


@dataclass(frozen=True, slots=True)
class _Template:
    """One real case's outbox rows: its last snapshot, and its events with their ``created_at``."""

    case_no: str
    snapshot: Any  # decoded JSON
    events: tuple[tuple[Any, datetime], ...]

    @property
    def submitted_at(self) -> datetime:
        return self.events[0][1]


def case_templates(directory: Path, bundle: StandardsBundle) -> list[_Template]:
    engine = make_engine(f"sqlite:///{directory / 'templates.db'}", sqlite_synchronous="normal")
    try:
        upgrade(engine)
        clock = _SetClock(datetime(2026, 1, 5, 9, 0, tzinfo=CST))
        svc = ApprovalService(engine, COUNTY, clock)
        svc.apply_standards(bundle)
        _lifecycles(svc, clock)
        with engine.connect() as conn:
            rows = conn.execute(select(outbox).where(outbox.c.origin == COUNTY).order_by(outbox.c.seq)).all()
    finally:
        engine.dispose()
    snapshots: dict[str, Any] = {}
    events: dict[str, list[tuple[Any, datetime]]] = {}
    for r in rows:
        if r.record_type == "case":
            snapshots[r.record_id] = json.loads(r.payload)  # the last one wins
        elif r.record_type == "case_event":
            events.setdefault(r.record_id.split("#")[0], []).append((json.loads(r.payload), r.created_at))
    return [_Template(case_no, snapshots[case_no], tuple(evs)) for case_no, evs in events.items()]


def _moved(value: Any, delta: timedelta) -> Any:
    """``value`` (decoded JSON) with every moment moved by ``delta``."""
    if isinstance(value, str):
        return (datetime.fromisoformat(value) + delta).isoformat() if _MOMENT.fullmatch(value) else value
    if isinstance(value, dict):
        return {k: _moved(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, delta) for v in value]
    return value


_Row = tuple[str, str, str, str, datetime]  # record_type, record_id, op, payload, created_at


def _case_rows(template: _Template, submitted_at: datetime) -> list[_Row]:
    """The template's outbox rows for a case submitted at ``submitted_at`` (case number: the placeholder)."""
    delta = submitted_at - template.submitted_at

    def text(value: Any) -> str:
        return canonical_json(_moved(value, delta)).replace(template.case_no, _PLACEHOLDER)

    rows = [("case", _PLACEHOLDER, "upsert", text(template.snapshot), submitted_at)]
    for n, (payload, created_at) in enumerate(template.events, start=1):
        rows.append(("case_event", f"{_PLACEHOLDER}#{n:04d}", "insert", text(payload), created_at + delta))
    return rows


def _weekdays(first: date) -> Iterator[date]:
    day = first
    while True:
        if day.weekday() < 5:
            yield day
        day += timedelta(days=1)


def _outbox_rows(templates: Sequence[_Template], n_events: int) -> Iterator[dict[str, Any]]:
    """Cases in turn (the templates alternating, submitted 9 minutes apart in 50 slots a day), each its snapshot
    then its events, until ``n_events`` events (the last case may be cut short)."""
    made: dict[tuple[int, date, int], list[_Row]] = {}
    seq = events = 0
    days = _weekdays(FIRST_DAY)
    while events < n_events:
        day = next(days)
        for i in range(CASES_PER_DAY):
            if events == n_events:
                break
            key = (i % len(templates), day, i % 50)
            rows = made.get(key)
            if rows is None:
                start = datetime.combine(day, time_of_day(8, 30), CST) + timedelta(minutes=9 * key[2])
                rows = made[key] = _case_rows(templates[key[0]], start)
            case_no = f"{COUNTY}-{day:%Y%m%d}-{i + 1:06d}"
            for record_type, record_id, op, payload, created_at in rows:
                if record_type == "case_event":
                    if events == n_events:
                        break
                    events += 1
                seq += 1
                yield {
                    "origin": COUNTY,
                    "seq": seq,
                    "record_type": record_type,
                    "record_id": record_id.replace(_PLACEHOLDER, case_no),
                    "op": op,
                    "payload": payload.replace(_PLACEHOLDER, case_no),
                    "created_at": created_at,
                }


@dataclass(frozen=True, slots=True)
class County:
    path: Path
    last_seq: int
    events: int
    cases: int

    def fresh_copy(self, name: str) -> str:
        """A copy of the prepared county database beside it (each run starts from the same records): its URL."""
        path = self.path.with_name(name)
        shutil.copyfile(self.path, path)
        return f"sqlite:///{path}"


def prepare_county(path: Path, templates: Sequence[_Template], n_events: int) -> County:
    engine = make_engine(f"sqlite:///{path}", sqlite_synchronous="normal")
    try:
        upgrade(engine)
        seq = n_cases = 0
        with UnitOfWork(engine) as uow:
            chunk: list[dict[str, Any]] = []
            for row in _outbox_rows(templates, n_events):
                chunk.append(row)
                n_cases += row["record_type"] == "case"
                if len(chunk) == 50_000:
                    _INSERT_OUTBOX.execute(uow.conn, chunk)
                    chunk = []
            _INSERT_OUTBOX.execute(uow.conn, chunk)
            seq = int(uow.conn.execute(select(func.max(outbox.c.seq))).scalar_one())
            uow.conn.execute(insert(counters), {"name": f"outbox:{COUNTY}", "value": seq})
            uow.commit()
    finally:
        engine.dispose()  # its last connection checkpoints the WAL: the file alone is then the whole database
    return County(path, seq, n_events, n_cases)


def prepare_city(url: str, bundle: StandardsBundle) -> None:
    engine = make_engine(url, sqlite_synchronous="normal")
    try:
        upgrade(engine)
        ApprovalService(engine, CITY, _SetClock(datetime(2026, 1, 5, tzinfo=CST))).apply_standards(bundle)
    finally:
        engine.dispose()
