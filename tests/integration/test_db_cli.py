"""``sunshine db upgrade|current`` on new and existing databases, SQLite and PostgreSQL (selected by env)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import inspect

from federation.storage.engine import make_engine
from migrations.runner import head_revision


def _db(*args: str, database_url: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUNSHINE_")}
    env.update({"SUNSHINE_DATABASE_URL": database_url, "SUNSHINE_LOG_FORMAT": "json", **(extra_env or {})})
    return subprocess.run(
        [sys.executable, "-m", "federation.cli", "db", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_upgrade_a_new_then_an_existing_database(db_url: str) -> None:
    first = _db("upgrade", database_url=db_url)
    assert first.returncode == 0, first.stderr
    assert f"空库 → {head_revision()}" in first.stdout
    again = _db("upgrade", database_url=db_url)
    assert again.returncode == 0, again.stderr
    assert f"{head_revision()} → {head_revision()}" in again.stdout
    current = _db("current", database_url=db_url)
    assert f"当前版本：{head_revision()}" in current.stdout
    engine = make_engine(db_url)
    try:
        assert {"cases", "case_events", "outbox", "counters"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_bad_database_url_is_a_clear_chinese_error() -> None:
    bad = _db("upgrade", database_url="mysql://nobody@127.0.0.1/x")
    assert bad.returncode == 2
    assert "错误[config_error]" in bad.stderr
    assert "不支持的数据库类型" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_log_format_json_renders_one_json_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    from federation.logging import configure_logging

    configure_logging("json", "info")
    try:
        structlog.get_logger("t").info("case.accepted", case_no="371122-20261102-000001", 窗口="01")
        err = capsys.readouterr().err.strip().splitlines()[-1]
        record = json.loads(err)
        assert record["event"] == "case.accepted"
        assert record["窗口"] == "01"  # Chinese stays readable (ensure_ascii=False)
        assert record["level"] == "info"
        assert "timestamp" in record
    finally:
        structlog.reset_defaults()


def test_standard_library_loggers_are_json_too(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    import structlog

    from federation.logging import configure_logging

    configure_logging("json", "info")
    try:
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
        record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert record["event"] == "Started server process [42]"
        assert record["logger"] == "uvicorn.error"
        assert record["level"] == "info"
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
