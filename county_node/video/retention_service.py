"""Retention (保存期限): expired segments removed, oldest first and at most a share of the index per purge, never one
held for an open (or lately closed) alert or complaint, never anything while the index looks untrustworthy.

A purge logs what it removed (``video_purges``, ``video_purge_items``), appends each removed segment's outbox
delete, commits — and only then deletes the files through the files port, a file a kept segment shares staying.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from county_node.unit_of_work import CountyRepositories
from county_node.video.adapters.files import FileResult
from county_node.video.clip_service import alert_moment, complaint_moment
from county_node.video.core import VideoIndexCore
from county_node.video.domain import Hold, HoldIndex, Segment, purge_limit, untrusted_reason

__all__ = ["PurgeReport", "RetentionUseCases"]


@dataclass(slots=True)
class PurgeReport:
    status: str  # done | refused
    reason: str
    purge_id: int
    cutoff: datetime
    index_before: int
    expired: int = 0
    held: int = 0
    removed: int = 0
    capped: bool = False
    files: dict[str, int] = field(default_factory=dict)


class RetentionUseCases(VideoIndexCore):
    def _holds(self, uow: CountyRepositories, now: datetime) -> list[Hold]:
        """Legal holds: the clips of alerts and complaints still open, or closed less than the hold period ago."""
        since = now - self.retention.hold_after_close
        holds: list[Hold] = []
        for alert in uow.alerts.holding_video(since):
            window, at = alert_moment(uow, alert)
            holds += self._hold(uow, f"alert:{alert.alert_id}", window, at)
        for complaint in uow.complaints.holding_video(since):
            window, at = complaint_moment(uow, complaint)
            holds += self._hold(uow, f"complaint:{complaint.complaint_id}", window, at)
        return holds

    def _hold(self, uow: CountyRepositories, subject: str, window: str | None, at: datetime) -> list[Hold]:
        camera = uow.cameras.camera_at(window, at) if window else None
        if camera is None:
            return []
        start, end = self.margin.around(at)
        return [Hold(subject, camera, start, end)]

    def purge(self) -> PurgeReport:
        """Remove expired, unheld segments (at most ``max_share`` of the index, oldest first), log what was removed,
        then delete their files through the files port. Refused — and logged — when the index looks untrustworthy."""
        now = self._now()
        cutoff = self.retention.cutoff(now)
        with self._units() as uow:
            uow.lock()
            total = uow.segments.count()
            last = uow.purges.last_done()
            base = {"origin": self.division, "ran_at": now, "cutoff": cutoff, "index_before": total}
            zero = {"files_removed": 0, "files_missing": 0, "files_failed": 0}
            reason = untrusted_reason(total, last["index_after"] if last else None, self.retention)
            if reason is not None:
                counts = {"index_after": total, "expired": 0, "held": 0, "removed": 0}
                purge_id = uow.purges.log(base | counts | zero | {"status": "refused", "reason": reason})
                uow.commit()
                return PurgeReport("refused", reason, purge_id, cutoff, total)
            expired_count = uow.segments.count_expired(cutoff)
            hold_index = HoldIndex(self._holds(uow, now))
            limit = purge_limit(total, self.retention)
            free: list[Segment] = []
            looked = held_count = 0
            for page in uow.segments.expired_batches(cutoff):  # oldest first, only as far as the cap needs
                for s in page:
                    looked += 1
                    if hold_index.holds(s):
                        held_count += 1
                    else:
                        free.append(s)
                if len(free) > limit:
                    break
            doomed = free[:limit]
            capped = len(free) > limit
            note = (
                f"本次清理达到上限 {limit} 条（索引的 {self.retention.max_share:.0%}），其余下次清理" if capped else ""
            )
            counts = {
                "index_after": total - len(doomed),
                "expired": expired_count,
                "held": held_count,  # among the expired segments looked at (all of them unless the cap was reached)
                "removed": len(doomed),
            }
            purge_id = uow.purges.log(base | counts | zero | {"status": "done", "reason": note or None})
            uow.purges.log_items(purge_id, doomed)
            uow.segments.remove(doomed, now)
            uow.commit()
        report = PurgeReport(
            "done", note, purge_id, cutoff, total, counts["expired"], counts["held"], len(doomed), capped
        )
        if self._files is not None and doomed:
            with self._units(readonly=True) as uow:  # a file a kept segment shares stays
                shared = uow.segments.uris_in_use(sorted({s.uri for s in doomed}))
            results = self._files.remove(sorted({s.uri for s in doomed} - shared))
            tally = {r.value: 0 for r in FileResult}
            for r in results.values():
                tally[r.value] += 1
            report.files = tally
            with self._units() as uow:
                uow.purges.record_file_results(
                    purge_id,
                    [(s.camera_id, s.start, results[s.uri].value) for s in doomed if s.uri in results],
                    {
                        "files_removed": tally["removed"],
                        "files_missing": tally["missing"],
                        "files_failed": tally["failed"] + tally["refused"],
                    },
                )
                uow.commit()
        return report

    def purge_items(self, purge_id: int) -> list[dict[str, Any]]:
        with self._units(readonly=True) as uow:
            return uow.purges.items(purge_id)
