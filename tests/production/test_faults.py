"""Faults in the deployed configuration: a service dies, users keep talking, nothing is lost.

Each test breaks one service of the running topology and checks what every user and the
staff chat received. The figures (messages sent / answered / lost / duplicated, reports
submitted / delivered / duplicated) go to results/production/<test>.json.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List

from bot.texts import text
from contract.languages import ENGLISH
from dev.chat import HOLDING, Phone
from dev.topology import Topology
from tests.production.conftest import answers, record

USERS = 20
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
    heard = [[normal(a) for a in everything_sent(phone)] for phone in phones]
    return {
        "user_messages_sent": sent,
        "answers_expected": len(baseline) * len(phones),
        "answers_received": sum(len(got) for got in heard),
        "answers_missing": sum(max(0, len(baseline) - len(got)) for got in heard),
        "answers_repeated": sum(max(0, len(got) - len(baseline)) for got in heard),
        "conversations_as_without_the_fault": sum(got == baseline for got in heard),
    }


def run_users(
    topology: Topology, count: int, fault: Callable[[], None], *, at: float
) -> List[Phone]:
    """``count`` users each talk through ``script``; ``fault`` runs ``at`` seconds in."""
    phones = [Phone(topology.peers_env, topology.gateway_url, wait=90) for _ in range(count)]
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
        return [normal(a) for a in everything_sent(phone)]
    finally:
        phone.close()


def references(phone: Phone) -> List[str]:
    return [r for a in everything_sent(phone) for r in REFERENCE.findall(a)]


def test_a_rasa_process_killed_mid_conversation_loses_and_repeats_nothing(
    topology: Topology,
) -> None:
    expected = baseline(topology)
    assert len(expected) >= len(script("x")), expected
    rasa = topology.child("rasa", 0)
    phones = run_users(topology, USERS, lambda: topology.stack.kill(rasa), at=4.0)
    try:
        settle(phones, len(expected))
        figures = tally(phones, USERS * len(script("x")), expected)
        filed = [references(p) for p in phones]
        delivered = phones[0].staff_until(filed[-1][0] if filed[-1] else "R-", timeout=60)
        reports = {
            "submitted": sum(len(set(r)) for r in filed),
            "delivered": sum(delivered.count(r[0]) > 0 for r in filed if r),
            "duplicated": sum(len(set(r)) - 1 for r in filed if r),
        }
        record("rasa-killed", {"messages": figures, "reports": reports})
        for phone in phones:
            assert [normal(a) for a in everything_sent(phone)] == expected
        assert reports["submitted"] == USERS and reports["duplicated"] == 0
    finally:
        topology.stack.restart(rasa)
        for phone in phones:
            phone.close()


def test_action_server_down_the_user_is_held_then_answered(
    topology: Topology, phone: Phone
) -> None:
    phone.telegram("hello")
    actions = topology.child("actions")
    topology.stack.kill(actions)
    try:
        held = phone.telegram("which helpline numbers can I call?", patience=30)
        assert [m["text"] for m in held] == [text("holding", ENGLISH)], held
    finally:
        topology.stack.restart(actions)
    later = answers(phone.inbox(patience=120))
    record("actions-killed", {"held": len(held), "answered_after_restart": len(later)})
    assert later, "no answer after the action server came back"
    assert not any(m in HOLDING for m in later)
