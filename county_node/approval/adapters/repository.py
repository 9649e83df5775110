"""Case persistence over SQLAlchemy Core: rows ⇄ domain objects, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql import ColumnElement

from county_node.approval.domain import (
    PAUSED_STATUSES,
    RUNNING_STATUSES,
    Action,
    Case,
    CasePause,
    CaseTask,
    Event,
    IndexValues,
    Status,
    event_id,
)
from federation.clock import Light, PauseKind
from federation.errors import CaseNotFound, ConcurrentUpdate
from federation.standards import ItemKind
from federation.storage.direct import DirectStatement
from federation.storage.tables import case_events, case_pauses, case_tasks, cases

__all__ = [
    "CaseFilter",
    "CaseRepository",
    "case_from_row",
    "event_from_row",
    "light_condition",
    "pause_from_row",
    "task_from_row",
]

_CASE_COLUMNS = list(cases.c)


@dataclass(frozen=True, slots=True)
class CaseFilter:
    status: str | None = None
    light: str | None = None
    department: str | None = None
    item_code: str | None = None


def case_from_row(
    row: Mapping[Any, Any], pauses: Sequence[CasePause], tasks: Sequence[CaseTask], key_fields: tuple[str, ...]
) -> Case:
    """The domain case of a ``cases`` row (or a replicated snapshot decoded to the same columns)."""
    return Case(
        case_no=row["case_no"],
        origin=row["origin"],
        item_code=row["item_code"],
        item_name=row["item_name"],
        department=row["department"],
        kind=ItemKind(row["kind"]),
        standards_version=row["standards_version"],
        status=Status(row["status"]),
        resume_status=Status(row["resume_status"]) if row["resume_status"] else None,
        applicant=row["applicant"],
        window=row.get("window"),
        data=dict(row["data"] or {}),
        submitted_at=row["submitted_at"],
        accepted_at=row["accepted_at"],
        decided_at=row["decided_at"],
        concluded_at=row["concluded_at"],
        decision=row["decision"],
        fee_standard=Decimal(row["fee_standard"]).quantize(Decimal("0.01")),
        fee_charged=None if row["fee_charged"] is None else Decimal(row["fee_charged"]).quantize(Decimal("0.01")),
        legal_budget=row["legal_budget"],
        promised_budget=row["promised_budget"],
        extension_days=row["extension_days"],
        extension_reason=row["extension_reason"],
        extension_approver=row["extension_approver"],
        extended_at=row["extended_at"],
        event_count=row["event_count"],
        updated_at=row["updated_at"],
        key_fields=key_fields,
        pauses=tuple(pauses),
        tasks=tuple(tasks),
    )


def _case_values(case: Case, idx: IndexValues) -> dict[str, Any]:
    """The ``cases`` row of a case: its replicated snapshot (less the ledger tables) plus the derived index."""
    row = case.to_snapshot()
    del row["pauses"], row["tasks"]
    row.update(
        pause_count=len(case.pauses),
        calendar_version=idx.calendar_version,
        idx_due_at=idx.due_at,
        idx_yellow_at=idx.yellow_at,
        idx_legal_due_at=idx.legal_due_at,
        idx_paused_light=idx.paused_light,
    )
    return row


def _task_values(case_no: str, t: CaseTask) -> dict[str, Any]:
    return {"case_no": case_no, **t.to_dict()}


def event_from_row(r: Mapping[Any, Any]) -> Event:
    """A ``case_events`` row as the domain's :class:`Event`."""
    return Event(
        event_id=event_id(r["case_no"], r["n"]),
        case_no=r["case_no"],
        n=r["n"],
        action=Action(r["action"]),
        actor=r["actor"],
        at=r["at"],
        from_status=Status(r["from_status"]) if r["from_status"] else None,
        to_status=Status(r["to_status"]),
        payload=r["payload"] or {},
    )


def pause_from_row(p: Mapping[Any, Any]) -> CasePause:
    return CasePause(p["n"], PauseKind(p["kind"]), p["started_at"], p["ended_at"], p["reason"])


def task_from_row(t: Mapping[Any, Any]) -> CaseTask:
    return CaseTask(
        t["department"], t["limit_days"], t["status"], t["started_at"], t["completed_at"], t["outcome"], t["opinion"]
    )


def _index_from_row(row: Mapping[Any, Any]) -> IndexValues:
    return IndexValues(
        row["calendar_version"],
        row["idx_due_at"],
        row["idx_yellow_at"],
        row["idx_legal_due_at"],
        row["idx_paused_light"],
    )


# Statements built once: executing a prebuilt statement with a parameter dict skips SQLAlchemy's per-call
# coercion and cache-key work, which dominates a short transaction otherwise.
_INSERT_TASK = insert(case_tasks)
_INSERT_PAUSE = insert(case_pauses)
_UPDATE_CASE_CACHE: dict[frozenset[str], DirectStatement] = {}


def _update_case_stmt(changed: frozenset[str]) -> DirectStatement:
    """UPDATE of just the changed columns (so untouched indexes are not rewritten), built once per column set."""
    stmt = _UPDATE_CASE_CACHE.get(changed)
    if stmt is None:
        stmt = DirectStatement(
            update(cases)
            .where(and_(cases.c.case_no == bindparam("k_case_no"), cases.c.event_count == bindparam("k_event_count")))
            .values({name: bindparam(name) for name in sorted(changed)})
        )
        _UPDATE_CASE_CACHE[changed] = stmt
    return stmt


_CLOSE_PAUSE = (
    update(case_pauses)
    .where(and_(case_pauses.c.case_no == bindparam("k_case_no"), case_pauses.c.n == bindparam("k_n")))
    .values(ended_at=bindparam("ended_at"))
)
_UPDATE_TASK = (
    update(case_tasks)
    .where(and_(case_tasks.c.case_no == bindparam("k_case_no"), case_tasks.c.department == bindparam("k_department")))
    .values({n: bindparam(n) for n in ("limit_days", "status", "started_at", "completed_at", "outcome", "opinion")})
)
_SELECT_CASE = select(*_CASE_COLUMNS).where(cases.c.case_no == bindparam("case_no"))
_SELECT_TIMELINE = select(case_events).where(case_events.c.case_no == bindparam("case_no")).order_by(case_events.c.n)
_GET_CASE = DirectStatement(_SELECT_CASE)
_GET_CASE_FOR_UPDATE = DirectStatement(_SELECT_CASE.with_for_update())
_SELECT_PAUSES = select(case_pauses).where(case_pauses.c.case_no == bindparam("case_no")).order_by(case_pauses.c.n)
_SELECT_TASKS = select(case_tasks).where(case_tasks.c.case_no == bindparam("case_no")).order_by(case_tasks.c.department)
# the ledgers of a set of cases, one query each (a page of the list, a batch of open cases)
_SELECT_PAUSES_OF = (
    select(case_pauses)
    .where(case_pauses.c.case_no.in_(bindparam("case_nos", expanding=True)))
    .order_by(case_pauses.c.case_no, case_pauses.c.n)
)
_SELECT_TASKS_OF = (
    select(case_tasks)
    .where(case_tasks.c.case_no.in_(bindparam("case_nos", expanding=True)))
    .order_by(case_tasks.c.case_no, case_tasks.c.department)
)
_UPDATE_INDEX = (
    update(cases)
    .where(cases.c.case_no == bindparam("k_case_no"))
    .values(
        calendar_version=bindparam("calendar_version"),
        idx_due_at=bindparam("idx_due_at"),
        idx_yellow_at=bindparam("idx_yellow_at"),
        idx_legal_due_at=bindparam("idx_legal_due_at"),
        idx_paused_light=bindparam("idx_paused_light"),
    )
)


_NO_IDX = IndexValues(None, None, None, None, None)


class CaseRepository:
    """Reads and writes cases, their pause ledger, joint tasks and timeline within one connection."""

    def __init__(self, conn: Connection, key_fields: Mapping[tuple[str, str], tuple[str, ...]]) -> None:
        self._conn = conn
        self._key_fields = key_fields  # (standards_version, item_code) -> key fields
        self._loaded_idx: dict[str, IndexValues] = {}
        self._loaded_sup: dict[str, tuple[Any, Any]] = {}

    def get(self, case_no: str, *, for_update: bool = False) -> Case:
        """One case with its pause ledger and joint tasks; ``for_update`` locks its row (PostgreSQL; on SQLite
        the write transaction already holds the database's write lock)."""
        stmt = _GET_CASE_FOR_UPDATE if for_update and self._conn.dialect.name == "postgresql" else _GET_CASE
        row = stmt.first(self._conn, {"case_no": case_no})
        if row is None:
            raise CaseNotFound(f"未找到办件“{case_no}”", case_no=case_no)
        pauses: list[CasePause] = []
        if row["pause_count"]:
            pauses = [pause_from_row(p) for p in self._conn.execute(_SELECT_PAUSES, {"case_no": case_no}).mappings()]
        tasks: list[CaseTask] = []
        if row["kind"] == ItemKind.JOINT.value:
            tasks = [task_from_row(t) for t in self._conn.execute(_SELECT_TASKS, {"case_no": case_no}).mappings()]
        self._loaded_idx[case_no] = _index_from_row(row)
        self._loaded_sup[case_no] = (row["sup_wake_at"], row["sup_evidence"])
        return self._case(row, pauses, tasks)

    def loaded_supervision(self, case_no: str) -> tuple[Any, Any] | None:
        """The supervision bookkeeping (``sup_wake_at``, ``sup_evidence``) of a case read by :meth:`get`."""
        return self._loaded_sup.get(case_no)

    def _case(self, row: Mapping[Any, Any], pauses: Sequence[CasePause], tasks: Sequence[CaseTask]) -> Case:
        key = self._key_fields.get((row["standards_version"], row["item_code"]), ())
        return case_from_row(row, pauses, tasks, key)

    def _assemble(self, rows: Sequence[RowMapping]) -> list[Case]:
        """The cases of ``rows`` (in that order), their pauses and joint tasks loaded with one query each."""
        paused = [r["case_no"] for r in rows if r["pause_count"]]
        joint = [r["case_no"] for r in rows if r["kind"] == ItemKind.JOINT.value]
        pauses: defaultdict[str, list[CasePause]] = defaultdict(list)
        tasks: defaultdict[str, list[CaseTask]] = defaultdict(list)
        if paused:
            for p in self._conn.execute(_SELECT_PAUSES_OF, {"case_nos": paused}).mappings():
                pauses[p["case_no"]].append(pause_from_row(p))
        if joint:
            for t in self._conn.execute(_SELECT_TASKS_OF, {"case_nos": joint}).mappings():
                tasks[t["case_no"]].append(task_from_row(t))
        return [self._case(r, pauses.get(r["case_no"], ()), tasks.get(r["case_no"], ())) for r in rows]

    def with_status(self, statuses: Collection[Status], *, batch: int = 500) -> Iterator[tuple[Case, IndexValues]]:
        """Every case in ``statuses`` with its stored index, by case number, loaded ``batch`` cases at a time
        (three queries a batch, whatever its size)."""
        in_status = cases.c.status.in_(sorted(s.value for s in statuses))
        after: str | None = None
        while True:
            stmt = select(*_CASE_COLUMNS).where(in_status).order_by(cases.c.case_no).limit(batch)
            if after is not None:
                stmt = stmt.where(cases.c.case_no > after)
            rows = list(self._conn.execute(stmt).mappings())
            if not rows:
                return
            for row, case in zip(rows, self._assemble(rows), strict=True):
                yield case, _index_from_row(row)
            if len(rows) < batch:
                return
            after = rows[-1]["case_no"]

    def add(self, case: Case, event: Event, idx: IndexValues, *, origin_seq: int | None = None) -> None:
        """Insert a new case and its first event; ``origin_seq`` is the outbox seq of the case's snapshot."""
        values = _case_values(case, idx)
        values["origin_seq"] = origin_seq
        DirectStatement.insert(cases, values).execute(self._conn, values)
        if case.tasks:
            self._conn.execute(_INSERT_TASK, [_task_values(case.case_no, t) for t in case.tasks])
        self._append_event(event)

    def save(self, before: Case, after: Case, event: Event, idx: IndexValues, *, origin_seq: int | None = None) -> None:
        """Write the change from ``before`` to ``after`` and append ``event``; guards against lost updates.

        Only the columns that changed are written, so indexes over untouched columns are left alone.
        ``origin_seq`` (the outbox seq of the new snapshot) is written when given."""
        old_values = _case_values(before, self._loaded_idx.get(before.case_no, _NO_IDX))
        new_values = _case_values(after, idx)
        values = {k: v for k, v in new_values.items() if old_values[k] != v}
        if origin_seq is not None:
            values["origin_seq"] = origin_seq
        stmt = _update_case_stmt(frozenset(values))
        values["k_case_no"] = after.case_no
        values["k_event_count"] = before.event_count
        if stmt.execute(self._conn, values) != 1:
            raise ConcurrentUpdate(f"办件“{after.case_no}”已被其他操作修改，请刷新后重试", case_no=after.case_no)
        old_pauses = {p.n: p for p in before.pauses}
        for p in after.pauses:
            old = old_pauses.get(p.n)
            if old is None:
                self._conn.execute(_INSERT_PAUSE, {"case_no": after.case_no, **p.to_dict()})
            elif old != p:
                self._conn.execute(_CLOSE_PAUSE, {"k_case_no": after.case_no, "k_n": p.n, "ended_at": p.ended_at})
        old_tasks = {t.department: t for t in before.tasks}
        for t in after.tasks:
            if old_tasks.get(t.department) != t:
                v = _task_values(after.case_no, t)
                v["k_case_no"] = v.pop("case_no")
                v["k_department"] = v.pop("department")
                self._conn.execute(_UPDATE_TASK, v)
        self._append_event(event)

    def update_indexes(self, changes: Iterable[tuple[str, IndexValues]]) -> None:
        """Write the derived index of many cases in one executemany."""
        params = [
            {
                "k_case_no": case_no,
                "calendar_version": idx.calendar_version,
                "idx_due_at": idx.due_at,
                "idx_yellow_at": idx.yellow_at,
                "idx_legal_due_at": idx.legal_due_at,
                "idx_paused_light": idx.paused_light,
            }
            for case_no, idx in changes
        ]
        if params:
            self._conn.execute(_UPDATE_INDEX, params)

    def _append_event(self, event: Event) -> None:
        rec = event.to_record()
        rec["payload"] = _jsonable(rec["payload"])
        DirectStatement.insert(case_events, rec).execute(self._conn, rec)

    def timeline(self, case_no: str) -> list[Event]:
        """The case's events as domain values, in order."""
        return [event_from_row(r) for r in self._conn.execute(_SELECT_TIMELINE, {"case_no": case_no}).mappings()]

    def timelines(self, case_nos: Sequence[str]) -> dict[str, list[Event]]:
        """The events of many cases (one query), each case's in order."""
        out: defaultdict[str, list[Event]] = defaultdict(list)
        if case_nos:
            stmt = (
                select(case_events)
                .where(case_events.c.case_no.in_(bindparam("case_nos", expanding=True)))
                .order_by(case_events.c.case_no, case_events.c.n)
            )
            for r in self._conn.execute(stmt, {"case_nos": list(case_nos)}).mappings():
                out[r["case_no"]].append(event_from_row(r))
        return dict(out)

    def many(self, case_nos: Sequence[str]) -> list[Case]:
        """The cases ``case_nos`` that exist (in case-number order), with pauses and tasks."""
        if not case_nos:
            return []
        stmt = (
            select(*_CASE_COLUMNS)
            .where(cases.c.case_no.in_(bindparam("case_nos", expanding=True)))
            .order_by(cases.c.case_no)
        )
        rows = list(self._conn.execute(stmt, {"case_nos": list(case_nos)}).mappings())
        return self._assemble(rows)

    def events(self, case_no: str) -> list[dict[str, Any]]:
        return [
            dict(r)
            for r in self._conn.execute(
                select(case_events).where(case_events.c.case_no == case_no).order_by(case_events.c.n)
            ).mappings()
        ]

    def list(self, flt: CaseFilter, *, now: datetime, offset: int, limit: int) -> tuple[list[Case], int]:
        """Cases matching ``flt`` (newest first) and the total count. Light filters use the indexed moments."""
        conds: list[ColumnElement[bool]] = []
        if flt.status:
            conds.append(cases.c.status == flt.status)
        if flt.department:
            conds.append(cases.c.department == flt.department)
        if flt.item_code:
            conds.append(cases.c.item_code == flt.item_code)
        if flt.light:
            conds.append(light_condition(Light(flt.light), now))
        where = and_(*conds) if conds else None
        count_stmt = select(func.count()).select_from(cases)
        page_stmt = select(*_CASE_COLUMNS).order_by(cases.c.submitted_at.desc(), cases.c.case_no.desc())
        if where is not None:
            count_stmt = count_stmt.where(where)
            page_stmt = page_stmt.where(where)
        total = int(self._conn.execute(count_stmt).scalar_one())
        rows = list(self._conn.execute(page_stmt.offset(offset).limit(limit)).mappings())
        return self._assemble(rows), total

    def counts_by_status(self) -> dict[str, int]:
        return {
            r[0]: int(r[1]) for r in self._conn.execute(select(cases.c.status, func.count()).group_by(cases.c.status))
        }

    def counts_by_light(self, now: datetime) -> dict[str, int]:
        out = {}
        for light in Light:
            out[light.value] = int(
                self._conn.execute(
                    select(func.count()).select_from(cases).where(light_condition(light, now))
                ).scalar_one()
            )
        return out


# the domain's status sets, sorted so that the SQL text (and the statement cache key) is the same in every process
_RUNNING = sorted(s.value for s in RUNNING_STATUSES)
_PAUSED = sorted(s.value for s in PAUSED_STATUSES)


def light_condition(light: Light, now: datetime) -> ColumnElement[bool]:
    """SQL for "the case's light at ``now`` is ``light``" over the indexed derived moments (open cases only): the
    county's case queue and the inspectors' lights wall (over the replicas) count lights with it."""
    running = cases.c.status.in_(_RUNNING)
    paused = and_(cases.c.status.in_(_PAUSED), cases.c.idx_paused_light == light.value)
    if light is Light.RED:
        # a paused case that was overdue before its pause keeps its due moment, so it shows red here
        return and_(cases.c.status.in_(_RUNNING + _PAUSED), cases.c.idx_due_at <= now)
    if light is Light.YELLOW:
        return or_(and_(running, cases.c.idx_yellow_at <= now, cases.c.idx_due_at > now), paused)
    return or_(and_(running, cases.c.idx_yellow_at > now), paused)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
