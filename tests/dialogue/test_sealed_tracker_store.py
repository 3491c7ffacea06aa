"""The production tracker store, against a real Redis: sealed at rest, erasure that holds,
and ``endpoints.redis.yml`` read by Rasa as a deployment gives it."""

from __future__ import annotations

import uuid
from typing import Any, Dict, Iterator, List
from urllib.parse import urlparse

import pytest
import redis
from cryptography.fernet import Fernet
from rasa.core.lock_store import LockStore, RedisLockStore
from rasa.core.tracker_store import TrackerStore
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    AllSlotsReset,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException

from dialogue.tracker_store import SealedRedisTrackerStore
from tests.conftest import REDIS_URL, ROOT

DOMAIN = Domain.load(str(ROOT / "domain.yml"))
SERVER = urlparse(REDIS_URL)
DB = int((SERVER.path or "/0").lstrip("/") or 0)
REPORT = "the agent in Gujrat took my passport and locked us in a house"


@pytest.fixture
def data_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("RAHNUMA_DATA_KEY", key)
    return key


@pytest.fixture
def raw() -> Iterator[redis.Redis]:
    client = redis.Redis(host=SERVER.hostname, port=SERVER.port or 6379, db=DB)
    yield client
    client.close()


@pytest.fixture
def store(data_key: str, raw: redis.Redis) -> Iterator[SealedRedisTrackerStore]:
    prefix = "t" + uuid.uuid4().hex[:12]
    yield SealedRedisTrackerStore(
        DOMAIN,
        host=SERVER.hostname,
        port=SERVER.port or 6379,
        db=DB,
        key_prefix=prefix,
        record_exp=600,
    )
    for key in raw.scan_iter(f"{prefix}:*"):
        raw.delete(key)


def conversation(sender: str, *events: Event) -> DialogueStateTracker:
    opening: List[Event] = [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered(REPORT, {"name": "report_trafficking", "confidence": 0.97}),
        BotUttered("Your report has been saved."),
        SlotSet("report_description", REPORT),
        SlotSet("report_location", "Gujrat"),
    ]
    return DialogueStateTracker.from_events(sender, opening + list(events), slots=DOMAIN.slots)


def everything_in_redis(raw: redis.Redis, prefix: str) -> bytes:
    return b"".join(raw.get(key) or b"" for key in raw.scan_iter(f"{prefix}:*"))


async def test_a_conversation_is_sealed_at_rest_and_reads_back(
    store: SealedRedisTrackerStore, raw: redis.Redis
) -> None:
    await store.save(conversation("user-a"))
    stored = everything_in_redis(raw, store.key_prefix.split(":")[0])
    assert stored, "nothing was written"
    for word in (b"passport", b"Gujrat", b"report_trafficking", b"report_description"):
        assert word not in stored
    back = await store.retrieve("user-a")
    assert back is not None
    assert back.get_slot("report_description") == REPORT
    assert 0 < (raw.ttl(store.key_prefix + "user-a") or 0) <= 600


async def test_erasure_holds_although_rasa_merges_the_stored_conversation(
    store: SealedRedisTrackerStore, raw: redis.Redis
) -> None:
    await store.save(conversation("user-b"))
    tracker = await store.retrieve("user-b")
    assert tracker is not None
    for event in (
        UserUttered("delete my data", {"name": "delete_my_data"}),
        AllSlotsReset(),
        SlotSet("data_erased", True),
        BotUttered("Your data has been deleted."),
        ActionExecuted("action_listen"),
    ):
        tracker.update(event)
    await store.save(tracker)
    after = await store.retrieve_full_tracker("user-b")
    assert after is not None
    texts = str([event.as_dict() for event in after.events])
    assert "passport" not in texts and "Gujrat" not in texts
    assert after.get_slot("report_description") is None
    # And on the next message (Rasa saves again, merging with what is stored):
    after.update(UserUttered("hello", {"name": "greet"}))
    await store.save(after)
    again = await store.retrieve_full_tracker("user-b")
    assert again is not None and "passport" not in str([e.as_dict() for e in again.events])


async def test_earlier_sessions_are_kept_without_erasure(store: SealedRedisTrackerStore) -> None:
    await store.save(conversation("user-c"))
    latest = await store.retrieve("user-c")
    assert latest is not None
    for event in (ActionExecuted("action_session_start"), SessionStarted()):
        latest.update(event)
    latest.update(UserUttered("thanks", {"name": "thank"}))
    await store.save(latest)
    full = await store.retrieve_full_tracker("user-c")
    assert full is not None
    texts = [e.text for e in full.events if isinstance(e, UserUttered)]
    assert texts == [REPORT, "thanks"]


async def test_a_conversation_sealed_with_a_removed_key_reads_as_new(
    store: SealedRedisTrackerStore, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.save(conversation("user-d"))
    monkeypatch.setenv("RAHNUMA_DATA_KEY", Fernet.generate_key().decode())
    rotated = SealedRedisTrackerStore(
        DOMAIN,
        host=SERVER.hostname,
        port=SERVER.port or 6379,
        db=DB,
        key_prefix=store.key_prefix.split(":")[0],
    )
    assert await rotated.retrieve("user-d") is None
    raw.set(store.key_prefix + "user-e", b'{"events": []}')  # written unsealed
    assert await rotated.retrieve("user-e") is None


def test_no_data_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAHNUMA_DATA_KEY", raising=False)
    with pytest.raises(RasaException, match="RAHNUMA_DATA_KEY"):
        SealedRedisTrackerStore(DOMAIN, host=SERVER.hostname, port=SERVER.port or 6379)


def test_a_prefix_rasa_would_drop_is_a_clear_error(data_key: str) -> None:
    with pytest.raises(RasaException, match="letters and digits"):
        SealedRedisTrackerStore(DOMAIN, host=SERVER.hostname, key_prefix="rahnuma:tracker")


def production_environment(monkeypatch: pytest.MonkeyPatch) -> Dict[str, Any]:
    values = {
        "ACTION_SERVER_URL": "http://actions:5055",
        "REDIS_HOST": str(SERVER.hostname),
        "REDIS_PORT": str(SERVER.port or 6379),
        "REDIS_PASSWORD": "",
        "RAHNUMA_DATA_KEY": Fernet.generate_key().decode(),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


async def test_rasa_reads_the_shipped_production_endpoints(
    monkeypatch: pytest.MonkeyPatch, raw: redis.Redis
) -> None:
    values = production_environment(monkeypatch)
    endpoints = AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.redis.yml"))
    assert endpoints.action is not None
    assert endpoints.action.url == "http://actions:5055/webhook"
    assert endpoints.tracker_store is not None and endpoints.lock_store is not None
    assert endpoints.tracker_store.url == values["REDIS_HOST"]
    assert int(endpoints.tracker_store.kwargs["port"]) == int(values["REDIS_PORT"])
    store = TrackerStore.create(endpoints.tracker_store, DOMAIN)
    assert isinstance(store, SealedRedisTrackerStore)
    assert store.key_prefix == "rahnuma:tracker:"
    sender = "endpoints-" + uuid.uuid4().hex
    try:
        await store.save(conversation(sender))
        assert await store.retrieve(sender) is not None
    finally:
        raw.delete(store.key_prefix + sender)
    locks = LockStore.create(endpoints.lock_store)
    assert isinstance(locks, RedisLockStore)
    assert locks.key_prefix == "rahnuma:lock:"


def test_rasa_refuses_to_start_without_the_redis_password_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    production_environment(monkeypatch)
    monkeypatch.delenv("REDIS_PASSWORD")
    with pytest.raises(Exception, match="REDIS_PASSWORD"):
        AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.redis.yml"))
