"""Two fixes to Rasa 3.6.21's turn cost, applied when Rasa loads this package.

1. Rasa checks every action server response with ``jsonschema.validate(result,
schema)``. With the jsonschema that Rasa 3.6 pins (4.17), that call first
validates the *schema itself* against the JSON Schema meta-schema and builds a
new validator, every time: the turn profile (docs/turn-profile.md) found
jsonschema taking about 40% of Rasa's CPU, on every custom action and on the
slot validation that runs after every user message.

   ``install()`` replaces ``RemoteAction._validate_action_result`` with the
   same check through one validator built (and its schema checked) once per
   process: the same schema, the same errors, the same message.
2. Every event read back from the tracker store is typed by
   ``Event.resolve_by_type``, which walks the whole ``Event`` class tree for
   each one (about 8% of Rasa's CPU after the first fix). ``install()`` puts a
   name-to-class table in front of it; a name not in the table goes to Rasa's
   own lookup, so an event class imported later still resolves.

These are patches of Rasa internals, justified by the measured cost; they are
applied only to the Rasa version they were written for, and
``tests/dialogue/test_speedups.py`` checks that they answer exactly as Rasa's
own code does.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Callable, Dict, Optional, Type

import rasa
from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event

logger = logging.getLogger(__name__)

PATCHED_VERSION = "3.6.21"


@lru_cache(maxsize=1)
def response_validator() -> Validator:
    """The validator of action server responses, its schema checked once."""
    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    validator: Validator = cls(schema)
    return validator


def validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
    """``RemoteAction._validate_action_result`` with the validator built once."""
    error: ValidationError | None = best_match(response_validator().iter_errors(result))
    if error is not None:
        error.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


_EVENT_TYPES: Dict[str, Type[Event]] = {}
_rasa_resolve_by_type: Callable[..., Optional[Type[Event]]] = Event.resolve_by_type


def resolve_by_type(type_name: str, default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
    """``Event.resolve_by_type`` with the classes it found remembered by name."""
    found = _EVENT_TYPES.get(type_name)
    if found is None:
        found = _rasa_resolve_by_type(type_name, default)
        if found is not None and found.type_name == type_name:
            _EVENT_TYPES[type_name] = found
    return found


def install() -> bool:
    """Applies the fixes to the Rasa version they were written for; True when applied."""
    if rasa.__version__ != PATCHED_VERSION:
        logger.warning(
            "dialogue.speedups: written for Rasa %s, running %s: not applied",
            PATCHED_VERSION,
            rasa.__version__,
        )
        return False
    setattr(RemoteAction, "_validate_action_result", validate_action_result)  # noqa: B010
    setattr(Event, "resolve_by_type", staticmethod(resolve_by_type))  # noqa: B010
    return True
