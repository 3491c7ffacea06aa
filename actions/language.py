"""The conversation's language and channel, kept in slots after every message.

``action_validate_slot_mappings`` runs after each user message. It:
- sets ``language`` from an explicit choice (choose_language, or the gateway's
  ``/language`` command in metadata), which then sticks (``language_locked``);
- otherwise follows the detected language of the message, but only when the
  detection is confident, so "ok", "1" or "haan" never flip it;
- copies the channel from the message metadata;
- shows the privacy notice once, on first contact, in the user's language.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction
from rasa_sdk.interfaces import Action, Tracker
from rasa_sdk.types import DomainDict

from actions.content import language_of
from actions.nlg import renderer
from contract.languages import ENGLISH, LANGUAGES

CHANNELS = ("telegram", "sms", "chat")
MANAGED_SLOTS = ("language", "language_locked", "channel")


def explicit_choice(tracker: Tracker) -> Optional[str]:
    """The language the user explicitly asked for in the latest message, if any."""
    latest = tracker.latest_message or {}
    metadata = latest.get("metadata") or {}
    if metadata.get("language_choice") in LANGUAGES:
        return str(metadata["language_choice"])
    if (latest.get("intent") or {}).get("name") != "choose_language":
        return None
    for entity in latest.get("entities") or []:
        if entity.get("entity") == "language" and entity.get("value") in LANGUAGES:
            return str(entity["value"])
    return None


def next_language(tracker: Tracker) -> Optional[str]:
    """The language the conversation should continue in, or None to keep it."""
    chosen = explicit_choice(tracker)
    if chosen:
        return chosen
    if tracker.get_slot("language_locked"):
        return None
    latest = tracker.latest_message or {}
    detection = latest.get("language_detection") or {}
    detected = detection.get("code")
    confident = bool(detection.get("confident"))
    if detected not in LANGUAGES:
        # No text to detect (a button payload): the gateway's hint, never confident.
        hint = (latest.get("metadata") or {}).get("language")
        detected, confident = (hint if hint in LANGUAGES else None), False
    current = tracker.get_slot("language")
    if current not in LANGUAGES:
        return detected or ENGLISH
    if confident and detected != current:
        return detected
    return None


class ValidateSlotMappings(ValidationAction):
    """Fills the custom-mapped slots (language, channel) after every message."""

    def name(self) -> str:
        """The action Rasa runs after each user turn."""
        return "action_validate_slot_mappings"

    def domain_slots(self, domain: DomainDict) -> List[str]:
        """Only the slots this action owns; entity slots need no validation."""
        return list(MANAGED_SLOTS)

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Extracts slots, then shows the privacy notice on first contact."""
        events = await super().run(dispatcher, tracker, domain)
        if not tracker.get_slot("privacy_notice_shown"):
            # Rendered here, not by response name: Rasa would render it with the
            # language from before this message, and the notice must be readable.
            slots = {**tracker.slots, **{e["name"]: e["value"] for e in events}}
            notice = renderer().render(
                "utter_privacy_notice", language_of(slots.get("language")), slots.get("channel")
            )
            dispatcher.utter_message(text=notice.text)
            events.append(SlotSet("privacy_notice_shown", True))
        return events

    async def extract_language(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Sets the language when it should change (see module docstring)."""
        language = next_language(tracker)
        return {"language": language} if language else {}

    def validate_language(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Only the three supported languages."""
        return {"language": value if value in LANGUAGES else None}

    def validate_language_locked(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """A plain flag."""
        return {"language_locked": bool(value)}

    def validate_channel(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Only the channels the gateway serves."""
        return {"channel": value if value in CHANNELS else None}

    async def extract_language_locked(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Locks the language once the user chose one explicitly."""
        return {"language_locked": True} if explicit_choice(tracker) else {}

    async def extract_channel(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """The channel the gateway says the message came from."""
        metadata = (tracker.latest_message or {}).get("metadata") or {}
        channel = metadata.get("channel")
        if channel in CHANNELS and channel != tracker.get_slot("channel"):
            return {"channel": channel}
        return {}


class ActionChooseLanguage(Action):
    """Confirms an explicit language choice, or asks which language to use."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_choose_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """The slot was already set by the slot extraction before this ran."""
        if explicit_choice(tracker):
            dispatcher.utter_message(response="utter_language_changed")
        else:
            dispatcher.utter_message(response="utter_ask_language")
        return []
