"""Rasa's turn-cost fixes answer exactly as Rasa's own code does."""

from __future__ import annotations

from typing import Any, Dict

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from rasa.shared.utils.common import all_subclasses

import dialogue  # noqa: F401  (installs the fix, as Rasa's import of the endpoints does)
from dialogue.speedups import resolve_by_type, validate_action_result

VALID: Dict[str, Any] = {
    "events": [
        {"event": "slot", "name": "language", "value": "ur", "timestamp": None},
        {"event": "followup", "name": "action_listen"},
    ],
    "responses": [{"text": "hello", "buttons": []}],
}
INVALID = [
    {"events": "not a list"},
    {"events": [{"event": "slot"}], "responses": "no"},
    {"events": [{"event": "no_such_event"}]},
    {"responses": [1, 2]},
]


def rasa_accepts(result: Any) -> bool:
    try:
        jsonschema.validate(result, RemoteAction.action_response_format_spec())
    except jsonschema.ValidationError:
        return False
    return True


def test_rasa_uses_the_fix() -> None:
    assert RemoteAction._validate_action_result is validate_action_result


def test_a_valid_response_passes_both() -> None:
    assert rasa_accepts(VALID)
    assert validate_action_result(RemoteAction("action_x", None), VALID) is True


@pytest.mark.parametrize("result", INVALID)
def test_an_invalid_response_fails_both_with_rasas_message(result: Dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError) as raised:
        validate_action_result(RemoteAction("action_x", None), result)
    assert rasa_accepts(result) is False
    assert "Failed to validate Action server response" in raised.value.message


def test_every_event_type_resolves_to_the_class_rasa_finds() -> None:
    assert Event.resolve_by_type is resolve_by_type
    for cls in all_subclasses(Event):
        expected = next(c for c in all_subclasses(Event) if c.type_name == cls.type_name)
        assert resolve_by_type(cls.type_name) is expected
        assert resolve_by_type(cls.type_name) is expected  # and again, from the table


def test_unknown_names_behave_as_in_rasa() -> None:
    assert resolve_by_type("topic") is None
    assert resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    with pytest.raises(ValueError, match="Unknown event name"):
        resolve_by_type("no_such_event")


def test_events_still_round_trip() -> None:
    events = [UserUttered("hi"), SlotSet("language", "ur"), ActionExecuted("action_listen")]
    assert [Event.from_parameters(e.as_dict()) for e in events] == events
