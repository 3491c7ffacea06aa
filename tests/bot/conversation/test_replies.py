"""The hand-over of an SMS answer to the webhook waiting for it, or to the outbox instead.

The ``waiting`` mark is what ``Conversations.accept`` sets for a webhook that will wait;
here it is set the same way, with the same key and lifetime.
"""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from bot.conversation.messages import Outgoing
from bot.conversation.replies import WebhookReplies, waiting_seconds
from bot.rasa import Button
from contract.keys import Keys

SID = "SM" + "5" * 32
ANSWER = [
    Outgoing("Check the licence at the Bureau of Emigration."),
    Outgoing("Anything else?", (Button("1", "/show_menu"),)),
]


@pytest.fixture
def keys(prefix: str) -> Keys:
    return Keys(prefix)


@pytest.fixture
def replies(redis: Redis, keys: Keys) -> WebhookReplies:
    return WebhookReplies(redis, keys)


async def webhook_waits(redis: Redis, keys: Keys, message_id: str, budget: float) -> None:
    """What accepting the message does for a webhook that will wait ``budget`` seconds."""
    await redis.set(keys.waiting(message_id), "1", ex=waiting_seconds(budget))


def test_the_waiting_mark_outlives_the_budget_and_is_absent_without_one() -> None:
    assert waiting_seconds(0) == 0
    assert waiting_seconds(3) > 3
    assert waiting_seconds(10.0) > 10


async def test_an_answer_ready_in_time_travels_back_in_the_webhook(
    replies: WebhookReplies, redis: Redis, keys: Keys
) -> None:
    await webhook_waits(redis, keys, SID, 10)
    webhook = asyncio.create_task(replies.wait(SID, 10))
    assert await replies.hand_over(SID, ANSWER)
    assert await asyncio.wait_for(webhook, 10) == ("answer", ANSWER)


async def test_an_answer_ready_before_the_webhook_listens_is_not_lost(
    replies: WebhookReplies, redis: Redis, keys: Keys
) -> None:
    await webhook_waits(redis, keys, SID, 10)
    assert await replies.hand_over(SID, ANSWER)
    assert await replies.wait(SID, 10) == ("answer", ANSWER)


async def test_when_the_waiting_webhook_died_the_answer_is_not_handed_over(
    replies: WebhookReplies, redis: Redis, keys: Keys
) -> None:
    # No waiting mark: it expired with the process that held the webhook.
    assert not await replies.hand_over(SID, ANSWER)
    assert not await redis.exists(keys.reply(SID))  # nothing left for a webhook to find


async def test_past_the_budget_the_webhook_holds_and_the_answer_goes_another_way(
    replies: WebhookReplies, redis: Redis, keys: Keys
) -> None:
    await webhook_waits(redis, keys, SID, 0.2)
    assert await replies.wait(SID, 0.2) == ("holding", [])
    assert not await replies.hand_over(SID, ANSWER)  # the webhook gave up: the outbox sends


async def test_release_makes_the_waiting_webhook_answer_holding_at_once(
    replies: WebhookReplies, redis: Redis, keys: Keys
) -> None:
    budget = 60.0  # far longer than the test may take: only the release can end the wait
    await webhook_waits(redis, keys, SID, budget)
    webhook = asyncio.create_task(replies.wait(SID, budget))
    await replies.release(SID)
    assert await asyncio.wait_for(webhook, 10) == ("holding", [])
    assert not await replies.hand_over(SID, ANSWER)  # the late answer goes by the outbox


async def test_each_message_has_its_own_hand_over(
    replies: WebhookReplies, redis: Redis, keys: Keys
) -> None:
    other = "SM" + "6" * 32
    await webhook_waits(redis, keys, SID, 10)
    await webhook_waits(redis, keys, other, 10)
    await replies.release(other)
    assert await replies.hand_over(SID, ANSWER)
    assert await replies.wait(SID, 10) == ("answer", ANSWER)
    assert await replies.wait(other, 10) == ("holding", [])
