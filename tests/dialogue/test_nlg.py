"""The in-process NLG renders what actions/nlg.py renders for the same slots."""

from __future__ import annotations

from typing import Any, List

import pytest
from rasa.core.nlg.generator import NaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from actions.nlg import render_response
from dialogue.nlg import LocalizedNLG
from tests.conftest import ROOT

DOMAIN = Domain.load(str(ROOT / "domain.yml"))


def tracker(**slots: Any) -> DialogueStateTracker:
    events: List[Any] = [UserUttered("hello")]
    events += [SlotSet(name, value) for name, value in slots.items()]
    return DialogueStateTracker.from_events("someone", events, slots=DOMAIN.slots)


def test_rasa_builds_it_from_the_endpoints_type() -> None:
    nlg = NaturalLanguageGenerator.create(EndpointConfig(type="dialogue.nlg.LocalizedNLG"), DOMAIN)
    assert isinstance(nlg, LocalizedNLG)


@pytest.mark.parametrize("language", ["en", "ur", "ur_Latn"])
@pytest.mark.parametrize("channel", ["telegram", "sms"])
async def test_same_text_as_the_renderer_for_the_same_slots(language: str, channel: str) -> None:
    state = tracker(language=language, channel=channel)
    nlg = LocalizedNLG(domain=DOMAIN)
    for name in ("utter_greet", "utter_recruitment_fees", "utter_urgent_numbers"):
        local = await nlg.generate(name, state, "rest")
        slots = state.current_state()["slots"]
        assert local == render_response(name, slots)
        assert local is not None and local["custom"]["rahnuma"]["language"] == language


async def test_arguments_fill_placeholders_like_slots() -> None:
    nlg = LocalizedNLG(domain=DOMAIN)
    state = tracker(language="en", channel="telegram")
    rendered = await nlg.generate("utter_report_submitted", state, "rest", reference="R-7K2M9Q")
    assert rendered is not None and "R-7K2M9Q" in rendered["text"]


async def test_an_unknown_response_falls_back_to_the_default() -> None:
    nlg = LocalizedNLG(domain=DOMAIN)
    rendered = await nlg.generate("utter_no_such_thing", tracker(language="ur"), "rest")
    expected = await nlg.generate("utter_default", tracker(language="ur"), "rest")
    assert rendered == expected
