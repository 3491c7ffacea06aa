"""Talking to Rasa's REST channel (``POST /webhooks/rest/webhook``).

Rasa answers a message with a list of bot messages. Its NLG
(``dialogue/nlg.py``) adds ``custom.rahnuma`` to each (the conversation's language, the
response's name, and for SMS the full text behind a short form); Rasa's REST
channel sends that ``custom`` part as a separate item right after its text, so
it is folded back into the message before it here.

Rasa must never be reachable from outside: its channel webhooks take no
authentication. Never logs message text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import httpx

from bot.errors import RasaUnavailableError

REST_WEBHOOK = "/webhooks/rest/webhook"
REST_PARSE = "/webhooks/rest/parse"  # dialogue/channel.py: the intent only, no conversation
DANGER_INTENT = "urgent_help"


@dataclass(frozen=True)
class Button:
    """One of the assistant's buttons: what the user sees and what it sends."""

    title: str
    payload: str


@dataclass(frozen=True)
class Reply:
    """One message from the assistant, before a channel shapes it."""

    text: str
    buttons: Tuple[Button, ...] = ()
    more: Optional[str] = None  # the full text behind an SMS short form
    language: Optional[str] = None
    response: Optional[str] = None  # the domain response's name, e.g. utter_data_deleted
    extra: Dict[str, Any] = field(default_factory=dict, compare=False)


def parse_replies(items: Any) -> List[Reply]:
    """Rasa's REST answer as replies; malformed items are skipped, never fatal."""
    replies: List[Reply] = []
    if not isinstance(items, list):
        return replies
    for item in items:
        if not isinstance(item, Mapping):
            continue
        custom = item.get("custom")
        if isinstance(custom, Mapping) and "text" not in item:
            if replies:
                replies[-1] = _with_custom(replies[-1], custom)
            continue
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        buttons = tuple(
            Button(str(button.get("title", "")), str(button.get("payload", "")))
            for button in item.get("buttons") or []
            if isinstance(button, Mapping) and button.get("payload")
        )
        reply = Reply(text, buttons)
        if isinstance(custom, Mapping):
            reply = _with_custom(reply, custom)
        replies.append(reply)
    return replies


def _with_custom(reply: Reply, custom: Mapping[str, Any]) -> Reply:
    ours = custom.get("rahnuma")
    if not isinstance(ours, Mapping):
        return reply
    more = ours.get("more")
    language = ours.get("language")
    response = ours.get("response")
    return Reply(
        reply.text,
        reply.buttons,
        more=more if isinstance(more, str) else reply.more,
        language=language if isinstance(language, str) else reply.language,
        response=response if isinstance(response, str) else reply.response,
    )


class RasaClient:
    """Sends one user message to Rasa and returns the assistant's replies."""

    def __init__(self, base_url: str, timeout: float, client: httpx.AsyncClient) -> None:
        self._url = base_url.rstrip("/")
        self._timeout = timeout
        self._client = client

    async def send(self, sender: str, message: str, metadata: Mapping[str, Any]) -> List[Reply]:
        """The replies to ``message``; raises RasaUnavailableError when Rasa cannot answer,
        including an answer with no message in it."""
        body = {"sender": sender, "message": message, "metadata": dict(metadata)}
        try:
            response = await self._client.post(
                self._url + REST_WEBHOOK, json=body, timeout=self._timeout
            )
        except httpx.HTTPError as error:
            raise RasaUnavailableError(f"Rasa unreachable: {type(error).__name__}") from error
        if response.status_code != 200:
            raise RasaUnavailableError(f"Rasa answered HTTP {response.status_code}")
        try:
            replies = parse_replies(response.json())
        except ValueError as error:
            raise RasaUnavailableError("Rasa answered with something that is not JSON") from error
        if not replies:
            # Rasa answers 200 [] when the action server or a custom action fails: every
            # user message has an answer, so this is an outage, never "nothing to say".
            raise RasaUnavailableError("Rasa answered with no message (an action failed)")
        return replies

    async def reads_as_danger(self, text: str) -> bool:
        """Whether the trained model (with its critical-intent gate) reads ``text`` as someone
        in danger now. False when Rasa cannot tell: the caller still gives the emergency
        number, it only cannot raise the alarm."""
        try:
            response = await self._client.post(
                self._url + REST_PARSE, json={"text": text[:2000]}, timeout=min(self._timeout, 5)
            )
            return response.status_code == 200 and response.json().get("intent") == DANGER_INTENT
        except (httpx.HTTPError, ValueError, AttributeError):
            return False

    async def ready(self) -> bool:
        """True when Rasa's server answers (its model is loaded before it listens)."""
        return await answers(self._client, self._url + "/")


async def answers(client: httpx.AsyncClient, url: str) -> bool:
    """True when a GET of ``url`` answers 200 within 2 s (a readiness probe)."""
    try:
        response = await client.get(url, timeout=2.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200
