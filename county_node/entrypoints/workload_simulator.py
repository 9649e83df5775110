"""The hall simulator (demo workload): simulated window staff driving a county node's HTTP API.

It runs the plan of :class:`~county_node.entrypoints.workload_plan.HallPlanner` on the node's own clock
(``/api/v1/health`` → ``now``): it submits the cases that arrived, performs each case's steps in order when they
are due (postponed outside office hours), and files complaints and ratings about some of them (好差评).
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog

from county_node.entrypoints.workload_cameras import HallCameras
from county_node.entrypoints.workload_plan import STAFF, CaseState, HallPlanner, Step
from county_node.entrypoints.workload_staff import HallStaff
from federation.timeutil import CST

__all__ = ["HallSimulator"]

log = structlog.get_logger(__name__)

_APPLICANTS = [
    "张伟",
    "王芳",
    "李娜",
    "刘洋",
    "陈静",
    "杨磊",
    "赵敏",
    "黄强",
    "周杰",
    "吴婷",
    "莒县城阳食品店",
    "日照鲁东建设有限公司",
    "莒县浮来山农资站",
    "山东莒州物流有限公司",
]


class HallSimulator(HallPlanner):
    """Plans cases and executes their steps against the API when the node's clock reaches them, each call by the
    person of ``staff`` whose role it needs (none: planning only); ``client`` (anonymous) reads only the public
    ``/health``."""

    def __init__(
        self,
        client: httpx.Client,
        staff: HallStaff | None = None,
        *,
        seed: int = 7,
        rate_per_hour: float = 10.0,
        start: datetime | None = None,
    ) -> None:
        super().__init__(seed=seed, rate_per_hour=rate_per_hour, start=start)
        self._client = client
        self._people = staff
        self._staff_rng = random.Random(f"{seed}:staff")
        self._feedback_rng = random.Random(f"{seed}:feedback")  # complaints and ratings, after the plan
        self._items: list[dict[str, Any]] = []
        self._queue: list[Step] = []
        self._keys = itertools.count(1)
        self._prepared = False

    @property
    def _staff(self) -> HallStaff:
        if self._people is None:
            raise RuntimeError("大厅业务模拟需要登录的人员（HallStaff）")
        return self._people

    # -- API -------------------------------------------------------------------------------------------------
    def _get(self, path: str, client: httpx.Client | None = None, **params: Any) -> Any:
        r = (client or self._client).get(path, params=params)
        r.raise_for_status()
        return r.json()

    def node_now(self) -> datetime:
        return datetime.fromisoformat(self._get("/api/v1/health")["now"])

    def load_catalogue(self) -> None:
        self._items = list(self._get("/api/v1/catalogue", self._staff.clerk(0))["items"])
        if not self._items:
            raise RuntimeError("节点事项目录为空，无法生成办件")

    def _queue_next(self, state: CaseState) -> None:
        if state.steps and not state.failed:
            heapq.heappush(self._queue, state.steps.pop(0))

    # -- execution --------------------------------------------------------------------------------------------
    def tick(self) -> datetime:
        """Submit the cases that arrived and run every step that is due at the node's current time."""
        now = self.node_now()
        for arrival in self._arrivals(now):
            item = self._rng.choice(self._items)
            key = next(self._keys)
            state = CaseState(item)
            self._cases[key] = state
            data = self._plan_case(key, item, arrival)
            state.steps.sort()
            staff = self._rng.choice(STAFF)
            n = STAFF.index(staff)
            resp = self._staff.clerk(n).post(
                "/api/v1/cases",
                json={
                    "item_code": item["code"],
                    "applicant": self._rng.choice(_APPLICANTS),
                    "data": data,
                    "window": "W" + staff[2:4],  # "窗口03 胡静" takes cases in at window W03
                },
            )
            if resp.status_code != 201:
                state.failed = True
                self.stats["errors"] += 1
                log.warning("workload.submit_failed", status=resp.status_code, body=resp.text[:300])
                continue
            state.case_no = resp.json()["case"]["case_no"]
            self.stats["submitted"] += 1
            self._queue_next(state)
        while self._queue and self._queue[0].at <= now:
            step = heapq.heappop(self._queue)
            state = self._cases[step.case_key]
            if state.failed or state.case_no is None:
                continue
            if not self._in_office(now) and step.action != "conclude":
                # staff are home: postpone to the next office moment (the case's later steps wait behind it)
                nxt = self._calendar.add_working_days(now.astimezone(CST).date(), 1)
                step.at = datetime(nxt.year, nxt.month, nxt.day, 8, 30, tzinfo=CST) + timedelta(
                    minutes=step.order % 240
                )
                heapq.heappush(self._queue, step)
                continue
            resp = self._staff.for_action(step.action).post(
                f"/api/v1/cases/{state.case_no}/actions/{step.action}", json=step.params
            )
            if resp.status_code == 200:
                self.stats[step.action] += 1
                self._queue_next(state)
                if step.action in ("accept", "conclude"):
                    self._feedback(state.case_no, step.action)
            else:
                state.failed = True
                self.stats["errors"] += 1
                log.warning(
                    "workload.action_failed",
                    case_no=state.case_no,
                    action=step.action,
                    status=resp.status_code,
                    body=resp.text[:300],
                )
        return now

    def _post(self, path: str, body: dict[str, Any], counter: str) -> dict[str, Any] | None:
        resp = self._staff.supervisor.post(path, json=body)
        if resp.status_code in (200, 201):
            self.stats[counter] += 1
            result: dict[str, Any] = resp.json()
            return result
        self.stats["errors"] += 1
        log.warning("workload.feedback_failed", path=path, status=resp.status_code, body=resp.text[:300])
        return None

    def _feedback(self, case_no: str, after: str) -> None:
        """Applicants complain about some cases while they run and rate most once concluded (好差评); the hall
        answers half the complaints and follows up half the negative ratings at once — the rest run late."""
        rng = self._feedback_rng
        if after == "accept" and rng.random() < 0.04:
            filed = self._post(
                "/api/v1/complaints",
                {
                    "target": "case",
                    "target_id": case_no,
                    "complainant": rng.choice(_APPLICANTS),
                    "content": rng.choice(["办理进度慢，无人答复", "窗口要求重复提交材料", "工作人员态度生硬"]),
                    "channel": rng.choice(["12345", "window", "web"]),
                },
                "complaints",
            )
            if filed is not None and rng.random() < 0.5:
                self._post(
                    f"/api/v1/complaints/{filed['complaint_id']}/answer",
                    {"answer": "已核实并督促经办科室加快办理"},
                    "complaints_answered",
                )
        if after == "conclude" and rng.random() < 0.7:
            level = rng.choices([5, 4, 3, 2, 1], weights=[70, 18, 6, 4, 2])[0]
            rated = self._post(
                "/api/v1/ratings",
                {"case_no": case_no, "staff": self._staff_rng.choice(STAFF), "level": level, "channel": "kiosk"},
                "ratings",
            )
            if rated is not None and rated.get("negative") and rng.random() < 0.5:
                self._post(
                    f"/api/v1/ratings/{rated['rating_id']}/follow-up",
                    {"note": "已电话回访，说明情况"},
                    "ratings_followed_up",
                )

    def prepare(self, cameras: HallCameras | None = None) -> None:
        """Read the catalogue and register the hall's cameras (before the first arrival)."""
        self.load_catalogue()
        if cameras is not None:
            cameras.install(self._get("/api/v1/health")["division"], self.node_now())
        self._prepared = True

    def start_at(self, first: datetime) -> None:
        """The first arrival (set once prepared, before running)."""
        self._next_arrival = first

    def run(self, *, duration_s: float, tick_s: float = 0.2, cameras: HallCameras | None = None) -> None:
        if not self._prepared:
            self.prepare(cameras)
        deadline = time.monotonic() + duration_s if duration_s > 0 else None
        while deadline is None or time.monotonic() < deadline:
            started = time.monotonic()
            now = self.tick()
            if cameras is not None:
                cameras.record(now)
                self.stats.update(cameras.stats)
                cameras.stats.clear()
            time.sleep(max(0.0, tick_s - (time.monotonic() - started)))
