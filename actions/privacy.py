"""Deleting a user's data on request.

All slots are reset and the conversation is marked for erasure: the tracker
stores in ``dialogue/tracker_store.py`` then drop every event before the mark.
Reports already handed to hotline staff are kept (staff need them to act),
and the user is told so.
"""

from __future__ import annotations

import logging
from typing import List

from rasa_sdk.events import AllSlotsReset, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import Action, Tracker
from rasa_sdk.types import DomainDict

from actions.escalation import EscalationError, get_escalation

logger = logging.getLogger(__name__)

ERASE_SLOT = "data_erased"


class ActionDeleteMyData(Action):
    """Erases the conversation after the user confirmed."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_delete_my_data"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Resets slots and marks the erasure; the language survives so replies stay readable."""
        try:
            kept = len(await get_escalation().references_of(tracker.sender_id))
        except EscalationError:
            logger.warning("report store unreachable while erasing; kept reports not counted")
            kept = 0
        if kept:
            dispatcher.utter_message(response="utter_data_deleted_reports_kept", count=kept)
        else:
            dispatcher.utter_message(response="utter_data_deleted")
        events: List[EventType] = [AllSlotsReset(), SlotSet(ERASE_SLOT, True)]
        language = tracker.get_slot("language")
        if language:
            events.append(SlotSet("language", language))
        events.append(SlotSet("privacy_notice_shown", True))
        return events
