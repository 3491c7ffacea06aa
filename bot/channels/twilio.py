"""Twilio's Messages API, for everything Rahnuma sends by SMS (users and on-call staff).

The gateway's SMS channel and the relay's on-call destination both send
through ``TwilioSender``: one place that knows Twilio's errors, which of them
are permanent, and how segments are counted for the metrics.
``TWILIO_API_URL`` points it at a local fake in tests and ``make run``.

Never logs phone numbers or message text (twilio's own logger is held at
WARNING by ``bot/logs.py``).
"""

from __future__ import annotations

from typing import Any, Sequence

from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.errors import DeliveryError
from bot.metrics import Metrics
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


class TwilioSender:
    """Sends SMS bodies from one number through the REST API."""

    def __init__(
        self, account_sid: str, auth_token: str, from_number: str, api_url: str, metrics: Metrics
    ) -> None:
        self._from = from_number
        self._metrics = metrics
        self._http = RebasedTwilioHttpClient(api_url)
        self._client = Client(account_sid, auth_token, http_client=self._http)

    async def close(self) -> None:
        """Closes the HTTP session to Twilio."""
        await self._http.close()

    async def send(self, to: str, bodies: Sequence[str]) -> None:
        """Sends each body; raises DeliveryError (``permanent`` when retrying cannot help)."""
        for body in bodies:
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
