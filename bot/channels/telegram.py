"""The Telegram front door, on python-telegram-bot 22.

In production Telegram calls ``POST /telegram/webhook`` (``bot/app.py`` checks
the ``X-Telegram-Bot-Api-Secret-Token`` header, constant-time, before this
module sees anything); with no ``PUBLIC_URL`` the same handlers are fed by
long polling. Handlers only turn an update into an ``Inbound`` message and
hand it to ``Conversations``; commands, buttons and media are interpreted
there, in the user's order:

- /start, /menu, /language, /delete map to the assistant's intents;
- a pressed button is answered (``answerCallbackQuery``, always) and its
  payload sent to the assistant; payloads over Telegram's 64-byte
  ``callback_data`` limit travel as a short key kept in Redis;
- voice notes, photos, stickers, locations, documents get a short reply in
  the user's language saying what the bot understands;
- replies over 4096 characters are split on sentence boundaries, the buttons
  on the last part. ``AIORateLimiter`` with retries makes a 429 wait, not drop.

Never logs chat ids, user ids or message text.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from typing import TYPE_CHECKING, List, Optional, Sequence

from redis.asyncio import Redis
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ContextTypes,
    TypeHandler,
)

from bot import texts
from bot.conversation.messages import Answer, Inbound, Outgoing, Step, ToRasa, UserState
from bot.errors import DeliveryError
from bot.rasa import Reply
from contract.bidi import without_marks
from contract.channels import Channel
from contract.keys import Keys
from contract.languages import LANGUAGES, URDU
from contract.limits import TELEGRAM_MAX_CALLBACK_BYTES, TELEGRAM_MAX_TEXT

if TYPE_CHECKING:
    from bot.conversation.inbox import Conversations
    from bot.hotline.staff import StaffDesk

logger = logging.getLogger(__name__)

CALLBACK_TTL = 30 * 86400
COMMANDS = {
    "start": "/greet",
    "menu": "/show_menu",
    "language": "/choose_language",
    "delete": "/delete_my_data",
}
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s|$)")
_SENTENCE_END = re.compile(r"(?<=[\.\!\?۔؟])\s+|\n")
_CHOICE = re.compile(
    r'^/choose_language\{"language":\s*"(' + "|".join(map(re.escape, LANGUAGES)) + r')"\}$'
)


def split_text(text: str, limit: int = TELEGRAM_MAX_TEXT) -> List[str]:
    """``text`` in parts of at most ``limit`` characters, cut after sentences where possible."""
    parts: List[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cuts = [m.end() for m in _SENTENCE_END.finditer(window)]
        cut = cuts[-1] if cuts else window.rfind(" ") + 1
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest.strip():
        parts.append(rest)
    return parts


def language_from_code(code: Optional[str]) -> Optional[str]:
    """A first hint from the Telegram app's language (Urdu app → Urdu)."""
    return URDU if (code or "").lower().startswith("ur") else None


class TelegramChannel:
    """Commands, buttons and splitting; sending through the Bot API."""

    name = Channel.TELEGRAM
    answers_in_webhook = False  # Telegram's webhook takes no answer: every reply is sent

    def __init__(self, application: Application, redis: Redis, keys: Keys) -> None:  # type: ignore[type-arg]
        self.application = application
        self._redis = redis
        self._keys = keys

    def is_control(self, inbound: Inbound) -> bool:
        """Telegram has no keywords the channel itself must always see."""
        return False

    def interpret(self, inbound: Inbound, user: UserState) -> Step:
        """Media and unknown commands are answered here; everything else goes to Rasa."""
        language = user.language or inbound.language_hint
        if inbound.payload is not None:
            choice = _CHOICE.match(inbound.payload)
            metadata = {"language_choice": choice.group(1)} if choice else {}
            return ToRasa(inbound.payload, metadata)
        if inbound.media:
            return Answer((Outgoing(texts.text("media_telegram", language)),))
        text = inbound.text.strip()
        command = _COMMAND.match(text)
        if command:
            intent = COMMANDS.get(command.group(1).lower())
            if intent is None:
                return Answer((Outgoing(texts.text("unknown_command", language)),))
            return ToRasa(intent)
        visible = "".join(c for c in without_marks(text) if c.isprintable())
        if not visible.strip():
            return Answer((Outgoing(texts.text("empty", language)),))
        return ToRasa(text.lstrip("/") or text)

    def shape(self, replies: Sequence[Reply], user: UserState) -> List[Outgoing]:
        """Each reply split to Telegram's limit, buttons on its last part."""
        messages: List[Outgoing] = []
        for reply in replies:
            parts = split_text(reply.text)
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                messages.append(Outgoing(part, reply.buttons if last else ()))
        return messages

    async def _data(self, payload: str) -> str:
        if len(payload.encode("utf-8")) <= TELEGRAM_MAX_CALLBACK_BYTES:
            return payload
        key = "k:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]
        await self._redis.set(self._keys.callback(key), payload, ex=CALLBACK_TTL)
        return key

    async def payload_of(self, data: str) -> Optional[str]:
        """The payload behind a button's callback_data, None when unknown or expired."""
        if data.startswith("/"):
            return data
        if data.startswith("k:"):
            stored: Optional[bytes] = await self._redis.get(  # type: ignore[assignment]
                self._keys.callback(data)
            )
            return stored.decode() if stored else None
        return None

    async def send(self, address: str, messages: Sequence[Outgoing]) -> None:
        """Sends each message; raises DeliveryError when Telegram refuses."""
        for message in messages:
            markup = None
            if message.buttons:
                rows = [
                    [InlineKeyboardButton(b.title, callback_data=await self._data(b.payload))]
                    for b in message.buttons
                ]
                markup = InlineKeyboardMarkup(rows)
            try:
                await self.application.bot.send_message(
                    chat_id=int(address), text=message.text, reply_markup=markup
                )
            except Forbidden as error:  # the user blocked the bot
                raise DeliveryError("Telegram: forbidden", permanent=True) from error
            except TelegramError as error:
                raise DeliveryError(f"Telegram refused: {type(error).__name__}") from error


def use_timedelta_durations() -> None:
    """Durations as timedelta (ptb's announced default), not deprecated ints.

    A 429's retry_after then no longer warns; ptb reads this when it parses a response.
    """
    os.environ.setdefault("PTB_TIMEDELTA", "true")


def build_application(token: str, api_url: str, polling: bool) -> Application:  # type: ignore[type-arg]
    """The ptb Application: webhook mode has no updater; 429s are retried, not dropped."""
    use_timedelta_durations()
    builder = (
        Application.builder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .rate_limiter(AIORateLimiter(max_retries=3))
    )
    if not polling:
        builder = builder.updater(None)
    return builder.build()


class TelegramUpdates:
    """Routes each update, from the webhook or from polling, to the conversation or the hotline."""

    def __init__(
        self, channel: TelegramChannel, conversations: Conversations, hotline: StaffDesk
    ) -> None:
        self._channel = channel
        self._conversations = conversations
        self._hotline = hotline

    @property
    def application(self) -> Application:  # type: ignore[type-arg]
        """The ptb Application (for parsing webhook bodies into Updates)."""
        return self._channel.application

    async def route(self, update: Update) -> None:
        """Hands one update to the conversation, or to the hotline when staff act.

        Errors propagate: the webhook answers 503 so Telegram delivers the update
        again (a duplicate of a queued message is then dropped), never a silent loss.
        """
        if self._hotline.concerns(update):
            await self._hotline.on_telegram(update)
            return
        chat = update.effective_chat
        if chat is None or chat.type != "private":
            return  # groups and channels are not conversations with a user
        query = update.callback_query
        if query is not None:
            try:
                await query.answer()  # stops the button's spinner; Telegram refuses old queries
            except BadRequest as error:
                logger.info("button press not acknowledged: %s", error.message)
            await self._on_button(update, query.data or "")
            return
        message = update.message
        if message is None:
            return  # edited messages, reactions and the like need no answer
        user = update.effective_user
        await self._conversations.take(
            Inbound(
                channel=Channel.TELEGRAM,
                address=str(chat.id),
                message_id=str(update.update_id),
                text=message.text or message.caption or "",
                media=_media_kind(update),
                language_hint=language_from_code(user.language_code if user else None),
            )
        )

    async def _on_button(self, update: Update, data: str) -> None:
        chat = update.effective_chat
        assert chat is not None
        payload = await self._channel.payload_of(data)
        if payload is None:
            pseudonym = self._conversations.pseudonym(Channel.TELEGRAM, str(chat.id))
            language = await self._conversations.language_of(pseudonym)
            await self._channel.send(
                str(chat.id), [Outgoing(texts.text("button_expired", language))]
            )
            return
        await self._conversations.take(
            Inbound(
                channel=Channel.TELEGRAM,
                address=str(chat.id),
                message_id=str(update.update_id),
                payload=payload,
            )
        )

    def install(self, application: Application) -> None:  # type: ignore[type-arg]
        """For long polling: every update goes through ``route``."""

        async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            """Any update: queued for the conversation."""
            await self.route(update)

        async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
            """Logs the failure (no update content) and never shows a traceback to a user."""
            logger.error("telegram update failed", exc_info=context.error)

        application.add_handler(TypeHandler(Update, on_update))
        application.add_error_handler(on_error)


def _media_kind(update: Update) -> Optional[str]:
    message = update.effective_message
    if message is None or message.text is not None:
        return None
    for kind in (
        "voice",
        "audio",
        "video_note",
        "video",
        "photo",
        "sticker",
        "animation",
        "document",
        "location",
        "venue",
        "contact",
        "poll",
        "dice",
    ):
        if getattr(message, kind, None):
            return kind
    return "other"


def webhook_update(data: object, application: Application) -> Optional[Update]:  # type: ignore[type-arg]
    """The Update in a webhook body, or None when the body is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return None
    try:
        update = Update.de_json(data, application.bot)
    except Exception:  # ptb's parsing of a malformed body fails in many ways
        return None
    return update if update is not None and _well_formed(update) else None


def _well_formed(update: Update) -> bool:
    """The fields the gateway reads have the types the Bot API promises."""
    chat, user, message = update.effective_chat, update.effective_user, update.message
    # bool is an int in Python: a chat id of false/true is not a chat.
    if chat is not None and (not isinstance(chat.id, int) or isinstance(chat.id, bool)):
        return False
    if user is not None and not isinstance(user.language_code, (str, type(None))):
        return False
    if message is not None and not all(
        isinstance(value, (str, type(None))) for value in (message.text, message.caption)
    ):
        return False
    query = update.callback_query
    return query is None or isinstance(query.data, (str, type(None)))
