"""Talking to Rasa: its REST answer read back into replies, and every way Rasa can fail.

No network: ``httpx.MockTransport`` plays Rasa's REST channel, or the Rasa stand-in
(``tests/bot/fake_rasa.py``) answers through ``httpx.ASGITransport``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Dict, List

import httpx
import pytest

from bot.errors import RasaUnavailableError
from bot.rasa import REST_WEBHOOK, Button, RasaClient, Reply, parse_replies
from tests.bot.fake_rasa import FakeRasa

RASA = "http://rasa.internal:5005"
OURS = {"language": "ur", "response": "utter_agent_check", "more": "The full text behind MORE."}


# -- reading Rasa's answer ----------------------------------------------------------


def test_the_custom_item_after_a_text_is_folded_into_it() -> None:
    replies = parse_replies(
        [
            {"recipient_id": "tg-1", "text": "Check the licence first."},
            {"recipient_id": "tg-1", "custom": {"rahnuma": OURS}},
            {"recipient_id": "tg-1", "text": "Anything else?"},
        ]
    )
    assert replies == [
        Reply(
            "Check the licence first.",
            more="The full text behind MORE.",
            language="ur",
            response="utter_agent_check",
        ),
        Reply("Anything else?"),  # the custom part belonged to the text before it only
    ]


def test_a_custom_part_inside_the_text_item_is_read_too() -> None:
    (reply,) = parse_replies([{"text": "Hello", "custom": {"rahnuma": {"language": "en"}}}])
    assert reply == Reply("Hello", language="en")


@pytest.mark.parametrize(
    "items",
    [
        None,
        {"text": "not a list"},
        "echo",
        [],
        [None, 42, "text", ["text"]],
        [{"text": ""}, {"text": "   \n"}, {"text": 7}, {"text": None}],
        [{"image": "https://example.org/a.png"}],
        [{"custom": {"rahnuma": OURS}}],  # custom with no text before it
    ],
)
def test_malformed_answers_give_no_replies_and_no_error(items: Any) -> None:
    assert parse_replies(items) == []


def test_malformed_items_are_skipped_and_the_good_ones_kept() -> None:
    replies = parse_replies(
        [
            "garbage",
            {"text": "First."},
            {"custom": "not a mapping"},
            {"custom": {"other": {"language": "ur"}}},  # not ours: ignored
            {"custom": {"rahnuma": ["not", "a", "mapping"]}},
            {"text": 12},
            {"text": "Second."},
            {"custom": {"rahnuma": {"language": 5, "response": ["x"], "more": {}}}},
        ]
    )
    assert replies == [Reply("First."), Reply("Second.")]


def test_buttons_without_a_payload_are_dropped() -> None:
    (reply,) = parse_replies(
        [
            {
                "text": "Choose a topic:",
                "buttons": [
                    {"title": "Work abroad", "payload": "/ask_legal_migration"},
                    {"title": "No payload"},
                    {"title": "Empty payload", "payload": ""},
                    "not a button",
                    {"payload": "/ask_verify_agent"},  # no title: still pressable
                ],
            }
        ]
    )
    assert reply.buttons == (
        Button("Work abroad", "/ask_legal_migration"),
        Button("", "/ask_verify_agent"),
    )


# -- the client --------------------------------------------------------------------


Handler = Callable[[httpx.Request], httpx.Response]


@asynccontextmanager
async def client(handler: Handler, base_url: str = RASA) -> AsyncIterator[RasaClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        yield RasaClient(base_url, 5.0, http)


async def test_a_message_is_posted_to_the_rest_channel_and_answered() -> None:
    seen: List[httpx.Request] = []

    def rasa(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json=[{"text": "Salaam!"}, {"custom": {"rahnuma": {"language": "ur"}}}],
        )

    async with client(rasa, base_url=RASA + "/") as rasa_client:
        replies = await rasa_client.send("tg-abc", "hello", {"channel": "telegram"})
    assert replies == [Reply("Salaam!", language="ur")]
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == RASA + REST_WEBHOOK
    assert json.loads(request.content) == {
        "sender": "tg-abc",
        "message": "hello",
        "metadata": {"channel": "telegram"},
    }


async def test_the_rasa_stand_in_is_understood_as_rasa_would_be() -> None:
    rasa = FakeRasa()
    transport = httpx.ASGITransport(app=rasa.app())
    async with httpx.AsyncClient(transport=transport) as http:
        rasa_client = RasaClient(RASA, 5.0, http)
        replies = await rasa_client.send("sms-1", "sms:short", {"language": "en"})
        assert await rasa_client.ready()
    (reply,) = replies
    assert reply.text == "Short answer. Reply MORE for details."
    assert reply.more is not None and len(reply.more) > len(reply.text)
    assert (reply.language, reply.response) == ("en", "utter_echo")


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def timed_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def answers(status: int, content: bytes) -> Handler:
    def rasa(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content)

    return rasa


@pytest.mark.parametrize(
    "rasa",
    [
        pytest.param(refused, id="connection refused"),
        pytest.param(timed_out, id="timeout"),
        pytest.param(answers(503, b"unavailable"), id="503"),
        pytest.param(answers(500, b'[{"text": "traceback"}]'), id="500 with a body"),
        pytest.param(answers(404, b"[]"), id="404"),
        pytest.param(answers(200, b"<html>proxy error</html>"), id="not JSON"),
        pytest.param(answers(200, b""), id="empty body"),
        pytest.param(answers(200, b"[]"), id="no message (the action server is down)"),
        pytest.param(answers(200, b'[{"custom": {"rahnuma": {}}}]'), id="no text"),
    ],
)
async def test_rasa_that_cannot_answer_raises_rasa_unavailable(rasa: Handler) -> None:
    async with client(rasa) as rasa_client:
        with pytest.raises(RasaUnavailableError):
            await rasa_client.send("tg-abc", "hello", {})


@pytest.mark.parametrize(
    ("rasa", "ready"),
    [
        (answers(200, b"Hello from Rasa: 3.6.21"), True),
        (answers(503, b"loading"), False),
        (refused, False),
        (timed_out, False),
    ],
)
async def test_ready_only_when_rasa_answers_200(rasa: Handler, ready: bool) -> None:
    paths: Dict[str, int] = {}

    def counting(request: httpx.Request) -> httpx.Response:
        paths[request.url.path] = paths.get(request.url.path, 0) + 1
        return rasa(request)

    async with client(counting) as rasa_client:
        assert await rasa_client.ready() is ready
    assert paths == {"/": 1}
