"""A report from a Telegram user reaches the hotline staff chat through the real stack.

Rasa (trained model) runs the report form, the action server stores the
report in Redis, the relay delivers it to the local staff chat, and a hotline
worker (``Phone.staff``) claims it and answers through the bot.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

from bot.texts import text
from contract.languages import ENGLISH
from dev.chat import Phone
from tests.e2e.conftest import response


def texts(messages: List[Dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


def test_a_report_reaches_staff_who_claim_reply_and_resolve_it(phone: Phone) -> None:
    menu = phone.telegram("/menu")
    assert "/report_trafficking" in [button["callback_data"] for button in phone._buttons], menu
    report = 1 + [b["callback_data"] for b in phone._buttons].index("/report_trafficking")
    consent = phone.telegram(str(report))  # presses "Report trafficking"
    assert consent[-1]["text"] == response("utter_ask_report_consent", ENGLISH)
    phone.telegram("1")  # Yes, continue
    phone.telegram(
        "the agent in our village took money from ten boys and sent them to Libya by boat"
    )
    phone.telegram("Gujrat")
    phone.telegram("2")  # nobody in danger right now
    saved = texts(phone.telegram("1"))  # yes, staff may contact me here
    found = re.search(r"R-[0-9A-Z]{6}", saved)
    assert found, saved
    reference = found.group(0)

    card = phone.staff_until(reference)
    assert "ten boys" in card and "Gujrat" in card and "agreed to be contacted" in card

    claimed = texts(phone.staff(f"/claim {reference}"))
    assert f"{reference} is yours" in claimed
    notice = texts(phone.inbox())
    assert text("hotline_claimed", ENGLISH, reference=reference) in notice

    # The assistant is not asked; the reporter is told the message reached the worker.
    acknowledged = texts(phone.telegram("They are in Tripoli now"))
    assert acknowledged == text("hotline_forwarded", ENGLISH, reference=reference)
    forwarded = phone.staff_until("They are in Tripoli now")
    assert reference in forwarded

    sent = texts(phone.staff(f"/reply {reference} We are calling the FIA now. Stay safe."))
    assert "Sent to the reporter" in sent
    reply = texts(phone.inbox())
    assert "We are calling the FIA now" in reply

    assert "resolved" in texts(phone.staff(f"/resolve {reference} passed to FIA"))
    status = texts(phone.telegram(f"status {reference}"))
    assert text("report_status_resolved", ENGLISH, reference=reference) in status
