"""The extranet node's unit of work: one transaction, with the node's store over its connection (cosmicpython's
``uow.batches``), so the portal's services orchestrate and never build SQL."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from county_node.extranet.adapters.store import ExtranetStore
from federation.storage.uow import UnitOfWork

__all__ = ["ExtranetUnitOfWork", "ExtranetUnits"]


class ExtranetUnitOfWork:
    """``with units() as uow``: ``uow.store`` reads and writes in the transaction; ``uow.commit()`` or nothing."""

    def __init__(self, engine: Engine, *, readonly: bool = False) -> None:
        self._uow = UnitOfWork(engine, readonly=readonly)
        self._store: ExtranetStore | None = None

    @property
    def conn(self) -> Connection:
        return self._uow.conn

    @property
    def store(self) -> ExtranetStore:
        if self._store is None:
            raise RuntimeError("unit of work used outside its 'with' block")
        return self._store

    def __enter__(self) -> ExtranetUnitOfWork:
        self._uow.__enter__()
        self._store = ExtranetStore(self._uow.conn)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._store = None
        self._uow.__exit__(exc_type, exc, tb)

    def commit(self) -> None:
        self._uow.commit()


class ExtranetUnits:
    """Opens the node's units of work over ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, *, readonly: bool = False) -> ExtranetUnitOfWork:
        return ExtranetUnitOfWork(self.engine, readonly=readonly)
