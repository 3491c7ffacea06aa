"""The hotline relay (``bot/hotline/relay.py``): every report reaches staff once, whatever fails.

In-process relays run ``work_once`` against the real Redis and the local peers
(``dev/fakes.py``: Telegram's Bot API, Twilio's REST API and a case system's
webhook), as ``bot/hotline/relay.py``'s ``build`` wires them in production. Reports are
submitted with ``ReportStore.submit``, exactly as the action server does.

The fault tests run ``python -m bot.hotline`` as a process against a redis-server
of their own (append-only file, fsynced on every write) and kill one or the
other with SIGKILL. Each prints a ``FAULTS`` line (run with ``-s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Sequence

import pytest
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from bot.hotline.__main__ import build
from bot.hotline.relay import GROUP, Relay, RelayMetrics
from bot.settings import Settings
from contract.channels import Channel
from contract.keys import Keys
from contract.reports import ReportStore, ReportStoreError, Submission
from contract.sealing import Sealer
from contract.segments import count
from dev.fakes import PeerState
from dev.redis_server import RedisServer
from tests.bot.conftest import environment, local_peers
from tests.conftest import ROOT

CHAT = -1001234567890
STAFF = "777001"
NUMBERS = ("+923001110001", "+923001110002")
CASEBOOK_SECRET = "x" * 40
REPORTER = "tg-abc"
CARD_REFERENCE = re.compile(r"^Report (R-[0-9A-Z]{6}) · ", re.MULTILINE)
SMS_REFERENCE = re.compile(r"^RAHNUMA (?:report|URGENT) (R-[0-9A-Z]{6}) ")
DESCRIPTION = (
    "The agent in Gujranwala took my passport and 5 lakh rupees for a work visa to Dubai. "
    "Now he wants 3 lakh more before he gives anything back, and four men from our village "
    "paid him too. He threatens us when we ask for the money."
)

Condition = Callable[[], Awaitable[bool]]


def relay_environment(peers_url: str, prefix: str, **overrides: str) -> Dict[str, str]:
    """Settings with all three destinations on the local peers, and short relay timings."""
    settings = {
        "TELEGRAM_API_URL": peers_url,
        "TWILIO_API_URL": peers_url,
        "PUBLIC_URL": "https://rahnuma.example.org",
        "REDIS_PREFIX": prefix,
        "HOTLINE_TELEGRAM_CHAT_ID": str(CHAT),
        "HOTLINE_STAFF_TELEGRAM_IDS": STAFF,
        "HOTLINE_SMS_NUMBERS": ",".join(NUMBERS),
        "HOTLINE_WEBHOOK_URL": f"{peers_url}/_peer/casebook",
        "HOTLINE_WEBHOOK_SECRET": CASEBOOK_SECRET,
        "RELAY_RETRY_SECONDS": "0.05",
        "RELAY_CLAIM_IDLE_SECONDS": "1",
        "RELAY_METRICS_PORT": "0",
    }
    return environment(**{**settings, **overrides})


def submission(
    description: str = DESCRIPTION,
    *,
    urgent: bool = False,
    location: Optional[str] = "Lahore",
    may_contact: bool = True,
) -> Submission:
    """A report as the action server hands it over."""
    return Submission(
        reporter=REPORTER,
        language="ur_Latn",
        channel=Channel.TELEGRAM,
        description=description,
        location=location,
        urgent=urgent,
        may_contact=may_contact,
    )


def cards(peers: PeerState) -> List[str]:
    """References of the report cards in the staff chat, in order (alerts are not cards)."""
    return [
        match.group(1)
        for message in peers.telegram_to(CHAT)
        if (match := CARD_REFERENCE.search(message["text"]))
    ]


def alerts(peers: PeerState) -> List[str]:
    """The staff chat's messages that are not report cards."""
    return [m["text"] for m in peers.telegram_to(CHAT) if not CARD_REFERENCE.search(m["text"])]


def texts_to(peers: PeerState, number: str) -> List[str]:
    """References of the SMS short forms sent to ``number``, in order."""
    return [
        match.group(1)
        for message in peers.sms_to(number)
        if (match := SMS_REFERENCE.match(message["body"]))
    ]


def posted(peers: PeerState) -> List[str]:
    """References the case system received, in order, repeats included (alerts left out)."""
    bodies = [json.loads(post["body"]) for post in peers.casebook]
    return [body["reference"] for body in bodies if "reference" in body]


def duplicates(references: Sequence[str]) -> int:
    """How many deliveries were repeats."""
    return len(references) - len(set(references))


async def drained(redis: Redis, store: ReportStore) -> bool:
    """Both report streams are empty, nothing is pending and no retry is scheduled."""
    for stream in (store.keys.reports_urgent, store.keys.reports):
        pending: Any = await redis.xpending(stream, GROUP)
        if await redis.xlen(stream) or pending["pending"]:
            return False
    return not await redis.zcard(store.keys.relay_retry)


async def everywhere(peers: PeerState, store: ReportStore, references: Sequence[str]) -> bool:
    """Every reference reached every destination, and the streams are drained."""
    wanted = set(references)
    return (
        wanted <= set(cards(peers))
        and all(wanted <= set(texts_to(peers, number)) for number in NUMBERS)
        and wanted <= set(posted(peers))
        and await drained(store.redis, store)
    )


async def wait_until(
    condition: Condition, timeout: float, alive: Callable[[], None] = lambda: None
) -> None:
    """Polls ``condition`` until it holds; fails after ``timeout`` or when ``alive()`` raises."""
    deadline = time.monotonic() + timeout
    while not await condition():
        alive()
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


async def drive(relays: Sequence[Relay], condition: Condition, timeout: float = 15.0) -> None:
    """Runs each relay round after round, concurrently, until ``condition`` holds."""
    stop = asyncio.Event()

    async def rounds(relay: Relay) -> None:
        while not stop.is_set():
            await relay.work_once(block_ms=50)

    tasks = [asyncio.create_task(rounds(relay)) for relay in relays]

    def alive() -> None:
        for task in tasks:
            if task.done():
                task.result()  # a relay's exception fails the test
                pytest.fail("a relay stopped working")

    try:
        await wait_until(condition, timeout, alive)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def metric(relay: Relay, name: str, destination: str) -> float:
    """A counter of the relay's own registry, labelled by destination kind."""
    value = relay._metrics.registry.get_sample_value(name, {"destination": destination})
    return value or 0.0


class RelayRig:
    """A relay in this process with its peers, and a store as the action server has it."""

    def __init__(
        self, peers: PeerState, settings: Settings, relay: Relay, redis: Redis, store: ReportStore
    ) -> None:
        self.peers = peers
        self.settings = settings
        self.relay = relay
        self.redis = redis
        self.store = store

    async def submit(self, times: int = 1, **details: Any) -> List[str]:
        return [await self.store.submit(submission(**details)) for _ in range(times)]

    async def delivered(self, references: Sequence[str]) -> bool:
        """Every reference reached every destination, and the streams are settled."""
        return await everywhere(self.peers, self.store, references)

    async def attempts(self, reference: str) -> int:
        raw: Any = await self.redis.hget(self.store.keys.case(reference), "attempts")
        return int(raw or 0)


async def another_relay(settings: Settings, stack: contextlib.AsyncExitStack) -> Relay:
    """A second relay as another process would run it: its own clients, its own name."""
    built = await build(settings, stack)
    return Relay(
        built._store,
        built._destinations,
        RelayMetrics(),
        max_attempts=settings.relay_max_attempts,
        retry_seconds=settings.relay_retry_seconds,
        claim_idle_seconds=settings.relay_claim_idle_seconds,
        consumer="relay-b",
    )


@contextlib.asynccontextmanager
async def running_hotline(redis: Redis, prefix: str, **overrides: str) -> AsyncIterator[RelayRig]:
    """The local peers and a relay built from settings, as ``python -m bot.hotline`` builds it."""
    async with local_peers() as (peers, peers_url, _rasa, _rasa_url):
        settings = Settings.load(environ=relay_environment(peers_url, prefix, **overrides))
        async with contextlib.AsyncExitStack() as stack:
            relay = await build(settings, stack)
            await relay.ensure_groups()
            store = ReportStore(redis, Keys(prefix), Sealer(str(settings.data_keys)))
            yield RelayRig(peers, settings, relay, redis, store)


@pytest.fixture
async def hotline(redis: Redis, prefix: str) -> AsyncIterator[RelayRig]:
    async with running_hotline(redis, prefix) as running:
        yield running


# -- delivery -------------------------------------------------------------------------


async def test_a_report_reaches_the_staff_chat_each_on_call_phone_and_the_case_system_once(
    hotline: RelayRig,
) -> None:
    [reference] = await hotline.submit()
    await drive([hotline.relay], lambda: hotline.delivered([reference]))
    peers = hotline.peers

    [card] = peers.telegram_to(CHAT)
    lines = card["text"].split("\n")
    assert lines[0] == "🟡 New report"
    assert lines[1].startswith(f"Report {reference} · ")
    assert lines[2] == "Language: Roman Urdu · came by Telegram"
    assert f"What happened: {DESCRIPTION}" in lines
    assert "Where: Lahore" in lines
    assert lines[-1].startswith("Contact: The reporter agreed to be contacted.")
    assert f"/reply {reference} <message>" in lines[-1]
    buttons = card["reply_markup"]["inline_keyboard"]
    assert [[button["callback_data"] for button in row] for row in buttons] == [
        [f"claim:{reference}", f"resolve:{reference}"]
    ]

    for number in NUMBERS:
        [sms] = peers.sms_to(number)
        assert sms["body"].startswith(
            f"RAHNUMA report {reference} (telegram, ur_Latn). "
            "Where: Lahore. Contact: yes. The agent in Gujranwala"
        )
        assert sms["body"].endswith(f" Reply CLAIM {reference}")
        assert count(sms["body"]).segments <= 2

    [post] = peers.casebook
    headers, raw = post["headers"], post["body"].encode("utf-8")
    assert headers["idempotency-key"] == reference
    stamp = headers["x-rahnuma-timestamp"]
    assert abs(int(stamp) - time.time()) < 60
    expected = hmac.new(CASEBOOK_SECRET.encode(), stamp.encode() + b"." + raw, hashlib.sha256)
    assert hmac.compare_digest(headers["x-rahnuma-signature"], "sha256=" + expected.hexdigest())
    body = json.loads(raw)
    created = datetime.fromisoformat(body.pop("created_at"))
    assert abs(created.timestamp() - time.time()) < 60
    assert body == {
        "event": "report.created",
        "reference": reference,
        "urgent": False,
        "language": "ur_Latn",
        "channel": "telegram",
        "description": DESCRIPTION,
        "location": "Lahore",
        "may_contact": True,
    }

    store = hotline.store
    for stream in (store.keys.reports_urgent, store.keys.reports):
        pending: Any = await hotline.redis.xpending(stream, GROUP)
        assert pending["pending"] == 0
        assert await hotline.redis.xlen(stream) == 0
    case = await store.case(reference)
    assert case is not None
    assert case.delivered == {"telegram", *(f"sms:{number}" for number in NUMBERS), "webhook"}


async def test_an_urgent_report_is_the_first_card_staff_see(hotline: RelayRig) -> None:
    normal = await hotline.submit(3, description="Visa fee taken, no visa")
    [urgent] = await hotline.submit(description="They locked us in a room now", urgent=True)
    await drive([hotline.relay], lambda: hotline.delivered([*normal, urgent]))

    messages = hotline.peers.telegram_to(CHAT)
    assert messages[0]["text"].startswith("🔴 URGENT: someone is in danger now")
    assert cards(hotline.peers) == [urgent, *normal]
    for number in NUMBERS:
        assert texts_to(hotline.peers, number)[0] == urgent
        assert hotline.peers.sms_to(number)[0]["body"].startswith(f"RAHNUMA URGENT {urgent} ")


async def test_a_report_longer_than_a_telegram_message_keeps_where_and_contact_on_the_card(
    hotline: RelayRig,
) -> None:
    # The action server accepts 4000 characters of description; the card adds its lines.
    long = " ".join(f"word{n}" for n in range(800))[:4000]
    [reference] = await hotline.submit(description=long, may_contact=False)
    await drive([hotline.relay], lambda: hotline.delivered([reference]))

    [card] = hotline.peers.telegram_to(CHAT)
    lines = card["text"].split("\n")
    assert len(card["text"]) <= 4096
    assert lines[-3:] == [
        "Where: Lahore",
        "",
        "Contact: The reporter did NOT agree to be contacted. Do not try to reach them.",
    ]
    assert long[:3000] in card["text"]


# -- failures -------------------------------------------------------------------------


async def test_a_case_system_down_for_a_while_gets_each_report_once_and_staff_get_it_once(
    hotline: RelayRig,
) -> None:
    peers = hotline.peers
    peers.casebook_down = True
    references = await hotline.submit(3)

    async def retried() -> bool:
        return all([await hotline.attempts(reference) >= 3 for reference in references])

    await drive([hotline.relay], retried)
    assert peers.casebook == []
    assert sorted(cards(peers)) == sorted(references)
    for number in NUMBERS:
        assert sorted(texts_to(peers, number)) == sorted(references)

    peers.casebook_down = False
    await drive([hotline.relay], lambda: hotline.delivered(references))
    assert sorted(posted(peers)) == sorted(references)
    assert sorted(cards(peers)) == sorted(references)
    for number in NUMBERS:
        assert sorted(texts_to(peers, number)) == sorted(references)
    assert metric(hotline.relay, "rahnuma_report_delivery_failures_total", "webhook") >= 9
    assert metric(hotline.relay, "rahnuma_reports_delivered_total", "telegram") == 3


async def test_a_staff_chat_failing_twice_gets_the_card_once_and_the_others_are_not_resent(
    hotline: RelayRig,
) -> None:
    peers = hotline.peers
    peers.fail_telegram = [500, 500]
    [reference] = await hotline.submit()
    await drive([hotline.relay], lambda: hotline.delivered([reference]))

    assert peers.fail_telegram == []
    assert cards(peers) == [reference]
    assert posted(peers) == [reference]
    for number in NUMBERS:
        assert texts_to(peers, number) == [reference]
    assert metric(hotline.relay, "rahnuma_report_delivery_failures_total", "telegram") == 2
    assert await hotline.attempts(reference) == 2


async def dead_letters(hotline: RelayRig) -> List[Dict[str, str]]:
    entries: Any = await hotline.redis.xrange(hotline.store.keys.reports_dead)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in entries]


async def test_a_case_system_that_never_answers_dead_letters_the_report_and_alerts_staff(
    redis: Redis,
    prefix: str,
) -> None:
    async with running_hotline(redis, prefix, RELAY_MAX_ATTEMPTS="3") as hotline:
        peers, store = hotline.peers, hotline.store
        peers.casebook_down = True
        [reference] = await hotline.submit()

        async def given_up() -> bool:
            return bool(await dead_letters(hotline)) and await drained(redis, store)

        await drive([hotline.relay], given_up)
        [dead] = await dead_letters(hotline)
        assert dead["reference"] == reference
        assert dead["destinations"] == "webhook"
        assert dead["attempts"] == "3"
        assert metric(hotline.relay, "rahnuma_reports_dead_letter_total", "webhook") == 1
        assert metric(hotline.relay, "rahnuma_reports_dead_letter_total", "telegram") == 0
        assert cards(peers) == [reference]
        [alert] = alerts(peers)
        assert reference in alert
        assert "could not be delivered to webhook after 3 attempts" in alert
        for number in NUMBERS:
            bodies = [m["body"] for m in peers.sms_to(number)]
            assert len(bodies) == 2
            assert reference in bodies[1]
        assert peers.casebook == []

        case = await store.case(reference)
        assert case is not None
        assert case.status == "open"
        assert case.description == DESCRIPTION
        assert "webhook" not in case.delivered
        assert reference in [open_case.reference for open_case in await store.open_cases()]


async def test_a_case_sealed_with_another_key_is_set_aside_and_the_reports_behind_it_flow(
    hotline: RelayRig,
) -> None:
    stranger = ReportStore(
        hotline.redis, hotline.store.keys, Sealer(Fernet.generate_key().decode())
    )
    poison = await stranger.submit(submission("sealed with a key the relay does not have"))
    behind = await hotline.submit(times=2)

    async def flowed() -> bool:
        return await hotline.delivered(behind) and bool(await dead_letters(hotline))

    await drive([hotline.relay], flowed)
    [dead] = await dead_letters(hotline)
    assert (dead["reference"], dead["destinations"]) == (poison, "unreadable")
    assert metric(hotline.relay, "rahnuma_reports_dead_letter_total", "unreadable") == 1
    assert cards(hotline.peers) == behind
    [alert] = alerts(hotline.peers)
    assert poison in alert and "RAHNUMA_DATA_KEY" in alert


async def test_a_stream_entry_without_a_reference_is_set_aside(hotline: RelayRig) -> None:
    await hotline.redis.xadd(hotline.store.keys.reports, {"junk": "1"})
    behind = await hotline.submit()

    async def flowed() -> bool:
        return await hotline.delivered(behind) and bool(await dead_letters(hotline))

    await drive([hotline.relay], flowed)
    [dead] = await dead_letters(hotline)
    assert dead["destinations"] == "unreadable" and "no reference" in dead["error"]


async def test_the_work_loop_writes_the_heartbeat_the_gateway_reads(hotline: RelayRig) -> None:
    key = hotline.store.keys.relay_heartbeat
    await hotline.redis.hset(key, "relay-gone-yesterday", time.time() - 90_000)
    await hotline.relay.work_once(block_ms=10)
    await hotline.relay.beat()
    [(name, beat)] = (await hotline.redis.hgetall(key)).items()
    assert name != b"relay-gone-yesterday" and time.time() - float(beat) < 10
    gauge = hotline.relay.metrics.registry.get_sample_value(
        "rahnuma_relay_heartbeat_timestamp_seconds"
    )
    assert gauge == pytest.approx(float(beat), abs=0.01)


async def test_a_permanent_refusal_dead_letters_at_the_first_attempt(hotline: RelayRig) -> None:
    peers = hotline.peers
    peers.fail_casebook = [400]
    [reference] = await hotline.submit()

    async def given_up() -> bool:
        return bool(await dead_letters(hotline)) and await drained(hotline.redis, hotline.store)

    await drive([hotline.relay], given_up)
    [dead] = await dead_letters(hotline)
    assert (dead["reference"], dead["destinations"], dead["attempts"]) == (
        reference,
        "webhook",
        "1",
    )
    assert "400" in dead["error"]
    assert metric(hotline.relay, "rahnuma_reports_dead_letter_total", "webhook") == 1
    assert peers.casebook == []
    assert cards(peers) == [reference]
    assert any(reference in alert for alert in alerts(peers))


async def test_two_relays_working_the_same_streams_deliver_each_report_once(
    redis: Redis,
    prefix: str,
) -> None:
    async with running_hotline(redis, prefix) as hotline:
        # A second relay process: its own clients, its own consumer name, the same Redis.
        async with contextlib.AsyncExitStack() as stack:
            second = await another_relay(hotline.settings, stack)
            references = await hotline.submit(30)
            await drive([hotline.relay, second], lambda: hotline.delivered(references), timeout=40)

        peers = hotline.peers
        assert Counter(cards(peers)) == Counter({reference: 1 for reference in references})
        for number in NUMBERS:
            assert Counter(texts_to(peers, number)) == Counter(references)
        assert sorted(set(posted(peers))) == sorted(references)
        shares = [
            metric(relay, "rahnuma_reports_delivered_total", "telegram")
            for relay in (hotline.relay, second)
        ]
        assert sum(shares) == 30


async def test_a_send_slower_than_the_claim_idle_time_is_not_repeated_by_another_relay(
    redis: Redis,
    prefix: str,
) -> None:
    # Telegram answers 429 "retry after 1" twice: the first relay waits 2 s in its send,
    # longer than RELAY_CLAIM_IDLE_SECONDS, while the second relay looks for stale entries.
    async with running_hotline(redis, prefix) as hotline:
        hotline.peers.fail_telegram = [429, 429]
        [reference] = await hotline.submit()
        async with contextlib.AsyncExitStack() as stack:
            second = await another_relay(hotline.settings, stack)
            await drive([hotline.relay, second], lambda: hotline.delivered([reference]))
        assert hotline.peers.fail_telegram == []
        assert cards(hotline.peers) == [reference]
        for number in NUMBERS:
            assert texts_to(hotline.peers, number) == [reference]


# -- what is kept, and for how long ---------------------------------------------------


async def test_a_resolved_case_is_purged_after_the_retention_and_an_open_one_never(
    redis: Redis,
    prefix: str,
) -> None:
    store = ReportStore(redis, Keys(prefix), Sealer(Fernet.generate_key().decode()))
    note = "Called the FIA circle; the passport was returned"
    resolved = await store.submit(submission(location="Daska, Sialkot"))
    still_open = await store.submit(submission(description="Second report, still open"))
    assert await store.claim(resolved, STAFF, "telegram") == "claimed"
    assert await store.resolve(resolved, STAFF, note=note) == "done"
    case = await store.case(resolved)
    assert case is not None and case.resolved_at is not None
    day = 86400

    assert await store.purge(retention_days=90, now=case.resolved_at + 89 * day) == 0
    assert await store.case(resolved) is not None
    assert await store.references_of(REPORTER) == sorted([resolved, still_open])

    assert await store.purge(retention_days=90, now=case.resolved_at + 91 * day) == 1
    assert await store.case(resolved) is None
    assert not await redis.exists(store.keys.case(resolved))
    assert await store.references_of(REPORTER) == [still_open]
    assert await store.case(still_open) is not None

    trail = await store.audit(resolved)
    assert [(entry["action"], entry["staff"]) for entry in trail] == [
        ("claimed", STAFF),
        ("resolved", STAFF),
    ]
    everything = json.dumps(await store.audit(), ensure_ascii=False)
    for secret in ("passport", "Gujranwala", "Daska", "Sialkot", "FIA", note):
        assert secret not in everything

    assert await store.purge(retention_days=90, now=time.time() + 3650 * day) == 0
    assert await store.case(still_open) is not None


async def test_cases_are_sealed_at_rest_and_survive_a_key_rotation(
    redis: Redis,
    prefix: str,
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    description = "Mera passport agent ne rakh liya. ایجنٹ نے پاسپورٹ رکھ لیا"
    location = "Daska, Sialkot"
    note = "Referred to the FIA circle in Gujranwala"
    old_store = ReportStore(redis, Keys(prefix), Sealer(old))
    reference = await old_store.submit(submission(description, location=location))
    assert await old_store.resolve(reference, STAFF, note=note) == "done"

    raw: Any = await redis.hgetall(old_store.keys.case(reference))
    stored = b"\n".join([*raw.keys(), *raw.values()])
    for plain in ("passport", "پاسپورٹ", "Daska", "Sialkot", "FIA", "Gujranwala"):
        assert plain.encode("utf-8") not in stored

    with pytest.raises(ReportStoreError):
        await ReportStore(redis, Keys(prefix), Sealer(new)).case(reference)
    both = ReportStore(redis, Keys(prefix), Sealer(f"{new},{old}"))
    case = await both.case(reference)
    assert case is not None
    assert (case.description, case.location) == (description, location)

    assert await both.rotate() == 1
    case = await ReportStore(redis, Keys(prefix), Sealer(new)).case(reference)
    assert case is not None
    assert (case.description, case.location) == (description, location)
    with pytest.raises(ReportStoreError):
        await old_store.case(reference)
    sealed_note: Any = await redis.hget(old_store.keys.case(reference), "note")
    assert Fernet(new.encode()).decrypt(sealed_note).decode() == note


# -- faults: real processes, SIGKILL ----------------------------------------------------


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path, password="fault-test-password", append_only=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class RelayProcesses:
    """``python -m bot.hotline`` processes, one after another, with the same settings."""

    def __init__(self, env: Dict[str, str], directory: Path) -> None:
        self._env = {**os.environ, **env}
        self._log: IO[bytes] = (directory / "relay.log").open("w+b")
        self.current: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> subprocess.Popen[bytes]:
        self.current = subprocess.Popen(
            [sys.executable, "-m", "bot.hotline"],
            cwd=ROOT,
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        return self.current

    def alive(self) -> None:
        """Fails the test with the relay's log when it has exited."""
        if self.current is not None and self.current.poll() is not None:
            self._log.seek(0)
            pytest.fail(f"relay exited: {self._log.read().decode()[-3000:]}")

    def kill(self) -> None:
        assert self.current is not None
        os.kill(self.current.pid, signal.SIGKILL)
        self.current.wait(10)
        self.current = None

    def stop(self) -> None:
        if self.current is not None and self.current.poll() is None:
            self.current.send_signal(signal.SIGTERM)
            try:
                self.current.wait(10)
            except subprocess.TimeoutExpired:
                self.current.kill()
                self.current.wait(10)
        self._log.close()


class Rig:
    """Peers in this loop, a store on the test's redis-server, and relay processes."""

    def __init__(
        self, peers: PeerState, server: RedisServer, env: Dict[str, str], relays: RelayProcesses
    ) -> None:
        self.peers = peers
        self.server = server
        self.relays = relays
        self._key = env["RAHNUMA_DATA_KEY"]
        self._prefix = env["REDIS_PREFIX"]
        self.store = self._connect()

    def _connect(self) -> ReportStore:
        return ReportStore(Redis.from_url(self.server.url), Keys(self._prefix), Sealer(self._key))

    async def reconnect(self) -> None:
        """A fresh client, as the action server has after Redis came back."""
        await self.store.redis.aclose()
        self.store = self._connect()

    async def submit(self, label: str, count: int) -> List[str]:
        return [await self.store.submit(submission(f"{label} {n}")) for n in range(count)]

    async def settled(self, references: Sequence[str]) -> bool:
        """Every reference reached every destination, and the streams are drained."""
        return await everywhere(self.peers, self.store, references)


@contextlib.asynccontextmanager
async def fault_rig(server: RedisServer, prefix: str, directory: Path) -> AsyncIterator[Rig]:
    async with local_peers() as (peers, peers_url, _rasa, _rasa_url):
        env = relay_environment(peers_url, prefix, REDIS_URL=server.url)
        rig = Rig(peers, server, env, RelayProcesses(env, directory))
        try:
            yield rig
        finally:
            rig.relays.stop()
            await rig.store.redis.aclose()


def report_faults(name: str, references: Sequence[str], peers: PeerState, extra: str = "") -> None:
    staff = cards(peers)
    print(
        f"FAULTS {name}: submitted={len(references)} delivered_staff_chat={len(set(staff))} "
        f"duplicates={duplicates(staff)}{extra}"
    )


async def test_a_relay_killed_between_delivery_and_acknowledgement_loses_and_repeats_nothing(
    own_redis: RedisServer,
    prefix: str,
    tmp_path: Path,
) -> None:
    async with fault_rig(own_redis, prefix, tmp_path) as rig:
        peers, relays = rig.peers, rig.relays
        references = await rig.submit("Report number", 12)
        peers.casebook_hold = 3.0  # the case system has the post; the relay waits for its answer
        killed: List[str] = []
        for _ in range(3):
            before = set(posted(peers))
            relays.start()

            async def new_post(before: set[str] = before) -> bool:
                return bool(set(posted(peers)) - before)

            await wait_until(new_post, timeout=20, alive=relays.alive)
            relays.kill()
            killed += sorted(set(posted(peers)) - before)
        peers.casebook_hold = 0.0
        relays.start()
        await wait_until(lambda: rig.settled(references), timeout=30, alive=relays.alive)
        relays.stop()

        webhook = posted(peers)
        report_faults(
            "kill-relay-during-webhook",
            references,
            peers,
            f" (kills={len(killed)} sms_duplicates="
            f"{sum(duplicates(texts_to(peers, n)) for n in NUMBERS)} "
            f"webhook_reposts={duplicates(webhook)})",
        )
        assert len(killed) == 3
        assert Counter(cards(peers)) == Counter(references)
        for number in NUMBERS:
            assert Counter(texts_to(peers, number)) == Counter(references)
        assert set(webhook) == set(references)
        assert set(killed) <= {reference for reference, n in Counter(webhook).items() if n > 1}
        for post in peers.casebook:  # a repeat carries the same key: the case system dedupes
            assert post["headers"]["idempotency-key"] == json.loads(post["body"])["reference"]
        assert await drained(rig.store.redis, rig.store)


async def test_reports_confirmed_just_before_redis_crashes_are_delivered_once(
    own_redis: RedisServer,
    prefix: str,
    tmp_path: Path,
) -> None:
    async with fault_rig(own_redis, prefix, tmp_path) as rig:
        peers = rig.peers
        # Each submit returning is the moment the user is told "saved".
        references = await rig.submit("Report number", 16)
        own_redis.kill()
        own_redis.start()
        await rig.reconnect()
        rig.relays.start()
        await wait_until(lambda: rig.settled(references), timeout=30, alive=rig.relays.alive)
        report_faults("redis-killed-after-confirmation", references, peers)
        assert Counter(cards(peers)) == Counter(references)
        for number in NUMBERS:
            assert Counter(texts_to(peers, number)) == Counter(references)
        assert Counter(posted(peers)) == Counter(references)
        shown = "\n".join(m["text"] for m in peers.telegram_to(CHAT))
        assert all(f"What happened: Report number {n}\n" in shown for n in range(16))


async def test_a_relay_carries_on_when_redis_is_killed_and_restarted_under_it(
    own_redis: RedisServer,
    prefix: str,
    tmp_path: Path,
) -> None:
    async with fault_rig(own_redis, prefix, tmp_path) as rig:
        peers = rig.peers
        # 12 + 5 cards: within the 20-message burst Telegram allows a group (the relay obeys).
        references = await rig.submit("Report number", 12)
        rig.relays.start()

        async def some_delivered() -> bool:
            return len(cards(peers)) >= 4

        await wait_until(some_delivered, timeout=20, alive=rig.relays.alive)
        own_redis.kill()
        at_kill = len(cards(peers))
        await asyncio.sleep(0.5)  # the relay meets a dead Redis for a while
        own_redis.start()
        await rig.reconnect()
        references += await rig.submit("After the restart", 5)
        await wait_until(lambda: rig.settled(references), timeout=30, alive=rig.relays.alive)
        staff = cards(peers)
        report_faults(
            "redis-killed-under-running-relay",
            references,
            peers,
            f" (delivered_before_kill={at_kill} sms_duplicates="
            f"{sum(duplicates(texts_to(peers, n)) for n in NUMBERS)} "
            f"webhook_reposts={duplicates(posted(peers))})",
        )
        assert at_kill < len(references)
        assert Counter(staff) == Counter(references)
        for number in NUMBERS:
            assert Counter(texts_to(peers, number)) == Counter(references)
        assert set(posted(peers)) == set(references)
