"""The hall workload generator plans deterministically from its seed and keeps each case's steps in order."""

from __future__ import annotations

from datetime import datetime

import httpx

from county_node.entrypoints.workload import HallSimulator
from county_node.entrypoints.workload_plan import CaseState
from federation.standards import StandardsBundle
from federation.timeutil import CST


def _plans(bundle: StandardsBundle, seed: int) -> list[list[tuple[str, str]]]:
    # the client is never used for planning; MockTransport makes any accidental request fail loudly
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(599)))
    sim = HallSimulator(client, seed=seed)
    items = [item.to_dict() for item in bundle.items]
    out = []
    created = datetime(2026, 11, 2, 9, 0, tzinfo=CST)
    for key, item in enumerate(items * 5, start=1):
        state = CaseState(item)
        sim._cases[key] = state
        sim._plan_case(key, item, created)
        state.steps.sort()
        out.append([(s.at.isoformat(), s.action) for s in state.steps])
    client.close()
    return out


def test_same_seed_same_plan_other_seed_other_plan(bundle: StandardsBundle) -> None:
    assert _plans(bundle, 7) == _plans(bundle, 7)
    assert _plans(bundle, 7) != _plans(bundle, 8)


def test_every_plan_starts_properly_and_keeps_the_lifecycle_order(bundle: StandardsBundle) -> None:
    first_actions = {"accept", "refuse_acceptance", "return"}
    for plan in _plans(bundle, 11):
        actions = [a for _, a in plan]
        assert actions, "every case has at least one step"
        assert actions[0] in first_actions
        if "decide" in actions:
            assert actions.index("accept") < actions.index("decide") < actions.index("conclude")
        if "request_correction" in actions:
            assert actions.index("request_correction") < actions.index("receive_correction")
