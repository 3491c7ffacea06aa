"""``python -m bot.relay``: delivers trafficking reports to hotline staff, and never loses one.

The action server puts each report in a Redis stream (``bot/reports.py``).
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
keeps two from sending the same report at once. Never logs report contents,
phone numbers or chat ids.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import socket
import sys
import time
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import Forbidden, TelegramError
from telegram.ext import AIORateLimiter, ExtBot

from bot.conversation import Outgoing
from bot.errors import DeliveryError
from bot.identity import Sealer
from bot.logs import configure
from bot.metrics import Metrics
from bot.outbox import ensure_group
from bot.reports import Case, ReportStore, decoded, when
from bot.segments import count
from bot.settings import Settings, load_or_explain
from bot.sms import SmsChannel

logger = logging.getLogger(__name__)

GROUP = "relay"
DELIVERY_TIMEOUT = 20.0
MAX_BACKOFF = 600.0
PURGE_INTERVAL = 3600.0
STARTUP_TRIES = 30
SMS_CARD_SEGMENTS = 2
MAX_MESSAGE = 4096  # characters in one Telegram message
NOTIFY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
LANGUAGE_NAMES = {"en": "English", "ur": "Urdu", "ur_Latn": "Roman Urdu"}
# Release our lock only: another worker may hold it after ours expired.
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Extend our lock only, for as long as we are still delivering.
RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class RelayMetrics:
    """What the relay counts; labels are destination kinds, never who or what."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.delivered = Counter(
            "rahnuma_reports_delivered_total", "Reports handed to a destination.",
            ["destination"], registry=self.registry,
        )
        self.failures = Counter(
            "rahnuma_report_delivery_failures_total", "Failed attempts to hand over a report.",
            ["destination"], registry=self.registry,
        )
        self.dead = Counter(
            "rahnuma_reports_dead_letter_total", "Reports given up on for a destination.",
            ["destination"], registry=self.registry,
        )
        self.alerts = Counter(
            "rahnuma_relay_alerts_total", "Alerts sent to staff about undeliverable reports.",
            registry=self.registry,
        )
        self.notify_seconds = Histogram(
            "rahnuma_report_notify_seconds", "From a report's submission to its delivery.",
            ["destination"], buckets=NOTIFY_BUCKETS, registry=self.registry,
        )


class Destination(Protocol):
    """Somewhere staff receive reports."""

    name: str  # unique per destination: what the case records as delivered
    kind: str  # telegram | sms | webhook (metric label)

    async def deliver(self, case: Case) -> None:
        """Hands the report over; raises DeliveryError when it was not taken."""

    async def alert(self, text: str) -> None:
        """Tells staff something is wrong; raises DeliveryError when it cannot."""


# -- what staff see ---------------------------------------------------------------


def staff_card(case: Case) -> str:
    """The report as the staff chat shows it: what staff need to act, nothing more.

    A description too long for one Telegram message is shortened, never the
    lines after it: where, and whether the reporter may be contacted.
    """
    head = ("🔴 URGENT: someone is in danger now" if case.urgent else "🟡 New report")
    channel = {"telegram": "Telegram", "sms": "SMS"}.get(case.channel, case.channel or "unknown")
    if case.may_contact:
        contact = (
            f"The reporter agreed to be contacted. Claim the case, then send "
            f"/reply {case.reference} <message>: it reaches them through Rahnuma on "
            f"{channel} (their number is never shown)."
        )
    else:
        contact = "The reporter did NOT agree to be contacted. Do not try to reach them."

    def card(description: str) -> str:
        return "\n".join([
            head,
            f"Report {case.reference} · {when(case.created)}",
            f"Language: {LANGUAGE_NAMES.get(case.language, case.language)} · came by {channel}",
            "",
            f"What happened: {description}",
            f"Where: {case.location or '(not given)'}",
            "",
            f"Contact: {contact}",
        ])

    whole = card(case.description or "(not given)")
    excess = len(whole) - MAX_MESSAGE
    if excess <= 0:
        return whole
    return card(case.description[: len(case.description) - excess - 1] + "…")


def staff_buttons(reference: str) -> InlineKeyboardMarkup:
    """Claim and Resolve, acting on this case."""
    return InlineKeyboardMarkup([[
        InlineKeyboardButton("Claim", callback_data=f"claim:{reference}"),
        InlineKeyboardButton("Resolve", callback_data=f"resolve:{reference}"),
    ]])


def sms_card(case: Case) -> str:
    """The short form for on-call phones: at most two segments.

    The longer of description and location gives way until it fits, marked with
    "..." ("…" is not GSM-7: it would make the SMS UCS-2 and halve its room).
    """
    head = "RAHNUMA URGENT" if case.urgent else "RAHNUMA report"
    contact = "yes" if case.may_contact else "NO"
    description = " ".join(case.description.split())
    location = " ".join((case.location or "-").split())

    def card(what: str, where: str) -> str:
        return (f"{head} {case.reference} ({case.channel}, {case.language}). "
                f"Where: {where}. Contact: {contact}. {what} Reply CLAIM {case.reference}")

    what, where = description, location
    while count(body := card(what, where)).segments > SMS_CARD_SEGMENTS and (what or where):
        if len(what) >= len(where):
            description = description[: max(0, len(description) - 10)].rstrip()
            what = description + "..." if description else ""
        else:
            location = location[: max(0, len(location) - 10)].rstrip()
            where = location + "..." if location else "..."
    return body


def webhook_body(case: Case) -> bytes:
    """The JSON a case system receives (keys sorted, so its signature is reproducible)."""
    return json.dumps({
        "event": "report.created",
        "reference": case.reference,
        "urgent": case.urgent,
        "language": case.language,
        "channel": case.channel,
        "description": case.description,
        "location": case.location,
        "may_contact": case.may_contact,
        "created_at": datetime.fromtimestamp(case.created, timezone.utc).isoformat(),
    }, ensure_ascii=False, sort_keys=True).encode("utf-8")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Rahnuma-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``timestamp.body``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


# -- destinations ------------------------------------------------------------------


class TelegramStaffChat:
    """The hotline's Telegram group: the full card with Claim / Resolve."""

    kind = "telegram"

    def __init__(self, bot: ExtBot[Any], chat_id: int) -> None:
        self.name = "telegram"
        self._bot = bot
        self._chat_id = chat_id

    async def deliver(self, case: Case) -> None:
        """Posts the card with its buttons."""
        await self._send(staff_card(case), staff_buttons(case.reference))

    async def alert(self, text: str) -> None:
        """Posts the alert."""
        await self._send(text, None)

    async def _send(self, text: str, markup: Optional[InlineKeyboardMarkup]) -> None:
        try:
            await self._bot.send_message(chat_id=self._chat_id, text=text[:MAX_MESSAGE],
                                         reply_markup=markup)
        except Forbidden as error:  # the bot was removed from the staff chat
            raise DeliveryError("Telegram: forbidden in the staff chat", permanent=True) from error
        except TelegramError as error:
            raise DeliveryError(f"Telegram refused: {type(error).__name__}") from error


class OnCallSms:
    """One on-call phone: the short form by SMS."""

    kind = "sms"

    def __init__(self, sms: SmsChannel, number: str) -> None:
        self.name = f"sms:{number}"
        self._sms = sms
        self._number = number

    async def deliver(self, case: Case) -> None:
        """Sends the short form."""
        await self._sms.send(self._number, [Outgoing(sms_card(case))])

    async def alert(self, text: str) -> None:
        """Sends the alert, cut to the SMS limit."""
        await self._sms.send(self._number, [Outgoing(text[:300])])


class CaseWebhook:
    """A hotline's case system: signed JSON, ``Idempotency-Key`` = the reference."""

    kind = "webhook"
    name = "webhook"

    def __init__(self, http: httpx.AsyncClient, url: str, secret: str) -> None:
        self._http = http
        self._url = url
        self._secret = secret

    async def deliver(self, case: Case) -> None:
        """POSTs the report; 2xx (or 409: already have it) counts as delivered."""
        await self._post(webhook_body(case), case.reference)

    async def alert(self, text: str) -> None:
        """POSTs an alert event."""
        body = json.dumps({"event": "relay.alert", "text": text}, sort_keys=True).encode()
        await self._post(body, f"alert-{hashlib.sha256(body).hexdigest()[:16]}")

    async def _post(self, body: bytes, key: str) -> None:
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": key,
            "X-Rahnuma-Timestamp": stamp,
            "X-Rahnuma-Signature": signature(self._secret, stamp, body),
        }
        try:
            response = await self._http.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryError(f"webhook unreachable: {type(error).__name__}") from error
        if response.is_success or response.status_code == 409:
            return
        permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
        raise DeliveryError(f"webhook answered {response.status_code}", permanent=permanent)


# -- the worker --------------------------------------------------------------------


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
        consumer: Optional[str] = None,
    ) -> None:
        self._store = store
        self._redis: Redis = store.redis
        self._destinations = list(destinations)
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._retry_seconds = retry_seconds
        self._claim_idle_ms = int(claim_idle_seconds * 1000)
        self._consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._retry = store.key("relay", "retry")
        self._release = self._redis.register_script(RELEASE_SCRIPT)
        self._renew = self._redis.register_script(RENEW_SCRIPT)
        self._streams = (store.urgent_stream, store.stream)  # urgent first, always

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
            GROUP, self._consumer, {stream: ">" for stream in self._streams},
            count=20, block=block_ms,
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
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("relay round failed; retrying in 1 s")
                await asyncio.sleep(1.0)

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
        reference = decoded(fields[b"reference"])
        lock = self._store.key("relay", "lock", reference)
        token = secrets.token_hex(8)
        if not await self._redis.set(lock, token, nx=True, px=self._claim_idle_ms):
            return 0  # another worker is delivering it right now
        # Held for as long as we deliver, however slow a send (a 429's wait, a slow webhook):
        # once it expired, another relay would take the entry over and send it again.
        holding = asyncio.create_task(self._hold(lock, token))
        try:
            return await self._deliver(stream, decoded(entry_id), reference)
        finally:
            holding.cancel()
            await self._release(keys=[lock], args=[token])

    async def _hold(self, lock: str, token: str) -> None:
        while True:
            await asyncio.sleep(self._claim_idle_ms / 3000)
            with contextlib.suppress(RedisError):  # Redis away: the delivery fails on its own
                await self._renew(keys=[lock], args=[token, self._claim_idle_ms])

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
                logger.warning("report %s not delivered to %s: %s",
                               reference, destination.kind, problem)
                continue
            await self._record(reference, destination.name)
            self._metrics.delivered.labels(destination.kind).inc()
            self._metrics.notify_seconds.labels(destination.kind).observe(
                max(0.0, time.time() - case.created)
            )
            logger.info("report delivered", extra={"reference": reference,
                                                   "destination": destination.kind,
                                                   "urgent": case.urgent})
        if not failed:
            await self._ack(stream, entry_id)
            return 1
        attempts = await self._store.count_attempt(reference)
        if attempts >= self._max_attempts or all(error.permanent for _, error in failed):
            await self._dead_letter(stream, entry_id, case, failed, attempts)
            return 0
        delay = min(MAX_BACKOFF, self._retry_seconds * 2 ** (attempts - 1))
        await self._redis.zadd(self._retry, {f"{stream}|{entry_id}": time.time() + delay})
        return 0

    async def _record(self, reference: str, destination: str) -> None:
        """Marks a delivery done, waiting out a Redis outage: without the mark, it is sent again."""
        pause = 0.1
        while True:
            try:
                await self._store.mark_delivered(reference, destination)
                return
            except (RedisConnectionError, RedisTimeoutError):
                logger.warning("Redis unreachable; holding the delivery record of %s", reference)
                await asyncio.sleep(pause)
                pause = min(2 * pause, 1.0)

    async def _ack(self, stream: str, entry_id: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.xack(stream, GROUP, entry_id)
        pipe.xdel(stream, entry_id)
        await pipe.execute()

    async def _dead_letter(
        self,
        stream: str,
        entry_id: str,
        case: Case,
        failed: Sequence[Tuple[Destination, DeliveryError]],
        attempts: int,
    ) -> None:
        kinds = sorted({destination.kind for destination, _ in failed})
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(self._store.dead_stream, {
            "reference": case.reference, "destinations": ",".join(kinds),
            "attempts": attempts, "error": "; ".join(str(error) for _, error in failed)[:500],
        })
        pipe.xack(stream, GROUP, entry_id)
        pipe.xdel(stream, entry_id)
        await pipe.execute()
        for kind in kinds:
            self._metrics.dead.labels(kind).inc()
        logger.error("report %s given up for %s after %d attempts",
                     case.reference, ",".join(kinds), attempts)
        urgency = "URGENT report" if case.urgent else "Report"
        text = (f"⚠️ Rahnuma alert: {urgency} {case.reference} could not be delivered to "
                f"{', '.join(kinds)} after {attempts} attempts. The case is kept and open: "
                f"see /open (dead-letter stream {self._store.dead_stream}).")
        failing = {destination.name for destination, _ in failed}
        for destination in self._destinations:
            if destination.name in failing:
                continue
            try:
                await asyncio.wait_for(destination.alert(text), DELIVERY_TIMEOUT)
                self._metrics.alerts.inc()
            except (DeliveryError, asyncio.TimeoutError) as error:
                logger.error("alert to %s failed: %s", destination.kind, error)


# -- the process -------------------------------------------------------------------


async def build(settings: Settings, stack: contextlib.AsyncExitStack) -> Relay:
    """The relay for ``settings``, its clients closed by ``stack``."""
    redis = Redis.from_url(settings.redis_url, socket_timeout=30, socket_connect_timeout=5)
    stack.push_async_callback(redis.aclose)
    store = ReportStore(redis, settings.redis_prefix, Sealer(str(settings.data_keys)))
    destinations: List[Destination] = []
    if settings.hotline_telegram_chat_id is not None:
        assert settings.telegram_bot_token is not None
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        bot: ExtBot[Any] = ExtBot(
            str(settings.telegram_bot_token),
            base_url=f"{settings.telegram_api_url}/bot",
            base_file_url=f"{settings.telegram_api_url}/file/bot",
            rate_limiter=AIORateLimiter(max_retries=3),
        )
        for attempt in range(STARTUP_TRIES):  # the Bot API may not answer yet (getMe)
            try:
                await stack.enter_async_context(bot)
                break
            except TelegramError as error:
                if attempt == STARTUP_TRIES - 1:
                    raise
                logger.warning("Telegram not reachable yet (%s); trying again", error)
                await asyncio.sleep(1.0)
        destinations.append(TelegramStaffChat(bot, settings.hotline_telegram_chat_id))
    if settings.hotline_sms_numbers:
        assert settings.twilio_account_sid and settings.twilio_from_number
        sms = SmsChannel(
            settings.twilio_account_sid, str(settings.twilio_auth_token),
            settings.twilio_from_number, settings.twilio_api_url, settings.sms_max_segments,
            Metrics(),
        )
        stack.push_async_callback(sms.close)
        destinations += [OnCallSms(sms, number) for number in settings.hotline_sms_numbers]
    if settings.hotline_webhook_url is not None:
        http = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0))
        stack.push_async_callback(http.aclose)
        destinations.append(CaseWebhook(
            http, settings.hotline_webhook_url, str(settings.hotline_webhook_secret)
        ))
    return Relay(
        store, destinations, RelayMetrics(),
        max_attempts=settings.relay_max_attempts,
        retry_seconds=settings.relay_retry_seconds,
        claim_idle_seconds=settings.relay_claim_idle_seconds,
    )


async def run(settings: Settings) -> None:
    """Delivers and purges until cancelled (SIGTERM/SIGINT)."""
    async with contextlib.AsyncExitStack() as stack:
        relay = await build(settings, stack)
        if settings.relay_metrics_port:
            start_http_server(settings.relay_metrics_port, "127.0.0.1",
                              registry=relay._metrics.registry)
        await relay.ensure_groups()
        logger.info("relay ready", extra={
            "destinations": ",".join(d.kind for d in relay._destinations)})
        workers = [asyncio.create_task(relay.work()),
                   asyncio.create_task(relay.purge(settings.report_retention_days))]
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


def main(argv: Optional[List[str]] = None) -> int:
    """Starts the relay; a bad setting or no destination ends it with one line."""
    parser = argparse.ArgumentParser(description="Deliver trafficking reports to hotline staff.")
    parser.add_argument("--rotate-keys", action="store_true",
                        help="re-encrypt stored cases with the first RAHNUMA_DATA_KEY, then exit")
    args = parser.parse_args(argv)
    settings = load_or_explain("rahnuma relay")
    if settings is None:
        return 2
    configure(settings.log_level)
    if args.rotate_keys:
        return asyncio.run(_rotate(settings))
    if not settings.hotline_enabled:
        print("rahnuma relay: no destination configured; set HOTLINE_TELEGRAM_CHAT_ID, "
              "HOTLINE_SMS_NUMBERS or HOTLINE_WEBHOOK_URL", file=sys.stderr)
        return 2
    asyncio.run(run(settings))
    return 0


async def _rotate(settings: Settings) -> int:
    redis = Redis.from_url(settings.redis_url, socket_timeout=30)
    try:
        store = ReportStore(redis, settings.redis_prefix, Sealer(str(settings.data_keys)))
        done = await store.rotate()
    finally:
        await redis.aclose()
    print(f"re-encrypted {done} cases with the first key of RAHNUMA_DATA_KEY")
    return 0


if __name__ == "__main__":
    sys.exit(main())
