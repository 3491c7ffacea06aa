"""The SMS front door (Twilio): signed webhooks in, TwiML or REST messages out.

What an SMS user can send besides a question:

- STOP and the carrier keywords (STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT,
  REVOKE, OPTOUT), or بند / BAND / ROKO: no further SMS until START
  (or شروع / SHURU). Twilio itself stops English keywords on long codes; the
  Urdu ones are ours to honour.
- HELP / INFO / مدد / MADAD: a short help text. Only the whole message counts:
  "I need help" goes to the assistant.
- MORE / مزید / MAZEED: the next page of a long answer.
- 1, 2, ... (or Urdu digits ۱ ۲): the button of that number in the last menu.

Replies are shaped to the SMS budget (``SMS_MAX_SEGMENTS`` billed segments per
message, counted as carriers bill them, see ``contract/segments.py``): the
assistant's short form with the full text paged behind MORE, buttons as a
numbered menu on the last page. Payloads are never shown.

Never logs phone numbers or message text.
"""

from __future__ import annotations

import re
import unicodedata
from typing import List, Optional, Sequence

from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot import texts
from bot.channels.twilio import TwilioSender
from bot.conversation.messages import (
    Answer,
    Inbound,
    Outgoing,
    Step,
    ToRasa,
    UserState,
    clean_text,
)
from bot.errors import ForgedRequestError
from bot.rasa import Reply
from contract.channels import Channel
from contract.languages import ROMAN_URDU, URDU, has_urdu_letters
from contract.limits import TWILIO_MAX_CHARS
from contract.menus import numbered_menu
from contract.segments import count

STOP_WORDS = frozenset(
    {
        "stop",
        "stopall",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "revoke",
        "optout",
        "بند",
        "band",
        "roko",
        "band karo",
        "بند کرو",
        "بند کریں",
        "رکو",
    }
)
START_WORDS = frozenset({"start", "unstop", "yes", "شروع", "shuru", "shuru karo", "شروع کرو"})
HELP_WORDS = frozenset({"help", "info", "مدد", "madad"})
MORE_WORDS = frozenset({"more", "مزید", "mazeed", "mazid", "aur", "اور"})
ROMAN_URDU_WORDS = frozenset(
    {"band", "roko", "band karo", "shuru", "shuru karo", "madad", "mazeed", "mazid", "aur"}
)
# Carrier keywords Twilio answers itself on long codes: we record, but do not reply.
TWILIO_HANDLES = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
)
_PUNCTUATION = re.compile(r"[\s\.\!\?،۔؟,;:\"'()]+")
_SENTENCE_END = re.compile(r"(?<=[\.\!\?۔؟])\s+|\n+")
_SPACES = re.compile(r"\s+")


def keyword(text: str) -> str:
    """The message reduced to a keyword: lower case, no marks, punctuation or extra spaces."""
    cleaned = "".join(
        c
        for c in unicodedata.normalize("NFKC", text)
        if unicodedata.category(c) not in ("Cf", "Cc")
    )
    return " ".join(_PUNCTUATION.sub(" ", cleaned).split()).casefold()


def keyword_language(word: str, current: Optional[str]) -> Optional[str]:
    """The language to answer a keyword in: the keyword's own, if it has one."""
    if has_urdu_letters(word):
        return URDU
    if word in ROMAN_URDU_WORDS:
        return ROMAN_URDU
    return current


def menu_choice(text: str) -> Optional[int]:
    """The number a reply like "2", "۲" or " 2. " picks, or None."""
    cleaned = keyword(text)
    if not cleaned or len(cleaned) > 3:
        return None
    digits = "".join(str(unicodedata.digit(c, -1)) for c in cleaned)
    if "-" in digits or not digits.isdigit():
        return None
    return int(digits)


def _fits(body: str, max_segments: int) -> bool:
    return count(body).segments <= max_segments and len(body) <= TWILIO_MAX_CHARS


def _word_cut(sentence: str, limit: int) -> int:
    """Where to cut ``sentence`` at a space so the head fits; 0 when no word boundary fits."""
    best = 0
    for gap in _SPACES.finditer(sentence):
        if not _fits(sentence[: gap.start()], limit):
            break
        best = gap.start()
    return best


def _character_cut(sentence: str, limit: int) -> int:
    """The longest prefix that fits, for one enormous word (binary search; at least 1)."""
    low, high = 1, len(sentence)
    while low < high:
        middle = (low + high + 1) // 2
        if _fits(sentence[:middle], limit):
            low = middle
        else:
            high = middle - 1
    return low


def _pieces(text: str, limit: int) -> List[str]:
    """Sentences, with any sentence too long for a page cut at spaces (or hard)."""
    pieces: List[str] = []
    for sentence in (s.strip() for s in _SENTENCE_END.split(text)):
        if not sentence:
            continue
        while not _fits(sentence, limit):
            cut = _word_cut(sentence, limit) or _character_cut(sentence, limit)
            pieces.append(sentence[:cut].rstrip())
            sentence = sentence[cut:].lstrip()
        if sentence:
            pieces.append(sentence)
    return pieces


def paginate(text: str, menu: str, more_hint: str, max_segments: int) -> List[str]:
    """SMS bodies for ``text`` and its menu, each within ``max_segments``.

    Every page but the last ends with the MORE hint; the menu goes on the last
    page (or a page of its own when it does not fit there).
    """
    whole = f"{text}\n{menu}" if menu else text
    if _fits(whole, max_segments):
        return [whole]
    pages: List[str] = []
    current = ""
    for piece in _pieces(text, max_segments):
        candidate = f"{current} {piece}".strip() if current else piece
        if current and not _fits(f"{candidate}\n{more_hint}", max_segments):
            pages.append(current)
            current = piece
        else:
            current = candidate
    if current:
        pages.append(current)
    if menu:
        if _fits(f"{pages[-1]}\n{menu}", max_segments):
            pages[-1] = f"{pages[-1]}\n{menu}"
        else:
            pages.append(menu)
    # A page too long for its hint is rare (one piece filling the budget): shorten the hint away.
    return [
        f"{page}\n{more_hint}" if _fits(f"{page}\n{more_hint}", max_segments) else page
        for page in pages[:-1]
    ] + pages[-1:]


class SmsChannel:
    """SMS keywords, menus and paging; sending through Twilio's REST API."""

    name = Channel.SMS
    answers_in_webhook = True  # TwiML, within Twilio's webhook budget

    def __init__(self, twilio: TwilioSender, max_segments: int) -> None:
        self._twilio = twilio
        self._max_segments = max_segments

    def is_control(self, inbound: Inbound) -> bool:
        """STOP and START (in every language) are the channel's, whoever holds the user."""
        return keyword(inbound.text) in STOP_WORDS | START_WORDS

    def count_sent(self, body: str) -> None:
        """Counts the billed segments of a body answered as TwiML."""
        self._twilio.count_sent(body)

    def interpret(self, inbound: Inbound, user: UserState) -> Step:
        """Keywords and menu numbers are answered here; everything else goes to Rasa."""
        word = keyword(inbound.text)
        language = keyword_language(word, user.language)
        if word in STOP_WORDS:
            user.opted_out = True
            user.more = []
            if word in TWILIO_HANDLES:
                return Answer()
            return Answer((Outgoing(texts.text("sms_stopped", language)),))
        if user.opted_out:
            if word in START_WORDS:
                user.opted_out = False
                return Answer((Outgoing(texts.text("sms_started", language)),))
            return Answer()  # nothing may be sent to an opted-out number
        if inbound.media and not word:
            return Answer((Outgoing(texts.text("media_sms", language)),))
        if not word:
            return Answer((Outgoing(texts.text("empty", language)),))
        if word in HELP_WORDS:
            return Answer((Outgoing(texts.text("sms_help", language)),))
        if word in MORE_WORDS:
            if not user.more:
                return Answer((Outgoing(texts.text("sms_no_more", language)),))
            page = user.more.pop(0)
            return Answer((Outgoing(page),))
        choice = menu_choice(inbound.text)
        if choice is not None and user.menu:
            if 1 <= choice <= len(user.menu):
                return ToRasa(user.menu[choice - 1])
            return Answer((Outgoing(texts.text("sms_no_menu", language)),))
        return ToRasa(inbound.text.lstrip("/") or inbound.text)

    def shape(self, replies: Sequence[Reply], user: UserState) -> List[Outgoing]:
        """One SMS body within budget; the rest kept for MORE; buttons as a numbered menu."""
        if not replies:
            return []
        language = user.language
        hint = texts.text("sms_more", language)
        buttons = []
        seen = set()
        for reply in replies:
            for button in reply.buttons:
                if button.payload not in seen:
                    seen.add(button.payload)
                    buttons.append(button)
        user.menu = [button.payload for button in buttons]
        menu = numbered_menu([{"title": b.title, "payload": b.payload} for b in buttons])
        short = "\n\n".join(reply.text.strip() for reply in replies)
        if any(reply.more for reply in replies):
            full = "\n\n".join((reply.more or reply.text).strip() for reply in replies)
            first = [short if _fits(short, self._max_segments) else ""]
            rest = paginate(full, menu, hint, self._max_segments)
            if not first[0]:
                first, rest = rest[:1], rest[1:]
            user.more = rest
            return [Outgoing(first[0])]
        pages = paginate(short, menu, hint, self._max_segments)
        user.more = pages[1:]
        return [Outgoing(pages[0])]

    async def send(self, address: str, messages: Sequence[Outgoing]) -> None:
        """Sends through Twilio's Messages API; an unsubscribed number raises DeliveryError."""
        await self._twilio.send(address, [message.text for message in messages])


def twiml(messages: Sequence[Outgoing]) -> str:
    """The TwiML answer carrying ``messages`` (an empty ``<Response/>`` for none)."""
    response = MessagingResponse()
    for message in messages:
        response.message(clean_text(message.text))  # XML cannot carry control characters
    return str(response)


def verify(validator: RequestValidator, url: str, params: dict[str, str], signature: str) -> None:
    """Raises ForgedRequestError unless Twilio signed exactly this URL and these parameters."""
    if not signature or not validator.validate(url, params, signature):
        raise ForgedRequestError("bad Twilio signature")
