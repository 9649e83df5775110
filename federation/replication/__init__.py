"""The replication contract every tier and the sync agent share (the kernel owns it, nobody above redefines it).

- :class:`Record` — one outbox record of an origin as it crosses the wire;
- :class:`Applier` — how a receiver applies the records of one type (``prepare`` per record, ``apply`` in bulk),
  with :class:`Prepared`, :class:`Rejection` and :data:`AppliersByType`; a tier builds its appliers in its
  composition root and hands them to the sync agent's receiver, never the other way;
- :class:`~federation.errors.RecordRejected` — why one record is quarantined (the stream goes on).
"""

from federation.replication.appliers import Applier, AppliersByType, Prepared, Rejection, rejection_reason
from federation.replication.records import Record

__all__ = [
    "Applier",
    "AppliersByType",
    "Prepared",
    "Record",
    "Rejection",
    "rejection_reason",
]
