"""``sunshine province|city score run|show|explain``, ``sunshine score show`` at a county and the county's
``GET /api/v1/scores``, over the hand-built data set (``scoring_data``) on SQLite.

The commands run as real processes: they configure logging on their own streams, as in production."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from city_aggregator.scoring.service import export_scores
from county_node.bootstrap import assemble_county_node
from county_node.entrypoints.http import create_app
from federation.config import Config, NodeConfig
from federation.replication import Prepared, Record
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from federation.storage.scores_replica import SCORE_RECORD, ScoreApplier
from federation.storage.tables import outbox
from federation.storage.uow import UnitOfWork
from migrations.runner import upgrade
from tests.conftest import FakeClock
from tests.integration import scoring_data as sd
from tests.people import add_staff, log_in

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient


def config(directory: Path, division: str, database: Path) -> Path:
    """A node configuration whose clock starts at the data set's ``NOW`` (``[simulation]``, real speed): what the
    commands score and show never depends on the day the suite runs."""
    directory.mkdir(exist_ok=True)
    path = directory / f"{division}.toml"
    path.write_text(
        f'[node]\ndivision = "{division}"\ndata_dir = "{directory}"\n\n[database]\nurl = "sqlite:///{database}"\n\n'
        f'[simulation]\nenabled = true\nstart = "{sd.NOW.isoformat()}"\nspeed = 1.0\n',
        encoding="utf-8",
    )
    return path


def process(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUNSHINE_")}
    env["SUNSHINE_LOG_FORMAT"] = "json"
    return subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, timeout=120, check=False)


def sunshine(*args: str) -> str:
    result = process("-m", "federation.cli", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def user_error(*args: str) -> str:
    result = process("-m", "federation.cli", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


@pytest.fixture
def province_db(tmp_path: Path, bundle: StandardsBundle) -> Path:
    db = tmp_path / "province.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    sd.load(engine, bundle)
    engine.dispose()
    return db


def test_province_and_city_score_commands(tmp_path: Path, province_db: Path) -> None:
    cfg = str(config(tmp_path / "p", "370000", province_db))
    out = sunshine("province", "score", "run", "--period", "2026-11", "--period", "2026-Q4", "-c", cfg)
    assert "已完成考核评分：范围 37，规则版本 2026.09.1，周期 2 个" in out
    assert "已排入发件箱 6 条评分记录" in out
    assert "已统计月度趋势：3 个月" in out  # 2026-10 … 2026-12, for the inspectors' trends (issue 17)

    shown = sunshine("province", "score", "show", "2026-11", "--level", "county", "-c", cfg)
    lines = [line for line in shown.splitlines() if "371" in line]
    assert lines[0].startswith("第 1 / 2 名")
    assert "371123" in lines[0]
    assert "95.24" in lines[0]
    assert lines[1].startswith("第 2 / 2 名")
    assert "371122" in lines[1]
    assert "47.14" in lines[1]
    assert "受理     6  决定     5" in lines[1]
    assert "主要失分：按时办结率 -20.19；时限使用率 -7.33；" in lines[1]
    assert "样本不足未计" not in lines[1]
    assert lines[2].startswith("样本不足，不排名")
    assert "371202" in lines[2]

    as_json = sunshine("province", "score", "show", "2026-11", "--json", "-c", cfg)
    engine = make_engine(f"sqlite:///{province_db}")
    try:
        stored = export_scores(engine, computed_by="370000", rules_version="2026.09.1", period="2026-11")
    finally:
        engine.dispose()
    assert json.loads(as_json) == json.loads(stored)

    explained = sunshine("province", "score", "explain", "371122", "2026-11", "-c", cfg)
    assert "371122 2026-11 考核评分 47.14 分（第 2 / 2 名；受理 6 件，审批决定 5 件；" in explained
    assert "黄牌扣分：2 张 → -1.67 分" in explained
    assert "黄牌（预警）（2）：371122-Y1、371122-Y2" in explained
    assert "提前办结的办件（加分）（1）：371122-A2" in explained
    assert "未按时答复的投诉（1）：371122-Q2" in explained
    assert "依据记录与计算时一致" in explained
    data = json.loads(sunshine("province", "score", "explain", "371122", "2026-11", "--json", "-c", cfg))
    assert data["records"]["red_cards"] == ["371122-R1"]
    assert data["check"] == {"arithmetic_ok": True, "data_changed": False, "changed": {}}

    city_cfg = str(config(tmp_path / "c", "371100", province_db))
    out = sunshine("city", "score", "run", "--period", "2026-11", "-c", city_cfg)
    assert "范围 3711" in out
    assert "发件箱" not in out
    shown = sunshine("city", "score", "show", "2026-11", "--level", "county", "-c", city_cfg)
    assert "371202" not in shown
    assert "371122" in shown

    assert "不是市级节点" in user_error("city", "score", "show", "2026-11", "-c", cfg)  # a province config
    assert "考核周期“2026-13”格式错误" in user_error("province", "score", "explain", "371122", "2026-13", "-c", cfg)


def test_a_measure_short_of_its_minimum_sample_is_shown_as_such(tmp_path: Path, province_db: Path) -> None:
    """371202 has one case: every case-based measure is below the minimum (3), said as such rather than scored 0;
    its score rests on the complaint and rating indicators only (none to judge: full), and the ranking says so."""
    cfg = str(config(tmp_path / "p", "370000", province_db))
    sunshine("province", "score", "run", "--period", "2026-11", "-c", cfg)
    shown = sunshine("province", "score", "show", "2026-11", "--level", "county", "-c", cfg)
    line = next(line for line in shown.splitlines() if "371202" in line)
    assert line.startswith("样本不足，不排名"), line
    assert line.endswith("100.00 分  受理     1  决定     1  仅计：投诉按时答复率、差评按时回访率"), line
    ranked = next(line for line in shown.splitlines() if "371122" in line)
    assert "样本不足未计" not in ranked  # every measure of 371122 has its sample

    small = sunshine("province", "score", "explain", "371202", "2026-11", "-c", cfg)
    assert "（样本不足，不排名；受理 1 件，审批决定 1 件；" in small
    assert "按时办结率：样本不足（审批决定件 1 件，少于 3 件），不计分（权重 30 分）" in small
    assert "每百件黄牌数：样本不足（受理件 1 件，少于 3 件），不计分（权重 5 分）" in small
    assert "黄牌扣分：0 张，样本不足（受理件 1 件，少于 3 件），不扣分" in small
    assert "提前办结加分：1 / 1 件，样本不足（审批决定的非即办件 1 件，少于 3 件），不加分" in small
    assert "已计指标权重 20，得分 20.00，折算为百分制 100.00" in small
    assert "分项合计与总分一致" in small


def test_a_run_as_of_a_moment_leaves_what_was_pending_then_pending(tmp_path: Path, province_db: Path) -> None:
    """``score run --at``: the demo's province scores the simulated days as of the counties' simulated now; a
    complaint still within its limit at that moment is pending, not missed (Q2 is due Nov 10)."""
    cfg = str(config(tmp_path / "p", "370000", province_db))

    def missed() -> int:
        data = json.loads(sunshine("province", "score", "show", "2026-11", "--json", "-c", cfg))
        row = next(r for r in data if r["subject"] == "371122")
        return int(row["breakdown"]["measures"]["complaints_missed"])

    sunshine("province", "score", "run", "--period", "2026-11", "--at", "2026-11-09T12:00:00+08:00", "-c", cfg)
    assert missed() == 0
    sunshine("province", "score", "run", "--period", "2026-11", "-c", cfg)  # as of the node's clock: long past
    assert missed() == 1
    assert "--at 必须带时区" in user_error(
        "province", "score", "run", "--period", "2026-11", "--at", "2026-11-09", "-c", cfg
    )


def _province_records(province_db: Path) -> list[Record]:
    engine = make_engine(f"sqlite:///{province_db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(outbox).where(outbox.c.record_type == SCORE_RECORD).order_by(outbox.c.seq)).all()
    finally:
        engine.dispose()
    return [Record(r.record_type, r.record_id, r.op, r.seq, r.payload.encode("utf-8"), 0) for r in rows]


def test_a_county_sees_its_own_rank_by_cli_and_http(
    tmp_path: Path, province_db: Path, bundle: StandardsBundle, clock: FakeClock
) -> None:
    sunshine(
        "province", "score", "run", "--period", "2026-11", "-c", str(config(tmp_path / "p", "370000", province_db))
    )

    county_db = tmp_path / "county.db"
    engine: Engine = make_engine(f"sqlite:///{county_db}")
    upgrade(engine)
    try:
        node = assemble_county_node(Config(node=NodeConfig(division="371122", name="莒县")), engine, clock)
        node.approval.apply_standards(bundle)
        applier = ScoreApplier()
        records = _province_records(province_db)
        prepared = [Prepared(r, applier.prepare("370000", r, json.loads(r.payload))) for r in records]
        with UnitOfWork(engine) as uow:
            applier.apply(uow.conn, "370000", prepared)
            uow.commit()

        shown = sunshine("score", "show", "2026-11", "-c", str(config(tmp_path / "k", "371122", county_db)))
        assert "计算节点 370000" in shown
        assert "第 2 / 2 名" in shown
        assert "47.14" in shown
        assert "371123" not in shown  # its own rows only

        add_staff(node.accounts)
        with TestClient(create_app(node)) as client:
            assert client.get("/api/v1/scores").status_code == 401  # a login holding score.read
            log_in(client, "clerk")
            assert client.get("/api/v1/scores").status_code == 403
            log_in(client, "approver")
            body = client.get("/api/v1/scores", params={"period": "2026-11"}).json()
            assert (body["county"], body["computed_by"], body["rules_version"]) == ("371122", "370000", "2026.09.1")
            assert (body["score"]["score"], body["score"]["rank"], body["score"]["ranked_of"]) == ("47.14", 2, 2)
            assert [w["subject"] for w in body["windows"]] == ["371122/W01", "371122/W02"]
            assert body["departments"][0]["subject"] == "371122/市场监督管理局"
            assert client.get("/api/v1/scores").json() == body  # the newest period held
            missing = client.get("/api/v1/scores", params={"period": "2026-10"})
            assert missing.status_code == 404
            assert "尚未收到 2026-10 的考核评分" in missing.json()["error"]["message"]
            bad = client.get("/api/v1/scores", params={"period": "2026-13"})
            assert bad.status_code == 422
            assert bad.json()["error"]["code"] == "validation_error"
    finally:
        engine.dispose()
