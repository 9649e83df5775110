"""The county's unit of work: one transaction and the repositories of every context over it (cosmicpython's).

Services take a :class:`CountyUnits` (made once by the composition root) and open one unit of work per use case::

    with self._units() as uow:
        uow.lock()                              # the node's writer lock, first in every write
        complaint = uow.complaints.get(complaint_id, for_update=True)
        uow.complaints.save(answer_complaint(complaint, ...), now)
        uow.commit()

Leaving the block without committing rolls everything back. A use case that runs inside a transaction someone
else owns — the supervision of a case inside the approval transaction, an order applied inside the receiver's —
reaches the same repositories with :meth:`CountyUnits.joining` and neither commits nor rolls back.

The ports are in :mod:`county_node.ports`; here are the abstract unit of work and its SQL implementation over the
kernel's :class:`~federation.storage.uow.UnitOfWork`. The in-memory fakes are under ``tests/``.
"""

from __future__ import annotations

import abc
from functools import cached_property
from types import TracebackType
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from county_node.ports import (
    Alerts,
    Cameras,
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
from county_node.supervision.adapters.cases import CaseStore
from county_node.supervision.adapters.feedback_store import ComplaintStore, RatingStore
from county_node.supervision.adapters.light_sweep import LightSweepStore
from county_node.supervision.adapters.notices import NotificationStore
from county_node.supervision.adapters.orders_store import OrderStore
from county_node.supervision.adapters.store import AlertStore
from county_node.video.adapters.segments import SegmentStore
from county_node.video.adapters.store import CameraStore, PurgeStore, VideoEventStore
from federation.storage import outbox
from federation.storage.uow import UnitOfWork

__all__ = [
    "CountyRepositories",
    "CountyUnitOfWork",
    "CountyUnits",
    "SqlCountyRepositories",
    "SqlCountyUnitOfWork",
    "SqlCountyUnits",
]


class CountyRepositories(abc.ABC):
    """The repositories of county ``division`` over one transaction."""

    division: str

    @property
    @abc.abstractmethod
    def alerts(self) -> Alerts: ...

    @property
    @abc.abstractmethod
    def complaints(self) -> Complaints: ...

    @property
    @abc.abstractmethod
    def ratings(self) -> Ratings: ...

    @property
    @abc.abstractmethod
    def orders(self) -> Orders: ...

    @property
    @abc.abstractmethod
    def cases(self) -> Cases: ...

    @property
    @abc.abstractmethod
    def light_sweep(self) -> LightSweep: ...

    @property
    @abc.abstractmethod
    def notifications(self) -> Notifications: ...

    @property
    @abc.abstractmethod
    def cameras(self) -> Cameras: ...

    @property
    @abc.abstractmethod
    def segments(self) -> Segments: ...

    @property
    @abc.abstractmethod
    def video_events(self) -> VideoEvents: ...

    @property
    @abc.abstractmethod
    def purges(self) -> Purges: ...

    @abc.abstractmethod
    def lock(self) -> None:
        """Take this node's writer lock (:func:`federation.storage.outbox.lock_origin`) — first, in every write:
        one lock order for every writer, so no deadlock, and what a writer read is not changed under it."""


class CountyUnitOfWork(CountyRepositories):
    """A transaction of its own: ``with`` it, :meth:`commit` inside; leaving without committing rolls back."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...


class CountyUnits(abc.ABC):
    """Makes the units of work of county ``division``."""

    division: str

    @abc.abstractmethod
    def __call__(self, *, readonly: bool = False) -> CountyUnitOfWork: ...

    @abc.abstractmethod
    def joining(self, conn: Connection) -> CountyRepositories:
        """The repositories inside a transaction the caller owns (and commits)."""


# -- SQL ------------------------------------------------------------------------------------------------------------


_REPOSITORIES = tuple(name for name, value in vars(CountyRepositories).items() if isinstance(value, property))


class SqlCountyRepositories(CountyRepositories):
    """The SQL repositories over ``conn``, each made the first time it is used (a case transition needs two)."""

    def __init__(self, division: str, conn: Connection | None = None) -> None:
        self.division = division
        self._conn = conn

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside its 'with' block")
        return self._conn

    @cached_property
    def alerts(self) -> Alerts:
        return AlertStore(self.connection, self.division)

    @cached_property
    def complaints(self) -> Complaints:
        return ComplaintStore(self.connection, self.division)

    @cached_property
    def ratings(self) -> Ratings:
        return RatingStore(self.connection, self.division)

    @cached_property
    def orders(self) -> Orders:
        return OrderStore(self.connection, self.division)

    @cached_property
    def cases(self) -> Cases:
        return CaseStore(self.connection)

    @cached_property
    def light_sweep(self) -> LightSweep:
        return LightSweepStore(self.connection, self.division)

    @cached_property
    def notifications(self) -> Notifications:
        return NotificationStore(self.connection)

    @cached_property
    def cameras(self) -> Cameras:
        return CameraStore(self.connection, self.division)

    @cached_property
    def segments(self) -> Segments:
        return SegmentStore(self.connection, self.division)

    @cached_property
    def video_events(self) -> VideoEvents:
        return VideoEventStore(self.connection, self.division)

    @cached_property
    def purges(self) -> Purges:
        return PurgeStore(self.connection, self.division)

    def lock(self) -> None:
        outbox.lock_origin(self.connection, self.division)


class SqlCountyUnitOfWork(SqlCountyRepositories, CountyUnitOfWork):
    """One database transaction (the kernel's :class:`~federation.storage.uow.UnitOfWork`) with the repositories."""

    def __init__(self, engine: Engine, division: str, *, readonly: bool = False) -> None:
        super().__init__(division)
        self._tx = UnitOfWork(engine, readonly=readonly)

    def __enter__(self) -> Self:
        self._tx.__enter__()
        self._conn = self._tx.conn
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._conn = None
        for name in _REPOSITORIES:  # they hold the connection being closed
            self.__dict__.pop(name, None)
        self._tx.__exit__(exc_type, exc, tb)

    def commit(self) -> None:
        self._tx.commit()

    def rollback(self) -> None:
        self._tx.rollback()


class SqlCountyUnits(CountyUnits):
    """The units of work of county ``division`` over ``engine``."""

    def __init__(self, engine: Engine, division: str) -> None:
        self.engine = engine
        self.division = division

    def __call__(self, *, readonly: bool = False) -> CountyUnitOfWork:
        return SqlCountyUnitOfWork(self.engine, self.division, readonly=readonly)

    def joining(self, conn: Connection) -> CountyRepositories:
        return SqlCountyRepositories(self.division, conn)
