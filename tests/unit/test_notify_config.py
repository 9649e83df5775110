"""The [notify] configuration section: the SMS gateway, the keyring entry of its token, the recipients (mainland
mobile numbers). The token itself is never in a configuration file (issue 14): a file that holds one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.config import NotifyConfig, dump_toml, load_config
from federation.errors import ConfigError


def test_notify_defaults_to_no_gateway_and_no_recipients() -> None:
    notify = load_config(environ={}).notify
    assert notify == NotifyConfig()
    assert (notify.sms_url, notify.sms_token_key, notify.recipients) == ("", "", ())
    assert (notify.timeout_s, notify.max_attempts, notify.interval_s) == (5.0, 5, 2.0)


def test_a_toml_file_gives_the_gateway_and_a_list_of_recipients(tmp_path: Path) -> None:
    path = tmp_path / "sunshine.toml"
    path.write_text(
        dump_toml(
            {
                "notify": {
                    "sms_url": "https://sms.example.gov.cn/api/send",
                    "sms_token_key": "sms-token",
                    "recipients": ["13800138000", "19912345678"],
                    "timeout_s": 3,
                    "max_attempts": 8,
                    "interval_s": 0.5,
                }
            },
            "test",
        ),
        encoding="utf-8",
    )
    notify = load_config(path, environ={}).notify
    assert notify.sms_url == "https://sms.example.gov.cn/api/send"
    assert notify.sms_token_key == "sms-token"
    assert notify.recipients == ("13800138000", "19912345678")
    assert notify.timeout_s == 3.0
    assert isinstance(notify.timeout_s, float)
    assert (notify.max_attempts, notify.interval_s) == (8, 0.5)


def test_the_environment_gives_a_comma_separated_list_and_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sunshine.toml"
    path.write_text(
        dump_toml({"notify": {"sms_url": "http://10.0.0.1/sms", "recipients": ["13800138000"]}}, "t"), encoding="utf-8"
    )
    env = {
        "SUNSHINE_NOTIFY_SMS_URL": "http://127.0.0.1:9000/send",
        "SUNSHINE_NOTIFY_RECIPIENTS": "13912345678, 15000000000,",
        "SUNSHINE_NOTIFY_MAX_ATTEMPTS": "3",
    }
    notify = load_config(path, environ=env).notify
    assert notify.sms_url == "http://127.0.0.1:9000/send"
    assert notify.recipients == ("13912345678", "15000000000")
    assert notify.max_attempts == 3


def test_a_secret_in_the_configuration_file_is_refused_and_named(tmp_path: Path) -> None:
    """Secrets live in the keyring: a file with the gateway token or the keyring passphrase is refused outright,
    with what to do instead."""
    path = tmp_path / "sunshine.toml"
    path.write_text('[notify]\nsms_token = "s3cret"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="sunshine admin secret set sms-token") as caught:
        load_config(path, environ={})
    assert "s3cret" not in str(caught.value)
    path.write_text('[keyring]\npassphrase = "s3cret"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="SUNSHINE_KEYRING_PASSPHRASE"):
        load_config(path, environ={})


def test_the_keyring_passphrase_comes_from_the_environment_and_stays_out_of_the_repr() -> None:
    cfg = load_config(environ={"SUNSHINE_KEYRING_PASSPHRASE": "s3cret-pass"})
    assert cfg.keyring.passphrase == "s3cret-pass"
    assert "s3cret-pass" not in repr(cfg)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SUNSHINE_NOTIFY_RECIPIENTS": "1380013800"}, "notify.recipients"),  # 10 digits
        ({"SUNSHINE_NOTIFY_RECIPIENTS": "138001380001"}, "notify.recipients"),  # 12 digits
        ({"SUNSHINE_NOTIFY_RECIPIENTS": "13800138000,12800138000"}, "12800138000"),  # no such prefix
        ({"SUNSHINE_NOTIFY_RECIPIENTS": "+8613800138000"}, "11 位"),
        ({"SUNSHINE_NOTIFY_RECIPIENTS": "0635-1234567"}, "手机号码"),
        ({"SUNSHINE_NOTIFY_SMS_URL": "10.0.0.1:8080/sms"}, "notify.sms_url"),
        ({"SUNSHINE_NOTIFY_SMS_URL": "ftp://10.0.0.1/sms"}, "http://"),
        ({"SUNSHINE_NOTIFY_TIMEOUT_S": "0"}, "notify.timeout_s"),
        ({"SUNSHINE_NOTIFY_INTERVAL_S": "-1"}, "notify.interval_s"),
        ({"SUNSHINE_NOTIFY_INTERVAL_S": "nan"}, "notify.interval_s"),
        ({"SUNSHINE_NOTIFY_MAX_ATTEMPTS": "0"}, "notify.max_attempts"),
        ({"SUNSHINE_NOTIFY_MAX_ATTEMPTS": "2.5"}, "类型不正确"),
        ({"SUNSHINE_NOTIFY_TIMEOUT_S": "fast"}, "类型不正确"),
    ],
)
def test_bad_values_are_config_errors_that_name_the_key(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(environ=env)


@pytest.mark.parametrize(
    "text",
    [
        "[notify]\nrecipients = [13800138000]\n",  # numbers, not strings
        "[notify]\nsms_url = ['http://a/sms']\n",
        "[notify]\nrecipient = ['13800138000']\n",  # misspelt key
    ],
)
def test_bad_types_and_keys_in_the_file_are_config_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sunshine.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_config(path, environ={})
