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

_MARKER = ".sunshine-demo"  # a working directory the demo may wipe carries this file


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


def _raise_keyboard_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


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
    """The node's own summary, with the node's own labels (the demo keeps no copy of the domain's words)."""
    by_status: dict[str, int] = summary.get("by_status", {})
    by_light: dict[str, int] = summary.get("by_light", {})
    status_labels: dict[str, str] = summary.get("status_labels", {})
    light_labels: dict[str, str] = summary.get("light_labels", {})
    _say("")
    _say(f"==== {name} 办件汇总（截至模拟时间 {summary['as_of']}）====")
    _say("按状态：")
    for status, count in by_status.items():
        if count:
            _say(f"  {count:6d}  {status_labels.get(status, status)}")
    _say(f"  {sum(by_status.values()):6d}  合计")
    _say("在办件灯色（按承诺时限）：")
    for light, count in by_light.items():
        _say(f"  {count:6d}  {light_labels.get(light, light)}")
    _say(f"接口地址：{url}/api/v1   接口文档：{url}/docs")


def _fresh_workdir(workdir: Path) -> Path:
    """Wipe and recreate the demo's working directory — only if it is one (marker file) or empty."""
    workdir = workdir.resolve()
    if workdir.exists():
        if not (workdir / _MARKER).exists() and any(workdir.iterdir()):
            typer.echo(
                f"目录 {workdir} 不是演示工作目录（缺少 {_MARKER}），为安全起见不清空它；请换一个 --workdir", err=True
            )
            raise typer.Exit(2)
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / _MARKER).write_text("sunshine demo working directory: wiped at every demo start\n", encoding="utf-8")
    return workdir


def _watch(client: httpx.Client, procs: list[_Proc], duration: float) -> bool:
    """Print progress every 2 s until ``duration`` (0: forever) or Ctrl-C/SIGTERM; True when interrupted."""
    deadline = time.monotonic() + duration if duration > 0 else None
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(2.0 if deadline is None else min(2.0, max(0.1, deadline - time.monotonic())))
            for p in procs:
                if p.popen.poll() is not None:
                    raise RuntimeError(f"{p.name} 意外退出（退出码 {p.popen.returncode}）")
            _say(_progress_line(client.get("/api/v1/summary").json()))
    except KeyboardInterrupt:
        return True
    return False


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
    workdir = _fresh_workdir(workdir)
    node_dir = workdir / division
    node_dir.mkdir(parents=True)
    # SIGTERM (a service manager, `kill`) stops the demo as cleanly as Ctrl-C: children are stopped in order
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
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
            _cli("workload", "run", "--url", url, "--seed", str(seed), "--rate", str(rate), "--start", start),
            node_dir / "workload.log",
            env,
        )
        procs.append(workload)
        _say("大厅业务模拟已启动（Ctrl-C 停止并输出汇总）")
        with httpx.Client(base_url=url, timeout=10.0) as client:
            interrupted = _watch(client, procs, duration)
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
