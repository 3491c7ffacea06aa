"""What hotline staff receive about a report: the Telegram card, the SMS short form, the JSON.

Wording and shape only; sending is ``destinations.py``'s job. A card carries
what staff need to act and nothing more: never the reporter's address.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from contract.languages import name as language_name
from contract.limits import TELEGRAM_MAX_TEXT
from contract.reports import Case, when
from contract.segments import count

SMS_CARD_SEGMENTS = 2


def staff_card(case: Case) -> str:
    """The report as the staff chat shows it: what staff need to act, nothing more.

    A description too long for one Telegram message is shortened, never the
    lines after it: where, and whether the reporter may be contacted.
    """
    head = "🔴 URGENT: someone is in danger now" if case.urgent else "🟡 New report"
    channel = case.channel.display if case.channel is not None else "an unknown channel"
    if case.may_contact:
        contact = (
            f"The reporter agreed to be contacted. Claim the case, then send "
            f"/reply {case.reference} <message>: it reaches them through Rahnuma on "
            f"{channel} (their number is never shown)."
        )
    else:
        contact = "The reporter did NOT agree to be contacted. Do not try to reach them."

    def card(description: str) -> str:
        return "\n".join(
            [
                head,
                f"Report {case.reference} · {when(case.created)}",
                f"Language: {language_name(case.language)} · came by {channel}",
                "",
                f"What happened: {description}",
                f"Where: {case.location or '(not given)'}",
                "",
                f"Contact: {contact}",
            ]
        )

    whole = card(case.description or "(not given)")
    excess = len(whole) - TELEGRAM_MAX_TEXT
    if excess <= 0:
        return whole
    return card(case.description[: len(case.description) - excess - 1] + "…")


def staff_buttons(reference: str) -> InlineKeyboardMarkup:
    """Claim and Resolve, acting on this case."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Claim", callback_data=f"claim:{reference}"),
                InlineKeyboardButton("Resolve", callback_data=f"resolve:{reference}"),
            ]
        ]
    )


def sms_card(case: Case) -> str:
    """The short form for on-call phones: at most two segments.

    The longer of description and location gives way until it fits, marked with
    "..." ("…" is not GSM-7: it would make the SMS UCS-2 and halve its room).
    """
    head = "RAHNUMA URGENT" if case.urgent else "RAHNUMA report"
    contact = "yes" if case.may_contact else "NO"
    description = " ".join(case.description.split())
    location = " ".join((case.location or "-").split())

    def card(what: str, where: str) -> str:
        return (
            f"{head} {case.reference} ({case.channel or 'unknown'}, {case.language}). "
            f"Where: {where}. Contact: {contact}. {what} Reply CLAIM {case.reference}"
        )

    what, where = description, location
    while count(body := card(what, where)).segments > SMS_CARD_SEGMENTS and (what or where):
        if len(what) >= len(where):
            description = description[: max(0, len(description) - 10)].rstrip()
            what = description + "..." if description else ""
        else:
            location = location[: max(0, len(location) - 10)].rstrip()
            where = location + "..." if location else "..."
    return body


def webhook_body(case: Case) -> bytes:
    """The JSON a case system receives (keys sorted, so its signature is reproducible)."""
    return json.dumps(
        {
            "event": "report.created",
            "reference": case.reference,
            "urgent": case.urgent,
            "language": case.language,
            "channel": case.channel.value if case.channel is not None else "",
            "description": case.description,
            "location": case.location,
            "may_contact": case.may_contact,
            "created_at": datetime.fromtimestamp(case.created, timezone.utc).isoformat(),
        },
        ensure_ascii=False,
        sort_keys=True,
    ).encode("utf-8")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Rahnuma-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``timestamp.body``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()
