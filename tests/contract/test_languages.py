"""The three language codes every part of Rahnuma uses, and what is told about a text's script."""

from __future__ import annotations

from typing import Optional

import pytest

from contract.languages import ENGLISH, LANGUAGES, ROMAN_URDU, URDU, has_urdu_letters, known, name


def test_the_codes_are_the_stored_ones() -> None:
    assert (ENGLISH, URDU, ROMAN_URDU) == ("en", "ur", "ur_Latn")
    assert set(LANGUAGES) == {"en", "ur", "ur_Latn"}


@pytest.mark.parametrize("code", ["en", "ur", "ur_Latn"])
def test_known_keeps_one_of_our_codes(code: str) -> None:
    assert known(code) == code


@pytest.mark.parametrize("code", [None, "", "fr", "ur-PK", "UR", "urdu", "ur_latn"])
def test_known_falls_back_to_english_for_anything_else(code: Optional[str]) -> None:
    assert known(code) == ENGLISH


def test_each_code_has_its_own_english_name() -> None:
    assert name(ENGLISH) == "English"
    assert name(URDU) == "Urdu"
    assert name(ROMAN_URDU) == "Roman Urdu"


def test_an_unknown_code_is_named_by_itself_and_a_missing_one_as_unknown() -> None:
    assert name("fr") == "fr"
    assert name(None) == "unknown"
    assert name("") == "unknown"


@pytest.mark.parametrize(
    "text",
    [
        "سلام",
        "میرا پاسپورٹ",  # ٹ and پ: letters Urdu adds to the Arabic alphabet
        "ایجنٹ نے پیسے لیے",
        "Hi, ڈاکٹر",  # one Urdu word among Latin ones
        "\u0750",  # the Arabic Supplement block
    ],
)
def test_urdu_script_is_recognised(text: str) -> None:
    assert has_urdu_letters(text)


@pytest.mark.parametrize(
    "text",
    ["", "salam, mera passport agent ke paas hai", "Hello", "1122 111-247-786", "€ ñ ü"],
)
def test_latin_text_and_digits_are_not_urdu(text: str) -> None:
    assert not has_urdu_letters(text)
