"""Tracker stores that honour a user's request to delete their conversation.

``action_delete_my_data`` sets the ``data_erased`` slot. On every save these
stores keep only the events from the latest such marker on, so the earlier
conversation is gone from storage (the in-memory store for the embedded
default, Redis for deployments with several Rasa processes).

Never logs events or message text.
"""

from __future__ import annotations

from typing import Any, List

from rasa.core.tracker_store import InMemoryTrackerStore, RedisTrackerStore
from rasa.shared.core.events import Event, SlotSet
from rasa.shared.core.slots import Slot
from rasa.shared.core.trackers import DialogueStateTracker

ERASE_SLOT = "data_erased"


def erased_events(events: List[Event]) -> List[Event]:
    """The events left after the latest erase marker (all of them if none)."""
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if isinstance(event, SlotSet) and event.key == ERASE_SLOT and event.value:
            return events[index:]
    return events


def without_erased(tracker: DialogueStateTracker, slots: List[Slot]) -> DialogueStateTracker:
    """The tracker to persist: unchanged unless an erase marker is present."""
    events = list(tracker.events)
    kept = erased_events(events)
    if len(kept) == len(events):
        return tracker
    return DialogueStateTracker.from_events(
        tracker.sender_id,
        kept,
        slots=slots,
        max_event_history=tracker._max_event_history,
    )


class ErasingInMemoryTrackerStore(InMemoryTrackerStore):
    """The in-memory store (embedded default) with erasure on request."""

    def __init__(self, host: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Saves the tracker without the erased part."""
        await super().save(without_erased(tracker, self.domain.slots))


class ErasingRedisTrackerStore(RedisTrackerStore):
    """The Redis store (shared by several Rasa processes) with erasure on request."""

    async def save(self, tracker: DialogueStateTracker, timeout: Any = None) -> None:
        """Saves the tracker without the erased part; ``record_exp`` still applies."""
        await super().save(without_erased(tracker, self.domain.slots), timeout)
