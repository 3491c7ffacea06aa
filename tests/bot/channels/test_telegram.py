"""Telegram end to end: python-telegram-bot against the local fake Bot API, real Redis."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict

from bot.channels.telegram import split_text
from bot.texts import text
from contract.languages import ENGLISH, URDU
from tests.bot.conftest import WEBHOOK_SECRET, GatewayRig

CHAT = 5550001


async def test_start_registers_the_webhook_with_its_secret(stack: GatewayRig) -> None:
    assert stack.peers.webhook["url"] == "https://rahnuma.example.org/telegram/webhook"
    assert stack.peers.webhook["secret_token"] == WEBHOOK_SECRET


async def test_a_text_message_is_answered_through_the_bot_api(stack: GatewayRig) -> None:
    response = await stack.post_update(stack.telegram_text(CHAT, "how do I go abroad?"))
    assert response.status_code == 200
    sent = await stack.telegram_sent(CHAT, 1)
    assert sent[0]["text"] == "echo: how do I go abroad?"
    body = stack.rasa.received[0]
    assert body["metadata"]["channel"] == "telegram"
    assert body["sender"].startswith("tg-") and str(CHAT) not in body["sender"]


async def test_missing_or_wrong_secret_is_refused_and_nothing_is_processed(
    stack: GatewayRig,
) -> None:
    for secret in (None, "", "wrong", WEBHOOK_SECRET + "x", WEBHOOK_SECRET[:-1]):
        response = await stack.post_update(stack.telegram_text(CHAT, "hello"), secret=secret)
        assert response.status_code == 403
    await asyncio.sleep(0.3)
    assert stack.rasa.received == []
    assert stack.peers.telegram_sent == []


async def test_buttons_become_an_inline_keyboard_within_64_bytes(stack: GatewayRig) -> None:
    await stack.post_update(stack.telegram_text(CHAT, "/menu"))
    sent = await stack.telegram_sent(CHAT, 1)
    assert stack.rasa.messages() == ["/show_menu"]
    keyboard = sent[0]["reply_markup"]["inline_keyboard"]
    titles = [row[0]["text"] for row in keyboard]
    assert titles[:2] == ["Legal ways to work abroad", "Check an agent"]
    assert all(len(row[0]["callback_data"].encode()) <= 64 for row in keyboard)
    assert keyboard[0][0]["callback_data"] == "/ask_legal_migration"


def button_press(stack: GatewayRig, query_id: str, data: str) -> Dict[str, Any]:
    """The update Telegram sends when CHAT presses a button carrying ``data``."""
    return {
        "update_id": stack.next_update_id(),
        "callback_query": {
            "id": query_id,
            "chat_instance": "1",
            "from": {"id": CHAT, "is_bot": False, "first_name": "A"},
            "message": {
                "message_id": 1,
                "date": 1763800000,
                "chat": {"id": CHAT, "type": "private"},
                "text": "Choose",
            },
            "data": data,
        },
    }


async def test_a_pressed_button_is_answered_and_its_payload_sent(stack: GatewayRig) -> None:
    await stack.post_update(stack.telegram_text(CHAT, "/menu"))
    keyboard = (await stack.telegram_sent(CHAT, 1))[0]["reply_markup"]["inline_keyboard"]
    for index, row in enumerate((keyboard[0], keyboard[3]), start=1):
        update = button_press(stack, f"cq{index}", row[0]["callback_data"])
        assert (await stack.post_update(update)).status_code == 200
    await stack.telegram_sent(CHAT, 3)
    assert stack.peers.callback_answers == ["cq1", "cq2"]
    assert stack.rasa.messages()[1] == "/ask_legal_migration"
    assert stack.rasa.messages()[2] == '/inform{"agent_name": "' + "x" * 80 + '"}'


async def test_a_button_pressed_long_ago_is_still_answered_once_with_200(
    stack: GatewayRig,
) -> None:
    await stack.post_update(stack.telegram_text(CHAT, "/menu"))
    keyboard = (await stack.telegram_sent(CHAT, 1))[0]["reply_markup"]["inline_keyboard"]
    stack.peers.expired_queries.add("cq-old")
    update = button_press(stack, "cq-old", keyboard[0][0]["callback_data"])
    assert (await stack.post_update(update)).status_code == 200  # not 5xx: no redelivery loop
    await stack.telegram_sent(CHAT, 2)
    assert stack.rasa.messages() == ["/show_menu", "/ask_legal_migration"]


async def test_language_button_sends_the_choice_in_metadata(stack: GatewayRig) -> None:
    await stack.post_update(stack.telegram_text(CHAT, "/menu"))
    keyboard = (await stack.telegram_sent(CHAT, 1))[0]["reply_markup"]["inline_keyboard"]
    update = {
        "update_id": stack.next_update_id(),
        "callback_query": {
            "id": "cq",
            "chat_instance": "1",
            "data": keyboard[2][0]["callback_data"],
            "from": {"id": CHAT, "is_bot": False, "first_name": "A"},
            "message": {
                "message_id": 1,
                "date": 1763800000,
                "chat": {"id": CHAT, "type": "private"},
            },
        },
    }
    await stack.post_update(update)
    await stack.telegram_sent(CHAT, 2)
    assert stack.rasa.received[1]["metadata"]["language_choice"] == "ur_Latn"
    await stack.post_update(stack.telegram_text(CHAT, "shukriya"))
    await stack.telegram_sent(CHAT, 3)
    assert stack.rasa.received[2]["metadata"]["language"] == "ur_Latn"


async def test_commands_map_to_the_assistants_intents(stack: GatewayRig) -> None:
    for command in ("/start", "/menu", "/language", "/delete"):
        await stack.post_update(stack.telegram_text(CHAT, command))
    await stack.telegram_sent(CHAT, 4)
    assert stack.rasa.messages() == ["/greet", "/show_menu", "/choose_language", "/delete_my_data"]


async def test_an_unknown_command_gets_a_hint_without_reaching_rasa(stack: GatewayRig) -> None:
    await stack.post_update(stack.telegram_text(CHAT, "/frobnicate now"))
    sent = await stack.telegram_sent(CHAT, 1)
    assert [message["text"] for message in sent] == [text("unknown_command", ENGLISH)]
    assert stack.rasa.received == []


async def test_media_gets_a_short_reply_in_the_users_language(stack: GatewayRig) -> None:
    await stack.post_update(stack.telegram_text(CHAT, "/language"))
    await stack.telegram_sent(CHAT, 1)
    kinds = {
        "voice": {"file_id": "v", "file_unique_id": "v", "duration": 3},
        "sticker": {
            "file_id": "s",
            "file_unique_id": "s",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        },
        "location": {"latitude": 33.6, "longitude": 73.0},
        "photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}],
        "document": {"file_id": "d", "file_unique_id": "d"},
    }
    for kind, content in kinds.items():
        update = stack.telegram_text(CHAT, "", language_code="ur")
        del update["message"]["text"]
        update["message"][kind] = content
        assert (await stack.post_update(update)).status_code == 200
    sent = await stack.telegram_sent(CHAT, 1 + len(kinds))
    assert len(stack.rasa.received) == 1  # media never reach Rasa
    # In the conversation's language (English, as Rasa answered /language), not the app's (ur)
    reply = text("media_telegram", ENGLISH)
    assert [message["text"] for message in sent[1:]] == [reply] * len(kinds)


async def test_urdu_app_users_get_media_replies_in_urdu(stack: GatewayRig) -> None:
    update = stack.telegram_text(CHAT, "", language_code="ur")
    del update["message"]["text"]
    update["message"]["voice"] = {"file_id": "v", "file_unique_id": "v", "duration": 3}
    await stack.post_update(update)
    sent = await stack.telegram_sent(CHAT, 1)
    assert [message["text"] for message in sent] == [text("media_telegram", URDU)]


async def test_long_replies_are_split_on_sentences_with_buttons_on_the_last(
    stack: GatewayRig,
) -> None:
    await stack.post_update(stack.telegram_text(CHAT, "long:9000"))
    sent = await stack.telegram_sent(CHAT, 3)
    assert len(sent) == 3
    assert all(len(m["text"]) <= 4096 for m in sent)
    assert all(m["text"].endswith(".") for m in sent[:-1])
    assert "reply_markup" not in sent[0] and "reply_markup" in sent[-1]


def test_split_text_keeps_everything_and_prefers_sentence_ends() -> None:
    long = "Short one. " + "word " * 2000 + "End."
    parts = split_text(long, 4096)
    # Cut after the only sentence end that fits, then at the last space before each limit.
    full = " ".join(["word"] * 819)  # 4094 characters: one more word would not fit
    assert parts == ["Short one.", full, full, " ".join(["word"] * 362) + " End."]
    assert " ".join(parts).split() == long.split()


async def test_a_redelivered_update_is_answered_once(stack: GatewayRig) -> None:
    update = stack.telegram_text(CHAT, "hello once")
    responses = await asyncio.gather(*(stack.post_update(update) for _ in range(5)))
    assert {r.status_code for r in responses} == {200}
    await stack.telegram_sent(CHAT, 1)
    await asyncio.sleep(0.5)
    assert stack.rasa.messages() == ["hello once"]
    assert len([m for m in stack.peers.telegram_sent if m["chat"]["id"] == CHAT]) == 1


async def test_a_body_that_is_not_an_update_gets_400(stack: GatewayRig) -> None:
    for raw in (b"", b"not json", b"[]", json.dumps({"update_id": "x"}).encode()):
        response = await stack.post_update({}, raw=raw)
        assert response.status_code == 400
