"""``sunshine user …`` and ``sunshine admin audit …`` run as real processes (``python -m federation.cli``).

The first admin made by ``county init``; logging in, out and who is logged in; the node admin's account work;
the lockout after five failed logins; a disabled account's session ending at once; and the audit chain verified
— intact, then after one changed byte, a deleted entry and two entries swapped (each undone before the next).

A command line's session belongs to the OS user who logged in (``cli-session:<OS user>`` in the node's keyring):
the tests give each person their own OS user (``LOGNAME``), as two operators of one node would have.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from federation.data import CATALOGUE_CSV
from tests.integration.test_cli import DIVISION, error_line, ok
from tests.people import PASSWORD, password_file

ADMIN_OS = "ops"  # the OS user the node admin works as
CLERK_OS = "sunli"  # the OS user the clerk w01 works as


def sunshine(*args: str, os_user: str = ADMIN_OS) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUNSHINE_")}
    env |= {
        "SUNSHINE_LOG_FORMAT": "json",
        "SUNSHINE_KEYRING_PASSPHRASE": os.environ["SUNSHINE_KEYRING_PASSPHRASE"],
        "LOGNAME": os_user,  # getpass.getuser(): whose command line session this is
        "USER": os_user,
    }
    return subprocess.run(
        [sys.executable, "-m", "federation.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _secret(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A county initialised with the first admin's password given (the tests' :data:`PASSWORD`); its data dir."""
    base = tmp_path_factory.mktemp("people")
    data_dir = base / DIVISION
    out = ok(
        sunshine(
            "county",
            "init",
            "--division",
            DIVISION,
            "--data-dir",
            str(data_dir),
            "--catalogue",
            str(CATALOGUE_CSV),
            "--admin-password-file",
            str(password_file(base)),
        )
    )
    assert "已创建首个管理员账号 admin（节点管理员、交换管理员）" in out
    assert "初始密码" not in out  # the password given is not shown
    return data_dir


def cfg(data_dir: Path) -> list[str]:
    return ["--config", str(data_dir / "sunshine.toml")]


def login(data_dir: Path, user: str, password: str = PASSWORD, *, os_user: str = ADMIN_OS) -> str:
    pw = _secret(data_dir.parent, f"pw-{user}.txt", password)
    return ok(sunshine("user", "login", "--user", user, "--password-file", pw, *cfg(data_dir), os_user=os_user))


def add(data_dir: Path, user: str, name: str, roles: str) -> str:
    pw = str(password_file(data_dir.parent))
    return ok(sunshine("user", "add", user, "--name", name, "--roles", roles, "--password-file", pw, *cfg(data_dir)))


# -- the first admin --------------------------------------------------------------------------------------------


def test_init_makes_the_first_admin_with_a_generated_password_shown_once(tmp_path: Path) -> None:
    data_dir = tmp_path / DIVISION
    init = ("county", "init", "--division", DIVISION, "--data-dir", str(data_dir))
    out = ok(sunshine(*init))
    match = re.search(r"初始密码（只显示这一次，登录后请用 sunshine user passwd 修改）：(\S+)", out)
    assert match is not None, out
    generated = match.group(1)
    assert len(generated) >= 12
    again = ok(sunshine(*init))
    assert "本节点已有账号，未创建首个管理员" in again
    assert generated not in again

    assert "已登录：节点管理员（admin，节点管理员、交换管理员，区划 371122）" in login(data_dir, "admin", generated)
    assert "命令行尚未登录" not in ok(sunshine("user", "whoami", *cfg(data_dir)))
    assert "账号或密码错误" in error_line(
        sunshine("user", "login", "--user", "admin", "--password-file", str(password_file(tmp_path)), *cfg(data_dir))
    )


# -- login, whoami, logout; the admin's account work -------------------------------------------------------------


def test_login_whoami_logout(node: Path) -> None:
    config = cfg(node)
    ok(sunshine("user", "logout", *config))  # whatever an earlier test left
    assert "命令行尚未登录" in error_line(sunshine("user", "whoami", *config))
    assert "有效期至" in login(node, "admin")
    whoami = ok(sunshine("user", "whoami", *config))
    assert "节点管理员（admin）区划 371122" in whoami
    assert "节点管理员（node_admin）、交换管理员（exchange_admin）" in whoami
    assert "已退出登录" in ok(sunshine("user", "logout", *config))
    assert "当前未登录" in ok(sunshine("user", "logout", *config))
    assert "命令行尚未登录" in error_line(sunshine("user", "whoami", *config))


def test_add_list_roles_passwd(node: Path) -> None:
    config = cfg(node)
    login(node, "admin")
    assert "已添加账号 w02（马超，窗口人员（clerk））" in add(node, "w02", "马超", "clerk")
    duplicate = sunshine(
        "user",
        "add",
        "w02",
        "--name",
        "马超",
        "--roles",
        "clerk",
        "--password-file",
        str(password_file(node.parent)),
        *config,
    )
    assert error_line(duplicate)
    assert "未知的岗位“boss”" in error_line(
        sunshine(
            "user",
            "add",
            "w03",
            "--name",
            "甲",
            "--roles",
            "boss",
            "--password-file",
            str(password_file(node.parent)),
            *config,
        )
    )
    listed = ok(sunshine("user", "list", *config))
    assert re.search(r"w02\s+马超\s+371122\s+窗口人员（clerk）\s+正常", listed), listed
    assert "admin" in listed

    changed = ok(sunshine("user", "roles", "w02", "clerk,approver", *config))
    assert "账号 w02 的岗位：窗口人员（clerk）、审批负责人（approver）" in changed

    # the admin resets w02's password; w02 then changes it again, as themself
    reset = _secret(node.parent, "pw-reset.txt", "Reset-pass-2026")
    assert "已修改账号 w02 的密码" in ok(sunshine("user", "passwd", "w02", "--password-file", reset, *config))
    assert "账号或密码错误" in error_line(
        sunshine(
            "user", "login", "--user", "w02", "--password-file", str(password_file(node.parent)), *config, os_user="ma"
        )
    )
    login(node, "w02", "Reset-pass-2026", os_user="ma")
    own = _secret(node.parent, "pw-own.txt", "Own-pass-2026x")
    own_change = ("user", "passwd", "--password-file", own, *config)
    wrong = _secret(node.parent, "pw-wrong.txt", "Not-the-password-1")
    refused = sunshine(*own_change, "--old-password-file", wrong, os_user="ma")  # one's own: only with the old one
    assert "账号或密码错误" in error_line(refused)
    assert "马超（w02）" in ok(sunshine("user", "whoami", *config, os_user="ma"))  # nothing changed
    assert "已修改账号 w02 的密码" in ok(sunshine(*own_change, "--old-password-file", reset, os_user="ma"))
    assert "命令行登录已失效" in error_line(sunshine("user", "whoami", *config, os_user="ma"))  # sessions end
    login(node, "w02", "Own-pass-2026x", os_user="ma")
    assert "马超（w02）" in ok(sunshine("user", "whoami", *config, os_user="ma"))


def test_a_clerk_cannot_manage_accounts(node: Path) -> None:
    login(node, "admin")
    add(node, "w04", "胡静", "clerk")
    login(node, "w04", os_user="hu")
    refused = sunshine(
        "user",
        "add",
        "w05",
        "--name",
        "乙",
        "--roles",
        "clerk",
        "--password-file",
        str(password_file(node.parent)),
        *cfg(node),
        os_user="hu",
    )
    line = error_line(refused)  # exit status 2
    assert "错误[forbidden]" in line
    assert "forbidden" in error_line(sunshine("user", "disable", "admin", *cfg(node), os_user="hu"))
    assert "forbidden" in error_line(sunshine("admin", "audit", "list", *cfg(node), os_user="hu"))
    assert "w05" not in ok(sunshine("user", "list", *cfg(node)))


# -- lockout and disabling ---------------------------------------------------------------------------------------


def test_five_failed_logins_lock_the_account_until_enabled(node: Path) -> None:
    config = cfg(node)
    login(node, "admin")
    add(node, "w01", "孙丽", "clerk")
    wrong = _secret(node.parent, "pw-wrong.txt", "not-the-password")
    for _ in range(5):
        assert "账号或密码错误" in error_line(
            sunshine("user", "login", "--user", "w01", "--password-file", wrong, *config, os_user=CLERK_OS)
        )
    right = str(password_file(node.parent))
    locked = error_line(sunshine("user", "login", "--user", "w01", "--password-file", right, *config, os_user=CLERK_OS))
    assert "连续登录失败次数过多，账号已锁定" in locked
    assert re.search(r"w01\s+孙丽.*已锁定", ok(sunshine("user", "list", *config)))

    assert "已恢复账号 w01（孙丽）" in ok(sunshine("user", "enable", "w01", *config))
    assert "已登录：孙丽" in login(node, "w01", os_user=CLERK_OS)


def test_disabling_an_account_ends_its_command_line_session_at_once(node: Path) -> None:
    config = cfg(node)
    login(node, "admin")
    add(node, "w06", "郭亮", "clerk")
    login(node, "w06", os_user="guo")
    assert "郭亮（w06）" in ok(sunshine("user", "whoami", *config, os_user="guo"))
    assert "共" in ok(sunshine("case", "list", *config, os_user="guo"))

    assert "已停用账号 w06（郭亮），其会话已全部失效" in ok(sunshine("user", "disable", "w06", *config))
    assert "命令行登录已失效" in error_line(sunshine("user", "whoami", *config, os_user="guo"))
    assert "命令行登录已失效" in error_line(sunshine("case", "list", *config, os_user="guo"))
    assert "账号已停用" in error_line(
        sunshine(
            "user", "login", "--user", "w06", "--password-file", str(password_file(node.parent)), *config, os_user="guo"
        )
    )
    assert re.search(r"w06\s+郭亮.*已停用", ok(sunshine("user", "list", *config)))


# -- the audit chain ---------------------------------------------------------------------------------------------


@contextmanager
def _db(data_dir: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(data_dir / "node.db")
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def _verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return sunshine("admin", "audit", "verify", *cfg(data_dir))


def _entry_rows(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """The county's audit chain as it is kept: outbox rows of record type ``audit`` (outbox seq, payload)."""
    q = "select seq, payload from outbox where origin = ? and record_type = 'audit' order by seq"
    return [(int(s), str(p)) for s, p in conn.execute(q, (DIVISION,))]


def _set_payload(conn: sqlite3.Connection, row: int, payload: str) -> None:
    conn.execute("update outbox set payload = ? where origin = ? and seq = ?", (payload, DIVISION, row))


def test_audit_verify_finds_a_changed_byte_a_deleted_entry_and_a_swap(node: Path) -> None:
    login(node, "admin")
    add(node, "w07", "何敏", "clerk")  # the chain has a few entries at least
    intact = _verify(node)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert f"{DIVISION}：" in intact.stdout
    assert "哈希链完整" in intact.stdout

    with _db(node) as conn:
        rows = _entry_rows(conn)
    seqs = [json.loads(p)["entry"]["seq"] for _, p in rows]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) >= 4
    k = 2  # an entry in the middle of the chain
    row, payload = rows[k - 1]

    def broken_at(seq: int, reason: str) -> None:
        result = _verify(node)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{DIVISION}：第 {seq} 条起不符 —— {reason}" in result.stdout, result.stdout

    # (a) one byte of one entry's target; then one byte that leaves no JSON at all
    target = json.loads(payload)["entry"]["target"]
    changed = ("X" if target[0] != "X" else "Y") + target[1:]
    with _db(node) as conn:
        _set_payload(conn, row, payload.replace(f'"target":"{target}"', f'"target":"{changed}"'))
    broken_at(k, "条目内容与其哈希不符（内容被改动）")
    with _db(node) as conn:
        _set_payload(conn, row, payload[:-1] + "]")
    broken_at(k, "条目内容与其哈希不符（内容被改动）")
    with _db(node) as conn:
        _set_payload(conn, row, payload)
    assert _verify(node).returncode == 0

    # (b) an entry deleted
    with _db(node) as conn:
        kept = conn.execute("select * from outbox where origin = ? and seq = ?", (DIVISION, row)).fetchone()
        conn.execute("delete from outbox where origin = ? and seq = ?", (DIVISION, row))
    broken_at(k, f"缺少第 {k} 条（下一条为第 {k + 1} 条）")
    with _db(node) as conn:
        conn.execute(f"insert into outbox values ({', '.join('?' * len(kept))})", kept)
    assert _verify(node).returncode == 0

    # (c) two entries swapped (the log reordered: each row moved to the other's place)
    (row2, _) = rows[k]
    with _db(node) as conn:
        move = "update outbox set seq = ? where origin = ? and seq = ?"
        conn.execute(move, (-1, DIVISION, row))
        conn.execute(move, (row, DIVISION, row2))
        conn.execute(move, (row2, DIVISION, -1))
    broken_at(k, f"次序错乱（第 {k + 1} 条排在第 {k} 条之前）")
    json_out = sunshine("admin", "audit", "verify", "--json", *cfg(node))
    assert json_out.returncode == 2
    assert f'"first_bad_seq": {k}' in json_out.stdout


def test_audit_list(node: Path) -> None:
    login(node, "admin")
    newest = ok(sunshine("admin", "audit", "list", "--limit", "3", *cfg(node)))
    lines = newest.splitlines()
    assert len(lines) == 3
    assert "节点管理员（节点管理员、交换管理员，admin）" in newest or "admin" in newest
    by_admin = ok(sunshine("admin", "audit", "list", "--user", "admin", *cfg(node)))
    assert "登录" in by_admin  # the action by its Chinese name, not "login"
    assert "login" not in by_admin
