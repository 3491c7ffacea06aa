"""Helplines, and the first answer to someone in danger.

Numbers come only from content/directory.yml (confirmed entries), never from
code or from the domain's texts.
"""

from __future__ import annotations

from typing import List

from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import Action, Tracker
from rasa_sdk.types import DomainDict

from actions.content import confirmed_hotlines, format_hotlines, language_of


def emergency_numbers(language: str) -> str:
    """The emergency helplines, formatted for one message in ``language``."""
    return format_hotlines(confirmed_hotlines(emergency_only=True), language)


class ActionHotlines(Action):
    """Lists every confirmed helpline."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_hotlines"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Sends the helplines in the conversation's language."""
        language = language_of(tracker.get_slot("language"))
        lines = format_hotlines(confirmed_hotlines(), language)
        dispatcher.utter_message(response="utter_hotlines", hotlines=lines)
        return []


class ActionUrgentHelp(Action):
    """Gives the emergency numbers at once; the rule then offers a hand-off."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_urgent_help"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Emergency numbers first, before anything else is asked."""
        language = language_of(tracker.get_slot("language"))
        dispatcher.utter_message(
            response="utter_urgent_numbers", hotlines=emergency_numbers(language)
        )
        return []
