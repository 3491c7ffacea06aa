"""Tracker stores that honour a user's request to delete their conversation.

``action_delete_my_data`` sets the ``data_erased`` slot. On every save these
stores keep only the events from the latest such marker on, so the earlier
conversation is gone from storage (the in-memory store for the embedded
default, Redis for deployments with several Rasa processes).

The Redis store also seals every conversation with ``RAHNUMA_DATA_KEY``
(``contract/sealing.py``, Fernet): a conversation holds the user's messages
and a report's description and location, which must not sit in clear in
Redis for the 30 days a conversation is kept. And it does not let Rasa undo an
erasure: Rasa 3.6's ``RedisTrackerStore.save`` merges the stored conversation
back into the one it saves (to keep earlier sessions), which would restore
every erased event; here what that merge returns is pruned again.

Never logs events or message text.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, List, Optional, Union

from rasa.core.tracker_store import InMemoryTrackerStore, RedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SlotSet
from rasa.shared.core.slots import Slot
from rasa.shared.core.trackers import (
    DialogueStateTracker,
    get_trackers_for_conversation_sessions,
)
from rasa.shared.exceptions import RasaException

from contract.sealing import InvalidToken, Sealer

logger = logging.getLogger(__name__)

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


class SealedRedisTrackerStore(RedisTrackerStore):
    """The Redis store (shared by several Rasa processes): sealed, with erasure on request.

    Configured in ``endpoints.redis.yml``; the key is ``<key_prefix>:tracker:<sender>``
    (Rasa's naming; the prefix must be letters and digits). Needs ``RAHNUMA_DATA_KEY``.
    """

    def __init__(self, domain: Domain, **kwargs: Any) -> None:
        keys = os.environ.get("RAHNUMA_DATA_KEY", "").strip()
        if not keys:
            raise RasaException(
                "SealedRedisTrackerStore needs RAHNUMA_DATA_KEY (the same Fernet key(s) as "
                "the gateway and the action server): conversations are sealed at rest"
            )
        prefix = kwargs.get("key_prefix")
        if prefix is not None and not str(prefix).isalnum():
            raise RasaException(
                f"tracker_store key_prefix {prefix!r}: Rasa accepts only letters and digits "
                "(it would silently use 'tracker:' instead)"
            )
        self._sealer = Sealer(keys)
        super().__init__(domain, **kwargs)

    def serialise_tracker(self, tracker: DialogueStateTracker) -> str:  # type: ignore[override]
        """The conversation as Rasa serialises it, sealed."""
        return self._sealer.seal(json.dumps(tracker.as_dialogue().as_dict())).decode("ascii")

    def deserialise_tracker(
        self, sender_id: str, serialised_tracker: Union[str, bytes]
    ) -> Optional[DialogueStateTracker]:
        """Opens a sealed conversation; one that cannot be opened (a key removed from
        ``RAHNUMA_DATA_KEY``, or not sealed) is treated as absent, never as an error."""
        token = (
            serialised_tracker.encode("ascii")
            if isinstance(serialised_tracker, str)
            else serialised_tracker
        )
        try:
            opened = self._sealer.open(token)
        except (InvalidToken, UnicodeEncodeError):
            logger.warning("a stored conversation could not be opened: starting it afresh")
            return None
        return super().deserialise_tracker(sender_id, opened)

    async def _retrieve(
        self, sender_id: str, fetch_all_sessions: bool
    ) -> Optional[DialogueStateTracker]:
        """Rasa's ``_retrieve``, for a conversation that may not open (then: none)."""
        stored = self.red.get(self.key_prefix + sender_id)
        tracker = None if stored is None else self.deserialise_tracker(sender_id, stored)
        if tracker is None or fetch_all_sessions:
            return tracker
        sessions = get_trackers_for_conversation_sessions(tracker)
        return sessions[-1] if len(sessions) > 1 else tracker

    async def save(self, tracker: DialogueStateTracker, timeout: Any = None) -> None:
        """Saves the tracker sealed, without the erased part; ``record_exp`` still applies."""
        await super().save(without_erased(tracker, self.domain.slots), timeout)

    def _merge_trackers(  # type: ignore[override]
        self, prior_tracker: Optional[DialogueStateTracker], tracker: DialogueStateTracker
    ) -> DialogueStateTracker:
        """Rasa's merge of the stored conversation (earlier sessions) into the one being
        saved, pruned again: the stored part holds what an erasure removed. A stored
        conversation that cannot be opened is not merged."""
        if prior_tracker is None:
            return tracker
        merged = RedisTrackerStore._merge_trackers(prior_tracker, tracker)
        return without_erased(merged, self.domain.slots)
