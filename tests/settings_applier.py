"""A tiny applier for replication tests: ``setting`` records upserted into ``node_settings`` on SQLite and
PostgreSQL — the stream's mechanics without a domain's payloads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from federation.errors import RecordRejected
from federation.replication import Prepared, Record, Rejection
from federation.storage.tables import node_settings

__all__ = ["Settings"]


class Settings:
    """``setting`` records (id = key, payload ``{"value": …}``). While ``strict``, a value ``bad`` is refused (a
    poison record); ``fault(conn)``, when set, runs inside ``apply`` after each row (the store failing mid-group)."""

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self.fault: Callable[[Connection], None] | None = None

    def prepare(self, origin: str, record: Record, payload: Any) -> dict[str, str]:
        if self.strict and payload["value"] == "bad":
            raise RecordRejected("值不允许为 bad")
        return {"key": record.record_id, "value": str(payload["value"])}

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[dict[str, str]]]) -> Sequence[Rejection]:
        ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        for item in items:
            stmt = ins(node_settings).values(item.value)
            conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": item.value["value"]}))
            if self.fault is not None:
                self.fault(conn)
        return []
