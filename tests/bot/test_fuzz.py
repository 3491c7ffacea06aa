"""Property tests over webhook bodies: never a 5xx, never a crash, nothing lost.

Hypothesis throws bodies at the two front doors of a running gateway (real
Redis, the local Telegram/Twilio peers, FakeRasa): empty, 100 kB, invalid
UTF-8, control characters, bidi marks, emoji, Urdu. Hypothesis does not drive
async tests, so the stack runs in a thread of its own with its own event loop
and the properties are plain functions talking HTTP to it, as the providers do.

"Nothing lost" is what a user would notice: every accepted message gets its
answer (the whole of it, MORE page by MORE page for SMS), and no user's inbox
is left holding a message once the gateway has gone quiet. "Never a crash" is
that the gateway logged no error and its event loop saw no unhandled exception.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import logging
import random
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, TypeVar
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
import redis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from bot import texts
from bot.app import MAX_BODY, MAX_SMS_BODY
from bot.channels.sms import HELP_WORDS, MORE_WORDS, START_WORDS, STOP_WORDS, keyword
from bot.conversation.messages import clean_text
from contract.languages import LANGUAGES
from contract.limits import TWILIO_MAX_CHARS
from contract.segments import count
from tests.bot.conftest import (
    TWILIO_FROM,
    TWILIO_SID,
    WEBHOOK_SECRET,
    GatewayRig,
    running_stack,
    text_update,
)
from tests.conftest import REDIS_URL

T = TypeVar("T")

FUZZ = settings(
    deadline=None,
    database=None,  # nothing written into the working tree
    report_multiple_bugs=False,  # shrink one failure, not all: a red run stays short
    suppress_health_check=[HealthCheck.too_slow],
)
SMS_SEGMENTS = 3  # SMS_MAX_SEGMENTS as the test stack runs it (the default)
QUIET_TIMEOUT = 5.0
ANSWER_TIMEOUT = 10.0

# -- what users (and forgers) send --------------------------------------------

BIDI_MARKS = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
INVISIBLES = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u00a0\u1680\u2000\u2003\u2028\u2029\u3000"
CONTROLS = "".join(chr(c) for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)))
EMOJI = ["😀", "🇵🇰", "👍🏽", "👨\u200d👩\u200d👧", "❤\ufe0f", "🙏", "\U0001f9d5", "🫶"]
URDU = [
    "مجھے سعودی عرب میں کام کے لیے ویزا چاہیے۔",
    "ایجنٹ نے پیسے لیے؟",
    "۱۲۳",
    "kya agent asli hai?",
    "بیرون ملک",
]
PIECES: st.SearchStrategy[str] = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=BIDI_MARKS + INVISIBLES + WHITESPACE, max_size=8),
    st.text(alphabet=CONTROLS, min_size=1, max_size=4),
    st.sampled_from(EMOJI),
    st.sampled_from(URDU),
    st.sampled_from(["Hello.", "How do I go abroad?", "&amp; <b>", "]]>", "a  b", "\\u0000"]),
)
LONG_SIZES = st.sampled_from([161, 1600, 1601, 4096, 4097, 10_000, 100_000])


def repeated(unit: str, size: int) -> str:
    """``unit`` repeated to exactly ``size`` characters."""
    return (unit * (size // len(unit) + 1))[:size]


SHORT_TEXTS = st.lists(PIECES, max_size=8).map("".join)
LONG_TEXTS = st.builds(
    repeated, st.lists(PIECES, min_size=1, max_size=4).map("".join).filter(bool), LONG_SIZES
)
NASTY_TEXTS = st.one_of(
    SHORT_TEXTS,
    st.text(alphabet=BIDI_MARKS + WHITESPACE, min_size=1, max_size=20),  # marks only
    LONG_TEXTS,
)

JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=3),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
UPDATE_PATHS = [
    ("update_id",),
    ("message",),
    ("message", "text"),
    ("message", "chat"),
    ("message", "chat", "id"),
    ("message", "chat", "type"),
    ("message", "from"),
    ("message", "from", "language_code"),
    ("message", "date"),
    ("message", "message_id"),
    ("message", "entities"),
    ("message", "caption"),
    ("message", "voice"),
    ("message", "photo"),
    ("callback_query",),
    ("callback_query", "data"),
    ("edited_message",),
    ("my_chat_member",),
]


@st.composite
def update_shaped_bodies(draw: st.DrawFn) -> bytes:
    """A real Update with a few fields replaced by any JSON at all."""
    update = text_update(
        draw(st.integers(1, 2**40)), draw(st.integers(1, 2**40)), draw(SHORT_TEXTS)
    )
    for path in draw(st.lists(st.sampled_from(UPDATE_PATHS), min_size=1, max_size=3)):
        parent: Any = update
        for key in path[:-1]:
            parent = parent.setdefault(key, {}) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent[path[-1]] = draw(JSON_VALUES)
    return json.dumps(update, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


@st.composite
def spliced(draw: st.DrawFn, bodies: st.SearchStrategy[bytes]) -> bytes:
    """A body with a stretch of it replaced by random bytes (truncation, invalid UTF-8)."""
    body = draw(bodies)
    start = draw(st.integers(0, len(body)))
    end = draw(st.integers(start, len(body)))
    return body[:start] + draw(st.binary(max_size=16)) + body[end:]


RAW_BYTES = st.one_of(
    st.just(b""),
    st.binary(max_size=256),
    st.builds(
        lambda unit, size: (unit * (size // len(unit) + 1))[:size],
        st.binary(min_size=1, max_size=32),
        st.sampled_from([1024, 100 * 1024]),
    ),
    st.binary(max_size=64).map(lambda b: b + b"\xff\xfe\xc3\x28\xed\xa0\x80"),  # not UTF-8
)
TELEGRAM_BODIES = st.one_of(
    RAW_BYTES,
    st.builds(json.dumps, JSON_VALUES).map(lambda s: s.encode("utf-8", "surrogatepass")),
    update_shaped_bodies(),
    spliced(update_shaped_bodies()),
)
FORM_FIELDS = st.dictionaries(
    st.sampled_from(["MessageSid", "From", "To", "Body", "NumMedia", "AccountSid", "Other", ""]),
    st.one_of(st.text(max_size=20), SHORT_TEXTS, st.just("")),
    max_size=6,
)
SMS_BODIES = st.one_of(
    RAW_BYTES,
    FORM_FIELDS.map(lambda fields: urlencode(fields).encode()),
    spliced(FORM_FIELDS.map(lambda fields: urlencode(fields).encode())),
    st.binary(max_size=64).map(lambda b: b"MessageSid=SMx&From=%2B92&Body=%FF%FE" + b),
)

# -- FakeRasa's scripted messages are not echoed (see tests/bot/fake_rasa.py) --

SCRIPTED = ("/show_menu", "menu", "sms:short", "/delete_my_data")


def scripted(message: str) -> bool:
    return message in SCRIPTED or message.startswith("long:")


def squash(text: str) -> str:
    """``text`` without any whitespace: pages and parts may be cut and joined at spaces."""
    return "".join(text.split())


def has_meaning(text: str) -> bool:
    """A letter or a digit somewhere: a message the assistant must see."""
    return any(c.isalnum() for c in text)


# -- the stack, in a thread of its own -----------------------------------------


class ErrorLog(logging.Handler):
    """Keeps ERROR records of the gateway and of uvicorn (a 500 is logged there)."""

    def __init__(self, records: List[str]) -> None:
        super().__init__(logging.ERROR)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        self.records.append(f"{record.name}: {record.getMessage()} {error!r}")


@dataclass(frozen=True)
class Mark:
    problems: int
    inboxes: frozenset[str]


@dataclass
class Harness:
    """The running stack, seen from the test's thread."""

    stack: GatewayRig
    loop: asyncio.AbstractEventLoop
    http: httpx.Client
    redis: redis.Redis
    prefix: str
    problems: List[str] = field(default_factory=list)
    _ids: Iterator[int] = field(
        default_factory=lambda: itertools.count(random.randrange(10**9, 2 * 10**9))
    )

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Runs ``coroutine`` on the stack's loop and returns its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def fresh(self) -> int:
        """An id no example has used: update_id, chat id, a phone number's digits."""
        return next(self._ids)

    def phone(self) -> str:
        return f"+92{self.fresh():010d}"

    def keys(self, kind: str) -> List[str]:
        """This stack's Redis keys of one kind ("inbox", "seen", ...)."""
        found = self.redis.scan_iter(f"{self.prefix}:{kind}:*", count=100_000)
        return [key.decode() for key in found]

    def inboxes(self) -> List[str]:
        return self.keys("inbox")

    def mark(self) -> Mark:
        """Where things stand before an example: later checks look only at what it caused.

        What the gateway keeps per message id and the rate counts are
        forgotten, so that an example hypothesis replays (the same update_id,
        MessageSid or sender) is taken in again as it was the first time.
        """
        stale = [
            key for kind in ("seen", "claim", "reply", "held", "rate") for key in self.keys(kind)
        ]
        if stale:
            self.redis.delete(*stale)
        return Mark(len(self.problems), frozenset(self.inboxes()))

    def quiet(self, since: Optional[Mark] = None, timeout: float = QUIET_TIMEOUT) -> None:
        """Waits until every message accepted since ``since`` was answered.

        Fails on an inbox still holding a message (a wedged user) or on an error
        logged or raised meanwhile; a wedged inbox is then cleared, so that the
        sweeper does not crash on it again during later examples.
        """
        since = since or Mark(0, frozenset())
        deadline = time.monotonic() + timeout
        while True:
            left = [key for key in self.inboxes() if key not in since.inboxes]
            problems = self.problems[since.problems :]
            if not left or problems or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        for key in left:
            self.redis.delete(key)
            self.redis.zrem(f"{self.prefix}:due", key.rsplit(":", 1)[-1])
        assert not problems, problems
        assert not left, f"a message was still waiting after {timeout} s in {left}"

    def telegram(self, body: bytes, secret: Optional[str] = WEBHOOK_SECRET) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return self.http.post(self.stack.url + "/telegram/webhook", content=body, headers=headers)

    def sms(self, body: bytes, signature: Optional[str]) -> httpx.Response:
        headers = {"content-type": "application/x-www-form-urlencoded"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        return self.http.post(self.stack.url + "/sms/twilio", content=body, headers=headers)

    def sent_to(self, chat_id: int) -> List[str]:
        return [m["text"] for m in self.stack.peers.telegram_to(chat_id)]

    def sms_to(self, number: str) -> List[str]:
        return [m["body"] for m in self.stack.peers.sms_to(number)]

    def counts(self) -> tuple[int, int, int]:
        """What left the gateway so far: to Rasa, to Telegram, to Twilio."""
        peers = self.stack.peers
        return len(self.stack.rasa.received), len(peers.telegram_sent), len(peers.twilio_sent)


def wait_for(probe: Callable[[], T], timeout: float = ANSWER_TIMEOUT) -> T:
    """``probe()`` once it is truthy (or its last value after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not (value := probe()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


@pytest.fixture
def gateway() -> Iterator[Harness]:
    prefix = f"test-fuzz-{uuid.uuid4().hex[:12]}"
    store = redis.Redis.from_url(REDIS_URL)
    try:
        store.ping()
    except redis.RedisError as error:  # pragma: no cover - the environment, not the code
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: {error} (make test starts one)")
    problems: List[str] = []
    errors = ErrorLog(problems)
    loggers = [logging.getLogger(name) for name in ("bot", "uvicorn.error", "asyncio")]
    for logger in loggers:
        logger.addHandler(errors)
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(
        lambda _, context: problems.append(
            f"loop: {context.get('message')} {context.get('exception')!r}"
        )
    )
    started: concurrent.futures.Future[GatewayRig] = concurrent.futures.Future()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            async with running_stack(prefix) as stack:
                started.set_result(stack)
                await stop.wait()
        except BaseException as error:
            if not started.done():
                started.set_exception(error)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        stack = started.result(timeout=60)
        with httpx.Client(timeout=60) as http:
            yield Harness(stack, loop, http, store, prefix, problems)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        loop.close()
        for logger in loggers:
            logger.removeHandler(errors)
        for key in store.scan_iter(f"{prefix}:*"):
            store.delete(key)
        store.close()


# -- Telegram -------------------------------------------------------------------


def test_telegram_any_body_with_the_secret_is_200_or_400(gateway: Harness) -> None:
    @settings(FUZZ, max_examples=150)
    @given(body=TELEGRAM_BODIES)
    def never_a_5xx(body: bytes) -> None:
        since = gateway.mark()
        response = gateway.telegram(body)
        assert response.status_code in (200, 400), (response.status_code, response.text)
        gateway.quiet(since)

    never_a_5xx()
    gateway.quiet()


def test_telegram_without_the_secret_is_403_and_nothing_is_processed(gateway: Harness) -> None:
    before = gateway.counts()
    chats: List[int] = []

    @settings(FUZZ, max_examples=80)
    @given(
        body=st.one_of(TELEGRAM_BODIES, NASTY_TEXTS),
        secret=st.one_of(
            st.none(),
            st.just(""),
            st.just(WEBHOOK_SECRET[:-1]),
            st.just(WEBHOOK_SECRET + "x"),
            st.just(WEBHOOK_SECRET.upper()),
            st.just(WEBHOOK_SECRET[::-1]),
            st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40),
        ),
    )
    def forged(body: bytes | str, secret: Optional[str]) -> None:
        assume(secret != WEBHOOK_SECRET)
        since = gateway.mark()
        if isinstance(body, str):  # a well-formed update, so only the secret can refuse it
            chat = gateway.fresh()
            chats.append(chat)
            body = json.dumps(text_update(gateway.fresh(), chat, body)).encode()
        response = gateway.telegram(body, secret=secret)
        assert response.status_code == 403
        assert gateway.inboxes() == []
        assert gateway.counts() == before
        gateway.quiet(since)

    forged()
    time.sleep(0.5)
    assert gateway.counts() == before
    assert not any(gateway.sent_to(chat) for chat in chats)
    gateway.quiet()


def test_telegram_every_text_is_answered(gateway: Harness) -> None:
    empty = texts.text("empty", None)

    @settings(FUZZ, max_examples=100)
    @given(text=NASTY_TEXTS)
    def answered(text: str) -> None:
        message = clean_text(text[:4096]).strip()  # what the gateway passes on
        assume(not message.startswith("/") and not scripted(message))
        since = gateway.mark()
        chat = gateway.fresh()
        body = json.dumps(text_update(gateway.fresh(), chat, text), ensure_ascii=False)
        response = gateway.telegram(body.encode())
        assert response.status_code == 200, response.text
        expected = squash("echo: " + message)

        def complete() -> List[str]:
            sent = gateway.sent_to(chat)
            return sent if sent == [empty] or squash("".join(sent)) == expected else []

        gateway.run(gateway.stack.telegram_sent(chat, 1, timeout=ANSWER_TIMEOUT))
        wait_for(complete)  # a long echo comes in two parts
        replies = gateway.sent_to(chat)
        if not squash(clean_text(text)):
            assert replies == [empty]
        elif has_meaning(clean_text(text)):
            assert squash("".join(replies)) == expected
        else:  # marks and controls only: either answer is fair, and nothing else
            assert replies == [empty] or squash("".join(replies)) == expected
        assert all(len(reply) <= 4096 for reply in replies)
        gateway.quiet(since)

    answered()
    gateway.quiet()


# -- SMS ------------------------------------------------------------------------


def sign(gateway: Harness, params: Dict[str, str], token: str = "") -> str:
    """X-Twilio-Signature for ``params`` at the public URL (the stack's token by default)."""
    if not token:
        return gateway.stack.sign(params)
    target = gateway.stack.public_url + "/sms/twilio"
    return str(RequestValidator(token).compute_signature(target, params))


def as_twilio_reads(raw: bytes) -> Dict[str, str]:
    """The parameters a form body carries (what Twilio would have signed)."""
    text = raw[:MAX_BODY].decode("utf-8", errors="replace")
    return dict(parse_qsl(text, keep_blank_values=True))


def twiml_bodies(response: httpx.Response) -> List[str]:
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    return [element.text or "" for element in root.findall("Message")]


def test_sms_any_body_is_never_a_5xx_and_forgeries_reach_nothing(gateway: Harness) -> None:
    forged_senders: set[str] = set()
    signed_senders: set[str] = set()

    @settings(FUZZ, max_examples=150)
    @given(body=SMS_BODIES, how=st.sampled_from(["signed", "none", "token", "tampered"]))
    def never_a_5xx(body: bytes, how: str) -> None:
        params = as_twilio_reads(body)
        since = gateway.mark()
        if how == "signed":
            signed_senders.add(params.get("From", ""))
            response = gateway.sms(body, sign(gateway, params))
            allowed = (403,) if len(body) > MAX_SMS_BODY else (200, 400)
            assert response.status_code in allowed, (response.status_code, response.text)
            gateway.quiet(since)
            return
        signature = {
            "none": None,
            "token": sign(gateway, params, token="not-the-token"),
            "tampered": sign(gateway, {**params, "Body": params.get("Body", "") + "!"}),
        }[how]
        received = len(gateway.stack.rasa.received)
        response = gateway.sms(body, signature)
        assert response.status_code == 403, (response.status_code, response.text)
        assert gateway.inboxes() == []
        assert len(gateway.stack.rasa.received) == received
        forged_senders.add(params.get("From", ""))
        gateway.quiet(since)

    never_a_5xx()
    time.sleep(0.5)
    gateway.quiet()
    only_forged = forged_senders - signed_senders
    assert not any(gateway.sms_to(sender) for sender in only_forged), (
        "a forged request was answered by REST"
    )


SMS_KEYWORDS = STOP_WORDS | START_WORDS | HELP_WORDS | MORE_WORDS | {"menu"}


def page_text(page: str) -> str:
    """A page without the MORE hint (in whichever language the conversation is)."""
    for language in LANGUAGES:
        hint = "\n" + texts.text("sms_more", language)
        if page.endswith(hint):
            return page[: -len(hint)]
    return page


def test_sms_every_signed_text_is_answered_in_valid_twiml(gateway: Harness) -> None:
    empty = texts.text("empty", None)
    holding = {texts.text("holding", language) for language in LANGUAGES}
    no_more = {texts.text("sms_no_more", language) for language in LANGUAGES}

    def say(sender: str, text: str) -> tuple[httpx.Response, List[str]]:
        params = {
            "MessageSid": f"SM{uuid.uuid4().hex}",
            "AccountSid": TWILIO_SID,
            "From": sender,
            "To": TWILIO_FROM,
            "Body": text,
            "NumMedia": "0",
        }
        content = urlencode(params).encode()
        response = gateway.sms(content, sign(gateway, params))
        if len(content) > MAX_SMS_BODY:  # no Twilio request is this big: refused unread
            assert response.status_code == 403, (response.status_code, response.text)
            return response, []
        assert response.status_code == 200, (response.status_code, response.text)
        messages = twiml_bodies(response)
        for message in messages:
            assert len(message) <= TWILIO_MAX_CHARS
            assert count(message).segments <= SMS_SEGMENTS, count(message)
        if not messages or set(messages) <= holding:  # the answer comes by REST
            sent = gateway.run(gateway.stack.sms_sent(sender, 1, timeout=ANSWER_TIMEOUT))
            messages = [message["body"] for message in sent]
        return response, messages

    @settings(FUZZ, max_examples=80)
    @given(
        text=st.one_of(
            NASTY_TEXTS, st.builds(repeated, PIECES.filter(bool), st.integers(1, TWILIO_MAX_CHARS))
        )
    )
    def answered(text: str) -> None:
        assume(keyword(text) not in SMS_KEYWORDS)
        assume(not text.strip().startswith("/") and not scripted(text))
        since = gateway.mark()
        sender = gateway.phone()
        response, messages = say(sender, text)
        expected = squash("echo: " + clean_text(text[:4096]))
        if response.status_code != 200:  # a body over MAX_SMS_BODY: refused unread
            assert 400 <= response.status_code < 500, response.status_code
        elif not keyword(text):
            assert messages == [empty]
        else:
            assert len(messages) == 1
            assert expected.startswith(squash(page_text(messages[0]))), messages[0][:200]
        if response.status_code == 200 and keyword(text) and len(text) <= TWILIO_MAX_CHARS:
            # What Twilio can carry is read to its end, MORE by MORE.
            pages = [messages[0]]
            for _ in range(25):
                _, (page,) = say(sender, "MORE")
                if page in no_more:
                    break
                pages.append(page)
            assert squash("".join(page_text(page) for page in pages)) == expected
        gateway.quiet(since)

    answered()
    gateway.quiet()
