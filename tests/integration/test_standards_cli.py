"""``sunshine province standards build|publish`` and ``sunshine admin standards status``, as real subprocesses.

The example source directory ``docs/examples/standards`` must build; a broken copy of it is refused with the
reason and exit status 2; publishing a source directory puts it in place at the province, and the admin's status
lists every division of the province with the version it runs, marking those behind or never heard from.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from federation.standards import StandardsBundle
from federation.standards_source import load_bundle_source
from federation.storage.engine import make_engine
from federation.storage.tables import outbox, standards_status
from federation.timeutil import CST
from tests.integration.test_standards_down import COUNTY, PROVINCE, node_config, ok, sunshine, user_error

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "standards"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A copy of the example source directory, for a test to break."""
    return Path(shutil.copytree(EXAMPLE, tmp_path / "standards"))


def test_the_example_builds_and_the_json_written_is_the_bundle(tmp_path: Path) -> None:
    out = ok(sunshine("province", "standards", "build", str(EXAMPLE), "-o", str(tmp_path / "b.json")))
    built = load_bundle_source(EXAMPLE)
    assert f"标准包 {built.version} 校验通过" in out
    assert "事项 36 项" in out
    assert "评分规则已包含" in out
    assert f"摘要：{built.digest}" in out
    written = StandardsBundle.from_json((tmp_path / "b.json").read_text(encoding="utf-8"))
    assert written == built
    assert written.item("XK00036000").joint_departments[1].department == "住房和城乡建设局"
    assert built.calendar().year(2026) is not None
    assert not built.calendar().is_working_day(date(2026, 10, 1))  # 国庆节, from calendar/2026.toml
    assert built.calendar().is_working_day(date(2026, 10, 10))  # a make-up working Saturday


@pytest.mark.parametrize(
    ("path", "old", "new", "reason"),
    [
        ("rule_parameters.toml", "yellow_share = 0.8", "yellow_share = 2", "规则参数 yellow_share"),
        ("scoring.toml", 'weight = "30"', 'weight = "31"', "指标权重之和应为 100，实为 101"),
        ("calendar/2026.toml", "2026-01-04,", "2026-01-05,", "调休工作日 2026-01-05 不是周末"),
        (
            "catalogue.csv",
            "食品经营许可,市场监督管理局,promised,10,5",
            "食品经营许可,市场监督管理局,promised,10,15",
            "第 4 行",
        ),
        ("bundle.toml", 'version = "2026.10.1"', 'version = "2026 10"', "标准版本号“2026 10”格式错误"),
        ("bundle.toml", "effective_date = 2026-10-01", "effective = 2026-10-01", "未知的键：effective"),
    ],
)
def test_a_broken_source_is_refused_with_its_reason(source: Path, path: str, old: str, new: str, reason: str) -> None:
    target = source / path
    text = target.read_text(encoding="utf-8")
    assert old in text
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    line = user_error(sunshine("province", "standards", "build", str(source)))
    assert reason in line


def test_publish_a_source_directory_and_see_every_node_s_version(tmp_path: Path, source: Path) -> None:
    cfg = node_config(tmp_path / "province", PROVINCE)
    ok(sunshine("db", "upgrade", "--config", str(cfg)))
    out = ok(sunshine("province", "standards", "publish", str(source), "--config", str(cfg)))
    assert "已发布标准包 2026.10.1" in out
    assert "发件箱序号 1" in out
    assert "错误[conflict]" in user_error(sunshine("province", "standards", "publish", str(source), "-c", str(cfg)))
    assert "三者选一" in user_error(
        sunshine("province", "standards", "publish", str(source), "--bundle", "x.json", "-c", str(cfg))
    )
    shown = ok(sunshine("standards", "show", "--config", str(cfg)))  # the alias still works
    assert "2026.10.1" in shown

    engine = make_engine(f"sqlite:///{tmp_path / 'province' / 'node.db'}")
    try:
        with engine.begin() as conn:
            kinds = [r.record_type for r in conn.execute(select(outbox).order_by(outbox.c.seq))]
            assert kinds == ["standards", "standards_status"]
            conn.execute(  # a county that reported an older bundle
                insert(standards_status).values(
                    node=COUNTY,
                    version="2026.09.1",
                    digest="0" * 64,
                    effective_date=date(2026, 9, 1),
                    applied_at=datetime(2026, 9, 1, 8, tzinfo=CST),
                    calendar_revisions={"2026": 1},
                    origin_seq=3,
                )
            )
    finally:
        engine.dispose()

    report = json.loads(ok(sunshine("admin", "standards", "status", "--json", "--config", str(cfg))))
    assert report["province_version"] == "2026.10.1"
    nodes = {n["division"]: n for n in report["nodes"]}
    assert len(nodes) == 1 + 17 + 137  # every division of Shandong in the registry
    assert nodes[PROVINCE]["version"] == "2026.10.1"
    assert nodes[PROVINCE]["state"] in {"current", "pending"}
    assert (nodes[COUNTY]["version"], nodes[COUNTY]["state"]) == ("2026.09.1", "behind")
    assert nodes["371100"]["state"] == "unknown"
    assert report["counts"]["behind"] == 1
    assert report["counts"]["unknown"] == 1 + 17 + 137 - 2

    text = ok(sunshine("admin", "standards", "status", "--config", str(cfg)))
    assert "省级当前标准版本：2026.10.1" in text
    assert any(line.startswith(COUNTY) and "落后" in line for line in text.splitlines())
    assert "应用于 2026-09-01 08:00  落后" in text  # China time, not the stored UTC ISO moment
    assert any(line.startswith("371100") and "未报告" in line for line in text.splitlines())


def test_a_bundle_without_scoring_rules_is_not_published(tmp_path: Path, source: Path) -> None:
    """Review finding: a source directory without ``scoring.toml`` used to publish, and every ``province score
    run`` under it then failed; the province refuses it, writing nothing."""
    (source / "scoring.toml").unlink()
    cfg = node_config(tmp_path / "province", PROVINCE)
    ok(sunshine("db", "upgrade", "--config", str(cfg)))
    line = user_error(sunshine("province", "standards", "publish", str(source), "--config", str(cfg)))
    assert "未包含考核评分规则" in line
    engine = make_engine(f"sqlite:///{tmp_path / 'province' / 'node.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(select(outbox)).first() is None
    finally:
        engine.dispose()
