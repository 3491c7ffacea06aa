"""A stand-in for Rasa that speaks its REST channel protocol, for gateway tests.

It answers like Rasa with the Rahnuma NLG endpoint would: one text message,
optional buttons, and ``custom.rahnuma`` (language, response name, the full
text behind an SMS short form) as a separate item after it, which is how
Rasa's REST channel sends ``custom``. What it answers is driven by the
message, so tests read plainly:

    "/show_menu", "menu"  a menu with four buttons (one payload over 64 bytes)
    "long:N"            a text of N characters made of sentences
    "sms:short"         an SMS short form with a long full text behind MORE
    "/delete_my_data"   utter_data_deleted
    anything else       "echo: <message>" in the language given in metadata
                        (Urdu when the message has Urdu letters)

``down`` makes it answer 503; ``silent`` makes it answer ``200 []`` (what Rasa does
when the action server is down); ``delay`` makes it slow, ``jitter`` randomly slow.
Every request is kept.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Dict, List

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

SENTENCE = "This sentence is part of a long answer about safe migration. "
URDU_SENTENCE = "یہ محفوظ نقل مکانی کے بارے میں ایک لمبے جواب کا حصہ ہے۔ "


DANGER_WORDS = ("beating", "help me now")  # what this stand-in reads as urgent_help


class FakeRasa:
    """Rasa's REST protocol with scripted answers."""

    def __init__(self) -> None:
        self.received: List[Dict[str, Any]] = []
        self.parsed: List[str] = []  # texts sent to /webhooks/rest/parse
        self.down = False
        self.silent = False
        self.delay = 0.0
        self.jitter = 0.0  # up to this many extra seconds, at random: shuffles concurrent answers

    def answer(self, sender: str, message: str, metadata: Dict[str, Any]) -> List[Dict[str, Any]]:
        language = metadata.get("language_choice") or metadata.get("language") or "en"
        if any("\u0600" <= c <= "\u06ff" for c in message):
            language = "ur"
        if message.startswith("/choose_language") and metadata.get("language_choice"):
            language = metadata["language_choice"]
        ours: Dict[str, Any] = {"language": language, "response": "utter_echo"}
        item: Dict[str, Any] = {"recipient_id": sender}
        if message in ("/show_menu", "menu"):
            item["text"] = "Choose a topic:"
            item["buttons"] = [
                {"title": "Legal ways to work abroad", "payload": "/ask_legal_migration"},
                {"title": "Check an agent", "payload": "/ask_verify_agent"},
                {"title": "Language", "payload": '/choose_language{"language": "ur_Latn"}'},
                {
                    "title": "A very long payload",
                    "payload": '/inform{"agent_name": "' + "x" * 80 + '"}',
                },
            ]
            ours["response"] = "utter_menu"
        elif message.startswith("long:"):
            size = int(message.split(":", 1)[1].split()[0])
            base = URDU_SENTENCE if language == "ur" else SENTENCE
            item["text"] = (base * (size // len(base) + 1))[:size].rstrip()
            item["buttons"] = [{"title": "Menu", "payload": "/show_menu"}]
        elif message == "sms:short":
            item["text"] = "Short answer. Reply MORE for details."
            ours["more"] = SENTENCE * 12
        elif message == "/delete_my_data":
            item["text"] = "Your data has been deleted."
            ours["response"] = "utter_data_deleted"
        else:
            item["text"] = f"echo: {message}"
        return [item, {"recipient_id": sender, "custom": {"rahnuma": ours}}]

    def app(self) -> Starlette:
        async def webhook(request: Request) -> Response:
            body = await request.json()
            self.received.append(body)
            if self.delay or self.jitter:
                await asyncio.sleep(self.delay + random.random() * self.jitter)
            if self.down:
                return PlainTextResponse("unavailable", status_code=503)
            if self.silent:
                return JSONResponse([])
            return JSONResponse(
                self.answer(body["sender"], body["message"], body.get("metadata") or {})
            )

        async def parse(request: Request) -> Response:
            body = await request.json()
            self.parsed.append(str(body.get("text")))
            if self.down:
                return PlainTextResponse("unavailable", status_code=503)
            danger = any(word in str(body.get("text")).lower() for word in DANGER_WORDS)
            return JSONResponse(
                {"intent": "urgent_help" if danger else "inform", "confidence": 0.9}
            )

        async def root(request: Request) -> Response:
            if self.down:
                return PlainTextResponse("unavailable", status_code=503)
            return PlainTextResponse("Hello from Rasa: 3.6.21")

        return Starlette(
            routes=[
                Route("/webhooks/rest/webhook", webhook, methods=["POST"]),
                Route("/webhooks/rest/parse", parse, methods=["POST"]),
                Route("/", root, methods=["GET"]),
            ]
        )

    def messages(self) -> List[str]:
        """What Rasa was sent, in order."""
        return [body["message"] for body in self.received]
