"""Both channels, three languages, through gateway → Rasa → actions (the trained model)."""

from __future__ import annotations

from typing import Any, Dict, List

from contract.segments import count
from dev.chat import Phone


def is_urdu(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return sum("\u0600" <= c <= "\u06ff" for c in letters) > len(letters) / 2


def texts(messages: List[Dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


def test_telegram_english_question_gets_an_english_answer_with_buttons(phone: Phone) -> None:
    replies = phone.telegram("How can I go abroad for work legally?")
    assert "Protectorate" in texts(replies)
    assert any((m.get("reply_markup") or {}).get("inline_keyboard") for m in replies)


def test_telegram_urdu_question_gets_an_urdu_answer(phone: Phone) -> None:
    replies = phone.telegram("بیرون ملک نوکری کا قانونی طریقہ کیا ہے؟")
    assert replies and is_urdu(replies[-1]["text"])


def test_telegram_roman_urdu_question_gets_a_roman_urdu_answer(phone: Phone) -> None:
    replies = phone.telegram("agent ki fees kitni honi chahiye?")
    answer = replies[-1]["text"]
    assert not is_urdu(answer)
    assert any(word in answer.split() for word in ("ke", "ki", "se", "hai", "karein"))


def test_telegram_button_press_reaches_the_assistant(phone: Phone) -> None:
    menu = phone.telegram("/menu")
    assert menu and (menu[-1].get("reply_markup") or {}).get("inline_keyboard")
    answer = phone.telegram("1")  # presses the first button
    assert answer and answer[-1]["text"] != menu[-1]["text"]


def test_telegram_unknown_command_gets_a_hint(phone: Phone) -> None:
    replies = phone.telegram("/frobnicate")
    assert "/menu" in texts(replies)


def test_sms_someone_in_danger_gets_the_emergency_numbers_first(phone: Phone) -> None:
    bodies = phone.sms("I am in danger right now, please help")
    assert bodies and "15" in bodies[0] and "1122" in bodies[0]


def test_sms_urdu_answers_stay_within_three_segments_and_page_with_more(phone: Phone) -> None:
    first = phone.sms("بیرون ملک نوکری کا قانونی طریقہ کیا ہے؟")
    assert first and is_urdu(first[0])
    assert all(count(body).segments <= 3 for body in first)
    more = phone.sms("مزید")
    assert more and more[0] != first[0] and count(more[0]).segments <= 3


def test_sms_menu_number_maps_back_to_the_button(phone: Phone) -> None:
    menu = phone.sms("menu")
    assert menu and "\n1 " in menu[-1]
    answer = phone.sms("1")
    assert answer and answer[0] != menu[0] and "/" not in answer[0].split()[0]


def test_sms_stop_and_start(phone: Phone) -> None:
    assert phone.sms("band")  # Roman Urdu STOP is confirmed in Roman Urdu
    assert phone.sms("hello") == []
    assert phone.sms("shuru")
    assert phone.sms("hello")
