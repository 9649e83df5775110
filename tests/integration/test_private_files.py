"""Review W11: what a node keeps on disk is its owner's only — the data directory 0700, the configuration and the
SQLite database 0600, at every tier — and a configuration file never holds the database's password."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from federation.config import load_config
from federation.errors import ConfigError
from tests.integration.test_cli import ok, sunshine
from tests.people import password_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("tier", "division"), [("county", "371122"), ("city", "371100")])
def test_init_writes_a_private_data_directory(tmp_path: Path, tier: str, division: str) -> None:
    data = tmp_path / "node"
    secret = password_file(tmp_path)
    ok(sunshine(tier, "init", "--division", division, "--data-dir", str(data), "--admin-password-file", str(secret)))
    assert _mode(data) == 0o700
    assert _mode(data / "sunshine.toml") == 0o600
    assert _mode(data / "node.db") == 0o600
    data.chmod(0o755)
    (data / "sunshine.toml").chmod(0o644)
    ok(sunshine(tier, "init", "--division", division, "--data-dir", str(data)))  # again: tightened again
    assert _mode(data) == 0o700
    assert _mode(data / "sunshine.toml") == 0o600


def test_a_password_in_the_database_url_of_a_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "sunshine.toml"
    config.write_text(
        '[node]\ndivision = "371122"\n[database]\nurl = "postgresql+psycopg://sunshine:s3cret@db.example/sunshine"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="不能含有数据库口令"):
        load_config(config, environ={})
    config.write_text(
        '[node]\ndivision = "371122"\n[database]\nurl = "postgresql+psycopg://sunshine@db.example/sunshine"\n',
        encoding="utf-8",
    )
    assert load_config(config, environ={}).database.url.endswith("@db.example/sunshine")
