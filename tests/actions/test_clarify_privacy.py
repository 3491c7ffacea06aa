"""Clarifying questions on unclear input, and deleting a user's data."""

from __future__ import annotations

import yaml
from rasa_sdk.events import AllSlotsReset, SlotSet

from actions.clarify import ActionClarify
from actions.escalation import InMemoryEscalation, Report
from actions.privacy import ActionDeleteMyData
from tests.conftest import ROOT, translated

# The deployer's topic titles; their translations are the catalogs' (context "topic").
TOPICS = yaml.safe_load((ROOT / "content/topics.yml").read_text(encoding="utf-8"))["topics"]


def topic_button(intent: str, language: str) -> dict[str, str]:
    """The button for ``intent`` as the translators wrote its title."""
    return {"title": translated(language, "topic", TOPICS[intent]), "payload": f"/{intent}"}


async def test_unclear_message_offers_top_topics_as_buttons(
    make_tracker, domain, dispatcher
) -> None:
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.8},
        {"name": "report_trafficking", "confidence": 0.41},
        {"name": "greet", "confidence": 0.2},
        {"name": "ask_hotlines", "confidence": 0.3},
        {"name": "ask_rights_abroad", "confidence": 0.12},
        {"name": "ask_protector", "confidence": 0.11},
        {"name": "ask_visa_check", "confidence": 0.01},
    ]
    tracker = make_tracker(intent="nlu_fallback", ranking=ranking, language="ur_Latn")
    assert await ActionClarify().run(dispatcher, tracker, domain) == []
    [message] = dispatcher.messages
    assert message["response"] == "utter_clarify"
    assert message["buttons"] == [
        topic_button("report_trafficking", "ur_Latn"),
        topic_button("ask_hotlines", "ur_Latn"),
        topic_button("ask_rights_abroad", "ur_Latn"),
        topic_button("show_menu", "ur_Latn"),
    ]


async def test_nothing_plausible_asks_to_rephrase(
    make_tracker, domain, dispatcher, fixture_content
) -> None:
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.5},
        {"name": "ask_protector", "confidence": 0.05},
    ]
    await ActionClarify().run(
        dispatcher, make_tracker(intent="nlu_fallback", ranking=ranking), domain
    )
    assert dispatcher.messages[0]["response"] == "utter_rephrase"
    # the menu's title from tests/fixtures/content/topics.yml
    assert dispatcher.messages[0]["buttons"] == [
        {"title": "Fixture: all topics", "payload": "/show_menu"}
    ]


async def test_delete_marks_erasure_and_keeps_the_language(
    make_tracker, domain, dispatcher, monkeypatch
) -> None:
    monkeypatch.setattr("actions.privacy.get_escalation", lambda: InMemoryEscalation())
    events = await ActionDeleteMyData().run(
        dispatcher, make_tracker(intent="affirm", language="ur"), domain
    )
    assert events == [
        AllSlotsReset(),
        SlotSet("data_erased", True),
        SlotSet("language", "ur"),
        SlotSet("privacy_notice_shown", True),
    ]
    assert [m["response"] for m in dispatcher.messages] == ["utter_data_deleted"]


async def test_delete_says_which_reports_stay_with_staff(
    make_tracker, domain, dispatcher, monkeypatch
) -> None:
    store = InMemoryEscalation()
    await store.submit(Report("3f9c2a7e0d1b4c58", "en", "telegram", "x", None, False, True))
    await store.submit(Report("someone-else", "en", "telegram", "y", None, False, True))
    monkeypatch.setattr("actions.privacy.get_escalation", lambda: store)
    await ActionDeleteMyData().run(dispatcher, make_tracker(intent="affirm"), domain)
    assert dispatcher.messages[0]["response"] == "utter_data_deleted_reports_kept"
    assert dispatcher.messages[0]["count"] == 1


async def test_possible_danger_gets_the_emergency_numbers_first(
    make_tracker, domain, dispatcher, fixture_content
) -> None:
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.8},
        {"name": "urgent_help", "confidence": 0.55},
        {"name": "ask_rights_abroad", "confidence": 0.3},
    ]
    tracker = make_tracker(intent="nlu_fallback", ranking=ranking, language="en")
    await ActionClarify().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_urgent_numbers", "utter_clarify"]
    assert dispatcher.messages[0]["hotlines"] == (  # tests/fixtures/content/directory.yml
        "Fixture emergency: 115; Fixture rescue: 1133; "
        "Fixture anti-trafficking hotline: 111-555-786"
    )
    first_button = dispatcher.messages[1]["buttons"][0]
    assert first_button == {"title": "Fixture: danger now", "payload": "/urgent_help"}
