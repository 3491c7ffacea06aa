"""The cheaper check of action server responses accepts and rejects what Rasa's own does."""

from __future__ import annotations

from typing import Any, Dict

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

import dialogue  # noqa: F401  (installs the fix, as Rasa's import of the endpoints does)
from dialogue.speedups import validate_action_result

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
