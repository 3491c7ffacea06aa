"""Who may be messaged, and what becomes of a message the provider refuses.

Real Redis holds the addresses, the opt-outs and the outbox; only the provider is
played, by a channel that records what it was asked to send and refuses on cue.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import pytest
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from bot.conversation.delivery import Delivery
from bot.conversation.messages import Inbound, Outgoing, Step, ToRasa, UserState
from bot.conversation.outbox import Outbox
from bot.conversation.users import Users
from bot.errors import DeliveryError
from bot.identity import AddressBook
from bot.metrics import Metrics
from bot.rasa import Reply
from contract.channels import Channel
from contract.keys import Keys
from contract.sealing import Sealer

CHAT = "731904562"
STAFF_CHAT = "-1001234567890"
ALICE = "tg-" + "a" * 32
ANSWER = [Outgoing("Your answer."), Outgoing("And a second message.")]


class Provider:
    """A channel whose provider records what it took, and refuses while told to."""

    def __init__(self, name: Channel = Channel.TELEGRAM) -> None:
        self.name = name
        self.answers_in_webhook = False
        self.sent: List[Tuple[str, List[Outgoing]]] = []
        self.refusals: List[DeliveryError] = []  # raised by the next sends, in turn

    def interpret(self, inbound: Inbound, user: UserState) -> Step:
        return ToRasa(inbound.text)

    def shape(self, replies: Sequence[Reply], user: UserState) -> List[Outgoing]:
        return [Outgoing(reply.text, reply.buttons) for reply in replies]

    def is_control(self, inbound: Inbound) -> bool:
        return False

    async def send(self, address: str, messages: Sequence[Outgoing]) -> None:
        if self.refusals:
            raise self.refusals.pop(0)
        self.sent.append((address, list(messages)))


class World:
    """A delivery as the gateway builds it, over real Redis."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        keys = Keys(prefix)
        sealer = Sealer(Fernet.generate_key().decode())
        self.telegram = Provider()
        self.addresses = AddressBook(redis, sealer, keys, 86400)
        self.users = Users(redis, keys, 86400)
        self.metrics = Metrics()
        self.outbox = Outbox(
            redis,
            keys,
            sealer,
            self.addresses,
            self.users,
            {Channel.TELEGRAM: self.telegram.send},
            self.metrics,
            consumer="test",
        )
        self.delivery = Delivery(
            {Channel.TELEGRAM: self.telegram}, self.addresses, self.users, self.outbox
        )


@pytest.fixture
async def world(redis: Redis, prefix: str) -> World:
    built = World(redis, prefix)
    await built.outbox.ensure_group()
    await built.addresses.remember(ALICE, CHAT)
    return built


async def test_a_known_user_is_messaged_at_their_address(world: World) -> None:
    assert await world.delivery.to_user(ALICE, Channel.TELEGRAM, ANSWER) == "sent"
    assert world.telegram.sent == [(CHAT, ANSWER)]
    assert await world.outbox.pending() == 0


async def test_a_refusal_that_may_pass_is_queued_and_delivered_later(world: World) -> None:
    world.telegram.refusals = [DeliveryError("Telegram answered 502")]
    assert await world.delivery.to_user(ALICE, Channel.TELEGRAM, ANSWER) == "queued"
    assert world.telegram.sent == []
    assert await world.outbox.pending() == 1

    assert await world.outbox.work_once(block_ms=10) == 1  # the provider is back
    assert world.telegram.sent == [(CHAT, ANSWER)]
    assert await world.outbox.pending() == 0


async def test_an_opted_out_user_gets_nothing(world: World) -> None:
    await world.users.opt_out(ALICE)
    assert await world.delivery.to_user(ALICE, Channel.TELEGRAM, ANSWER) == "unreachable"
    assert world.telegram.sent == []
    assert await world.outbox.pending() == 0


async def test_a_user_whose_address_expired_or_was_erased_is_unreachable(
    world: World,
) -> None:
    await world.addresses.forget(ALICE)  # erased, or expired: the key is gone either way
    assert await world.delivery.to_user(ALICE, Channel.TELEGRAM, ANSWER) == "unreachable"
    stranger = "tg-" + "f" * 32  # never wrote to us
    assert await world.delivery.to_user(stranger, Channel.TELEGRAM, ANSWER) == "unreachable"
    assert world.telegram.sent == []
    assert await world.outbox.pending() == 0


async def test_a_refusal_for_good_is_not_retried(world: World) -> None:
    world.telegram.refusals = [DeliveryError("the user blocked the bot", permanent=True)]
    assert await world.delivery.to_user(ALICE, Channel.TELEGRAM, ANSWER) == "unreachable"
    assert world.telegram.sent == []
    assert await world.outbox.pending() == 0


async def test_nothing_to_send_or_no_such_channel_is_unreachable(world: World) -> None:
    assert await world.delivery.to_user(ALICE, Channel.TELEGRAM, []) == "unreachable"
    assert await world.delivery.to_user(ALICE, Channel.SMS, ANSWER) == "unreachable"
    assert await world.delivery.to_user(ALICE, None, ANSWER) == "unreachable"
    assert world.telegram.sent == []
    assert world.delivery.channel(Channel.TELEGRAM) is world.telegram
    assert world.delivery.channel(Channel.SMS) is None


async def test_staff_are_messaged_at_the_configured_address(world: World) -> None:
    assert await world.delivery.to_address(Channel.TELEGRAM, STAFF_CHAT, ANSWER)
    assert world.telegram.sent == [(STAFF_CHAT, ANSWER)]


async def test_a_failed_message_to_staff_is_reported_not_queued(world: World) -> None:
    world.telegram.refusals = [DeliveryError("Telegram answered 502")]
    assert not await world.delivery.to_address(Channel.TELEGRAM, STAFF_CHAT, ANSWER)
    assert not await world.delivery.to_address(Channel.SMS, "+923001110001", ANSWER)
    assert world.telegram.sent == []
    assert await world.outbox.pending() == 0
