"""Local stand-ins for Telegram's Bot API and Twilio's REST API, speaking their protocols.

The internet is out of reach in tests and on a developer's machine without
credentials, so ``make serve`` (with no tokens set), ``python -m dev.chat``, the
benchmark and the tests point the gateway here (``TELEGRAM_API_URL``,
``TWILIO_API_URL``). The gateway talks to it through python-telegram-bot and
twilio's own clients, unchanged.

Bot API (``/bot<token>/<method>``): getMe, setWebhook, deleteWebhook,
getWebhookInfo, getUpdates, sendMessage, answerCallbackQuery, with Telegram's
limits enforced (4096 characters of text, 64 bytes of callback_data) and its
error format. Twilio (``/2010-04-01/Accounts/<sid>/Messages.json``): basic
auth, the 1600-character limit, error 21610 for unsubscribed numbers.

A hotline's case system (``POST /_peer/casebook``, ``HOTLINE_WEBHOOK_URL``)
records each signed post with its headers; it can be down, fail, or hold
its answer.

``/_peer/...`` lets a test or the chat command look at what was sent, queue
updates for polling, and make the next calls fail (429, 5xx).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contract.limits import TELEGRAM_MAX_CALLBACK_BYTES, TELEGRAM_MAX_TEXT, TWILIO_MAX_CHARS


@dataclass
class PeerState:
    """Everything the peers received and will answer."""

    token: str
    twilio_sid: str
    twilio_token: str
    telegram_sent: List[Dict[str, Any]] = field(default_factory=list)
    callback_answers: List[str] = field(default_factory=list)
    twilio_sent: List[Dict[str, Any]] = field(default_factory=list)
    webhook: Dict[str, Any] = field(default_factory=dict)
    updates: List[Dict[str, Any]] = field(default_factory=list)
    unsubscribed: set[str] = field(default_factory=set)
    fail_telegram: List[int] = field(default_factory=list)  # statuses for the next sends
    fail_twilio: List[int] = field(default_factory=list)
    casebook: List[Dict[str, Any]] = field(default_factory=list)  # a hotline's case system
    fail_casebook: List[int] = field(default_factory=list)  # statuses for the next posts
    casebook_down: bool = False  # answer every post with 503 until cleared
    casebook_hold: float = 0.0  # seconds to keep a post waiting after recording it
    calls: List[str] = field(default_factory=list)
    expired_queries: set[str] = field(default_factory=set)  # callback queries too old to answer
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]

    def next_id(self) -> int:
        """A fresh message id."""
        return int(next(self._ids))

    def telegram_to(self, chat_id: int | str) -> List[Dict[str, Any]]:
        """The Bot API messages sent to ``chat_id``, in order."""
        return [m for m in self.telegram_sent if str(m["chat"]["id"]) == str(chat_id)]

    def sms_to(self, number: str) -> List[Dict[str, Any]]:
        """The REST messages sent to ``number``, in order."""
        return [m for m in self.twilio_sent if m["to"] == number]

    async def until(
        self, sent: Callable[[], List[Dict[str, Any]]], count: int, timeout: float
    ) -> List[Dict[str, Any]]:
        """Waits until ``sent()`` holds ``count`` messages and returns them."""

        async def enough() -> List[Dict[str, Any]]:
            while len(messages := sent()) < count:
                await asyncio.sleep(0.02)
            return messages

        return await asyncio.wait_for(enough(), timeout)


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _error(code: int, description: str, retry_after: Optional[int] = None) -> JSONResponse:
    body: Dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return JSONResponse(body, status_code=code)


async def _params(request: Request) -> Dict[str, Any]:
    if request.headers.get("content-type", "").startswith("application/json"):
        data = await request.json()
        return dict(data) if isinstance(data, dict) else {}
    form = await request.form()
    return {key: value for key, value in form.items()}


def create_peers(state: PeerState) -> Starlette:
    """The peers' app; ``state`` is shared with whoever inspects it."""

    async def bot_api(request: Request) -> Response:
        if request.path_params["token"] != state.token:
            return _error(401, "Unauthorized")
        method = request.path_params["method"]
        state.calls.append(method)
        params = await _params(request)
        handler = bot_methods.get(method.lower())
        if handler is None:
            return _error(404, "Not Found: method not found")
        return await handler(params)

    async def get_me(params: Dict[str, Any]) -> Response:
        return _ok(
            {
                "id": 4242,
                "is_bot": True,
                "first_name": "Rahnuma",
                "username": "rahnuma_bot",
                "can_join_groups": False,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def set_webhook(params: Dict[str, Any]) -> Response:
        state.webhook = dict(params)
        return _ok(True)

    async def delete_webhook(params: Dict[str, Any]) -> Response:
        state.webhook = {}
        return _ok(True)

    async def get_webhook_info(params: Dict[str, Any]) -> Response:
        return _ok(
            {
                "url": state.webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(state.updates),
            }
        )

    async def get_updates(params: Dict[str, Any]) -> Response:
        offset = int(params.get("offset") or 0)
        state.updates = [u for u in state.updates if u["update_id"] >= offset]
        if not state.updates:
            timeout = min(float(params.get("timeout") or 0), 1.0)
            await asyncio.sleep(timeout)
        return _ok(state.updates[:100])

    async def send_message(params: Dict[str, Any]) -> Response:
        if state.fail_telegram:
            status = state.fail_telegram.pop(0)
            if status == 429:
                return _error(429, "Too Many Requests: retry after 1", retry_after=1)
            return _error(status, "Internal Server Error")
        text = str(params.get("text") or "")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > TELEGRAM_MAX_TEXT:
            return _error(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if len(str(button.get("callback_data", "")).encode()) > TELEGRAM_MAX_CALLBACK_BYTES:
                    return _error(400, "Bad Request: BUTTON_DATA_INVALID")
        message = {
            "message_id": state.next_id(),
            "date": int(time.time()),
            "chat": {
                "id": int(params["chat_id"]),
                "type": "supergroup" if int(params["chat_id"]) < 0 else "private",
            },
            "text": text,
        }
        if markup:
            message["reply_markup"] = markup
        state.telegram_sent.append(message)
        return _ok(message)

    async def answer_callback_query(params: Dict[str, Any]) -> Response:
        query = str(params.get("callback_query_id"))
        if query in state.expired_queries:  # Telegram's answer after about 15 minutes
            return _error(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        state.callback_answers.append(query)
        return _ok(True)

    async def no_op(params: Dict[str, Any]) -> Response:
        return _ok(True)

    bot_methods = {
        "getme": get_me,
        "setwebhook": set_webhook,
        "deletewebhook": delete_webhook,
        "getwebhookinfo": get_webhook_info,
        "getupdates": get_updates,
        "sendmessage": send_message,
        "answercallbackquery": answer_callback_query,
        "close": no_op,
        "logout": no_op,
    }

    async def twilio_messages(request: Request) -> Response:
        expected = (
            "Basic "
            + base64.b64encode(f"{state.twilio_sid}:{state.twilio_token}".encode()).decode()
        )
        if request.path_params["sid"] != state.twilio_sid or (
            request.headers.get("authorization") != expected
        ):
            return JSONResponse(
                {"code": 20003, "message": "Authenticate", "status": 401}, status_code=401
            )
        if state.fail_twilio:
            status = state.fail_twilio.pop(0)
            return JSONResponse(
                {"code": 20500, "message": "Internal error", "status": status}, status_code=status
            )
        form = await request.form()
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        if to in state.unsubscribed:
            return JSONResponse(
                {
                    "code": 21610,
                    "message": "Attempt to send to unsubscribed recipient",
                    "status": 400,
                },
                status_code=400,
            )
        if len(body) > TWILIO_MAX_CHARS:
            return JSONResponse(
                {
                    "code": 21617,
                    "message": "The concatenated message body exceeds the 1600 character limit",
                    "status": 400,
                },
                status_code=400,
            )
        sid = f"SM{state.next_id():032x}"
        sent = {
            "sid": sid,
            "to": to,
            "from": str(form.get("From", "")),
            "body": body,
            "status": "queued",
            "account_sid": state.twilio_sid,
        }
        state.twilio_sent.append(sent)
        return JSONResponse(sent, status_code=201)

    async def peek_telegram(request: Request) -> Response:
        chat = request.query_params.get("chat_id")
        sent = state.telegram_sent if chat is None else state.telegram_to(chat)
        return JSONResponse(
            {"sent": sent, "callback_answers": state.callback_answers, "webhook": state.webhook}
        )

    async def peek_twilio(request: Request) -> Response:
        to = request.query_params.get("to")
        return JSONResponse({"sent": state.twilio_sent if to is None else state.sms_to(to)})

    async def casebook(request: Request) -> Response:
        """A case system's webhook: records the post (headers and raw body), then answers."""
        if state.casebook_down:
            return JSONResponse({"error": "down"}, status_code=503)
        if state.fail_casebook:
            return JSONResponse({"error": "failing"}, status_code=state.fail_casebook.pop(0))
        body = await request.body()
        state.casebook.append({"headers": dict(request.headers), "body": body.decode("utf-8")})
        if state.casebook_hold:
            await asyncio.sleep(state.casebook_hold)
        return JSONResponse({"received": True}, status_code=201)

    async def peek_casebook(request: Request) -> Response:
        return JSONResponse({"received": state.casebook})

    async def queue_update(request: Request) -> Response:
        state.updates.append(await request.json())
        return JSONResponse({"queued": len(state.updates)})

    return Starlette(
        routes=[
            Route("/bot{token}/{method}", bot_api, methods=["GET", "POST"]),
            Route("/2010-04-01/Accounts/{sid}/Messages.json", twilio_messages, methods=["POST"]),
            Route("/_peer/telegram", peek_telegram, methods=["GET"]),
            Route("/_peer/twilio", peek_twilio, methods=["GET"]),
            Route("/_peer/telegram/updates", queue_update, methods=["POST"]),
            Route("/_peer/casebook", casebook, methods=["POST"]),
            Route("/_peer/casebook/received", peek_casebook, methods=["GET"]),
        ]
    )


def main() -> None:
    """``python -m dev.fakes --port N``: serve the peers with the credentials in the environment."""
    import argparse
    import os

    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    state = PeerState(
        token=os.environ["TELEGRAM_BOT_TOKEN"],
        twilio_sid=os.environ["TWILIO_ACCOUNT_SID"],
        twilio_token=os.environ["TWILIO_AUTH_TOKEN"],
    )
    uvicorn.run(create_peers(state), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
