"""``sunshine county init`` and ``sunshine case …`` run as real processes (``python -m federation.cli``).

Real processes, because what a user sees is the whole path: typer parsing, ``federation.cli.main`` turning a
Sunshine error into one Chinese line and exit status 2, and logging configured once per process. The case
commands act as the person logged in by ``sunshine user login`` (:func:`login`): the timeline records that
person, a clerk cannot decide, and nobody logged in can do nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from federation.data import CATALOGUE_CSV
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from federation.storage.tables import standards_bundles
from tests.people import COUNTY_STAFF, add_staff_at, password_file

DIVISION = "371122"
CASE_NO = re.compile(r"\d{6}-\d{8}-\d{6}")


def sunshine(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUNSHINE_")}
    env["SUNSHINE_LOG_FORMAT"] = "json"
    env["SUNSHINE_KEYRING_PASSPHRASE"] = os.environ["SUNSHINE_KEYRING_PASSPHRASE"]  # tests/conftest.py's
    return subprocess.run(
        [sys.executable, "-m", "federation.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one Chinese error line ``federation.cli.main`` prints for a user error (exit status 2)."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("错误[")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def init(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``county init``; the first admin (``admin``) gets the tests' password (:data:`tests.people.PASSWORD`)."""
    admin = ("--admin-password-file", str(password_file(data_dir.parent)))
    return sunshine("county", "init", "--division", DIVISION, "--data-dir", str(data_dir), *admin, *extra)


def add_staff(data_dir: Path, division: str = DIVISION) -> None:
    """The county hall's people (:data:`tests.people.COUNTY_STAFF`) on the node initialised in ``data_dir``."""
    add_staff_at(f"sqlite:///{data_dir / 'node.db'}", division)


def login(config: list[str], user: str) -> str:
    """Log the node's command line (``--config`` in ``config``) in as ``user``, as a person would."""
    where = Path(config[config.index("--config") + 1]).parent
    return ok(sunshine("user", "login", "--user", user, "--password-file", str(password_file(where)), *config))


def actor_label(user: str) -> str:
    """How :data:`tests.people.COUNTY_STAFF`'s ``user`` appears as the actor: 姓名（岗位，账号）."""
    from security.access import ROLE_LABELS

    name, roles = COUNTY_STAFF[user]
    return f"{name}（{ROLE_LABELS[roles[0]]}，{user}）"


def bundles_in(data_dir: Path) -> int:
    engine = make_engine(f"sqlite:///{data_dir / 'node.db'}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(standards_bundles)).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised county node shared by the case tests of this module."""
    data_dir = tmp_path_factory.mktemp("county") / DIVISION
    ok(init(data_dir, "--name", "莒县", "--catalogue", str(CATALOGUE_CSV)))
    add_staff(data_dir)
    return data_dir


# -- county init --------------------------------------------------------------------------------------------------


def test_init_creates_config_database_and_standards_and_is_idempotent(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    first = ok(init(data_dir, "--name", "莒县", "--catalogue", str(CATALOGUE_CSV), "--http-port", "8200"))
    assert "已创建数据目录" in first
    assert "已写入配置文件" in first
    assert "数据库已迁移：空库 →" in first
    assert "已应用标准包 catalogue-" in first
    assert "事项 36 项" in first
    config_text = (data_dir / "sunshine.toml").read_text(encoding="utf-8")
    config = tomllib.loads(config_text)
    assert config["node"] == {"division": DIVISION, "name": "莒县", "data_dir": str(data_dir.resolve())}
    assert config["database"]["url"] == f"sqlite:///{data_dir.resolve() / 'node.db'}"
    assert config["http"]["port"] == 8200

    second = ok(init(data_dir, "--catalogue", str(CATALOGUE_CSV)))
    assert "使用已有数据目录" in second
    assert "配置文件未变" in second
    assert "数据库已是最新结构" in second
    assert "已在使用，无需重新应用" in second
    assert (data_dir / "sunshine.toml").read_text(encoding="utf-8") == config_text  # name and port kept
    assert bundles_in(data_dir) == 1


def test_init_applies_a_bundle_file(tmp_path: Path, bundle: StandardsBundle) -> None:
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(bundle.to_json(), encoding="utf-8")
    data_dir = tmp_path / "node"
    assert f"已应用标准包 {bundle.version}" in ok(init(data_dir, "--bundle", str(bundle_file)))
    assert "已在使用" in ok(init(data_dir, "--bundle", str(bundle_file)))
    assert bundles_in(data_dir) == 1


def test_init_with_an_invalid_division_fails_in_chinese_and_creates_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    result = sunshine("county", "init", "--division", "37112X", "--data-dir", str(data_dir))
    line = error_line(result)
    assert "行政区划代码“37112X”格式错误" in line
    assert "invalid_division_code" in line
    assert not data_dir.exists()


@pytest.mark.parametrize(
    ("division", "message"),
    [
        ("123456", "不在区划表中"),  # well formed, but no such division
        ("371100", "不是县级区划"),  # 日照市: a city, not a county
        ("370000", "不是县级区划"),  # the province
    ],
)
def test_init_refuses_unknown_and_non_county_divisions(tmp_path: Path, division: str, message: str) -> None:
    data_dir = tmp_path / "node"
    line = error_line(sunshine("county", "init", "--division", division, "--data-dir", str(data_dir)))
    assert message in line
    assert not data_dir.exists()


def test_case_commands_on_a_node_never_initialised_say_so_and_create_nothing(tmp_path: Path) -> None:
    config = tmp_path / "sunshine.toml"
    config.write_text('[node]\ndivision = "371122"\ndata_dir = "' + str(tmp_path) + '"\n', encoding="utf-8")
    line = error_line(sunshine("case", "list", "--config", str(config)))
    assert "本节点尚未初始化" in line
    assert not (tmp_path / "node.db").exists()


def test_init_refuses_conflicting_inputs(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    both = init(data_dir, "--bundle", str(tmp_path / "b.json"), "--catalogue", str(CATALOGUE_CSV))
    assert "只能指定一个" in error_line(both)
    missing = init(data_dir, "--catalogue", str(tmp_path / "none.csv"))
    assert "找不到事项目录文件" in error_line(missing)
    assert not data_dir.exists()
    ok(init(data_dir, "--catalogue", str(CATALOGUE_CSV)))
    other = sunshine("county", "init", "--division", "371121", "--data-dir", str(data_dir))
    assert "已属于区划 371122" in error_line(other)


# -- case … -------------------------------------------------------------------------------------------------------


def test_case_submit_act_show_and_list(node_dir: Path) -> None:
    config = ["--config", str(node_dir / "sunshine.toml")]
    login(config, "clerk")
    out = ok(
        sunshine(
            "case",
            "submit",
            "--item",
            "XK00001000",
            "--applicant",
            "张三",
            "--data",
            "统一社会信用代码=91371122MA3C000000",
            "--window",
            "W01",
            *config,
        )
    )
    assert "已登记办件" in out
    assert "企业设立登记" in out
    match = CASE_NO.search(out)
    assert match is not None
    case_no = match.group()

    assert "当前状态：已受理" in ok(sunshine("case", "act", case_no, "accept", *config))
    refused = error_line(sunshine("case", "act", case_no, "review", *config))  # a clerk does not decide
    assert "forbidden" in refused
    assert "窗口人员" in refused

    login(config, "approver")
    ok(sunshine("case", "act", case_no, "review", "--param", "data.法定代表人=王五", *config))
    extended = sunshine(
        "case",
        "act",
        case_no,
        "extend",
        "--param",
        "days=3",  # arrives as the integer 3
        "--json",
        '{"reason": "需现场核查", "approver": "分管局长"}',
        *config,
    )
    assert "已延期" in ok(extended)

    invalid = sunshine("case", "act", case_no, "accept", *config)
    line = error_line(invalid)
    assert "invalid_transition" in line
    assert "办件当前状态为“审核中”，不能执行“受理”" in line

    text = ok(sunshine("case", "show", case_no, *config))
    assert f"办件 {case_no}" in text
    assert "状态：审核中" in text
    assert "承诺时限 4 个工作日" in text  # 1 promised + 3 extension
    assert "办理过程" in text
    assert "受理" in text
    assert "天数：3" in text
    assert "窗口：W01" in text  # the submission's window by its Chinese label
    words = set(re.findall(r"\b[a-z_]{2,}\b", text))
    assert words <= {"clerk", "approver"}  # the actors' user ids; no English label or raw enum value

    detail = json.loads(ok(sunshine("case", "show", case_no, "--json", *config)))
    assert detail["case"]["status"] == "in_review"
    assert detail["case"]["extension_days"] == 3
    assert detail["case"]["data"] == {"统一社会信用代码": "91371122MA3C000000", "法定代表人": "王五"}
    assert [e["action"] for e in detail["timeline"]] == ["submit", "accept", "review", "extend"]
    assert [e["actor"] for e in detail["timeline"]] == [actor_label("clerk")] * 2 + [actor_label("approver")] * 2
    assert detail["clock"]["promised"]["budget_days"] == 4

    page = json.loads(ok(sunshine("case", "list", "--status", "in_review", "--json", *config)))
    assert [c["case_no"] for c in page["items"]] == [case_no]
    assert page["total"] == 1
    listed = ok(sunshine("case", "list", "--item", "XK00001000", *config))
    assert "共 1 件" in listed
    assert case_no in listed
    assert "共 0 件" in ok(sunshine("case", "list", "--department", "公安局", *config))


def test_case_commands_report_user_errors_in_chinese(node_dir: Path) -> None:
    config = ["--config", str(node_dir / "sunshine.toml")]
    login(config, "approver")
    unknown_item = sunshine("case", "submit", "--item", "XK99999000", "--applicant", "张三", *config)
    assert "事项目录中没有编码为“XK99999000”的事项" in error_line(unknown_item)
    bad_data = sunshine("case", "submit", "--item", "XK00001000", "--applicant", "张三", "--data", "王五", *config)
    assert "--data 应为“名称=值”的形式" in error_line(bad_data)
    missing = sunshine("case", "show", f"{DIVISION}-20260921-999999", *config)
    assert "未找到办件" in error_line(missing)
    unknown_action = sunshine("case", "act", f"{DIVISION}-20260921-999999", "approve", *config)
    assert "未知的办件操作“approve”" in error_line(unknown_action)
    assert "受理（accept）" in error_line(unknown_action)  # what to type, with its Chinese name
    bad_days = sunshine("case", "act", f"{DIVISION}-20260921-999999", "extend", "--param", "days=三", *config)
    assert "days：应为整数" in error_line(bad_days)
    bad_json = sunshine("case", "act", f"{DIVISION}-20260921-999999", "accept", "--json", "{", *config)
    assert "--json 不是有效的 JSON" in error_line(bad_json)
    bad_light = sunshine("case", "list", "--light", "green", *config)
    assert "未知的灯色“green”" in error_line(bad_light)
    assert "白灯（white）、黄灯（yellow）、红灯（red）" in error_line(bad_light)


def test_case_commands_need_a_login_holding_the_permission(node_dir: Path) -> None:
    config = ["--config", str(node_dir / "sunshine.toml")]
    ok(sunshine("user", "logout", *config))
    assert "命令行尚未登录" in error_line(sunshine("case", "list", *config))
    submit = ("case", "submit", "--item", "XK00001000", "--applicant", "张三")
    assert "命令行尚未登录" in error_line(sunshine(*submit, *config))

    login(config, "admin")  # the node admin reads the cases but takes none in
    assert "共" in ok(sunshine("case", "list", *config))
    assert "forbidden" in error_line(sunshine(*submit, *config))
    login(config, "supervisor")  # 监察员: no case work at all
    assert "forbidden" in error_line(sunshine(*submit, *config))
