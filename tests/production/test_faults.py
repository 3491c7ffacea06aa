"""Faults in the deployed configuration: a service dies, users keep talking, nothing is lost.

Each test breaks one service of the running topology and checks what every user and the
staff chat received. The figures (messages sent / answered / lost / duplicated, reports
submitted / delivered / duplicated) go to results/production/<test>.json.
"""

from __future__ import annotations

from bot.texts import text
from contract.languages import ENGLISH
from dev.chat import HOLDING, Phone
from dev.topology import Topology
from tests.production.conftest import answers, record
from tests.production.users import (
    baseline,
    heard,
    references,
    run_users,
    script,
    settle,
    tally,
)

USERS = 20


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
            assert heard(phone) == expected
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
