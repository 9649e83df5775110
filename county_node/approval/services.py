"""Approval service layer: every use case is one unit of work (one transaction).

Each transition writes, in one transaction: the case change, its append-only event, and two outbox rows (the
case snapshot and the event) with gap-free ``seq`` for this node; the case row keeps the seq of its snapshot
(``cases.origin_seq``), the same value its replicas hold. A refused transition raises a typed error and
the transaction is rolled back, so nothing is written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Engine, select

from county_node.approval.adapters.repository import CaseFilter, CaseRepository
from county_node.approval.domain import (
    OPEN_STATUSES,
    Action,
    Case,
    CaseClocks,
    TransitionResult,
    apply_action,
    case_clocks,
    index_values,
    new_case,
)
from federation.calendar import WorkingCalendar
from federation.clock import Light, LightPolicy
from federation.config import ClockConfig
from federation.errors import StandardsNotLoaded, ValidationError
from federation.identities import format_case_number
from federation.standards import Item, ItemKind, StandardsBundle
from federation.storage import outbox
from federation.storage.standards_store import AppliedStandards, apply_bundle, current_bundle, load_calendar
from federation.storage.tables import cases, catalogue_items
from federation.storage.uow import UnitOfWork
from federation.timeutil import local_date

__all__ = ["ApprovalService", "CaseDetail", "CasePage"]

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class CaseDetail:
    case: Case
    clocks: CaseClocks | None
    events: list[dict[str, Any]]
    as_of: datetime


@dataclass(frozen=True, slots=True)
class CasePage:
    items: list[tuple[Case, CaseClocks | None]]
    total: int
    page: int
    page_size: int
    as_of: datetime


class _Standards:
    """The standards in force on this node, cached; reloaded after a bundle is applied."""

    def __init__(
        self,
        bundle: StandardsBundle | None,
        calendar: WorkingCalendar,
        key_fields: dict[tuple[str, str], tuple[str, ...]],
    ) -> None:
        self.bundle = bundle
        self.calendar = calendar
        self.key_fields = key_fields
        self.items: dict[str, Item] = {i.code: i for i in bundle.items} if bundle else {}


class ApprovalService:
    """The county's approval use cases. ``clock`` gives "now" (the real clock, or the demo's simulated one)."""

    def __init__(self, engine: Engine, division: str, clock: Clock, clock_config: ClockConfig | None = None) -> None:
        self._engine = engine
        self.division = division
        self._now = clock
        self._config = clock_config or ClockConfig()
        self.policy = LightPolicy(self._config.yellow_days, self._config.yellow_share)
        self._lock = threading.Lock()
        self._standards: _Standards | None = None

    # -- standards ------------------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._now()

    def _load_standards(self) -> _Standards:
        with UnitOfWork(self._engine, readonly=True) as uow:
            bundle = current_bundle(uow.conn)
            calendar = load_calendar(uow.conn)
            key_fields = {
                (r.standards_version, r.code): tuple(r.key_fields or ())
                for r in uow.conn.execute(
                    select(catalogue_items.c.standards_version, catalogue_items.c.code, catalogue_items.c.key_fields)
                )
            }
        return _Standards(bundle, calendar, key_fields)

    @property
    def standards(self) -> _Standards:
        with self._lock:
            if self._standards is None:
                self._standards = self._load_standards()
            return self._standards

    @property
    def calendar(self) -> WorkingCalendar:
        return self.standards.calendar

    def apply_standards(self, bundle: StandardsBundle) -> AppliedStandards:
        """Apply a standards bundle atomically; on a calendar change, recompute the open cases' due moments."""
        now = self.now()
        with UnitOfWork(self._engine) as uow:
            result = apply_bundle(uow.conn, bundle, now)
            moved = 0
            if result.calendar_changed:
                moved = self._recompute_open(uow, load_calendar(uow.conn))
            uow.commit()
        with self._lock:
            self._standards = None
        log.info(
            "standards.applied",
            version=bundle.version,
            applied=result.applied,
            calendar_changed=result.calendar_changed,
            cases_moved=moved,
        )
        return result

    def _recompute_open(self, uow: UnitOfWork, calendar: WorkingCalendar) -> int:
        """Recompute the derived due moments of every open case after a calendar change; log what moved."""
        st = self.standards
        repo = CaseRepository(uow.conn, st.key_fields)
        rows = uow.conn.execute(
            select(cases.c.case_no, cases.c.idx_due_at).where(cases.c.status.in_([s.value for s in OPEN_STATUSES]))
        ).all()
        moved = 0
        for case_no, old_due in rows:
            case = repo.get(case_no)
            idx = index_values(case, calendar, self.policy)
            repo.update_index(case_no, idx)
            if idx.due_at != old_due:
                moved += 1
                log.info("clock.recomputed", case_no=case_no, old_due=str(old_due), new_due=str(idx.due_at))
        return moved

    def catalogue(self) -> list[Item]:
        st = self.standards
        return list(st.items.values())

    def _require_standards(self) -> _Standards:
        st = self.standards
        if st.bundle is None:
            raise StandardsNotLoaded("本节点尚未加载事项目录（标准包），请先执行 sunshine county init")
        return st

    # -- use cases ------------------------------------------------------------------------------------------
    def submit(self, *, item_code: str, applicant: str, data: Mapping[str, Any] | None, actor: str) -> Case:
        """申请: register a new case for ``item_code``; returns the case with its number."""
        st = self._require_standards()
        assert st.bundle is not None
        item = st.bundle.item(item_code)
        now = self.now()
        with UnitOfWork(self._engine) as uow:
            day = local_date(now)
            seq = outbox.next_value(uow.conn, f"case_no:{self.division}:{day:%Y%m%d}")
            case_no = format_case_number(self.division, day, seq)
            result = new_case(
                case_no=case_no,
                origin=self.division,
                item=item,
                standards_version=st.bundle.version,
                applicant=applicant,
                data=data or {},
                actor=actor,
                now=now,
            )
            repo = CaseRepository(uow.conn, st.key_fields)
            case_seq = self._emit(uow, result, now)
            repo.add(
                result.case, result.event, index_values(result.case, st.calendar, self.policy), origin_seq=case_seq
            )
            uow.commit()
        return result.case

    def act(self, case_no: str, action: Action | str, *, actor: str, params: Mapping[str, Any] | None = None) -> Case:
        """Apply a lifecycle action to a case, in one transaction."""
        try:
            act = Action(action)
        except ValueError:
            raise ValidationError(f"未知的办件操作“{action}”", action=str(action)) from None
        st = self.standards
        now = self.now()
        with UnitOfWork(self._engine) as uow:
            repo = CaseRepository(uow.conn, st.key_fields)
            before = repo.get(case_no, for_update=True)
            max_ext = (
                self._config.max_extension_days_joint
                if before.kind is ItemKind.JOINT
                else self._config.max_extension_days
            )
            result = apply_action(before, act, actor=actor, now=now, params=params, max_extension_days=max_ext)
            case_seq = self._emit(uow, result, now)
            idx = index_values(result.case, st.calendar, self.policy)
            repo.save(before, result.case, result.event, idx, origin_seq=case_seq)
            uow.commit()
        return result.case

    def _emit(self, uow: UnitOfWork, result: TransitionResult, now: datetime) -> int:
        """Write the two outbox rows of a transition (snapshot, event); return the seq of the snapshot, which the
        case row keeps as its ``origin_seq`` (replicas apply a snapshot only when it is newer)."""
        seqs = outbox.append(
            uow.conn,
            origin=self.division,
            records=[
                outbox.OutboxRecord("case", result.case.case_no, "upsert", result.case.to_snapshot()),
                outbox.OutboxRecord(
                    "case_event",
                    result.event.event_id,
                    "insert",
                    {"event_id": result.event.event_id, **result.event.to_record()},
                ),
            ],
            created_at=now,
        )
        return seqs[0]

    # -- queries --------------------------------------------------------------------------------------------
    def get(self, case_no: str) -> CaseDetail:
        st = self.standards
        now = self.now()
        with UnitOfWork(self._engine, readonly=True) as uow:
            repo = CaseRepository(uow.conn, st.key_fields)
            case = repo.get(case_no)
            events = repo.events(case_no)
        return CaseDetail(case, case_clocks(case, st.calendar, now, self.policy), events, now)

    def list(self, flt: CaseFilter, *, page: int = 1, page_size: int = 20) -> CasePage:
        if page < 1 or not 1 <= page_size <= 200:
            raise ValidationError("分页参数无效：页码从 1 开始，每页 1 到 200 条")
        if flt.light is not None and flt.light not in {lt.value for lt in Light}:
            raise ValidationError(f"未知的灯色“{flt.light}”（white、yellow、red）", field="light")
        st = self.standards
        now = self.now()
        with UnitOfWork(self._engine, readonly=True) as uow:
            repo = CaseRepository(uow.conn, st.key_fields)
            found, total = repo.list(flt, now=now, offset=(page - 1) * page_size, limit=page_size)
        return CasePage(
            [(c, case_clocks(c, st.calendar, now, self.policy)) for c in found], total, page, page_size, now
        )

    def summary(self) -> dict[str, Any]:
        now = self.now()
        with UnitOfWork(self._engine, readonly=True) as uow:
            repo = CaseRepository(uow.conn, self.standards.key_fields)
            return {"as_of": now, "by_status": repo.counts_by_status(), "by_light": repo.counts_by_light(now)}
