"""The gateway's own words (holding messages, opt-out, media, rate limit) in three languages.

English is the source text, marked with ``pgettext("gateway", ...)`` so
``make extract`` (babel.cfg) puts it in locales/messages.pot with the context
``gateway``; Urdu and Roman Urdu come from the same catalogs as the
assistant's answers. Languages must stay equal: the translation tests fail on
a missing or fuzzy entry.

``{emergency}`` in a text is the emergency number from the deployer's
``content/directory.yml`` (``contract/directory.py``), never a number written
here: a deployer who changes it changes every text.
"""

from __future__ import annotations

import gettext
from functools import cache
from typing import Dict, Optional

import yaml

from contract.bidi import isolate
from contract.directory import emergency_number, parse_hotlines
from contract.languages import ENGLISH, URDU, known
from contract.paths import content_dir, locales_dir

CONTEXT = "gateway"


def pgettext(context: str, message: str) -> str:
    """Marks ``message`` for extraction; the lookup happens in ``text()``."""
    del context
    return message


TEXTS = {
    "holding": pgettext(
        "gateway",
        "Your message has arrived. The assistant is busy right now; "
        "its answer will follow in a few minutes.",
    ),
    "media_telegram": pgettext(
        "gateway",
        "I can only read text. Please type your question in English, Urdu or "
        "Roman Urdu, or send /menu to see the topics.",
    ),
    "media_sms": pgettext(
        "gateway",
        "I can only read text. Please send your question as a text message, or MENU.",
    ),
    "empty": pgettext(
        "gateway",
        "Your message was empty. Please type your question, or send MENU to see the topics.",
    ),
    "rate_limited": pgettext(
        "gateway",
        "You are sending messages very fast. Please wait a minute, then send your "
        "message again. In danger now? Call {emergency}.",
    ),
    "unknown_command": pgettext(
        "gateway",
        "I don't know that command. Try /menu, /language or /delete, or just type your question.",
    ),
    "button_expired": pgettext(
        "gateway",
        "That button has expired. Send /menu to see the topics again.",
    ),
    "sms_help": pgettext(
        "gateway",
        "Rahnuma: free answers on safe, legal work abroad. Send a question or MENU. "
        "MORE continues an answer. STOP ends messages. Emergency: {emergency}.",
    ),
    "sms_stopped": pgettext(
        "gateway",
        "You will get no more messages from Rahnuma. Send START to begin again.",
    ),
    "sms_started": pgettext(
        "gateway",
        "Welcome back to Rahnuma. Send a question or MENU.",
    ),
    "sms_more": pgettext("gateway", "Reply MORE for the rest."),
    "sms_no_more": pgettext(
        "gateway",
        "That was all. Send a question or MENU.",
    ),
    "sms_no_menu": pgettext(
        "gateway",
        "There is no list to choose from right now. Send a question or MENU.",
    ),
    "sms_send_again": pgettext(
        "gateway",
        "Rahnuma could not take your message just now. Please send it again in a few "
        "minutes. In danger now? Call {emergency}.",
    ),
    "error": pgettext(
        "gateway",
        "Sorry, something went wrong on our side. Please send your message again. "
        "In danger now? Call {emergency}.",
    ),
    "hotline_claimed": pgettext(
        "gateway",
        "A hotline worker is now looking at your report {reference}. Your messages here "
        "go to them until the case is closed; send MENU to talk to the assistant again. "
        "In danger now? Call {emergency}.",
    ),
    "hotline_reply": pgettext(
        "gateway",
        "Message from the hotline about your report {reference}:\n\n{text}\n\n"
        "Answer here, or send MENU to talk to the assistant.",
    ),
    "hotline_resolved": pgettext(
        "gateway",
        "The hotline has closed your report {reference}. Thank you for reporting. "
        "Send MENU to see the topics.",
    ),
    "hotline_forwarded": pgettext(
        "gateway",
        "Sent to the hotline worker handling your report {reference}. "
        "In danger now? Call {emergency}.",
    ),
    "hotline_forwarded_urgent": pgettext(
        "gateway",
        "Your message reached the hotline staff for report {reference}, marked urgent: every "
        "worker on duty is told. If you are in danger right now, call {emergency} at once.",
    ),
    "hotline_released": pgettext(
        "gateway",
        "The hotline worker on your report {reference} could not answer yet, so your report is "
        "back with the whole team and the next free worker will write to you. Until then I "
        "answer here. In danger now? Call {emergency}.",
    ),
    "hotline_handoff_ended": pgettext(
        "gateway",
        "Your conversation with the hotline worker on report {reference} has ended for now. "
        "Your report stays with the staff, and they can write to you here again. Until then "
        "I answer your messages. In danger now? Call {emergency}.",
    ),
    "hotline_forward_failed": pgettext(
        "gateway",
        "Your message could not reach the hotline worker just now. Please send it again "
        "in a few minutes. In danger now? Call {emergency}.",
    ),
    "report_status_open": pgettext(
        "gateway",
        "Your report {reference} has reached the hotline and is waiting for a hotline worker.",
    ),
    "report_status_claimed": pgettext(
        "gateway",
        "A hotline worker is handling your report {reference}.",
    ),
    "report_status_resolved": pgettext(
        "gateway",
        "The hotline has closed your report {reference}.",
    ),
    "report_status_unknown": pgettext(
        "gateway",
        "There is no report {reference} from you. Please check the reference you were given.",
    ),
}


@cache
def emergency() -> str:
    """The emergency number the gateway's texts give, read once from the directory."""
    with (content_dir() / "directory.yml").open(encoding="utf-8") as handle:
        return emergency_number(parse_hotlines(yaml.safe_load(handle) or {}))


@cache
def _catalog(language: str) -> gettext.NullTranslations:
    if language == ENGLISH:
        return gettext.NullTranslations()
    try:
        return gettext.translation("messages", str(locales_dir()), languages=[language])
    except OSError:
        # Catalogs not compiled: English rather than nothing (make compile fixes it).
        return gettext.NullTranslations()


def text(key: str, language: Optional[str], **values: str) -> str:
    """The gateway text ``key`` in ``language`` (English when unknown), ``values`` filled in.

    In Urdu script, Latin values (a reference such as R-7K2M9Q, a number) are
    isolated (``contract/bidi.py``) so they keep their order inside
    right-to-left text.
    """
    chosen = known(language)
    template = _catalog(chosen).pgettext(CONTEXT, TEXTS[key])
    if "{emergency}" in TEXTS[key]:
        values = {**values, "emergency": emergency()}
    if not values:
        return template
    if chosen == URDU:
        values = {name: isolate(value) for name, value in values.items()}
    return template.format_map(_Unfilled(values))


class _Unfilled(Dict[str, str]):
    """Values for ``str.format_map``; a placeholder not given stays as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
