"""The county's unit of work in memory: :class:`FakeCountyUnits` gives the services units of work over one
:class:`FakeCountyDatabase`, with the fake repositories of :mod:`tests.fakes.supervision` and
:mod:`tests.fakes.video`. A unit of work left without committing puts the database back as it found it, as a
rolled-back transaction does; every write a SQL adapter sends to the outbox is listed in ``db.outbox``."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any, Self

from sqlalchemy.engine import Connection

from county_node.approval.domain import Case, Event
from county_node.ports import (
    Alerts,
    Cameras,
    CaseMark,
    Cases,
    Complaints,
    LightSweep,
    Notifications,
    Orders,
    Purges,
    Ratings,
    Segments,
    VideoEvents,
)
from county_node.supervision.domain.alerts import Alert
from county_node.supervision.domain.complaints import Complaint
from county_node.supervision.domain.orders import Order, OrderReply
from county_node.supervision.domain.ratings import Rating
from county_node.unit_of_work import CountyRepositories, CountyUnitOfWork, CountyUnits
from county_node.video.domain import Binding, Segment
from tests.fakes.supervision import (
    FakeAlerts,
    FakeCases,
    FakeComplaints,
    FakeNotifications,
    FakeOrders,
    FakeRatings,
    NoLightSweep,
)
from tests.fakes.video import FakeCameras, FakePurges, FakeSegments, FakeVideoEvents

__all__ = ["FakeCountyDatabase", "FakeCountyRepositories", "FakeCountyUnitOfWork", "FakeCountyUnits"]


@dataclass
class FakeCountyDatabase:
    """What a county node's database holds, in memory."""

    division: str
    alerts: dict[str, Alert] = field(default_factory=dict)
    complaints: dict[str, Complaint] = field(default_factory=dict)
    ratings: dict[str, Rating] = field(default_factory=dict)
    orders: dict[str, tuple[Order, int | None]] = field(default_factory=dict)  # with origin_seq
    replies: dict[str, tuple[OrderReply, int | None]] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    timelines: dict[str, list[Event]] = field(default_factory=dict)
    marks: dict[str, CaseMark] = field(default_factory=dict)
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)
    bindings: list[Binding] = field(default_factory=list)
    segments: dict[tuple[str, Any], Segment] = field(default_factory=dict)
    video_events: dict[str, dict[str, Any]] = field(default_factory=dict)
    purges: list[dict[str, Any]] = field(default_factory=list)
    purge_items: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[tuple[str, str, str, str]] = field(default_factory=list)  # recipient, kind, id, message
    settings: dict[str, str] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    outbox: list[tuple[str, str, str]] = field(default_factory=list)  # record type, record id, op

    def next(self, counter: str) -> int:
        self.counters[counter] += 1
        return self.counters[counter]

    def emit(self, record_type: str, record_id: str, op: str = "upsert") -> int:
        """An outbox record of this node; its seq."""
        self.outbox.append((record_type, record_id, op))
        return len(self.outbox)

    def state(self) -> dict[str, Any]:
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}

    def restore(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)


class FakeCountyRepositories(CountyRepositories):
    def __init__(self, db: FakeCountyDatabase) -> None:
        self.db = db
        self.division = db.division
        self.locked = False

    @property
    def alerts(self) -> Alerts:
        return FakeAlerts(self.db)

    @property
    def complaints(self) -> Complaints:
        return FakeComplaints(self.db)

    @property
    def ratings(self) -> Ratings:
        return FakeRatings(self.db)

    @property
    def orders(self) -> Orders:
        return FakeOrders(self.db)

    @property
    def cases(self) -> Cases:
        return FakeCases(self.db)

    @property
    def light_sweep(self) -> LightSweep:
        return NoLightSweep(self.db)

    @property
    def notifications(self) -> Notifications:
        return FakeNotifications(self.db)

    @property
    def cameras(self) -> Cameras:
        return FakeCameras(self.db)

    @property
    def segments(self) -> Segments:
        return FakeSegments(self.db)

    @property
    def video_events(self) -> VideoEvents:
        return FakeVideoEvents(self.db)

    @property
    def purges(self) -> Purges:
        return FakePurges(self.db)

    def lock(self) -> None:
        self.locked = True


class FakeCountyUnitOfWork(FakeCountyRepositories, CountyUnitOfWork):
    def __init__(self, db: FakeCountyDatabase, *, readonly: bool) -> None:
        super().__init__(db)
        self.readonly = readonly
        self.committed = False
        self._before: dict[str, Any] | None = None

    def __enter__(self) -> Self:
        self._before = self.db.state()
        return self

    def commit(self) -> None:
        assert not self.readonly, "a read-only unit of work does not commit"
        self.committed = True
        self._before = None

    def rollback(self) -> None:
        if self._before is not None:
            self.db.restore(self._before)
            self._before = None


class FakeCountyUnits(CountyUnits):
    """Units of work over ``db``; ``opened`` counts them (a use case opens what it needs, no more)."""

    def __init__(self, db: FakeCountyDatabase) -> None:
        self.db = db
        self.division = db.division
        self.opened = 0

    def __call__(self, *, readonly: bool = False) -> CountyUnitOfWork:
        self.opened += 1
        return FakeCountyUnitOfWork(self.db, readonly=readonly)

    def joining(self, conn: Connection) -> CountyRepositories:
        return FakeCountyRepositories(self.db)
