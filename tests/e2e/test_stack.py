"""Both channels, three languages, through gateway → Rasa → actions (the trained model).

Each phone is a new user, so the assistant's first reply is its privacy notice
and the answer follows it. Expected texts come from the domain, the catalogs
and the directory (``conftest.py``), in the language the user wrote in.
"""

from __future__ import annotations

from typing import Any, Dict, List

from bot.texts import text
from contract.directory import format_hotlines
from contract.languages import ENGLISH, LANGUAGES, ROMAN_URDU, URDU
from contract.menus import numbered_menu
from contract.segments import count
from dev.chat import Phone
from tests.e2e.conftest import (
    answers,
    button_payloads,
    button_titles,
    emergency_lines,
    fee_values,
    response,
    squash,
)

SMS_BUDGET = 3  # segments per SMS (SMS_MAX_SEGMENTS, the gateway's default)
MORE_HINTS = {text("sms_more", language) for language in LANGUAGES}


def is_urdu(body: str) -> bool:
    letters = [c for c in body if c.isalpha()]
    return sum("\u0600" <= c <= "\u06ff" for c in letters) > len(letters) / 2


def keyboard(message: Dict[str, Any]) -> List[str]:
    """The titles of a Telegram message's inline buttons, in order."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button["text"] for row in rows for button in row]


def without_hint(page: str) -> str:
    """An SMS page without the "reply MORE" line it ends with, in any language."""
    for hint in MORE_HINTS:
        page = page.removesuffix(f"\n{hint}")
    return page


def test_telegram_english_question_gets_an_english_answer_with_buttons(phone: Phone) -> None:
    replies = phone.telegram("How can I go abroad for work legally?")
    assert replies[-1]["text"] == response("utter_legal_migration", ENGLISH)
    assert keyboard(replies[-1]) == button_titles("utter_legal_migration", ENGLISH)


def test_telegram_urdu_question_gets_an_urdu_answer(phone: Phone) -> None:
    replies = phone.telegram("بیرون ملک نوکری کا قانونی طریقہ کیا ہے؟")
    assert replies[0]["text"] == response("utter_privacy_notice", URDU)
    assert replies[-1]["text"] == response("utter_legal_migration", URDU)
    assert keyboard(replies[-1]) == button_titles("utter_legal_migration", URDU)


def test_telegram_roman_urdu_question_gets_a_roman_urdu_answer(phone: Phone) -> None:
    replies = phone.telegram("agent ki fees kitni honi chahiye?")
    template = response("utter_recruitment_fees", ROMAN_URDU)
    assert replies[-1]["text"] == template.format(**fee_values())  # the deployer's fee limits


def test_telegram_button_press_reaches_the_assistant(phone: Phone) -> None:
    menu = phone.telegram("/menu")
    assert menu[-1]["text"] == response("utter_menu", ENGLISH)
    assert keyboard(menu[-1]) == button_titles("utter_menu", ENGLISH)
    assert button_payloads("utter_menu")[0] == "/ask_legal_migration"
    answer = phone.telegram("1")  # presses the first button
    assert answer[-1]["text"] == response("utter_legal_migration", ENGLISH)


def test_telegram_unknown_command_gets_a_hint(phone: Phone) -> None:
    replies = phone.telegram("/frobnicate")
    assert [reply["text"] for reply in replies] == [text("unknown_command", ENGLISH)]


def test_sms_someone_in_danger_gets_the_emergency_numbers_first(phone: Phone) -> None:
    bodies = answers(phone.sms("I am in danger right now, please help"))
    template = response("utter_urgent_numbers", ENGLISH)
    numbers = template[: template.index("{hotlines}")] + format_hotlines(emergency_lines(), ENGLISH)
    assert numbers in bodies[0]  # in the very first SMS, not behind MORE
    assert count(bodies[0]).segments <= SMS_BUDGET


def test_sms_urdu_answers_stay_within_three_segments_and_page_with_more(phone: Phone) -> None:
    pages = answers(phone.sms("بیرون ملک نوکری کا قانونی طریقہ کیا ہے؟"))
    for _ in range(12):  # the answer is a few pages long; MORE pages it out
        more = answers(phone.sms("مزید"))
        if more == [text("sms_no_more", URDU)]:
            break
        pages += more
    else:
        raise AssertionError(f"MORE never came to the end: {pages!r}")
    assert len(pages) > 1
    assert all(count(page).segments <= SMS_BUDGET for page in pages), pages
    assert all(is_urdu(page) for page in pages), pages
    read = squash(" ".join(without_hint(page) for page in pages))
    assert squash(response("utter_legal_migration", URDU)) in read  # the whole answer, in order


def test_sms_menu_number_maps_back_to_the_button(phone: Phone) -> None:
    menu = answers(phone.sms("menu"))
    assert menu[-1].endswith(
        "\n" + numbered_menu([{"title": title} for title in button_titles("utter_menu", ENGLISH)])
    )
    assert button_payloads("utter_menu")[0] == "/ask_legal_migration"
    answer = answers(phone.sms("1"))
    assert answer == [response("utter_legal_migration", ENGLISH, sms=True)]  # the short form


def test_sms_stop_and_start(phone: Phone) -> None:
    # Roman Urdu keywords are confirmed in Roman Urdu (Twilio answers STOP itself)
    assert phone.sms("band") == [text("sms_stopped", ROMAN_URDU)]
    assert phone.sms("hello") == []
    assert phone.sms("shuru") == [text("sms_started", ROMAN_URDU)]
    again = answers(phone.sms("hello"))
    assert again[0].startswith(response("utter_privacy_notice", ENGLISH, sms=True))
