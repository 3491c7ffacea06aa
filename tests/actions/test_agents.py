"""Checking a promoter's licence: exact numbers, misspelt names, unknowns.

On tests/fixtures/content/promoters.csv: 7101/NTN Alpha Star Overseas Employment
(valid), 7102/STN Bluewater Manpower Services (expired), 7103/ETN Crescent Recruiting
Agency (Pvt) (cancelled), 7104/NTN Delta Horizon Overseas (valid).
"""

from __future__ import annotations

import pytest
from rasa_sdk.events import SlotSet

from actions.agents import ActionVerifyAgent, find_promoter, normalize_licence

RESET = [SlotSet("licence_number", None), SlotSet("agent_name", None)]
on_fixture_content = pytest.mark.usefixtures("fixture_content")


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


@on_fixture_content
@pytest.mark.parametrize(
    ("query", "licence"),
    [
        ("7103/ETN", "7103/ETN"),
        ("7103", "7103/ETN"),
        ("Alpha Star Overseas", "7101/NTN"),
        ("alfa star overseas employment promoters", "7101/NTN"),
        ("BLUEWATER MANPOWER", "7102/STN"),
        ("Delta Horizon", "7104/NTN"),
    ],
)
def test_promoters_are_found_by_number_or_tolerant_name(query: str, licence: str) -> None:
    promoter = find_promoter(query)
    assert promoter is not None and promoter.licence_number == licence


@on_fixture_content
@pytest.mark.parametrize(
    "query",
    ["Al-Noor Overseas", "7777/NTN", "7101/KHI", "Overseas Employment Promoters", "Delta", ""],
)
def test_unknown_promoters_are_not_matched(query: str) -> None:
    assert find_promoter(query) is None


@on_fixture_content
async def test_valid_licence(make_tracker, domain, dispatcher) -> None:
    entities = [{"entity": "licence_number", "value": "7101/ntn"}]
    events = await ActionVerifyAgent().run(
        dispatcher, make_tracker(intent="ask_verify_agent", entities=entities), domain
    )
    assert events == RESET
    [message] = dispatcher.messages
    assert message["response"] == "utter_agent_valid"
    shown = ("name", "licence", "city", "expiry", "verified")
    assert {key: message[key] for key in shown} == {
        "name": "Alpha Star Overseas Employment",
        "licence": "7101/NTN",
        "city": "Northtown",
        "expiry": "2031-06-30",
        "verified": "2030-01-15",
    }


@on_fixture_content
async def test_cancelled_by_name(make_tracker, domain, dispatcher) -> None:
    entities = [{"entity": "agent_name", "value": "Crescent Recruiting"}]
    await ActionVerifyAgent().run(
        dispatcher, make_tracker(intent="ask_verify_agent", entities=entities), domain
    )
    assert dispatcher.messages[0]["response"] == "utter_agent_cancelled"
    assert dispatcher.messages[0]["licence"] == "7103/ETN"


@on_fixture_content
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
