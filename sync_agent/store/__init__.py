"""The replication ports over the one Sunshine schema (SQLAlchemy Core, SQLite and PostgreSQL alike).

:class:`SqlBatchSource` (sending side) seals this node's own outbox into hash-chained batches and serves the
batches it holds of every origin — its own, and for a relay the ones it received, stored unchanged — from
``batch_log`` and ``outbox``. :class:`SqlBatchSink` (receiving side) checks an incoming batch against its mark
and applies it in one transaction: records go to the applier of their type, poison records to ``quarantine``,
the batch and its records to this node's ``batch_log``/``outbox`` (``relay=True``), and the mark advances with
the data. :class:`SqlRestore` writes a node's own batches back after it lost them (``sync_agent.recover``).

Concurrency. Sealing takes, on PostgreSQL, a transaction-scoped advisory lock per origin
(``pg_advisory_xact_lock``); on SQLite every write transaction begins ``IMMEDIATE`` and holds the one writer
lock. Either way two sealers run one after the other, and the second sees the first's batches, so an origin
never gets two chains (were the lock missing, the primary key ``(origin, first_seq)`` of ``batch_log`` would
still refuse the second). Receiving locks the origin's mark row (``SELECT … FOR UPDATE`` on PostgreSQL; the
writer lock on SQLite), so two receivers of one origin apply one after the other and the second sees a duplicate.
"""

from sync_agent.store._restore import CounterFloors, LocalOrigin, Restored, SqlRestore
from sync_agent.store._shared import Clock
from sync_agent.store._sink import OriginStatus, SqlBatchSink, lock_mark
from sync_agent.store._source import LinkAck, Signer, SqlBatchSource

__all__ = [
    "Clock",
    "CounterFloors",
    "LinkAck",
    "LocalOrigin",
    "OriginStatus",
    "Restored",
    "Signer",
    "SqlBatchSink",
    "SqlBatchSource",
    "SqlRestore",
    "lock_mark",
]
