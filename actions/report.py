"""The trafficking report form and its submission.

The form asks consent first (after explaining what happens to a report), then
what happened, where, whether anyone is in danger now, and whether staff may
contact the reporter. ``action_submit_report`` hands the report to
``escalation.submit`` and tells the user the reference only once it is stored.

Never logs the description or location.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.interfaces import Action, Tracker
from rasa_sdk.types import DomainDict

from actions.content import language_of
from actions.escalation import EscalationError, EscalationLimitError, Report, get_escalation
from actions.hotlines import emergency_numbers

logger = logging.getLogger(__name__)

REPORT_SLOTS = (
    "report_consent",
    "report_description",
    "report_location",
    "report_danger",
    "report_contact",
)
MAX_DESCRIPTION_CHARS = 4000


class ValidateReportForm(FormValidationAction):
    """Stops the form when consent is refused; flags danger as soon as it is said."""

    def name(self) -> str:
        """Rasa action name."""
        return "validate_report_form"

    async def required_slots(
        self,
        domain_slots: List[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[str]:
        """Without consent nothing more is asked."""
        if tracker.get_slot("report_consent") is False:
            return []
        return domain_slots

    def validate_report_description(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> Dict[str, Any]:
        """Keeps the text (trimmed to a sane length); a cry for help sets danger."""
        text = str(slot_value or "").strip()
        if not text:
            return {"report_description": None}
        result: Dict[str, Any] = {"report_description": text[:MAX_DESCRIPTION_CHARS]}
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if intent == "urgent_help" and not tracker.get_slot("report_danger"):
            language = language_of(tracker.get_slot("language"))
            dispatcher.utter_message(
                response="utter_urgent_numbers", hotlines=emergency_numbers(language)
            )
            result["report_danger"] = True
        return result

    def validate_report_location(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> Dict[str, Any]:
        """Any non-empty place is accepted as written (entity values are canonical)."""
        text = str(slot_value or "").strip()
        return {"report_location": text[:200] or None}


class ActionSubmitReport(Action):
    """Submits the finished form, or confirms that nothing was sent."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_submit_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Hands the report to the escalation boundary and gives the reference."""
        reset = [SlotSet(slot, None) for slot in REPORT_SLOTS]
        if tracker.get_slot("report_consent") is not True:
            dispatcher.utter_message(response="utter_report_not_sent")
            return reset
        language = language_of(tracker.get_slot("language"))
        report = Report(
            reporter=tracker.sender_id,
            language=language,
            channel=tracker.get_slot("channel"),
            description=str(tracker.get_slot("report_description") or ""),
            location=tracker.get_slot("report_location"),
            danger_now=bool(tracker.get_slot("report_danger")),
            may_contact=bool(tracker.get_slot("report_contact")),
        )
        try:
            reference = await get_escalation().submit(report)
        except EscalationLimitError:
            logger.warning("report refused: the daily limit of this reporter was reached")
            dispatcher.utter_message(
                response="utter_report_limit", hotlines=emergency_numbers(language)
            )
            return reset
        except EscalationError:
            logger.exception("report submission failed")
            dispatcher.utter_message(
                response="utter_report_failed", hotlines=emergency_numbers(language)
            )
            return []  # keep the answers so that nothing the user wrote is lost
        dispatcher.utter_message(response="utter_report_submitted", reference=reference)
        if report.may_contact:
            dispatcher.utter_message(response="utter_report_submitted_contact")
        else:
            dispatcher.utter_message(response="utter_report_submitted_anonymous")
        if report.urgent:
            dispatcher.utter_message(
                response="utter_urgent_numbers", hotlines=emergency_numbers(language)
            )
        return [*reset, SlotSet("report_reference", reference)]


class ActionMarkUrgent(Action):
    """Starts a report that is urgent from the outset (after urgent_help)."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_mark_urgent"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """The danger question is already answered: someone is in danger now."""
        return [SlotSet("report_danger", True)]


class ActionCancelReport(Action):
    """Stops a report half-way: nothing is sent and the answers are forgotten."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_cancel_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Deactivates the form and clears its slots."""
        dispatcher.utter_message(response="utter_report_cancelled")
        return [ActiveLoop(None), SlotSet("requested_slot", None)] + [
            SlotSet(slot, None) for slot in REPORT_SLOTS
        ]
