"""Nearest Protectorate office or Migrant Resource Centre, on tests/fixtures/content.

The fixture's towns: offices in Northtown, Southtown and Easttown (Westtown's is
unconfirmed); centres in Northtown and Capital (Westtown's is unconfirmed).
"""

from __future__ import annotations

import pytest

from actions.inform import ActionHandleInform
from actions.offices import ActionOfficeLocation, office_answer
from tests.conftest import translated

pytestmark = pytest.mark.usefixtures("fixture_content")

PROTECTORATE = "Protectorate of Emigrants"
CENTRE = "Migrant Resource Centre"


def test_city_with_an_office_and_a_centre() -> None:
    assert office_answer("Northtown", "en") == {
        "response": "utter_office_in_city",
        "city": "Northtown",
        "offices": f"{PROTECTORATE}, {CENTRE}",
    }


def test_city_with_an_office_and_a_centre_in_urdu() -> None:
    assert office_answer("Northtown", "ur") == {
        "response": "utter_office_in_city",
        "city": "شمالی نگر",
        "offices": f"{translated('ur', 'office', PROTECTORATE)}، "
        f"{translated('ur', 'office', CENTRE)}",
    }


def test_city_without_an_office_gets_the_nearest_confirmed_ones() -> None:
    assert office_answer("Village", "ur") == {
        "response": "utter_office_not_in_city",
        "city": "Village",
        "offices": "مشرقی نگر، جنوبی نگر",
    }


def test_unconfirmed_offices_are_never_named() -> None:
    # Hamlet's nearest are Westtown (unconfirmed) and Northtown: only Northtown is named
    assert office_answer("Hamlet", "en") == {
        "response": "utter_office_not_in_city",
        "city": "Hamlet",
        "offices": "Northtown",
    }
    # Westtown's own office and centre are unconfirmed: it is a city without one
    assert office_answer("Westtown", "en") == {
        "response": "utter_office_not_in_city",
        "city": "Westtown",
        "offices": "Northtown, Southtown, Easttown",
    }


def test_no_confirmed_office_nearby_lists_every_confirmed_one() -> None:
    answer = office_answer("Outpost", "en")
    assert answer["offices"] == "Northtown, Southtown, Easttown"


def test_unknown_city_lists_all_confirmed_offices_and_centres() -> None:
    assert office_answer(None, "en") == {
        "response": "utter_office_list",
        "offices": "Northtown, Southtown, Easttown",
        "centres": "Northtown, Capital",
    }
    assert office_answer(None, "ur") == {
        "response": "utter_office_list",
        "offices": "شمالی نگر، جنوبی نگر، مشرقی نگر",
        "centres": "شمالی نگر، دارالحکومت",
    }


async def test_action_uses_the_city_slot(make_tracker, domain, dispatcher) -> None:
    await ActionOfficeLocation().run(
        dispatcher, make_tracker(intent="ask_office_location", city="Capital"), domain
    )
    assert dispatcher.messages[0]["response"] == "utter_office_in_city"
    assert dispatcher.messages[0]["offices"] == CENTRE


async def test_bare_city_is_read_as_an_office_question(make_tracker, domain, dispatcher) -> None:
    tracker = make_tracker(
        intent="inform", entities=[{"entity": "city", "value": "Southtown"}], city="Southtown"
    )
    await ActionHandleInform().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_office_in_city"
    assert dispatcher.messages[0]["offices"] == PROTECTORATE


async def test_bare_licence_is_read_as_an_agent_check(make_tracker, domain, dispatcher) -> None:
    tracker = make_tracker(
        intent="inform", entities=[{"entity": "licence_number", "value": "7102/STN"}]
    )
    await ActionHandleInform().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_agent_expired"


async def test_bare_country_gets_the_menu(make_tracker, domain, dispatcher) -> None:
    tracker = make_tracker(intent="inform", entities=[{"entity": "country", "value": "Italy"}])
    await ActionHandleInform().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_menu"
