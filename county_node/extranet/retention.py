"""What an extranet node keeps of what the public sent, once its county holds it (数据最小化 in the DMZ).

An application, a complaint and a rating are written here with their outbox record (origin ``371122-ext``) and
cross to the county. Once the county has **acknowledged** the record (``link_acks``: the link up's acked seq of the
node's own origin), the DMZ — the internet-facing side — has no more use for the applicant's personal data:

* ``ext_submissions``: ID number, phone, key data, materials and note cleared, the name masked (``张*``); what the
  status page shows (item, moment, query hash, the hall's decision) stays;
* ``ext_complaints``: phone and content cleared, the complainant masked;
* ``ext_ratings``: the comment cleared (the level stays: it blocks a second rating);
* the acknowledged outbox rows of those records: their payload replaced by ``{"purged":true}`` (type, id and seq
  stay).

The last point has a consequence, by design: an acknowledged batch can no longer be sent again as it was sealed
(its hash no longer matches its records). A county restored from a backup older than the acknowledgement does
not get those records back from the DMZ — its backups must hold them, as they hold every case.

:func:`purge_acknowledged` runs in ``sunshine extranet serve`` (every minute, beside the link) and in
``sunshine extranet purge``; it is set-based (a handful of ``UPDATE … WHERE id IN (SELECT record_id FROM outbox …)``
statements), idempotent, and counts what it cleared.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, literal, select, update

from federation.public_records import PUBLIC_COMPLAINT, PUBLIC_RATING, PUBLIC_SUBMISSION
from federation.storage.tables import ext_complaints, ext_ratings, ext_submissions, link_acks, outbox
from federation.storage.uow import UnitOfWork

__all__ = ["Purged", "purge_acknowledged"]

_PURGED = '{"purged":true}'


@dataclass(frozen=True, slots=True)
class Purged:
    acked_seq: int  # the county's acknowledgement the purge went up to (0: none yet)
    submissions: int
    complaints: int
    ratings: int
    outbox_rows: int

    @property
    def total(self) -> int:
        return self.submissions + self.complaints + self.ratings + self.outbox_rows


def _masked_name(column: object) -> object:
    """``张三`` → ``张*`` in SQL (first character and one star; idempotent: ``张*`` stays ``张*``)."""
    return func.substr(column, 1, 1).op("||")(literal("*"))


def purge_acknowledged(engine: Engine, origin: str) -> Purged:
    """Clear the personal data of every record of ``origin`` (this node's own stream) the county acknowledged."""
    with UnitOfWork(engine) as uow:
        conn = uow.conn
        acked = conn.execute(select(func.max(link_acks.c.acked_seq)).where(link_acks.c.origin == origin)).scalar()
        acked = int(acked or 0)
        if not acked:
            return Purged(0, 0, 0, 0, 0)

        def ids(record_type: str) -> object:
            o = outbox.c
            return select(o.record_id).where(o.origin == origin, o.record_type == record_type, o.seq <= acked)

        s = ext_submissions.c
        submissions = conn.execute(
            update(ext_submissions)
            .where(s.submission_id.in_(ids(PUBLIC_SUBMISSION)), s.phone != "")  # type: ignore[arg-type]
            .values(
                applicant=_masked_name(s.applicant),
                applicant_id="",
                phone="",
                data={},
                materials=[],
                note="",
            )
        ).rowcount
        c = ext_complaints.c
        complaints = conn.execute(
            update(ext_complaints)
            .where(c.complaint_ref.in_(ids(PUBLIC_COMPLAINT)), c.phone != "")  # type: ignore[arg-type]
            .values(complainant=_masked_name(c.complainant), phone="", content="")
        ).rowcount
        r = ext_ratings.c
        ratings = conn.execute(
            update(ext_ratings)
            .where(r.case_no.in_(ids(PUBLIC_RATING)), r.comment != "")  # type: ignore[arg-type]
            .values(comment="")
        ).rowcount
        o = outbox.c
        rows = conn.execute(
            update(outbox)
            .where(
                and_(
                    o.origin == origin,
                    o.seq <= acked,
                    o.record_type.in_((PUBLIC_SUBMISSION, PUBLIC_COMPLAINT, PUBLIC_RATING)),
                    o.payload != _PURGED,
                )
            )
            .values(payload=_PURGED)
        ).rowcount
        uow.commit()
    return Purged(acked, submissions, complaints, ratings, rows)
