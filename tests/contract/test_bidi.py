"""Latin text and numbers inside Urdu: isolated so they keep their own direction and order."""

from __future__ import annotations

import unicodedata

import pytest

from contract.bidi import DIRECTION_MARKS, FSI, PDI, isolate, without_marks


def test_the_isolate_marks_are_first_strong_isolate_and_its_pop() -> None:
    assert unicodedata.name(FSI) == "FIRST STRONG ISOLATE"
    assert unicodedata.name(PDI) == "POP DIRECTIONAL ISOLATE"
    assert unicodedata.bidirectional(FSI) == "FSI"
    assert unicodedata.bidirectional(PDI) == "PDI"


@pytest.mark.parametrize("value", ["R-7K2M9Q", "111-247-786", "1122", "Overseas Pakistanis", ""])
def test_isolate_wraps_the_value_unchanged_between_fsi_and_pdi(value: str) -> None:
    assert isolate(value) == f"{FSI}{value}{PDI}"


def test_an_isolated_reference_in_an_urdu_sentence_is_balanced() -> None:
    sentence = f"آپ کا حوالہ {isolate('R-7K2M9Q')} ہے، ہیلپ لائن {isolate('1122')}"
    assert sentence.count(FSI) == sentence.count(PDI) == 2
    assert sentence.index(FSI) < sentence.index("R-7K2M9Q") < sentence.index(PDI)


def test_without_marks_gives_back_the_text_that_was_isolated() -> None:
    assert without_marks(isolate("R-7K2M9Q")) == "R-7K2M9Q"
    assert without_marks(isolate(isolate("1122"))) == "1122"
    urdu = "حوالہ R-7K2M9Q"
    assert without_marks(f"\u200f{urdu}\u200e") == urdu


def test_a_message_of_direction_marks_alone_is_empty() -> None:
    assert without_marks("".join(sorted(DIRECTION_MARKS))) == ""
    assert without_marks("\u200e\u200f\u061c\u202a\u202c\u2066\u2067\u2068\u2069") == ""


def test_every_direction_mark_is_an_invisible_format_character() -> None:
    assert {unicodedata.category(mark) for mark in DIRECTION_MARKS} == {"Cf"}


def test_without_marks_keeps_every_visible_character() -> None:
    text = "سلام! Hello 123 ۱۲۳ — R-7K2M9Q"
    assert without_marks(text) == text
