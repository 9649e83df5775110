"""``evaluate``: the cost of the incremental supervision evaluation of one case event (target p99 < 2 ms).

Real case lifecycles run through the approval service on SQLite (the county's default database); every
transition calls the supervision service inside its transaction. The figure is the time of that call alone —
read the case's timeline, run every rule, reconcile the alerts (raise / clear, with their outbox rows), write the
case's wake-up moment — measured per event, p50 and p99 (``p50_ms``, ``p99_ms``). The pure rule evaluation
(``evaluate()`` on the same timelines, no database) is reported beside it (``pure_p50_ms``, ``pure_p99_ms``).

The lifecycles mix the plain path with corrections, suspensions, an extension and a joint item, so timelines
of 5–12 events are evaluated and some rules fire (repeated corrections, fee mismatches).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import Options, catalogue_bundle, progress, scaled
from county_node.approval.adapters.repository import CaseRepository
from county_node.approval.domain import Action
from county_node.bootstrap import CountyNode, assemble_county_node
from county_node.supervision.domain import evaluate
from federation.config import Config, NodeConfig
from federation.storage.engine import make_engine
from federation.timeutil import CST
from migrations.runner import upgrade

__all__ = ["NAME", "run"]

NAME = "evaluate"
TARGET_P99_MS = 2.0
BASE_LIFECYCLES = 2000
DIVISION = "371122"
FOOD = "XK00003000"


class _SteppingClock:
    def __init__(self, start: datetime, step: timedelta) -> None:
        self.now = start
        self._step = step

    def __call__(self) -> datetime:
        self.now += self._step
        return self.now


def _lifecycle(node: CountyNode, data: dict[str, str], variant: int) -> str:
    a = node.approval
    case = a.submit(item_code=FOOD, applicant="莒县某某餐饮有限公司", data=data, actor="窗口 1")
    no = case.case_no
    a.act(no, Action.ACCEPT, actor="窗口 1")
    if variant % 3 == 1:
        for _ in range(2):
            a.act(no, Action.REQUEST_CORRECTION, actor="审核员", params={"reason": "补充材料"})
            a.act(no, Action.RECEIVE_CORRECTION, actor="窗口 1")
    if variant % 5 == 2:
        a.act(no, Action.SUSPEND, actor="审核员", params={"reason": "现场核查"})
        a.act(no, Action.RESUME, actor="审核员")
    if variant % 7 == 3:
        a.act(no, Action.EXTEND, actor="科长", params={"days": 5, "reason": "情况复杂", "approver": "局长"})
    a.act(no, Action.REVIEW, actor="审核员", params={"opinion": "同意"})
    fee = "10.00" if variant % 11 == 4 else "0"
    a.act(no, Action.DECIDE, actor="科长", params={"outcome": "approve", "fee_charged": fee})
    a.act(no, Action.CONCLUDE, actor="窗口 1")
    return no


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(options: Options) -> dict[str, Any]:
    def say(message: str) -> None:
        progress(NAME, message)

    n = scaled(BASE_LIFECYCLES, options.scale, minimum=20)
    bundle = catalogue_bundle()
    timings: list[float] = []
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'county.db'}")
        try:
            upgrade(engine)
            clock = _SteppingClock(datetime(2026, 9, 21, 9, 0, tzinfo=CST), timedelta(minutes=7))
            node = assemble_county_node(Config(node=NodeConfig(division=DIVISION, name="莒县")), engine, clock)
            node.approval.apply_standards(bundle)
            supervision = node.supervision
            real: Callable[..., None] = supervision.case_changed

            def timed(*args: Any) -> None:
                started = time.perf_counter()
                real(*args)
                timings.append(time.perf_counter() - started)

            supervision.case_changed = timed  # type: ignore[method-assign,assignment]
            item = bundle.item(FOOD)
            data = {f: f"{f}-示例" for f in item.key_fields}
            for i in range(min(20, n)):  # warm-up
                _lifecycle(node, data, i)
            timings.clear()
            say(f"timing the incremental evaluation over {n:,} lifecycles")
            case_nos = [_lifecycle(node, data, i) for i in range(n)]
            st = node.approval.standards
            params = supervision.parameters
            pure: list[float] = []
            with engine.connect() as conn:
                repo = CaseRepository(conn, st.key_fields)
                sample = case_nos[: min(len(case_nos), 500)]
                for case_no in sample:
                    case = repo.get(case_no)
                    events = repo.timeline(case_no)
                    for k in range(1, len(events) + 1):  # the timeline as each event saw it
                        started = time.perf_counter()
                        evaluate(case, events[:k], events[k - 1].at, st.calendar, params)
                        pure.append(time.perf_counter() - started)
            alerts = supervision.summary()["alerts"]
        finally:
            engine.dispose()
    ms = [t * 1000 for t in timings]
    pure_ms = [t * 1000 for t in pure]
    p50, p99 = _percentile(ms, 0.5), _percentile(ms, 0.99)
    say(f"{len(ms):,} events: p50 {p50:.3f} ms, p99 {p99:.3f} ms, mean {statistics.fmean(ms):.3f} ms")
    say(f"pure evaluate(): p50 {_percentile(pure_ms, 0.5):.3f} ms, p99 {_percentile(pure_ms, 0.99):.3f} ms")
    say(f"alerts raised on the way: {alerts}")
    return {
        "bench": NAME,
        "events": len(ms),
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "pure_p50_ms": round(_percentile(pure_ms, 0.5), 3),
        "pure_p99_ms": round(_percentile(pure_ms, 0.99), 3),
        "target_p99_ms": TARGET_P99_MS,
        "ratio_to_target": round(p99 / TARGET_P99_MS, 3),
    }
