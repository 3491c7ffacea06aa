"""A stricter confidence bar for the intents that start a report or an emergency.

``report_trafficking`` and ``urgent_help`` must never be reached by a guess:
below ``critical_threshold`` the message becomes ``nlu_fallback`` and the
assistant asks what the user meant (with the suggestion as a button), instead
of opening a report form on a hunch. Runs after ``FallbackClassifier``.
"""

from __future__ import annotations

from typing import Any, Dict, List

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
)
from rasa.shared.nlu.training_data.message import Message

CRITICAL_INTENTS = ("report_trafficking", "urgent_help")


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class CriticalIntentGate(GraphComponent):
    """Turns a low-confidence critical intent into ``nlu_fallback``."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Threshold and the intents it guards."""
        return {"critical_threshold": 0.8, "intents": list(CRITICAL_INTENTS)}

    def __init__(self, config: Dict[str, Any]) -> None:
        self._threshold = float(config["critical_threshold"])
        self._intents = frozenset(config["intents"])

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CriticalIntentGate:
        """Builds the component from its config."""
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        """Replaces unsure critical predictions with the fallback intent."""
        for message in messages:
            intent = message.get(INTENT) or {}
            name = intent.get(INTENT_NAME_KEY)
            confidence = float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0)
            if name in self._intents and confidence < self._threshold:
                fallback = {
                    INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME,
                    PREDICTED_CONFIDENCE_KEY: self._threshold,
                }
                message.set(INTENT, fallback, add_to_output=True)
                ranking = message.get(INTENT_RANKING_KEY) or []
                message.set(INTENT_RANKING_KEY, [fallback, *ranking], add_to_output=True)
        return messages
