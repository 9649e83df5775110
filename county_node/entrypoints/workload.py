"""Hall workload generator (demo): simulated window staff driving a county node's HTTP API.

Deterministic for a seed: which cases arrive, for which items, and what happens to each (a plan of timed
actions) come from one ``random.Random(seed)``. Timing follows the node's own clock (``/api/v1/health`` →
``now``), which in the demo is a simulated clock running many times faster than real time. Staff act only on
working days between 08:30 and 17:30 (the province's calendar), so holidays show up in the traffic.

Case profiles, by share: on time (most), corrections (补正), suspensions and special procedures, an
extension (延期), late decisions, cases nobody touches after review (they turn yellow, then red), refusals
(不予受理), returns and resubmissions (退回), missing key data filled in before the decision, joint items
(并联) with one sub-task per department, and instant items (即办件) finished the same day.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import structlog
import typer

from federation.calendar import WorkingCalendar
from federation.calendar_seed import seed_years
from federation.cli import config_option, setup
from federation.timeutil import CST

__all__ = ["HallSimulator", "Step", "workload_app"]

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
_STAFF = ["窗口01 孙丽", "窗口02 马超", "窗口03 胡静", "窗口05 郭亮", "窗口07 何敏", "窗口09 高峰"]
_CORRECTIONS = ["营业执照副本不清晰", "缺少法定代表人身份证明", "场所平面图未盖章", "申请表签字缺失"]
_SUSPEND = ["申请人申请暂停办理", "等待上级部门意见"]
_SPECIAL = [("听证", "依申请举行听证"), ("检验检测", "现场检验检测"), ("专家评审", "组织专家评审")]


@dataclass(order=True)
class Step:
    """One planned action on one case, at a simulated moment."""

    at: datetime
    order: int
    case_key: int = field(compare=False)
    action: str = field(compare=False)
    params: dict[str, Any] = field(compare=False, default_factory=dict)


@dataclass
class _CaseState:
    item: dict[str, Any]
    case_no: str | None = None
    failed: bool = False
    steps: list[Step] = field(default_factory=list)  # the plan, in order; only the head is ever queued


class HallSimulator:
    """Plans cases and executes their steps against the API when the node's clock reaches them."""

    def __init__(
        self, client: httpx.Client, *, seed: int = 7, rate_per_hour: float = 10.0, start: datetime | None = None
    ) -> None:
        self._client = client
        # planning draws from one generator in arrival order only, so the plan depends on the seed alone; who
        # performs a step and when postponed steps resume (both decided while running) must not touch it
        self._rng = random.Random(seed)
        self._staff_rng = random.Random(f"{seed}:staff")
        self._feedback_rng = random.Random(f"{seed}:feedback")  # complaints and ratings, after the plan
        self._rate = rate_per_hour
        self._calendar = WorkingCalendar(seed_years())
        self._items: list[dict[str, Any]] = []
        self._queue: list[Step] = []
        self._order = itertools.count()
        self._cases: dict[int, _CaseState] = {}
        self._keys = itertools.count(1)
        self._next_arrival: datetime | None = start  # the first arrival; default: the node's clock at first tick
        self.stats: Counter[str] = Counter()

    # -- API -------------------------------------------------------------------------------------------------
    def _get(self, path: str, **params: Any) -> Any:
        r = self._client.get(path, params=params)
        r.raise_for_status()
        return r.json()

    def node_now(self) -> datetime:
        return datetime.fromisoformat(self._get("/api/v1/health")["now"])

    def load_catalogue(self) -> None:
        self._items = list(self._get("/api/v1/catalogue")["items"])
        if not self._items:
            raise RuntimeError("节点事项目录为空，无法生成办件")

    # -- working-time helpers -----------------------------------------------------------------------------------
    def _work_moment(self, day: date) -> datetime:
        minutes = self._rng.randrange(0, 9 * 60)
        return datetime(day.year, day.month, day.day, 8, 30, tzinfo=CST) + timedelta(minutes=minutes)

    def _after_working_days(self, start: datetime, days: float) -> datetime:
        """A moment in office hours about ``days`` working days after ``start`` (0 → later the same day)."""
        whole = int(days)
        local = start.astimezone(CST)
        if whole <= 0:
            return local + timedelta(minutes=self._rng.randrange(5, 120))
        day = self._calendar.add_working_days(local.date(), whole)
        return self._work_moment(day)

    def _in_office(self, moment: datetime) -> bool:
        local = moment.astimezone(CST)
        minutes = local.hour * 60 + local.minute
        return self._calendar.is_working_day(local.date()) and 8 * 60 + 30 <= minutes < 17 * 60 + 30

    # -- planning ---------------------------------------------------------------------------------------------
    def _schedule(self, key: int, at: datetime, action: str, **params: Any) -> None:
        """Add a step to the case's plan (queued when every earlier step of the case has run)."""
        self._cases[key].steps.append(Step(at, next(self._order), key, action, params))

    def _queue_next(self, state: _CaseState) -> None:
        if state.steps and not state.failed:
            heapq.heappush(self._queue, state.steps.pop(0))

    def _plan_interruptions(
        self, key: int, item: dict[str, Any], t: datetime, budget: int, roll: float
    ) -> tuple[datetime, int, bool]:
        """Corrections, suspensions, special procedures, an extension — or a case left untouched (stuck)."""
        rng = self._rng
        if roll < 0.18:
            self._schedule(key, t + timedelta(minutes=30), "request_correction", reason=rng.choice(_CORRECTIONS))
            t = self._after_working_days(t, rng.randint(1, 4))
            self._schedule(key, t, "receive_correction", note="补正材料已收到")
            self.stats["planned_correction"] += 1
        elif roll < 0.22:
            self._schedule(key, t + timedelta(minutes=30), "suspend", reason=rng.choice(_SUSPEND))
            t = self._after_working_days(t, rng.randint(2, 5))
            self._schedule(key, t, "resume", note="恢复办理")
            self.stats["planned_suspended"] += 1
        elif roll < 0.25:
            procedure, reason = rng.choice(_SPECIAL)
            self._schedule(
                key, t + timedelta(minutes=30), "start_special_procedure", procedure=procedure, reason=reason
            )
            t = self._after_working_days(t, rng.randint(2, 6))
            self._schedule(key, t, "end_special_procedure", note=f"{procedure}结束")
            self.stats["planned_special"] += 1
        elif roll < 0.31:
            days = max(1, min(5, int(item["legal_limit_days"]) - budget))
            extend_at = self._after_working_days(t, max(1, int(budget * 0.7)))
            self._schedule(
                key, extend_at, "extend", days=days, reason="需现场核查，申请延期", approver="分管局长 王建国"
            )
            # the decision comes after the extension, within the days it added
            t, budget = extend_at, days
            self.stats["planned_extended"] += 1
        elif roll < 0.37:
            # nobody touches it again: it turns yellow, then red, and stays open
            self.stats["planned_stuck"] += 1
            return t, budget, True
        return t, budget, False

    def _plan_case(self, key: int, item: dict[str, Any], created: datetime) -> dict[str, str]:
        """Pick a profile and schedule the case's steps; return the key data given at submission."""
        rng = self._rng
        staff = rng.choice(_STAFF)
        key_fields: list[str] = list(item.get("key_fields", []))
        data = {k: f"{k}-{rng.randrange(10**5, 10**6)}" for k in key_fields}
        missing_later = bool(key_fields) and rng.random() < 0.15
        if missing_later:
            data.pop(key_fields[-1])
        budget = int(item["promised_limit_days"])
        instant = item["kind"] == "instant"
        roll = rng.random()
        t = created + timedelta(minutes=rng.randrange(3, 90))

        if roll < 0.04:
            self._schedule(key, t, "refuse_acceptance", reason="申请事项不属于本机关职权范围")
            self.stats["planned_refused"] += 1
            return data
        if roll < 0.08:
            self._schedule(key, t, "return", reason="申请材料与事项不符，退回修改")
            t = self._after_working_days(t, rng.randint(1, 2))
            self._schedule(key, t, "resubmit", note="申请人已修改材料")
            t += timedelta(minutes=rng.randrange(10, 60))
            self.stats["planned_returned"] += 1
        self._schedule(key, t, "accept", note=f"{staff} 受理")
        t = self._after_working_days(t, 0 if instant else rng.choice([0, 1]))
        self._schedule(key, t, "review", opinion="材料齐全，进入审核")

        if instant:
            t += timedelta(minutes=rng.randrange(10, 90))
        else:
            t, budget, stuck = self._plan_interruptions(key, item, t, budget, roll)
            if stuck:
                return data

        late = 0.37 <= roll < 0.47
        share = rng.uniform(1.1, 1.6) if late else rng.uniform(0.2, 0.9)
        if late:
            self.stats["planned_late"] += 1
        decide_at = self._after_working_days(t, 0 if instant else max(1.0, budget * share))
        for task in item.get("joint_departments", []):
            done = self._after_working_days(t, max(1, int(task["limit_days"] * rng.uniform(0.3, 0.9))))
            self._schedule(
                key,
                min(done, decide_at - timedelta(minutes=1)),
                "complete_task",
                department=task["department"],
                outcome="agree",
                opinion="同意",
            )
        if missing_later:
            self._schedule(
                key, decide_at - timedelta(minutes=5), "record_data", data={key_fields[-1]: f"{key_fields[-1]}-补录"}
            )
        denied = rng.random() < 0.05
        if denied:
            self._schedule(key, decide_at, "decide", outcome="deny", reason="不符合法定条件")
        else:
            self._schedule(key, decide_at, "decide", outcome="approve", fee_charged=item.get("fee_yuan", "0"))
        self._schedule(key, decide_at + timedelta(minutes=rng.randrange(5, 240)), "conclude")
        return data

    def _arrivals(self, now: datetime) -> Iterator[datetime]:
        """Arrival moments up to ``now`` (Poisson process in office hours)."""
        if self._next_arrival is None:
            self._next_arrival = now
        while self._next_arrival <= now:
            at = self._next_arrival
            self._next_arrival = at + timedelta(hours=self._rng.expovariate(self._rate))
            if self._in_office(at):
                yield at

    # -- execution --------------------------------------------------------------------------------------------
    def tick(self) -> datetime:
        """Submit the cases that arrived and run every step that is due at the node's current time."""
        now = self.node_now()
        for arrival in self._arrivals(now):
            item = self._rng.choice(self._items)
            key = next(self._keys)
            state = _CaseState(item)
            self._cases[key] = state
            data = self._plan_case(key, item, arrival)
            state.steps.sort()
            staff = self._rng.choice(_STAFF)
            resp = self._client.post(
                "/api/v1/cases",
                json={
                    "item_code": item["code"],
                    "applicant": self._rng.choice(_APPLICANTS),
                    "data": data,
                    "actor": staff,
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
            resp = self._client.post(
                f"/api/v1/cases/{state.case_no}/actions/{step.action}",
                json={"actor": self._staff_rng.choice(_STAFF), **step.params},
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
        resp = self._client.post(path, json=body)
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
                    "actor": "投诉受理员",
                },
                "complaints",
            )
            if filed is not None and rng.random() < 0.5:
                self._post(
                    f"/api/v1/complaints/{filed['complaint_id']}/answer",
                    {"answer": "已核实并督促经办科室加快办理", "actor": "督查科"},
                    "complaints_answered",
                )
        if after == "conclude" and rng.random() < 0.7:
            level = rng.choices([5, 4, 3, 2, 1], weights=[70, 18, 6, 4, 2])[0]
            rated = self._post(
                "/api/v1/ratings",
                {"case_no": case_no, "staff": self._staff_rng.choice(_STAFF), "level": level, "channel": "kiosk"},
                "ratings",
            )
            if rated is not None and rated.get("negative") and rng.random() < 0.5:
                self._post(
                    f"/api/v1/ratings/{rated['rating_id']}/follow-up",
                    {"note": "已电话回访，说明情况", "actor": "督查科"},
                    "ratings_followed_up",
                )

    def run(self, *, duration_s: float, tick_s: float = 0.2, cameras: HallCameras | None = None) -> None:
        self.load_catalogue()
        if cameras is not None:
            cameras.install(self._get("/api/v1/health")["division"], self.node_now())
        deadline = time.monotonic() + duration_s if duration_s > 0 else None
        while deadline is None or time.monotonic() < deadline:
            started = time.monotonic()
            now = self.tick()
            if cameras is not None:
                cameras.record(now)
                self.stats.update(cameras.stats)
                cameras.stats.clear()
            time.sleep(max(0.0, tick_s - (time.monotonic() - started)))


_CAMERA_WINDOWS = sorted({"W" + staff[2:4] for staff in _STAFF})  # the windows the simulated staff work at
_SEGMENT = timedelta(minutes=15)  # an NVR writes one file per camera every quarter of an hour


class HallCameras:
    """The hall's window cameras and their recordings (录像索引), for the demo: one camera per staffed window,
    registered with a GB/T 28181 id of the county, and — as the node's clock advances — the quarter-hour recording
    segments every camera wrote, plus now and then a "window unattended" event, indexed through the API."""

    def __init__(self, client: httpx.Client, *, seed: int = 7) -> None:
        self._client = client
        self._rng = random.Random(f"{seed}:video")
        self._cameras: list[tuple[str, str]] = []  # (camera id, window)
        self._until: datetime | None = None  # recordings are indexed up to here
        self.stats: Counter[str] = Counter()

    @staticmethod
    def camera_id(division: str, n: int) -> str:
        """Centre code (division + 00), industry 00, type 131 (camera), network 1, serial n."""
        return f"{division}00" + "00" + "131" + "1" + f"{n:06d}"

    def install(self, division: str, now: datetime) -> None:
        for n, window in enumerate(_CAMERA_WINDOWS, start=1):
            camera = self.camera_id(division, n)
            body = {"camera_id": camera, "name": f"{window} 窗口上方", "hall": "政务服务中心一楼", "window": window}
            resp = self._client.post("/api/v1/cameras", json={**body, "since": now.isoformat()})
            if resp.status_code not in (200, 201):
                raise RuntimeError(f"摄像机登记失败：{resp.text[:200]}")
            self._cameras.append((camera, window))
        start = now.astimezone(CST)
        self._until = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
        self.stats["cameras"] += len(self._cameras)

    def record(self, now: datetime) -> None:
        if self._until is None:
            return
        segments: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        while self._until + _SEGMENT <= now:
            start, end = self._until, self._until + _SEGMENT
            for camera, window in self._cameras:
                name = f"{camera}_{start:%Y%m%dT%H%M%S}_{end:%Y%m%dT%H%M%S}.mp4"
                segments.append(
                    {
                        "camera_id": camera,
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                        "uri": f"file:///srv/nvr/{camera}/{start:%Y%m%d}/{name}",
                        "size": self._rng.randrange(180_000_000, 260_000_000),
                        "checksum": f"{self._rng.getrandbits(256):064x}",
                    }
                )
                if 9 <= start.hour < 17 and self._rng.random() < 0.01:
                    at = start + timedelta(minutes=self._rng.randrange(15))
                    events.append(
                        {"camera_id": camera, "window": window, "kind": "window_unattended", "at": at.isoformat()}
                    )
            self._until = end
        if segments:
            resp = self._client.post("/api/v1/video/segments", json=segments)
            self.stats["segments" if resp.status_code in (200, 201) else "errors"] += len(segments)
        if events:
            resp = self._client.post("/api/v1/video/events", json=events)
            self.stats["video_events" if resp.status_code in (200, 201) else "errors"] += len(events)


workload_app = typer.Typer(help="演示用大厅业务模拟：按固定随机种子向县级节点提交并推进办件。", no_args_is_help=True)


@workload_app.command("run")
def run_workload(
    url: Annotated[str, typer.Option(help="县级节点 HTTP 地址，例如 http://127.0.0.1:8122")],
    seed: Annotated[int, typer.Option(help="随机种子（相同种子产生相同的业务计划）")] = 7,
    rate: Annotated[float, typer.Option(help="办公时间内每（模拟）小时到达的办件数")] = 10.0,
    duration: Annotated[float, typer.Option(help="运行秒数（实际时间），0 表示直到中断")] = 0.0,
    start: Annotated[
        str | None, typer.Option(help="第一件办件的到达时刻（带时区；缺省为节点当前时间）。固定它，计划只取决于种子")
    ] = None,
    config: Annotated[Path | None, config_option] = None,
) -> None:
    """向县级节点持续模拟窗口业务。"""
    setup(config)
    first = None if start is None else datetime.fromisoformat(start)
    if first is not None and first.tzinfo is None:
        raise typer.BadParameter("start 必须带时区，例如 2026-11-02T08:30:00+08:00")
    with httpx.Client(base_url=url, timeout=10.0) as client:
        sim = HallSimulator(client, seed=seed, rate_per_hour=rate, start=first)
        try:
            sim.run(duration_s=duration, cameras=HallCameras(client, seed=seed))
        except KeyboardInterrupt:
            pass
        finally:
            log.info("workload.stopped", **dict(sim.stats))
