"""The critical-intent gate: a report or emergency is never entered on a guess."""

from __future__ import annotations

from typing import Any, Dict

from rasa.shared.nlu.training_data.message import Message

from nlu.safety import CriticalIntentGate


def _gate() -> CriticalIntentGate:
    return CriticalIntentGate(CriticalIntentGate.get_default_config())


def _message(intent: str, confidence: float) -> Message:
    ranking = [
        {"name": intent, "confidence": confidence},
        {"name": "ask_hotlines", "confidence": 0.1},
    ]
    return Message(
        data={
            "text": "x",
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": ranking,
        }
    )


def _intent(message: Message) -> Dict[str, Any]:
    return dict(message.get("intent"))


def test_unsure_report_becomes_fallback_with_the_guess_still_ranked() -> None:
    message = _message("report_trafficking", 0.62)
    _gate().process([message])
    assert _intent(message) == {"name": "nlu_fallback", "confidence": 0.8}
    ranked = [entry["name"] for entry in message.get("intent_ranking")]
    assert ranked == ["nlu_fallback", "report_trafficking", "ask_hotlines"]


def test_unsure_urgent_help_becomes_fallback() -> None:
    message = _message("urgent_help", 0.79)
    _gate().process([message])
    assert _intent(message)["name"] == "nlu_fallback"


def test_confident_critical_intent_passes() -> None:
    message = _message("urgent_help", 0.93)
    _gate().process([message])
    assert _intent(message) == {"name": "urgent_help", "confidence": 0.93}


def test_other_intents_are_not_gated() -> None:
    message = _message("ask_protector", 0.55)
    _gate().process([message])
    assert _intent(message) == {"name": "ask_protector", "confidence": 0.55}
