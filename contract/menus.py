"""Buttons as a numbered menu, for channels without buttons (SMS).

The reply "1", "2" (or Urdu digits) maps back to the button's payload in the
gateway; payloads are never shown. Part of the contract: the Rasa environment's
content tests build SMS bodies with it.
"""

from __future__ import annotations

from typing import Mapping, Sequence


def numbered_menu(buttons: Sequence[Mapping[str, str]]) -> str:
    """'1 Title' lines, one per button."""
    return "\n".join(f"{index} {button['title']}" for index, button in enumerate(buttons, start=1))


def sms_body(text: str, buttons: Sequence[Mapping[str, str]]) -> str:
    """The text followed by its numbered menu, as one SMS body."""
    menu = numbered_menu(buttons)
    return f"{text}\n{menu}" if menu else text
