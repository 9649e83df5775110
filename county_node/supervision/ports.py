"""The supervision ports of the county's unit of work (re-exported by :mod:`county_node.ports`): alerts,
complaints, ratings, orders, the cases as supervision and the video index read them, the light sweep, the
notification queue — and the values they are asked with."""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from county_node.approval.domain import Case, Event
from county_node.supervision.domain.alerts import Alert
from county_node.supervision.domain.complaints import Complaint
from county_node.supervision.domain.orders import ORDER_STATUS_LABELS, REPLY_STATUS_LABELS, Order, OrderReply
from county_node.supervision.domain.ratings import Rating
from federation.errors import ValidationError

__all__ = [
    "NO_KEY_FIELDS",
    "AlertFilter",
    "Alerts",
    "CaseDesk",
    "CaseMark",
    "Cases",
    "Complaints",
    "KeyFields",
    "LightRaise",
    "LightSweep",
    "Notifications",
    "OrderFilter",
    "Orders",
    "Ratings",
]

KeyFields = Mapping[tuple[str, str], tuple[str, ...]]
"""(standards version, item code) → the item's key data fields: what a case read back is checked against."""
NO_KEY_FIELDS: KeyFields = MappingProxyType({})


# -- what the ports are asked with ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertFilter:
    status: str | None = None  # a status, or "active" (any but closed)
    light: str | None = None
    rule_id: str | None = None
    case_no: str | None = None
    level: int | None = None


@dataclass(frozen=True, slots=True)
class OrderFilter:
    scope: str = ""  # a division prefix: only orders to counties below it
    county: str | None = None
    issuer: str | None = None
    status: str | None = None  # issued | withdrawn | closed
    reply: str | None = None  # pending (no reply yet) | received | answered
    subject_id: str | None = None

    def check(self) -> None:
        if self.status is not None and self.status not in ORDER_STATUS_LABELS:
            raise ValidationError(f"未知的指令状态“{self.status}”（issued、withdrawn、closed）", field="status")
        if self.reply is not None and self.reply not in ("pending", *REPLY_STATUS_LABELS):
            raise ValidationError(f"未知的办复状态“{self.reply}”（pending、received、answered）", field="reply")


@dataclass(frozen=True, slots=True)
class CaseMark:
    """A case's supervision bookkeeping: when a time-driven rule other than the lights can next change
    (``wake_at``), and the events that shaped its clock (``evidence``)."""

    case_no: str
    wake_at: datetime | None
    evidence: list[str]


@dataclass(frozen=True, slots=True)
class CaseDesk:
    """Where a case is handled: its county and the window that took it (None: not recorded)."""

    origin: str
    window: str | None


@dataclass(frozen=True, slots=True)
class LightRaise:
    """What every alert of one light rule raised by one sweep shares."""

    origin: str
    rule_id: str
    rule_version: int
    rule_name: str
    light: str  # "yellow" | "red"
    running: Sequence[str]  # the statuses in which the clock runs
    now: datetime
    ack_due_at: datetime
    standards_version: str | None
    parameters_json: str  # canonical JSON
    history_json: str  # canonical JSON: the one "raise" step
    since: datetime | None = None  # the previous complete sweep: only moments in (since, now] can be newly due


# -- supervision ----------------------------------------------------------------------------------------------------


class Alerts(abc.ABC):
    """The alerts held by one node; writes go to the node's outbox (record type ``alert``)."""

    @abc.abstractmethod
    def new_ids(self, count: int) -> list[str]:
        """``count`` new alert ids ``{origin}-A{n:09d}`` from the node's gap-free counter."""

    @abc.abstractmethod
    def insert(self, new: Sequence[Alert], now: datetime) -> None: ...

    @abc.abstractmethod
    def update(self, changed: Sequence[Alert], now: datetime) -> None: ...

    @abc.abstractmethod
    def get(self, alert_id: str, *, for_update: bool = False) -> Alert:
        """The alert; :class:`~federation.errors.AlertNotFound` when there is none."""

    @abc.abstractmethod
    def find(self, alert_id: str) -> Alert | None: ...

    @abc.abstractmethod
    def standing_of(self, subject_kind: str, subject_ids: Sequence[str]) -> dict[str, dict[str, Alert]]:
        """The standing alerts of many subjects of one kind: subject id → rule → alert."""

    @abc.abstractmethod
    def in_range(self, first_id: str, last_id: str) -> list[Alert]:
        """The alerts with ids ``first_id`` … ``last_id``, by id."""

    @abc.abstractmethod
    def of_case(self, case_no: str) -> list[Alert]:
        """A case's alerts, oldest first."""

    @abc.abstractmethod
    def page(self, flt: AlertFilter, *, offset: int, limit: int) -> tuple[list[Alert], int]:
        """The alerts matching ``flt`` (newest first) from ``offset``, and how many match."""

    @abc.abstractmethod
    def counts(self) -> list[dict[str, Any]]:
        """``{rule_id, light, status, n}`` per rule, light and status, in that order."""

    @abc.abstractmethod
    def awaiting_escalation(self, now: datetime, *, disabled_rules: Collection[str], limit: int) -> list[Alert]:
        """Alerts not acknowledged by their limit (``ack_due_at`` ≤ ``now``) below the top level, of rules
        switched on, earliest limit first."""

    @abc.abstractmethod
    def holding_video(self, since: datetime) -> list[Alert]:
        """The alerts of a case or a complaint that are open or were closed after ``since`` (their video is held)."""


class Complaints(abc.ABC):
    """The complaints held by one node; writes go to the node's outbox (record type ``complaint``)."""

    @abc.abstractmethod
    def new_id(self) -> str: ...

    @abc.abstractmethod
    def add(self, complaint: Complaint, now: datetime) -> None: ...

    @abc.abstractmethod
    def save(self, complaint: Complaint, now: datetime) -> None: ...

    @abc.abstractmethod
    def get(self, complaint_id: str, *, for_update: bool = False) -> Complaint:
        """The complaint; :class:`~federation.errors.ComplaintNotFound` when there is none."""

    @abc.abstractmethod
    def find(self, complaint_id: str) -> Complaint | None: ...

    @abc.abstractmethod
    def page(self, *, status: str | None, case_no: str | None, offset: int, limit: int) -> tuple[list[Complaint], int]:
        """The complaints matching (newest first) from ``offset``, and how many match."""

    @abc.abstractmethod
    def counts_by_status(self) -> dict[str, int]: ...

    @abc.abstractmethod
    def overdue(self, now: datetime, *, limit: int) -> list[Complaint]:
        """Open complaints past their limit (``due_at`` ≤ ``now``) with no standing SUP-101 alert, earliest first."""

    @abc.abstractmethod
    def holding_video(self, since: datetime) -> list[Complaint]:
        """The complaints open, or closed after ``since`` (their video is held)."""


class Ratings(abc.ABC):
    """The ratings held by one node; writes go to the node's outbox (record type ``rating``)."""

    @abc.abstractmethod
    def new_id(self) -> str: ...

    @abc.abstractmethod
    def add(self, rating: Rating, now: datetime) -> None: ...

    @abc.abstractmethod
    def save(self, rating: Rating, now: datetime) -> None: ...

    @abc.abstractmethod
    def get(self, rating_id: str, *, for_update: bool = False) -> Rating:
        """The rating; :class:`~federation.errors.RatingNotFound` when there is none."""

    @abc.abstractmethod
    def page(
        self, *, case_no: str | None, staff: str | None, negative: bool | None, offset: int, limit: int
    ) -> tuple[list[Rating], int]:
        """The ratings matching (newest first) from ``offset``, and how many match."""

    @abc.abstractmethod
    def counts_by_level(self) -> dict[int, int]: ...

    @abc.abstractmethod
    def overdue(self, now: datetime, *, limit: int) -> list[Rating]:
        """Ratings waiting for their follow-up past its limit with no standing SUP-201 alert, earliest first."""


class Orders(abc.ABC):
    """Orders and replies held by one node (the issuer's ``order`` records, the county's ``order_reply``)."""

    @abc.abstractmethod
    def new_order_id(self) -> str:
        """The next order id of this node (the issuer), from its gap-free counter."""

    @abc.abstractmethod
    def save_order(self, order: Order, now: datetime, *, new: bool) -> None:
        """Write an order this node issued, with its ``order`` outbox record."""

    @abc.abstractmethod
    def save_reply(self, reply: OrderReply, now: datetime, *, new: bool) -> None:
        """Write this county's reply to an order, with its ``order_reply`` outbox record."""

    @abc.abstractmethod
    def upsert_orders(self, snapshots: Sequence[tuple[Order, int]]) -> None:
        """Write replicated orders, each with its ``origin_seq``: a stored row with a newer seq stays."""

    @abc.abstractmethod
    def upsert_replies(self, snapshots: Sequence[tuple[OrderReply, int]]) -> None:
        """Write replicated replies, each with its ``origin_seq``: a stored row with a newer seq stays."""

    @abc.abstractmethod
    def order_seqs(self, order_ids: Sequence[str]) -> dict[str, tuple[int | None, str]]:
        """order id → (``origin_seq``, county) of the orders held among ``order_ids``."""

    @abc.abstractmethod
    def reply_seqs(self, order_ids: Sequence[str]) -> dict[str, tuple[int | None, str]]:
        """order id → (``origin_seq``, county) of the replies held among ``order_ids``."""

    @abc.abstractmethod
    def find_order(self, order_id: str, *, for_update: bool = False) -> Order | None: ...

    @abc.abstractmethod
    def order(self, order_id: str, *, for_update: bool = False) -> Order:
        """The order; :class:`~federation.errors.NotFound` when there is none."""

    @abc.abstractmethod
    def reply(self, order_id: str, county: str, *, for_update: bool = False) -> OrderReply | None:
        """The reply of ``county`` to the order (a reply of another county is not its reply)."""

    @abc.abstractmethod
    def page(self, flt: OrderFilter, *, offset: int, limit: int) -> tuple[list[tuple[Order, OrderReply | None]], int]:
        """Orders (newest first) with the reply of the county each names, and the total matching."""


class Cases(abc.ABC):
    """The cases as supervision and the video index read them (the approval service writes them)."""

    @abc.abstractmethod
    def get(self, case_no: str, key_fields: KeyFields = NO_KEY_FIELDS) -> Case:
        """The case; :class:`~federation.errors.CaseNotFound` when there is none."""

    @abc.abstractmethod
    def many(self, case_nos: Sequence[str], key_fields: KeyFields = NO_KEY_FIELDS) -> list[Case]:
        """Those of ``case_nos`` that exist, in case-number order."""

    @abc.abstractmethod
    def timeline(self, case_no: str) -> list[Event]: ...

    @abc.abstractmethod
    def timelines(self, case_nos: Sequence[str]) -> dict[str, list[Event]]: ...

    @abc.abstractmethod
    def waking(self, now: datetime, *, limit: int) -> list[str]:
        """Cases whose ``wake_at`` has come (≤ ``now``), earliest first."""

    @abc.abstractmethod
    def mark(self, marks: Sequence[CaseMark]) -> None:
        """Store the supervision bookkeeping of these cases."""

    @abc.abstractmethod
    def desk_of(self, case_no: str) -> CaseDesk | None:
        """Where the case is handled (None: no such case)."""

    @abc.abstractmethod
    def step_at(self, case_no: str, n: int) -> datetime | None:
        """The moment of the case's step ``n`` (None: no such step)."""

    @abc.abstractmethod
    def last_step_at(self, case_no: str, at: datetime) -> datetime | None:
        """The moment of the case's last step at or before ``at`` (None: none)."""


class LightSweep(abc.ABC):
    """The light rules' sweep, set-based in the database, and the moment of the last complete one."""

    @abc.abstractmethod
    def refresh_statistics(self) -> None: ...

    @abc.abstractmethod
    def raise_alerts(self, spec: LightRaise, *, limit: int) -> list[str]:
        """Raise at most ``limit`` due alerts of one light rule (with their outbox rows); their ids, in order."""

    @abc.abstractmethod
    def clear_yellow_of_red(self, red: Sequence[str], now: datetime, reason: str) -> int:
        """Clear the standing yellow alerts of the cases of the red alerts ``red``; how many."""

    @abc.abstractmethod
    def watermark(self) -> str | None: ...

    @abc.abstractmethod
    def set_watermark(self, value: str) -> None: ...


class Notifications(abc.ABC):
    """The queue of messages the dispatcher sends after commit (:mod:`county_node.supervision.notify`)."""

    @abc.abstractmethod
    def enqueue(
        self, *, recipients: Iterable[str], subject_kind: str, subject_id: str, message: str, now: datetime
    ) -> int:
        """One pending message per recipient in this transaction; how many."""
