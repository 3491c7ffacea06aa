"""The REST channel's replay (``dialogue/channel.py``): a turn already in the conversation is
answered from the stored events, exactly as Rasa's collector sent it the first time."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa.core.channels.channel import CollectingOutputChannel
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from contract.turns import TURN
from dialogue.channel import replay

BUTTONS = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
CUSTOM = {"language": "ur_Latn", "response": "utter_ask_report_consent"}


def tracker(events: List[Event]) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("someone", events)


async def sent(messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """What Rasa's collecting channel returns for these bot messages (the first time)."""
    collector = CollectingOutputChannel()
    for message in messages:
        await collector.send_response("someone", dict(message))
    return collector.messages


async def test_a_turn_that_ran_is_answered_again_from_its_stored_events() -> None:
    first: List[Dict[str, Any]] = [
        {"text": "Do you want to report?", "buttons": BUTTONS, "custom": CUSTOM}
    ]
    second: List[Dict[str, Any]] = [{"text": "Where did it happen?"}, {"text": "A city is enough."}]
    events: List[Event] = [
        UserUttered("report", metadata={TURN: "t1"}),
        ActionExecuted("utter_ask_report_consent"),
        BotUttered(first[0]["text"], data={"buttons": BUTTONS, "custom": CUSTOM}),
        ActionExecuted("action_listen"),
        UserUttered("yes", metadata={TURN: "t2"}),
        BotUttered(second[0]["text"]),
        BotUttered(second[1]["text"]),
        ActionExecuted("action_listen"),
        UserUttered("no turn id here"),
        BotUttered("unrelated"),
    ]
    stored = tracker(events)
    assert await replay(stored, "t1", "someone") == await sent(first)
    assert await replay(stored, "t2", "someone") == await sent(second)


async def test_a_turn_never_seen_runs_and_one_that_answered_nothing_runs_again() -> None:
    stored = tracker([UserUttered("hello", metadata={TURN: "t1"}), ActionExecuted("x")])
    assert await replay(stored, "t9", "someone") is None
    assert await replay(stored, "t1", "someone") == []
