"""The repositories a county node's services reach through their unit of work (:mod:`county_node.unit_of_work`).

Each port is an abstract class: the SQL adapters implement it (``county_node.*.adapters``), and the in-memory fakes
under ``tests/`` subclass it, so a service test can run with no database. A repository works inside one
transaction; every write of a record that replicates appends its outbox row in that same transaction.

==================  =============================================================  ==============================
``uow.``            what                                                           SQL adapter
==================  =============================================================  ==============================
``alerts``          alerts (预警) and their lifecycle                               ``supervision…store``
``complaints``      complaints (投诉)                                               ``supervision…feedback_store``
``ratings``         ratings (好差评)                                                ``supervision…feedback_store``
``orders``          orders (督办 / 催办) and the county's replies                   ``supervision…orders_store``
``cases``           the cases as supervision and the video index read them          ``supervision…cases``
``light_sweep``     the set-based raise of the light alerts, and its watermark      ``supervision…light_sweep``
``notifications``   the SMS queue (短信通知)                                        ``supervision…notices``
``cameras``         cameras and their bindings to windows                           ``video…store``
``segments``        recording segments                                              ``video…segments``
``video_events``    video events                                                    ``video…store``
``purges``          the retention purge log                                         ``video…store``
==================  =============================================================  ==============================
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from county_node.approval.domain import Case, Event
from county_node.supervision.domain.alerts import Alert
from county_node.supervision.domain.complaints import Complaint
from county_node.supervision.domain.orders import ORDER_STATUS_LABELS, REPLY_STATUS_LABELS, Order, OrderReply
from county_node.supervision.domain.ratings import Rating
from county_node.video.domain import Binding, Segment
from federation.errors import ValidationError

__all__ = [
    "NO_KEY_FIELDS",
    "AlertFilter",
    "Alerts",
    "Cameras",
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
    "Purges",
    "Ratings",
    "Segments",
    "VideoEvents",
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


# -- video index ----------------------------------------------------------------------------------------------------


class Cameras(abc.ABC):
    """The cameras of a video index and their bindings to windows (record type ``camera``)."""

    @abc.abstractmethod
    def get(self, camera_id: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    def save(self, row: dict[str, Any], *, new: bool) -> None: ...

    @abc.abstractmethod
    def publish(self, camera: Mapping[str, Any], now: datetime) -> None:
        """Append the camera's outbox record: its name, hall and every binding it has now."""

    @abc.abstractmethod
    def bindings_of_camera(self, camera_id: str) -> list[Binding]: ...

    @abc.abstractmethod
    def bindings_of_window(self, window: str) -> list[Binding]: ...

    @abc.abstractmethod
    def close_binding(self, binding: Binding, valid_to: datetime) -> None: ...

    @abc.abstractmethod
    def add_binding(self, binding: Binding) -> None: ...

    @abc.abstractmethod
    def camera_at(self, window: str, at: datetime, *, county: str | None = None) -> str | None:
        """The camera bound to ``window`` at ``at``; with ``county``, among that county's cameras only."""

    @abc.abstractmethod
    def window_at(self, camera_id: str, at: datetime) -> str | None: ...

    @abc.abstractmethod
    def with_bindings(self) -> list[tuple[dict[str, Any], list[Binding]]]:
        """Every camera by id, with its bindings oldest first."""

    @abc.abstractmethod
    def registered(self, camera_ids: Iterable[str]) -> set[str]:
        """Those of ``camera_ids`` that are registered."""


class Segments(abc.ABC):
    """The recording segments of a video index (record type ``video_segment``). ``reach`` is the longest a
    segment may be: a segment overlapping a range starts at most that long before it."""

    @abc.abstractmethod
    def near(self, camera_ids: Iterable[str], start: datetime, end: datetime, *, reach: timedelta) -> list[Segment]:
        """Stored segments of ``camera_ids`` that could overlap ``[start, end)``."""

    @abc.abstractmethod
    def add(self, segments: Sequence[Segment], now: datetime) -> None:
        """Index new segments, with their outbox upserts."""

    @abc.abstractmethod
    def between(self, camera_id: str, start: datetime, end: datetime, *, reach: timedelta) -> list[Segment]:
        """Segments of ``camera_id`` overlapping ``[start, end)``, in order."""

    @abc.abstractmethod
    def count(self) -> int: ...

    @abc.abstractmethod
    def count_expired(self, cutoff: datetime) -> int: ...

    @abc.abstractmethod
    def expired_batches(self, cutoff: datetime) -> Iterator[list[Segment]]:
        """The segments ended by ``cutoff``, oldest first, a page at a time."""

    @abc.abstractmethod
    def remove(self, segments: Sequence[Segment], now: datetime) -> None:
        """Remove segments from the index, with their outbox deletes."""

    @abc.abstractmethod
    def uris_in_use(self, uris: Sequence[str]) -> set[str]:
        """Those of ``uris`` some indexed segment still points at."""


class VideoEvents(abc.ABC):
    """The video events of an index (record type ``video_event``)."""

    @abc.abstractmethod
    def add(self, rows: Sequence[dict[str, Any]], now: datetime) -> None:
        """Index new events, with their outbox records."""

    @abc.abstractmethod
    def existing(self, event_ids: Iterable[str]) -> set[str]: ...

    @abc.abstractmethod
    def between(
        self,
        start: datetime,
        end: datetime,
        *,
        kind: str | None = None,
        camera_id: str | None = None,
        window: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Events in ``[start, end)`` matching, by moment."""


class Purges(abc.ABC):
    """The log of the retention purges of one node."""

    @abc.abstractmethod
    def last_done(self) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    def log(self, row: dict[str, Any]) -> int:
        """Log a purge; its id."""

    @abc.abstractmethod
    def log_items(self, purge_id: int, segments: Sequence[Segment]) -> None: ...

    @abc.abstractmethod
    def record_file_results(
        self, purge_id: int, results: Sequence[tuple[str, datetime, str]], counts: dict[str, int]
    ) -> None:
        """(camera id, start, outcome) per removed segment, and the purge's file counts."""

    @abc.abstractmethod
    def items(self, purge_id: int) -> list[dict[str, Any]]: ...
