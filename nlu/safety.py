"""The intents that start a report or an emergency need confidence and evidence.

``report_trafficking`` and ``urgent_help`` must never be reached by a guess.
The classifier's confidence and the message's evidence are weighed together:

- evidence: the message holds a word or phrase of danger or of a report
  (``nlu/evidence.yml``, in the three languages: a strong sign, or words that
  everyday talk also uses in a short message or in pairs). A classifier trained on
  on-topic data is confidently wrong on everyday chatter ("product buht acha
  hai" → urgent_help 0.98); such text has no evidence, and is never enough.
- a confident prediction (at least ``critical_threshold``) needs some evidence;
- a less confident one (at least ``strong_evidence_threshold``, the level at
  which Rasa takes the classifier's guess at all) needs a *strong* sign
  ("the agent is still taking money from families for the Libya route, how do
  I stop him"; "Malaysia me factory me qaid hun"). This holds even when
  ``FallbackClassifier`` gave up on the message: when the critical intent is
  still the classifier's first choice and a strong sign is there, the message
  is what it clearly says.

Otherwise the message becomes ``nlu_fallback`` and the assistant asks what the
user meant, offering the suggestion as a button (and, for urgent_help, the
emergency numbers), instead of opening a report form on a hunch. Runs after
``FallbackClassifier``. The patterns are data, checked by the tests against
every training example of both intents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Pattern

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from nlu.normalizer import normalize

CRITICAL_INTENTS = ("report_trafficking", "urgent_help")
FALLBACK = DEFAULT_NLU_FALLBACK_INTENT_NAME
EVIDENCE_FILE = Path(__file__).resolve().parent / "evidence.yml"


class EvidenceError(Exception):
    """The evidence file is missing or malformed."""


@dataclass(frozen=True)
class Evidence:
    """The words that show danger or a report (``nlu/evidence.yml``), compiled."""

    strong: Pattern[str]
    weak: Pattern[str]
    short_words: int
    jest: Pattern[str]

    def found_in(self, text: str) -> bool:
        """A strong sign, or a weak one in a short message, or two different weak ones;
        never in a message that laughs at itself."""
        if self.jest.search(text):
            return False
        if self.strong.search(text):
            return True
        weak = {match.group(0).casefold() for match in self.weak.finditer(text)}
        return len(weak) >= 2 or (len(weak) == 1 and len(text.split()) <= self.short_words)

    def strong_in(self, text: str) -> bool:
        """A strong sign, in a message that does not laugh at itself."""
        return not self.jest.search(text) and bool(self.strong.search(text))


def _compile(path: Path, entries: Any, section: str) -> Pattern[str]:
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise EvidenceError(f"{path}: `{section}` must be a list of patterns")
    # Urdu is written with everyday letters and matched against normalised text;
    # Latin patterns are left alone (the normaliser would fold their letter runs).
    patterns = [entry if entry.isascii() else normalize(entry).text for entry in entries]
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    except re.error as error:
        raise EvidenceError(
            f"{path}: a `{section}` pattern is not a valid regular expression: {error}"
        ) from error


def load_evidence(path: Path = EVIDENCE_FILE) -> Evidence:
    """The evidence patterns in ``path``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise EvidenceError(f"cannot read {path}: {error}") from error
    if not isinstance(data, dict):
        raise EvidenceError(f"{path}: expected `strong:` and `weak:` lists")
    short_words = data.get("short_words")
    if not isinstance(short_words, int) or short_words < 1:
        raise EvidenceError(f"{path}: `short_words` must be a positive number")
    return Evidence(
        _compile(path, data.get("strong"), "strong"),
        _compile(path, data.get("weak"), "weak"),
        short_words,
        _compile(path, [data.get("jest")], "jest"),
    )


def has_evidence(text: str, evidence: Evidence) -> bool:
    """True when the (normalised) text holds a sign of danger or of a report."""
    return evidence.found_in(text)


def _text(message: Message) -> str:
    return str(message.get(TEXT) or "")


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class CriticalIntentGate(GraphComponent):
    """Turns a low-confidence critical intent into ``nlu_fallback``."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Threshold and the intents it guards."""
        return {
            "critical_threshold": 0.8,
            "strong_evidence_threshold": 0.5,
            "intents": list(CRITICAL_INTENTS),
            "require_evidence": True,
        }

    def __init__(self, config: Dict[str, Any], evidence: Optional[Evidence] = None) -> None:
        self._threshold = float(config["critical_threshold"])
        self._strong_threshold = float(config["strong_evidence_threshold"])
        self._intents = frozenset(config["intents"])
        self._evidence = evidence if config.get("require_evidence", True) else None

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CriticalIntentGate:
        """Builds the component from its config and the evidence file."""
        return cls(config, load_evidence() if config.get("require_evidence", True) else None)

    def _founded(self, text: str, confidence: float) -> bool:
        """Confident with any evidence, or less sure with a strong sign."""
        if self._evidence is None:
            return confidence >= self._threshold
        if confidence >= self._threshold:
            return self._evidence.found_in(text)
        return confidence >= self._strong_threshold and self._evidence.strong_in(text)

    def _clearly_said(self, message: Message) -> Optional[Dict[str, Any]]:
        """The critical intent behind a fallback, when the text clearly says it."""
        ranking = message.get(INTENT_RANKING_KEY) or []
        best = next((r for r in ranking if r.get(INTENT_NAME_KEY) != FALLBACK), None)
        if self._evidence is None or best is None or best.get(INTENT_NAME_KEY) not in self._intents:
            return None
        confidence = float(best.get(PREDICTED_CONFIDENCE_KEY) or 0.0)
        if not self._founded(_text(message), confidence):
            return None
        return {INTENT_NAME_KEY: best[INTENT_NAME_KEY], PREDICTED_CONFIDENCE_KEY: confidence}

    def process(self, messages: List[Message]) -> List[Message]:
        """Replaces unsure or unfounded critical predictions with the fallback intent, and
        restores a critical intent the fallback hid when the message clearly says it."""
        for message in messages:
            intent = message.get(INTENT) or {}
            name = intent.get(INTENT_NAME_KEY)
            confidence = float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0)
            ranking = message.get(INTENT_RANKING_KEY) or []
            if name == FALLBACK:
                restored = self._clearly_said(message)
                if restored is not None:
                    message.set(INTENT, restored, add_to_output=True)
                    others = [r for r in ranking if r.get(INTENT_NAME_KEY) != FALLBACK]
                    message.set(INTENT_RANKING_KEY, others, add_to_output=True)
            elif name in self._intents and not self._founded(_text(message), confidence):
                fallback = {INTENT_NAME_KEY: FALLBACK, PREDICTED_CONFIDENCE_KEY: self._threshold}
                message.set(INTENT, fallback, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [fallback, *ranking], add_to_output=True)
        return messages
