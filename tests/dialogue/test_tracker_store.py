"""Erasure on request: nothing before the erase marker is stored."""

from __future__ import annotations

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, AllSlotsReset, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from dialogue.tracker_store import ErasingInMemoryTrackerStore
from tests.conftest import ROOT


def _store() -> ErasingInMemoryTrackerStore:
    return ErasingInMemoryTrackerStore(domain=Domain.load(str(ROOT / "domain.yml")))


def _conversation(domain_slots) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(
        "user-1",
        [
            ActionExecuted("action_listen"),
            UserUttered("my agent took my passport", {"name": "report_trafficking"}),
            BotUttered("Before you tell me anything..."),
            SlotSet("report_description", "my agent took my passport"),
        ],
        slots=domain_slots,
    )


async def test_conversation_is_stored_until_erasure_is_asked() -> None:
    store = _store()
    tracker = _conversation(store.domain.slots)
    await store.save(tracker)
    saved = await store.retrieve("user-1")
    assert saved is not None and len(saved.events) == 4


async def test_everything_before_the_marker_is_gone_from_storage() -> None:
    store = _store()
    tracker = _conversation(store.domain.slots)
    for event in [
        UserUttered("yes", {"name": "affirm"}),
        AllSlotsReset(),
        SlotSet("data_erased", True),
        SlotSet("language", "ur"),
        ActionExecuted("action_listen"),
    ]:
        tracker.update(event)
    await store.save(tracker)
    saved = await store.retrieve("user-1")
    assert saved is not None
    assert [type(e).__name__ for e in saved.events] == ["SlotSet", "SlotSet", "ActionExecuted"]
    assert saved.get_slot("report_description") is None
    assert saved.get_slot("language") == "ur"
    assert "passport" not in str([e.as_dict() for e in saved.events])
