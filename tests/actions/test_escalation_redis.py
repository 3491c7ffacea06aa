"""The durable backend: the action server's side of the hotline queue, against real Redis.

``make unit`` runs under ``scripts/with-redis``, which sets RAHNUMA_TEST_REDIS_URL.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from actions import escalation
from actions.escalation import (
    EscalationLimitError,
    EscalationUnavailableError,
    RedisEscalation,
    Report,
)
from actions.report import ActionSubmitReport
from contract.keys import Keys
from contract.reports import ReportStore
from contract.sealing import Sealer
from dev.redis_server import RedisServer
from tests.conftest import REDIS_URL, close

KEY = Fernet.generate_key().decode()


def _report(**overrides: Any) -> Report:
    fields: dict[str, Any] = dict(
        reporter="tg-5e1f",
        language="ur",
        channel="telegram",
        description="ایجنٹ نے پاسپورٹ رکھ لیے",
        location="Tripoli",
        danger_now=True,
        may_contact=True,
    )
    fields.update(overrides)
    return Report(**fields)


async def test_a_submitted_report_is_queued_sealed_and_urgent(prefix: str) -> None:
    backend = RedisEscalation(REDIS_URL, prefix, KEY)
    reference = await backend.submit(_report())
    client = Redis.from_url(REDIS_URL)
    try:
        assert await backend.references_of("tg-5e1f") == [reference]
        stored = await client.hgetall(f"{prefix}:case:{reference}")
        assert "ایجنٹ".encode() not in stored[b"body"] and b"Tripoli" not in stored[b"body"]
        urgent = await client.xrange(f"{prefix}:reports:urgent")
        assert [fields[b"reference"].decode() for _, fields in urgent] == [reference]
        assert await client.xlen(f"{prefix}:reports") == 0
        case = await ReportStore(client, Keys(prefix), Sealer(KEY)).case(reference)
    finally:
        await close(client)
        await backend.close()
    assert case is not None
    assert (case.description, case.location, case.urgent, case.may_contact) == (
        "ایجنٹ نے پاسپورٹ رکھ لیے",
        "Tripoli",
        True,
        True,
    )


async def test_redis_down_means_unavailable_not_saved() -> None:
    backend = RedisEscalation("redis://127.0.0.1:1/0", "nowhere", KEY, patience=0.5)
    try:
        with pytest.raises(EscalationUnavailableError):
            await backend.submit(_report())
    finally:
        await backend.close()


async def test_a_report_waits_out_a_redis_restart_and_is_stored_once(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, password="pw", append_only=True).start()
    backend = RedisEscalation(server.url, "rahnuma", KEY, patience=15)
    try:
        await backend.references_of("tg-5e1f")  # the connection pool is open
        server.kill()
        restart = asyncio.get_running_loop().call_later(1.5, server.start)
        reference = await backend.submit(_report())
        restart.cancel()
        assert await backend.references_of("tg-5e1f") == [reference]
    finally:
        await backend.close()
        server.stop()


async def test_the_daily_limit_holds_in_redis_and_counts_only_the_last_day(prefix: str) -> None:
    backend = RedisEscalation(REDIS_URL, prefix, KEY, limit=2)
    client = Redis.from_url(REDIS_URL)
    try:
        first = await backend.submit(_report())
        await client.hset(f"{prefix}:case:{first}", "created", time.time() - 90_000)
        await backend.submit(_report())
        await backend.submit(_report())
        with pytest.raises(EscalationLimitError):
            await backend.submit(_report())
        assert len(await backend.references_of("tg-5e1f")) == 3
    finally:
        await close(client)
        await backend.close()


async def test_the_form_confirms_only_what_redis_stored(
    make_tracker: Any, domain: Any, dispatcher: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESCALATION_BACKEND", "redis")
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("REDIS_PREFIX", prefix)
    monkeypatch.setenv("RAHNUMA_DATA_KEY", KEY)
    escalation.get_escalation.cache_clear()
    try:
        tracker = make_tracker(
            report_consent=True,
            report_description="They took our passports",
            report_location="Libya",
            report_danger=False,
            report_contact=False,
            language="en",
            channel="sms",
        )
        events = await ActionSubmitReport().run(dispatcher, tracker, domain)
        reference = events[-1]["value"]
        assert await escalation.get_escalation().references_of(tracker.sender_id) == [reference]
        assert dispatcher.messages[0] == {
            **dispatcher.messages[0],
            "response": "utter_report_submitted",
            "reference": reference,
        }
    finally:
        backend = escalation.get_escalation()
        assert isinstance(backend, RedisEscalation)
        await backend.close()
        escalation.get_escalation.cache_clear()


def test_the_redis_backend_needs_the_data_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESCALATION_BACKEND", "redis")
    monkeypatch.delenv("RAHNUMA_DATA_KEY", raising=False)
    escalation.get_escalation.cache_clear()
    try:
        with pytest.raises(escalation.EscalationError, match="RAHNUMA_DATA_KEY"):
            escalation.get_escalation()
    finally:
        escalation.get_escalation.cache_clear()
