"""What a rule is and what it says: :class:`RuleSpec` (id, version, check) and :class:`RuleResult`.

A rule's ``check`` is a small pure function from the facts of one subject (a case, a complaint, a rating) to a
:class:`Verdict`. :meth:`RuleSpec.run` stamps the verdict with the rule's id and version, the subject and the
parameter values the rule read, giving a :class:`RuleResult` — everything an alert must record so that a county
can dispute it and an inspector can recompute it: rule, version, evidence event ids, the clock reading that fired
it, and the parameters in force.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from county_node.supervision.domain.parameters import SupervisionParameters
from federation.clock import ClockReading, Light

__all__ = ["SUBJECT_KIND_LABELS", "RuleResult", "RuleSpec", "SubjectKind", "Verdict", "clock_record"]

F = TypeVar("F")


class SubjectKind(enum.StrEnum):
    """What an alert is about: one case (办件), one complaint (投诉), one rating (好差评) or one event of the hall's
    cameras (视频事件)."""

    CASE = "case"
    COMPLAINT = "complaint"
    RATING = "rating"
    VIDEO_EVENT = "video_event"


SUBJECT_KIND_LABELS: Mapping[str, str] = {
    SubjectKind.CASE: "办件",
    SubjectKind.COMPLAINT: "投诉",
    SubjectKind.RATING: "评价",
    SubjectKind.VIDEO_EVENT: "视频事件",
}
"""How a person reads an alert's subject kind (``对象：办件 …``)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a rule's check found.

    ``wake_at`` is the earliest moment at which the verdict can change *without a new event* (a time-driven
    rule: the light turns yellow, the due moment passes); None when only an event can change it. The sweep
    re-evaluates a subject at its earliest ``wake_at``.
    """

    fired: bool
    evidence: tuple[str, ...] = ()
    clock: ClockReading | None = None
    light: Light | None = None
    wake_at: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def clock_record(reading: ClockReading | None) -> dict[str, Any] | None:
    """The parts of a clock reading an alert records (enough to recompute and to dispute it)."""
    if reading is None:
        return None
    dl = reading.deadline
    return {
        "as_of": reading.as_of,
        "due_at": dl.due_at,
        "yellow_at": reading.yellow_at,
        "paused": dl.paused,
        "total_budget": dl.total_budget,
        "remaining_days": reading.remaining_days,
        "elapsed_days": reading.elapsed_days,
        "overdue_days": reading.overdue_days,
        "light": reading.light.value,
        "calendar_version": dl.calendar_version,
        "provisional": dl.provisional,
    }


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule evaluated on one subject at one moment: fired or not, and why."""

    rule_id: str
    version: int
    subject_kind: SubjectKind
    subject_id: str
    fired: bool
    light: Light | None
    evidence: tuple[str, ...]
    clock: ClockReading | None
    wake_at: datetime | None
    details: Mapping[str, Any]
    parameters: Mapping[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        """(subject kind, subject id, rule): at most one open alert per key."""
        return (self.subject_kind.value, self.subject_id, self.rule_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "version": self.version,
            "subject_kind": self.subject_kind.value,
            "subject_id": self.subject_id,
            "fired": self.fired,
            "light": self.light.value if self.light else None,
            "evidence": list(self.evidence),
            "clock": clock_record(self.clock),
            "wake_at": self.wake_at,
            "details": dict(self.details),
            "parameters": dict(self.parameters),
        }


@lru_cache(maxsize=256)
def _parameter_record(params: SupervisionParameters, names: tuple[str, ...]) -> Mapping[str, Any]:
    return MappingProxyType({name: params.value(name) for name in names})


@dataclass(frozen=True, slots=True)
class RuleSpec(Generic[F]):
    """A rule: id (``SUP-nnn``), version (bumped whenever its logic changes), name, what it reads, its check.

    ``time_driven`` rules can change their verdict as time passes with no new event (their verdicts carry
    ``wake_at``); the others change only when an event arrives.
    """

    rule_id: str
    version: int
    name: str
    subject: SubjectKind
    time_driven: bool
    parameters: tuple[str, ...]
    check: Callable[[F], Verdict]

    def run(self, facts: F, subject_id: str, params: SupervisionParameters) -> RuleResult:
        v = self.check(facts)
        return RuleResult(
            rule_id=self.rule_id,
            version=self.version,
            subject_kind=self.subject,
            subject_id=subject_id,
            fired=v.fired,
            light=v.light if v.fired else None,
            evidence=v.evidence,
            clock=v.clock,
            wake_at=v.wake_at,
            details=v.details,
            parameters=_parameter_record(params, self.parameters),
        )
