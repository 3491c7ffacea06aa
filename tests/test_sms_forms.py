"""Every answer, in every language, fits the SMS budget as the phone receives it.

English and Roman Urdu: at most 2 segments (306 GSM-7 characters); Urdu
script: at most 3 segments (201 UCS-2 characters). Counted on the real SMS
body (the short form plus its numbered menu), with placeholders filled with
long but realistic values (helplines, fees and a licence from tests/fixtures/content).
Short forms end by saying how to get more.
"""

from __future__ import annotations

from typing import Any, Dict

import pytest

from actions.agents import promoters
from actions.content import confirmed_hotlines, format_hotlines
from actions.nlg import renderer
from contract.languages import ENGLISH, ROMAN_URDU, URDU
from contract.menus import sms_body
from contract.segments import GSM7, count, is_gsm7

BUDGET = {ENGLISH: 2, ROMAN_URDU: 2, URDU: 3}
MORE = {ENGLISH: "MORE", ROMAN_URDU: "MORE", URDU: "MORE"}

pytestmark = pytest.mark.usefixtures("fixture_content")  # the fee limits in every answer too


def _values(language: str) -> Dict[str, Any]:
    promoter = max(promoters(), key=lambda listed: len(listed.name))
    return {
        "reference": "R-7K2M9Q",
        "hotlines": format_hotlines(confirmed_hotlines(emergency_only=True), language),
        "name": promoter.name,
        "licence": promoter.licence_number,
        "city": "Dera Ghazi Khan",
        "expiry": promoter.expiry,
        "verified": promoter.verified,
        "query": "Sky Line Recruiting",
        "offices": "Karachi, Lahore, Peshawar, Rawalpindi, Quetta, Multan",
        "centres": "Islamabad, Lahore, Peshawar",
        "count": 2,
    }


CASES = [(name, language) for name in renderer().names() for language in BUDGET]


@pytest.mark.parametrize(("name", "language"), CASES)
def test_sms_form_fits_the_budget(name: str, language: str) -> None:
    rendered = renderer().render(name, language, "sms", _values(language))
    body = sms_body(rendered.text, rendered.buttons)
    billed = count(body)
    assert billed.segments <= BUDGET[language], f"{billed} for {body!r}"
    english_source = renderer().render(name, ENGLISH, None, {}).text
    if language != URDU and is_gsm7(english_source + "".join(b["title"] for b in rendered.buttons)):
        # one stray curly quote would make a Latin-script SMS cost twice as much
        assert billed.encoding == GSM7, f"{name} ({language}) is not GSM-7: {body!r}"


@pytest.mark.parametrize(("name", "language"), CASES)
def test_short_forms_say_how_to_get_more(name: str, language: str) -> None:
    rendered = renderer().render(name, language, "sms", _values(language))
    if rendered.more is not None:
        assert MORE[language] in rendered.text, rendered.text
        assert len(rendered.more) > len(rendered.text)
