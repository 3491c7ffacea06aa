"""Nearest Protectorate office or Migrant Resource Centre."""

from __future__ import annotations

from actions.inform import ActionHandleInform
from actions.offices import ActionOfficeLocation, office_answer


def test_city_with_an_office_and_a_centre() -> None:
    assert office_answer("Lahore", "en") == {
        "response": "utter_office_in_city",
        "city": "Lahore",
        "offices": "Protectorate of Emigrants, Migrant Resource Centre",
    }


def test_city_without_an_office_gets_the_nearest_confirmed_ones() -> None:
    assert office_answer("Gujranwala", "ur") == {
        "response": "utter_office_not_in_city",
        "city": "Gujranwala",
        "offices": "لاہور، سیالکوٹ",
    }


def test_unconfirmed_offices_are_never_named() -> None:
    # Sukkur's office was announced but is unconfirmed: suggest confirmed ones instead
    answer = office_answer("Sukkur", "en")
    assert answer["response"] == "utter_office_not_in_city"
    assert answer["offices"] == "Multan, Karachi"


def test_unknown_city_lists_all_confirmed_offices() -> None:
    answer = office_answer(None, "en")
    assert answer["response"] == "utter_office_list"
    assert answer["offices"].split(", ") == [
        "Karachi",
        "Lahore",
        "Peshawar",
        "Rawalpindi",
        "Quetta",
        "Multan",
        "Malakand",
        "Dera Ghazi Khan",
        "Sialkot",
    ]
    assert answer["centres"] == "Islamabad, Lahore, Peshawar"


async def test_action_uses_the_city_slot(make_tracker, domain, dispatcher) -> None:
    await ActionOfficeLocation().run(
        dispatcher, make_tracker(intent="ask_office_location", city="Islamabad"), domain
    )
    assert dispatcher.messages[0]["response"] == "utter_office_in_city"
    assert dispatcher.messages[0]["offices"] == "Migrant Resource Centre"


async def test_bare_city_is_read_as_an_office_question(make_tracker, domain, dispatcher) -> None:
    tracker = make_tracker(
        intent="inform", entities=[{"entity": "city", "value": "Multan"}], city="Multan"
    )
    await ActionHandleInform().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_office_in_city"


async def test_bare_licence_is_read_as_an_agent_check(make_tracker, domain, dispatcher) -> None:
    tracker = make_tracker(
        intent="inform", entities=[{"entity": "licence_number", "value": "9002/RWP"}]
    )
    await ActionHandleInform().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_agent_expired"


async def test_bare_country_gets_the_menu(make_tracker, domain, dispatcher) -> None:
    tracker = make_tracker(intent="inform", entities=[{"entity": "country", "value": "Italy"}])
    await ActionHandleInform().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_menu"
