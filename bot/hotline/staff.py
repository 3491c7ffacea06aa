"""Hotline staff in the gateway: acting on reports, and talking to reporters through the bot.

Staff act from the Telegram staff chat (``HOTLINE_TELEGRAM_CHAT_ID``), from a
private chat with the bot, or by SMS from an on-call number
(``HOTLINE_SMS_NUMBERS``)::

    /open                 unclaimed and claimed cases, urgent first   (SMS: OPEN)
    /claim R-7K2M9Q       take the case (or press Claim)              (SMS: CLAIM R-…)
    /reply R-7K2M9Q text  send text to the reporter on their channel  (SMS: REPLY R-… text)
    /resolve R-7K2M9Q n   close the case, with an optional note       (SMS: RESOLVE R-… note)

Only the Telegram ids in ``HOTLINE_STAFF_TELEGRAM_IDS`` and the on-call
numbers may act; anything from anyone else in the staff chat is ignored, and
a button pressed by someone else is answered with nothing.

The reporter's side: a reply reaches the reporter only if they agreed to be
contacted. While a case is claimed, the reporter's messages go to the staff
member who claimed it and the assistant stays quiet, until the case is
resolved or the reporter sends MENU (or a /command, or presses a button: those
are for the bot). A message holding one of the reporter's
own references (``R-7K2M9Q``) is answered with its status; someone else's
reference gets the same answer as one that does not exist.

Never logs message text, notes, phone numbers or chat ids.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Dict, List, Literal, Optional

from telegram import Update

from bot import texts
from bot.channels.sms import keyword
from bot.conversation.delivery import Delivery, DeliveryOutcome
from bot.conversation.messages import Inbound, Outgoing
from bot.conversation.users import Users
from bot.hotline.silence import HandoffClocks
from bot.rasa import RasaClient
from bot.settings import Settings
from contract.channels import Channel
from contract.keys import Keys
from contract.limits import TELEGRAM_MAX_TEXT
from contract.reports import CLAIMED, OPEN, RESOLVED, Case, ReportStore, Status, when

logger = logging.getLogger(__name__)

REFERENCE = re.compile(r"\bR-([0-9A-Z]{6})\b", re.I)  # people type r-7k2m9q too
COMMAND = re.compile(r"^/?(open|claim|reply|resolve)(?:@\w+)?\b\s*(.*)$", re.I | re.S)
MENU_WORDS = frozenset({"menu", "/menu", "/start", "مینو", "مینیو", "fehrist", "فہرست"})
SEEN_TTL = 48 * 3600
MAX_REPLY_CHARS = 1000  # of a staff reply to a reporter
MAX_FORWARD_CHARS = 3500  # of a reporter's message forwarded to staff
MAX_STAFF_SMS_CHARS = 1500  # of a staff answer by SMS (inside Twilio's limit, with room)
Action = Literal["claim", "reply", "resolve"]
STATUS_TEXTS: Dict[Status, str] = {
    OPEN: "report_status_open",
    CLAIMED: "report_status_claimed",
    RESOLVED: "report_status_resolved",
}
USAGE = (
    "Commands: /open · /claim R-XXXXXX · /reply R-XXXXXX your message · "
    "/resolve R-XXXXXX optional note"
)
# What staff are told when the store refuses a claim or a resolution, by outcome.
NOT_OPEN = {
    "unknown": "There is no report {reference}.",
    "resolved": "{reference} is already resolved.",
}
CLAIM_REFUSED = {
    **NOT_OPEN,
    "taken": "{reference} is already claimed by a colleague.",
    "yours": "{reference} is already yours.",
}
RESOLVE_REFUSED = {
    **NOT_OPEN,
    "taken": "{reference} is claimed by a colleague: only they can resolve it.",
}
SMS_USAGE = "Commands: OPEN, CLAIM R-XXXXXX, REPLY R-XXXXXX message, RESOLVE R-XXXXXX note"


@dataclass(frozen=True)
class Staff:
    """Who is acting, as the audit trail names them."""

    id: str  # tg:<user id> | sms:<number> (the channel's short name, then the address)
    via: Channel
    name: str  # what colleagues see in the staff chat
    address: str  # where a reporter's messages reach them (chat id or number)


def staff_id(channel: Channel, address: str) -> str:
    """How the audit trail and the case name a staff member on ``channel``."""
    return f"{channel.short}:{address}"


def staff_address(holder: str) -> tuple[Optional[Channel], str]:
    """The channel and address behind a staff id (``tg:42`` → Telegram, ``42``)."""
    short, _, address = holder.partition(":")
    found = [channel for channel in Channel if channel.short == short]
    return (found[0] if found else None), address


def reference_in(text: str) -> Optional[str]:
    """The first reference written in ``text``, normalised (``r-7k2m9q`` → ``R-7K2M9Q``)."""
    found = REFERENCE.search(text)
    return f"R-{found.group(1).upper()}" if found else None


class StaffDesk:
    """Staff commands, the reporter handoff and status questions."""

    def __init__(
        self,
        store: ReportStore,
        keys: Keys,
        settings: Settings,
        users: Users,
        delivery: Delivery,
        rasa: RasaClient,
    ) -> None:
        self.store = store
        self._rasa = rasa
        self._keys = keys
        self.staff_chat = settings.hotline_telegram_chat_id
        self.staff_ids = settings.hotline_staff_telegram_ids
        self.staff_numbers = frozenset(settings.hotline_sms_numbers)
        self.clocks = HandoffClocks(store.redis, keys, settings.handoff_hours * 3600)
        self._users = users
        self._delivery = delivery

    # -- Telegram -----------------------------------------------------------------

    def concerns(self, update: Update) -> bool:
        """The update belongs to the staff side (the staff chat, or staff using a command)."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None:
            return False
        if self.staff_chat is not None and chat.id == self.staff_chat:
            return True
        if chat.type != "private" or user is None or user.id not in self.staff_ids:
            return False
        query = update.callback_query
        if query is not None:
            return (query.data or "").startswith(("claim:", "resolve:"))
        message = update.message
        return message is not None and bool(COMMAND.match((message.text or "").strip()))

    async def on_telegram(self, update: Update) -> None:
        """A staff-side update: acted on if it comes from staff, otherwise ignored."""
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None
        query = update.callback_query
        authorised = user is not None and user.id in self.staff_ids
        if query is not None:
            await query.answer()  # always, or the button keeps spinning
        if not authorised or user is None:
            logger.warning("staff action from someone not on the staff list ignored")
            return
        if not await self._first_time(Channel.TELEGRAM, str(update.update_id)):
            return
        staff = Staff(
            staff_id(Channel.TELEGRAM, str(user.id)),
            Channel.TELEGRAM,
            user.full_name or str(user.id),
            str(user.id),
        )
        if query is not None:
            action, _, reference = (query.data or "").partition(":")
            answer = await self.act(staff, action, reference, "")
        else:
            text = (update.message.text or "").strip() if update.message else ""
            answer = await self.command(staff, text)
        if answer:
            await self.tell_staff(str(chat.id), answer)

    # -- SMS ------------------------------------------------------------------------

    def is_staff_number(self, number: str) -> bool:
        """The number is one of the on-call numbers."""
        return number in self.staff_numbers

    async def on_sms(self, number: str, message_id: str, text: str) -> List[Outgoing]:
        """An SMS from an on-call number: the answer to send back as TwiML."""
        if not await self._first_time(Channel.SMS, message_id):
            return []
        # The staff chat names an on-call phone, never its number.
        staff = Staff(staff_id(Channel.SMS, number), Channel.SMS, "an on-call phone", number)
        answer = await self.command(staff, text.strip(), usage=SMS_USAGE)
        return [Outgoing(answer[:MAX_STAFF_SMS_CHARS])] if answer else []

    # -- commands ---------------------------------------------------------------------

    async def command(self, staff: Staff, text: str, usage: str = USAGE) -> str:
        """The answer to a staff command written as text."""
        found = COMMAND.match(text)
        if found is None:
            return usage
        action, rest = found.group(1).lower(), found.group(2).strip()
        if action == "open":
            return await self.open_list()
        reference = reference_in(rest)
        if reference is None:
            return usage
        after = rest[rest.upper().index(reference) + len(reference) :].strip()
        return await self.act(staff, action, reference, after)

    async def act(self, staff: Staff, action: str, reference: str, text: str) -> str:
        """Claims, replies to or resolves ``reference``; returns what to tell the staff member."""
        if action == "claim":
            return await self._claim(staff, reference)
        if action == "reply":
            return await self._reply(staff, reference, text)
        if action == "resolve":
            return await self._resolve(staff, reference, text)
        return USAGE

    async def open_list(self) -> str:
        """Open and claimed cases, urgent first, one line each: no report text."""
        cases = await self.store.open_cases()
        if not cases:
            return "No open reports."
        lines = ["Open reports (urgent first):"]
        for case in cases:
            flag = "🔴 URGENT" if case.urgent else "🟡"
            holder = "claimed" if case.status == CLAIMED else "unclaimed"
            lines.append(
                f"{flag} {case.reference} · {holder} · {when(case.created)} · "
                f"{case.location or 'place not given'}"
            )
        return "\n".join(lines)

    async def _claim(self, staff: Staff, reference: str) -> str:
        outcome = await self.store.claim(reference, staff.id, staff.via.value)
        if outcome in CLAIM_REFUSED:
            return CLAIM_REFUSED[outcome].format(reference=reference)
        case = await self.store.case(reference)
        assert case is not None
        await self._announce(f"✋ {reference} claimed by {staff.name}.", staff)
        if not case.may_contact:
            return (
                f"{reference} is yours. The reporter did NOT agree to be contacted: do not reply."
            )
        await self.clocks.lasts(reference)
        await self.to_reporter(
            case, texts.text("hotline_claimed", case.language, reference=reference)
        )
        if staff.via is Channel.SMS:
            return (
                f"{reference} is yours. The reporter's messages now come to you by SMS; "
                f"answer with REPLY {reference} <message>."
            )
        return (
            f"{reference} is yours. The reporter's messages now come to you "
            f"(in a private chat with me); answer with /reply {reference} <message>."
        )

    async def _reply(self, staff: Staff, reference: str, text: str) -> str:
        case = await self.store.case(reference)
        if case is None:
            return f"There is no report {reference}."
        if not case.may_contact:
            logger.warning("reply to a reporter who refused contact refused (%s)", reference)
            return f"Not sent: the reporter of {reference} did not agree to be contacted."
        if case.status == RESOLVED:
            return f"Not sent: {reference} is resolved."
        if not text:
            return f"Write the message after the reference: /reply {reference} <message>"
        if case.status == OPEN:
            claimed = await self._claim(staff, reference)
            case = await self.store.case(reference)
            if case is None or case.claimed_by != staff.id:
                return claimed
        if case.claimed_by != staff.id:
            return f"Not sent: {reference} is claimed by a colleague."
        message = texts.text(
            "hotline_reply", case.language, reference=reference, text=text[:MAX_REPLY_CHARS]
        )
        outcome = await self.to_reporter(case, message)
        if outcome == "unreachable":
            return (
                f"Not sent: the reporter of {reference} can no longer be reached "
                "(their contact details expired, were deleted, or they stopped SMS)."
            )
        await self.store.record_reply(reference, staff.id)
        await self.clocks.answered(reference)
        if outcome == "queued":
            return f"Queued for the reporter of {reference}: their channel is slow right now."
        return f"Sent to the reporter of {reference}."

    async def _resolve(self, staff: Staff, reference: str, note: str) -> str:
        outcome = await self.store.resolve(reference, staff.id, note)
        if outcome == "done":
            await self.clocks.closed(reference)
        if outcome in RESOLVE_REFUSED:
            return RESOLVE_REFUSED[outcome].format(reference=reference)
        case = await self.store.case(reference)
        assert case is not None
        await self._announce(f"✅ {reference} resolved by {staff.name}.", staff)
        if case.may_contact:
            await self.to_reporter(
                case, texts.text("hotline_resolved", case.language, reference=reference)
            )
        return f"{reference} resolved."

    # -- the reporter's side --------------------------------------------------------------

    async def intercept(self, pseudonym: str, inbound: Inbound) -> Optional[List[Outgoing]]:
        """Before the assistant: forwards to staff, or answers a status question.

        Returns the messages for the user ([] to stay quiet), or None when the
        assistant should answer as usual.
        """
        word = keyword(inbound.text)
        case = await self.store.handoff_of(pseudonym)
        if case is not None:
            # A button or a command (/delete, /language) is for the bot, never for staff.
            if inbound.payload is not None or word in MENU_WORDS or word.startswith("/"):
                await self.store.end_handoff(pseudonym)
                await self.to_claimant(
                    case,
                    f"↩️ The reporter of {case.reference} went back "
                    "to the assistant. A /reply brings them back to you.",
                )
                return None
            return await self._forward(case, inbound)
        reference = reference_in(inbound.text) if inbound.payload is None else None
        if reference is None:
            return None
        language = await self._users.language_of(pseudonym) or inbound.language_hint
        mine = await self.store.case_of(pseudonym, reference)
        status = STATUS_TEXTS[mine.status] if mine is not None else "report_status_unknown"
        return [Outgoing(texts.text(status, language, reference=reference))]

    async def _forward(self, case: Case, inbound: Inbound) -> List[Outgoing]:
        body = inbound.text.strip() or f"(sent a {inbound.media or 'message'} that is not text)"
        danger = bool(inbound.text.strip()) and await self._rasa.reads_as_danger(inbound.text)
        text = (
            f"{'🚨 URGENT · ' if danger else '💬 '}{case.reference} · the reporter writes:\n"
            f"{body[:MAX_FORWARD_CHARS]}\n\nAnswer with /reply {case.reference} <message>"
        )
        reached = await self.to_claimant(case, text)
        await self.clocks.waiting(case.reference)
        if danger:
            # One worker may be away: everyone on duty hears it, and the reporter is told
            # what to do now, whoever reads it first.
            await self._alarm(case, body)
            urgent = texts.text("hotline_forwarded_urgent", case.language, reference=case.reference)
            return [Outgoing(urgent)]
        if reached:
            # Never silence: the reporter learns it arrived, with the emergency number.
            ack = texts.text("hotline_forwarded", case.language, reference=case.reference)
            return [Outgoing(ack)]
        return [Outgoing(texts.text("hotline_forward_failed", case.language))]

    async def _alarm(self, case: Case, body: str) -> None:
        """A message that reads as danger during a handoff: the staff chat and every on-call
        number, besides the worker holding the case."""
        logger.warning("danger during a handoff", extra={"reference": case.reference})
        if self.staff_chat is not None:
            await self.tell_staff(
                str(self.staff_chat),
                f"🚨 URGENT · {case.reference}: the reporter may be in danger right now "
                f"(case held by {case.claimed_by or 'nobody'}). They wrote:\n"
                f"{body[:MAX_FORWARD_CHARS]}\n\nWhoever can act: /reply {case.reference} <message>",
            )
        for number in sorted(self.staff_numbers):
            short = (
                f"RAHNUMA URGENT {case.reference}: the reporter may be in danger now. "
                "See the staff chat."
            )
            await self._delivery.to_address(Channel.SMS, number, [Outgoing(short)])

    async def forget(self, pseudonym: str) -> None:
        """The reporter erased their data: their messages no longer go to staff."""
        await self.store.end_handoff(pseudonym)

    # -- sending ------------------------------------------------------------------------

    async def _first_time(self, channel: Channel, message_id: str) -> bool:
        key = self._keys.staff_seen(channel.value, message_id)
        return bool(await self.store.redis.set(key, "1", nx=True, ex=SEEN_TTL))

    async def tell_staff(self, address: str, text: str) -> bool:
        return await self._delivery.to_address(
            Channel.TELEGRAM, address, [Outgoing(text[:TELEGRAM_MAX_TEXT])]
        )

    async def _announce(self, text: str, staff: Staff) -> None:
        """Tells the staff chat (so colleagues see who took what), unless no chat is set."""
        if self.staff_chat is not None:
            await self.tell_staff(str(self.staff_chat), text)

    async def to_claimant(self, case: Case, text: str) -> bool:
        """To the staff member holding the case: private chat or SMS, else the staff chat."""
        channel, address = staff_address(case.claimed_by or "")
        if channel is Channel.SMS:
            message = [Outgoing(text[:MAX_STAFF_SMS_CHARS])]
            if await self._delivery.to_address(channel, address, message):
                return True
        elif channel is Channel.TELEGRAM and await self.tell_staff(address, text):
            return True
        # The staff member never started a private chat with the bot: the staff chat sees it.
        if self.staff_chat is not None:
            return await self.tell_staff(str(self.staff_chat), text)
        return False

    async def to_reporter(self, case: Case, text: str) -> DeliveryOutcome:
        """On the reporter's own channel, if they can still be reached."""
        return await self._delivery.to_user(case.reporter, case.channel, [Outgoing(text)])
