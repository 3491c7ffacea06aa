"""The production topology (``dev/topology.py``), started once for these tests.

``docker-compose.yml``'s services as local processes: Redis with a password and an AOF
fsynced on every write, the action server, two Rasa processes on ``endpoints.redis.yml``,
two gateways behind a balancer, the relays, the local Telegram/Twilio peers. Fresh keys
each run. The tests break it on purpose (kill a Rasa, stop the action server, restart
Redis) and check what users and staff receive, and what Redis holds. Run in ``.venv-bot``
by ``make test-production`` (part of ``make test``); the log is results/production/stack.log.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Dict, List

import pytest

from dev.chat import HOLDING, Phone
from dev.serve import Supervisor, interrupt
from dev.topology import Topology, fresh_secrets, start
from tests.conftest import ROOT

RESULTS = ROOT / "results/production"
# Shorter than the defaults, so that a silent relay is noticed within the test's patience.
TIMINGS = {"RELAY_HEARTBEAT_SECONDS": "2", "RELAY_STALE_SECONDS": "10"}


@pytest.fixture(scope="session")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """The running topology (about a minute to start: two Rasa processes load the model)."""
    if not (ROOT / "models/rahnuma.tar.gz").exists():
        pytest.fail("no trained model: run these through `make test-production`")
    RESULTS.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, interrupt)  # a killed run still stops what it started
    with (RESULTS / "stack.log").open("w", encoding="utf-8") as sink:
        stack = Supervisor(sink)
        running = start(
            stack, fresh_secrets(), redis_dir=tmp_path_factory.mktemp("redis"), overrides=TIMINGS
        )
        try:
            running.wait_ready()
            yield running
        finally:
            running.stop()


@pytest.fixture
def phone(topology: Topology) -> Iterator[Phone]:
    """A new user on both channels, talking to the gateways through the balancer."""
    phone = Phone(topology.peers_env, topology.gateway_url, wait=90)
    yield phone
    phone.close()


def texts(messages: List[Dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


def answers(messages: List[Dict[str, Any]]) -> List[str]:
    """Telegram message texts, holding messages left out."""
    return [m["text"] for m in messages if m["text"] not in HOLDING]


def file_report(phone: Phone, narrative: str, place: str) -> str:
    """Files a report through the menu, as a Telegram user would; returns its reference."""
    phone.telegram("/menu")
    payloads = [b["callback_data"] for b in phone._buttons]
    phone.telegram(str(1 + payloads.index("/report_trafficking")))
    phone.telegram("1")  # yes, continue
    phone.telegram(narrative)
    phone.telegram(place)
    phone.telegram("2")  # nobody in danger right now
    saved = texts(phone.telegram("1"))  # staff may contact me here
    found = re.search(r"R-[0-9A-Z]{6}", saved)
    assert found, saved
    return found.group(0)


def record(name: str, figures: Dict[str, Any]) -> Path:
    """Writes a test's measured figures to results/production/<name>.json (for the notes)."""
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
