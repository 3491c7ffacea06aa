"""Fixtures for the gateway: real Redis, local protocol peers, and a gateway between them.

Everything listens on 127.0.0.1 on free ports inside the test's event loop:
the Telegram/Twilio peers (``dev/fakes.py``), a Rasa stand-in that speaks
Rasa's REST channel protocol (``tests/bot/fake_rasa.py``) and the gateway
itself, run by uvicorn as in production.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Dict, Optional
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet
from twilio.request_validator import RequestValidator

from bot.app import create_app
from bot.conversation.inbox import Clock
from bot.metrics import Metrics
from bot.settings import Settings
from dev.fakes import PeerState, create_peers
from tests.bot.fake_rasa import FakeRasa
from tests.conftest import REDIS_URL

BOT_TOKEN = "4242:TEST-token_for-the-local-peer"
WEBHOOK_SECRET = "s3cret-Header_value"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-auth-token-for-tests"
TWILIO_FROM = "+15005550006"


def free_socket() -> socket.socket:
    """A listening-ready socket on a free local port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def serving(app: Any, sock: Optional[socket.socket] = None) -> AsyncIterator[str]:
    """Runs ``app`` with uvicorn in this loop; yields its base URL."""
    sock = sock or free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises the start-up error
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def environment(**overrides: str) -> Dict[str, str]:
    """Gateway settings for tests (every secret set, nothing real)."""
    env = {
        "RAHNUMA_PSEUDONYM_KEY": "k" * 40,
        "RAHNUMA_DATA_KEY": Fernet.generate_key().decode(),
        "REDIS_URL": REDIS_URL,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_FROM_NUMBER": TWILIO_FROM,
        "SMS_REPLY_BUDGET_SECONDS": "3",
        "RATE_LIMIT_PER_MINUTE": "30",
    }
    env.update(overrides)
    return env


def text_update(
    update_id: int, chat_id: int, text: str, language_code: str = "en"
) -> Dict[str, Any]:
    """A private text message as Telegram sends it (Update JSON)."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1763800000,
            "chat": {"id": chat_id, "type": "private", "first_name": "A"},
            "from": {
                "id": chat_id,
                "is_bot": False,
                "first_name": "A",
                "language_code": language_code,
            },
            "text": text,
        },
    }


class GatewayRig:
    """A running gateway with its peers, and ways to talk to it as Telegram and Twilio do."""

    def __init__(
        self,
        url: str,
        public_url: str,
        peers: PeerState,
        rasa: FakeRasa,
        settings: Settings,
        metrics: Metrics,
        http: httpx.AsyncClient,
    ) -> None:
        self.url = url
        self.public_url = public_url
        self.peers = peers
        self.rasa = rasa
        self.settings = settings
        self.metrics = metrics
        self.http = http
        self._update_id = 1000
        self._sid = 0

    def next_update_id(self) -> int:
        self._update_id += 1
        return self._update_id

    def telegram_text(
        self, chat_id: int, text: str, update_id: Optional[int] = None, language_code: str = "en"
    ) -> Dict[str, Any]:
        """A real Update JSON for a private text message."""
        uid = update_id if update_id is not None else self.next_update_id()
        return text_update(uid, chat_id, text, language_code)

    async def post_update(
        self,
        update: Dict[str, Any],
        secret: Optional[str] = WEBHOOK_SECRET,
        raw: Optional[bytes] = None,
    ) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        content = raw if raw is not None else httpx.Request("POST", "/", json=update).content
        return await self.http.post(
            self.url + "/telegram/webhook", content=content, headers=headers
        )

    def sms_params(
        self, sender: str, body: str, sid: Optional[str] = None, **extra: str
    ) -> Dict[str, str]:
        self._sid += 1
        return {
            "MessageSid": sid or f"SM{uuid.uuid4().hex}",
            "AccountSid": TWILIO_SID,
            "From": sender,
            "To": TWILIO_FROM,
            "Body": body,
            "NumMedia": "0",
            **extra,
        }

    def sign(self, params: Dict[str, str], url: Optional[str] = None) -> str:
        """X-Twilio-Signature, computed with Twilio's own algorithm."""
        target = url or self.public_url + "/sms/twilio"
        return str(RequestValidator(TWILIO_TOKEN).compute_signature(target, params))

    async def post_sms(
        self, params: Dict[str, str], signature: Optional[str] = None, raw: Optional[bytes] = None
    ) -> httpx.Response:
        headers = {"content-type": "application/x-www-form-urlencoded"}
        headers["X-Twilio-Signature"] = signature if signature is not None else self.sign(params)
        content = raw if raw is not None else urlencode(params).encode()
        return await self.http.post(
            self.url + "/sms/twilio", content=content, headers=headers, timeout=30
        )

    async def telegram_sent(
        self, chat_id: int, count: int, timeout: float = 10.0
    ) -> list[Dict[str, Any]]:
        """Waits until ``count`` messages reached ``chat_id`` at the fake Bot API."""
        return await self.peers.until(lambda: self.peers.telegram_to(chat_id), count, timeout)

    async def sms_sent(self, to: str, count: int, timeout: float = 15.0) -> list[Dict[str, Any]]:
        """Waits until ``count`` REST messages reached ``to`` at the fake Twilio API."""
        return await self.peers.until(lambda: self.peers.sms_to(to), count, timeout)


@asynccontextmanager
async def local_peers() -> AsyncIterator[tuple[PeerState, str, FakeRasa, str]]:
    """The Telegram/Twilio peers and the Rasa stand-in, served: (peers, URL, rasa, URL)."""
    peers = PeerState(token=BOT_TOKEN, twilio_sid=TWILIO_SID, twilio_token=TWILIO_TOKEN)
    rasa = FakeRasa()
    async with serving(create_peers(peers)) as peers_url, serving(rasa.app()) as rasa_url:
        yield peers, peers_url, rasa, rasa_url


@asynccontextmanager
async def running_stack(
    prefix: str, clock: Clock = time.time, **overrides: str
) -> AsyncIterator[GatewayRig]:
    """Peers, fake Rasa and the gateway, all running; torn down afterwards.

    ``clock``: the gateway's wall clock (``create_app``); ``overrides``: settings.
    """
    gateway_socket = free_socket()
    gateway_url = f"http://127.0.0.1:{gateway_socket.getsockname()[1]}"
    async with local_peers() as (peers, peers_url, rasa, rasa_url):
        env = environment(
            PUBLIC_URL=overrides.pop("PUBLIC_URL", "https://rahnuma.example.org"),
            TELEGRAM_API_URL=peers_url,
            TWILIO_API_URL=peers_url,
            RASA_URL=rasa_url,
            REDIS_PREFIX=prefix,
            **overrides,
        )
        settings = Settings.load(environ=env)
        metrics = Metrics()
        async with (
            serving(create_app(settings, metrics, clock), gateway_socket) as url,
            httpx.AsyncClient(timeout=30) as http,
        ):
            yield GatewayRig(
                url, settings.public_url or gateway_url, peers, rasa, settings, metrics, http
            )


@pytest.fixture
async def stack(prefix: str) -> AsyncIterator[GatewayRig]:
    async with running_stack(prefix) as running:
        yield running
