"""A real county node server: ``sunshine county init`` then ``sunshine county serve --port 0`` as processes.

The server picks a free loopback port and announces it in ``DATA_DIR/http.port``; the test talks to it over real
HTTP as the hall's clerk (whose account is added to the node's database before the server starts), then stops
it with SIGINT and expects a clean exit. Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from federation.config import load_config
from federation.data import CATALOGUE_CSV
from tests.people import add_staff_at, log_in

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def _sunshine(*args: str) -> list[str]:
    return [sys.executable, "-m", "federation.cli", *args]


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUNSHINE_")}
    env["SUNSHINE_LOG_FORMAT"] = "json"
    return env


def _add_staff(config_file: Path, env: dict[str, str]) -> None:
    config = load_config(config_file, env)
    add_staff_at(config.database_url, config.node.division)  # beside the first admin `init` made


def _wait_for_port(port_file: Path, proc: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early ({proc.returncode}):\n{log.read_text(encoding='utf-8')}")
        if port_file.exists() and (text := port_file.read_text(encoding="utf-8").strip()):
            return int(text)
        time.sleep(0.05)
    raise AssertionError(f"no {port_file.name} within {START_TIMEOUT:.0f} s:\n{log.read_text(encoding='utf-8')}")


def test_real_server_serves_the_api_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    data_dir = tmp_path / "371122"
    env = _clean_env()
    init = subprocess.run(
        _sunshine(
            "county", "init", "--division", "371122", "--data-dir", str(data_dir), "--catalogue", str(CATALOGUE_CSV)
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    _add_staff(data_dir / "sunshine.toml", env)

    port_file = data_dir / "http.port"
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _sunshine("county", "serve", "--config", str(data_dir / "sunshine.toml"), "--port", "0"),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            port = _wait_for_port(port_file, proc, log)
            assert port > 0
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as client:
                health = client.get("/api/v1/health").json()
                assert health["division"] == "371122"
                assert health["standards_version"].startswith("catalogue-")
                assert client.get("/api/v1/cases").status_code == 401  # not logged in
                log_in(client, "clerk")
                resp = client.post(
                    "/api/v1/cases",
                    json={
                        "item_code": "XK00001000",
                        "applicant": "张三",
                        "data": {"统一社会信用代码": "91371122MA3C000000", "法定代表人": "王五"},
                    },
                )
                assert resp.status_code == 201, resp.text
                case_no = resp.json()["case"]["case_no"]
                resp = client.post(f"/api/v1/cases/{case_no}/actions/accept", json={})
                assert resp.status_code == 200, resp.text
                detail = resp.json()
                assert detail["case"]["status"] == "accepted"
                assert detail["clock"]["promised"]["budget_days"] == 1
                assert [e["action"] for e in detail["timeline"]] == ["submit", "accept"]
                assert {e["actor"] for e in detail["timeline"]} == {"孙丽（窗口人员，clerk）"}
                resp = client.post(f"/api/v1/cases/{case_no}/actions/accept", json={})
                assert resp.status_code == 409
                assert resp.json()["error"]["code"] == "invalid_transition"

            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=STOP_TIMEOUT) == 0, log.read_text(encoding="utf-8")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
    assert not port_file.exists()  # removed on shutdown
    assert "县级节点接口已停止" in log.read_text(encoding="utf-8")
