"""The outbox: replies that could not go at once, sent later, and never to the wrong person.

A real Redis stream and consumer group; the provider is a recording ``send`` that
refuses on cue, or never answers (a process that dies mid-send).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
from cryptography.fernet import Fernet
from redis.asyncio import Redis

import bot.conversation.outbox
from bot.conversation.messages import Outgoing
from bot.conversation.outbox import MAX_DELIVERIES, Outbox
from bot.conversation.users import Users
from bot.errors import DeliveryError
from bot.identity import AddressBook
from bot.metrics import Metrics
from bot.rasa import Button
from contract.channels import Channel
from contract.keys import Keys
from contract.sealing import Sealer

CHAT = "731904562"
ALICE = "tg-" + "a" * 32
SECRET_WORDS = "my employer in Riyadh took my passport"
URDU = "میرا پاسپورٹ لے لیا گیا"
ANSWER = [
    Outgoing(f"You wrote: {SECRET_WORDS}"),
    Outgoing(URDU, (Button("Menu", "/show_menu"),)),
]


class Provider:
    """Telegram or Twilio as the outbox sees it: ``send`` takes a message, or refuses."""

    def __init__(self) -> None:
        self.sent: List[Tuple[str, List[Outgoing]]] = []
        self.attempts = 0
        self.refusal: Optional[DeliveryError] = None  # raised by every send while set
        self.hang: Optional[asyncio.Event] = None  # set: sends start, then never return

    async def send(self, address: str, messages: Sequence[Outgoing]) -> None:
        self.attempts += 1
        if self.hang is not None:
            self.hang.set()
            await asyncio.Event().wait()
        if self.refusal is not None:
            raise self.refusal
        self.sent.append((address, list(messages)))


class World:
    """Everything an outbox needs, over real Redis under the test's prefix."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.sealer = Sealer(Fernet.generate_key().decode())
        self.addresses = AddressBook(redis, self.sealer, self.keys, 86400)
        self.users = Users(redis, self.keys, 86400)
        self.metrics = Metrics()
        self.telegram = Provider()

    def outbox(self, consumer: str = "gateway-1") -> Outbox:
        """One gateway process's outbox worker."""
        return Outbox(
            self.redis,
            self.keys,
            self.sealer,
            self.addresses,
            self.users,
            {Channel.TELEGRAM: self.telegram.send},
            self.metrics,
            consumer=consumer,
        )

    def counted(self, result: str, channel: str = "telegram") -> float:
        value = self.metrics.registry.get_sample_value(
            "rahnuma_outbox_total", {"channel": channel, "result": result}
        )
        return value or 0.0

    async def entries(self, stream: str) -> List[Tuple[bytes, Dict[bytes, bytes]]]:
        """What a stream holds, as stored."""
        raw: Any = await self.redis.xrange(stream)
        return list(raw)

    async def dead(self) -> int:
        return int(await self.redis.xlen(self.keys.outbox_dead))


@pytest.fixture
async def world(redis: Redis, prefix: str) -> World:
    built = World(redis, prefix)
    await built.outbox().ensure_group()
    await built.addresses.remember(ALICE, CHAT)
    return built


@pytest.fixture
def outbox(world: World) -> Outbox:
    return world.outbox()


async def test_a_queued_reply_is_sent_and_then_gone(world: World, outbox: Outbox) -> None:
    await outbox.put(ALICE, Channel.TELEGRAM, ANSWER)
    assert await outbox.pending() == 1
    assert await outbox.work_once(block_ms=10) == 1
    assert world.telegram.sent == [(CHAT, ANSWER)]  # buttons and Urdu intact
    assert await outbox.pending() == 0
    assert world.counted("sent") == 1
    assert await outbox.work_once(block_ms=10) == 0  # acknowledged: never sent twice
    assert world.telegram.sent == [(CHAT, ANSWER)]


async def test_putting_nothing_queues_nothing(outbox: Outbox) -> None:
    await outbox.put(ALICE, Channel.TELEGRAM, [])
    assert await outbox.pending() == 0


async def test_queued_text_is_sealed_at_rest(world: World, outbox: Outbox) -> None:
    await outbox.put(ALICE, Channel.TELEGRAM, ANSWER)
    entries = await world.entries(world.keys.outbox)
    stored = b"".join(key + value for _, fields in entries for key, value in fields.items())
    assert SECRET_WORDS.encode() not in stored
    assert b"Riyadh" not in stored
    assert URDU.encode() not in stored
    assert CHAT.encode() not in stored  # the address is looked up at send time, not queued


async def test_a_reply_is_acknowledged_only_after_the_provider_took_it(
    world: World, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.conversation.outbox, "CLAIM_IDLE_MS", 0)  # retry at once
    world.telegram.refusal = DeliveryError("Telegram answered 502")
    await outbox.put(ALICE, Channel.TELEGRAM, ANSWER)
    assert await outbox.work_once(block_ms=10) == 0
    assert await outbox.pending() == 1  # kept
    assert world.counted("retry") == 1

    world.telegram.refusal = None
    assert await outbox.work_once(block_ms=10) == 1
    assert world.telegram.sent == [(CHAT, ANSWER)]
    assert await outbox.pending() == 0
    assert await world.dead() == 0


async def test_an_opted_out_user_gets_nothing(world: World, outbox: Outbox) -> None:
    await outbox.put(ALICE, Channel.TELEGRAM, ANSWER)
    await world.users.opt_out(ALICE)  # STOP arrived while the reply waited
    assert await outbox.work_once(block_ms=10) == 0
    assert world.telegram.attempts == 0
    assert await outbox.pending() == 0
    assert world.counted("opted_out") == 1


async def test_a_reply_for_an_erased_address_is_dropped_and_counted(
    world: World, outbox: Outbox
) -> None:
    await outbox.put(ALICE, Channel.TELEGRAM, ANSWER)
    await world.addresses.forget(ALICE)
    assert await outbox.work_once(block_ms=10) == 0
    assert world.telegram.attempts == 0
    assert await outbox.pending() == 0
    assert world.counted("no_address") == 1
    assert await world.dead() == 0


async def test_a_reply_for_a_channel_not_configured_is_dropped_and_counted(
    world: World, outbox: Outbox
) -> None:
    await outbox.put(ALICE, Channel.SMS, ANSWER)  # SMS switched off since it was queued
    assert await outbox.work_once(block_ms=10) == 0
    assert world.telegram.attempts == 0
    assert await outbox.pending() == 0
    assert world.counted("no_channel", channel="sms") == 1


async def test_a_refusal_for_good_drops_the_reply(world: World, outbox: Outbox) -> None:
    world.telegram.refusal = DeliveryError("the user blocked the bot", permanent=True)
    await outbox.put(ALICE, Channel.TELEGRAM, ANSWER)
    assert await outbox.work_once(block_ms=10) == 0
    assert world.telegram.attempts == 1
    assert await outbox.pending() == 0
    assert world.counted("refused") == 1
    assert await world.dead() == 0


async def test_a_reply_that_keeps_failing_goes_to_the_dead_letters(
    world: World, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.conversation.outbox, "CLAIM_IDLE_MS", 0)  # retry at once
    world.telegram.refusal = DeliveryError("Telegram answered 502")
    await outbox.put(ALICE, Channel.TELEGRAM, ANSWER)
    for _ in range(MAX_DELIVERIES - 1):
        await outbox.work_once(block_ms=10)
    assert await world.dead() == 0
    assert await outbox.pending() == 1

    await outbox.work_once(block_ms=10)
    assert world.telegram.attempts == MAX_DELIVERIES
    assert await outbox.pending() == 0
    assert world.counted("retry") == MAX_DELIVERIES - 1
    assert world.counted("dead_letter") == 1

    # The operator finds it whole (and still sealed) in the dead-letter stream.
    ((_, fields),) = await world.entries(world.keys.outbox_dead)
    assert fields[b"pseudonym"].decode() == ALICE
    assert fields[b"channel"] == b"telegram"
    assert SECRET_WORDS.encode() not in fields[b"body"]
    assert SECRET_WORDS in world.sealer.open(fields[b"body"])


async def test_a_reply_left_by_a_crashed_process_is_taken_over(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashed, survivor = world.outbox("gateway-1"), world.outbox("gateway-2")
    await crashed.put(ALICE, Channel.TELEGRAM, ANSWER)
    world.telegram.hang = asyncio.Event()
    sending = asyncio.create_task(crashed.work_once(block_ms=10))
    await asyncio.wait_for(world.telegram.hang.wait(), 5)
    sending.cancel()  # the process died mid-send: the entry is read but never acknowledged
    with pytest.raises(asyncio.CancelledError):
        await sending
    world.telegram.hang = None

    # While the entry is fresh, it still belongs to the process that read it.
    assert await survivor.work_once(block_ms=10) == 0
    assert world.telegram.sent == []

    monkeypatch.setattr(bot.conversation.outbox, "CLAIM_IDLE_MS", 50)

    async def taken_over() -> None:
        while not await survivor.work_once(block_ms=20):
            pass

    await asyncio.wait_for(taken_over(), 10)
    assert world.telegram.sent == [(CHAT, ANSWER)]
    assert await survivor.pending() == 0


async def test_an_entry_sealed_with_a_dropped_key_is_set_aside_and_blocks_nothing(
    world: World, outbox: Outbox
) -> None:
    await world.addresses.remember(ALICE, CHAT)
    stale = Sealer(Fernet.generate_key().decode())  # a key rotated out of RAHNUMA_DATA_KEY
    await world.redis.xadd(
        world.keys.outbox,
        {"pseudonym": ALICE, "channel": "telegram", "body": stale.seal("[]")},
    )
    await outbox.put(ALICE, Channel.TELEGRAM, ANSWER)
    await outbox.ensure_group()
    assert await outbox.work_once(block_ms=10) == 1
    assert world.telegram.sent == [(CHAT, ANSWER)]
    assert world.counted("unreadable") == 1
    assert await world.dead() == 1
    assert await outbox.pending() == 0


async def test_an_entry_without_an_addressee_is_set_aside_and_blocks_nothing(
    world: World, outbox: Outbox
) -> None:
    await world.redis.xadd(world.keys.outbox, {"body": "junk"})
    await outbox.put(ALICE, Channel.TELEGRAM, ANSWER)
    assert await outbox.work_once(block_ms=10) == 1
    assert world.telegram.sent == [(CHAT, ANSWER)]
    assert await world.dead() == 1 and await outbox.pending() == 0


async def test_a_lost_consumer_group_is_made_again(world: World, outbox: Outbox) -> None:
    worker = asyncio.create_task(outbox.work())
    try:
        await asyncio.sleep(0.3)  # the worker is reading
        await world.redis.delete(world.keys.outbox)  # the stream and its group are gone
        await outbox.put(ALICE, Channel.TELEGRAM, ANSWER)  # the stream is back, not the group
        deadline = asyncio.get_running_loop().time() + 10
        while not world.telegram.sent and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        while not worker.done():  # redis-py's blocking read can swallow one cancel
            worker.cancel()
            await asyncio.wait([worker], timeout=1.0)
    assert world.telegram.sent == [(CHAT, ANSWER)]


async def test_dead_letters_older_than_the_address_retention_are_trimmed(world: World) -> None:
    outbox = Outbox(
        world.redis,
        world.keys,
        world.sealer,
        world.addresses,
        world.users,
        {Channel.TELEGRAM: world.telegram.send},
        world.metrics,
        dead_days=1,
    )
    old_id = f"{int((time.time() - 2 * 86400) * 1000)}-0"  # two days ago
    await world.redis.xadd(world.keys.outbox_dead, {"pseudonym": "x"}, id=old_id)
    await world.redis.xadd(world.keys.outbox, {"body": "no addressee"})
    await outbox.work_once(block_ms=10)
    entries = await world.entries(world.keys.outbox_dead)
    assert [fields for _, fields in entries] == [{b"body": b"no addressee"}]
