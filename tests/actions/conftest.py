"""Fixtures for the action tests: a Tracker built from tests/fixtures/tracker.json, the domain."""

from __future__ import annotations

import copy
import json
from typing import Any, Callable, Dict, List, Optional, cast

import pytest
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import Tracker
from rasa_sdk.types import DomainDict

from tests.conftest import ROOT

BASE_TRACKER = json.loads((ROOT / "tests/fixtures/tracker.json").read_text(encoding="utf-8"))

TrackerFactory = Callable[..., Tracker]


@pytest.fixture(scope="session")
def domain() -> DomainDict:
    """The real domain as the action server receives it."""
    from rasa.shared.core.domain import Domain

    # as_dict() is the dict Rasa sends the action server, typed there as a plain dict.
    return cast(DomainDict, Domain.load(str(ROOT / "domain.yml")).as_dict())


@pytest.fixture()
def dispatcher() -> CollectingDispatcher:
    """Collects what an action sends."""
    return CollectingDispatcher()


@pytest.fixture()
def make_tracker() -> TrackerFactory:
    """Builds a Tracker from the JSON fixture, overriding what a test needs."""

    def build(
        *,
        text: str = "hello",
        intent: str = "greet",
        confidence: float = 0.99,
        entities: Optional[List[Dict[str, Any]]] = None,
        metadata: Optional[Dict[str, Any]] = None,
        detection: Optional[Dict[str, Any]] = None,
        ranking: Optional[List[Dict[str, Any]]] = None,
        sender_id: Optional[str] = None,
        active_loop: Optional[str] = None,
        **slots: Any,
    ) -> Tracker:
        state = copy.deepcopy(BASE_TRACKER)
        state["slots"].update(slots)
        latest = state["latest_message"]
        latest.update(
            text=text,
            intent={"name": intent, "confidence": confidence},
            intent_ranking=ranking or [{"name": intent, "confidence": confidence}],
            entities=entities or [],
            metadata=metadata or {},
        )
        if detection is not None:
            latest["language_detection"] = detection
        return Tracker(
            sender_id or state["sender_id"],
            state["slots"],
            latest,
            state["events"],
            state["paused"],
            state["followup_action"],
            {"name": active_loop} if active_loop else {},
            state["latest_action_name"],
        )

    return build
