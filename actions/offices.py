"""Where to register: Protectorate of Emigrants offices and Migrant Resource Centres.

Only offices marked confirmed in content/directory.yml are named.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import Action, Tracker
from rasa_sdk.types import DomainDict

from actions.content import join_list, language_of, localized_city, offices
from actions.i18n import pgettext


def _confirmed(entries: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [entry for entry in entries if entry.get("confirmed")]


def _join(names: List[str], language: str) -> str:
    return join_list(names, ", ", language)


def office_answer(city: Optional[str], language: str) -> Dict[str, Any]:
    """The response name and its variables for a user in ``city`` (or nowhere)."""
    data = offices()
    protectorates = _confirmed(data["protectorates"]["offices"])
    centres = _confirmed(data["migrant_resource_centres"])
    by_city = {entry["city"]: entry for entry in protectorates}
    centre_by_city = {entry["city"]: entry for entry in centres}
    if city is None:
        return {
            "response": "utter_office_list",
            "offices": _join(
                [localized_city(e["city"], e, language) for e in protectorates], language
            ),
            "centres": _join([localized_city(e["city"], e, language) for e in centres], language),
        }
    here = []
    if city in by_city:
        here.append(pgettext("office", "Protectorate of Emigrants", language))
    if city in centre_by_city:
        here.append(pgettext("office", "Migrant Resource Centre", language))
    city_entry = by_city.get(city) or centre_by_city.get(city) or {}
    shown_city = localized_city(city, city_entry, language)
    if here:
        return {
            "response": "utter_office_in_city",
            "city": shown_city,
            "offices": _join(here, language),
        }
    nearest = [name for name in data.get("nearest", {}).get(city, []) if name in by_city]
    names = nearest or list(by_city)
    return {
        "response": "utter_office_not_in_city",
        "city": city,
        "offices": _join([localized_city(n, by_city[n], language) for n in names], language),
    }


class ActionOfficeLocation(Action):
    """Names the office for the user's city, or lists them all."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_office_location"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Uses the city slot (from this or an earlier message)."""
        language = language_of(tracker.get_slot("language"))
        answer = office_answer(tracker.get_slot("city"), language)
        dispatcher.utter_message(**answer)
        return []
