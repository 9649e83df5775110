"""Hall workload generator (demo): simulated window staff driving a county node's HTTP API (``sunshine workload``).

Deterministic for a seed: which cases arrive, for which items, and what happens to each (a plan of timed
actions) come from one ``random.Random(seed)`` (:mod:`~county_node.entrypoints.workload_plan`). Timing follows the
node's own clock (``/api/v1/health`` → ``now``), which in the demo is a simulated clock running many times faster
than real time (:mod:`~county_node.entrypoints.workload_simulator`); the hall's cameras index their recordings
alongside (:mod:`~county_node.entrypoints.workload_cameras`).
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import structlog
import typer

from county_node.entrypoints.workload_cameras import HallCameras
from county_node.entrypoints.workload_plan import Step
from county_node.entrypoints.workload_simulator import HallSimulator
from county_node.entrypoints.workload_staff import HallStaff
from federation.cli import config_option, setup
from federation.http_client import http_client

__all__ = ["HallSimulator", "Step", "workload_app"]

log = structlog.get_logger(__name__)


workload_app = typer.Typer(help="演示用大厅业务模拟：按固定随机种子向县级节点提交并推进办件。", no_args_is_help=True)


def _await_start(path: Path) -> datetime:
    """The moment written to ``path`` (by whoever starts several workloads together), once it is there."""
    while True:
        with contextlib.suppress(FileNotFoundError):
            text = path.read_text(encoding="utf-8").strip()
            if text:
                moment = datetime.fromisoformat(text)
                if moment.tzinfo is None:
                    raise typer.BadParameter(f"{path} 中的时刻必须带时区")
                return moment
        time.sleep(0.05)


@workload_app.command("run")
def run_workload(
    url: Annotated[str, typer.Option(help="县级节点 HTTP 地址，例如 http://127.0.0.1:8122")],
    seed: Annotated[int, typer.Option(help="随机种子（相同种子产生相同的业务计划）")] = 7,
    rate: Annotated[float, typer.Option(help="办公时间内每（模拟）小时到达的办件数")] = 10.0,
    duration: Annotated[float, typer.Option(help="运行秒数（实际时间），0 表示直到中断")] = 0.0,
    start: Annotated[
        str | None, typer.Option(help="第一件办件的到达时刻（带时区；缺省为节点当前时间）。固定它，计划只取决于种子")
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(help="大厅人员（窗口人员、审批负责人、监察员、节点管理员）的登录密码文件（首行）；需要登录时必填"),
    ] = None,
    start_file: Annotated[
        Path | None,
        typer.Option(help="就绪（已登录、已读事项目录、已登记摄像机）后等待此文件出现，以其中的时刻为第一件的到达时刻"),
    ] = None,
    config: Annotated[Path | None, config_option] = None,
) -> None:
    """向县级节点持续模拟窗口业务：各岗位人员各自登录，按岗位办理。"""
    setup(config)
    first = None if start is None else datetime.fromisoformat(start)
    if first is not None and first.tzinfo is None:
        raise typer.BadParameter("start 必须带时区，例如 2026-11-02T08:30:00+08:00")
    if password_file is None:
        raise typer.BadParameter("县级节点的接口需要登录：请用 --password-file 给出大厅人员的密码文件")
    from security.people_cli import read_password

    password = read_password(password_file)
    with http_client(base_url=url) as client:
        staff = HallStaff(url, password, seed=seed)
        sim = HallSimulator(client, staff, seed=seed, rate_per_hour=rate, start=first)
        cameras = HallCameras(staff.admin, seed=seed)
        try:
            sim.prepare(cameras)
            log.info("workload.started", url=url, people=sorted(staff.clients))  # the launcher waits for this line
            if start_file is not None:
                sim.start_at(_await_start(start_file))
            sim.run(duration_s=duration, cameras=cameras)
        except KeyboardInterrupt:
            pass
        finally:
            staff.close()
            log.info("workload.stopped", **dict(sim.stats))
