"""The gateway's own words: complete in every language, and cheap enough for SMS."""

from __future__ import annotations

import pytest

from bot.texts import CONTEXT, TEXTS, text
from contract.bidi import isolate
from contract.languages import ENGLISH, LANGUAGES, URDU
from contract.segments import count
from tests.conftest import translated

SMS_TEXTS = (
    "holding",
    "media_sms",
    "empty",
    "rate_limited",
    "sms_help",
    "sms_stopped",
    "sms_started",
    "sms_more",
    "sms_no_more",
    "sms_no_menu",
    "error",
)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != ENGLISH])
def test_every_text_is_translated(language: str) -> None:
    untranslated = [key for key in TEXTS if text(key, language) == text(key, ENGLISH)]
    assert untranslated == [], f"{language}: run make compile, or translate {untranslated}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", SMS_TEXTS)
def test_sms_texts_cost_at_most_two_segments(language: str, key: str) -> None:
    assert count(text(key, language)).segments <= 2


def test_urdu_texts_are_in_urdu_script() -> None:
    assert all(any("\u0600" <= c <= "\u06ff" for c in text(key, "ur")) for key in TEXTS)


@pytest.mark.parametrize("language", LANGUAGES)
def test_texts_give_the_directorys_first_confirmed_emergency_number(
    language: str, fixture_content
) -> None:
    # tests/fixtures/content/directory.yml lists an unconfirmed emergency line (1100) before
    # the confirmed 115: a deployer who changes the directory changes every text.
    number = isolate("115") if language == URDU else "115"
    with_number = [key for key, english in TEXTS.items() if "{emergency}" in english]
    assert {"rate_limited", "sms_help", "error"} <= set(with_number)
    for key in with_number:
        expected = translated(language, CONTEXT, TEXTS[key]).replace("{emergency}", number)
        assert text(key, language) == expected, key


def test_an_unknown_language_falls_back_to_english() -> None:
    assert text("empty", "fr") == text("empty", ENGLISH)
    assert text("empty", None) == text("empty", ENGLISH)
