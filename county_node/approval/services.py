"""Approval service layer: every use case is one unit of work (one transaction).

Each transition writes, in one transaction: the case change, its append-only event, and two outbox rows (the
case snapshot and the event) with gap-free ``seq`` for this node; the case row keeps the seq of its snapshot
(``cases.origin_seq``), the same value its replicas hold. A refused transition raises a typed error and
the transaction is rolled back, so nothing is written.

"Now" is read from the clock only once the transaction holds its lock (the case's row for an action, the node's
outbox counter for a submission), so concurrent writers of one case stamp their events in commit order and the
later one is judged against the case as the earlier one left it, never refused for a time "before" it.

The standards in force (catalogue, calendar) are cached per process and re-checked against the database every
few seconds, so a bundle applied by another process (``sunshine county init`` on a running node, or the
replication receiver putting a bundle sent down in force) is picked up without a restart — and so is a bundle
held since before its effective date, on the first check of that (local) date. Cases keep the standards version
they were accepted under.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from county_node.approval.adapters.reindex import (
    indexed_policy,
    key_fields_of,
    policy_key,
    recompute_open_cases,
    reindex_after_standards,
)
from county_node.approval.adapters.repository import CaseFilter, CaseRepository
from county_node.approval.domain import (
    OPEN_STATUSES,
    Action,
    Case,
    CaseClocks,
    IndexValues,
    TransitionResult,
    apply_action,
    case_clocks,
    index_values,
    new_case,
)
from county_node.approval.domain.clocks import light_policy_of
from federation.calendar import WorkingCalendar
from federation.clock import Light, LightPolicy, missing_year_warning
from federation.config import ClockConfig
from federation.errors import StandardsNotLoaded, ValidationError
from federation.identities import format_case_number
from federation.paging import page_offset
from federation.standards import BundleValidator, Item, ItemKind, StandardsBundle, validate_bundle
from federation.storage import outbox
from federation.storage.standards_store import (
    AppliedStandards,
    apply_bundle,
    current_bundle,
    in_force_version,
    load_calendar,
)
from federation.storage.tables import calendar_years
from federation.storage.uow import UnitOfWork
from federation.timeutil import local_date

__all__ = [
    "STANDARDS_TTL_SECONDS",
    "ApprovalService",
    "CaseDetail",
    "CaseObserver",
    "CasePage",
    "StandardsObserver",
    "Within",
    "light_policy_of",
]

log = structlog.get_logger(__name__)


Clock = Callable[[], datetime]


class CaseObserver(Protocol):
    """Told of every case change inside the transaction that wrote it (the supervision service evaluates it)."""

    def case_changed(
        self, conn: Connection, case: Case, now: datetime, st: Any, previous: tuple[Any, Any] | None
    ) -> None: ...


class StandardsObserver(Protocol):
    """Told of every standards bundle applied here (locally or sent down), inside the transaction that applied it
    (the county's publication of its public catalogue)."""

    def standards_applied(self, conn: Connection, result: AppliedStandards, now: datetime) -> None: ...


Within = Callable[[Connection, Case, datetime], None]
"""A caller's own writes in a use case's transaction: given the case as written and "now", called before the
observers are told (so they see those writes), e.g. an online application marked accepted with its case."""


STANDARDS_TTL_SECONDS = 5.0
"""How long the cached standards are trusted before the database is asked whether they changed."""


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
    """The standards in force on this node, cached; ``fingerprint`` tells whether the database still holds them."""

    def __init__(
        self,
        bundle: StandardsBundle | None,
        calendar: WorkingCalendar,
        key_fields: dict[tuple[str, str], tuple[str, ...]],
        fingerprint: tuple[Any, ...] = (),
        policy: LightPolicy | None = None,
        *,
        day: date | None = None,
    ) -> None:
        self.day = day  # the local date they were read for: a bundle may come into force at the next midnight
        self.bundle = bundle
        self.calendar = calendar
        self.policy = policy or LightPolicy()
        self.key_fields = key_fields
        self.fingerprint = fingerprint
        self.items: dict[str, Item] = {i.code: i for i in bundle.items} if bundle else {}


def _standards_fingerprint(conn: Connection, day: date) -> tuple[Any, ...]:
    """What identifies the standards in force on ``day``: that version and every stored calendar year's revision.

    Two small reads; a bundle applied by any process, or one coming into force on ``day``, changes the version
    (and a calendar change comes only with a bundle, but the years are compared too, so a calendar written
    another way is noticed as well)."""
    years = tuple(
        tuple(r)
        for r in conn.execute(select(calendar_years.c.year, calendar_years.c.revision).order_by(calendar_years.c.year))
    )
    return (in_force_version(conn, day), years)


class ApprovalService:
    """The county's approval use cases. ``clock`` gives "now" (the real clock, or the demo's simulated one).

    The standards are cached and re-checked after ``standards_ttl`` seconds of ``monotonic`` (real elapsed time,
    whatever the business clock does; injectable for tests)."""

    def __init__(
        self,
        engine: Engine,
        division: str,
        clock: Clock,
        clock_config: ClockConfig | None = None,
        *,
        standards_ttl: float = STANDARDS_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        validators: Sequence[BundleValidator] = (),
        read_only: bool = False,
    ) -> None:
        self._engine = engine
        self.division = division
        self._now = clock
        self._config = clock_config or ClockConfig()
        self.default_policy = LightPolicy(self._config.yellow_days, self._config.yellow_share)
        self._lock = threading.Lock()
        self._standards: _Standards | None = None
        self._standards_ttl = standards_ttl
        self._monotonic = monotonic
        self._checked_at = 0.0  # monotonic time the cached standards were last confirmed
        self._warned_years: set[int] = set()  # unpublished years already warned about (this service = the process)
        self._observers: list[CaseObserver] = []
        self._standards_observers: list[StandardsObserver] = []
        self._validators = tuple(validators)  # checks of a bundle applied locally (rule parameters, scoring)
        # a reader of replicas (the inspectors' API) never re-indexes: the receiver and the publisher do that
        self._read_only = read_only

    def observe(self, observer: CaseObserver) -> None:
        """Call ``observer.case_changed`` in the transaction of every submission and action (composition root)."""
        self._observers.append(observer)

    def observe_standards(self, observer: StandardsObserver) -> None:
        """Call ``observer.standards_applied`` in the transaction of every bundle applied (composition root)."""
        self._standards_observers.append(observer)

    # -- standards ------------------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._now()

    def _load_standards(self, cached: _Standards | None) -> _Standards:
        """The standards in the database: ``cached`` itself when its fingerprint still matches."""
        day = local_date(self.now())
        with UnitOfWork(self._engine, readonly=True) as uow:
            fingerprint = _standards_fingerprint(uow.conn, day)
            if cached is not None and cached.fingerprint == fingerprint:
                cached.day = day
                return cached
            bundle = current_bundle(uow.conn, day)
            calendar = load_calendar(uow.conn)
            key_fields = key_fields_of(uow.conn)
            indexed = indexed_policy(uow.conn)
        fresh = _Standards(
            bundle, calendar, key_fields, fingerprint, light_policy_of(bundle, self.default_policy), day=day
        )
        if cached is not None:
            log.info(
                "standards.reloaded",
                version=bundle.version if bundle else None,
                previous=cached.bundle.version if cached.bundle else None,
                calendar_version=calendar.version,
            )
        if bundle is not None and not self._read_only and indexed != policy_key(fresh.policy):
            self._reindex_for_policy(fresh)
        return fresh

    def _reindex_for_policy(self, st: _Standards) -> None:
        """The light thresholds in force differ from those the stored yellow moments were computed with (a bundle
        came into force on its effective date, or a node restarted after one did): the open cases' yellow moments
        follow. Checked again under the writer lock, so of several processes noticing it one re-indexes."""
        with UnitOfWork(self._engine) as uow:
            self._lock_outbox(uow)
            if indexed_policy(uow.conn) == policy_key(st.policy):
                return
            assert st.bundle is not None
            moved = recompute_open_cases(
                uow.conn, st.calendar, st.key_fields, st.policy, standards_version=st.bundle.version, now=None
            )
            uow.commit()
        log.info("standards.policy_switched", version=st.bundle.version, cases_moved=moved)

    @property
    def standards(self) -> _Standards:
        with self._lock:
            at = self._monotonic()
            st = self._standards
            # a node still waiting for its first bundle looks every time: it may have arrived from another process;
            # so does the first use after midnight (a bundle comes into force on its date, not a TTL later)
            if (
                st is None
                or st.bundle is None
                or at - self._checked_at >= self._standards_ttl
                or st.day != local_date(self.now())
            ):
                st = self._standards = self._load_standards(st)
                self._checked_at = at
            return st

    @property
    def calendar(self) -> WorkingCalendar:
        return self.standards.calendar

    @property
    def policy(self) -> LightPolicy:
        """The light thresholds in force (see :func:`light_policy_of`)."""
        return self.standards.policy

    def apply_standards(self, bundle: StandardsBundle) -> AppliedStandards:
        """Apply a standards bundle atomically (checked by the injected validators first); on a calendar change,
        recompute the open cases' due moments and log what moved. (A bundle applied locally, by ``county init``, is not
        reported up: the status the province sees is of the bundles it sent down, see ``StandardsApplier``.)"""
        validate_bundle(bundle, self._validators)
        now = self.now()
        with UnitOfWork(self._engine) as uow:
            self._lock_outbox(uow)  # the sweep's counted set of due cases must not move under it
            result = apply_bundle(uow.conn, bundle, now)
            moved = reindex_after_standards(uow.conn, result, now=now, default_policy=self.default_policy)
            for observer in self._standards_observers:
                observer.standards_applied(uow.conn, result, now)
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

    def on_standards_replicated(self, conn: Connection, result: AppliedStandards) -> None:
        """The hook of the county's standards applier, in the transaction that put a bundle sent down by the
        province in force: as :meth:`apply_standards`, the open cases' due moments follow a changed calendar."""
        now = self.now()
        moved = reindex_after_standards(conn, result, now=now, default_policy=self.default_policy)
        for observer in self._standards_observers:
            observer.standards_applied(conn, result, now)
        self._checked_at = -float("inf")  # the next read of the standards confirms them against the database
        log.info("standards.replicated_applied", calendar_changed=result.calendar_changed, cases_moved=moved)

    def _warn_provisional(self, case_no: str, clocks: CaseClocks | None) -> None:
        """Warn, once per year and process, that a deadline reaches into a year whose calendar is unpublished."""
        if clocks is None:
            return
        self._warn_years(
            case_no,
            {
                y
                for reading in (clocks.promised, clocks.legal, *clocks.tasks.values())
                for y in reading.deadline.missing_years
            },
        )

    def _warn_years(self, case_no: str, years: set[int]) -> None:
        if not years or years <= self._warned_years:
            return
        with self._lock:
            new = sorted(years - self._warned_years)
            self._warned_years.update(new)
        for year in new:
            log.warning(
                "calendar.year_missing",
                year=year,
                case_no=case_no,
                detail=missing_year_warning(year),
            )

    def catalogue(self) -> list[Item]:
        st = self.standards
        return list(st.items.values())

    def _require_standards(self) -> _Standards:
        st = self.standards
        if st.bundle is None:
            raise StandardsNotLoaded("本节点尚未加载事项目录（标准包），请先执行 sunshine county init")
        return st

    # -- use cases ------------------------------------------------------------------------------------------
    def submit(
        self,
        *,
        item_code: str,
        applicant: str,
        data: Mapping[str, Any] | None,
        actor: str,
        window: str | None = None,
        within: Within | None = None,
    ) -> Case:
        """申请: register a new case for ``item_code`` (taken in at ``window``, when known); returns the case with its
        number. ``within``: the caller's own writes in the same transaction (before the observers are told)."""
        st = self._require_standards()
        with UnitOfWork(self._engine) as uow:
            self._lock_outbox(uow)
            case, now = self._submit_in(
                uow, st, item_code=item_code, applicant=applicant, data=data, actor=actor, window=window
            )
            self._tell(uow.conn, case, now, st, previous=(None, None), within=within)
            uow.commit()
        return case

    def take_in(
        self,
        *,
        item_code: str,
        applicant: str,
        data: Mapping[str, Any] | None,
        actor: str,
        window: str | None = None,
        note: str | None = None,
        within: Within | None = None,
    ) -> Case:
        """申请 and 受理 in one transaction (an online application a clerk accepts): the case exists accepted, or not
        at all. ``within`` runs once, after the acceptance and before the observers are told of it."""
        st = self._require_standards()
        with UnitOfWork(self._engine) as uow:
            self._lock_outbox(uow)
            submitted, now = self._submit_in(
                uow, st, item_code=item_code, applicant=applicant, data=data, actor=actor, window=window
            )
            self._tell(uow.conn, submitted, now, st, previous=(None, None), within=None)
            params = {"note": note} if note else {}
            case, _ = self._act_in(uow, st, submitted.case_no, Action.ACCEPT, actor=actor, params=params, within=within)
            uow.commit()
        return case

    def _submit_in(
        self,
        uow: UnitOfWork,
        st: _Standards,
        *,
        item_code: str,
        applicant: str,
        data: Mapping[str, Any] | None,
        actor: str,
        window: str | None,
    ) -> tuple[Case, datetime]:
        assert st.bundle is not None
        item = st.bundle.item(item_code)
        now = self.now()
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
            window=window,
        )
        repo = CaseRepository(uow.conn, st.key_fields)
        case_seq = self._emit(uow, result, now)
        repo.add(result.case, result.event, index_values(result.case, st.calendar, st.policy), origin_seq=case_seq)
        return result.case, now

    def _tell(
        self,
        conn: Connection,
        case: Case,
        now: datetime,
        st: _Standards,
        *,
        previous: tuple[Any, Any] | None,
        within: Within | None,
    ) -> None:
        if within is not None:
            within(conn, case, now)
        for observer in self._observers:
            observer.case_changed(conn, case, now, st, previous)

    def act(
        self,
        case_no: str,
        action: Action | str,
        *,
        actor: str,
        params: Mapping[str, Any] | None = None,
        within: Within | None = None,
    ) -> Case:
        """Apply a lifecycle action to a case, in one transaction (``within``: the caller's own writes in it)."""
        try:
            act = Action(action)
        except ValueError:
            raise ValidationError(f"未知的办件操作“{action}”", action=str(action)) from None
        st = self.standards
        with UnitOfWork(self._engine) as uow:
            self._lock_outbox(uow)  # first, as every writer of this node: the sweep then sees this case as it is
            case, idx = self._act_in(uow, st, case_no, act, actor=actor, params=params, within=within)
            uow.commit()
        if case.status in OPEN_STATUSES:
            if idx.calendar_version is not None and not case.tasks:  # its deadlines were just computed: no re-read
                self._warn_years(case_no, set(idx.missing_years))
            else:
                self._warn_provisional(case_no, case_clocks(case, st.calendar, self.now(), st.policy))
        return case

    def _act_in(
        self,
        uow: UnitOfWork,
        st: _Standards,
        case_no: str,
        act: Action,
        *,
        actor: str,
        params: Mapping[str, Any] | None,
        within: Within | None,
    ) -> tuple[Case, IndexValues]:
        repo = CaseRepository(uow.conn, st.key_fields)
        before = repo.get(case_no, for_update=True)
        now = self.now()  # only now: a concurrent action on this case has committed (or not begun)
        max_ext = (
            self._config.max_extension_days_joint if before.kind is ItemKind.JOINT else self._config.max_extension_days
        )
        result = apply_action(before, act, actor=actor, now=now, params=params, max_extension_days=max_ext)
        case_seq = self._emit(uow, result, now)
        idx = index_values(result.case, st.calendar, st.policy)
        repo.save(before, result.case, result.event, idx, origin_seq=case_seq)
        self._tell(uow.conn, result.case, now, st, previous=repo.loaded_supervision(case_no), within=within)
        return result.case, idx

    def _lock_outbox(self, uow: UnitOfWork) -> None:
        """Take the lock that orders this node's writers before reading the clock (:func:`outbox.lock_origin`)."""
        outbox.lock_origin(uow.conn, self.division)

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
        clocks = case_clocks(case, st.calendar, now, st.policy)
        self._warn_provisional(case_no, clocks)
        return CaseDetail(case, clocks, events, now)

    def list(self, flt: CaseFilter, *, page: int = 1, page_size: int = 20) -> CasePage:
        offset = page_offset(page, page_size)
        if flt.light is not None and flt.light not in {lt.value for lt in Light}:
            raise ValidationError(f"未知的灯色“{flt.light}”（white、yellow、red）", field="light")
        st = self.standards
        now = self.now()
        with UnitOfWork(self._engine, readonly=True) as uow:
            repo = CaseRepository(uow.conn, st.key_fields)
            found, total = repo.list(flt, now=now, offset=offset, limit=page_size)
        items = [(c, case_clocks(c, st.calendar, now, st.policy)) for c in found]
        for c, clocks in items:
            self._warn_provisional(c.case_no, clocks)
        return CasePage(items, total, page, page_size, now)

    def summary(self) -> dict[str, Any]:
        now = self.now()
        with UnitOfWork(self._engine, readonly=True) as uow:
            repo = CaseRepository(uow.conn, self.standards.key_fields)
            return {"as_of": now, "by_status": repo.counts_by_status(), "by_light": repo.counts_by_light(now)}
