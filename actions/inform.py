"""A bare place, agency name or licence number, said without a question.

"9001/LHR" or "Al-Noor Overseas" is most likely a request to check that
promoter; "Multan" a request for the nearest office. Anything else gets the
menu rather than a guess.
"""

from __future__ import annotations

from typing import List

from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import Action, Tracker
from rasa_sdk.types import DomainDict

from actions.agents import ActionVerifyAgent
from actions.offices import ActionOfficeLocation


class ActionHandleInform(Action):
    """Routes a bare entity to the answer it most likely asks for."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_handle_inform"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Agent check for a licence or name, office for a city, else the menu."""
        entities = {e.get("entity") for e in (tracker.latest_message or {}).get("entities") or []}
        if entities & {"licence_number", "agent_name"}:
            return await ActionVerifyAgent().run(dispatcher, tracker, domain)
        if "city" in entities:
            return await ActionOfficeLocation().run(dispatcher, tracker, domain)
        dispatcher.utter_message(response="utter_menu")
        return []
