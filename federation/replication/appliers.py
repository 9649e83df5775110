"""How a receiver applies the records of one record type: the :class:`Applier` port.

Applying is two steps, so that one poison record never rolls back the good ones of its batch:

1. ``prepare(origin, record, payload)`` — pure, per record, no I/O: check the decoded JSON payload (required
   fields, types, well-formed identities, the origin may send it) and return the parsed form; raise
   :class:`~federation.errors.RecordRejected` (or a federation ``ValidationError``) with the reason in Chinese.
2. ``apply(conn, origin, items)`` — bulk, once per record type per batch, inside the batch's transaction: write
   the prepared records with a handful of ``executemany`` statements, and return the ones that cannot be applied
   given what the database holds (for example an event of a case this node does not have), with their reason.

An applier may also offer ``prepare_text(origin, record)``: the same check made from the payload's JSON text
(``record.payload``) without decoding it to Python objects first — typed decoding in C — returning None when it
cannot tell, so that ``prepare`` of the decoded payload decides (and names what is wrong). Both must agree on
every payload they both take.

The sink quarantines what ``prepare`` rejects and what ``apply`` returns. Should ``apply`` still fail in the
database, the sink rolls back to a savepoint and applies that type's records one at a time, quarantining only
those that fail. Appliers run in the order of the mapping the sink is given: put a record type before the types
that refer to it (``case`` before ``case_event``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.engine import Connection

from federation.errors import SunshineError
from federation.replication.records import Record

__all__ = ["Applier", "AppliersByType", "Prepared", "PreparesText", "Rejection", "rejection_reason"]

P = TypeVar("P")
P_co = TypeVar("P_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Prepared(Generic[P]):
    """A record that passed ``prepare``, with its parsed form."""

    record: Record
    value: P


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record ``apply`` could not apply, and why (Chinese, for the admin reading the quarantine)."""

    record: Record
    reason: str


class Applier(Protocol[P]):
    def prepare(self, origin: str, record: Record, payload: Any) -> P:
        """Check one record of ``origin`` (``payload`` is its decoded JSON); raise RecordRejected with the reason."""
        ...

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[P]]) -> Sequence[Rejection]:
        """Write ``items`` (in seq order) in the caller's transaction; return those that could not be applied."""
        ...


class PreparesText(Protocol[P_co]):
    def prepare_text(self, origin: str, record: Record) -> P_co | None:
        """``prepare`` of ``record.payload`` straight from its JSON text; None: let ``prepare`` decide."""
        ...


AppliersByType = Mapping[str, Applier[Any]]


def rejection_reason(exc: BaseException) -> str:
    """The reason to quarantine a record with, from the error that rejected it."""
    if isinstance(exc, SunshineError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
