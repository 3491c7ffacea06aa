"""The heart of the gateway: every message is taken in once, in order, and answered.

A webhook hands an ``Inbound`` message to ``Conversations.accept``, which in
one Redis transaction (a Lua script) drops it if its ``update_id`` /
``MessageSid`` was seen before, or appends it, sealed, to the user's inbox.
Then whoever holds the user's lock (any gateway process) drains that inbox
head first: the channel interprets the message (SMS keywords, menu numbers,
MORE), Rasa answers, the channel shapes the answer, and it is delivered. A
message leaves the inbox only after its answer was delivered or queued, so a
crash or an outage of Rasa loses nothing: the ``due`` schedule brings the
inbox back to a process, with backoff, until Rasa answers again.

Delivery: Telegram replies are sent through the Bot API at once. An SMS
webhook waits up to its budget for its own answer to come back as TwiML; if
the budget runs out or Rasa is down, the webhook answers with a short holding
message and the real answer goes through the outbox (Twilio's REST API) when
it exists. Who answers is decided by an atomic claim, so an answer is never
sent both ways and never lost between them.

Never logs message text, addresses or Telegram ids: only pseudonyms.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Protocol, Sequence, Set, Tuple

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot import texts
from bot.errors import DeliveryError, RasaUnavailableError
from bot.identity import AddressBook, Pseudonyms, Sealer
from bot.metrics import Metrics
from bot.rasa import Button, RasaClient, Reply
from bot.settings import Settings

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096  # Telegram's own limit; longer (forged) bodies are cut
SEEN_TTL = 48 * 3600  # Telegram keeps undelivered updates 24 h
LOCK_MARGIN = 30.0  # a user's lock outlives one Rasa call by this much
SAFETY_NET_SECONDS = 30.0  # when an inbox is looked at again if its process died
MAX_BACKOFF = 60.0
REPLY_TTL = 300
WAIT_MARGIN = 6.0  # the waiting mark outlives the webhook's budget by this much

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
# Hand an answer to the waiting webhook unless it gave up, or its process died (its
# "waiting" mark expired): then the outbox sends it. KEYS: claim, replies, waiting.
CLAIM_SCRIPT = """
if ARGV[1] == 'sync' and redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0
"""


# Characters no message needs and XML or UTF-8 cannot carry: C0 controls but tab
# and newline, DEL, lone surrogates, the two non-characters.
_UNCARRIABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean_text(text: str) -> str:
    """``text`` without the characters that cannot travel (the rest, RTL marks too, stays)."""
    return _UNCARRIABLE.sub("", text)


@dataclass(frozen=True)
class Inbound:
    """One message from a user, as a webhook or the poller received it."""

    channel: str  # "telegram" | "sms"
    address: str  # chat id or phone number: only ever stored encrypted
    message_id: str  # update_id or MessageSid: duplicates are dropped on it
    text: str = ""
    payload: Optional[str] = None  # a pressed button: sent to Rasa verbatim
    media: Optional[str] = None  # what kind of non-text content arrived
    language_hint: Optional[str] = None
    language_choice: Optional[str] = None


@dataclass(frozen=True)
class Outgoing:
    """One message to a user, shaped for its channel."""

    text: str
    buttons: Tuple[Button, ...] = ()


@dataclass
class UserState:
    """What the gateway remembers of a conversation between messages."""

    language: Optional[str] = None
    menu: List[str] = field(default_factory=list)  # payloads behind "1", "2", ...
    more: List[str] = field(default_factory=list)  # SMS pages still to send
    opted_out: bool = False
    was_opted_out: bool = False  # as loaded: only a change is written back


@dataclass(frozen=True)
class ToRasa:
    """Send this to the assistant."""

    message: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """Answer locally, without the assistant."""

    messages: Tuple[Outgoing, ...] = ()


Step = ToRasa | Answer


class Channel(Protocol):
    """What a front door (Telegram, SMS) contributes to a conversation."""

    name: str

    def interpret(self, inbound: Inbound, user: UserState) -> Step:
        """What to do with an inbound message: ask the assistant or answer locally."""

    def shape(self, replies: Sequence[Reply], user: UserState) -> List[Outgoing]:
        """The assistant's replies as this channel's messages (may update ``user``)."""

    async def send(self, address: str, messages: Sequence[Outgoing]) -> None:
        """Delivers messages now; raises DeliveryError when the provider refuses."""


class Handoff(Protocol):
    """The hotline's say before the assistant's (``bot/hotline.py``)."""

    async def intercept(self, pseudonym: str, inbound: Inbound) -> Optional[List[Outgoing]]:
        """Messages for the user ([] for none) instead of the assistant's answer, or None."""

    async def forget(self, pseudonym: str) -> None:
        """The user erased their data."""


class Outbox(Protocol):
    """Where replies wait when they cannot be delivered at once (``bot/outbox.py``)."""

    async def put(self, pseudonym: str, channel: str, messages: Sequence[Outgoing]) -> None:
        """Queues messages for delivery to ``pseudonym``."""


@dataclass(frozen=True)
class Accepted:
    """What became of an inbound message at the door."""

    pseudonym: str
    status: str  # "new" | "duplicate" | "rate_limited" | "rate_limited_again"


def encode_outgoing(messages: Sequence[Outgoing]) -> str:
    """Messages as the JSON the outbox and the reply lists carry."""
    return json.dumps([asdict(message) for message in messages], ensure_ascii=False)


def decode_outgoing(raw: str) -> List[Outgoing]:
    """The inverse of the JSON the outbox and the reply lists carry."""
    return [
        Outgoing(item["text"], tuple(Button(**button) for button in item.get("buttons") or ()))
        for item in json.loads(raw)
    ]


class Conversations:
    """Takes messages in, keeps each user's in order, and gets them answered."""

    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        sealer: Sealer,
        addresses: AddressBook,
        rasa: RasaClient,
        outbox: Outbox,
        metrics: Metrics,
    ) -> None:
        self._redis = redis
        self._prefix = settings.redis_prefix
        self._pseudonyms = Pseudonyms(str(settings.pseudonym_key))
        self._sealer = sealer
        self.addresses = addresses
        self._rasa = rasa
        self.outbox = outbox
        self._metrics = metrics
        self._rate_limit = settings.rate_limit_per_minute
        self._retention = addresses.ttl  # a user's state lives as long as their address
        # A process that dies while answering frees its user after this.
        self._lock_ttl_ms = int((settings.rasa_timeout + LOCK_MARGIN) * 1000)
        self._accept = redis.register_script(ACCEPT_SCRIPT)
        self._advance = redis.register_script(ADVANCE_SCRIPT)
        self._finish = redis.register_script(FINISH_SCRIPT)
        self._claim = redis.register_script(CLAIM_SCRIPT)
        self.channels: Dict[str, Channel] = {}
        self.hotline: Optional[Handoff] = None
        self._tasks: Set[asyncio.Task[None]] = set()

    # -- keys --------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    @property
    def _due(self) -> str:
        return self._key("due")

    # -- the door -----------------------------------------------------------

    def pseudonym(self, channel: str, address: str) -> str:
        """The pseudonym of ``address`` on ``channel``."""
        return self._pseudonyms.of(channel, address)

    async def accept(self, inbound: Inbound, wait: float = 0.0) -> Accepted:
        """Takes a message in (once) and starts answering it; returns at once.

        ``wait``: how long the caller (an SMS webhook) will wait for the answer.
        """
        pseudonym = self.pseudonym(inbound.channel, inbound.address)
        window = int(time.time() // 60)
        item = {
            "channel": inbound.channel,
            "message_id": inbound.message_id,
            "text": clean_text(inbound.text[:MAX_MESSAGE_CHARS]),
            "payload": clean_text(inbound.payload) if inbound.payload is not None else None,
            "media": inbound.media,
            "language_hint": inbound.language_hint,
            "language_choice": inbound.language_choice,
            "received": time.time(),
        }
        sealed = self._sealer.seal(json.dumps(item, ensure_ascii=False))
        outcome = int(await self._accept(
            keys=[
                self._key("seen", inbound.channel, inbound.message_id),
                self._key("inbox", pseudonym),
                self._due,
                self._key("rate", pseudonym, str(window)),
                self.addresses.key(pseudonym),
                self._key("waiting", inbound.message_id),
            ],
            args=[
                SEEN_TTL, sealed, time.time() + SAFETY_NET_SECONDS, pseudonym, self._rate_limit,
                self.addresses.seal(inbound.address), self.addresses.ttl,
                math.ceil(wait + WAIT_MARGIN) if wait else 0,
            ],
        ))
        if outcome < 0:
            self._metrics.rate_limited.labels(inbound.channel).inc()
            first = -outcome == self._rate_limit + 1
            return Accepted(pseudonym, "rate_limited" if first else "rate_limited_again")
        if outcome == 0:
            self._metrics.duplicates.labels(inbound.channel).inc()
            return Accepted(pseudonym, "duplicate")
        self.spawn(self.drain(pseudonym))
        return Accepted(pseudonym, "new")

    async def take(self, inbound: Inbound) -> Accepted:
        """``accept`` for channels that reply by sending: the rate-limit notice is sent here."""
        accepted = await self.accept(inbound)
        if accepted.status == "rate_limited":
            language = await self.language_of(accepted.pseudonym) or inbound.language_hint
            notice = [Outgoing(texts.text("rate_limited", language))]
            try:
                await self.channels[inbound.channel].send(inbound.address, notice)
            except DeliveryError as error:
                logger.warning("rate-limit notice to %s failed: %s", accepted.pseudonym, error)
        return accepted

    def spawn(self, coroutine: Any) -> None:
        """Runs work in the background, keeping a reference until it ends."""
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Waits for background work started here (used at shutdown and in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- the inbox ----------------------------------------------------------

    async def drain(self, pseudonym: str) -> None:
        """Answers the user's queued messages in order, if no other process is doing so."""
        inbox = self._key("inbox", pseudonym)
        lock = self._key("lock", pseudonym)
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
                left = int(await self._finish(
                    keys=[inbox, lock, self._due, self._key("retries", pseudonym)],
                    args=[token, pseudonym, int(blocked)],
                ))
            if blocked or not left:
                return

    async def _answer(self, pseudonym: str, raw: bytes) -> bool:
        """Answers one queued message; False when it must wait (Rasa unavailable)."""
        item: Dict[str, Any] = json.loads(self._sealer.open(raw))
        channel = self.channels.get(item["channel"])
        if channel is None:
            logger.error("no channel %r configured; dropping a queued message", item["channel"])
            return True
        started = time.monotonic()
        user = await self._load_user(pseudonym)
        inbound = Inbound(
            channel=item["channel"],
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
            held = await self.hotline.intercept(pseudonym, inbound) if self.hotline else None
            step: Step = Answer(tuple(held)) if held is not None else channel.interpret(
                inbound, user
            )
            if isinstance(step, ToRasa):
                metadata = {
                    "channel": channel.name,
                    "language": user.language or inbound.language_hint or texts.ENGLISH,
                    **step.metadata,
                }
                replies = await self._rasa.send(pseudonym, step.message, metadata)
                for reply in replies:
                    if reply.language in texts.LANGUAGES:
                        user.language = reply.language
                erase = any(
                    (reply.response or "").startswith("utter_data_deleted") for reply in replies
                )
                messages = channel.shape(replies, user)
            else:
                messages = list(step.messages)
        except RasaUnavailableError as error:
            self._metrics.errors.labels("rasa_unavailable").inc()
            await self._hold(pseudonym, item, user)
            await self._retry_later(pseudonym)
            logger.warning("rasa unavailable for %s: %s", pseudonym, error)
            return False
        except Exception:
            # A bug must not wedge the user's inbox: apologise and move on.
            logger.exception("answering a message for %s failed", pseudonym)
            self._metrics.errors.labels("internal").inc()
            messages = [Outgoing(texts.text("error", user.language))]
        if not erase:
            await self._save_user(pseudonym, user)
        try:
            await self._deliver(pseudonym, item, messages)
        except RedisError:
            raise  # the message stays queued; the sweeper tries again
        except Exception:
            # A bug in delivery must not wedge the inbox either: the message is spent.
            logger.exception("delivering an answer to %s failed", pseudonym)
            self._metrics.errors.labels("delivery").inc()
        if erase:  # after the confirmation went out: it needed the address
            await self.forget(pseudonym)
        elapsed = time.monotonic() - started
        self._metrics.handled.labels(channel.name, user.language or "unknown").inc()
        self._metrics.latency.labels(channel.name).observe(elapsed)
        logger.info(
            "answered",
            extra={"pseudonym": pseudonym, "channel": channel.name, "language": user.language,
                   "messages": len(messages), "seconds": round(elapsed, 3)},
        )
        return True

    async def _retry_later(self, pseudonym: str) -> None:
        tries = int(await self._redis.incr(self._key("retries", pseudonym)))
        await self._redis.expire(self._key("retries", pseudonym), 86400)
        delay = min(MAX_BACKOFF, 2.0 ** min(tries, 6))
        await self._redis.zadd(self._due, {pseudonym: time.time() + delay})

    async def _hold(self, pseudonym: str, item: Mapping[str, Any], user: UserState) -> None:
        """Tells the user, once per message, that the answer will come later."""
        held = await self._redis.set(
            self._key("held", item["channel"], item["message_id"]), "1", nx=True, ex=SEEN_TTL
        )
        if not held:
            return
        holding = [Outgoing(texts.text("holding", user.language))]
        await self._deliver(pseudonym, item, holding, holding=True)

    # -- delivery -----------------------------------------------------------

    async def _deliver(
        self,
        pseudonym: str,
        item: Mapping[str, Any],
        messages: Sequence[Outgoing],
        holding: bool = False,
    ) -> None:
        channel_name = item["channel"]
        if channel_name == "sms":
            await self._deliver_sms(pseudonym, item, messages, holding)
            return
        if not messages:
            return
        address = await self.addresses.lookup(pseudonym)
        if address is None:
            logger.warning("no address kept for %s; reply dropped", pseudonym)
            self._metrics.errors.labels("address_expired").inc()
            return
        try:
            await self.channels[channel_name].send(address, messages)
        except DeliveryError as error:
            logger.warning("delivery to %s failed (%s); queued for retry", pseudonym, error)
            await self.outbox.put(pseudonym, channel_name, messages)

    async def _deliver_sms(
        self,
        pseudonym: str,
        item: Mapping[str, Any],
        messages: Sequence[Outgoing],
        holding: bool,
    ) -> None:
        """Hands the answer to the waiting webhook as TwiML, or else to the outbox."""
        message_id = item["message_id"]
        claim = self._key("claim", message_id)
        replies = self._key("reply", message_id)
        waiting = self._key("waiting", message_id)
        if holding:
            await self._claim(keys=[claim, replies, waiting],
                              args=["async", json.dumps({"holding": True}), REPLY_TTL])
            return
        handed = await self._claim(keys=[claim, replies, waiting],
                                   args=["sync", encode_outgoing(messages), REPLY_TTL])
        if not handed and messages:
            await self.outbox.put(pseudonym, "sms", messages)

    async def wait_for_sms_answer(
        self, message_id: str, budget: float
    ) -> Tuple[str, List[Outgoing]]:
        """For an SMS webhook: ("answer", messages), or ("holding", []) past the budget."""
        claim = self._key("claim", message_id)
        replies = self._key("reply", message_id)
        popped = await self._redis.blpop([replies], timeout=budget)
        if popped is None:
            if await self._redis.set(claim, "async", nx=True, ex=REPLY_TTL):
                return "holding", []
            # The answer was claimed for this webhook a moment ago: it is on its way.
            popped = await self._redis.blpop([replies], timeout=5)
            if popped is None:
                return "holding", []
        raw = popped[1].decode() if isinstance(popped[1], bytes) else str(popped[1])
        if isinstance(json.loads(raw), dict):
            return "holding", []
        return "answer", decode_outgoing(raw)

    # -- per-user state -----------------------------------------------------

    async def _load_user(self, pseudonym: str) -> UserState:
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(self._key("user", pseudonym))
        pipe.sismember(self._key("optout"), pseudonym)
        raw, opted_out = await pipe.execute()
        user = UserState()
        if raw:
            data = json.loads(raw)
            user = UserState(
                language=data.get("language"),
                menu=list(data.get("menu") or []),
                more=list(data.get("more") or []),
            )
        user.opted_out = user.was_opted_out = bool(opted_out)
        return user

    async def _save_user(self, pseudonym: str, user: UserState) -> None:
        data = {"language": user.language, "menu": user.menu, "more": user.more}
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(
            self._key("user", pseudonym), json.dumps(data, ensure_ascii=False), ex=self._retention
        )
        if user.opted_out != user.was_opted_out:  # only what this message changed
            if user.opted_out:
                pipe.sadd(self._key("optout"), pseudonym)
            else:
                pipe.srem(self._key("optout"), pseudonym)
        await pipe.execute()

    async def language_of(self, pseudonym: str) -> Optional[str]:
        """The conversation's language as last seen, if any."""
        return (await self._load_user(pseudonym)).language

    async def is_opted_out(self, pseudonym: str) -> bool:
        """True when this SMS user sent STOP (or its Urdu forms) and not START since."""
        return bool(await self._redis.sismember(self._key("optout"), pseudonym))

    async def opt_out(self, pseudonym: str) -> None:
        """Stops every SMS to this user until they send START."""
        await self._redis.sadd(self._key("optout"), pseudonym)

    async def forget(self, pseudonym: str) -> None:
        """Erases what the gateway keeps about a user (the opt-out stays, by law and kindness)."""
        await self._redis.delete(self._key("user", pseudonym))
        await self.addresses.forget(pseudonym)
        if self.hotline is not None:
            await self.hotline.forget(pseudonym)

    # -- background ---------------------------------------------------------

    async def sweep(self, interval: float = 1.0) -> None:
        """Forever: drains inboxes whose retry time has come (Rasa back, a process died)."""
        while True:
            try:
                due: List[bytes] = await self._redis.zrangebyscore(  # type: ignore[assignment]
                    self._due, "-inf", time.time(), start=0, num=50
                )
                for pseudonym in due:
                    self.spawn(self.drain(pseudonym.decode()))
            except Exception:
                logger.exception("sweeping due inboxes failed")
            await asyncio.sleep(interval)
