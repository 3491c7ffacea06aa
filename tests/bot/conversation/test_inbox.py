"""Every message taken in once, in order, and answered: the inbox, with real Redis.

The conversation is built as ``bot/app.py`` builds it (real Redis, sealing, address
book, outbox, webhook replies, Rasa client), with the Rasa stand-in served in the
test's loop. Only the outside world is played: the channel's provider (a channel
that records what it sends) and the hotline's say (a handoff that holds chosen
users' conversations). The clock is injected, so the rate limit's minute and the
retry schedule are pinned rather than waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Dict, List, Optional, Sequence, Tuple

import httpx
import pytest
from redis.asyncio import Redis

from bot import texts
from bot.conversation.delivery import Delivery
from bot.conversation.inbox import MAX_BACKOFF, Conversations
from bot.conversation.messages import Inbound, Outgoing, Step, ToRasa, UserState
from bot.conversation.outbox import Outbox
from bot.conversation.replies import WebhookReplies
from bot.conversation.users import Users
from bot.identity import AddressBook
from bot.metrics import Metrics
from bot.rasa import RasaClient, Reply
from bot.settings import Settings
from contract.channels import Channel
from contract.keys import Keys
from contract.languages import URDU
from contract.sealing import Sealer
from tests.bot.conftest import environment, serving
from tests.bot.fake_rasa import FakeRasa

CHAT, OTHER_CHAT = "731904562", "731904563"
PHONE = "+923001234567"
RATE_LIMIT = 10
BUG = "this message trips a bug in the channel"
START = 1_800_000_000.0 - 1_800_000_000.0 % 60 + 10  # ten seconds into a clock minute


class Door:
    """A front door whose provider records what it was asked to send."""

    def __init__(self, name: Channel, answers_in_webhook: bool = False) -> None:
        self.name = name
        self.answers_in_webhook = answers_in_webhook
        self.sent: List[Tuple[str, List[Outgoing]]] = []

    def interpret(self, inbound: Inbound, user: UserState) -> Step:
        if inbound.text == BUG:
            raise RuntimeError("a bug in interpret")
        return ToRasa(inbound.payload or inbound.text)

    def shape(self, replies: Sequence[Reply], user: UserState) -> List[Outgoing]:
        return [Outgoing(reply.text, reply.buttons) for reply in replies]

    def is_control(self, inbound: Inbound) -> bool:
        return False

    async def send(self, address: str, messages: Sequence[Outgoing]) -> None:
        self.sent.append((address, list(messages)))

    def texts(self, address: str = CHAT) -> List[str]:
        """What reached ``address``, in order."""
        return [m.text for to, messages in self.sent if to == address for m in messages]


class FakeHandoff:
    """The hotline as the inbox sees it: it may hold a user's conversation, and hears erasures."""

    def __init__(self) -> None:
        self.holding: Dict[str, List[Outgoing]] = {}  # pseudonym → what staff answer instead
        self.forgotten: List[str] = []

    async def intercept(self, pseudonym: str, inbound: Inbound) -> Optional[List[Outgoing]]:
        return self.holding.get(pseudonym)

    async def forget(self, pseudonym: str) -> None:
        self.forgotten.append(pseudonym)
        self.holding.pop(pseudonym, None)


class Clock:
    """Wall-clock time that moves only when the test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class World:
    """One gateway's conversation machinery, built as ``bot/app.py`` builds it."""

    def __init__(self, redis: Redis, settings: Settings, http: httpx.AsyncClient) -> None:
        self.redis = redis
        self.settings = settings
        self.keys = Keys(settings.redis_prefix)
        self.sealer = Sealer(str(settings.data_keys))
        retention = settings.address_retention_days * 86400
        self.addresses = AddressBook(redis, self.sealer, self.keys, retention)
        self.users = Users(redis, self.keys, retention)
        self.rasa_client = RasaClient(settings.rasa_url, settings.rasa_timeout, http)
        self.telegram = Door(Channel.TELEGRAM)
        self.sms = Door(Channel.SMS, answers_in_webhook=True)
        self.channels = {Channel.TELEGRAM: self.telegram, Channel.SMS: self.sms}
        self.metrics = Metrics()
        self.outbox = Outbox(
            redis,
            self.keys,
            self.sealer,
            self.addresses,
            self.users,
            {name: door.send for name, door in self.channels.items()},
            self.metrics,
            consumer="test",
        )
        self.delivery = Delivery(self.channels, self.addresses, self.users, self.outbox)
        self.hotline = FakeHandoff()
        self.clock = Clock()
        self.processes: List[Conversations] = []

    def process(self) -> Conversations:
        """A gateway process's conversations (several share one Redis, as in production)."""
        conversations = Conversations(
            self.redis,
            self.keys,
            self.settings,
            self.sealer,
            self.addresses,
            self.users,
            self.rasa_client,
            self.channels,
            self.delivery,
            WebhookReplies(self.redis, self.keys),
            self.hotline,
            self.metrics,
            clock=self.clock,
        )
        self.processes.append(conversations)
        return conversations

    async def idle(self) -> None:
        """Waits until every process has finished the work it started."""
        for conversations in self.processes:
            await conversations.wait_idle()

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def rasa() -> AsyncIterator[Tuple[FakeRasa, str]]:
    fake = FakeRasa()
    async with serving(fake.app()) as url:
        yield fake, url


@pytest.fixture
async def world(redis: Redis, prefix: str, rasa: Tuple[FakeRasa, str]) -> AsyncIterator[World]:
    env = environment(
        PUBLIC_URL="https://rahnuma.example.org",
        REDIS_PREFIX=prefix,
        RASA_URL=rasa[1],
        RASA_TIMEOUT_SECONDS="5",
        RATE_LIMIT_PER_MINUTE=str(RATE_LIMIT),
    )
    async with httpx.AsyncClient() as http:
        built = World(redis, Settings.load(environ=env), http)
        await built.outbox.ensure_group()
        yield built
        await built.idle()


@pytest.fixture
def conversations(world: World) -> Conversations:
    return world.process()


@pytest.fixture
def fake_rasa(rasa: Tuple[FakeRasa, str]) -> FakeRasa:
    return rasa[0]


def telegram(message_id: int, text: str, chat: str = CHAT) -> Inbound:
    return Inbound(Channel.TELEGRAM, chat, str(message_id), text, language_hint="en")


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 10) -> None:
    """Waits for ``condition``; fails naming ``what`` did not happen."""

    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), timeout)
    except asyncio.TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def stop(task: asyncio.Task[None]) -> None:
    """Cancels ``task`` and waits for it to end.

    Cancelled again until it ends: on Python 3.11, ``asyncio.wait_for`` (which redis-py
    uses around socket writes) drops a cancellation that arrives as the write completes.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    with contextlib.suppress(asyncio.CancelledError):
        task.result()


# -- taken in once -------------------------------------------------------------------


async def test_a_message_is_answered_and_rasa_sees_only_a_pseudonym(
    world: World, conversations: Conversations, fake_rasa: FakeRasa
) -> None:
    accepted = await conversations.accept(telegram(1, "How can I work in Saudi Arabia?"))
    assert accepted.status == "new"
    await world.idle()
    assert world.telegram.texts() == ["echo: How can I work in Saudi Arabia?"]
    (body,) = fake_rasa.received
    assert body["sender"] == accepted.pseudonym == conversations.pseudonym(Channel.TELEGRAM, CHAT)
    assert CHAT not in body["sender"]
    assert body["metadata"]["channel"] == "telegram"
    assert world.count("rahnuma_messages_handled_total", channel="telegram", language="en") == 1


async def test_a_redelivered_message_is_answered_once(
    world: World, conversations: Conversations, fake_rasa: FakeRasa
) -> None:
    message = telegram(7, "hello")
    statuses = [(await conversations.accept(message)).status for _ in range(2)]
    await world.idle()
    statuses.append((await world.process().accept(message)).status)  # later, to another process
    await world.idle()
    assert statuses == ["new", "duplicate", "duplicate"]
    assert fake_rasa.messages() == ["hello"]
    assert world.telegram.texts() == ["echo: hello"]
    assert world.count("rahnuma_duplicates_total", channel="telegram") == 2


# -- the rate limit ---------------------------------------------------------------------


async def test_over_the_rate_limit_one_notice_then_silence_until_the_next_minute(
    world: World, conversations: Conversations, fake_rasa: FakeRasa
) -> None:
    words = [f"question {n}" for n in range(RATE_LIMIT)]
    for n, text in enumerate(words):
        assert (await conversations.take(telegram(n, text))).status == "new"
    await world.idle()
    answers = [f"echo: {text}" for text in words]
    assert world.telegram.texts() == answers

    world.clock.now += 45  # still the same minute
    over = [(await conversations.take(telegram(100 + n, "again"))).status for n in range(3)]
    assert over == ["rate_limited", "rate_limited_again", "rate_limited_again"]
    assert (await conversations.take(telegram(200, "hi", chat=OTHER_CHAT))).status == "new"
    await world.idle()
    notice = texts.text("rate_limited", "en")
    assert world.telegram.texts() == [*answers, notice]  # one notice, then silence
    assert "again" not in fake_rasa.messages()  # nothing over the limit reached the assistant
    assert world.count("rahnuma_rate_limited_total", channel="telegram") == 3

    world.clock.now += 15  # the next minute
    assert (await conversations.take(telegram(300, "next minute"))).status == "new"
    await world.idle()
    assert world.telegram.texts() == [*answers, notice, "echo: next minute"]


async def test_the_sms_webhook_is_told_to_send_the_notice_once(
    world: World, conversations: Conversations
) -> None:
    statuses = [
        (await conversations.accept(Inbound(Channel.SMS, PHONE, f"SM{n:032d}", "hi"))).status
        for n in range(RATE_LIMIT + 2)
    ]
    assert statuses == ["new"] * RATE_LIMIT + ["rate_limited", "rate_limited_again"]


# -- in order ---------------------------------------------------------------------------


async def test_one_users_messages_are_answered_in_order_across_processes(
    world: World, fake_rasa: FakeRasa
) -> None:
    fake_rasa.jitter = 0.05  # answers take random time: only the inbox keeps them in order
    first, second = world.process(), world.process()
    words = [f"message {n}" for n in range(8)]
    for n, text in enumerate(words):
        process = first if n % 2 == 0 else second
        assert (await process.accept(telegram(n, text))).status == "new"
    await world.idle()
    assert fake_rasa.messages() == words
    assert world.telegram.texts() == [f"echo: {text}" for text in words]
    pseudonym = first.pseudonym(Channel.TELEGRAM, CHAT)
    assert await world.redis.llen(world.keys.inbox(pseudonym)) == 0
    assert await world.redis.zscore(world.keys.due, pseudonym) is None


# -- Rasa unavailable -------------------------------------------------------------------


async def test_while_rasa_is_down_the_message_is_kept_and_retried_on_schedule(
    world: World, conversations: Conversations, fake_rasa: FakeRasa
) -> None:
    keys, redis, clock = world.keys, world.redis, world.clock
    fake_rasa.down = True
    accepted = await conversations.accept(telegram(1, "is anyone there?"))
    await world.idle()
    holding = texts.text("holding", "en")
    assert world.telegram.texts() == [holding]
    assert await redis.llen(keys.inbox(accepted.pseudonym)) == 1  # kept
    due = await redis.zscore(keys.due, accepted.pseudonym)
    assert due is not None and clock.now < due <= clock.now + MAX_BACKOFF
    assert world.count("rahnuma_errors_total", kind="rasa_unavailable") == 1

    sweeper = asyncio.create_task(conversations.sweep(interval=0.01))
    try:
        clock.now = due  # its time has come: the sweeper tries again, Rasa still down

        async def retried() -> bool:
            return int(await redis.get(keys.retries(accepted.pseudonym)) or 0) >= 2

        await until(retried, "a second attempt while Rasa is down")
        assert len(fake_rasa.received) >= 2
        assert world.telegram.texts() == [holding]  # the holding message is not repeated
        later = await redis.zscore(keys.due, accepted.pseudonym)
        assert later is not None and later > clock.now

        fake_rasa.down = False
        clock.now = later

        async def answered() -> bool:
            return len(world.telegram.sent) >= 2

        await until(answered, "the answer once Rasa is back")
    finally:
        await stop(sweeper)
    await world.idle()
    assert world.telegram.texts() == [holding, "echo: is anyone there?"]
    assert await redis.llen(keys.inbox(accepted.pseudonym)) == 0
    assert await redis.zscore(keys.due, accepted.pseudonym) is None
    assert not await redis.exists(keys.retries(accepted.pseudonym))


async def test_an_sms_answer_ready_in_time_goes_back_in_the_webhook(
    world: World, conversations: Conversations
) -> None:
    sid = "SM" + "1" * 32
    assert (await conversations.accept(Inbound(Channel.SMS, PHONE, sid, "hi"), 5)).status == "new"
    outcome = await conversations.wait_for_answer(sid, 5)
    await world.idle()
    assert outcome == ("answer", [Outgoing("echo: hi")])
    assert world.sms.sent == []  # not sent a second time by the REST API
    assert await world.outbox.pending() == 0


async def test_an_sms_held_for_rasa_answers_holding_and_the_answer_follows(
    world: World, conversations: Conversations, fake_rasa: FakeRasa
) -> None:
    fake_rasa.down = True
    sid = "SM" + "2" * 32
    budget = 60.0  # only the release can end the webhook's wait before the test times out
    await conversations.accept(Inbound(Channel.SMS, PHONE, sid, "is anyone there?"), budget)
    outcome = await asyncio.wait_for(conversations.wait_for_answer(sid, budget), 10)
    assert outcome == ("holding", [])  # the webhook sends the holding message as TwiML
    await world.idle()

    fake_rasa.down = False
    await conversations.drain(conversations.pseudonym(Channel.SMS, PHONE))
    assert world.sms.sent == []  # the webhook is gone: the answer went to the outbox
    assert await world.outbox.work_once(block_ms=10) == 1
    assert world.sms.texts(PHONE) == ["echo: is anyone there?"]


# -- bugs -------------------------------------------------------------------------------


async def test_a_bug_in_the_channel_apologises_and_the_next_message_is_answered(
    world: World, conversations: Conversations, fake_rasa: FakeRasa
) -> None:
    await conversations.accept(telegram(1, "سلام"))  # the conversation is in Urdu from here
    await conversations.accept(telegram(2, BUG))
    await conversations.accept(telegram(3, "after"))
    await world.idle()
    assert world.telegram.texts() == ["echo: سلام", texts.text("error", URDU), "echo: after"]
    assert BUG not in fake_rasa.messages()
    assert world.count("rahnuma_errors_total", kind="internal") == 1
    pseudonym = conversations.pseudonym(Channel.TELEGRAM, CHAT)
    assert await world.redis.llen(world.keys.inbox(pseudonym)) == 0


# -- the hotline and erasure ------------------------------------------------------------


async def test_a_conversation_held_by_the_hotline_does_not_reach_the_assistant(
    world: World, conversations: Conversations, fake_rasa: FakeRasa
) -> None:
    pseudonym = conversations.pseudonym(Channel.TELEGRAM, CHAT)
    world.hotline.holding[pseudonym] = [Outgoing("Your message went to the counsellor.")]
    await conversations.accept(telegram(1, "they took my passport"))
    await conversations.accept(telegram(2, "hello", chat=OTHER_CHAT))
    await world.idle()
    assert world.telegram.texts() == ["Your message went to the counsellor."]
    assert world.telegram.texts(OTHER_CHAT) == ["echo: hello"]
    assert fake_rasa.messages() == ["hello"]


async def test_erasure_forgets_the_users_state_address_and_handoff(
    world: World, conversations: Conversations
) -> None:
    pseudonym = conversations.pseudonym(Channel.TELEGRAM, CHAT)
    user_key, address_key = world.keys.user(pseudonym), world.keys.address(pseudonym)
    await conversations.accept(telegram(1, "hello"))
    await world.idle()
    assert await world.redis.exists(user_key, address_key) == 2

    await conversations.accept(telegram(2, "/delete_my_data"))
    await world.idle()
    # The confirmation still reached the user: it was sent before the address went.
    assert world.telegram.texts() == ["echo: hello", "Your data has been deleted."]
    assert await world.redis.exists(user_key, address_key) == 0
    assert world.hotline.forgotten == [pseudonym]
    assert await world.delivery.to_user(pseudonym, Channel.TELEGRAM, [Outgoing("hi")]) == (
        "unreachable"
    )
