"""The gateway's settings: one typed, frozen object read from the environment and ``.env``.

Everything the gateway needs to know about its surroundings is here, read once
at start-up by ``Settings.load()``. A missing or malformed value fails at once
with a message naming the variable and how to fix it. Secrets are kept as
``starlette.datastructures.Secret`` so ``repr``/logging never prints them, and no
secret has a default.

Channels are switched on by their credentials: ``TELEGRAM_BOT_TOKEN`` alone
gives a long-polling bot; with ``PUBLIC_URL`` it becomes a webhook bot and
needs ``TELEGRAM_WEBHOOK_SECRET``. SMS needs all of ``TWILIO_ACCOUNT_SID``,
``TWILIO_AUTH_TOKEN``, ``TWILIO_FROM_NUMBER`` and ``PUBLIC_URL``.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional, TypeVar
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from starlette.config import Config
from starlette.datastructures import Secret

from bot.errors import ConfigError

WEBHOOK_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")
PHONE_PATTERN = re.compile(r"\+[1-9][0-9]{6,14}")
N = TypeVar("N", int, float)
SECRETS_HINT = "run `make secrets` to write fresh keys to .env"


@dataclass(frozen=True)
class Settings:
    """Everything configurable about the gateway."""

    pseudonym_key: Secret
    data_keys: Secret  # one or more Fernet keys, comma-separated; the first encrypts
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    public_url: Optional[str] = None
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)  # may hold a password
    redis_prefix: str = "rahnuma"
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout: float = 30.0
    action_server_url: Optional[str] = None  # when set, /readyz checks its /health too
    telegram_bot_token: Optional[Secret] = None
    telegram_webhook_secret: Optional[Secret] = None
    telegram_api_url: str = "https://api.telegram.org"
    twilio_account_sid: Optional[str] = None
    twilio_auth_token: Optional[Secret] = None
    twilio_from_number: Optional[str] = None
    twilio_api_url: str = "https://api.twilio.com"
    address_retention_days: int = 30
    sms_reply_budget: float = 10.0
    sms_max_segments: int = 3
    sms_max_segments_per_minute: int = 300  # every process's REST sends together; 0: no cap
    rate_limit_per_minute: int = 20
    log_level: str = "INFO"
    hotline_telegram_chat_id: Optional[int] = None
    hotline_staff_telegram_ids: frozenset[int] = frozenset()
    hotline_sms_numbers: tuple[str, ...] = field(default=(), repr=False)  # staff numbers
    hotline_webhook_url: Optional[str] = None
    hotline_webhook_secret: Optional[Secret] = None
    report_retention_days: int = 90
    relay_max_attempts: int = 10
    relay_retry_seconds: float = 5.0
    relay_claim_idle_seconds: float = 60.0
    relay_metrics_port: int = 9108
    relay_metrics_host: str = "127.0.0.1"  # 0.0.0.0 in a container, for Prometheus
    relay_heartbeat_seconds: float = 10.0  # how often a relay writes its heartbeat
    relay_stale_seconds: float = 60.0  # /readyz: no relay heartbeat for this long is an alert
    handoff_silence_minutes: float = 30.0  # a reporter unanswered this long: back to the team
    handoff_hours: float = 72.0  # a handoff with no staff reply this long ends, both sides told

    @property
    def telegram_enabled(self) -> bool:
        """A Telegram bot token is configured."""
        return self.telegram_bot_token is not None

    @property
    def telegram_webhook(self) -> bool:
        """Telegram calls us (webhook) rather than us polling it."""
        return self.telegram_enabled and self.public_url is not None

    @property
    def sms_enabled(self) -> bool:
        """Twilio credentials are configured."""
        return self.twilio_account_sid is not None

    @property
    def hotline_enabled(self) -> bool:
        """At least one place to deliver trafficking reports to is configured."""
        return bool(
            self.hotline_telegram_chat_id is not None
            or self.hotline_sms_numbers
            or self.hotline_webhook_url
        )

    def public(self, path: str) -> str:
        """The URL Telegram or Twilio calls for ``path`` (what Twilio signs)."""
        if self.public_url is None:
            raise ConfigError("PUBLIC_URL is not set")
        return self.public_url.rstrip("/") + path

    @classmethod
    def load(
        cls, environ: Optional[Mapping[str, str]] = None, env_file: Optional[Path] = None
    ) -> Settings:
        """Reads and checks the settings; raises ConfigError naming what is wrong."""
        if environ is not None:
            config = Config(environ=environ)
        else:
            path = env_file if env_file is not None else Path(".env")
            config = Config(path) if path.exists() else Config()  # no .env: environment only
        settings = cls(
            pseudonym_key=_required(config, "RAHNUMA_PSEUDONYM_KEY"),
            data_keys=_required(config, "RAHNUMA_DATA_KEY"),
            gateway_host=config("GATEWAY_HOST", default="127.0.0.1"),
            gateway_port=_number(config, "GATEWAY_PORT", int, 8080),
            public_url=_optional(config, "PUBLIC_URL"),
            redis_url=config("REDIS_URL", default="redis://127.0.0.1:6379/0"),
            redis_prefix=config("REDIS_PREFIX", default="rahnuma"),
            rasa_url=config("RASA_URL", default="http://127.0.0.1:5005").rstrip("/"),
            rasa_timeout=_number(config, "RASA_TIMEOUT_SECONDS", float, 30.0),
            action_server_url=(_optional(config, "ACTION_SERVER_URL") or "").rstrip("/") or None,
            telegram_bot_token=_secret(config, "TELEGRAM_BOT_TOKEN"),
            telegram_webhook_secret=_secret(config, "TELEGRAM_WEBHOOK_SECRET"),
            telegram_api_url=config("TELEGRAM_API_URL", default="https://api.telegram.org").rstrip(
                "/"
            ),
            twilio_account_sid=_optional(config, "TWILIO_ACCOUNT_SID"),
            twilio_auth_token=_secret(config, "TWILIO_AUTH_TOKEN"),
            twilio_from_number=_optional(config, "TWILIO_FROM_NUMBER"),
            twilio_api_url=config("TWILIO_API_URL", default="https://api.twilio.com").rstrip("/"),
            address_retention_days=_number(config, "ADDRESS_RETENTION_DAYS", int, 30),
            sms_reply_budget=_number(config, "SMS_REPLY_BUDGET_SECONDS", float, 10.0),
            sms_max_segments=_number(config, "SMS_MAX_SEGMENTS", int, 3),
            sms_max_segments_per_minute=_number(config, "SMS_MAX_SEGMENTS_PER_MINUTE", int, 300),
            rate_limit_per_minute=_number(config, "RATE_LIMIT_PER_MINUTE", int, 20),
            log_level=config("LOG_LEVEL", default="INFO").upper(),
            hotline_telegram_chat_id=_chat_id(config, "HOTLINE_TELEGRAM_CHAT_ID"),
            hotline_staff_telegram_ids=frozenset(_ids(config, "HOTLINE_STAFF_TELEGRAM_IDS")),
            hotline_sms_numbers=tuple(_numbers(config, "HOTLINE_SMS_NUMBERS")),
            hotline_webhook_url=_optional(config, "HOTLINE_WEBHOOK_URL"),
            hotline_webhook_secret=_secret(config, "HOTLINE_WEBHOOK_SECRET"),
            report_retention_days=_number(config, "REPORT_RETENTION_DAYS", int, 90),
            relay_max_attempts=_number(config, "RELAY_MAX_ATTEMPTS", int, 10),
            relay_retry_seconds=_number(config, "RELAY_RETRY_SECONDS", float, 5.0),
            relay_claim_idle_seconds=_number(config, "RELAY_CLAIM_IDLE_SECONDS", float, 60.0),
            relay_metrics_port=_number(config, "RELAY_METRICS_PORT", int, 9108),
            relay_metrics_host=config("RELAY_METRICS_HOST", default="127.0.0.1"),
            relay_heartbeat_seconds=_number(config, "RELAY_HEARTBEAT_SECONDS", float, 10.0),
            relay_stale_seconds=_number(config, "RELAY_STALE_SECONDS", float, 60.0),
            handoff_silence_minutes=_number(config, "HANDOFF_SILENCE_MINUTES", float, 30.0),
            handoff_hours=_number(config, "HANDOFF_HOURS", float, 72.0),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Raises ConfigError when settings contradict each other or are malformed."""
        if len(str(self.pseudonym_key)) < 32:
            raise ConfigError(
                f"RAHNUMA_PSEUDONYM_KEY must be at least 32 characters; {SECRETS_HINT}"
            )
        for key in str(self.data_keys).split(","):
            try:
                Fernet(key.strip().encode())
            except ValueError as error:
                raise ConfigError(
                    f"RAHNUMA_DATA_KEY must be Fernet keys (url-safe base64 of 32 bytes), "
                    f"comma-separated; {SECRETS_HINT}"
                ) from error
        scheme = urlsplit(self.public_url).scheme if self.public_url is not None else "https"
        if scheme not in ("http", "https"):
            raise ConfigError("PUBLIC_URL must start with https:// (or http:// for local peers)")
        if self.telegram_webhook:
            secret = self.telegram_webhook_secret
            if secret is None:
                raise ConfigError(
                    "TELEGRAM_WEBHOOK_SECRET is required when PUBLIC_URL is set "
                    "(1-256 characters of A-Z a-z 0-9 _ -)"
                )
            if not WEBHOOK_SECRET_PATTERN.fullmatch(str(secret)):
                raise ConfigError("TELEGRAM_WEBHOOK_SECRET may only use A-Z a-z 0-9 _ - (1-256)")
        twilio = {
            "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
            "TWILIO_FROM_NUMBER": self.twilio_from_number,
        }
        if any(value is not None for value in twilio.values()):
            missing = [name for name, value in twilio.items() if value is None]
            if self.public_url is None:
                missing.append("PUBLIC_URL")
            if missing:
                raise ConfigError(f"SMS is half-configured: set {', '.join(missing)} as well")
        self._check_hotline()
        ranges = {
            "GATEWAY_PORT": (self.gateway_port, 1, 65535),
            "RASA_TIMEOUT_SECONDS": (self.rasa_timeout, 0.1, 600),
            "ADDRESS_RETENTION_DAYS": (self.address_retention_days, 1, 3650),
            # Twilio gives up on a webhook after 15 s: the holding reply must come first.
            "SMS_REPLY_BUDGET_SECONDS": (self.sms_reply_budget, 0.1, 14),
            "SMS_MAX_SEGMENTS": (self.sms_max_segments, 1, 10),
            "SMS_MAX_SEGMENTS_PER_MINUTE": (self.sms_max_segments_per_minute, 0, 1_000_000),
            "RATE_LIMIT_PER_MINUTE": (self.rate_limit_per_minute, 1, 1_000_000),
            "REPORT_RETENTION_DAYS": (self.report_retention_days, 1, 3650),
            "RELAY_MAX_ATTEMPTS": (self.relay_max_attempts, 1, 100),
            "RELAY_RETRY_SECONDS": (self.relay_retry_seconds, 0.01, 3600),
            "RELAY_CLAIM_IDLE_SECONDS": (self.relay_claim_idle_seconds, 0.5, 3600),
            "RELAY_METRICS_PORT": (self.relay_metrics_port, 0, 65535),
            "RELAY_HEARTBEAT_SECONDS": (self.relay_heartbeat_seconds, 0.1, 600),
            "RELAY_STALE_SECONDS": (self.relay_stale_seconds, 1, 86400),
            "HANDOFF_SILENCE_MINUTES": (self.handoff_silence_minutes, 0.1, 7 * 24 * 60),
            "HANDOFF_HOURS": (self.handoff_hours, 0.001, 30 * 24),
        }
        for name, (value, low, high) in ranges.items():
            if not (math.isfinite(value) and low <= value <= high):
                raise ConfigError(f"{name} must be between {low} and {high}, not {value}")
        if self.relay_stale_seconds <= 2 * self.relay_heartbeat_seconds:
            raise ConfigError(
                "RELAY_STALE_SECONDS must be more than twice RELAY_HEARTBEAT_SECONDS "
                "(a relay beats once per interval)"
            )

    def _check_hotline(self) -> None:
        if self.hotline_telegram_chat_id is not None:
            if not self.telegram_enabled:
                raise ConfigError(
                    "HOTLINE_TELEGRAM_CHAT_ID needs TELEGRAM_BOT_TOKEN (the bot posts there)"
                )
            if not self.hotline_staff_telegram_ids:
                raise ConfigError(
                    "HOTLINE_TELEGRAM_CHAT_ID is set but HOTLINE_STAFF_TELEGRAM_IDS is empty: "
                    "nobody could claim a report"
                )
        if self.hotline_sms_numbers and not self.sms_enabled:
            raise ConfigError("HOTLINE_SMS_NUMBERS needs Twilio (TWILIO_ACCOUNT_SID and the rest)")
        url = self.hotline_webhook_url
        if url is not None:
            parts = urlsplit(url)
            local = parts.hostname in ("127.0.0.1", "localhost", "::1")
            if parts.scheme != "https" and not (parts.scheme == "http" and local):
                raise ConfigError("HOTLINE_WEBHOOK_URL must start with https://")
            secret = self.hotline_webhook_secret
            if secret is None or len(str(secret)) < 32:
                raise ConfigError(
                    "HOTLINE_WEBHOOK_SECRET (at least 32 characters) is required with "
                    "HOTLINE_WEBHOOK_URL: the case system checks the signature with it"
                )


def load_or_explain(program: str) -> Optional[Settings]:
    """The settings, or None after one line on stderr naming what is wrong (no traceback)."""
    try:
        return Settings.load()
    except ConfigError as error:
        print(f"{program}: {error}", file=sys.stderr)
        return None


def _optional(config: Config, name: str) -> Optional[str]:
    value: str = config(name, default="")
    return value.strip() or None


def _secret(config: Config, name: str) -> Optional[Secret]:
    value = _optional(config, name)
    return Secret(value) if value is not None else None


def _required(config: Config, name: str) -> Secret:
    value = _secret(config, name)
    if value is None:
        raise ConfigError(f"{name} is not set; {SECRETS_HINT}")
    return value


def _chat_id(config: Config, name: str) -> Optional[int]:
    raw = _optional(config, name)
    if raw is None:
        return None
    if not re.fullmatch(r"-?[0-9]{1,20}", raw):
        raise ConfigError(f"{name} must be a Telegram chat id (a number such as -1001234567890)")
    return int(raw)


def _ids(config: Config, name: str) -> list[int]:
    raw = _optional(config, name) or ""
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if not all(re.fullmatch(r"[0-9]{1,20}", item) for item in items):
        raise ConfigError(f"{name} must be Telegram user ids (numbers), comma-separated")
    return [int(item) for item in items]


def _numbers(config: Config, name: str) -> list[str]:
    raw = _optional(config, name) or ""
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if not all(PHONE_PATTERN.fullmatch(item) for item in items):
        raise ConfigError(
            f"{name} must be phone numbers in E.164 form (+923001234567), comma-separated"
        )
    return items


def _number(config: Config, name: str, kind: Callable[[str], N], default: N) -> N:
    raw = _optional(config, name)
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError as error:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from error
