"""Many users talking to the production topology at once, and what they heard.

Each user types the same report conversation (``script``); what one user hears with nothing
broken (``baseline``) is what every user should hear whatever breaks, references aside.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List

from dev.chat import Phone
from dev.topology import Topology
from tests.production.conftest import answers

REFERENCE = re.compile(r"R-[0-9A-Z]{6}")


def script(marker: str) -> List[str]:
    """One user's conversation, typed (no button numbers: a late answer moves the buttons)."""
    return [
        "hello",
        "I want to report trafficking",
        "yes",
        f"agent {marker} took money from four boys and sent them to Iran by road",
        "Sialkot",
        "no",
        "yes",
        "thank you",
    ]


def normal(answer: str) -> str:
    return REFERENCE.sub("R-XXXXXX", answer)


def everything_sent(phone: Phone) -> List[str]:
    """All the texts the bot sent to this user, in order, holding messages left out."""
    return answers(phone._telegram_sent())


def heard(phone: Phone) -> List[str]:
    """What this user heard, as the baseline is written (references masked)."""
    return [normal(answer) for answer in everything_sent(phone)]


def talk(phone: Phone, messages: List[str]) -> None:
    for message in messages:
        phone.telegram(message, patience=20)


def settle(phones: List[Phone], expected: int, timeout: float = 90.0) -> None:
    """Waits until each phone has ``expected`` answers (or the time is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(len(everything_sent(p)) >= expected for p in phones):
            time.sleep(3)  # a duplicate would arrive now
            return
        time.sleep(1)


def tally(phones: List[Phone], sent: int, baseline: List[str]) -> Dict[str, int]:
    """What the users heard against the fault-free baseline: bot messages expected and
    received, missing and repeated, and conversations exactly as without the fault."""
    heard_by = [heard(phone) for phone in phones]
    return {
        "user_messages_sent": sent,
        "answers_expected": len(baseline) * len(phones),
        "answers_received": sum(len(got) for got in heard_by),
        "answers_missing": sum(max(0, len(baseline) - len(got)) for got in heard_by),
        "answers_repeated": sum(max(0, len(got) - len(baseline)) for got in heard_by),
        "conversations_as_without_the_fault": sum(got == baseline for got in heard_by),
    }


def run_users(
    topology: Topology, count: int, fault: Callable[[], None], *, at: float, wait: float = 90
) -> List[Phone]:
    """``count`` users each talk through ``script``; ``fault`` runs ``at`` seconds in;
    ``wait``: how long each keeps delivering a message the gateways refuse (as Telegram)."""
    phones = [Phone(topology.peers_env, topology.gateway_url, wait=wait) for _ in range(count)]
    markers = [f"vorlak{secrets.token_hex(4)}" for _ in phones]
    timer = threading.Timer(at, fault)
    timer.start()
    with ThreadPoolExecutor(count) as pool:
        list(pool.map(talk, phones, [script(m) for m in markers]))
    timer.join()
    return phones


def baseline(topology: Topology) -> List[str]:
    """What one user hears for ``script`` with nothing broken."""
    phone = Phone(topology.peers_env, topology.gateway_url, wait=90)
    try:
        talk(phone, script(f"vorlak{secrets.token_hex(4)}"))
        return heard(phone)
    finally:
        phone.close()


def references(phone: Phone) -> List[str]:
    return [r for a in everything_sent(phone) for r in REFERENCE.findall(a)]
