"""Every message is taken in once, in order, and answered.

A webhook hands an ``Inbound`` message to ``Conversations.accept``, which in
one Redis transaction (a Lua script) drops it if its ``update_id`` /
``MessageSid`` was seen before, or appends it, sealed, to the user's inbox.
Then whoever holds the user's lock (any gateway process) drains that inbox
head first: the hotline may take the message (a claimed case), else the
channel interprets it (SMS keywords, menu numbers, MORE), Rasa answers, the
channel shapes the answer, and it is delivered. A message leaves the inbox
only after its answer was delivered or queued, so a crash or an outage of
Rasa loses nothing: the ``due`` schedule brings the inbox back to a process,
with backoff, until Rasa answers again.

The lock is hand-written rather than redis-py's ``Lock`` because it must move
together with the inbox: popping the answered head and extending the lock is
one script, releasing it and unscheduling an empty inbox another; a separate
lock could be released with a message still unscheduled.

Delivery: a channel that ``answers_in_webhook`` (SMS) gets its answer handed
to the waiting webhook (``replies.py``), or else to the outbox; other channels
send at once through ``delivery.py``.

Never logs message text, addresses or Telegram ids: only pseudonyms.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import Any, Awaitable, Dict, List, Mapping, Optional, Protocol, Sequence, Set

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot import texts
from bot.channels import ChannelDoor
from bot.conversation.delivery import Delivery
from bot.conversation.messages import (
    Accepted,
    Answer,
    Inbound,
    Outgoing,
    Step,
    ToRasa,
    UserState,
    clean_text,
)
from bot.conversation.replies import WebhookOutcome, WebhookReplies, waiting_seconds
from bot.conversation.users import Users
from bot.errors import RasaUnavailableError
from bot.identity import AddressBook, Pseudonyms
from bot.metrics import Metrics
from bot.rasa import RasaClient
from bot.settings import Settings
from contract.channels import Channel
from contract.keys import Keys
from contract.languages import ENGLISH, LANGUAGES
from contract.limits import TELEGRAM_MAX_TEXT
from contract.sealing import InvalidToken, Sealer
from contract.turns import TURN, turn_id

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = TELEGRAM_MAX_TEXT  # no channel sends more; longer (forged) bodies are cut
SEEN_TTL = 48 * 3600  # Telegram keeps undelivered updates 24 h
LOCK_MARGIN = 30.0  # a user's lock outlives one Rasa call by this much
SAFETY_NET_SECONDS = 30.0  # when an inbox is looked at again if its process died
MAX_BACKOFF = 60.0
RATE_WINDOW = 60  # seconds: the rate limit counts per clock minute

# Each script is one round trip doing what must happen together (Redis runs it atomically).
# KEYS: seen, inbox, due, rate, address, waiting. ARGV: seen ttl, sealed item, due score,
# pseudonym, rate limit, sealed address, address ttl, seconds a webhook will wait (0: none).
# Returns 1 new, 0 duplicate, -count over the limit.
ACCEPT_SCRIPT = """
local count = redis.call('INCR', KEYS[4])
if count == 1 then redis.call('EXPIRE', KEYS[4], 120) end
if count > tonumber(ARGV[5]) then return -count end
redis.call('SET', KEYS[5], ARGV[6], 'EX', ARGV[7])
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('ZADD', KEYS[3], 'NX', ARGV[3], ARGV[4])
  if tonumber(ARGV[8]) > 0 then redis.call('SET', KEYS[6], '1', 'EX', ARGV[8]) end
  return 1
end
return 0
"""
# The head is answered: drop it, extend our lock, return the next head. KEYS: inbox, lock.
ADVANCE_SCRIPT = """
redis.call('LPOP', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return redis.call('LINDEX', KEYS[1], 0)
"""
# Done for now: release our lock; if the inbox is empty, unschedule it. Returns its length.
# KEYS: inbox, lock, due, retries. ARGV: token, pseudonym, 1 when blocked (keep the schedule).
FINISH_SCRIPT = """
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
local left = redis.call('LLEN', KEYS[1])
if left == 0 and ARGV[3] == '0' then
  redis.call('ZREM', KEYS[3], ARGV[2])
  redis.call('DEL', KEYS[4])
end
return left
"""


class Handoff(Protocol):
    """The hotline's say before the assistant's (``bot/hotline/staff.py``)."""

    async def intercept(self, pseudonym: str, inbound: Inbound) -> Optional[List[Outgoing]]:
        """Messages for the user ([] for none) instead of the assistant's answer, or None."""

    async def forget(self, pseudonym: str) -> None:
        """The user erased their data."""


class Clock(Protocol):
    """Wall-clock seconds (injectable: tests pin the rate limit's minute)."""

    def __call__(self) -> float:
        """Now."""


class Conversations:
    """Takes messages in, keeps each user's in order, and gets them answered."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        settings: Settings,
        sealer: Sealer,
        addresses: AddressBook,
        users: Users,
        rasa: RasaClient,
        channels: Mapping[Channel, ChannelDoor],
        delivery: Delivery,
        replies: WebhookReplies,
        handoff: Handoff,
        metrics: Metrics,
        clock: Clock = time.time,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._pseudonyms = Pseudonyms(str(settings.pseudonym_key))
        self._sealer = sealer
        self._addresses = addresses
        self._users = users
        self._rasa = rasa
        self._channels = dict(channels)
        self._delivery = delivery
        self._replies = replies
        self._handoff = handoff
        self._metrics = metrics
        self._clock = clock
        self._rate_limit = settings.rate_limit_per_minute
        # A process that dies while answering frees its user after this.
        self._lock_ttl_ms = int((settings.rasa_timeout + LOCK_MARGIN) * 1000)
        self._accept = redis.register_script(ACCEPT_SCRIPT)
        self._advance = redis.register_script(ADVANCE_SCRIPT)
        self._finish = redis.register_script(FINISH_SCRIPT)
        self._tasks: Set[asyncio.Task[None]] = set()

    # -- the door -----------------------------------------------------------

    def pseudonym(self, channel: Channel, address: str) -> str:
        """The pseudonym of ``address`` on ``channel``."""
        return self._pseudonyms.of(channel, address)

    async def accept(self, inbound: Inbound, wait: float = 0.0) -> Accepted:
        """Takes a message in (once) and starts answering it; returns at once.

        ``wait``: how long the caller (an SMS webhook) will wait for the answer.
        """
        pseudonym = self.pseudonym(inbound.channel, inbound.address)
        now = self._clock()
        item = {
            "channel": inbound.channel.value,
            "message_id": inbound.message_id,
            "text": clean_text(inbound.text[:MAX_MESSAGE_CHARS]),
            "payload": clean_text(inbound.payload) if inbound.payload is not None else None,
            "media": inbound.media,
            "language_hint": inbound.language_hint,
            "language_choice": inbound.language_choice,
            "received": now,
        }
        sealed = self._sealer.seal(json.dumps(item, ensure_ascii=False))
        keys = self._keys
        outcome = int(
            await self._accept(
                keys=[
                    keys.seen(inbound.channel, inbound.message_id),
                    keys.inbox(pseudonym),
                    keys.due,
                    keys.rate(pseudonym, int(now // RATE_WINDOW)),
                    keys.address(pseudonym),
                    keys.waiting(inbound.message_id),
                ],
                args=[
                    SEEN_TTL,
                    sealed,
                    now + SAFETY_NET_SECONDS,
                    pseudonym,
                    self._rate_limit,
                    self._addresses.seal(inbound.address),
                    self._addresses.ttl,
                    waiting_seconds(wait),
                ],
            )
        )
        if outcome < 0:
            self._metrics.rate_limited.labels(inbound.channel.value).inc()
            first = -outcome == self._rate_limit + 1
            return Accepted(pseudonym, "rate_limited" if first else "rate_limited_again")
        if outcome == 0:
            self._metrics.duplicates.labels(inbound.channel.value).inc()
            return Accepted(pseudonym, "duplicate")
        self.spawn(self.drain(pseudonym))
        return Accepted(pseudonym, "new")

    async def take(self, inbound: Inbound) -> Accepted:
        """``accept`` for channels that reply by sending: the rate-limit notice is sent here."""
        accepted = await self.accept(inbound)
        if accepted.status == "rate_limited":
            language = await self._users.language_of(accepted.pseudonym) or inbound.language_hint
            notice = [Outgoing(texts.text("rate_limited", language))]
            await self._delivery.to_address(inbound.channel, inbound.address, notice)
        return accepted

    async def language_of(self, pseudonym: str) -> Optional[str]:
        """The conversation's language as last seen, if any."""
        return await self._users.language_of(pseudonym)

    async def opt_out(self, pseudonym: str) -> None:
        """Stops every SMS to this user at once, before their STOP is answered in turn."""
        await self._users.opt_out(pseudonym)

    async def wait_for_answer(
        self, message_id: str, budget: float
    ) -> tuple[WebhookOutcome, List[Outgoing]]:
        """For a webhook that answers in its response: the answer, or "holding" past the budget."""
        return await self._replies.wait(message_id, budget)

    def spawn(self, coroutine: Awaitable[None]) -> None:
        """Runs work in the background, keeping a reference until it ends."""
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """Logs a failed background task: a Redis outage without a traceback."""
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if isinstance(error, RedisError):
            logger.warning("background work stopped by Redis: %s", type(error).__name__)
        elif error is not None:
            logger.error("background work failed", exc_info=error)

    async def wait_idle(self) -> None:
        """Waits for background work started here (used at shutdown and in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- the inbox ----------------------------------------------------------

    async def drain(self, pseudonym: str) -> None:
        """Answers the user's queued messages in order, if no other process is doing so."""
        inbox = self._keys.inbox(pseudonym)
        lock = self._keys.lock(pseudonym)
        while True:
            token = secrets.token_hex(16)
            if not await self._redis.set(lock, token, nx=True, px=self._lock_ttl_ms):
                return  # the holder drains, and looks again after releasing
            blocked = False
            try:
                head: Optional[bytes] = await self._redis.lindex(inbox, 0)  # type: ignore[assignment]
                while head is not None:
                    if not await self._answer(pseudonym, head):
                        blocked = True
                        break
                    head = await self._advance(keys=[inbox, lock], args=[token, self._lock_ttl_ms])
            finally:
                left = int(
                    await self._finish(
                        keys=[inbox, lock, self._keys.due, self._keys.retries(pseudonym)],
                        args=[token, pseudonym, int(blocked)],
                    )
                )
            if blocked or not left:
                return

    async def _answer(self, pseudonym: str, raw: bytes) -> bool:
        """Answers one queued message; False when it must wait (Rasa unavailable)."""
        try:
            item: Dict[str, Any] = json.loads(self._sealer.open(raw))
        except (InvalidToken, ValueError):
            # Sealed with a key no longer configured, or malformed: nobody can answer it,
            # and it must not keep the user's later messages waiting.
            logger.error("a queued message for %s cannot be read; skipped", pseudonym)
            self._metrics.errors.labels("unreadable").inc()
            return True
        name = Channel.parse(item["channel"])
        channel = self._channels.get(name) if name is not None else None
        if channel is None:
            logger.error("no channel %r configured; dropping a queued message", item["channel"])
            return True
        started = time.monotonic()
        user = await self._users.load(pseudonym)
        inbound = Inbound(
            channel=channel.name,
            address="",
            message_id=item["message_id"],
            text=item.get("text") or "",
            payload=item.get("payload"),
            media=item.get("media"),
            language_hint=item.get("language_hint"),
            language_choice=item.get("language_choice"),
        )
        erase = False
        try:
            held = (
                None
                if channel.is_control(inbound)
                else await self._handoff.intercept(pseudonym, inbound)
            )
            step: Step = (
                Answer(tuple(held)) if held is not None else channel.interpret(inbound, user)
            )
            if isinstance(step, ToRasa):
                metadata = {
                    "channel": channel.name.value,
                    "language": user.language or inbound.language_hint or ENGLISH,
                    TURN: turn_id(channel.name.value, inbound.message_id),  # a retry runs once
                    **step.metadata,
                }
                replies = await self._rasa.send(pseudonym, step.message, metadata)
                for reply in replies:
                    if reply.language in LANGUAGES:
                        user.language = reply.language
                erase = any(
                    (reply.response or "").startswith("utter_data_deleted") for reply in replies
                )
                messages = channel.shape(replies, user)
            else:
                messages = list(step.messages)
        except RasaUnavailableError as error:
            self._metrics.errors.labels("rasa_unavailable").inc()
            await self._hold(pseudonym, channel, inbound.message_id, user)
            await self._retry_later(pseudonym)
            logger.warning("rasa unavailable for %s: %s", pseudonym, error)
            return False
        except Exception:
            # A bug must not wedge the user's inbox: apologise and move on.
            logger.exception("answering a message for %s failed", pseudonym)
            self._metrics.errors.labels("internal").inc()
            messages = [Outgoing(texts.text("error", user.language))]
        if not erase:
            await self._users.save(pseudonym, user)
        try:
            await self._deliver(pseudonym, channel, inbound.message_id, messages)
        except RedisError:
            raise  # the message stays queued; the sweeper tries again
        except Exception:
            # A bug in delivery must not wedge the inbox either: the message is spent.
            logger.exception("delivering an answer to %s failed", pseudonym)
            self._metrics.errors.labels("delivery").inc()
        if erase:  # after the confirmation went out: it needed the address
            await self.forget(pseudonym)
        elapsed = time.monotonic() - started
        self._metrics.handled.labels(channel.name.value, user.language or "unknown").inc()
        self._metrics.latency.labels(channel.name.value).observe(elapsed)
        logger.info(
            "answered",
            extra={
                "pseudonym": pseudonym,
                "channel": channel.name.value,
                "language": user.language,
                "messages": len(messages),
                "seconds": round(elapsed, 3),
            },
        )
        return True

    async def _retry_later(self, pseudonym: str) -> None:
        retries = self._keys.retries(pseudonym)
        tries = int(await self._redis.incr(retries))
        await self._redis.expire(retries, 86400)
        delay = min(MAX_BACKOFF, 2.0 ** min(tries, 6))
        await self._redis.zadd(self._keys.due, {pseudonym: self._clock() + delay})

    async def _hold(
        self, pseudonym: str, channel: ChannelDoor, message_id: str, user: UserState
    ) -> None:
        """Tells the user, once per message, that the answer will come later."""
        held = await self._redis.set(
            self._keys.held(channel.name, message_id), "1", nx=True, ex=SEEN_TTL
        )
        if not held:
            return
        if channel.answers_in_webhook:
            await self._replies.release(message_id)  # the webhook sends the holding message
            return
        holding = [Outgoing(texts.text("holding", user.language))]
        await self._deliver(pseudonym, channel, message_id, holding)

    # -- delivery -----------------------------------------------------------

    async def _deliver(
        self,
        pseudonym: str,
        channel: ChannelDoor,
        message_id: str,
        messages: Sequence[Outgoing],
    ) -> None:
        if channel.answers_in_webhook:
            if not await self._replies.hand_over(message_id, messages) and messages:
                await self._delivery.queue(pseudonym, channel.name, messages)
            return
        if not messages:
            return
        if await self._delivery.to_user(pseudonym, channel.name, messages) == "unreachable":
            self._metrics.errors.labels("unreachable").inc()

    # -- erasure ------------------------------------------------------------

    async def forget(self, pseudonym: str) -> None:
        """Erases what the gateway keeps about a user (the opt-out stays, by law and kindness)."""
        await self._users.forget(pseudonym)
        await self._addresses.forget(pseudonym)
        await self._handoff.forget(pseudonym)

    # -- background ---------------------------------------------------------

    async def sweep(self, interval: float = 1.0) -> None:
        """Forever: drains inboxes whose retry time has come (Rasa back, a process died)."""
        while True:
            try:
                due: List[bytes] = await self._redis.zrangebyscore(  # type: ignore[assignment]
                    self._keys.due, "-inf", self._clock(), start=0, num=50
                )
                for pseudonym in due:
                    self.spawn(self.drain(pseudonym.decode()))
            except Exception as error:  # an outage is a warning, without a traceback a second
                log = logger.warning if isinstance(error, RedisError) else logger.exception
                log("sweeping due inboxes failed: %s", type(error).__name__)
            await asyncio.sleep(interval)
