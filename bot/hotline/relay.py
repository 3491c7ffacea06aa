"""The relay worker: delivers trafficking reports to hotline staff, and never loses one.

The action server puts each report in a Redis stream (``contract/reports.py``).
This worker reads both streams with the consumer group ``relay``, urgent
first, and hands each report to every configured destination:

- the staff chat on Telegram (``HOTLINE_TELEGRAM_CHAT_ID``): the whole card,
  with Claim / Resolve buttons;
- each on-call number by SMS (``HOTLINE_SMS_NUMBERS``): a short form;
- a case system's HTTPS webhook (``HOTLINE_WEBHOOK_URL``): JSON signed with
  HMAC-SHA256 (``HOTLINE_WEBHOOK_SECRET``), see ``signature``.

A stream entry is acknowledged only after every destination took the report.
Each destination that took it is recorded on the case, so a retry, or a
worker that takes over the entry of one that crashed (``XAUTOCLAIM`` after
``RELAY_CLAIM_IDLE_SECONDS``), sends only where it is still missing: staff do
not see a report twice. Failures are retried with exponential backoff from
``RELAY_RETRY_SECONDS``; after ``RELAY_MAX_ATTEMPTS`` rounds (or at once when
the destination refuses for good) the report goes to the dead-letter stream,
a metric counts it, and staff are alerted through the destinations that work.
The case itself stays open and listed by /open. Resolved cases are purged
``REPORT_RETENTION_DAYS`` after resolution, hourly.

Several relays may run against one Redis (containers); a per-report lock
(redis-py's ``Lock``, renewed while a delivery lasts) keeps two from sending
the same report at once. Never logs report contents,
phone numbers or chat ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from bot.errors import DeliveryError
from bot.hotline.destinations import Destination
from bot.streams import consumer_name, ensure_group
from contract.reports import Case, ReportStore, ReportStoreError, decoded

logger = logging.getLogger(__name__)

GROUP = "relay"
DELIVERY_TIMEOUT = 20.0
MAX_BACKOFF = 600.0
PURGE_INTERVAL = 3600.0
NOTIFY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class RelayMetrics:
    """What the relay counts; labels are destination kinds, never who or what."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.delivered = Counter(
            "rahnuma_reports_delivered_total",
            "Reports handed to a destination.",
            ["destination"],
            registry=self.registry,
        )
        self.failures = Counter(
            "rahnuma_report_delivery_failures_total",
            "Failed attempts to hand over a report.",
            ["destination"],
            registry=self.registry,
        )
        self.dead = Counter(
            "rahnuma_reports_dead_letter_total",
            "Reports given up on for a destination.",
            ["destination"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "rahnuma_relay_alerts_total",
            "Alerts sent to staff about undeliverable reports.",
            registry=self.registry,
        )
        self.heartbeat = Gauge(
            "rahnuma_relay_heartbeat_timestamp_seconds",
            "When this relay last finished a round (its work loop is alive).",
            registry=self.registry,
        )
        self.notify_seconds = Histogram(
            "rahnuma_report_notify_seconds",
            "From a report's submission to its delivery.",
            ["destination"],
            buckets=NOTIFY_BUCKETS,
            registry=self.registry,
        )


class Relay:
    """Reads the report streams and delivers; run one or more per deployment."""

    def __init__(
        self,
        store: ReportStore,
        destinations: Sequence[Destination],
        metrics: RelayMetrics,
        *,
        max_attempts: int = 10,
        retry_seconds: float = 5.0,
        claim_idle_seconds: float = 60.0,
        heartbeat_seconds: float = 10.0,
        consumer: Optional[str] = None,
    ) -> None:
        self._store = store
        self._redis: Redis = store.redis
        self._destinations = list(destinations)
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._retry_seconds = retry_seconds
        self._claim_idle_ms = int(claim_idle_seconds * 1000)
        self._heartbeat_seconds = heartbeat_seconds
        self._last_beat = 0.0
        self._consumer = consumer or consumer_name()
        self._keys = store.keys
        self._retry = store.keys.relay_retry
        self._streams = (store.keys.reports_urgent, store.keys.reports)  # urgent first, always

    @property
    def metrics(self) -> RelayMetrics:
        """What this relay counts (served on ``RELAY_METRICS_PORT``)."""
        return self._metrics

    @property
    def destination_kinds(self) -> List[str]:
        """The kinds of the configured destinations, for the start-up log."""
        return [destination.kind for destination in self._destinations]

    async def ensure_groups(self) -> None:
        """Creates the consumer group on both streams unless it exists."""
        for stream in self._streams:
            await ensure_group(self._redis, stream, GROUP)

    async def work_once(self, block_ms: int = 1000) -> int:
        """One round: due retries, entries of crashed workers, then new reports.

        Returns how many reports reached all their destinations.
        """
        done = 0
        for member in await self._due_retries():
            stream, entry_id = member.split("|", 1)
            claimed: Any = await self._redis.xclaim(
                stream, GROUP, self._consumer, min_idle_time=0, message_ids=[entry_id]
            )
            for claimed_id, fields in claimed:
                if fields:
                    done += await self._handle(stream, claimed_id, fields)
        for stream in self._streams:
            stale: Any = await self._redis.xautoclaim(
                stream, GROUP, self._consumer, min_idle_time=self._claim_idle_ms, count=20
            )
            for entry_id, fields in stale[1]:
                member = f"{stream}|{decoded(entry_id)}"
                if fields and await self._redis.zscore(self._retry, member) is None:
                    done += await self._handle(stream, entry_id, fields)
        batches: Any = await self._redis.xreadgroup(
            GROUP,
            self._consumer,
            {stream: ">" for stream in self._streams},
            count=20,
            block=block_ms,
        )
        order = {stream: index for index, stream in enumerate(self._streams)}
        for stream, entries in sorted(batches or [], key=lambda b: order[decoded(b[0])]):
            for entry_id, fields in entries:
                done += await self._handle(decoded(stream), entry_id, fields)
        return done

    async def work(self) -> None:
        """Forever; a Redis outage pauses it, and it carries on when Redis is back."""
        while True:
            try:
                await self.ensure_groups()
                while True:
                    await self.work_once()
                    await self.beat()
            except asyncio.CancelledError:
                raise
            except RedisError as error:  # an outage: no traceback every second
                logger.warning("relay paused, Redis unreachable: %s", type(error).__name__)
                await asyncio.sleep(1.0)
            except Exception:
                logger.exception("relay round failed; retrying in 1 s")
                await asyncio.sleep(1.0)

    async def beat(self) -> None:
        """Writes this relay's heartbeat (at most every ``heartbeat_seconds``): written by the
        work loop itself, so a relay that is up but stuck stops beating too. Heartbeats of
        relays gone for a day are removed."""
        now = time.time()
        if now - self._last_beat < self._heartbeat_seconds:
            return
        key = self._keys.relay_heartbeat
        await self._redis.hset(key, self._consumer, f"{now:.3f}")
        beats: Any = await self._redis.hgetall(key)
        gone = [field for field, value in beats.items() if now - float(value) > 86400]
        if gone:
            await self._redis.hdel(key, *gone)
        self._last_beat = now
        self._metrics.heartbeat.set(now)

    async def purge(self, retention_days: int) -> None:
        """Forever, hourly: deletes cases resolved longer ago than the retention."""
        while True:
            try:
                await self._store.purge(retention_days)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("purging resolved cases failed")
            await asyncio.sleep(PURGE_INTERVAL)

    async def _due_retries(self) -> List[str]:
        due: Any = await self._redis.zrangebyscore(
            self._retry, "-inf", time.time(), start=0, num=20
        )
        # ZREM decides which worker retries a member when several see it due.
        return [decoded(m) for m in due if await self._redis.zrem(self._retry, m)]

    async def _handle(self, stream: str, entry_id: Any, fields: Dict[bytes, bytes]) -> int:
        """One entry, isolated: an entry that cannot be read or opened is set aside in the
        dead-letter stream with an alert, so the reports behind it keep flowing."""
        if b"reference" not in fields:
            await self._dead_letter(
                stream, decoded(entry_id), DeadLetter.unreadable("?", "no reference")
            )
            return 0
        reference = decoded(fields[b"reference"])
        lock = Lock(
            self._redis,
            self._keys.relay_lock(reference),
            timeout=self._claim_idle_ms / 1000,
            blocking=False,
        )
        if not await lock.acquire():
            return 0  # another worker is delivering it right now
        # Held for as long as we deliver, however slow a send (a 429's wait, a slow webhook):
        # once it expired, another relay would take the entry over and send it again.
        holding = asyncio.create_task(self._hold(lock))
        try:
            return await self._deliver(stream, decoded(entry_id), reference)
        except ReportStoreError as error:  # sealed with a key this relay does not have
            await self._dead_letter(
                stream, decoded(entry_id), DeadLetter.unreadable(reference, str(error))
            )
            return 0
        finally:
            holding.cancel()
            with contextlib.suppress(LockError, RedisError):  # expired, or Redis away
                await lock.release()

    async def _hold(self, lock: Lock) -> None:
        while True:
            await asyncio.sleep(self._claim_idle_ms / 3000)
            with contextlib.suppress(LockError, RedisError):  # the delivery fails on its own
                await lock.reacquire()

    async def _deliver(self, stream: str, entry_id: str, reference: str) -> int:
        case = await self._store.case(reference)
        if case is None:  # purged, or never stored whole: nothing to deliver
            await self._ack(stream, entry_id)
            return 0
        failed: List[Tuple[Destination, DeliveryError]] = []
        for destination in self._destinations:
            if destination.name in case.delivered:
                continue
            try:
                await asyncio.wait_for(destination.deliver(case), DELIVERY_TIMEOUT)
            except (DeliveryError, asyncio.TimeoutError) as error:
                problem = error if isinstance(error, DeliveryError) else DeliveryError("timed out")
                failed.append((destination, problem))
                self._metrics.failures.labels(destination.kind).inc()
                logger.warning(
                    "report %s not delivered to %s: %s", reference, destination.kind, problem
                )
                continue
            await self._record(reference, destination.name)
            self._metrics.delivered.labels(destination.kind).inc()
            self._metrics.notify_seconds.labels(destination.kind).observe(
                max(0.0, time.time() - case.created)
            )
            logger.info(
                "report delivered",
                extra={
                    "reference": reference,
                    "destination": destination.kind,
                    "urgent": case.urgent,
                },
            )
        if not failed:
            await self._ack(stream, entry_id)
            return 1
        attempts = await self._store.count_attempt(reference)
        if attempts >= self._max_attempts or all(error.permanent for _, error in failed):
            await self._dead_letter(
                stream, entry_id, DeadLetter.undelivered(case, failed, attempts)
            )
            return 0
        delay = min(MAX_BACKOFF, self._retry_seconds * 2 ** (attempts - 1))
        await self._redis.zadd(self._retry, {f"{stream}|{entry_id}": time.time() + delay})
        return 0

    async def _record(self, reference: str, destination: str) -> None:
        """Marks a delivery done, waiting out a Redis outage: without the mark, it is sent again."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type((RedisConnectionError, RedisTimeoutError)),
            wait=wait_exponential(multiplier=0.1, max=1.0),
            before_sleep=lambda state: logger.warning(
                "Redis unreachable; holding the delivery record of %s", reference
            ),
            reraise=True,
        ):
            with attempt:
                await self._store.mark_delivered(reference, destination)

    async def _ack(self, stream: str, entry_id: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.xack(stream, GROUP, entry_id)
        pipe.xdel(stream, entry_id)
        await pipe.execute()

    async def _dead_letter(self, stream: str, entry_id: str, why: DeadLetter) -> None:
        """Moves the entry to the dead-letter stream; an ERROR log line, a metric, and an
        alert to staff through every destination that is not the one failing."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(self._keys.reports_dead, why.fields)
        pipe.xack(stream, GROUP, entry_id)
        pipe.xdel(stream, entry_id)
        await pipe.execute()
        for kind in why.kinds:
            self._metrics.dead.labels(kind).inc()
        logger.error("report %s set aside: %s", why.reference, why.summary)
        text = f"⚠️ Rahnuma alert: {why.alert} (dead-letter stream {self._keys.reports_dead})."
        failing = why.failing
        for destination in self._destinations:
            if destination.name in failing:
                continue
            try:
                await asyncio.wait_for(destination.alert(text), DELIVERY_TIMEOUT)
                self._metrics.alerts.inc()
            except (DeliveryError, asyncio.TimeoutError) as error:
                logger.error("alert to %s failed: %s", destination.kind, error)


@dataclass(frozen=True)
class DeadLetter:
    """Why an entry is set aside: what the dead-letter stream, the log and the alert say."""

    reference: str
    kinds: Tuple[str, ...]  # the destination kinds that failed (the metric's label)
    failing: FrozenSet[str]  # destination names not to alert through
    summary: str  # for the log line
    alert: str  # for staff
    fields: Dict[Any, Any]  # the dead-letter stream entry (redis-py types its fields loosely)

    @classmethod
    def undelivered(
        cls, case: Case, failed: Sequence[Tuple[Destination, DeliveryError]], attempts: int
    ) -> DeadLetter:
        """Some destinations did not take the report after every attempt (or refused it)."""
        kinds = tuple(sorted({destination.kind for destination, _ in failed}))
        urgency = "URGENT report" if case.urgent else "Report"
        return cls(
            reference=case.reference,
            kinds=kinds,
            failing=frozenset(destination.name for destination, _ in failed),
            summary=f"given up for {','.join(kinds)} after {attempts} attempts",
            alert=(
                f"{urgency} {case.reference} could not be delivered to {', '.join(kinds)} "
                f"after {attempts} attempts. The case is kept and open: see /open"
            ),
            fields={
                "reference": case.reference,
                "destinations": ",".join(kinds),
                "attempts": attempts,
                "error": "; ".join(str(error) for _, error in failed)[:500],
            },
        )

    @classmethod
    def unreadable(cls, reference: str, error: str) -> DeadLetter:
        """The entry or its case cannot be opened (no reference; a key not configured)."""
        return cls(
            reference=reference,
            kinds=("unreadable",),
            failing=frozenset(),
            summary=f"cannot be read: {error}",
            alert=(
                f"report {reference} cannot be opened by the relay ({error[:200]}); check "
                "RAHNUMA_DATA_KEY on every service. Nothing was delivered"
            ),
            fields={"reference": reference, "destinations": "unreadable", "error": error[:500]},
        )
