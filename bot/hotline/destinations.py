"""Where hotline staff receive reports: the Telegram staff chat, on-call phones, a case system.

Each destination hands a report over (``deliver``) or tells staff something
is wrong (``alert``) and raises ``DeliveryError`` when it could not, with
``permanent`` set when retrying cannot help. The relay decides what to retry.

Never logs report contents, phone numbers or chat ids.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Literal, Optional, Protocol

import httpx
from telegram import InlineKeyboardMarkup
from telegram.error import Forbidden, TelegramError
from telegram.ext import ExtBot

from bot.channels.twilio import TwilioSender
from bot.errors import DeliveryError
from bot.hotline.cards import signature, sms_card, staff_buttons, staff_card, webhook_body
from contract.limits import TELEGRAM_MAX_TEXT
from contract.reports import Case

ALERT_SMS_CHARS = 300
DestinationKind = Literal["telegram", "sms", "webhook"]


class Destination(Protocol):
    """Somewhere staff receive reports."""

    name: str  # unique per destination: what the case records as delivered
    kind: DestinationKind  # the metric label

    async def deliver(self, case: Case) -> None:
        """Hands the report over; raises DeliveryError when it was not taken."""

    async def alert(self, text: str) -> None:
        """Tells staff something is wrong; raises DeliveryError when it cannot."""


class TelegramStaffChat:
    """The hotline's Telegram group: the full card with Claim / Resolve."""

    kind: DestinationKind = "telegram"

    def __init__(self, bot: ExtBot[Any], chat_id: int) -> None:
        self.name = "telegram"
        self._bot = bot
        self._chat_id = chat_id

    async def deliver(self, case: Case) -> None:
        """Posts the card with its buttons."""
        await self._send(staff_card(case), staff_buttons(case.reference))

    async def alert(self, text: str) -> None:
        """Posts the alert."""
        await self._send(text, None)

    async def _send(self, text: str, markup: Optional[InlineKeyboardMarkup]) -> None:
        try:
            await self._bot.send_message(
                chat_id=self._chat_id, text=text[:TELEGRAM_MAX_TEXT], reply_markup=markup
            )
        except Forbidden as error:  # the bot was removed from the staff chat
            raise DeliveryError("Telegram: forbidden in the staff chat", permanent=True) from error
        except TelegramError as error:
            raise DeliveryError(f"Telegram refused: {type(error).__name__}") from error


class OnCallSms:
    """One on-call phone: the short form by SMS."""

    kind: DestinationKind = "sms"

    def __init__(self, twilio: TwilioSender, number: str) -> None:
        self.name = f"sms:{number}"
        self._twilio = twilio
        self._number = number

    async def deliver(self, case: Case) -> None:
        """Sends the short form."""
        await self._twilio.send(self._number, [sms_card(case)])

    async def alert(self, text: str) -> None:
        """Sends the alert, cut to the SMS limit."""
        await self._twilio.send(self._number, [text[:ALERT_SMS_CHARS]])


class CaseWebhook:
    """A hotline's case system: signed JSON, ``Idempotency-Key`` = the reference."""

    kind: DestinationKind = "webhook"
    name = "webhook"

    def __init__(self, http: httpx.AsyncClient, url: str, secret: str) -> None:
        self._http = http
        self._url = url
        self._secret = secret

    async def deliver(self, case: Case) -> None:
        """POSTs the report; 2xx (or 409: already have it) counts as delivered."""
        await self._post(webhook_body(case), case.reference)

    async def alert(self, text: str) -> None:
        """POSTs an alert event."""
        body = json.dumps({"event": "relay.alert", "text": text}, sort_keys=True).encode()
        await self._post(body, f"alert-{hashlib.sha256(body).hexdigest()[:16]}")

    async def _post(self, body: bytes, key: str) -> None:
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": key,
            "X-Rahnuma-Timestamp": stamp,
            "X-Rahnuma-Signature": signature(self._secret, stamp, body),
        }
        try:
            response = await self._http.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryError(f"webhook unreachable: {type(error).__name__}") from error
        if response.is_success or response.status_code == 409:
            return
        permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
        raise DeliveryError(f"webhook answered {response.status_code}", permanent=permanent)
