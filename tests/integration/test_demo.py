"""The demo end to end: real processes (node server, workload) on loopback, a short simulated run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_runs_reports_and_stops_cleanly(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "federation.cli",
            "demo",
            "--workdir",
            str(workdir),
            "--duration",
            "8",
            "--speed",
            "20000",
            "--rate",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "莒县节点已启动：http://127.0.0.1:" in out
    assert "办件汇总" in out
    assert "红灯（超期）" in out
    assert "所有进程已停止" in out
    assert not (workdir / "371122" / "http.port").exists()  # the server removed it on a clean stop
    log_lines = (workdir / "371122" / "workload.log").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in log_lines if line.startswith("{")]
    stopped = [e for e in events if e.get("event") == "workload.stopped"]
    assert stopped, "the workload logs its totals when it stops"
    assert stopped[-1]["submitted"] > 0
    assert stopped[-1]["accept"] > 0
    failed = [e for e in events if e.get("event") in {"workload.action_failed", "workload.submit_failed"}]
    assert failed == [], failed[:3]


def test_demo_refuses_to_wipe_a_directory_that_is_not_its_own(tmp_path: Path) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "federation.cli", "demo", "--workdir", str(tmp_path), "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "不是演示工作目录" in proc.stderr
    assert precious.read_text(encoding="utf-8") == "keep me"
