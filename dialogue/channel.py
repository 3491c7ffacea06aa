"""The REST channel the gateway calls (``credentials.yml``): Rasa's, with each turn run once.

The gateway retries a message when Rasa did not answer in time or the process answering
died (``bot/conversation/inbox.py``). With several Rasa processes sharing Redis the first
attempt may still have finished and saved the conversation: running the message again
would answer it twice and move a form on by one question (the report's place taken for
its description). So the gateway sends an opaque turn id in the message metadata
(``contract/turns.py``), and this channel, **holding the conversation's lock** (the lock
store Rasa itself uses), looks for that id in the stored conversation: when the turn
already ran, the answers it gave are sent again from the stored events, without running
anything; otherwise the turn runs,
still under the same lock (``MessageProcessor.handle_message``, what ``Agent.handle_message``
runs inside that lock). The tracker is saved with the user message and its answers in one
write, so either the whole turn is there or none of it.

``POST /webhooks/rest/parse`` (``{"text": ...}``) returns only the intent and its confidence,
without touching any conversation: the gateway asks it while a reporter talks to hotline
staff, to see a message that reads as danger.

Two more differences from ``RestInput``: a turn that fails answers HTTP 500 (Rasa's own
answers 200 with whatever was collected, which the gateway could not tell from an answer),
and the user's text is never logged (``RestInput`` logs it on a failure).

Subclassed rather than configured: Rasa 3.6 offers no hook between taking the lock and
running the turn.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from contract.turns import TURN

logger = logging.getLogger(__name__)


def turn_of(event: Any) -> Optional[str]:
    """The turn id a user message was sent with."""
    if isinstance(event, UserUttered):
        turn = (event.metadata or {}).get(TURN)
        return str(turn) if turn else None
    return None


async def replay(tracker: DialogueStateTracker, turn: str, sender: str) -> Optional[List[Any]]:
    """The answers turn ``turn`` gave, as the REST channel sent them; None if it never ran
    ([] if it ran and answered nothing: an action failed)."""
    events = list(tracker.events)
    start = next((i for i in range(len(events) - 1, -1, -1) if turn_of(events[i]) == turn), None)
    if start is None:
        return None
    collector = CollectingOutputChannel()
    for event in events[start + 1 :]:
        if isinstance(event, UserUttered):
            break
        if isinstance(event, BotUttered):
            message = {"text": event.text, **{k: v for k, v in event.data.items() if v}}
            await collector.send_response(sender, message)
    return collector.messages


class RahnumaRestInput(RestInput):
    """``/webhooks/rest/webhook`` with turns that run once (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("rahnuma_rest", __name__)

        @webhook.route("/", methods=["GET"])  # type: ignore[untyped-decorator]
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])  # type: ignore[untyped-decorator]
        async def receive(request: Request) -> HTTPResponse:
            sender = await self._extract_sender(request)
            text = self._extract_message(request)
            metadata: Dict[str, Any] = self.get_metadata(request) or {}
            if not sender:
                return response.json({"error": "no sender"}, status=400)
            collector = CollectingOutputChannel()
            message = UserMessage(
                text, collector, sender, input_channel=self.name(), metadata=metadata
            )
            try:
                agent = request.app.ctx.agent
                async with agent.lock_store.lock(sender):
                    turn = metadata.get(TURN)
                    if turn:
                        tracker = await agent.tracker_store.retrieve(sender)
                        if tracker is not None:
                            done = await replay(tracker, str(turn), sender)
                            if done:  # ran, and answered (a turn whose action failed runs again)
                                logger.info("turn already answered: sending its answers again")
                                return response.json(done)
                    await agent.processor.handle_message(message)
            except Exception as error:
                logger.error("turn failed: %s", type(error).__name__)
                return response.json({"error": "the turn failed"}, status=500)
            return response.json(collector.messages)

        @webhook.route("/parse", methods=["POST"])  # type: ignore[untyped-decorator]
        async def parse(request: Request) -> HTTPResponse:
            """Only what the message means (intent and confidence, after the critical-intent
            gate): the gateway asks while a reporter talks to staff, to see danger."""
            text = (request.json or {}).get("text")
            if not isinstance(text, str):
                return response.json({"error": "text must be a string"}, status=400)
            try:
                parsed = await request.app.ctx.agent.parse_message(text)
            except Exception as error:
                logger.error("parse failed: %s", type(error).__name__)
                return response.json({"error": "the parse failed"}, status=500)
            intent = parsed.get("intent") or {}
            return response.json(
                {"intent": intent.get("name"), "confidence": intent.get("confidence")}
            )

        return webhook
