"""What both sides share: the clock they stamp rows with, and a batch as its ``batch_log`` row — written by the
sealer, and unchanged by a relaying receiver.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from federation.storage.tables import batch_log
from sync_agent.domain import Batch

__all__ = ["INSERT_BATCH", "Clock", "batch_values"]

Clock = Callable[[], datetime]

INSERT_BATCH = insert(batch_log)


def batch_values(batch: Batch, stored_at: datetime) -> dict[str, Any]:
    return {
        "origin": batch.origin,
        "first_seq": batch.first_seq,
        "last_seq": batch.last_seq,
        "prev_hash": batch.prev_hash,
        "batch_hash": batch.batch_hash,
        "signature": batch.signature,
        "record_count": len(batch.records),
        "sealed_at": stored_at,
    }
