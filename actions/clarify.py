"""What the assistant says when it is not sure what the user meant.

Instead of a confident wrong answer, it offers the likeliest topics as
buttons (never more than three), plus the menu. Report and emergency topics
may be offered, but are only entered when the user presses the button. When
"I'm in danger now" is among the suggestions, the emergency numbers come
first: a frightened person may not write clearly, and the numbers harm nobody.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import Action, Tracker
from rasa_sdk.types import DomainDict

from actions.content import language_of
from actions.hotlines import emergency_numbers
from actions.i18n import topic_title

MAX_SUGGESTIONS = 3
MIN_SUGGESTION_CONFIDENCE = 0.1
NOT_SUGGESTED = frozenset(
    {"nlu_fallback", "out_of_scope", "greet", "goodbye", "thank", "affirm", "deny", "inform"}
)


def suggested_intents(ranking: List[Dict[str, Any]]) -> List[str]:
    """The intents worth offering for an unclear message, likeliest first."""
    names: List[str] = []
    for candidate in ranking:
        name = str(candidate.get("name"))
        if name in NOT_SUGGESTED or (candidate.get("confidence") or 0) < MIN_SUGGESTION_CONFIDENCE:
            continue
        if name not in names:
            names.append(name)
        if len(names) == MAX_SUGGESTIONS:
            break
    return names


def suggestions(tracker: Tracker, language: str) -> List[Dict[str, Any]]:
    """Buttons for the top intents of the latest message, then the menu."""
    ranking = (tracker.latest_message or {}).get("intent_ranking") or []
    buttons: List[Dict[str, Any]] = []
    for name in suggested_intents(ranking):
        title = topic_title(name, language)
        if title:
            buttons.append({"title": title, "payload": f"/{name}"})
    menu = topic_title("show_menu", language) or "Menu"
    buttons.append({"title": menu, "payload": "/show_menu"})
    return buttons


class ActionClarify(Action):
    """Asks which topic the user meant, with buttons."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_clarify"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Offers suggestions; a pressed button then starts that topic."""
        language = language_of(tracker.get_slot("language"))
        buttons = suggestions(tracker, language)
        if any(button["payload"] == "/urgent_help" for button in buttons):
            dispatcher.utter_message(
                response="utter_urgent_numbers", hotlines=emergency_numbers(language)
            )
        if len(buttons) > 1:
            dispatcher.utter_message(response="utter_clarify", buttons=buttons)
        else:
            dispatcher.utter_message(response="utter_rephrase", buttons=buttons)
        return []
