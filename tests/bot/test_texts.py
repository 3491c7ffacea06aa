"""The gateway's own words: complete in every language, and cheap enough for SMS."""

from __future__ import annotations

import pytest

from bot.texts import TEXTS, text
from contract.languages import ENGLISH, LANGUAGES
from contract.segments import count

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


def test_emergency_number_is_kept_in_every_language() -> None:
    # 15 is the police emergency number in content/directory.yml (confirmed, with source).
    for language in LANGUAGES:
        assert "15" in text("rate_limited", language)
        assert "15" in text("sms_help", language)


def test_an_unknown_language_falls_back_to_english() -> None:
    assert text("empty", "fr") == text("empty", ENGLISH)
    assert text("empty", None) == text("empty", ENGLISH)
