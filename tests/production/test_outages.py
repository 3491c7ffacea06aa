"""Outages of the stores and workers: Redis restarted from its append-only file under load,
the hotline relays killed. Figures go to results/production/<test>.json."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any, Dict, List

import httpx
import redis
from cryptography.fernet import Fernet

from bot.texts import text
from contract.keys import Keys
from contract.languages import ENGLISH
from contract.sealing import Sealer
from dev.chat import Phone
from dev.topology import Topology
from tests.production.conftest import RESULTS, file_report, record, texts
from tests.production.users import (
    baseline,
    heard,
    references,
    run_users,
    script,
    settle,
    tally,
)

USERS = 10
OUTAGE_SMS = 5


def readiness(topology: Topology) -> List[Dict[str, Any]]:
    """Each gateway's /readyz body."""
    return [httpx.get(f"{url}/readyz", timeout=5).json() for url in topology.gateway_urls]


def cards_for(phone: Phone, reference: str) -> int:
    """How many report cards for ``reference`` reached the staff chat."""
    card = re.compile(rf"^Report {reference} · ", re.MULTILINE)
    return sum(1 for m in phone._staff_sent() if card.search(m["text"]))


def test_redis_restarted_from_its_aof_under_load_keeps_every_acknowledged_report(
    topology: Topology,
) -> None:
    assert topology.redis is not None
    expected = baseline(topology)
    outage: Dict[str, Any] = {}

    def break_redis() -> None:
        assert topology.redis is not None
        topology.redis.kill()
        outage["killed"] = time.monotonic()
        texters = [Phone(topology.peers_env, topology.gateway_url) for _ in range(OUTAGE_SMS)]
        outage["sms"] = [t.sms("how can I work in Dubai legally") for t in texters]
        for texter in texters:
            texter.close()
        time.sleep(3)
        topology.redis.start()  # same port, same directory: the AOF is read back
        outage["seconds"] = round(time.monotonic() - outage["killed"], 1)

    phones = run_users(topology, USERS, break_redis, at=6.0, wait=120)
    try:
        settle(phones, len(expected))
        acknowledged = [r for phone in phones for r in set(references(phone))]
        store = redis.Redis.from_url(topology.redis_url)
        stored = [r for r in acknowledged if store.exists(Keys("rahnuma").case(r))]
        store.close()
        delivered = {r: 0 for r in acknowledged}
        if acknowledged:
            phones[0].staff_until(acknowledged[-1], timeout=60)
            delivered = {r: cards_for(phones[0], r) for r in acknowledged}
        send_again = text("sms_send_again", ENGLISH)
        answered_sms = sum(1 for bodies in outage["sms"] if bodies == [send_again])
        figures = {
            "outage_seconds": outage.get("seconds"),
            "messages": tally(phones, USERS * len(script("x")), expected),
            "reports": {
                "acknowledged": len(acknowledged),
                "stored_after_restart": len(stored),
                "delivered": sum(1 for n in delivered.values() if n >= 1),
                "duplicated": sum(n - 1 for n in delivered.values() if n > 1),
            },
            "sms_during_outage": {
                "sent": OUTAGE_SMS,
                "answered_send_again": answered_sms,
            },
        }
        figures["conversations_unlike_the_baseline"] = [
            {"heard": heard(p)} for p in phones if heard(p) != expected
        ]
        record("redis-restarted", figures)
        assert answered_sms == OUTAGE_SMS, outage["sms"]
        assert stored == acknowledged
        assert all(n == 1 for n in delivered.values()), delivered
        for phone in phones:  # every conversation reached its end: nothing was dropped
            assert texts(phone._telegram_sent()).endswith(expected[-1])
    finally:
        for phone in phones:
            phone.close()


def test_killed_relays_turn_readyz_red_raise_an_alert_and_deliver_once_restarted(
    topology: Topology, phone: Phone
) -> None:
    relays = topology.services["relay"]
    assert all(body["relay_ok"] for body in readiness(topology))
    log = RESULTS / "stack.log"
    logged_before = log.read_text(encoding="utf-8").count("no hotline relay is running")
    for relay in relays:
        topology.stack.kill(relay)
    killed = time.monotonic()
    try:
        while any(body["relay_ok"] for body in readiness(topology)):
            assert time.monotonic() - killed < 30, readiness(topology)
            time.sleep(0.5)
        noticed = round(time.monotonic() - killed, 1)
        status = httpx.get(topology.gateway_url + "/readyz", timeout=5).status_code
        alerts = log.read_text(encoding="utf-8").count("no hotline relay is running")
        reference = file_report(phone, f"agent {secrets.token_hex(4)} kept our passports", "Kasur")
    finally:
        for relay in relays:
            topology.stack.restart(relay)
    phone.staff_until(reference, timeout=60)
    time.sleep(3)  # a second delivery would come now
    cards = cards_for(phone, reference)
    record(
        "relay-killed",
        {"unready_after_seconds": noticed, "alerts_logged": alerts - logged_before, "cards": cards},
    )
    assert status == 503
    assert alerts > logged_before
    assert cards == 1


def test_a_case_no_relay_can_open_is_set_aside_and_the_reports_behind_it_reach_staff(
    topology: Topology, phone: Phone
) -> None:
    store: Any = redis.Redis.from_url(topology.redis_url)  # untyped: redis-py's allow str too
    keys = Keys("rahnuma")
    stranger = Sealer(Fernet.generate_key().decode())  # a key this deployment does not have
    poison = "R-POISON"
    store.hset(
        keys.case(poison),
        mapping={
            "reference": poison,
            "status": "open",
            "body": stranger.seal("{}"),
            "created": time.time(),
        },
    )
    store.xadd(keys.reports, {"reference": poison})
    store.xadd(keys.outbox, {"junk": "no addressee"})  # an entry no gateway can send
    try:
        reference = file_report(phone, f"agent {secrets.token_hex(3)} sold visas", "Multan")
        seen = phone.staff_until(reference)
        needle = f"report {poison} cannot be opened"  # the alert may come before the card
        alert = seen if needle in seen else phone.staff_until(needle, timeout=30)
        dead = [fields[b"reference"].decode() for _, fields in store.xrange(keys.reports_dead)]
        replies_dead = store.xlen(keys.outbox_dead)
    finally:
        store.delete(keys.case(poison))
        store.close()
    record("poison", {"reports_dead_letter": dead, "replies_dead_letter": replies_dead})
    assert poison in dead and replies_dead >= 1
    assert "RAHNUMA_DATA_KEY" in alert and reference in seen
