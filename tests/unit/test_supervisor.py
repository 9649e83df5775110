"""The launcher's supervision (:mod:`province_center.demo.supervisor`): restart with backoff, reported; a steady
run starts the backoff afresh; a process that keeps failing is given up on; one being stopped is left alone."""

from __future__ import annotations

from province_center.demo.supervisor import GIVE_UP_AFTER, MAX_DELAY_S, STEADY_S, Supervisor, backoff_s


class _Processes:
    """Fake processes on a fake clock: each key's exit code (None: running) and start moment."""

    def __init__(self, *keys: str) -> None:
        self.now = 1000.0
        self.codes: dict[str, int | None] = dict.fromkeys(keys)
        self.started = dict.fromkeys(keys, self.now)
        self.restarted: list[str] = []
        self.stopping: set[str] = set()
        self.lines: list[str] = []

    def restart(self, key: str) -> None:
        self.restarted.append(key)
        self.codes[key] = None
        self.started[key] = self.now

    def supervisor(self) -> Supervisor:
        return Supervisor(
            keys=lambda: list(self.codes),
            exited=self.codes.__getitem__,
            started_at=self.started.__getitem__,
            stopping=self.stopping.__contains__,
            restart=self.restart,
            report=self.lines.append,
            clock=lambda: self.now,
        )


def test_backoff_doubles_from_half_a_second_to_ten() -> None:
    assert [backoff_s(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, MAX_DELAY_S, MAX_DELAY_S]


def test_a_killed_process_is_restarted_after_its_backoff_and_each_restart_is_reported() -> None:
    procs = _Processes("agent:371122", "node:371100")
    sup = procs.supervisor()
    procs.now += 1
    procs.codes["agent:371122"] = -9
    sup.tick()
    assert procs.restarted == []  # scheduled, not yet
    assert procs.lines == ["进程 agent:371122 意外退出（退出码 -9），0.5 秒后重新启动"]
    procs.now += 0.4
    sup.tick()
    assert procs.restarted == []
    procs.now += 0.2
    sup.tick()
    assert procs.restarted == ["agent:371122"]
    assert procs.lines[-1] == "进程 agent:371122 已重新启动（连续第 1 次）"
    assert [(r.key, r.exit_code, r.attempt, r.delay_s) for r in sup.restarts] == [("agent:371122", -9, 1, 0.5)]
    procs.codes["agent:371122"] = 1  # at once again: the backoff doubles
    sup.tick()
    assert sup.restarts[-1].delay_s == 1.0
    procs.now += 1.1
    sup.tick()
    procs.now += STEADY_S  # a steady run: the next exit waits 0.5 s again
    sup.tick()
    procs.codes["agent:371122"] = -9
    sup.tick()
    assert sup.restarts[-1].delay_s == 0.5
    assert procs.codes["node:371100"] is None  # the other was left running throughout


def test_a_process_being_stopped_is_not_restarted_and_one_that_keeps_failing_is_given_up() -> None:
    procs = _Processes("node:371122", "agent:371122")
    sup = procs.supervisor()
    procs.stopping.add("node:371122")
    procs.codes["node:371122"] = 0
    for _ in range(GIVE_UP_AFTER + 1):
        procs.codes["agent:371122"] = 2  # e.g. its kept port is taken
        sup.tick()
        procs.now += MAX_DELAY_S
        sup.tick()
    assert "node:371122" not in procs.restarted
    assert procs.restarted == ["agent:371122"] * GIVE_UP_AFTER
    assert sup.failed() == {"agent:371122": 2}
    assert procs.lines[-1] == f"进程 agent:371122 连续 {GIVE_UP_AFTER} 次重启后仍退出（退出码 2），不再重启"


def test_a_restart_that_fails_is_counted_as_a_failure_and_the_others_are_still_watched() -> None:
    procs = _Processes("node:371122", "agent:371122")
    sup = procs.supervisor()
    broken = {"node:371122"}

    def restart(key: str) -> None:
        if key in broken:
            raise FileNotFoundError("its data directory is gone")
        procs.restart(key)

    sup.restart = restart
    procs.codes["node:371122"] = 1
    procs.codes["agent:371122"] = -9
    sup.tick()
    procs.now += 1
    sup.tick()
    assert procs.restarted == ["agent:371122"]  # the other one was restarted all the same
    assert "进程 node:371122 无法重新启动：its data directory is gone" in procs.lines
    procs.now += 1
    sup.tick()  # the failed one is scheduled again, with a longer backoff
    assert sup.restarts[-1].key == "node:371122"
    assert sup.restarts[-1].delay_s == 1.0
