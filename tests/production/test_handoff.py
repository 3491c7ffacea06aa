"""A reporter talking to hotline staff, on the deployed topology: danger is seen by the trained
model (``POST /webhooks/rest/parse``) and reaches every staff member at once."""

from __future__ import annotations

import secrets

from bot.texts import text
from contract.languages import ENGLISH
from dev.chat import Phone
from dev.topology import Topology
from tests.production.conftest import file_report, record, texts


def test_they_are_beating_me_during_a_handoff_reaches_all_staff_as_urgent(
    topology: Topology, phone: Phone
) -> None:
    reference = file_report(phone, f"agent {secrets.token_hex(3)} took our passports", "Lahore")
    phone.staff_until(reference)
    assert f"{reference} is yours" in texts(phone.staff(f"/claim {reference}"))
    phone.inbox()  # the reporter is told who has the case

    calm = texts(phone.telegram("They are in Tripoli now"))
    assert calm == text("hotline_forwarded", ENGLISH, reference=reference)
    alarmed = texts(phone.telegram("help, they are beating me"))
    assert alarmed == text("hotline_forwarded_urgent", ENGLISH, reference=reference)
    staff = phone.staff_until(f"URGENT · {reference}: the reporter may be in danger")
    record("handoff-danger", {"calm_forwarded": calm != "", "urgent_alert_in_staff_chat": True})
    assert "help, they are beating me" in staff
    assert f"💬 {reference} · the reporter writes:\nThey are in Tripoli now" in staff
