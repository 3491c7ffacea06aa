"""Twilio's Messages API, for everything Rahnuma sends by SMS (users and on-call staff).

The gateway's SMS channel and the relay's on-call destination both send
through ``TwilioSender``: one place that knows Twilio's errors, which of them
are permanent, and how segments are counted for the metrics.
``TWILIO_API_URL`` points it at a local fake in tests and ``make run``.

Never logs phone numbers or message text (twilio's own logger is held at
WARNING by ``bot/logs.py``).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, Sequence

from redis.asyncio import Redis
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.errors import DeliveryError
from bot.metrics import Metrics
from bot.settings import Settings
from contract.keys import Keys
from contract.segments import count

TWILIO_API = "https://api.twilio.com"
# Unsubscribed recipient, invalid number, body too long: retrying cannot help.
PERMANENT_TWILIO_ERRORS = frozenset({21610, 21211, 21614, 21617})


class RebasedTwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """Twilio's async client, pointed at ``TWILIO_API_URL`` (a local peer in tests)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        super().__init__(timeout=timeout)
        self._base = base_url.rstrip("/")

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_API):
            url = self._base + url[len(TWILIO_API) :]
        return await super().request(method, url, *args, **kwargs)


class SmsBudget:
    """The most SMS segments every gateway and relay process together may send through the
    REST API in one clock minute (``SMS_MAX_SEGMENTS_PER_MINUTE``), so that a flood cannot run
    up the hotline's bill. A send over it fails for now (``DeliveryError``, not permanent): the
    outbox and the relay send it again later. The TwiML answer to a user's own message is not
    held back (the per-user rate limit bounds it). A Redis counter per minute, shared by all."""

    def __init__(
        self, redis: Redis, keys: Keys, per_minute: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._per_minute = per_minute
        self._clock = clock

    async def spend(self, segments: int) -> bool:
        """Takes ``segments`` from this minute's budget; False (nothing taken) when over."""
        key = self._keys.sms_budget(int(self._clock() // 60))
        total = int(await self._redis.incrby(key, segments))
        if total == segments:
            await self._redis.expire(key, 120)
        if total <= self._per_minute:
            return True
        await self._redis.decrby(key, segments)
        return False


class TwilioSender:
    """Sends SMS bodies from one number through the REST API."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_url: str,
        metrics: Metrics,
        budget: Optional[SmsBudget] = None,
    ) -> None:
        self._from = from_number
        self._metrics = metrics
        self._budget = budget
        self._http = RebasedTwilioHttpClient(api_url)
        self._client = Client(account_sid, auth_token, http_client=self._http)

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics, redis: Redis) -> TwilioSender:
        """The sender the settings describe, with the shared budget when one is set."""
        assert settings.twilio_account_sid and settings.twilio_from_number
        cap = settings.sms_max_segments_per_minute
        budget = SmsBudget(redis, Keys(settings.redis_prefix), cap) if cap else None
        return cls(
            settings.twilio_account_sid,
            str(settings.twilio_auth_token),
            settings.twilio_from_number,
            settings.twilio_api_url,
            metrics,
            budget,
        )

    async def close(self) -> None:
        """Closes the HTTP session to Twilio."""
        await self._http.close()

    async def send(self, to: str, bodies: Sequence[str]) -> None:
        """Sends each body; raises DeliveryError (``permanent`` when retrying cannot help)."""
        for body in bodies:
            if self._budget is not None and not await self._budget.spend(count(body).segments):
                self._metrics.errors.labels("sms_over_budget").inc()
                raise DeliveryError("over the outgoing SMS budget for this minute")
            try:
                await self._client.messages.create_async(to=to, from_=self._from, body=body)
            except TwilioRestException as error:
                raise DeliveryError(
                    f"Twilio refused the message (code {error.code})",
                    permanent=error.code in PERMANENT_TWILIO_ERRORS,
                ) from error
            except Exception as error:  # aiohttp and socket errors
                raise DeliveryError(f"Twilio unreachable: {type(error).__name__}") from error
            self.count_sent(body)

    def count_sent(self, body: str) -> None:
        """Counts the billed segments of a body sent (TwiML or REST)."""
        counted = count(body)
        self._metrics.sms_segments.labels(counted.encoding).inc(counted.segments)
