"""The NLG endpoint: language, channel form, placeholders, Babel formatting."""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List

import yaml

from actions.i18n import fill, format_value
from actions.nlg import Renderer, render_response, renderer
from contract.bidi import FSI, PDI
from tests.conftest import ROOT, translated

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
RESPONSES: Dict[str, List[Dict[str, Any]]] = {
    "utter_fee": [
        {
            "text": "A promoter may charge at most Rs {amount}.",
            "buttons": [{"title": "Legal fees", "payload": "/ask_recruitment_fees"}],
        },
        {"text": "Max Rs {amount}. Reply MORE for details.", "channel": "sms"},
    ],
    "utter_default": [{"text": "Sorry, I didn't understand that."}],
}


def source(name: str, sms: bool = False) -> Dict[str, Any]:
    """A response's English variation in domain.yml: the SMS short form, or the full one."""
    return next(v for v in DOMAIN["responses"][name] if (v.get("channel") == "sms") == sms)


def test_full_form_for_chat_and_telegram() -> None:
    rendered = Renderer(RESPONSES).render("utter_fee", "en", "telegram", {"amount": 15000})
    assert rendered.text == "A promoter may charge at most Rs 15,000."
    assert rendered.buttons == [{"title": "Legal fees", "payload": "/ask_recruitment_fees"}]
    assert rendered.more is None


def test_short_form_for_sms_with_the_full_text_for_more() -> None:
    rendered = Renderer(RESPONSES).render("utter_fee", "en", "sms", {"amount": 15000})
    assert rendered.text == "Max Rs 15,000. Reply MORE for details."
    assert rendered.more == "A promoter may charge at most Rs 15,000."
    assert rendered.as_nlg_json()["custom"] == {
        "rahnuma": {"more": rendered.more, "language": "en", "response": "utter_fee"}
    }


def test_numbers_and_dates_follow_the_locale() -> None:
    assert format_value(1000000, "en") == "1,000,000"
    assert format_value("2027-06-30", "en") == "30 June 2027"
    assert format_value(dt.date(2027, 6, 30), "ur") == f"{FSI}30 جون، 2027{PDI}"
    assert format_value("2027-06-30", "ur_Latn") == "30 June 2027"


def test_latin_values_inside_urdu_are_isolated() -> None:
    assert (
        fill("حوالہ: {reference}", {"reference": "R-7K2M9Q"}, "ur") == f"حوالہ: {FSI}R-7K2M9Q{PDI}"
    )
    assert fill("{missing} stays", {}, "en") == "{missing} stays"


def test_real_catalogs_translate_texts_and_buttons() -> None:
    menu = source("utter_menu")
    urdu = renderer().render("utter_menu", "ur")
    assert urdu.text == translated("ur", "utter_menu", menu["text"])
    assert urdu.buttons == [
        {"title": translated("ur", "button", button["title"]), "payload": button["payload"]}
        for button in menu["buttons"]
    ]
    roman = renderer().render("utter_language_changed", "ur_Latn")
    assert roman.text == translated(
        "ur_Latn", "utter_language_changed", source("utter_language_changed")["text"]
    )


def test_request_uses_the_language_slot_and_fills_the_arguments() -> None:
    answer = render_response(
        "utter_report_submitted",
        {"language": "ur_Latn", "channel": "telegram"},
        {"reference": "R-ABC123"},
    )
    template = translated(
        "ur_Latn", "utter_report_submitted", source("utter_report_submitted")["text"]
    )
    assert answer["text"] == template.format(reference="R-ABC123")
    assert set(answer) == {"text", "buttons", "image", "elements", "attachments", "custom"}
    # The gateway learns the conversation's language and the response from here.
    assert answer["custom"] == {
        "rahnuma": {"language": "ur_Latn", "response": "utter_report_submitted"}
    }


def test_request_on_sms_gets_the_translated_short_form_and_the_full_text_for_more() -> None:
    answer = render_response(
        "utter_agent_not_found",
        {"language": "ur_Latn", "channel": "sms"},
        {"query": "Sky Line Recruiting"},
    )
    short = source("utter_agent_not_found", sms=True)["text"]
    full = source("utter_agent_not_found")["text"]
    assert answer["text"] == translated("ur_Latn", "utter_agent_not_found (sms)", short).format(
        query="Sky Line Recruiting"
    )
    assert answer["custom"] == {
        "rahnuma": {
            "language": "ur_Latn",
            "response": "utter_agent_not_found",
            "more": translated("ur_Latn", "utter_agent_not_found", full).format(
                query="Sky Line Recruiting"
            ),
        }
    }


def test_unknown_response_answers_with_the_default_text() -> None:
    answer = render_response("utter_nonexistent", {}, responses=Renderer(RESPONSES))
    assert answer["text"] == "Sorry, I didn't understand that."
