"""SMS segment arithmetic against known cases."""

from __future__ import annotations

import pytest

from contract.menus import numbered_menu, sms_body
from contract.segments import GSM7, UCS2, SegmentCount, count, segments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SegmentCount(GSM7, 0, 0)),
        ("a" * 160, SegmentCount(GSM7, 160, 1)),
        ("a" * 161, SegmentCount(GSM7, 161, 2)),
        ("a" * 306, SegmentCount(GSM7, 306, 2)),
        ("a" * 307, SegmentCount(GSM7, 307, 3)),
        ("[" * 80, SegmentCount(GSM7, 160, 1)),  # extension characters cost two septets
        ("€" * 81, SegmentCount(GSM7, 162, 2)),
        ("ب" * 70, SegmentCount(UCS2, 70, 1)),
        ("ب" * 71, SegmentCount(UCS2, 71, 2)),
        ("ب" * 201, SegmentCount(UCS2, 201, 3)),
        ("ب" * 202, SegmentCount(UCS2, 202, 4)),
        ("a" * 69 + "😀", SegmentCount(UCS2, 71, 2)),  # an emoji is two UTF-16 units
        ("Reply MORE for details. Café", SegmentCount(GSM7, 28, 1)),  # é is GSM-7
        ("it’s", SegmentCount(UCS2, 4, 1)),  # a curly apostrophe is not
    ],
)
def test_known_segment_counts(text: str, expected: SegmentCount) -> None:
    assert count(text) == expected


def test_one_urdu_letter_makes_the_whole_message_ucs2() -> None:
    assert segments("a" * 100) == 1
    assert segments("a" * 100 + "ا") == 2


def test_buttons_become_a_numbered_menu() -> None:
    buttons = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
    assert numbered_menu(buttons) == "1 Yes\n2 No"
    assert sms_body("Continue?", buttons) == "Continue?\n1 Yes\n2 No"
    assert sms_body("Done.", []) == "Done."
