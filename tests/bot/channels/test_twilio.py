"""Sending SMS through Twilio's Messages API, against the local fake Twilio (``dev/fakes.py``).

twilio's own async client talks to the fake over HTTP, served in the test's loop, so
authentication, form encoding and Twilio's error bodies are the real protocol's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Tuple

import pytest
from redis.asyncio import Redis

from bot.channels.twilio import SmsBudget, TwilioSender
from bot.errors import DeliveryError
from bot.metrics import Metrics
from contract.keys import Keys
from dev.fakes import PeerState, create_peers
from tests.bot.conftest import (
    BOT_TOKEN,
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    free_socket,
    serving,
)

PHONE = "+923001234567"
URDU = "آپ کا پیغام مل گیا ہے۔ "


@pytest.fixture
async def twilio() -> AsyncIterator[Tuple[PeerState, str]]:
    peers = PeerState(token=BOT_TOKEN, twilio_sid=TWILIO_SID, twilio_token=TWILIO_TOKEN)
    async with serving(create_peers(peers)) as url:
        yield peers, url


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def sender(twilio: Tuple[PeerState, str], metrics: Metrics) -> AsyncIterator[TwilioSender]:
    sending = TwilioSender(TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM, twilio[1], metrics)
    yield sending
    await sending.close()


def segments(metrics: Metrics, encoding: str) -> float:
    value = metrics.registry.get_sample_value(
        "rahnuma_sms_segments_sent_total", {"encoding": encoding}
    )
    return value or 0.0


async def test_each_body_is_sent_from_our_number_to_the_user_in_order(
    sender: TwilioSender, twilio: Tuple[PeerState, str]
) -> None:
    await sender.send(PHONE, ["First part.", "Second part: آخری"])
    peers = twilio[0]
    assert [(m["from"], m["to"], m["body"]) for m in peers.twilio_sent] == [
        (TWILIO_FROM, PHONE, "First part."),
        (TWILIO_FROM, PHONE, "Second part: آخری"),
    ]


async def test_billed_segments_are_counted_by_encoding(
    sender: TwilioSender, metrics: Metrics
) -> None:
    await sender.send(PHONE, ["a" * 160, "b" * 200])  # GSM-7: one segment, then two of 153
    await sender.send(PHONE, [URDU * 4])  # UCS-2: 92 characters, two segments of 67
    assert segments(metrics, "GSM-7") == 3
    assert segments(metrics, "UCS-2") == 2


async def test_an_unsubscribed_number_is_refused_for_good_and_nothing_is_counted(
    sender: TwilioSender, twilio: Tuple[PeerState, str], metrics: Metrics
) -> None:
    peers = twilio[0]
    peers.unsubscribed.add(PHONE)  # Twilio's error 21610
    with pytest.raises(DeliveryError) as refused:
        await sender.send(PHONE, ["Your answer."])
    assert refused.value.permanent
    assert "21610" in str(refused.value)
    assert PHONE not in str(refused.value)  # errors are logged: no numbers in them
    assert peers.twilio_sent == []
    assert segments(metrics, "GSM-7") == 0


async def test_a_body_over_twilios_limit_is_refused_for_good(sender: TwilioSender) -> None:
    with pytest.raises(DeliveryError) as refused:
        await sender.send(PHONE, ["x" * 1601])
    assert refused.value.permanent


async def test_a_failing_twilio_is_a_refusal_that_may_pass(
    sender: TwilioSender, twilio: Tuple[PeerState, str]
) -> None:
    peers = twilio[0]
    peers.fail_twilio = [500]
    with pytest.raises(DeliveryError) as failed:
        await sender.send(PHONE, ["Your answer."])
    assert not failed.value.permanent
    await sender.send(PHONE, ["Your answer."])  # the next attempt goes through
    assert [m["body"] for m in peers.twilio_sent] == ["Your answer."]


async def test_an_unreachable_twilio_is_a_refusal_that_may_pass(metrics: Metrics) -> None:
    closed = free_socket()  # bound, never listening: connections are refused
    url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    sender = TwilioSender(TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM, url, metrics)
    try:
        with pytest.raises(DeliveryError) as unreachable:
            await sender.send(PHONE, ["Your answer."])
    finally:
        await sender.close()
        closed.close()
    assert not unreachable.value.permanent
    assert segments(metrics, "GSM-7") == 0


async def test_the_shared_budget_holds_sends_over_it_for_later(
    twilio: Tuple[PeerState, str], metrics: Metrics, redis: Redis, prefix: str
) -> None:
    now = [600.0]  # minute 10
    budget = SmsBudget(redis, Keys(prefix), per_minute=3, clock=lambda: now[0])
    sender = TwilioSender(TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM, twilio[1], metrics, budget)
    other = TwilioSender(TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM, twilio[1], Metrics(), budget)
    try:
        await sender.send(PHONE, ["one", "two"])
        await other.send(PHONE, ["three"])  # another process spends from the same budget
        with pytest.raises(DeliveryError) as refused:
            await sender.send(PHONE, ["four"])
        assert not refused.value.permanent  # the outbox sends it again later
        assert [m["body"] for m in twilio[0].sms_to(PHONE)] == ["one", "two", "three"]
        assert (
            metrics.registry.get_sample_value("rahnuma_errors_total", {"kind": "sms_over_budget"})
            == 1
        )

        now[0] += 60  # the next minute
        await sender.send(PHONE, ["four"])
        assert twilio[0].sms_to(PHONE)[-1]["body"] == "four"
    finally:
        await sender.close()
        await other.close()
