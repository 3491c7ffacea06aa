"""What Redis holds in the deployed configuration: reports sealed, erasure real.

Rasa keeps conversations in Redis here (``SealedRedisTrackerStore``), the action server the
cases, the gateway inboxes, addresses and queues. Every key of every database is read
(``scan.py``), Rasa's included, with and without the data key.
"""

from __future__ import annotations

import secrets

from contract.sealing import Sealer
from dev.chat import Phone
from dev.topology import Topology
from tests.production import scan
from tests.production.conftest import file_report, record, texts


def test_no_report_narrative_in_clear_anywhere_in_redis(topology: Topology, phone: Phone) -> None:
    marker = f"zarqon{secrets.token_hex(4)}"  # a word nobody else writes
    place = f"Mandi{secrets.token_hex(3)}"
    narrative = f"the agent {marker} took money from six boys and sent them to Libya by boat"
    reference = file_report(phone, narrative, place)
    assert marker in phone.staff_until(reference)  # staff read it from the sealed case

    sealer = Sealer(topology.keys["RAHNUMA_DATA_KEY"])
    url = topology.redis_url
    assert scan.find(url, sealer, [marker, place], opened=False) == []
    holders = scan.find(url, sealer, [marker], opened=True)
    assert any(":tracker:" in key for key in holders), holders  # Rasa's copy, sealed
    assert any("case" in key for key in holders), holders  # the case staff open
    families = scan.summary(url, sealer)
    record("redis-scan", {"reference_filed": reference, "families": families})
    trackers = [name for name in families if ":tracker:" in name]
    assert trackers and all(set(families[name]) == {"keys", "sealed"} for name in trackers)
    [cases] = [name for name in families if name.endswith(":case:*")]
    assert families[cases]["sealed"] == ["body"], families[cases]


def test_delete_my_data_leaves_no_word_of_the_user_in_any_redis_key(
    topology: Topology, phone: Phone
) -> None:
    marker = f"quenvil{secrets.token_hex(4)}"
    phone.telegram("hello")
    phone.telegram(f"my cousin {marker} wants to work in Italy, how can he go legally?")
    sealer = Sealer(topology.keys["RAHNUMA_DATA_KEY"])
    before = scan.find(topology.redis_url, sealer, [marker], opened=True)
    assert any(":tracker:" in key for key in before), before  # Rasa did keep it, sealed

    phone.telegram("please delete all my data")
    confirmed = texts(phone.telegram("yes"))
    assert confirmed

    after = scan.find(topology.redis_url, sealer, [marker], opened=True)
    record("erasure", {"keys_with_the_word_before": before, "after": after})
    assert after == []
