"""Hotline staff in the gateway, end to end: staff chat, private chats, on-call SMS, reporters.

Reports are created as the action server creates them (``ReportStore.submit``);
staff act on their references through the real webhooks (Telegram updates,
Twilio-signed SMS), and the reporter talks through the gateway as any user.
Staff-side updates are handled before their webhook answers, so what they
cause has been sent when the call returns; the reporter's side is answered in
the background and waited for by count.
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any, Awaitable, Callable, Dict, List

import pytest
from redis.asyncio import Redis

from bot.identity import Pseudonyms
from bot.texts import CONTEXT, TEXTS, emergency, text
from contract.bidi import isolate
from contract.channels import Channel
from contract.keys import Keys
from contract.languages import ENGLISH, ROMAN_URDU, URDU
from contract.reports import CLAIMED, OPEN, RESOLVED, ReportStore, Submission
from contract.sealing import Sealer
from tests.bot.conftest import GatewayRig, running_stack
from tests.conftest import translated

STAFF_CHAT = -1001234567890
STAFF, COLLEAGUE, STRANGER = 777001, 777002, 888001
NAMES = {STAFF: "Ayesha", COLLEAGUE: "Bilal", STRANGER: "Mallory"}
ON_CALL = "+923001110001"
REPORTER, OTHER_REPORTER = 5550101, 5550102
PHONE, STRANGE_PHONE = "+923001234568", "+923009876543"
DESCRIPTION = "The agent in Rawalpindi kept my passport and asks for 300000 rupees"
LOCATION = "Saddar, Rawalpindi"


# -- the stack and the store -----------------------------------------------------------


STAFF_SETTINGS = {
    "HOTLINE_TELEGRAM_CHAT_ID": str(STAFF_CHAT),
    "HOTLINE_STAFF_TELEGRAM_IDS": f"{STAFF},{COLLEAGUE}",
}


@pytest.fixture
async def stack(prefix: str) -> AsyncIterator[GatewayRig]:
    async with running_stack(
        prefix, time.time, **STAFF_SETTINGS, HOTLINE_SMS_NUMBERS=ON_CALL
    ) as running:
        yield running


@pytest.fixture
def store(redis: Redis, prefix: str, stack: GatewayRig) -> ReportStore:
    """The store as the action server opens it: same Redis, prefix and data keys."""
    return ReportStore(redis, Keys(prefix), Sealer(str(stack.settings.data_keys)))


def pseudonym(stack: GatewayRig, channel: str, address: int | str) -> str:
    return Pseudonyms(str(stack.settings.pseudonym_key)).of(Channel(channel), str(address))


async def report(
    stack: GatewayRig,
    store: ReportStore,
    channel: str,
    address: int | str,
    *,
    language: str = ENGLISH,
    may_contact: bool = True,
    urgent: bool = False,
    description: str = DESCRIPTION,
    location: str = LOCATION,
) -> str:
    """Submits a report exactly as the action server does; returns its reference."""
    return await store.submit(
        Submission(
            reporter=pseudonym(stack, channel, address),
            language=language,
            channel=Channel(channel),
            description=description,
            location=location,
            urgent=urgent,
            may_contact=may_contact,
        )
    )


# -- talking to the gateway -----------------------------------------------------------------


def group_text(stack: GatewayRig, user: int, words: str, chat: int = STAFF_CHAT) -> Dict[str, Any]:
    """A text message as Telegram sends it, from ``user`` in ``chat`` (a group or private)."""
    update_id = stack.next_update_id()
    kind = (
        {"type": "supergroup", "title": "Hotline staff"}
        if chat < 0
        else {"type": "private", "first_name": NAMES.get(user, "A")}
    )
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1763800000,
            "chat": {"id": chat, **kind},
            "from": {"id": user, "is_bot": False, "first_name": NAMES.get(user, "A")},
            "text": words,
        },
    }


async def staff_says(stack: GatewayRig, user: int, words: str, chat: int = STAFF_CHAT) -> None:
    response = await stack.post_update(group_text(stack, user, words, chat))
    assert response.status_code == 200, response.text


async def press(stack: GatewayRig, user: int, data: str, chat: int = STAFF_CHAT) -> str:
    """``user`` presses a button with ``data`` under a message in ``chat``; returns the query id."""
    update_id = stack.next_update_id()
    query_id = f"cq{update_id}"
    chat_type = "supergroup" if chat < 0 else "private"
    update = {
        "update_id": update_id,
        "callback_query": {
            "id": query_id,
            "chat_instance": "1",
            "from": {"id": user, "is_bot": False, "first_name": NAMES.get(user, "A")},
            "message": {
                "message_id": 1,
                "date": 1763800000,
                "chat": {"id": chat, "type": chat_type},
                "text": "A report",
            },
            "data": data,
        },
    }
    response = await stack.post_update(update)
    assert response.status_code == 200, response.text
    return query_id


async def reporter_says(stack: GatewayRig, chat: int, words: str) -> None:
    response = await stack.post_update(stack.telegram_text(chat, words))
    assert response.status_code == 200, response.text


def bodies(response_text: str) -> List[str]:
    """The message bodies in a TwiML answer."""
    root = ET.fromstring(response_text)
    assert root.tag == "Response"
    return [element.text or "" for element in root.findall("Message")]


async def sms(stack: GatewayRig, sender: str, words: str, sid: str | None = None) -> List[str]:
    """A signed Twilio webhook from ``sender``; the TwiML answer's bodies."""
    response = await stack.post_sms(stack.sms_params(sender, words, sid=sid))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return bodies(response.text)


def said(messages: List[Dict[str, Any]]) -> List[str]:
    return [message["text"] for message in messages]


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Waits (bounded) until ``condition()`` holds."""

    async def holds() -> None:
        while not await condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(holds(), timeout)


async def erased(stack: GatewayRig, redis: Redis, chat: int) -> None:
    """Waits until the gateway no longer keeps the reporter's address: the erasure is done.

    The confirmation goes out before the address is erased (it needs it): a message
    sent in between loses its answer when the erasure then removes the address.
    """
    key = f"{stack.settings.redis_prefix}:address:{pseudonym(stack, 'telegram', chat)}"

    async def gone() -> bool:
        return not await redis.exists(key)

    await until(gone)


async def claimed_telegram_report(stack: GatewayRig, store: ReportStore) -> str:
    """A Telegram reporter who agreed to contact, their report claimed by STAFF; its reference."""
    await telegram_reporter(stack)
    reference = await report(stack, store, "telegram", REPORTER)
    await press(stack, STAFF, f"claim:{reference}")
    await stack.telegram_sent(REPORTER, 2)  # the greeting's echo, then the claim notice
    return reference


async def telegram_reporter(stack: GatewayRig, chat: int = REPORTER, words: str = "hello") -> None:
    """The reporter's first message: the gateway now keeps their (sealed) address."""
    await reporter_says(stack, chat, words)
    assert said(await stack.telegram_sent(chat, 1)) == [f"echo: {words}"]


# -- claiming ---------------------------------------------------------------------------


async def test_claim_button_claims_and_tells_the_chat_the_reporter_and_the_audit(
    stack: GatewayRig, store: ReportStore
) -> None:
    await telegram_reporter(stack)
    reference = await report(stack, store, "telegram", REPORTER, language=URDU)

    query = await press(stack, STAFF, f"claim:{reference}")

    assert query in stack.peers.callback_answers
    chat = said(await stack.telegram_sent(STAFF_CHAT, 2))
    assert chat[0] == f"✋ {reference} claimed by Ayesha."
    assert chat[1].startswith(f"{reference} is yours.")
    reporter = said(await stack.telegram_sent(REPORTER, 2))
    assert reporter[1] == text("hotline_claimed", URDU, reference=reference)
    case = await store.case(reference)
    assert case is not None and case.status == CLAIMED and case.claimed_by == f"tg:{STAFF}"
    trail = await store.audit(reference)
    assert [(entry["action"], entry["staff"]) for entry in trail] == [("claimed", f"tg:{STAFF}")]
    assert set(trail[0]) == {"reference", "action", "staff", "at"}  # who, what, when: no content
    assert not any(DESCRIPTION in value or LOCATION in value for value in trail[0].values())


async def test_a_colleague_cannot_claim_a_case_already_taken(
    stack: GatewayRig, store: ReportStore
) -> None:
    await telegram_reporter(stack)
    reference = await report(stack, store, "telegram", REPORTER)
    await press(stack, STAFF, f"claim:{reference}")
    await press(stack, COLLEAGUE, f"claim:{reference}")
    await staff_says(stack, COLLEAGUE, f"/resolve {reference} not ours")
    chat = said(await stack.telegram_sent(STAFF_CHAT, 4))
    assert chat[2] == f"{reference} is already claimed by a colleague."
    assert chat[3] == f"{reference} is claimed by a colleague: only they can resolve it."
    case = await store.case(reference)
    assert case is not None and case.status == CLAIMED and case.claimed_by == f"tg:{STAFF}"
    assert said(await stack.telegram_sent(REPORTER, 2))[1:] == [
        text("hotline_claimed", ENGLISH, reference=reference)
    ]


# -- who may act ------------------------------------------------------------------------------


async def test_people_not_on_the_staff_list_cannot_act(
    stack: GatewayRig, store: ReportStore
) -> None:
    await telegram_reporter(stack)
    reference = await report(stack, store, "telegram", REPORTER)

    for command in (
        "/open",
        f"/claim {reference}",
        f"/reply {reference} send me your address",
        f"/resolve {reference} spam",
    ):
        await staff_says(stack, STRANGER, command)
    queries = [
        await press(stack, STRANGER, f"{action}:{reference}") for action in ("claim", "resolve")
    ]
    # In a private chat with the bot, a stranger is an ordinary user asking about a reference.
    await reporter_says(stack, STRANGER, f"/claim {reference}")
    (private,) = said(await stack.telegram_sent(STRANGER, 1))
    assert private == text("report_status_unknown", ENGLISH, reference=reference)

    assert set(queries) <= set(stack.peers.callback_answers)  # no button keeps spinning
    # Staff now ask for the list: whatever the stranger caused would have come before it.
    await staff_says(stack, STAFF, "/open")
    chat = said(await stack.telegram_sent(STAFF_CHAT, 1))
    assert len(chat) == 1 and chat[0].startswith("Open reports")
    assert f"{reference} · unclaimed" in chat[0]
    assert said(stack.peers.telegram_to(REPORTER)) == ["echo: hello"]
    case = await store.case(reference)
    assert case is not None and case.status == OPEN and case.claimed_by is None
    assert await store.audit(reference) == []


async def test_an_sms_from_a_number_not_on_call_is_an_ordinary_user(
    stack: GatewayRig, store: ReportStore
) -> None:
    await telegram_reporter(stack)
    reference = await report(stack, store, "telegram", REPORTER)

    assert await sms(stack, STRANGE_PHONE, "OPEN") == ["echo: OPEN"]
    # A reference in a message is a status question, answered as for anyone else's report.
    assert await sms(stack, STRANGE_PHONE, f"CLAIM {reference}") == [
        text("report_status_unknown", ENGLISH, reference=reference)
    ]
    assert await sms(stack, STRANGE_PHONE, f"RESOLVE {reference} spam") == [
        text("report_status_unknown", ENGLISH, reference=reference)
    ]

    assert stack.rasa.messages() == ["hello", "OPEN"]
    case = await store.case(reference)
    assert case is not None and case.status == OPEN
    assert await store.audit(reference) == []
    assert stack.peers.telegram_to(STAFF_CHAT) == []
    assert said(stack.peers.telegram_to(REPORTER)) == ["echo: hello"]


# -- replies --------------------------------------------------------------------------


async def test_no_reply_reaches_a_reporter_who_refused_contact(
    stack: GatewayRig, store: ReportStore
) -> None:
    await telegram_reporter(stack)
    claimed = await report(stack, store, "telegram", REPORTER, may_contact=False)
    unclaimed = await report(stack, store, "telegram", REPORTER, may_contact=False)

    await staff_says(stack, STAFF, f"/claim {claimed}")
    await staff_says(stack, STAFF, f"/reply {claimed} Please call us back")
    await staff_says(stack, STAFF, f"/reply {unclaimed} Please call us back")

    chat = said(await stack.telegram_sent(STAFF_CHAT, 4))
    assert "did NOT agree to be contacted" in chat[1]
    for reference, answer in zip((claimed, unclaimed), chat[2:], strict=True):
        assert answer == f"Not sent: the reporter of {reference} did not agree to be contacted."
    # Their next message goes to the assistant (no handoff), and nothing came before its answer.
    await reporter_says(stack, REPORTER, "is anyone there?")
    assert said(await stack.telegram_sent(REPORTER, 2)) == ["echo: hello", "echo: is anyone there?"]
    assert [entry["action"] for entry in await store.audit()] == ["claimed"]
    case = await store.case(unclaimed)
    assert case is not None and case.status == OPEN  # a refused reply claims nothing


# -- the handoff ----------------------------------------------------------------------------


async def test_a_telegram_reporter_talks_to_the_staff_member_until_menu_or_resolve(
    stack: GatewayRig, store: ReportStore
) -> None:
    reference = await claimed_telegram_report(stack, store)

    # Claimed: the reporter's messages go to Ayesha's private chat, the assistant is quiet.
    await reporter_says(stack, REPORTER, "They took my passport at the agency")
    await reporter_says(stack, REPORTER, "I am scared")
    forwarded = said(await stack.telegram_sent(STAFF, 2))
    assert forwarded[0].startswith(f"💬 {reference} · the reporter writes:")
    assert "They took my passport at the agency" in forwarded[0]
    assert "I am scared" in forwarded[1]
    assert stack.rasa.messages() == ["hello"]
    # Each forwarded message is acknowledged to the reporter, with the emergency number.
    acks = said(await stack.telegram_sent(REPORTER, 4))[2:]
    assert acks == [text("hotline_forwarded", ENGLISH, reference=reference)] * 2

    await staff_says(stack, STAFF, f"/reply {reference} We are here. Are you safe now?")
    reply = said(await stack.telegram_sent(REPORTER, 5))[4]
    assert reply == text(
        "hotline_reply", ENGLISH, reference=reference, text="We are here. Are you safe now?"
    )
    assert said(await stack.telegram_sent(STAFF_CHAT, 3))[2] == (
        f"Sent to the reporter of {reference}."
    )

    # MENU: back to the assistant, and Ayesha is told.
    await reporter_says(stack, REPORTER, "MENU")
    assert said(await stack.telegram_sent(REPORTER, 6))[5] == "echo: MENU"
    went_back = said(await stack.telegram_sent(STAFF, 3))[2]
    assert went_back.startswith(f"↩️ The reporter of {reference} went back to the assistant.")
    await reporter_says(stack, REPORTER, "what are the legal ways abroad")
    assert said(await stack.telegram_sent(REPORTER, 7))[6] == "echo: what are the legal ways abroad"

    # A reply brings the reporter back to Ayesha.
    await staff_says(stack, STAFF, f"/reply {reference} Write to me here when you can.")
    await stack.telegram_sent(REPORTER, 8)
    await reporter_says(stack, REPORTER, "I am safe now")
    assert "I am safe now" in said(await stack.telegram_sent(STAFF, 4))[3]
    assert said(await stack.telegram_sent(REPORTER, 9))[8] == acks[0]

    await staff_says(stack, STAFF, f"/resolve {reference} Referred to the FIA desk")
    assert said(await stack.telegram_sent(REPORTER, 10))[9] == text(
        "hotline_resolved", ENGLISH, reference=reference
    )
    assert said(await stack.telegram_sent(STAFF_CHAT, 6))[4:] == [
        f"✅ {reference} resolved by Ayesha.",
        f"{reference} resolved.",
    ]
    await reporter_says(stack, REPORTER, "thank you")
    assert said(await stack.telegram_sent(REPORTER, 11))[10] == "echo: thank you"

    assert stack.rasa.messages() == ["hello", "MENU", "what are the legal ways abroad", "thank you"]
    assert len(stack.peers.telegram_to(STAFF)) == 4
    trail = await store.audit(reference)
    assert [entry["action"] for entry in trail] == ["claimed", "replied", "replied", "resolved"]
    assert not any("FIA" in value for entry in trail for value in entry.values())
    case = await store.case(reference)
    assert case is not None and case.status == RESOLVED


async def test_danger_during_a_handoff_alerts_every_staff_member_and_the_reporter_at_once(
    stack: GatewayRig, store: ReportStore
) -> None:
    reference = await claimed_telegram_report(stack, store)
    chat_before = len(stack.peers.telegram_to(STAFF_CHAT))

    await reporter_says(stack, REPORTER, "they are beating us, help me now")
    answer = said(await stack.telegram_sent(REPORTER, 3))[2]
    assert answer == text("hotline_forwarded_urgent", ENGLISH, reference=reference)
    to_claimant = said(await stack.telegram_sent(STAFF, 1))[0]
    assert to_claimant.startswith(f"🚨 URGENT · {reference} · the reporter writes:")
    to_everyone = said(await stack.telegram_sent(STAFF_CHAT, chat_before + 1))[chat_before]
    assert to_everyone.startswith(f"🚨 URGENT · {reference}: the reporter may be in danger")
    assert "they are beating us" in to_everyone
    [on_call] = await stack.sms_sent(ON_CALL, 1)
    assert on_call["body"].startswith(f"RAHNUMA URGENT {reference}:")
    assert "beating" not in on_call["body"]  # an SMS to a staff phone carries no narrative
    assert stack.rasa.parsed == ["they are beating us, help me now"]
    assert stack.rasa.messages() == ["hello"]  # the assistant was not asked to answer it

    # Rasa down: no alarm can be raised, the message still reaches the worker, with the number.
    stack.rasa.down = True
    await reporter_says(stack, REPORTER, "they are beating us again")
    assert said(await stack.telegram_sent(REPORTER, 4))[3] == text(
        "hotline_forwarded", ENGLISH, reference=reference
    )


SILENCE = 6.0  # seconds: HANDOFF_SILENCE_MINUTES for the two tests below


@pytest.fixture
async def hasty(prefix: str) -> AsyncIterator[GatewayRig]:
    """The staff stack with a claimant allowed only SILENCE seconds before a case goes back."""
    silence = str(SILENCE / 60)
    async with running_stack(
        prefix, time.time, **STAFF_SETTINGS, HANDOFF_SILENCE_MINUTES=silence
    ) as running:
        yield running


async def status_after(store: ReportStore, reference: str, seconds: float) -> str:
    """The case's status once it left CLAIMED, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        case = await store.case(reference)
        if case is not None and case.status != CLAIMED:
            return str(case.status)
        await asyncio.sleep(0.2)
    case = await store.case(reference)
    return str(case.status) if case else "gone"


async def test_a_reporter_left_unanswered_goes_back_to_the_whole_team(
    hasty: GatewayRig, redis: Redis, prefix: str
) -> None:
    store = ReportStore(redis, Keys(prefix), Sealer(str(hasty.settings.data_keys)))
    reference = await claimed_telegram_report(hasty, store)
    chat_before = len(hasty.peers.telegram_to(STAFF_CHAT))
    await reporter_says(hasty, REPORTER, "is anyone there?")
    await hasty.telegram_sent(REPORTER, 3)  # acknowledged
    assert await status_after(store, reference, SILENCE / 2) == CLAIMED  # not yet

    assert await status_after(store, reference, SILENCE * 3) == OPEN
    case = await store.case(reference)
    assert case is not None and case.claimed_by is None
    notice = said(await hasty.telegram_sent(STAFF_CHAT, chat_before + 1))[chat_before]
    assert notice.startswith(f"⏰ {reference}: the reporter has waited over")
    assert said(await hasty.telegram_sent(REPORTER, 4))[3] == text(
        "hotline_released", ENGLISH, reference=reference
    )
    assert [e["action"] for e in await store.audit(reference)] == ["claimed", "released"]

    # The reporter talks to the assistant again; a colleague can claim the case.
    await reporter_says(hasty, REPORTER, "hello again")
    assert said(await hasty.telegram_sent(REPORTER, 5))[4] == "echo: hello again"
    assert await store.claim(reference, f"tg:{COLLEAGUE}", "telegram") == "claimed"


async def test_a_reply_in_time_keeps_the_case_with_its_worker(
    hasty: GatewayRig, redis: Redis, prefix: str
) -> None:
    store = ReportStore(redis, Keys(prefix), Sealer(str(hasty.settings.data_keys)))
    reference = await claimed_telegram_report(hasty, store)
    await reporter_says(hasty, REPORTER, "is anyone there?")
    await hasty.telegram_sent(REPORTER, 3)
    await staff_says(hasty, STAFF, f"/reply {reference} Yes, I am here.")
    await hasty.telegram_sent(REPORTER, 4)
    assert await status_after(store, reference, SILENCE * 2) == CLAIMED


async def test_a_handoff_nobody_keeps_alive_ends_and_both_sides_are_told(
    prefix: str, redis: Redis
) -> None:
    hours = str(SILENCE / 3600)  # the handoff lasts SILENCE seconds after the claim or a reply
    async with running_stack(prefix, time.time, **STAFF_SETTINGS, HANDOFF_HOURS=hours) as stack:
        store = ReportStore(redis, Keys(prefix), Sealer(str(stack.settings.data_keys)))
        reference = await claimed_telegram_report(stack, store)
        deadline = time.monotonic() + SILENCE * 4
        reporter = pseudonym(stack, "telegram", REPORTER)
        while await store.handoff_of(reporter) is not None:
            assert time.monotonic() < deadline, "the handoff never ended"
            await asyncio.sleep(0.3)
        ended = said(await stack.telegram_sent(REPORTER, 3))[2]
        assert ended == text("hotline_handoff_ended", ENGLISH, reference=reference)
        notice = said(await stack.telegram_sent(STAFF, 1))[0]
        assert notice.startswith(f"⌛ The handoff of {reference} ended")
        case = await store.case(reference)
        assert case is not None and case.status == CLAIMED  # still theirs: /reply resumes it

        await reporter_says(stack, REPORTER, "hello again")
        assert said(await stack.telegram_sent(REPORTER, 4))[3] == "echo: hello again"


async def test_an_sms_reporter_talks_to_staff_by_sms_and_stop_still_works(
    stack: GatewayRig, store: ReportStore
) -> None:
    assert await sms(stack, PHONE, "hello") == ["echo: hello"]
    reference = await report(stack, store, "sms", PHONE)
    await press(stack, STAFF, f"claim:{reference}")
    claimed = await stack.sms_sent(PHONE, 1)
    assert claimed[0]["body"] == text("hotline_claimed", ENGLISH, reference=reference)

    # The message goes to the staff member; the reporter is told it arrived, with the
    # emergency number (the assistant itself is not asked).
    forwarded_note = text("hotline_forwarded", ENGLISH, reference=reference)
    assert emergency() in forwarded_note
    assert await sms(stack, PHONE, "My employer has my passport") == [forwarded_note]
    (forwarded,) = said(await stack.telegram_sent(STAFF, 1))
    assert reference in forwarded and "My employer has my passport" in forwarded
    assert stack.rasa.messages() == ["hello"]

    await staff_says(stack, STAFF, f"/reply {reference} Are you safe where you are?")
    sent = await stack.sms_sent(PHONE, 2)
    assert sent[1]["body"] == text(
        "hotline_reply", ENGLISH, reference=reference, text="Are you safe where you are?"
    )

    # STOP is never swallowed by the handoff: the number is opted out, staff cannot write.
    assert await sms(stack, PHONE, "STOP") == []
    await staff_says(stack, STAFF, f"/reply {reference} Are you there?")
    refused = said(await stack.telegram_sent(STAFF_CHAT, 4))[3]
    assert refused.startswith(f"Not sent: the reporter of {reference} can no longer be reached")
    assert await sms(stack, PHONE, "START") == [text("sms_started", ENGLISH)]
    assert await sms(stack, PHONE, "I can talk now") == [forwarded_note]
    assert "I can talk now" in said(await stack.telegram_sent(STAFF, 2))[1]
    assert len(stack.peers.telegram_to(STAFF)) == 2  # STOP and START were not forwarded
    assert [m["body"] for m in stack.peers.sms_to(PHONE)] == [m["body"] for m in sent]
    assert stack.rasa.messages() == ["hello"]


# -- on-call staff by SMS -----------------------------------------------------------------


async def test_on_call_staff_act_by_sms_once_per_message(
    stack: GatewayRig, store: ReportStore
) -> None:
    await telegram_reporter(stack)
    reference = await report(stack, store, "telegram", REPORTER)

    (listing,) = await sms(stack, ON_CALL, "OPEN")
    assert listing.startswith("Open reports") and f"{reference} · unclaimed" in listing
    (claimed,) = await sms(stack, ON_CALL, f"CLAIM {reference}")
    assert claimed.startswith(f"{reference} is yours.")
    assert "private chat" not in claimed  # they read this on a phone, not in Telegram
    # Colleagues see that an on-call phone took it, never the phone's number.
    assert said(await stack.telegram_sent(STAFF_CHAT, 1))[0] == (
        f"✋ {reference} claimed by an on-call phone."
    )
    assert said(await stack.telegram_sent(REPORTER, 2))[1] == text(
        "hotline_claimed", ENGLISH, reference=reference
    )

    await reporter_says(stack, REPORTER, "please help me")
    (forwarded,) = await stack.sms_sent(ON_CALL, 1)
    assert reference in forwarded["body"] and "please help me" in forwarded["body"]

    # Twilio delivers the same webhook twice: the reply goes out once.
    params = stack.sms_params(
        ON_CALL, f"REPLY {reference} We will call you at 5 pm", sid="SM" + "b" * 32
    )
    first, again = [await stack.post_sms(params) for _ in range(2)]
    assert bodies(first.text) == [f"Sent to the reporter of {reference}."]
    assert again.status_code == 200 and bodies(again.text) == []

    assert await sms(stack, ON_CALL, f"RESOLVE {reference} Referred to the FIA desk") == [
        f"{reference} resolved."
    ]
    reporter = said(await stack.telegram_sent(REPORTER, 5))
    assert reporter == [
        "echo: hello",
        text("hotline_claimed", ENGLISH, reference=reference),
        text("hotline_forwarded", ENGLISH, reference=reference),  # "please help me"
        text("hotline_reply", ENGLISH, reference=reference, text="We will call you at 5 pm"),
        text("hotline_resolved", ENGLISH, reference=reference),
    ]
    trail = await store.audit(reference)
    assert [(entry["action"], entry["staff"]) for entry in trail] == [
        ("claimed", f"sms:{ON_CALL}"),
        ("replied", f"sms:{ON_CALL}"),
        ("resolved", f"sms:{ON_CALL}"),
    ]
    assert stack.rasa.messages() == ["hello"]  # staff commands never reach the assistant


# -- status questions -------------------------------------------------------------------------

QUESTIONS = {
    ENGLISH: "what is the status of {reference}?",
    URDU: "{reference} کی کیا صورتحال ہے؟",
    ROMAN_URDU: "mera case {reference} ka kya bana?",
}


async def speak(stack: GatewayRig, language: str) -> None:
    """Makes the reporter's conversation ``language``, as the assistant last answered."""
    if language == ENGLISH:
        await telegram_reporter(stack)
    elif language == URDU:
        await telegram_reporter(stack, words="السلام علیکم")
    else:
        await press(stack, REPORTER, '/choose_language{"language": "ur_Latn"}', chat=REPORTER)
        await stack.telegram_sent(REPORTER, 1)


@pytest.mark.parametrize("language", [ENGLISH, URDU, ROMAN_URDU])
async def test_a_reporter_asks_for_the_status_of_their_report(
    stack: GatewayRig, store: ReportStore, language: str
) -> None:
    await speak(stack, language)
    # may_contact=False: a claim does not hand the reporter's messages over to staff.
    waiting, handled, closed = [
        await report(stack, store, "telegram", REPORTER, language=language, may_contact=False)
        for _ in range(3)
    ]
    someone_elses = await report(stack, store, "telegram", OTHER_REPORTER, may_contact=False)
    await staff_says(stack, STAFF, f"/claim {handled}")
    await staff_says(stack, STAFF, f"/resolve {closed}")
    never = "R-UUUUUU"  # U is not in the alphabet of references: no report has it
    asked_before = len(stack.rasa.received)

    questions = [
        (waiting, "report_status_open"),
        (handled.lower(), "report_status_claimed"),
        (closed, "report_status_resolved"),
        (someone_elses.lower(), "report_status_unknown"),
        (never, "report_status_unknown"),
    ]
    for count, (reference, _) in enumerate(questions, start=2):
        await reporter_says(stack, REPORTER, QUESTIONS[language].format(reference=reference))
        await stack.telegram_sent(REPORTER, count)

    answers = said(stack.peers.telegram_to(REPORTER))[1:]
    assert answers == [
        text(key, language, reference=reference.upper()) for reference, key in questions
    ]
    assert len(stack.rasa.received) == asked_before  # answered by the gateway alone
    assert answers[3].replace(someone_elses, never) == answers[4]  # nothing told apart
    # The translators' words (text() falls back to English when a catalog is not compiled)
    shown = isolate(waiting) if language == URDU else waiting
    template = translated(language, CONTEXT, TEXTS["report_status_open"])
    assert answers[0] == template.format(reference=shown)


# -- the list ---------------------------------------------------------------------------


async def test_open_lists_urgent_cases_first_one_line_each_without_the_report(
    stack: GatewayRig, store: ReportStore
) -> None:
    await telegram_reporter(stack)
    descriptions = [f"secret story number {n} about my cousin Nadia" for n in range(5)]
    urgency = [False, True, False, True, False]
    references = [
        await report(
            stack,
            store,
            "telegram",
            REPORTER,
            urgent=urgent,
            description=described,
            location=f"Mohalla {n}",
        )
        for n, (urgent, described) in enumerate(zip(urgency, descriptions, strict=True))
    ]
    await staff_says(stack, STAFF, f"/claim {references[2]}")
    await staff_says(stack, STAFF, f"/resolve {references[4]}")
    await staff_says(stack, COLLEAGUE, "/open")

    listing = said(await stack.telegram_sent(STAFF_CHAT, 5))[4]
    header, *lines = listing.split("\n")
    assert header == "Open reports (urgent first):"
    order = [references[n] for n in (1, 3, 0, 2)]  # urgent oldest first, then the rest
    assert len(lines) == len(order)
    for line, reference in zip(lines, order, strict=True):
        assert line.split(" · ")[0].endswith(reference)
        assert sum(ref in line for ref in references) == 1
    assert all(line.startswith("🔴 URGENT") for line in lines[:2])
    assert not any("URGENT" in line for line in lines[2:])
    assert " · claimed · " in lines[3] and " · unclaimed · " in lines[2]
    assert not any(described in listing for described in descriptions)
    assert "Nadia" not in listing


# -- erasure ----------------------------------------------------------------------------


async def test_a_reporter_in_a_handoff_can_still_erase_their_data(
    stack: GatewayRig, store: ReportStore, redis: Redis
) -> None:
    reference = await claimed_telegram_report(stack, store)

    await reporter_says(stack, REPORTER, "/delete")
    assert said(await stack.telegram_sent(REPORTER, 3))[2] == "Your data has been deleted."
    assert stack.rasa.messages() == ["hello", "/delete_my_data"]
    await erased(stack, redis, REPORTER)
    await reporter_says(stack, REPORTER, "hello again")
    assert said(await stack.telegram_sent(REPORTER, 4))[3] == "echo: hello again"
    assert not any("hello again" in message for message in said(stack.peers.telegram_to(STAFF)))
    case = await store.case(reference)
    assert case is not None and case.description == DESCRIPTION  # the report is kept


async def test_erasing_ends_a_handoff_that_began_while_the_assistant_was_answering(
    stack: GatewayRig, store: ReportStore, redis: Redis
) -> None:
    await telegram_reporter(stack)
    reference = await report(stack, store, "telegram", REPORTER)

    stack.rasa.delay = 1.5  # the erasure is with the assistant while staff claim the case
    await reporter_says(stack, REPORTER, "/delete")

    async def asked() -> bool:
        return "/delete_my_data" in stack.rasa.messages()

    await until(asked)
    await press(stack, STAFF, f"claim:{reference}")
    assert said(await stack.telegram_sent(REPORTER, 3))[1:] == [
        text("hotline_claimed", ENGLISH, reference=reference),
        "Your data has been deleted.",
    ]
    stack.rasa.delay = 0.0
    await erased(stack, redis, REPORTER)

    await reporter_says(stack, REPORTER, "hello again")
    assert said(await stack.telegram_sent(REPORTER, 4))[3] == "echo: hello again"
    assert stack.peers.telegram_to(STAFF) == []  # not forwarded: the handoff ended
    case = await store.case(reference)
    assert case is not None and case.status == CLAIMED  # the report is kept
