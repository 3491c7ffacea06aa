"""The critical-intent gate: a report or emergency is never entered on a guess."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message

from nlu.normalizer import normalize
from nlu.safety import (
    CRITICAL_INTENTS,
    CriticalIntentGate,
    EvidenceError,
    has_evidence,
    load_evidence,
)
from tests.conftest import ROOT

EVIDENCE = load_evidence()


def _gate() -> CriticalIntentGate:
    return CriticalIntentGate(CriticalIntentGate.get_default_config(), EVIDENCE)


def _message(intent: str, confidence: float, text: str = "help me") -> Message:
    ranking = [
        {"name": intent, "confidence": confidence},
        {"name": "ask_hotlines", "confidence": 0.1},
    ]
    return Message(
        data={
            "text": text,
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


def test_a_less_sure_critical_intent_passes_with_a_strong_sign() -> None:
    text = normalize("the agent is still taking money from families for the Libya route").text
    message = _message("report_trafficking", 0.62, text)
    _gate().process([message])
    assert _intent(message) == {"name": "report_trafficking", "confidence": 0.62}


def test_a_weak_sign_is_not_enough_below_the_threshold() -> None:
    message = _message("urgent_help", 0.62, normalize("help plz").text)
    _gate().process([message])
    assert _intent(message)["name"] == "nlu_fallback"


def test_a_guess_below_the_fallback_level_is_never_enough() -> None:
    message = _message("urgent_help", 0.45, normalize("kashti doob rahi hai bachao").text)
    _gate().process([message])
    assert _intent(message)["name"] == "nlu_fallback"


def _fallen_back(best: str, confidence: float, text: str) -> Message:
    """What FallbackClassifier leaves: nlu_fallback first, the classifier's ranking after."""
    fallback = {"name": "nlu_fallback", "confidence": 0.5}
    ranking = [fallback, {"name": best, "confidence": confidence}]
    ranking.append({"name": "ask_hotlines", "confidence": 0.05})
    data = {"text": normalize(text).text, "intent": fallback, "intent_ranking": ranking}
    return Message(data=data)


@pytest.mark.parametrize(
    "text",
    ["Malaysia me factory me qaid hun", "مجھے کمرے میں بند کر دیا ہے", "they won't let us leave"],
)
def test_a_clearly_said_danger_is_restored_from_the_fallback(text: str) -> None:
    message = _fallen_back("urgent_help", 0.55, text)
    _gate().process([message])
    assert _intent(message) == {"name": "urgent_help", "confidence": 0.55}
    assert [r["name"] for r in message.get("intent_ranking")] == ["urgent_help", "ask_hotlines"]


@pytest.mark.parametrize(
    ("best", "confidence", "text"),
    [
        ("urgent_help", 0.55, "help plz"),  # only a weak sign
        ("urgent_help", 0.40, "Malaysia me factory me qaid hun"),  # too unsure
        ("urgent_help", 0.90, "bachao bachao 😂 ammi aa gayi"),  # a joke
        ("ask_verify_agent", 0.55, "agent ka license check karna hai"),  # not critical
    ],
)
def test_the_fallback_stands_without_a_clear_critical_case(
    best: str, confidence: float, text: str
) -> None:
    message = _fallen_back(best, confidence, text)
    _gate().process([message])
    assert _intent(message)["name"] == "nlu_fallback"


def test_other_intents_are_not_gated() -> None:
    message = _message("ask_protector", 0.55)
    _gate().process([message])
    assert _intent(message) == {"name": "ask_protector", "confidence": 0.55}


def _training_examples(intent: str) -> Iterator[Tuple[str, str]]:
    for language_dir in sorted((ROOT / "nlu/data/nlu").iterdir()):
        if language_dir.is_dir():
            for example in load_data(str(language_dir)).intent_examples:
                if example.get("intent") == intent:
                    yield language_dir.name, str(example.get("text"))


@pytest.mark.parametrize("intent", CRITICAL_INTENTS)
def test_every_training_example_of_a_critical_intent_has_evidence(intent: str) -> None:
    # A message said as clearly as the training data says it must never lose its answer.
    examples = list(_training_examples(intent))
    assert len(examples) > 200
    missing = [
        (language, text)
        for language, text in examples
        if not has_evidence(normalize(text).text, EVIDENCE)
    ]
    assert missing == []


@pytest.mark.parametrize(
    "text",
    [
        "Product buht acha hai aur quality bhe buht zabardast hai",
        "is video me teacher handsome hai",
        "jaldi so gye honge.",
        "19 April 1985 ko Nawaz Sharif nay Panjab kay wazir-e-alla ki hasyat say halaf uthaya",
        "بابر اعظم کی شاندار سنچری، پاکستان نے سیریز جیت لی",
    ],
)
def test_everyday_chatter_is_no_evidence_even_when_the_classifier_is_sure(text: str) -> None:
    message = _message("urgent_help", 0.99, normalize(text).text)
    _gate().process([message])
    assert _intent(message)["name"] == "nlu_fallback"


@pytest.mark.parametrize(
    "text",
    [
        "they are beating me, help",
        "kashti doob rahi hai bachao",
        "مجھے کمرے میں بند کر دیا ہے",
        "agent ki shikayat karni hai",
        "ایجنٹ کے خلاف رپورٹ درج کرنی ہے",
    ],
)
def test_a_confident_critical_intent_with_evidence_passes(text: str) -> None:
    message = _message("urgent_help", 0.93, normalize(text).text)
    _gate().process([message])
    assert _intent(message) == {"name": "urgent_help", "confidence": 0.93}


def test_evidence_can_be_switched_off_for_a_study() -> None:
    config = {**CriticalIntentGate.get_default_config(), "require_evidence": False}
    message = _message("urgent_help", 0.99, "jaldi so gye honge")
    CriticalIntentGate(config, EVIDENCE).process([message])
    assert _intent(message)["name"] == "urgent_help"


def test_a_broken_evidence_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "evidence.yml"
    bad.write_text("short_words: 4\njest: lol\nstrong: ['(unclosed']\nweak: []\n", encoding="utf-8")
    with pytest.raises(EvidenceError, match="not a valid regular expression"):
        load_evidence(bad)
    bad.write_text("short_words: 4\njest: lol\nstrong: oops\nweak: []\n", encoding="utf-8")
    with pytest.raises(EvidenceError, match="list of patterns"):
        load_evidence(bad)
    bad.write_text("strong: []\nweak: []\n", encoding="utf-8")
    with pytest.raises(EvidenceError, match="short_words"):
        load_evidence(bad)


@pytest.mark.parametrize(
    "text",
    [
        "help me choose a laptop for university, budget is tight",
        "bachao bachao 😂 ammi ne mera room dekh liya",
        "boss ne office me qaid kiya hua hai lol",
    ],
)
def test_words_everyday_talk_shares_with_danger_are_not_evidence_alone(text: str) -> None:
    assert not has_evidence(normalize(text).text, EVIDENCE)


@pytest.mark.parametrize("text", ["help plz", "emergency", "stuck in a truck, no air"])
def test_weak_words_count_in_a_short_message_or_in_pairs(text: str) -> None:
    assert has_evidence(normalize(text).text, EVIDENCE)
