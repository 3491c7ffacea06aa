"""Checking a promoter's licence: exact numbers, misspelt names, unknowns."""

from __future__ import annotations

import pytest
from rasa_sdk.events import SlotSet

from actions.agents import ActionVerifyAgent, find_promoter, normalize_licence

RESET = [SlotSet("licence_number", None), SlotSet("agent_name", None)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9001/LHR", "9001/LHR"),
        ("oep licence no. 9001 / lhr", "9001/LHR"),
        ("9002-rwp", "9002/RWP"),
        ("licence 4410", "4410"),
        ("none", ""),
    ],
)
def test_licence_numbers_are_normalised(text: str, expected: str) -> None:
    assert normalize_licence(text) == expected


@pytest.mark.parametrize(
    ("query", "licence"),
    [
        ("9003/KHI", "9003/KHI"),
        ("9003", "9003/KHI"),
        ("Demo Sample Overseas", "9001/LHR"),
        ("demo sampel overseas employment promoters", "9001/LHR"),
        ("EXAMPLE MANPOWER", "9002/RWP"),
    ],
)
def test_promoters_are_found_by_number_or_tolerant_name(query: str, licence: str) -> None:
    promoter = find_promoter(query)
    assert promoter is not None and promoter.licence_number == licence


@pytest.mark.parametrize(
    "query", ["Al-Noor Overseas", "7777/LHR", "Overseas Employment Promoters", ""]
)
def test_unknown_promoters_are_not_matched(query: str) -> None:
    assert find_promoter(query) is None


async def test_valid_licence(make_tracker, domain, dispatcher) -> None:
    entities = [{"entity": "licence_number", "value": "9001/LHR"}]
    events = await ActionVerifyAgent().run(
        dispatcher, make_tracker(intent="ask_verify_agent", entities=entities), domain
    )
    assert events == RESET
    assert dispatcher.messages[0]["response"] == "utter_agent_valid"
    assert dispatcher.messages[0]["expiry"] == "2027-06-30"


async def test_cancelled_by_name(make_tracker, domain, dispatcher) -> None:
    entities = [{"entity": "agent_name", "value": "Testcase Recruiting"}]
    await ActionVerifyAgent().run(
        dispatcher, make_tracker(intent="ask_verify_agent", entities=entities), domain
    )
    assert dispatcher.messages[0]["response"] == "utter_agent_cancelled"


async def test_not_found_says_so_and_how_to_check(make_tracker, domain, dispatcher) -> None:
    entities = [{"entity": "agent_name", "value": "Sky Line Recruiting"}]
    await ActionVerifyAgent().run(
        dispatcher, make_tracker(intent="ask_verify_agent", entities=entities), domain
    )
    assert dispatcher.messages[0]["response"] == "utter_agent_not_found"
    assert dispatcher.messages[0]["query"] == "Sky Line Recruiting"
    english = domain["responses"]["utter_agent_not_found"][0]["text"]
    assert "BE&OE" in english and "Protectorate office" in english


async def test_without_a_name_or_number_it_asks(make_tracker, domain, dispatcher) -> None:
    events = await ActionVerifyAgent().run(
        dispatcher, make_tracker(intent="ask_verify_agent"), domain
    )
    assert events == []
    assert dispatcher.messages[0]["response"] == "utter_ask_agent"
