"""Translations (gettext catalogs under locales/) and locale formatting (Babel).

English is the source language: the English texts in domain.yml are the
msgids, extracted by ``extract_domain`` (babel.cfg) into locales/messages.pot.
Urdu (``ur``) and Roman Urdu (``ur_Latn``) live in
``locales/<lang>/LC_MESSAGES/messages.po``; ``make compile`` builds the .mo
files this module loads. Every response text is translated with the
response's name as context (``msgctxt``), button titles with the context
``button``, so translators see where each text appears.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gettext
from functools import cache
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import yaml
from babel.dates import format_date
from babel.numbers import format_decimal

from actions.content import topics
from contract.bidi import isolate
from contract.languages import ENGLISH, LANGUAGES, ROMAN_URDU, URDU
from contract.paths import locales_dir

SMS = "sms"  # the channel name, and the domain variation key for the short form
BUTTON_CONTEXT = "button"
TOPIC_CONTEXT = "topic"
# Babel locales for numbers and dates. Roman Urdu readers use Latin digits and
# English month names, as Pakistani English does.
BABEL_LOCALES = {ENGLISH: "en_PK", URDU: "ur_PK", ROMAN_URDU: "en_PK"}


class TranslationError(Exception):
    """A catalog is missing or cannot be read (run `make compile`)."""


@cache
def catalog(language: str) -> gettext.NullTranslations:
    """The compiled catalog for ``language`` (English needs none)."""
    if language == ENGLISH:
        return gettext.NullTranslations()
    if language not in LANGUAGES:
        raise TranslationError(f"unknown language {language!r}")
    try:
        return gettext.translation("messages", str(locales_dir()), languages=[language])
    except OSError as error:
        raise TranslationError(
            f"no compiled catalog for {language!r} in {locales_dir()}: run `make compile`"
        ) from error


def translate(text: str, language: str, context: str) -> str:
    """``text`` in ``language``; the English text when it has no translation."""
    return catalog(language).pgettext(context, text)


def pgettext(context: str, message: str, language: str) -> str:
    """``message`` (a literal, so that pybabel extracts it) in ``language``."""
    return translate(message, language, context)


def topic_title(intent: str, language: str) -> Optional[str]:
    """The button title for ``intent`` in ``language``, or None if it has none."""
    title = topics().get(intent)
    return translate(title, language, TOPIC_CONTEXT) if title else None


def sms_context(response: str) -> str:
    """The msgctxt of a response's SMS short form."""
    return f"{response} ({SMS})"


def format_value(value: Any, language: str) -> str:
    """A placeholder value formatted for ``language``: numbers and dates by Babel."""
    locale = BABEL_LOCALES.get(language, "en_PK")
    if isinstance(value, bool):
        text = str(value)
    elif isinstance(value, (int, float)):
        text = format_decimal(value, locale=locale)
    elif isinstance(value, dt.date):
        text = format_date(value, format="long", locale=locale)
    else:
        text = str(value)
        with contextlib.suppress(ValueError):
            text = format_date(dt.date.fromisoformat(text), format="long", locale=locale)
    if language == URDU and any(c.isascii() and c.isalnum() for c in text):
        return isolate(text)
    return text


def fill(template: str, values: Mapping[str, Any], language: str) -> str:
    """Fills ``{name}`` placeholders; unknown placeholders are left as written."""

    class _Keep(dict):  # type: ignore[type-arg]
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    formatted = _Keep({k: format_value(v, language) for k, v in values.items() if v is not None})
    return template.format_map(formatted)


# --- extraction (pybabel extract -F babel.cfg) ---------------------------------


def _texts(responses: Mapping[str, List[Dict[str, Any]]]) -> Iterator[Tuple[str, str]]:
    for name, variations in responses.items():
        for variation in variations:
            if variation.get("condition"):
                continue  # translations live in catalogs, not in the domain
            sms = variation.get("channel") == SMS
            yield (sms_context(name) if sms else name), str(variation["text"])
            for button in variation.get("buttons") or []:
                yield BUTTON_CONTEXT, str(button["title"])


def extract_domain(
    fileobj: Any, keywords: Any, comment_tags: Any, options: Dict[str, Any]
) -> Iterator[Tuple[int, str, Tuple[str, str], List[str]]]:
    """Babel extractor for domain.yml: every response text and button title."""
    source = fileobj.read().decode("utf-8")
    lines = source.splitlines()
    data = yaml.safe_load(source) or {}
    for context, text in _texts(data.get("responses") or {}):
        lineno = next((i + 1 for i, line in enumerate(lines) if text[:40] in line), 0)
        yield lineno, "pgettext", (context, text), []


def extract_topics(
    fileobj: Any, keywords: Any, comment_tags: Any, options: Dict[str, Any]
) -> Iterator[Tuple[int, str, Tuple[str, str], List[str]]]:
    """Babel extractor for content/topics.yml: the short topic titles."""
    source = fileobj.read().decode("utf-8")
    lines = source.splitlines()
    topics = (yaml.safe_load(source) or {}).get("topics") or {}
    for intent, title in topics.items():
        lineno = next(
            (i + 1 for i, line in enumerate(lines) if line.strip().startswith(f"{intent}:")), 0
        )
        yield lineno, "pgettext", (TOPIC_CONTEXT, str(title)), [f"button for {intent}"]
