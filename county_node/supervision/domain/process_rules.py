"""The process rules of a case: repeated corrections, return-and-resubmit, key data missing at the decision,
steps out of order, fee differing from the standard. They read the timeline; none is time-driven.

"Steps out of order" (SUP-008), precisely. :mod:`county_node.approval.domain.lifecycle` refuses every illegal
transition, so a timeline this node wrote is always in order. Out of order therefore means one of:

* ``illegal_transition`` — an event whose action the lifecycle does not allow from its ``from_status`` (a
  decision without review, a conclusion without decision, a second submission): only a timeline that was
  replicated or imported (from a legacy system, another platform) can hold one;
* ``broken_chain`` — an event whose ``from_status`` is not the previous event's ``to_status`` (a step missing
  from the record), ``gap`` — event numbers that skip, ``time_reversed`` — an event earlier than the one before
  it: again only in replicated or imported timelines;
* ``extension_after_due`` — what the lifecycle allows but good practice forbids: an extension (延期) granted
  after the promised clock had already run out. Art. 42 lets the head of the organ extend the limit *within*
  it; an extension granted afterwards turns a red case white after the fact.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from county_node.approval.domain import ALLOWED, RUNNING_STATUSES, Action, Event
from county_node.supervision.domain.facts import CaseFacts
from county_node.supervision.domain.model import Verdict
from federation.clock import ClockSpec, compute_deadline

__all__ = [
    "fee_mismatch",
    "key_data_missing_at_decide",
    "repeated_corrections",
    "return_and_resubmit",
    "steps_out_of_order",
]

# -- SUP-004 --------------------------------------------------------------------------------------------------------


def repeated_corrections(f: CaseFacts) -> Verdict:
    """SUP-004 多次补正: at least ``correction_threshold`` correction requests (补正告知) over the whole case.

    The law asks for everything missing to be named at once (一次性告知, 行政许可法 Art. 32), so a second request
    is already a sign; requests in earlier acceptance rounds count too.
    """
    requests = tuple(e.event_id for e in f.events if e.action is Action.REQUEST_CORRECTION)
    fired = len(requests) >= f.params.correction_threshold
    return Verdict(fired, requests if fired else (), f.promised, details={"requests": len(requests)})


# -- SUP-005 --------------------------------------------------------------------------------------------------------


def return_and_resubmit(f: CaseFacts) -> Verdict:
    """SUP-005 退回重报: return (退回) followed by resubmission, which restarts the case clock.

    Fires at ``return_after_acceptance_threshold`` cycles whose return came after acceptance (the clock had been
    running and was reset), or at ``resubmit_threshold`` cycles of any kind (returns before acceptance are the
    ordinary way to send back incomplete materials, so one of those alone is not an anomaly).
    """
    cycles: list[tuple[Event, Event]] = []
    pending: Event | None = None
    for e in f.events:
        if e.action is Action.RETURN:
            pending = e
        elif e.action is Action.RESUBMIT and pending is not None:
            cycles.append((pending, e))
            pending = None
    after = sum(1 for ret, _ in cycles if ret.from_status in RUNNING_STATUSES)
    p = f.params
    fired = after >= p.return_after_acceptance_threshold or len(cycles) >= p.resubmit_threshold
    evidence = tuple(e.event_id for pair in cycles for e in pair) if fired else ()
    return Verdict(fired, evidence, f.promised, details={"cycles": len(cycles), "after_acceptance": after})


# -- SUP-007 --------------------------------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return not str(value if value is not None else "").strip()


def key_data_missing_at_decide(f: CaseFacts) -> Verdict:
    """SUP-007 决定时关键数据缺失: a key field of the item (``Case.key_fields``) was empty when the decision was made.

    The data as of the decision is replayed from the timeline (every ``data`` in an event payload up to the
    decision merges in, as the lifecycle does), so a field back-filled after the decision does not hide the gap.
    The lifecycle refuses such a decision on this node; replicated or imported timelines can hold one. A
    decided case whose timeline lacks the decision event is checked on its current data.
    """
    case = f.case
    if not case.key_fields or case.decision not in ("approved", "denied"):
        return Verdict(False)
    decide = next((i for i in range(len(f.events) - 1, -1, -1) if f.events[i].action is Action.DECIDE), None)
    if decide is None:
        data: dict[str, Any] = dict(case.data)
        evidence: tuple[str, ...] = ()
    else:
        data = {}
        for e in f.events[: decide + 1]:
            raw = e.payload.get("data")
            if isinstance(raw, Mapping):
                data.update(raw)
        evidence = (f.events[decide].event_id,)
    missing = [k for k in case.key_fields if _blank(data.get(k))]
    return Verdict(bool(missing), evidence if missing else (), f.promised, details={"missing": missing})


# -- SUP-008 --------------------------------------------------------------------------------------------------------


def _chain_findings(events: tuple[Event, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    prev: Event | None = None
    for e in events:
        ids = [e.event_id] if prev is None else [prev.event_id, e.event_id]
        expected_n = 1 if prev is None else prev.n + 1
        if e.n != expected_n:
            out.append({"kind": "gap", "events": ids, "expected_n": expected_n})
        if prev is not None and e.at < prev.at:
            out.append({"kind": "time_reversed", "events": ids})
        if e.action is Action.SUBMIT:
            if prev is not None or e.from_status is not None:
                out.append({"kind": "illegal_transition", "events": ids, "action": e.action.value})
        elif e.from_status is None or e.from_status not in ALLOWED[e.action]:
            out.append(
                {
                    "kind": "illegal_transition",
                    "events": ids,
                    "action": e.action.value,
                    "from_status": e.from_status.value if e.from_status else None,
                }
            )
        if prev is not None and e.from_status is not prev.to_status:
            out.append(
                {
                    "kind": "broken_chain",
                    "events": ids,
                    "expected_from": prev.to_status.value,
                    "from_status": e.from_status.value if e.from_status else None,
                }
            )
        prev = e
    return out


def _late_extensions(f: CaseFacts) -> list[dict[str, Any]]:
    case = f.case
    if case.accepted_at is None or f.accept is None:
        return []
    out: list[dict[str, Any]] = []
    for e in f.events[f.accept :]:
        if e.action is not Action.EXTEND:
            continue
        before = [p for p in f.round_pauses() if p.started_at <= e.at]
        spec = ClockSpec(case.accepted_at, case.promised_budget, f.clock_pauses(before))
        due_at = compute_deadline(f.calendar, spec).due_at
        if due_at is not None and e.at >= due_at:
            out.append({"kind": "extension_after_due", "events": [e.event_id], "due_at": due_at})
    return out


def steps_out_of_order(f: CaseFacts) -> Verdict:
    """SUP-008 环节顺序异常: see the module docstring for the four kinds of finding."""
    findings = _chain_findings(f.events) + _late_extensions(f)
    evidence = tuple(sorted({i for x in findings for i in x["events"]}))
    return Verdict(bool(findings), evidence, f.promised, details={"findings": findings})


# -- SUP-009 --------------------------------------------------------------------------------------------------------

_ZERO = Decimal("0.00")


def fee_mismatch(f: CaseFacts) -> Verdict:
    """SUP-009 收费异常: the fee charged differs from the standard by more than ``fee_tolerance_yuan``.

    The expected fee is the item's standard fee (``Case.fee_standard``, fixed by the standards version the case was
    submitted under) for an approval, and nothing for a denial (不予许可 is not charged for).
    """
    case = f.case
    if case.fee_charged is None or case.decision not in ("approved", "denied"):
        return Verdict(False)
    expected = case.fee_standard if case.decision == "approved" else _ZERO
    diff = case.fee_charged - expected
    fired = abs(diff) > f.params.fee_tolerance_yuan
    source = next((e for e in reversed(f.events) if "fee_charged" in e.payload), None)
    evidence = (source.event_id,) if fired and source is not None else ()
    details = {
        "fee_charged": str(case.fee_charged),
        "fee_standard": str(case.fee_standard),
        "expected": str(expected),
        "difference": str(diff),
    }
    return Verdict(fired, evidence, f.promised, details=details)
