"""Language detection: what switches the conversation and what never does."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from nlu.language import OUTPUT_KEY, Detection, LanguageDetector, detect


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("How do I get a work visa for Saudi Arabia?", "en"),
        ("they took my passport and i cannot leave", "en"),
        ("mera visa genuine hai?", "ur_Latn"),
        ("agent ne passport le liya hai kya karun", "ur_Latn"),
        ("mjhe protector ka tareeqa btao plz", "ur_Latn"),
        ("میرا ویزا اصلی ہے؟", "ur"),
        ("ایجنٹ نے میرا پاسپورٹ لے لیا", "ur"),
        ("میرا visa اصلی ہے؟", "ur"),
    ],
)
def test_clear_messages_are_detected_confidently(text: str, code: str) -> None:
    assert detect(text) == Detection(code, confident=True)


@pytest.mark.parametrize(
    "text", ["ok", "1", "۲", "haan", "jee", "👍", "", "   ", "ji", "جی", "thanks", "Lahore"]
)
def test_short_or_ambiguous_messages_are_never_confident(text: str) -> None:
    assert detect(text).confident is False


def test_component_adds_detection_to_the_parse_output() -> None:
    message = Message(data={"text": "mujhe bahar jana hai kaise jaun"})
    LanguageDetector().process([message])
    assert message.get(OUTPUT_KEY) == {"code": "ur_Latn", "confident": True}
    assert OUTPUT_KEY in message.as_dict(only_output_properties=True)
