"""SMS end to end: Twilio-signed webhooks, TwiML answers, REST deliveries at the local peer."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from typing import List

import pytest

from bot.channels.sms import keyword, menu_choice, paginate
from bot.conversation.inbox import Clock
from bot.texts import text
from contract.languages import ENGLISH, LANGUAGES, ROMAN_URDU, URDU
from contract.segments import count
from tests.bot.conftest import GatewayRig, running_stack

PHONE = "+923001234567"


def inside_one_minute() -> Clock:
    """A wall clock that starts at the top of a minute, runs at real speed and never leaves
    that minute: the rate limit, counted per clock minute, sees one window whatever the time."""
    start = time.time() // 60 * 60
    origin = time.monotonic()
    return lambda: start + min(time.monotonic() - origin, 59.0)


def bodies(response_text: str) -> List[str]:
    """The message bodies in a TwiML answer."""
    root = ET.fromstring(response_text)
    assert root.tag == "Response"
    return [element.text or "" for element in root.findall("Message")]


async def say(stack: GatewayRig, text: str, sender: str = PHONE) -> List[str]:
    response = await stack.post_sms(stack.sms_params(sender, text))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return bodies(response.text)


async def test_a_signed_sms_is_answered_in_twiml(stack: GatewayRig) -> None:
    assert await say(stack, "How can I work in Saudi Arabia?") == [
        "echo: How can I work in Saudi Arabia?"
    ]
    body = stack.rasa.received[0]
    assert body["metadata"]["channel"] == "sms"
    assert body["sender"].startswith("sms-") and "923001234567" not in body["sender"]


@pytest.mark.parametrize(
    "tamper",
    ["no signature", "wrong token", "altered body", "added parameter", "other url", "empty"],
)
async def test_forged_or_altered_requests_are_refused_before_rasa(
    stack: GatewayRig, tamper: str
) -> None:
    params = stack.sms_params(PHONE, "hello")
    signature = stack.sign(params)
    if tamper == "no signature":
        signature = ""
    elif tamper == "wrong token":
        from twilio.request_validator import RequestValidator

        signature = RequestValidator("not-the-token").compute_signature(
            stack.public_url + "/sms/twilio", params
        )
    elif tamper == "altered body":
        params = {**params, "Body": "hello!"}
    elif tamper == "added parameter":
        params = {**params, "Extra": "1"}
    elif tamper == "other url":
        signature = stack.sign(params, url=stack.url + "/sms/twilio")
    elif tamper == "empty":
        signature = "AAAA"
    response = await stack.post_sms(params, signature=signature)
    assert response.status_code == 403
    await asyncio.sleep(0.2)
    assert stack.rasa.received == []
    assert stack.peers.twilio_sent == []


async def test_a_body_no_twilio_request_could_have_is_refused_before_parsing(
    stack: GatewayRig,
) -> None:
    params = stack.sms_params(PHONE, "x" * 200_000)  # even correctly signed
    response = await stack.post_sms(params)
    assert response.status_code == 403
    rejected = stack.metrics.registry.get_sample_value(
        "rahnuma_webhooks_rejected_total", {"channel": "sms", "reason": "too_large"}
    )
    assert rejected == 1
    assert stack.rasa.received == []


async def test_a_replayed_message_sid_is_answered_once(stack: GatewayRig) -> None:
    params = stack.sms_params(PHONE, "only once", sid="SM" + "a" * 32)
    first = await stack.post_sms(params)
    again = await asyncio.gather(*(stack.post_sms(params) for _ in range(3)))
    assert bodies(first.text) == ["echo: only once"]
    assert all(r.status_code == 200 and bodies(r.text) == [] for r in again)
    assert stack.rasa.messages() == ["only once"]


async def test_buttons_become_a_numbered_menu_and_numbers_map_back(stack: GatewayRig) -> None:
    (menu,) = await say(stack, "menu")
    assert "1 Legal ways to work abroad" in menu and "2 Check an agent" in menu
    assert "/ask" not in menu and "{" not in menu  # payloads are never shown
    assert await say(stack, "2") == ["echo: /ask_verify_agent"]
    await say(stack, "menu")
    assert await say(stack, " ۱ ") == ["echo: /ask_legal_migration"]
    await say(stack, "menu")
    (out_of_range,) = await say(stack, "9")
    assert out_of_range == text("sms_no_menu", ENGLISH)
    assert stack.rasa.messages() == [
        "menu",
        "/ask_verify_agent",
        "menu",
        "/ask_legal_migration",
        "menu",
    ]


async def test_long_answers_are_paged_with_more_within_the_segment_budget(
    stack: GatewayRig,
) -> None:
    (first,) = await say(stack, "long:1500")
    pages = [first]
    while True:
        (page,) = await say(stack, "MORE")
        if page == text("sms_no_more", ENGLISH):
            break
        pages.append(page)
    assert len(pages) >= 4
    assert all(count(page).segments <= 3 and len(page) <= 1600 for page in pages)
    hint = text("sms_more", ENGLISH)
    assert all(page.endswith(f"\n{hint}") for page in pages[:-1])
    assert pages[-1].endswith("\n1 Menu")
    joined = " ".join(p.removesuffix(f"\n{hint}").removesuffix("\n1 Menu") for p in pages)
    expected = stack.rasa.answer("x", "long:1500", {})[0]["text"]
    assert joined.split() == expected.split()
    assert len(stack.rasa.received) == 1  # MORE never goes to Rasa


async def test_urdu_answers_are_paged_in_ucs2_segments(stack: GatewayRig) -> None:
    (first,) = await say(stack, "long:600 آگے")
    assert count(first).encoding == "UCS-2"
    assert count(first).segments <= 3
    (second,) = await say(stack, "مزید")
    assert count(second).segments <= 3
    assert "یہ محفوظ" in second  # the next page, not "that was all"


async def test_a_short_form_comes_first_and_more_gives_the_full_text(stack: GatewayRig) -> None:
    assert await say(stack, "sms:short") == ["Short answer. Reply MORE for details."]
    (page,) = await say(stack, "more")
    assert page.startswith("This sentence is part of a long answer")


@pytest.mark.parametrize(
    ("stop", "start", "replied"),
    [
        ("STOP", "START", False),
        ("بند", "شروع", True),
        ("band", "shuru", True),
        ("Roko.", "START", True),
    ],
)
async def test_opt_out_stops_everything_until_start(
    stack: GatewayRig, stop: str, start: str, replied: bool
) -> None:
    stopped = await say(stack, stop)
    assert bool(stopped) == replied  # Twilio answers English keywords itself
    assert await say(stack, "hello?") == []
    assert stack.rasa.received == []
    (welcome,) = await say(stack, start)
    assert welcome in {text("sms_started", language) for language in LANGUAGES}
    assert await say(stack, "hello again") == ["echo: hello again"]


async def test_no_rest_message_reaches_an_opted_out_number(stack: GatewayRig) -> None:
    stack.rasa.delay = 5.0  # beyond the 3 s budget: the answer will go by REST
    (holding,) = await say(stack, "slow question")
    assert holding == text("holding", ENGLISH)
    stack.rasa.delay = 0.0
    await say(stack, "STOP")
    # The late answer reaches the outbox, which finds the number opted out: wait for that
    # decision (not for time to pass), then check that nothing went out.
    registry = stack.metrics.registry
    labels = {"channel": "sms", "result": "opted_out"}
    for _ in range(300):
        if registry.get_sample_value("rahnuma_outbox_total", labels):
            break
        await asyncio.sleep(0.05)
    assert registry.get_sample_value("rahnuma_outbox_total", labels) == 1
    assert stack.peers.twilio_sent == []


async def test_help_keyword_gets_help_but_a_sentence_goes_to_the_assistant(
    stack: GatewayRig,
) -> None:
    (help_text,) = await say(stack, "HELP")
    assert help_text == text("sms_help", ENGLISH) and count(help_text).segments <= 2
    (urdu_help,) = await say(stack, "مدد")
    assert urdu_help == text("sms_help", URDU)
    assert await say(stack, "I need help with my visa") == ["echo: I need help with my visa"]
    assert stack.rasa.messages() == ["I need help with my visa"]


async def test_rasa_down_gets_a_holding_reply_then_the_answer_by_rest(stack: GatewayRig) -> None:
    stack.rasa.down = True
    (holding,) = await say(stack, "are you there?")
    assert holding == text("holding", ENGLISH)
    stack.rasa.down = False
    sent = await stack.sms_sent(PHONE, 1, timeout=20)
    assert sent[0]["body"] == "echo: are you there?"
    assert sent[0]["from"] == "+15005550006"


async def test_slow_rasa_answers_within_budget_by_holding(stack: GatewayRig) -> None:
    stack.rasa.delay = 4.5
    started = asyncio.get_running_loop().time()
    (holding,) = await say(stack, "slow")
    assert asyncio.get_running_loop().time() - started < 4.0
    assert holding == text("holding", ENGLISH)
    sent = await stack.sms_sent(PHONE, 1)
    assert sent[0]["body"] == "echo: slow"


async def test_media_and_empty_messages_get_a_clear_answer(stack: GatewayRig) -> None:
    response = await stack.post_sms(stack.sms_params(PHONE, "", NumMedia="1"))
    assert bodies(response.text) == [text("media_sms", ENGLISH)]
    (empty,) = await say(stack, "   \u200f ")
    assert empty == text("empty", ENGLISH)
    assert stack.rasa.received == []


async def test_a_flood_from_one_user_gets_one_polite_notice(prefix: str) -> None:
    # The limit counts per clock minute: the whole flood falls in one (see inside_one_minute).
    async with running_stack(prefix, clock=inside_one_minute(), RATE_LIMIT_PER_MINUTE="5") as stack:
        answers = [await say(stack, f"message {n}") for n in range(8)]
        assert answers[:5] == [[f"echo: message {n}"] for n in range(5)]
        assert answers[5:] == [[text("rate_limited", ENGLISH)], [], []]
        assert len(stack.rasa.received) == 5
        assert await say(stack, "another person", sender="+923009999999") == [
            "echo: another person"
        ]


def test_keywords_ignore_case_punctuation_and_marks() -> None:
    assert keyword(" Stop! ") == "stop"
    assert keyword("\u200fبند۔") == "بند"
    assert keyword("I need help") == "i need help"


def test_menu_numbers_in_latin_and_urdu_digits() -> None:
    assert menu_choice("2") == 2
    assert menu_choice("۳") == 3
    assert menu_choice("٤") == 4
    assert menu_choice("2 please") is None
    assert menu_choice("two") is None


@pytest.mark.parametrize("text", ["a" * 2000, "ب" * 700, "Sentence one. " * 90 + "x" * 500])
def test_every_page_fits_the_budget_and_nothing_is_lost(text: str) -> None:
    pages = paginate(text, "1 Menu", "Reply MORE", 3)
    assert all(count(page).segments <= 3 for page in pages)
    joined = "".join(p.replace("\nReply MORE", "").replace("\n1 Menu", "") for p in pages)
    assert joined.replace(" ", "") == text.replace(" ", "")


async def test_an_urdu_keyword_is_answered_in_urdu_whatever_came_before(stack: GatewayRig) -> None:
    await say(stack, "hello")
    (urdu,) = await say(stack, "مدد")
    (roman,) = await say(stack, "madad")
    (english,) = await say(stack, "HELP")
    assert [urdu, roman, english] == [
        text("sms_help", language) for language in (URDU, ROMAN_URDU, ENGLISH)
    ]


async def test_a_budget_longer_than_redis_default_timeout_still_gets_the_answer(
    prefix: str,
) -> None:
    # redis-py's default socket timeout is 5 s; the reply wait must outlast it.
    async with running_stack(prefix, SMS_REPLY_BUDGET_SECONDS="7") as stack:
        stack.rasa.delay = 6.0
        assert await say(stack, "slow but in time") == ["echo: slow but in time"]


async def test_control_characters_never_break_the_twiml(stack: GatewayRig) -> None:
    (answer,) = await say(stack, "\x1f0 a\x08b\x1bc")
    assert answer == "echo: 0 abc"


def test_pages_never_repeat_text_when_the_answer_has_double_spaces() -> None:
    text = "Please visit the office. " + "word  " * 200
    pages = paginate(text, "", "Reply MORE for the rest.", 3)
    words = " ".join(p.replace("Reply MORE for the rest.", "") for p in pages).split()
    assert words == text.split()
