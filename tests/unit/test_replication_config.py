"""The [replication] configuration section: addresses, lists (TOML arrays or comma-separated environment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.config import dump_toml, load_config, read_toml_sections, split_address
from federation.errors import ConfigError


def test_replication_defaults_to_no_receiver_and_no_links() -> None:
    rep = load_config(environ={}).replication
    assert (rep.listen, rep.upstream, rep.downstream, rep.metrics) == ("", "", (), "")
    assert rep.window >= 1
    assert rep.gzip is True


def test_a_toml_file_gives_addresses_and_a_list_of_children(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        dump_toml(
            {
                "node": {"division": "371100"},
                "replication": {
                    "upstream": "127.0.0.1:7000",
                    "downstream": ["127.0.0.1:7122", "127.0.0.1:7121"],
                    "metrics": "127.0.0.1:0",
                    "window": 4,
                },
            },
            "test",
        ),
        encoding="utf-8",
    )
    rep = load_config(path, environ={}).replication
    assert rep.upstream == "127.0.0.1:7000"
    assert rep.downstream == ("127.0.0.1:7122", "127.0.0.1:7121")
    assert rep.window == 4
    assert read_toml_sections(path)["replication"]["downstream"] == ["127.0.0.1:7122", "127.0.0.1:7121"]


def test_the_environment_gives_a_comma_separated_list_and_wins_over_the_file() -> None:
    env = {"SUNSHINE_REPLICATION_DOWNSTREAM": "127.0.0.1:1, 127.0.0.1:2,", "SUNSHINE_REPLICATION_LISTEN": "[::1]:0"}
    rep = load_config(environ=env).replication
    assert rep.downstream == ("127.0.0.1:1", "127.0.0.1:2")
    assert split_address(rep.listen) == ("::1", 0)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SUNSHINE_REPLICATION_UPSTREAM": "localhost"}, "replication.upstream"),
        ({"SUNSHINE_REPLICATION_LISTEN": "127.0.0.1:99999"}, "replication.listen"),
        ({"SUNSHINE_REPLICATION_DOWNSTREAM": "a:1,b"}, "replication.downstream"),
        ({"SUNSHINE_REPLICATION_METRICS": ":80"}, "replication.metrics"),
        ({"SUNSHINE_REPLICATION_WINDOW": "0"}, "replication.window"),
        ({"SUNSHINE_REPLICATION_LINGER_MS": "-1"}, "replication.linger_ms"),
        ({"SUNSHINE_REPLICATION_GZIP": "maybe"}, "replication.gzip"),
    ],
)
def test_a_malformed_replication_setting_is_a_config_error_naming_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(environ=env)


def test_a_list_of_non_strings_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text("[replication]\ndownstream = [1, 2]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="字符串列表"):
        load_config(path, environ={})
