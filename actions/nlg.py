"""Rendering Rasa's responses in the user's language and the channel's form.

Rasa renders every response through ``dialogue/nlg.py`` (in the Rasa process),
which calls ``render_response`` here; the actions use the same renderer for
texts they compose.
The English source is the response in domain.yml; the translation comes from
the gettext catalogs; the form depends on the channel:

- chat and Telegram: the full text, with buttons;
- SMS: the response's ``channel: sms`` variation (a short form within the SMS
  budget, ending with how to get more) when it has one, and the full text in
  ``custom.rahnuma.more`` for the gateway to page out when the user replies MORE.

Every response also carries ``custom.rahnuma.language`` (the language it was
rendered in) and ``custom.rahnuma.response`` (its name), so the gateway can
word its own messages in the conversation's language and notice when the
user's data was erased.

Buttons are returned as ``{"title", "payload"}`` pairs: a channel shows them as
inline buttons (Telegram) or as a numbered menu (SMS).

Never logs message text or slot values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import yaml

from actions.content import directory_values, language_of
from actions.i18n import BUTTON_CONTEXT, SMS, fill, sms_context, translate

logger = logging.getLogger(__name__)

FALLBACK_RESPONSE = "utter_default"


class UnknownResponseError(KeyError):
    """The domain has no response of that name."""


@dataclass(frozen=True)
class Rendered:
    """A response ready for a channel."""

    text: str
    buttons: List[Dict[str, str]] = field(default_factory=list)
    more: Optional[str] = None  # the full text, when an SMS short form was chosen
    language: Optional[str] = None
    response: Optional[str] = None

    def as_nlg_json(self) -> Dict[str, Any]:
        """The body Rasa's NLG client expects."""
        ours: Dict[str, Any] = {"language": self.language, "response": self.response}
        if self.more:
            ours["more"] = self.more
        return {
            "text": self.text,
            "buttons": self.buttons,
            "image": None,
            "elements": [],
            "attachments": [],
            "custom": {"rahnuma": ours},
        }


class Renderer:
    """Renders the domain's responses; one per process (see ``renderer()``)."""

    def __init__(self, responses: Mapping[str, List[Dict[str, Any]]]) -> None:
        self._responses = responses

    @classmethod
    def from_domain(cls, path: Path) -> Renderer:
        """Reads the responses from a domain file."""
        with path.open(encoding="utf-8") as handle:
            domain = yaml.safe_load(handle) or {}
        return cls(domain.get("responses") or {})

    def names(self) -> List[str]:
        """Every response name."""
        return list(self._responses)

    def _variations(self, name: str) -> tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
        try:
            variations = self._responses[name]
        except KeyError as error:
            raise UnknownResponseError(name) from error
        full = next(v for v in variations if not v.get("channel"))
        short = next((v for v in variations if v.get("channel") == SMS), None)
        return full, short

    def render(
        self,
        name: str,
        language: str,
        channel: Optional[str] = None,
        values: Optional[Mapping[str, Any]] = None,
    ) -> Rendered:
        """Response ``name`` in ``language`` for ``channel``, placeholders filled."""
        values = {**directory_values(), **(values or {})}
        full, short = self._variations(name)
        full_text = fill(translate(str(full["text"]), language, name), values, language)
        buttons = [
            {
                "title": translate(str(button["title"]), language, BUTTON_CONTEXT),
                "payload": str(button["payload"]),
            }
            for button in full.get("buttons") or []
        ]
        if channel == SMS and short is not None:
            text = fill(
                translate(str(short["text"]), language, sms_context(name)), values, language
            )
            return Rendered(text, buttons, more=full_text, language=language, response=name)
        return Rendered(full_text, buttons, language=language, response=name)


def default_domain_path() -> Path:
    """domain.yml at the project root."""
    return Path(__file__).resolve().parent.parent / "domain.yml"


@lru_cache(maxsize=1)
def renderer() -> Renderer:
    """The process-wide renderer, built on first use."""
    return Renderer.from_domain(default_domain_path())


def render_response(
    name: str,
    slots: Mapping[str, Any],
    arguments: Optional[Mapping[str, Any]] = None,
    responses: Optional[Renderer] = None,
) -> Dict[str, Any]:
    """Response ``name`` for the conversation's slots (language, channel, values) and the
    action's ``arguments``, as Rasa's NLG clients return it; an unknown name gets the
    default text."""
    active = responses or renderer()
    language = language_of(slots.get("language"))
    channel = slots.get("channel")
    values = {**slots, **(arguments or {})}
    try:
        rendered = active.render(name, language, channel, values)
    except UnknownResponseError:
        logger.warning("nlg: unknown response %r, answering with %s", name, FALLBACK_RESPONSE)
        rendered = active.render(FALLBACK_RESPONSE, language, channel, values)
    return rendered.as_nlg_json()
