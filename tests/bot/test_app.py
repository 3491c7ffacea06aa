"""The gateway app: health, readiness, metrics and logs that name no one, delivery that survives
outages of Rasa and of the Bot API, erasure, and long polling."""

from __future__ import annotations

import asyncio
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, Dict, List, Optional

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

import bot.conversation.outbox
from bot import texts
from bot.app import create_app
from bot.hotline.relay import Relay, RelayMetrics
from bot.identity import Pseudonyms
from bot.logs import QUIET, JsonFormatter, configure
from bot.metrics import Metrics
from bot.settings import Settings
from contract.channels import Channel
from contract.keys import Keys
from contract.reports import ReportStore
from contract.sealing import Sealer
from contract.segments import count
from dev.fakes import PeerState
from tests.bot.conftest import (
    BOT_TOKEN,
    TWILIO_TOKEN,
    WEBHOOK_SECRET,
    GatewayRig,
    environment,
    local_peers,
    running_stack,
    serving,
)
from tests.bot.fake_rasa import FakeRasa

PHONE = "+923451239876"
CHAT = 731904562
HOLDING = texts.text("holding", None)


async def wait_for(condition: Any, timeout: float = 10.0, what: str = "condition") -> None:
    """Polls an async ``condition()`` until it is true."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def bodies(twiml: str) -> List[str]:
    """The message bodies in a TwiML answer."""
    return [element.text or "" for element in ET.fromstring(twiml).findall("Message")]


def samples(exposition: str) -> Dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(exposition: str, name: str, **labels: str) -> Optional[float]:
    return samples(exposition).get((name, tuple(sorted(labels.items()))))


# -- health and readiness ---------------------------------------------------------------


async def test_healthz_answers_200(stack: GatewayRig) -> None:
    response = await stack.http.get(stack.url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_follows_rasa(stack: GatewayRig) -> None:
    ready = await stack.http.get(stack.url + "/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "redis": True, "rasa": True}

    stack.rasa.down = True
    down = await stack.http.get(stack.url + "/readyz")
    assert down.status_code == 503
    assert down.json()["rasa"] is False and down.json()["redis"] is True

    stack.rasa.down = False
    assert (await stack.http.get(stack.url + "/readyz")).status_code == 200


async def test_readyz_follows_the_action_server_when_it_is_configured(prefix: str) -> None:
    # Rasa answers 200 with no message when its action server is down: readiness must see it.
    healthy = {"now": True}

    async def health(request: Request) -> Response:
        if healthy["now"]:
            return JSONResponse({"status": "ok"})
        return PlainTextResponse("down", status_code=503)

    actions = Starlette(routes=[Route("/health", health, methods=["GET"])])
    async with (
        serving(actions) as actions_url,
        running_stack(prefix, ACTION_SERVER_URL=actions_url) as stack,
    ):
        ready = await stack.http.get(stack.url + "/readyz")
        assert ready.status_code == 200 and ready.json()["actions"] is True
        healthy["now"] = False
        down = await stack.http.get(stack.url + "/readyz")
        assert down.status_code == 503
        assert down.json() == {"status": "not ready", "redis": True, "rasa": True, "actions": False}


async def test_readyz_turns_unready_when_no_hotline_relay_beats(
    prefix: str, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_stack(
        prefix,
        HOTLINE_TELEGRAM_CHAT_ID="-1001234567890",
        HOTLINE_STAFF_TELEGRAM_IDS="42",
        RELAY_HEARTBEAT_SECONDS="0.2",
        RELAY_STALE_SECONDS="1",
    ) as stack:
        caplog.set_level(logging.INFO, logger="bot.health")
        silent = await stack.http.get(stack.url + "/readyz")
        assert silent.status_code == 503
        assert silent.json()["relay_ok"] is False and silent.json()["relay_heartbeat_age"] is None
        assert caplog.records == []  # relays starting with the gateway get one window
        await asyncio.sleep(1.1)
        await stack.http.get(stack.url + "/readyz")
        assert [r.levelname for r in caplog.records] == ["ERROR"]
        await stack.http.get(stack.url + "/readyz")
        assert len(caplog.records) == 1  # one alert, not one per probe

        store = ReportStore(redis, Keys(prefix), Sealer(str(stack.settings.data_keys)))
        await Relay(store, [], RelayMetrics(), heartbeat_seconds=0.0).beat()
        alive = await stack.http.get(stack.url + "/readyz")
        assert alive.status_code == 200, alive.json()
        assert 0 <= alive.json()["relay_heartbeat_age"] < 1
        assert alive.json()["reports_dead_letter"] == 0

        await redis.delete(Keys(prefix).relay_heartbeat)
        await redis.hset(Keys(prefix).relay_heartbeat, "relay-gone", time.time() - 31)
        stale = await stack.http.get(stack.url + "/readyz")
        assert stale.status_code == 503 and stale.json()["relay_heartbeat_age"] >= 31
        age = value(stack.metrics.render().decode(), "rahnuma_relay_heartbeat_age_seconds")
        assert age is not None and age >= 31


# -- metrics --------------------------------------------------------------------


async def test_metrics_count_what_happened_and_name_no_one(stack: GatewayRig) -> None:
    sms_text = "my employer took my passport 4417"
    telegram_text = "is agent Rashid licensed 5528"
    answer = await stack.post_sms(stack.sms_params(PHONE, sms_text))
    (reply,) = bodies(answer.text)
    await stack.post_update(stack.telegram_text(CHAT, telegram_text))
    await stack.telegram_sent(CHAT, 1)
    forged_sms = await stack.post_sms(stack.sms_params(PHONE, sms_text), signature="AAAA")
    forged_update = await stack.post_update(stack.telegram_text(CHAT, telegram_text), "guess")
    assert forged_sms.status_code == forged_update.status_code == 403

    async def both_handled() -> bool:
        text = (await stack.http.get(stack.url + "/metrics")).text
        return all(
            value(text, "rahnuma_messages_handled_total", channel=channel, language="en") == 1
            for channel in ("sms", "telegram")
        )

    await wait_for(both_handled, what="both answers to be counted")
    response = await stack.http.get(stack.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text

    assert value(text, "rahnuma_messages_received_total", channel="sms") == 1
    assert value(text, "rahnuma_messages_received_total", channel="telegram") == 1
    assert value(text, "rahnuma_messages_handled_total", channel="sms", language="en") == 1
    segments = count(reply)
    assert (
        value(text, "rahnuma_sms_segments_sent_total", encoding=segments.encoding)
        == segments.segments
    )
    assert value(text, "rahnuma_answer_seconds_count", channel="sms") == 1
    assert value(text, "rahnuma_answer_seconds_bucket", channel="sms", le="+Inf") == 1
    assert value(text, "rahnuma_webhooks_rejected_total", channel="sms", reason="signature") == 1
    assert value(text, "rahnuma_webhooks_rejected_total", channel="telegram", reason="secret") == 1

    pseudonyms = {body["sender"] for body in stack.rasa.received}
    for secret in (
        PHONE,
        PHONE[1:],
        str(CHAT),
        sms_text,
        telegram_text,
        "4417",
        "5528",
        *pseudonyms,
    ):
        assert secret not in text


# -- logs -------------------------------------------------------------------------


class Collector(logging.Handler):
    """Keeps every record as the production formatter writes it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: List[str] = []
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def logged() -> Iterator[Collector]:
    """Production logging (``bot.logs.configure``) at DEBUG, written into a list."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in QUIET})
    configure("DEBUG")
    collector = Collector()
    root.handlers[:] = [collector]
    try:
        yield collector
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


async def test_logs_never_carry_numbers_chat_ids_text_or_secrets(
    prefix: str, logged: Collector
) -> None:
    sms_text = "my employer took my passport 4417"
    telegram_text = "is agent Rashid licensed 5528"
    async with running_stack(prefix) as stack:
        settings = stack.settings
        await stack.post_sms(stack.sms_params(PHONE, sms_text))
        await stack.post_update(stack.telegram_text(CHAT, telegram_text))
        await stack.telegram_sent(CHAT, 1)
        # Forged calls on both doors.
        await stack.post_sms(stack.sms_params(PHONE, sms_text), signature="AAAA")
        await stack.post_update(stack.telegram_text(CHAT, telegram_text), secret="guess")
        await stack.post_update({}, raw=b'{"update_id": "' + telegram_text.encode() + b'"}')
        # Rasa down on both channels, then back.
        stack.rasa.down = True
        (holding,) = bodies((await stack.post_sms(stack.sms_params(PHONE, sms_text))).text)
        assert holding == HOLDING
        await stack.post_update(stack.telegram_text(CHAT, telegram_text + " again"))
        await stack.telegram_sent(CHAT, 2)
        stack.rasa.down = False
        await stack.sms_sent(PHONE, 1, timeout=20)
        await stack.telegram_sent(CHAT, 3, timeout=20)
        # The Bot API failing a send.
        stack.peers.fail_telegram = [500]
        await stack.post_update(stack.telegram_text(CHAT, telegram_text + " once more"))
        await stack.telegram_sent(CHAT, 4, timeout=20)

    events = [record.getMessage() for record in logged.records]
    assert "webhook refused" in events  # the forged calls were logged...
    assert any(event.startswith("rasa unavailable") for event in events)  # ...and the outage
    assert any(event.startswith("delivery to") for event in events)  # ...and the refused send
    forbidden = [
        PHONE,
        PHONE[1:],
        "%2B" + PHONE[1:],
        str(CHAT),
        sms_text,
        telegram_text,
        "4417",
        "5528",
        BOT_TOKEN,
        BOT_TOKEN.split(":", 1)[1],
        WEBHOOK_SECRET,
        TWILIO_TOKEN,
        str(settings.pseudonym_key),
        str(settings.data_keys),
    ]
    for line in logged.lines:
        for secret in forbidden:
            assert secret not in line, f"{secret!r} logged in {line}"


# -- delivery through outages -------------------------------------------------------


def sent_to(stack: GatewayRig, chat: int = CHAT) -> List[str]:
    return [m["text"] for m in stack.peers.telegram_to(chat)]


@pytest.mark.parametrize("failure", ["down", "silent"])
async def test_rasa_down_gets_one_holding_message_then_the_answer(
    stack: GatewayRig, failure: str
) -> None:
    # down: Rasa answers 503; silent: 200 [] (its action server is down): never silence.
    setattr(stack.rasa, failure, True)
    await stack.post_update(stack.telegram_text(CHAT, "is anyone there?"))
    await stack.telegram_sent(CHAT, 1)

    async def retried() -> bool:
        return len(stack.rasa.received) >= 2

    await wait_for(retried, timeout=8, what="a retry while Rasa is down")
    assert sent_to(stack) == [HOLDING]  # once, however often it is retried

    setattr(stack.rasa, failure, False)
    await stack.telegram_sent(CHAT, 2, timeout=20)
    await asyncio.sleep(2.5)  # nothing more follows: no second answer, no second holding
    assert sent_to(stack) == [HOLDING, "echo: is anyone there?"]


async def test_a_429_from_the_bot_api_delays_the_reply_but_does_not_drop_it(
    stack: GatewayRig,
) -> None:
    stack.peers.fail_telegram = [429]
    started = time.monotonic()
    await stack.post_update(stack.telegram_text(CHAT, "rate limited?"))
    await stack.telegram_sent(CHAT, 1)
    assert time.monotonic() - started >= 1.0  # Telegram's retry_after was respected
    assert stack.peers.calls.count("sendMessage") == 2
    await asyncio.sleep(0.5)
    assert sent_to(stack) == ["echo: rate limited?"]


async def test_a_failed_send_is_queued_and_delivered_later(
    prefix: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.conversation.outbox, "CLAIM_IDLE_MS", 300)
    async with running_stack(prefix) as stack:
        # The direct send fails, and so does the outbox's first attempt: only a re-claim helps.
        stack.peers.fail_telegram = [500, 500]
        await stack.post_update(stack.telegram_text(CHAT, "please arrive"))
        await stack.telegram_sent(CHAT, 1, timeout=15)
        await asyncio.sleep(1.5)
        assert sent_to(stack) == ["echo: please arrive"]
        assert stack.peers.calls.count("sendMessage") == 3
        metrics = (await stack.http.get(stack.url + "/metrics")).text
        assert value(metrics, "rahnuma_outbox_total", channel="telegram", result="retry") == 1
        assert value(metrics, "rahnuma_outbox_total", channel="telegram", result="sent") == 1
        assert await redis.xlen(f"{prefix}:outbox") == 0
        assert await redis.xlen(f"{prefix}:outbox:dead") == 0


# -- erasure ------------------------------------------------------------------------


async def test_delete_erases_what_the_gateway_keeps_about_the_user(
    stack: GatewayRig, redis: Redis, prefix: str
) -> None:
    pseudonym = Pseudonyms(str(stack.settings.pseudonym_key)).of(Channel.TELEGRAM, str(CHAT))
    user_key, address_key = f"{prefix}:user:{pseudonym}", f"{prefix}:address:{pseudonym}"
    await stack.post_update(stack.telegram_text(CHAT, "hello"))
    await stack.telegram_sent(CHAT, 1)
    assert stack.rasa.received[0]["sender"] == pseudonym
    assert await redis.exists(user_key, address_key) == 2

    await stack.post_update(stack.telegram_text(CHAT, "/delete"))
    sent = await stack.telegram_sent(CHAT, 2)
    assert sent[1]["text"] == "Your data has been deleted."  # the confirmation still arrived
    assert stack.rasa.messages()[-1] == "/delete_my_data"

    async def erased() -> bool:
        return await redis.exists(user_key, address_key) == 0

    await wait_for(erased, timeout=5, what="the user's keys to be erased")
    await asyncio.sleep(0.5)  # and nothing writes them back afterwards
    assert await redis.exists(user_key, address_key) == 0
    left = [key.decode() async for key in redis.scan_iter(f"{prefix}:*{pseudonym}*")]
    assert [key for key in left if not key.startswith(f"{prefix}:rate:")] == []


# -- long polling ---------------------------------------------------------------------


@asynccontextmanager
async def polling_stack(prefix: str) -> AsyncIterator[tuple[str, PeerState, FakeRasa]]:
    """A Telegram-only gateway without PUBLIC_URL: it polls the fake Bot API."""
    async with local_peers() as (peers, peers_url, rasa, rasa_url):
        env = environment(TELEGRAM_API_URL=peers_url, RASA_URL=rasa_url, REDIS_PREFIX=prefix)
        for name in (
            "TELEGRAM_WEBHOOK_SECRET",
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_FROM_NUMBER",
        ):
            env.pop(name)
        settings = Settings.load(environ=env)
        assert settings.telegram_enabled and not settings.telegram_webhook
        async with serving(create_app(settings, Metrics())) as url:
            yield url, peers, rasa


async def test_without_public_url_the_bot_polls_and_answers(prefix: str) -> None:
    async with polling_stack(prefix) as (url, peers, rasa), httpx.AsyncClient() as http:
        assert peers.webhook == {}
        update = {
            "update_id": 501,
            "message": {
                "message_id": 1,
                "date": 1763800000,
                "text": "polling works?",
                "chat": {"id": CHAT, "type": "private", "first_name": "A"},
                "from": {"id": CHAT, "is_bot": False, "first_name": "A", "language_code": "en"},
            },
        }
        peers.updates.append(update)

        async def answered() -> bool:
            return any(m["chat"]["id"] == CHAT for m in peers.telegram_sent)

        await wait_for(answered, timeout=15, what="the polled update to be answered")
        assert [m["text"] for m in peers.telegram_sent] == ["echo: polling works?"]
        assert rasa.messages() == ["polling works?"]
        assert "getUpdates" in peers.calls and "setWebhook" not in peers.calls

        # The webhook door is shut in polling mode, so no one can inject updates through it.
        injected = await http.post(
            url + "/telegram/webhook",
            json={**update, "update_id": 502},
            headers={"X-Telegram-Bot-Api-Secret-Token": "anything"},
        )
        assert injected.status_code == 404
        assert (await http.post(url + "/sms/twilio", data={"From": PHONE})).status_code == 404
        await asyncio.sleep(1.5)  # the same update, polled again, is not answered again
        assert len(peers.telegram_sent) == 1
