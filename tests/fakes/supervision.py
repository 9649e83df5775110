"""In-memory fakes of the supervision ports (:mod:`county_node.ports`): alerts, complaints, ratings, orders, cases,
notifications. They keep their records in a :class:`~tests.fakes.county.FakeCountyDatabase` and write what the SQL
adapters would write to its outbox; the set-based light sweep has no fake (it is SQL by design)."""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from county_node.approval.domain import Case, Event
from county_node.supervision.domain.alerts import MAX_LEVEL, UNACKNOWLEDGED, Alert
from county_node.supervision.domain.complaints import Complaint, ComplaintStatus
from county_node.supervision.domain.orders import Order, OrderReply, format_order_id
from county_node.supervision.domain.ratings import Rating, RatingStatus
from county_node.supervision.ports import (
    NO_KEY_FIELDS,
    AlertFilter,
    Alerts,
    CaseDesk,
    CaseMark,
    Cases,
    Complaints,
    KeyFields,
    LightRaise,
    LightSweep,
    Notifications,
    OrderFilter,
    Orders,
    Ratings,
)
from federation.errors import AlertNotFound, CaseNotFound, ComplaintNotFound, NotFound, RatingNotFound

if TYPE_CHECKING:
    from tests.fakes.county import FakeCountyDatabase

R = TypeVar("R", Complaint, Rating)


class FakeAlerts(Alerts):
    def __init__(self, db: FakeCountyDatabase) -> None:
        self.db = db

    def new_ids(self, count: int) -> list[str]:
        return [f"{self.db.division}-A{self.db.next('alert'):09d}" for _ in range(count)]

    def insert(self, new: Sequence[Alert], now: datetime) -> None:
        self.update(new, now)

    def update(self, changed: Sequence[Alert], now: datetime) -> None:
        for a in changed:
            self.db.alerts[a.alert_id] = a
            self.db.emit("alert", a.alert_id)

    def get(self, alert_id: str, *, for_update: bool = False) -> Alert:
        found = self.find(alert_id)
        if found is None:
            raise AlertNotFound(f"未找到预警“{alert_id}”", alert_id=alert_id)
        return found

    def find(self, alert_id: str) -> Alert | None:
        return self.db.alerts.get(alert_id)

    def standing_of(self, subject_kind: str, subject_ids: Sequence[str]) -> dict[str, dict[str, Alert]]:
        out: dict[str, dict[str, Alert]] = {}
        wanted = set(subject_ids)
        for a in self.db.alerts.values():
            if a.standing and a.subject_kind == subject_kind and a.subject_id in wanted:
                out.setdefault(a.subject_id, {})[a.rule_id] = a
        return out

    def in_range(self, first_id: str, last_id: str) -> list[Alert]:
        return [self.db.alerts[i] for i in sorted(self.db.alerts) if first_id <= i <= last_id]

    def of_case(self, case_no: str) -> list[Alert]:
        return sorted(
            (a for a in self.db.alerts.values() if a.case_no == case_no), key=lambda a: (a.opened_at, a.alert_id)
        )

    def page(self, flt: AlertFilter, *, offset: int, limit: int) -> tuple[list[Alert], int]:
        def matches(a: Alert) -> bool:
            status = a.status.value != "closed" if flt.status == "active" else not flt.status or a.status == flt.status
            return (
                status
                and (not flt.light or a.light == flt.light)
                and (not flt.rule_id or a.rule_id == flt.rule_id)
                and (not flt.case_no or a.case_no == flt.case_no)
                and (flt.level is None or a.level == flt.level)
            )

        found = sorted(filter(matches, self.db.alerts.values()), key=lambda a: (a.opened_at, a.alert_id), reverse=True)
        return found[offset : offset + limit], len(found)

    def counts(self) -> list[dict[str, Any]]:
        n = Counter((a.rule_id, a.light, a.status.value) for a in self.db.alerts.values())
        return [
            {"rule_id": rule, "light": light, "status": status, "n": count}
            for (rule, light, status), count in sorted(n.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2]))
        ]

    def awaiting_escalation(self, now: datetime, *, disabled_rules: Collection[str], limit: int) -> list[Alert]:
        due = [
            a
            for a in self.db.alerts.values()
            if a.status in UNACKNOWLEDGED
            and a.ack_due_at is not None
            and a.ack_due_at <= now
            and a.acknowledged_at is None
            and a.level < MAX_LEVEL
            and a.rule_id not in disabled_rules
        ]
        return sorted(due, key=lambda a: a.ack_due_at or now)[:limit]

    def holding_video(self, since: datetime) -> list[Alert]:
        return [
            a
            for a in self.db.alerts.values()
            if (a.case_no is not None or a.subject_kind == "complaint") and (a.closed_at is None or a.closed_at > since)
        ]


class _FakeFeedback(abc.ABC, Generic[R]):
    """Complaints or ratings in memory (what :class:`ComplaintStore` and :class:`RatingStore` share)."""

    record_type: str
    prefix: str
    rule_id: str

    def __init__(self, db: FakeCountyDatabase) -> None:
        self.db = db

    @property
    @abc.abstractmethod
    def _rows(self) -> dict[str, R]: ...

    @abc.abstractmethod
    def _key(self, record: R) -> str: ...

    @abc.abstractmethod
    def _waiting(self, record: R) -> bool: ...

    @abc.abstractmethod
    def _not_found(self, key: str) -> NotFound: ...

    def new_id(self) -> str:
        return f"{self.db.division}-{self.prefix}{self.db.next(self.prefix.lower()):08d}"

    def add(self, record: R, now: datetime) -> None:
        self.save(record, now)

    def save(self, record: R, now: datetime) -> None:
        self._rows[self._key(record)] = record
        self.db.emit(self.record_type, self._key(record))

    def get(self, key: str, *, for_update: bool = False) -> R:
        if key not in self._rows:
            raise self._not_found(key)
        return self._rows[key]

    def _page(self, found: Iterable[R], order: Any, offset: int, limit: int) -> tuple[list[R], int]:
        ordered = sorted(found, key=lambda r: (order(r), self._key(r)), reverse=True)
        return ordered[offset : offset + limit], len(ordered)

    def overdue(self, now: datetime, *, limit: int) -> list[R]:
        standing = {a.subject_id for a in self.db.alerts.values() if a.standing and a.rule_id == self.rule_id}
        due = [
            r
            for r in self._rows.values()
            if self._waiting(r) and r.due_at is not None and r.due_at <= now and self._key(r) not in standing
        ]
        return sorted(due, key=lambda r: (r.due_at or now, self._key(r)))[:limit]


class FakeComplaints(_FakeFeedback[Complaint], Complaints):
    record_type, prefix, rule_id = "complaint", "TS", "SUP-101"

    @property
    def _rows(self) -> dict[str, Complaint]:
        return self.db.complaints

    def _key(self, record: Complaint) -> str:
        return record.complaint_id

    def _waiting(self, record: Complaint) -> bool:
        return record.status is ComplaintStatus.OPEN

    def _not_found(self, key: str) -> NotFound:
        return ComplaintNotFound(f"未找到投诉“{key}”", complaint_id=key)

    def find(self, complaint_id: str) -> Complaint | None:
        return self.db.complaints.get(complaint_id)

    def page(self, *, status: str | None, case_no: str | None, offset: int, limit: int) -> tuple[list[Complaint], int]:
        found = (
            c
            for c in self.db.complaints.values()
            if (not status or c.status == status) and (not case_no or c.case_no == case_no)
        )
        return self._page(found, lambda c: c.filed_at, offset, limit)

    def counts_by_status(self) -> dict[str, int]:
        return dict(Counter(c.status.value for c in self.db.complaints.values()))

    def holding_video(self, since: datetime) -> list[Complaint]:
        return [c for c in self.db.complaints.values() if c.closed_at is None or c.closed_at > since]


class FakeRatings(_FakeFeedback[Rating], Ratings):
    record_type, prefix, rule_id = "rating", "PJ", "SUP-201"

    @property
    def _rows(self) -> dict[str, Rating]:
        return self.db.ratings

    def _key(self, record: Rating) -> str:
        return record.rating_id

    def _waiting(self, record: Rating) -> bool:
        return record.status is RatingStatus.FOLLOW_UP_PENDING

    def _not_found(self, key: str) -> NotFound:
        return RatingNotFound(f"未找到评价“{key}”", rating_id=key)

    def page(
        self, *, case_no: str | None, staff: str | None, negative: bool | None, offset: int, limit: int
    ) -> tuple[list[Rating], int]:
        found = (
            r
            for r in self.db.ratings.values()
            if (not case_no or r.case_no == case_no)
            and (not staff or r.staff == staff)
            and (negative is None or r.negative == negative)
        )
        return self._page(found, lambda r: r.at, offset, limit)

    def counts_by_level(self) -> dict[int, int]:
        return dict(Counter(r.level for r in self.db.ratings.values()))


class FakeOrders(Orders):
    """Orders and replies with their ``origin_seq`` (None: written by this node)."""

    def __init__(self, db: FakeCountyDatabase) -> None:
        self.db = db

    def new_order_id(self) -> str:
        return format_order_id(self.db.division, self.db.next("order"))

    def save_order(self, order: Order, now: datetime, *, new: bool) -> None:
        self.db.orders[order.order_id] = (order, self.db.emit("order", order.order_id))

    def save_reply(self, reply: OrderReply, now: datetime, *, new: bool) -> None:
        self.db.replies[reply.order_id] = (reply, self.db.emit("order_reply", reply.order_id))

    def upsert_orders(self, snapshots: Sequence[tuple[Order, int]]) -> None:
        for order, seq in snapshots:
            held = self.db.orders.get(order.order_id)
            if held is None or held[1] is None or held[1] < seq:
                self.db.orders[order.order_id] = (order, seq)

    def upsert_replies(self, snapshots: Sequence[tuple[OrderReply, int]]) -> None:
        for reply, seq in snapshots:
            held = self.db.replies.get(reply.order_id)
            if held is None or held[1] is None or held[1] < seq:
                self.db.replies[reply.order_id] = (reply, seq)

    def order_seqs(self, order_ids: Sequence[str]) -> dict[str, tuple[int | None, str]]:
        return {i: (seq, o.county) for i in order_ids if i in self.db.orders for o, seq in [self.db.orders[i]]}

    def reply_seqs(self, order_ids: Sequence[str]) -> dict[str, tuple[int | None, str]]:
        return {i: (seq, r.county) for i in order_ids if i in self.db.replies for r, seq in [self.db.replies[i]]}

    def find_order(self, order_id: str, *, for_update: bool = False) -> Order | None:
        held = self.db.orders.get(order_id)
        return None if held is None else held[0]

    def order(self, order_id: str, *, for_update: bool = False) -> Order:
        found = self.find_order(order_id)
        if found is None:
            raise NotFound(f"未找到督办指令“{order_id}”", order_id=order_id)
        return found

    def reply(self, order_id: str, county: str, *, for_update: bool = False) -> OrderReply | None:
        held = self.db.replies.get(order_id)
        return held[0] if held is not None and held[0].county == county else None

    def page(self, flt: OrderFilter, *, offset: int, limit: int) -> tuple[list[tuple[Order, OrderReply | None]], int]:
        def matches(o: Order, r: OrderReply | None) -> bool:
            reply = r is None if flt.reply == "pending" else not flt.reply or (r is not None and r.status == flt.reply)
            return (
                o.county.startswith(flt.scope)
                and (not flt.county or o.county == flt.county)
                and (not flt.issuer or o.issuer == flt.issuer)
                and (not flt.status or o.status == flt.status)
                and (not flt.subject_id or o.subject_id == flt.subject_id)
                and reply
            )

        pairs = [(o, self.reply(o.order_id, o.county)) for o, _ in self.db.orders.values()]
        found = sorted((p for p in pairs if matches(*p)), key=lambda p: (p[0].issued_at, p[0].order_id), reverse=True)
        return found[offset : offset + limit], len(found)


class FakeCases(Cases):
    """Cases and their timelines as the tests put them (:meth:`put`)."""

    def __init__(self, db: FakeCountyDatabase) -> None:
        self.db = db

    def put(self, case: Case, events: Sequence[Event] = ()) -> None:
        self.db.cases[case.case_no] = case
        self.db.timelines.setdefault(case.case_no, []).extend(events)

    def get(self, case_no: str, key_fields: KeyFields = NO_KEY_FIELDS) -> Case:
        if case_no not in self.db.cases:
            raise CaseNotFound(f"未找到办件“{case_no}”", case_no=case_no)
        return self.db.cases[case_no]

    def many(self, case_nos: Sequence[str], key_fields: KeyFields = NO_KEY_FIELDS) -> list[Case]:
        return [self.db.cases[n] for n in sorted(set(case_nos)) if n in self.db.cases]

    def timeline(self, case_no: str) -> list[Event]:
        return list(self.db.timelines.get(case_no, []))

    def timelines(self, case_nos: Sequence[str]) -> dict[str, list[Event]]:
        return {n: self.timeline(n) for n in case_nos if self.db.timelines.get(n)}

    def waking(self, now: datetime, *, limit: int) -> list[str]:
        due = [m for m in self.db.marks.values() if m.wake_at is not None and m.wake_at <= now]
        return [m.case_no for m in sorted(due, key=lambda m: (m.wake_at or now, m.case_no))][:limit]

    def mark(self, marks: Sequence[CaseMark]) -> None:
        self.db.marks.update((m.case_no, m) for m in marks)

    def desk_of(self, case_no: str) -> CaseDesk | None:
        case = self.db.cases.get(case_no)
        return None if case is None else CaseDesk(case.origin, case.window)

    def step_at(self, case_no: str, n: int) -> datetime | None:
        return next((e.at for e in self.db.timelines.get(case_no, []) if e.n == n), None)

    def last_step_at(self, case_no: str, at: datetime) -> datetime | None:
        return max((e.at for e in self.db.timelines.get(case_no, []) if e.at <= at), default=None)


class NoLightSweep(LightSweep):
    """The light sweep is set-based SQL by design: tests of the sweep run on a real database."""

    def __init__(self, db: FakeCountyDatabase) -> None:
        self.db = db

    def refresh_statistics(self) -> None:
        return None

    def raise_alerts(self, spec: LightRaise, *, limit: int) -> list[str]:
        raise NotImplementedError("the light sweep runs in SQL: see tests/integration/test_supervision_service.py")

    def clear_yellow_of_red(self, red: Sequence[str], now: datetime, reason: str) -> int:
        raise NotImplementedError("the light sweep runs in SQL: see tests/integration/test_supervision_service.py")

    def watermark(self) -> str | None:
        return self.db.settings.get("supervision.light_swept")

    def set_watermark(self, value: str) -> None:
        self.db.settings["supervision.light_swept"] = value


class FakeNotifications(Notifications):
    def __init__(self, db: FakeCountyDatabase) -> None:
        self.db = db

    def enqueue(
        self, *, recipients: Iterable[str], subject_kind: str, subject_id: str, message: str, now: datetime
    ) -> int:
        unique = list(dict.fromkeys(r.strip() for r in recipients if r.strip()))
        self.db.notifications += [(r, subject_kind, subject_id, message) for r in unique]
        return len(unique)
