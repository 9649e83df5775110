"""Replicas of a county's cases on an upper tier: the appliers of the ``case`` and ``case_event`` records.

A county's outbox carries, for every transition, the case snapshot (``case``, op ``upsert``, id = case number,
payload = :meth:`Case.to_snapshot`) and the event (``case_event``, op ``insert``, id = ``{case_no}#{n:04d}``).
On a city or the province:

- :class:`CaseApplier` upserts the ``cases`` row only when the incoming snapshot is newer than the stored one
  (``cases.origin_seq``), in one guarded ``INSERT … ON CONFLICT DO UPDATE … WHERE`` for the whole batch, and
  replaces the case's pause ledger and joint tasks from the snapshot. The derived ``idx_*`` columns are computed
  with the receiver's own calendar and light policy, exactly as the county computes them.
- :class:`CaseEventApplier` inserts the timeline rows, ignoring those already held (idempotent).

Both refuse, per record, what the origin may not send: a malformed case number or event id, a case of another
division than the origin (a county only sends its own cases), a missing or mistyped field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from county_node.approval.adapters.repository import case_from_row, pause_from_row, task_from_row
from county_node.approval.domain import Case, IndexValues, Status, event_id, index_values
from county_node.approval.domain.clocks import light_policy_of
from federation.calendar import WorkingCalendar
from federation.clock import LightPolicy, PauseKind
from federation.errors import CalendarError, RecordRejected, StandardsError, ValidationError
from federation.identities import parse_case_number
from federation.replication import Applier, Prepared, Record, Rejection
from federation.standards import ItemKind
from federation.storage.bulk import BulkStatement
from federation.storage.rows import RowDecoder
from federation.storage.standards_store import current_bundle, in_force_version, load_calendar
from federation.storage.tables import calendar_years, case_events, case_pauses, case_tasks, cases
from federation.timeutil import local_date, utcnow

__all__ = ["PAYLOAD_DECODERS", "CaseApplier", "CaseEventApplier", "CaseSnapshot", "default_appliers"]

_DERIVED = {
    "pause_count",
    "calendar_version",
    "idx_due_at",
    "idx_yellow_at",
    "idx_legal_due_at",
    "idx_paused_light",
    "sup_wake_at",
    "sup_evidence",
}
_PAUSE_DECODER = RowDecoder(case_pauses, ["n", "kind", "started_at", "ended_at", "reason"], label="办件暂停")
_TASK_DECODER = RowDecoder(
    case_tasks,
    ["department", "limit_days", "status", "started_at", "completed_at", "outcome", "opinion"],
    label="联办任务",
)
_CASE_DECODER = RowDecoder(
    cases,
    [c.name for c in cases.c if c.name not in _DERIVED | {"origin_seq"}],
    label="办件",
    extra={"pauses": list[_PAUSE_DECODER.struct], "tasks": list[_TASK_DECODER.struct]},  # type: ignore[name-defined]
)
_EVENT_DECODER = RowDecoder(
    case_events,
    ["case_no", "n", "action", "actor", "at", "from_status", "to_status", "payload"],
    label="办件事件",
    json_text=True,  # the event's own payload is stored as the text received
    extra={"event_id": str},
)
_NO_IDX = IndexValues(None, None, None, None, None)
PAYLOAD_DECODERS = {"case": _CASE_DECODER, "case_event": _EVENT_DECODER}  # per record type (bench replication's floor)


@lru_cache(maxsize=65536)
def _division_of(case_no: str) -> str | ValidationError:
    """The division of a case number, or why it is malformed (cached: a case's records arrive together)."""
    try:
        return parse_case_number(case_no).division
    except ValidationError as exc:
        return exc


def _check_division(case_no: str, origin: str) -> None:
    division = _division_of(case_no)
    if isinstance(division, ValidationError):
        raise RecordRejected(division.message, case_no=case_no)
    if division != origin:
        raise RecordRejected(
            f"办件“{case_no}”属于区划 {division}，不能由 {origin} 发送（只能发送本节点自己的办件）",
            case_no=case_no,
            origin=origin,
        )


def _require_op(record: Record, op: str) -> None:
    if record.op != op:
        raise RecordRejected(
            f"{record.record_type} 记录不支持操作“{record.op}”（应为 {op}）", record_id=record.record_id, op=record.op
        )


def _require_object(payload: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(payload, dict):
        raise RecordRejected(f"{what}记录的载荷应为 JSON 对象")
    return payload


# -- cases ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseSnapshot:
    """A checked case snapshot: its ``cases`` row (without the derived columns) and its ledger rows."""

    case_no: str
    origin_seq: int
    row: dict[str, Any]
    pauses: list[dict[str, Any]]
    tasks: list[dict[str, Any]]


def _ledger(payload: Mapping[str, Any], key: str, decoder: RowDecoder) -> list[dict[str, Any]]:
    items = payload.get(key)
    if not isinstance(items, list):
        raise RecordRejected(f"办件记录的“{key}”应为数组", field=key)
    return [decoder.decode(_require_object(item, decoder.label)) for item in items]


def _unique(rows: list[dict[str, Any]], key: str, unique: str) -> None:
    if len({r[unique] for r in rows}) != len(rows):
        raise RecordRejected(f"办件记录的“{key}”有重复的 {unique}", field=key)


def _snapshot(
    origin: str, record: Record, row: dict[str, Any], pauses: list[dict[str, Any]], tasks: list[dict[str, Any]]
) -> CaseSnapshot:
    """The checked snapshot of a decoded case payload: its identity, its origin, its ledgers, its enums."""
    case_no = row["case_no"]
    if case_no != record.record_id:
        raise RecordRejected(f"办件编号“{case_no}”与记录编号“{record.record_id}”不符", case_no=case_no)
    _check_division(case_no, origin)
    if row["origin"] != origin:
        raise RecordRejected(f"办件“{case_no}”的来源“{row['origin']}”与批次来源 {origin} 不符", case_no=case_no)
    _unique(pauses, "pauses", "n")
    _unique(tasks, "tasks", "department")
    _check_enums(row, pauses)
    return CaseSnapshot(case_no, record.origin_seq, row, pauses, tasks)


_STATUSES = frozenset(s.value for s in Status)
_KINDS = frozenset(k.value for k in ItemKind)
_PAUSE_KINDS = frozenset(k.value for k in PauseKind)


def _check_enums(row: Mapping[str, Any], pauses: list[dict[str, Any]]) -> None:
    for field, value, allowed in (
        ("status", row["status"], _STATUSES),
        ("resume_status", row["resume_status"] or Status.ACCEPTED.value, _STATUSES),
        ("kind", row["kind"], _KINDS),
        *(("pauses.kind", p["kind"], _PAUSE_KINDS) for p in pauses),
    ):
        if value not in allowed:
            raise RecordRejected(f"办件记录的“{field}”取值“{value}”未知", case_no=row["case_no"], field=field)


def _domain_case(s: CaseSnapshot) -> Case:
    """The domain case of a checked snapshot: what the derived index is computed from."""
    pauses = [pause_from_row(p) for p in s.pauses]
    return case_from_row(s.row, pauses, [task_from_row(t) for t in s.tasks], key_fields=())


_COUNTY_ONLY = frozenset({"sup_wake_at", "sup_evidence"})  # the origin's own supervision bookkeeping
_CASE_COLUMNS = [c.name for c in cases.c if c.name not in _COUNTY_ONLY]


def _upsert_case(ins: Any) -> Any:
    stmt = ins(cases)
    return stmt.on_conflict_do_update(
        index_elements=[cases.c.case_no],
        set_={name: stmt.excluded[name] for name in _CASE_COLUMNS if name != "case_no"},
        where=cases.c.origin_seq.is_(None) | (cases.c.origin_seq < stmt.excluded.origin_seq),
    )


_UPSERT_CASE = {
    "postgresql": BulkStatement(_upsert_case(pg_insert), _CASE_COLUMNS),
    "sqlite": BulkStatement(_upsert_case(sqlite_insert), _CASE_COLUMNS),
}
_STORED_SEQS = select(cases.c.case_no, cases.c.origin_seq).where(cases.c.case_no.in_(bindparam("nos", expanding=True)))
_DELETE_PAUSES = delete(case_pauses).where(case_pauses.c.case_no.in_(bindparam("nos", expanding=True)))
_DELETE_TASKS = delete(case_tasks).where(case_tasks.c.case_no.in_(bindparam("nos", expanding=True)))
_INSERT_PAUSE = BulkStatement(insert(case_pauses), [c.name for c in case_pauses.c])
_INSERT_TASK = BulkStatement(insert(case_tasks), [c.name for c in case_tasks.c])
_CALENDAR_KEY = select(calendar_years.c.year, calendar_years.c.revision).order_by(calendar_years.c.year)


class CaseApplier:
    """``case`` records (op ``upsert``): the newest snapshot of each case wins, older ones are ignored.

    The replica's indexed due and yellow moments are computed on the calendar held here and with the light policy
    of the standards in force (the bundle's ``yellow_days`` / ``yellow_share``, else ``policy``), as the county
    computes its own — so an inspector's light counts and a county's agree."""

    def __init__(self, policy: LightPolicy | None = None) -> None:
        self.policy = policy or LightPolicy()
        self._calendar: tuple[tuple[Any, ...], WorkingCalendar] | None = None
        self._policy: tuple[str | None, LightPolicy] | None = None

    def prepare(self, origin: str, record: Record, payload: Any) -> CaseSnapshot:
        _require_op(record, "upsert")
        snapshot = _require_object(payload, "办件")
        row = _CASE_DECODER.decode(snapshot)
        pauses = _ledger(snapshot, "pauses", _PAUSE_DECODER)
        tasks = _ledger(snapshot, "tasks", _TASK_DECODER)
        return _snapshot(origin, record, row, pauses, tasks)

    def prepare_text(self, origin: str, record: Record) -> CaseSnapshot | None:
        """:meth:`prepare` from the payload's text (None: let ``prepare`` decide)."""
        if record.op != "upsert":
            return None
        row = _CASE_DECODER.decode_json(record.payload)
        if row is None:
            return None
        pauses = _PAUSE_DECODER.rows_of(row.pop("pauses"))
        tasks = _TASK_DECODER.rows_of(row.pop("tasks"))
        if pauses is None or tasks is None:
            return None
        return _snapshot(origin, record, row, pauses, tasks)

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[CaseSnapshot]]) -> Sequence[Rejection]:
        latest: dict[str, CaseSnapshot] = {}
        for item in items:  # in seq order: the last snapshot of a case in the batch is its newest
            latest[item.value.case_no] = item.value
        stored = dict(conn.execute(_STORED_SEQS, {"nos": list(latest)}).all())
        fresh = [
            s
            for s in latest.values()
            if s.case_no not in stored or stored[s.case_no] is None or stored[s.case_no] < s.origin_seq
        ]
        if not fresh:
            return []
        calendar = self._current_calendar(conn)
        policy = self._policy_in_force(conn)
        rows = []
        for s in fresh:
            idx = self._index(_domain_case(s), calendar, policy)
            row = dict(s.row)
            row.update(
                pause_count=len(s.pauses),
                calendar_version=idx.calendar_version,
                idx_due_at=idx.due_at,
                idx_yellow_at=idx.yellow_at,
                idx_legal_due_at=idx.legal_due_at,
                idx_paused_light=idx.paused_light,
                origin_seq=s.origin_seq,
            )
            rows.append(row)
        _UPSERT_CASE[conn.dialect.name].execute(conn, rows)
        replaced = [s.case_no for s in fresh if s.case_no in stored]
        if replaced:
            conn.execute(_DELETE_PAUSES, {"nos": replaced})
            conn.execute(_DELETE_TASKS, {"nos": replaced})
        _INSERT_PAUSE.execute(conn, [{"case_no": s.case_no, **p} for s in fresh for p in s.pauses])
        _INSERT_TASK.execute(conn, [{"case_no": s.case_no, "idx_due_at": None, **t} for s in fresh for t in s.tasks])
        return []

    def _current_calendar(self, conn: Connection) -> WorkingCalendar:
        """The receiver's calendar, reloaded only when a year was added or revised (one tiny query per batch)."""
        key = tuple(conn.execute(_CALENDAR_KEY).all())
        cached = self._calendar
        if cached is None or cached[0] != key:
            cached = (key, load_calendar(conn))
            self._calendar = cached
        return cached[1]

    def _policy_in_force(self, conn: Connection) -> LightPolicy:
        """The light policy of the bundle in force today (re-read only when another version is in force)."""
        day = local_date(utcnow())
        version = in_force_version(conn, day)
        cached = self._policy
        if cached is None or cached[0] != version:
            try:
                policy = light_policy_of(current_bundle(conn, day), self.policy)
            except StandardsError:  # parameters the bundle's validation should have refused: the default
                policy = self.policy
            cached = (version, policy)
            self._policy = cached
        return cached[1]

    def _index(self, case: Case, calendar: WorkingCalendar, policy: LightPolicy) -> IndexValues:
        try:
            return index_values(case, calendar, policy)
        except CalendarError:  # the calendar cannot answer yet: left null, recomputed when the calendar changes
            return _NO_IDX


# -- case events ------------------------------------------------------------------------------------------------

_EXISTING_CASES = select(cases.c.case_no).where(cases.c.case_no.in_(bindparam("nos", expanding=True)))


def _insert_event_ignoring_duplicates(ins: Any) -> Any:
    return ins(case_events).on_conflict_do_nothing(index_elements=[case_events.c.case_no, case_events.c.n])


_EVENT_COLUMNS = [c.name for c in case_events.c]
_INSERT_EVENT = {  # the payload column as the text received (_EVENT_DECODER's json_text)
    "postgresql": BulkStatement(_insert_event_ignoring_duplicates(pg_insert), _EVENT_COLUMNS, json_text=True),
    "sqlite": BulkStatement(_insert_event_ignoring_duplicates(sqlite_insert), _EVENT_COLUMNS, json_text=True),
}


def _event(origin: str, record: Record, row: dict[str, Any], claimed_id: Any) -> dict[str, Any]:
    """The checked row of a decoded event payload (``claimed_id``: the payload's own ``event_id``)."""
    case_no, n = row["case_no"], row["n"]
    _check_division(case_no, origin)
    if n < 1:
        raise RecordRejected(f"办件事件序号应从 1 开始，收到 {n}", case_no=case_no)
    expected = event_id(case_no, n)
    if record.record_id != expected or claimed_id != expected:
        raise RecordRejected(f"办件事件编号“{record.record_id}”与内容（{expected}）不符", record_id=record.record_id)
    return row


class CaseEventApplier:
    """``case_event`` records (op ``insert``): the append-only timeline; an event already held is left as is."""

    def prepare(self, origin: str, record: Record, payload: Any) -> dict[str, Any]:
        _require_op(record, "insert")
        body = _require_object(payload, "办件事件")
        return _event(origin, record, _EVENT_DECODER.decode(body), body.get("event_id"))

    def prepare_text(self, origin: str, record: Record) -> dict[str, Any] | None:
        """:meth:`prepare` from the payload's text (None: let ``prepare`` decide)."""
        if record.op != "insert":
            return None
        row = _EVENT_DECODER.decode_json(record.payload)
        return None if row is None else _event(origin, record, row, row.pop("event_id"))

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[dict[str, Any]]]) -> Sequence[Rejection]:
        nos = list({item.value["case_no"] for item in items})
        held = set(conn.execute(_EXISTING_CASES, {"nos": nos}).scalars().all())
        rejected = [
            Rejection(
                item.record,
                f"办件“{item.value['case_no']}”在本节点不存在（其办件记录可能在隔离区），事件暂不能写入",
            )
            for item in items
            if item.value["case_no"] not in held
        ]
        _INSERT_EVENT[conn.dialect.name].execute(conn, [item.value for item in items if item.value["case_no"] in held])
        return rejected


def default_appliers(policy: LightPolicy | None = None) -> dict[str, Applier[Any]]:
    """The appliers of the approval records, in the order they must run (a case before its events)."""
    appliers: dict[str, Applier[Any]] = {"case": CaseApplier(policy), "case_event": CaseEventApplier()}
    return appliers
