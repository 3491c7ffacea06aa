"""Replies that could not be delivered at once, in a Redis stream, until they are.

An SMS answer that missed its webhook's budget, or any reply Telegram or
Twilio refused for a moment, is added here (sealed: it may hold what the user
wrote back). Each gateway process runs ``Outbox.work``: it reads with a
consumer group, sends, and acknowledges only after the provider took the
message. Entries a crashed process left pending are taken over after
``CLAIM_IDLE_MS``; after ``MAX_DELIVERIES`` attempts an entry moves to the
dead-letter stream for an operator.

Nothing is ever sent to an SMS number that opted out, or to a user whose
address expired or was erased. Never logs addresses or text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, Literal, Mapping, Optional, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.conversation.messages import Outgoing, decode_outgoing, encode_outgoing
from bot.conversation.users import Users
from bot.errors import DeliveryError
from bot.identity import AddressBook
from bot.metrics import Metrics
from bot.streams import consumer_name, ensure_group
from contract.channels import Channel
from contract.keys import Keys
from contract.sealing import InvalidToken, Sealer

logger = logging.getLogger(__name__)

GROUP = "senders"
CLAIM_IDLE_MS = 30_000
MAX_DELIVERIES = 8

Sender = Callable[[str, Sequence[Outgoing]], Awaitable[None]]  # a channel's send(address, ...)
# What became of an entry (the rahnuma_outbox_total metric's result label).
Result = Literal[
    "sent", "opted_out", "no_address", "no_channel", "refused", "retry", "dead_letter", "unreadable"
]


class Outbox:
    """The outbound queue: ``put`` anywhere, ``work`` in every gateway process."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        sealer: Sealer,
        addresses: AddressBook,
        users: Users,
        senders: Mapping[Channel, Sender],
        metrics: Metrics,
        consumer: Optional[str] = None,
        dead_days: float = 30.0,
    ) -> None:
        self._redis = redis
        self._dead_ms = int(dead_days * 86400 * 1000)
        self._stream = keys.outbox
        self._dead = keys.outbox_dead
        self._sealer = sealer
        self._addresses = addresses
        self._users = users
        self._senders: Dict[Channel, Sender] = dict(senders)
        self._metrics = metrics
        self._consumer = consumer or consumer_name()

    async def put(self, pseudonym: str, channel: Channel, messages: Sequence[Outgoing]) -> None:
        """Queues messages for ``pseudonym`` on ``channel``."""
        if not messages:
            return
        sealed = self._sealer.seal(encode_outgoing(messages))
        await self._redis.xadd(
            self._stream, {"pseudonym": pseudonym, "channel": channel.value, "body": sealed}
        )

    async def ensure_group(self) -> None:
        """Creates the consumer group (and stream) unless it exists."""
        await ensure_group(self._redis, self._stream, GROUP)

    async def pending(self) -> int:
        """How many entries wait in the stream (for /readyz and tests)."""
        return int(await self._redis.xlen(self._stream))

    async def work_once(self, block_ms: int = 1000) -> int:
        """Takes over stale entries, then reads and sends new ones; returns how many were sent."""
        sent = 0
        claimed: Any = await self._redis.xautoclaim(
            self._stream, GROUP, self._consumer, min_idle_time=CLAIM_IDLE_MS, count=20
        )
        for entry_id, fields in claimed[1]:
            sent += await self._handle(entry_id, fields)
        batches: Any = await self._redis.xreadgroup(
            GROUP, self._consumer, {self._stream: ">"}, count=20, block=block_ms
        )
        for _stream, entries in batches or []:
            for entry_id, fields in entries:
                sent += await self._handle(entry_id, fields)
        return sent

    async def work(self) -> None:
        """Forever: delivers queued replies (one task per gateway process). After a failed
        round the consumer group is made again if it was lost (a Redis restored without it)."""
        while True:
            try:
                await self.ensure_group()
                while True:
                    await self.work_once()
            except asyncio.CancelledError:
                raise
            except RedisError as error:  # an outage: no traceback every second
                logger.warning("outbox paused, Redis unreachable: %s", type(error).__name__)
                await asyncio.sleep(1.0)
            except Exception:
                logger.exception("outbox round failed; retrying in 1 s")
                await asyncio.sleep(1.0)

    async def _handle(self, entry_id: Any, fields: Mapping[bytes, bytes]) -> int:
        if b"pseudonym" not in fields or b"channel" not in fields:  # never ours: set aside
            logger.error("outbox: an entry without an addressee; moved to dead letters")
            await self._bury(fields)
            return await self._done(entry_id, "unknown", "unreadable")
        pseudonym = fields[b"pseudonym"].decode()
        channel = fields[b"channel"].decode()
        if await self._users.is_opted_out(pseudonym):
            return await self._done(entry_id, channel, "opted_out")
        address = await self._addresses.lookup(pseudonym)
        known = Channel.parse(channel)
        sender = self._senders.get(known) if known is not None else None
        if address is None or sender is None:
            reason: Result = "no_address" if address is None else "no_channel"
            logger.warning("outbox: %s for %s; entry dropped", reason, pseudonym)
            return await self._done(entry_id, channel, reason)
        try:
            messages = decode_outgoing(self._sealer.open(fields[b"body"]))
        except (InvalidToken, ValueError, KeyError, TypeError):
            # Sealed with a key no longer configured, or malformed: it can never be sent,
            # and it must not block the entries behind it.
            logger.error("outbox: an entry for %s cannot be read; moved to dead letters", pseudonym)
            await self._bury(fields)
            return await self._done(entry_id, channel, "unreadable")
        try:
            await sender(address, messages)
        except DeliveryError as error:
            if error.permanent:
                logger.warning("outbox: %s for %s; entry dropped", error, pseudonym)
                return await self._done(entry_id, channel, "refused")
            await self._failed(entry_id, fields, channel, error)
            return 0
        return await self._done(entry_id, channel, "sent")

    async def _bury(self, fields: Mapping[bytes, bytes]) -> None:
        """Moves an entry's fields to the dead letters, trimming those older than ``dead_days``
        (the address retention: by then the reply could not be sent anyway)."""
        oldest = int(time.time() * 1000) - self._dead_ms
        entry: Dict[Any, Any] = {k.decode(): v for k, v in fields.items()} or {"?": b""}
        await self._redis.xadd(self._dead, entry, minid=f"{oldest}-0", approximate=False)

    async def _done(self, entry_id: Any, channel: str, result: Result) -> int:
        await self._redis.xack(self._stream, GROUP, entry_id)
        await self._redis.xdel(self._stream, entry_id)
        self._metrics.outbox.labels(channel, result).inc()
        return 1 if result == "sent" else 0

    async def _failed(
        self, entry_id: Any, fields: Mapping[bytes, bytes], channel: str, error: Exception
    ) -> None:
        info: List[Dict[str, Any]] = await self._redis.xpending_range(
            self._stream, GROUP, min=entry_id, max=entry_id, count=1
        )
        deliveries = int(info[0]["times_delivered"]) if info else 1
        if deliveries >= MAX_DELIVERIES:
            await self._bury(fields)
            await self._done(entry_id, channel, "dead_letter")
            logger.error("outbox: gave up after %d attempts (%s)", deliveries, error)
        else:
            self._metrics.outbox.labels(channel, "retry").inc()
            logger.warning("outbox: delivery failed (%s); will retry", error)
