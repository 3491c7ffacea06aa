"""Settings: what an operator sees when a value is missing or wrong; secrets stay hidden."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest
from cryptography.fernet import Fernet

from bot.errors import ConfigError
from bot.settings import Settings
from tests.bot.conftest import BOT_TOKEN, TWILIO_TOKEN, WEBHOOK_SECRET, environment
from tests.conftest import ROOT

PUBLIC_URL = "https://rahnuma.example.org"


def env(**overrides: str) -> Dict[str, str]:
    """A complete, valid configuration (both channels, webhook mode) with ``overrides``."""
    return environment(**{"PUBLIC_URL": PUBLIC_URL, **overrides})


def without(*names: str, **overrides: str) -> Dict[str, str]:
    values = env(**overrides)
    for name in names:
        values.pop(name)
    return values


def refusal(environ: Dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.load(environ=environ)
    return str(caught.value)


def test_a_complete_configuration_loads() -> None:
    settings = Settings.load(environ=env())
    assert settings.telegram_enabled and settings.telegram_webhook and settings.sms_enabled
    assert settings.public("/sms/twilio") == "https://rahnuma.example.org/sms/twilio"
    assert settings.sms_reply_budget == 3.0 and settings.rate_limit_per_minute == 30


@pytest.mark.parametrize("name", ["RAHNUMA_PSEUDONYM_KEY", "RAHNUMA_DATA_KEY"])
@pytest.mark.parametrize("how", ["unset", "empty", "blank"])
def test_a_missing_key_names_the_variable_and_the_fix(name: str, how: str) -> None:
    environ = without(name) if how == "unset" else env(**{name: "" if how == "empty" else "  "})
    message = refusal(environ)
    assert name in message
    assert "make secrets" in message


@pytest.mark.parametrize(
    "value",
    [
        "not-a-fernet-key",
        "x" * 44,
        Fernet.generate_key().decode()[:-2],
        Fernet.generate_key().decode() + ",garbage",
    ],
)
def test_a_malformed_data_key_is_refused_without_echoing_it(value: str) -> None:
    message = refusal(env(RAHNUMA_DATA_KEY=value))
    assert "RAHNUMA_DATA_KEY" in message and "make secrets" in message
    assert value not in message and "garbage" not in message


def test_several_data_keys_are_accepted_for_rotation() -> None:
    keys = f"{Fernet.generate_key().decode()}, {Fernet.generate_key().decode()}"
    assert str(Settings.load(environ=env(RAHNUMA_DATA_KEY=keys)).data_keys) == keys


def test_a_short_pseudonym_key_is_refused_and_32_characters_suffice() -> None:
    message = refusal(env(RAHNUMA_PSEUDONYM_KEY="p" * 31))
    assert "RAHNUMA_PSEUDONYM_KEY" in message and "32" in message and "make secrets" in message
    assert "p" * 31 not in message
    assert len(str(Settings.load(environ=env(RAHNUMA_PSEUDONYM_KEY="p" * 32)).pseudonym_key)) == 32


def test_a_webhook_bot_without_its_secret_is_refused() -> None:
    message = refusal(without("TELEGRAM_WEBHOOK_SECRET"))
    assert "TELEGRAM_WEBHOOK_SECRET" in message and "PUBLIC_URL" in message


@pytest.mark.parametrize(
    "secret", ["has space", "slash/inside", "dots.in.it", "ümlaut", "x" * 257, "semi;colon"]
)
def test_a_webhook_secret_telegram_would_reject_is_refused(secret: str) -> None:
    message = refusal(env(TELEGRAM_WEBHOOK_SECRET=secret))
    assert "TELEGRAM_WEBHOOK_SECRET" in message
    assert secret not in message


def test_the_longest_legal_webhook_secret_is_accepted() -> None:
    secret = ("Az09_-" * 43)[:256]
    settings = Settings.load(environ=env(TELEGRAM_WEBHOOK_SECRET=secret))
    assert str(settings.telegram_webhook_secret) == secret


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        (("TWILIO_AUTH_TOKEN",), ["TWILIO_AUTH_TOKEN"]),
        (("TWILIO_ACCOUNT_SID",), ["TWILIO_ACCOUNT_SID"]),
        (("TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"), ["TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"]),
        (("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"), ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"]),
        (("PUBLIC_URL", "TELEGRAM_BOT_TOKEN"), ["PUBLIC_URL"]),
    ],
)
def test_half_configured_sms_names_exactly_what_is_missing(
    missing: tuple[str, ...], named: list[str]
) -> None:
    message = refusal(without(*missing))
    assert "SMS" in message
    for name in named:
        assert name in message
    for present in {"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"} - set(missing):
        assert present not in message
    assert TWILIO_TOKEN not in message


def test_sms_needs_no_telegram_and_telegram_needs_no_sms() -> None:
    sms_only = Settings.load(environ=without("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"))
    assert sms_only.sms_enabled and not sms_only.telegram_enabled
    telegram_only = Settings.load(
        environ=without("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")
    )
    assert telegram_only.telegram_webhook and not telegram_only.sms_enabled


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_PORT", "eighty"),
        ("GATEWAY_PORT", "8080.5"),
        ("RASA_TIMEOUT_SECONDS", "30s"),
        ("ADDRESS_RETENTION_DAYS", "a month"),
        ("SMS_REPLY_BUDGET_SECONDS", "1,5"),
        ("SMS_MAX_SEGMENTS", "three"),
        ("RATE_LIMIT_PER_MINUTE", "20/min"),
    ],
)
def test_a_number_that_is_not_a_number_is_refused(name: str, value: str) -> None:
    message = refusal(env(**{name: value}))
    assert name in message and "number" in message


@pytest.mark.parametrize("value", ["nan", "NaN"])
def test_a_reply_budget_of_nan_is_refused(value: str) -> None:
    # float() parses "nan", but a budget that is not a number cannot time an SMS answer.
    message = refusal(env(SMS_REPLY_BUDGET_SECONDS=value))
    assert "SMS_REPLY_BUDGET_SECONDS" in message


@pytest.mark.parametrize(
    ("name", "value"), [("SMS_MAX_SEGMENTS", "0"), ("SMS_REPLY_BUDGET_SECONDS", "-1")]
)
def test_sms_limits_must_be_positive(name: str, value: str) -> None:
    assert name in refusal(env(**{name: value}))


@pytest.mark.parametrize("public_url", ["ftp://rahnuma.example.org", "rahnuma.example.org"])
def test_a_public_url_without_http_is_refused(public_url: str) -> None:
    assert "PUBLIC_URL" in refusal(env(PUBLIC_URL=public_url))


def test_repr_and_str_never_show_a_secret() -> None:
    pseudonym_key = "pseudonym-key-" + "q" * 30
    data_keys = f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"
    settings = Settings.load(
        environ=env(RAHNUMA_PSEUDONYM_KEY=pseudonym_key, RAHNUMA_DATA_KEY=data_keys)
    )
    secrets = [
        BOT_TOKEN,
        BOT_TOKEN.split(":")[1],
        WEBHOOK_SECRET,
        TWILIO_TOKEN,
        pseudonym_key,
        *data_keys.split(","),
    ]
    for shown in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert "Settings(" in shown  # a real rendering, not an empty one
        for secret in secrets:
            assert secret not in shown


def test_repr_hides_a_password_inside_the_redis_url() -> None:
    # Managed Redis hands out URLs with the password in them; repr must not print it.
    settings = Settings.load(environ=env(REDIS_URL="rediss://default:Hunter2RedisPw@cache:6380/0"))
    assert settings.redis_url.endswith("@cache:6380/0")  # still usable as a URL
    assert "Hunter2RedisPw" not in repr(settings)


def test_a_token_without_public_url_polls() -> None:
    settings = Settings.load(
        environ=without(
            "PUBLIC_URL",
            "TELEGRAM_WEBHOOK_SECRET",
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_FROM_NUMBER",
        )
    )
    assert settings.telegram_enabled
    assert not settings.telegram_webhook
    assert not settings.sms_enabled
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        settings.public("/telegram/webhook")


def test_no_token_no_telegram() -> None:
    settings = Settings.load(environ=without("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"))
    assert not settings.telegram_enabled and not settings.telegram_webhook


def test_a_dot_env_file_is_read_when_no_environ_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [*env(), "PUBLIC_URL"]:
        monkeypatch.delenv(name, raising=False)
    key = Fernet.generate_key().decode()
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        f"RAHNUMA_PSEUDONYM_KEY={'d' * 40}\nRAHNUMA_DATA_KEY={key}\nTELEGRAM_BOT_TOKEN=1:t\n"
    )
    settings = Settings.load(env_file=dotenv)
    assert str(settings.data_keys) == key
    assert str(settings.telegram_bot_token) == "1:t" and not settings.telegram_webhook


# -- python -m bot ------------------------------------------------------------


def run_gateway(cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m bot`` in ``cwd`` with an environment that sets none of the gateway's keys."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    python = ROOT / ".venv-bot" / "bin" / "python"
    return subprocess.run(
        [str(python if python.exists() else sys.executable), "-m", "bot"],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python_m_bot_without_keys_exits_2_naming_the_key(tmp_path: Path) -> None:
    result = run_gateway(tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("rahnuma gateway: RAHNUMA_PSEUDONYM_KEY is not set")
    assert "make secrets" in last
    assert result.stdout == ""


def test_python_m_bot_without_keys_prints_exactly_one_line(tmp_path: Path) -> None:
    # The operator's whole screen is the reason it did not start: nothing else.
    result = run_gateway(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "rahnuma gateway: RAHNUMA_PSEUDONYM_KEY is not set; "
        "run `make secrets` to write fresh keys to .env"
    ]


def test_python_m_bot_reads_dot_env_and_names_the_key_still_missing(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"RAHNUMA_PSEUDONYM_KEY={'d' * 40}\n")
    result = run_gateway(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "rahnuma gateway: RAHNUMA_DATA_KEY is not set; "
        "run `make secrets` to write fresh keys to .env"
    ]


HOTLINE = {
    "HOTLINE_TELEGRAM_CHAT_ID": "-1001234567890",
    "HOTLINE_STAFF_TELEGRAM_IDS": "777001, 777002",
    "HOTLINE_SMS_NUMBERS": "+923001110001,+923001110002",
    "HOTLINE_WEBHOOK_URL": "https://cases.example.org/rahnuma",
    "HOTLINE_WEBHOOK_SECRET": "h" * 40,
}


def test_hotline_destinations_load_and_switch_the_relay_on() -> None:
    assert not Settings.load(environ=env()).hotline_enabled
    settings = Settings.load(environ=env(**HOTLINE))
    assert settings.hotline_enabled
    assert settings.hotline_telegram_chat_id == -1001234567890
    assert settings.hotline_staff_telegram_ids == frozenset({777001, 777002})
    assert settings.hotline_sms_numbers == ("+923001110001", "+923001110002")
    assert settings.report_retention_days == 90
    assert "h" * 40 not in repr(settings) and "+923001110001" not in repr(settings)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"HOTLINE_TELEGRAM_CHAT_ID": "staff-room"}, "HOTLINE_TELEGRAM_CHAT_ID"),
        ({"HOTLINE_STAFF_TELEGRAM_IDS": "777001,@ayesha"}, "HOTLINE_STAFF_TELEGRAM_IDS"),
        ({"HOTLINE_STAFF_TELEGRAM_IDS": ""}, "HOTLINE_STAFF_TELEGRAM_IDS"),
        ({"HOTLINE_SMS_NUMBERS": "03001110001"}, "E.164"),
        ({"HOTLINE_WEBHOOK_URL": "http://cases.example.org/x"}, "https://"),
        ({"HOTLINE_WEBHOOK_SECRET": "short"}, "HOTLINE_WEBHOOK_SECRET"),
        ({"REPORT_RETENTION_DAYS": "0"}, "REPORT_RETENTION_DAYS"),
        ({"RELAY_MAX_ATTEMPTS": "0"}, "RELAY_MAX_ATTEMPTS"),
    ],
)
def test_a_wrong_hotline_setting_is_named(overrides: Dict[str, str], named: str) -> None:
    assert named in refusal(env(**{**HOTLINE, **overrides}))


def test_hotline_destinations_need_their_channel() -> None:
    no_telegram = without("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", **HOTLINE)
    assert "TELEGRAM_BOT_TOKEN" in refusal(no_telegram)
    no_sms = without(
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_FROM_NUMBER",
        HOTLINE_SMS_NUMBERS="+923001110001",
    )
    assert "Twilio" in refusal(no_sms)


def test_a_local_case_system_may_use_plain_http() -> None:
    settings = Settings.load(
        environ=env(
            HOTLINE_WEBHOOK_URL="http://127.0.0.1:9000/cases", HOTLINE_WEBHOOK_SECRET="s" * 32
        )
    )
    assert settings.hotline_enabled and settings.hotline_telegram_chat_id is None
