"""The values that travel through a conversation: a message in, the messages out.

Frozen dataclasses, so a message cannot change on its way from a webhook to
Rasa and back. ``UserState`` is the one mutable value: a channel updates it
while it interprets a message or shapes an answer, and ``bot/conversation/
users.py`` writes it back.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, List, Literal, Mapping, Optional, Sequence, Tuple

from bot.rasa import Button
from contract.channels import Channel

# Characters no message needs and XML or UTF-8 cannot carry: C0 controls but tab
# and newline, DEL, lone surrogates, the two non-characters.
_UNCARRIABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean_text(text: str) -> str:
    """``text`` without the characters that cannot travel (the rest, RTL marks too, stays)."""
    return _UNCARRIABLE.sub("", text)


@dataclass(frozen=True)
class Inbound:
    """One message from a user, as a webhook or the poller received it."""

    channel: Channel
    address: str  # chat id or phone number: only ever stored sealed
    message_id: str  # update_id or MessageSid: duplicates are dropped on it
    text: str = ""
    payload: Optional[str] = None  # a pressed button: sent to Rasa verbatim
    media: Optional[str] = None  # what kind of non-text content arrived
    language_hint: Optional[str] = None
    language_choice: Optional[str] = None


@dataclass(frozen=True)
class Outgoing:
    """One message to a user, shaped for its channel."""

    text: str
    buttons: Tuple[Button, ...] = ()


@dataclass
class UserState:
    """What the gateway remembers of a conversation between messages."""

    language: Optional[str] = None
    menu: List[str] = field(default_factory=list)  # payloads behind "1", "2", ...
    more: List[str] = field(default_factory=list)  # SMS pages still to send
    opted_out: bool = False
    was_opted_out: bool = False  # as loaded: only a change is written back


@dataclass(frozen=True)
class ToRasa:
    """Send this to the assistant."""

    message: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """Answer locally, without the assistant."""

    messages: Tuple[Outgoing, ...] = ()


Step = ToRasa | Answer

# What became of an inbound message at the door.
Admission = Literal["new", "duplicate", "rate_limited", "rate_limited_again"]


@dataclass(frozen=True)
class Accepted:
    """What became of an inbound message at the door, and whose it is."""

    pseudonym: str
    status: Admission


def encode_outgoing(messages: Sequence[Outgoing]) -> str:
    """Messages as the JSON the outbox and the reply lists carry."""
    return json.dumps([asdict(message) for message in messages], ensure_ascii=False)


def decode_outgoing(raw: str) -> List[Outgoing]:
    """The inverse of ``encode_outgoing``."""
    items: List[Mapping[str, Any]] = json.loads(raw)
    return [
        Outgoing(item["text"], tuple(Button(**button) for button in item.get("buttons") or ()))
        for item in items
    ]
