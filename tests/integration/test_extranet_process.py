"""``sunshine extranet init`` and ``serve`` as a real process, between a county's receiver and its agent in this one.

The node is initialised for ``371122-ext`` (configuration, migrated database), then served with ``--insecure-dev``
(plaintext links, warned about): the county's agent sends its public stream (the catalogue) to the node's receiver,
the public applies over HTTP, and the node's own agent carries the application to the county's receiver — the whole
path of issue 16 on loopback, the county's side reduced to a receiver that parses what arrives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from federation.config import Config, ExtranetConfig, NodeConfig, ReplicationConfig
from federation.public_records import PUBLIC_CATALOGUE, PUBLIC_SUBMISSION, PublicSubmission, parse_public_submission
from federation.replication import Prepared, Record, Rejection
from federation.storage import outbox
from federation.storage.engine import make_engine
from federation.storage.outbox import OutboxRecord
from federation.storage.uow import UnitOfWork
from migrations.runner import upgrade
from sync_agent.runtime import build_agent, start_receiver
from sync_agent.store import SqlBatchSink
from tests.integration.extranet_fixtures import COUNTY, EXT, PUB, T0, catalogue_payload

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


class Received:
    """The county's side of ``public_submission``, reduced to parsing and remembering what arrived."""

    def __init__(self) -> None:
        self.got: list[PublicSubmission] = []

    def prepare(self, origin: str, record: Record, payload: Any) -> PublicSubmission:
        return parse_public_submission(COUNTY, payload)

    def apply(self, conn: Any, origin: str, items: Sequence[Prepared[PublicSubmission]]) -> Sequence[Rejection]:
        self.got.extend(i.value for i in items)
        return []


def _sunshine(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUNSHINE_")}
    env |= {"SUNSHINE_LOG_FORMAT": "json", "SUNSHINE_KEYRING_PASSPHRASE": os.environ["SUNSHINE_KEYRING_PASSPHRASE"]}
    return subprocess.run(
        [sys.executable, "-m", "federation.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _wait(predicate: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _init(data_dir: Path, upstream: str, tmp_path: Path) -> None:
    """``extranet init``: the node's configuration and database; again: unchanged; for a city: refused."""
    init = _sunshine(
        "extranet", "init", "--division", COUNTY, "--data-dir", str(data_dir), "--http-port", "0",
        "--upstream", upstream,
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    assert "外网节点 371122-ext 初始化完成" in init.stdout
    assert 'division = "371122-ext"' in (data_dir / "sunshine.toml").read_text(encoding="utf-8")
    again = _sunshine("extranet", "init", "--division", COUNTY, "--data-dir", str(data_dir))
    assert again.returncode == 0
    assert "数据库已是最新结构" in again.stdout
    other = _sunshine("extranet", "init", "--division", "371100", "--data-dir", str(tmp_path / "x"))
    assert other.returncode == 2
    assert "不是县级区划" in other.stderr


def test_init_serve_and_the_two_streams(tmp_path: Path) -> None:
    # the county: its database (the public stream's outbox) and its receiver, in this process
    county_db = make_engine(f"sqlite:///{tmp_path / 'county.db'}")
    upgrade(county_db)
    received = Received()
    county_cfg = Config(
        node=NodeConfig(division=COUNTY, data_dir=str(tmp_path)), replication=ReplicationConfig(listen="127.0.0.1:0")
    )
    receiver = start_receiver(county_cfg, county_db, {PUBLIC_SUBMISSION: received}, relay=False)
    data_dir = tmp_path / "ext"
    proc = None
    agent = None
    try:
        _init(data_dir, receiver.target, tmp_path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUNSHINE_")}
        env["SUNSHINE_KEYRING_PASSPHRASE"] = os.environ["SUNSHINE_KEYRING_PASSPHRASE"]
        with (tmp_path / "serve.log").open("wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                [sys.executable, "-m", "federation.cli", "extranet", "serve", "-c", str(data_dir / "sunshine.toml"),
                 "--insecure-dev"],
                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        http_port = _wait(lambda: (data_dir / "http.port").is_file() and (data_dir / "http.port").read_text(), "http")
        grpc_port = _wait(lambda: (data_dir / "grpc.port").is_file() and (data_dir / "grpc.port").read_text(), "grpc")
        base = f"http://127.0.0.1:{int(http_port)}"

        # out: the county publishes its catalogue; its agent's extranet link carries it to the node
        with UnitOfWork(county_db) as uow:
            outbox.append(
                uow.conn,
                origin=PUB,
                records=[OutboxRecord(PUBLIC_CATALOGUE, "catalogue", "upsert", catalogue_payload("A01"))],
                created_at=T0,
            )
            uow.commit()
        link_cfg = Config(
            node=county_cfg.node,
            extranet=ExtranetConfig(link=f"127.0.0.1:{int(grpc_port)}"),
            replication=county_cfg.replication,
        )
        agent = build_agent(link_cfg, engine=county_db, security=None)
        agent.start()
        with httpx.Client(base_url=base, trust_env=False, timeout=10) as http:
            items = _wait(lambda: http.get("/api/v1/public/catalogue").json()["items"], "the catalogue")
            assert [i["code"] for i in items] == ["A01"]

            # in: an application over HTTP reaches the county's receiver on the node's own stream
            made = http.post(
                "/api/v1/public/submissions",
                json={
                    "item_code": "A01",
                    "applicant": "张三",
                    "phone": "13812345678",
                    "data": {"统一社会信用代码": "91371122MA3C0XXXX1", "经营场所": "城阳街道"},
                },
            )
            assert made.status_code == 201, made.text
        _wait(lambda: received.got, "the application at the county")
        assert received.got[0].submission_id == made.json()["submission_id"]
        # the applier saw it inside the receiver's transaction: the mark is committed with it a moment later
        _wait(lambda: SqlBatchSink(county_db, COUNTY, {}, relay=False).marks([EXT])[0].high_water >= 1, "the mark")

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        output = (tmp_path / "serve.log").read_text(encoding="utf-8")
        assert "开发模式（--insecure-dev）" in output
        assert "外网节点已停止" in output
        assert not (data_dir / "grpc.port").exists()
    finally:
        if agent is not None:
            agent.stop()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        receiver.stop(grace=1.0)
        county_db.dispose()
