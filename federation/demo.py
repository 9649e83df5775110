"""``sunshine demo``: a live federation on SQLite, on loopback, each node and agent its own process.

Today the federation is one county node — 莒县 (371122) — with its hall workload: the demo initialises the
node in a fresh working directory, starts ``sunshine county serve`` on a free loopback port with a simulated
clock (so days pass in seconds and cases really run late), starts the workload generator
(``sunshine workload run``) against it, shows progress, and on Ctrl-C (or after ``--duration``) prints a summary
of the cases by status and light and stops every process cleanly.

The orchestrator knows only commands and HTTP endpoints; it carries no tier logic.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Any

import httpx
import typer

__all__ = ["demo_app"]

demo_app = typer.Typer(help="启动演示联邦（SQLite，本机回环地址）。", invoke_without_command=True)

_STATUS_LABELS = {
    "submitted": "已申请",
    "accepted": "已受理",
    "in_review": "审核中",
    "correction": "补正中",
    "suspended": "已暂停",
    "special_procedure": "特别程序中",
    "approved": "准予许可",
    "denied": "不予许可",
    "concluded": "已办结",
    "refused": "不予受理",
    "returned": "已退回",
}
_LIGHT_LABELS = {"white": "白灯（正常）", "yellow": "黄灯（临近期限）", "red": "红灯（已超期）"}


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: IO[bytes]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "federation.cli", *args]


def _say(text: str) -> None:
    typer.echo(text)


def _start(name: str, args: list[str], log_path: Path, env: dict[str, str]) -> _Proc:
    log = log_path.open("ab")
    # its own session: a Ctrl-C in the terminal reaches only the orchestrator, which stops children in order
    popen = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return _Proc(name, popen, log)


def _stop(proc: _Proc, timeout: float = 10.0) -> None:
    if proc.popen.poll() is None:
        proc.popen.send_signal(signal.SIGINT)
        try:
            proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait()
    proc.log.close()


def _wait_for_port(port_file: Path, proc: _Proc, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} 进程提前退出（退出码 {proc.popen.returncode}），详见日志")
        if port_file.exists():
            text = port_file.read_text().strip()
            if text:
                return int(text)
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} 在 {timeout:.0f} 秒内未就绪")


def _progress_line(summary: dict[str, Any]) -> str:
    by_status: dict[str, int] = summary.get("by_status", {})
    by_light: dict[str, int] = summary.get("by_light", {})
    total = sum(by_status.values())
    done = by_status.get("concluded", 0) + by_status.get("refused", 0)
    now = datetime.fromisoformat(summary["as_of"]).strftime("%Y-%m-%d %H:%M")
    return (
        f"[模拟时间 {now}] 办件 {total:5d} | 已办结/不予受理 {done:5d} | "
        f"白 {by_light.get('white', 0):4d}  黄 {by_light.get('yellow', 0):4d}  红 {by_light.get('red', 0):4d}"
    )


def _print_summary(name: str, url: str, summary: dict[str, Any]) -> None:
    by_status: dict[str, int] = summary.get("by_status", {})
    by_light: dict[str, int] = summary.get("by_light", {})
    _say("")
    _say(f"==== {name} 办件汇总（截至模拟时间 {summary['as_of']}）====")
    _say("按状态：")
    for status, label in _STATUS_LABELS.items():
        if by_status.get(status):
            _say(f"  {by_status[status]:6d}  {label}")
    _say(f"  {sum(by_status.values()):6d}  合计")
    _say("在办件灯色（按承诺时限）：")
    for light, label in _LIGHT_LABELS.items():
        _say(f"  {by_light.get(light, 0):6d}  {label}")
    _say(f"接口地址：{url}/api/v1   接口文档：{url}/docs")


@demo_app.callback()
def demo(
    workdir: Annotated[Path, typer.Option(help="演示工作目录（每次启动时清空重建）")] = Path(".demo"),
    seed: Annotated[int, typer.Option(help="业务模拟随机种子")] = 7,
    duration: Annotated[float, typer.Option(help="运行秒数，0 表示直到 Ctrl-C")] = 0.0,
    speed: Annotated[float, typer.Option(help="模拟时钟倍速（模拟秒/实际秒）")] = 7200.0,
    start: Annotated[str, typer.Option(help="模拟时钟起点（带时区）")] = "2026-11-02T08:30:00+08:00",
    rate: Annotated[float, typer.Option(help="办公时间内每模拟小时到达的办件数")] = 10.0,
) -> None:
    """启动莒县（371122）县级节点与大厅业务模拟，显示进度，Ctrl-C 后输出汇总并干净退出。"""
    division, name = "371122", "莒县"
    workdir = workdir.resolve()
    node_dir = workdir / division
    if workdir.exists():
        shutil.rmtree(workdir)
    node_dir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUNSHINE_")}
    env["SUNSHINE_LOG_FORMAT"] = "json"

    _say(f"初始化 {name}（{division}）县级节点：{node_dir}")
    init = subprocess.run(
        _cli("county", "init", "--division", division, "--name", name, "--data-dir", str(node_dir)),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        typer.echo(init.stdout + init.stderr, err=True)
        raise typer.Exit(1)
    config = node_dir / "sunshine.toml"
    node_env = {
        **env,
        "SUNSHINE_SIMULATION_ENABLED": "true",
        "SUNSHINE_SIMULATION_START": start,
        "SUNSHINE_SIMULATION_SPEED": str(speed),
    }
    procs: list[_Proc] = []
    interrupted = False
    try:
        server = _start(
            f"{name}节点",
            _cli("county", "serve", "--config", str(config), "--port", "0"),
            node_dir / "node.log",
            node_env,
        )
        procs.append(server)
        port = _wait_for_port(node_dir / "http.port", server)
        url = f"http://127.0.0.1:{port}"
        _say(f"{name}节点已启动：{url}/api/v1（模拟时钟自 {start} 起，{speed:g} 倍速）")
        workload = _start(
            "大厅业务模拟",
            _cli("workload", "run", "--url", url, "--seed", str(seed), "--rate", str(rate)),
            node_dir / "workload.log",
            env,
        )
        procs.append(workload)
        _say("大厅业务模拟已启动（Ctrl-C 停止并输出汇总）")
        deadline = time.monotonic() + duration if duration > 0 else None
        summary: dict[str, Any] | None = None
        with httpx.Client(base_url=url, timeout=10.0) as client:
            try:
                while deadline is None or time.monotonic() < deadline:
                    time.sleep(2.0 if deadline is None else min(2.0, max(0.1, deadline - time.monotonic())))
                    for p in procs:
                        if p.popen.poll() is not None:
                            raise RuntimeError(f"{p.name} 意外退出（退出码 {p.popen.returncode}）")
                    summary = client.get("/api/v1/summary").json()
                    _say(_progress_line(summary))
            except KeyboardInterrupt:
                interrupted = True
            _stop(workload)
            summary = client.get("/api/v1/summary").json()
        _print_summary(name, url, summary)
    except RuntimeError as exc:
        typer.echo(f"演示失败：{exc}（日志目录 {node_dir}）", err=True)
        raise typer.Exit(1) from None
    finally:
        for p in reversed(procs):
            with contextlib.suppress(Exception):
                _stop(p)
        _say("所有进程已停止。" + ("（已中断）" if interrupted else ""))
