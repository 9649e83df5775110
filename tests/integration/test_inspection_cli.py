"""``sunshine city init`` then ``sunshine city serve`` as real processes: the node runs its replication receiver
and the inspectors' HTTP API in one process, announces both ports in its data directory, answers
``/api/v1/health`` on the HTTP one (anyone), the counties to the city's logged-in inspector only, and stops
cleanly on SIGINT. Every wait is bounded."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import httpx

from federation.config import load_config
from federation.storage.engine import make_engine
from security.access import Role
from security.accounts import accounts_for

# the same bounded waits as the county's server test
from tests.integration.test_http_server import STOP_TIMEOUT, _sunshine
from tests.integration.test_http_server import _clean_env as _env
from tests.integration.test_http_server import _wait_for_port as _wait_for
from tests.people import add_user, log_in


def test_city_init_writes_the_http_section_and_serve_answers_health_on_the_port_it_wrote(tmp_path: Path) -> None:
    data = tmp_path / "371100"
    env = _env()
    first = subprocess.run(
        _sunshine("city", "init", "--division", "371100", "--data-dir", str(data)),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert '[http]\nhost = "127.0.0.1"\nport = 8100' in (data / "sunshine.toml").read_text(encoding="utf-8")
    again = subprocess.run(
        _sunshine("city", "init", "--division", "371100", "--data-dir", str(data), "--http-port", "0"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "port = 0" in (data / "sunshine.toml").read_text(encoding="utf-8")
    engine = make_engine(load_config(data / "sunshine.toml").database.url)
    try:  # the city's inspector (until ``sunshine user add`` exists: straight into the node's accounts)
        add_user(accounts_for(engine, "371100"), "rz-jiancha", [Role.INSPECTOR], name="钱市督")
    finally:
        engine.dispose()

    # not enrolled yet: no plaintext by default, a clear refusal (machine trust, issue 14) ...
    refused = subprocess.run(
        _sunshine("city", "serve", "--config", str(data / "sunshine.toml")),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "尚未登记证书" in refused.stderr
    assert "--insecure-dev" in refused.stderr
    # ... plaintext only when asked for, and said out loud
    log = tmp_path / "node.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _sunshine("city", "serve", "--config", str(data / "sunshine.toml"), "--insecure-dev"),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            port = _wait_for(data / "http.port", proc, log)
            grpc_port = _wait_for(data / "grpc.port", proc, log)
            assert grpc_port > 0
            assert "开发模式（--insecure-dev）" in log.read_text(encoding="utf-8")
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as client:
                health = client.get("/api/v1/health").json()
                assert (health["division"], health["level"], health["prefix"]) == ("371100", "city", "3711")
                assert health["name"] == "日照市"
                assert client.get("/api/v1/counties").status_code == 401
                log_in(client, "rz-jiancha")
                counties = client.get("/api/v1/counties").json()
                assert [i["county"] for i in counties["items"]] == ["371102", "371103", "371121", "371122"]
                assert client.get("/api/v1/counties/371323").status_code == 403
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=STOP_TIMEOUT) == 0, log.read_text(encoding="utf-8")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
    assert not (data / "http.port").exists()
    assert not (data / "grpc.port").exists()
    text = log.read_text(encoding="utf-8")
    assert "市级节点监察接口已启动" in text
    assert "市级节点复制接收服务已停止" in text
    _restarts_on_the_ports_it_chose(data, env, (port, grpc_port), tmp_path / "again.log")


def _restarts_on_the_ports_it_chose(data: Path, env: dict[str, str], ports: tuple[int, int], log: Path) -> None:
    """Issue 19: the same command line binds the ports chosen at the first start (port 0) again — after a clean
    stop and after SIGKILL — so its agents and children find it; a kept port taken since is refused, saying so."""
    command = _sunshine("city", "serve", "--config", str(data / "sunshine.toml"), "--insecure-dev")
    for stop in (signal.SIGKILL, signal.SIGINT):  # SIGKILL leaves its port files behind: they are not what is read
        (data / "http.port").unlink(missing_ok=True)
        (data / "grpc.port").unlink(missing_ok=True)
        with log.open("wb") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
            try:
                assert (_wait_for(data / "http.port", proc, log), _wait_for(data / "grpc.port", proc, log)) == ports
                proc.send_signal(stop)
                proc.wait(timeout=STOP_TIMEOUT)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=STOP_TIMEOUT)
    with socket.create_server(("127.0.0.1", ports[1])):  # another process holds the kept replication port now
        taken = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert taken.returncode != 0, taken.stdout + taken.stderr
    assert f"复制服务无法监听 127.0.0.1:{ports[1]}" in taken.stderr, taken.stderr
    assert "bound-ports/grpc.port" in taken.stderr, taken.stderr
