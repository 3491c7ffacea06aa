"""What staff receive about a report (``bot/hotline/cards.py``): the SMS short form."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.hotline.cards import sms_card
from contract.channels import Channel
from contract.reports import Case, Status
from contract.segments import GSM7, count

REPORTER = "tg-abc"
DESCRIPTION = (
    "The agent in Gujranwala took my passport and 5 lakh rupees for a work visa to Dubai. "
    "Now he wants 3 lakh more before he gives anything back, and four men from our village "
    "paid him too. He threatens us when we ask for the money."
)


def case(**overrides: Any) -> Case:
    """A report as staff see it; ``overrides`` change what a test is about."""
    fields: dict[str, Any] = {
        "reference": "R-7K2M9Q",
        "status": Status.OPEN,
        "urgent": False,
        "language": "en",
        "channel": Channel.TELEGRAM,
        "reporter": REPORTER,
        "may_contact": True,
        "description": DESCRIPTION,
        "location": "Lahore",
        "created": time.time(),
    }
    fields.update(overrides)
    return Case(**fields)


@pytest.mark.parametrize(
    ("description", "location"),
    [
        (DESCRIPTION * 3, "Lahore"),
        ("ایجنٹ نے میرا پاسپورٹ رکھ لیا اور مزید پیسے مانگ رہا ہے۔ " * 8, "لاہور"),
        (DESCRIPTION, "گوجرانوالہ کینٹ میں بس اڈے کے پیچھے والی گلی، سبز دروازے والا گھر، " * 3),
    ],
    ids=["long-english", "long-urdu", "long-urdu-location"],
)
def test_the_sms_short_form_stays_within_two_segments(description: str, location: str) -> None:
    body = sms_card(
        case(
            urgent=True,
            language="ur",
            channel=Channel.SMS,
            may_contact=False,
            description=description,
            location=location[:200],
        )
    )
    assert count(body).segments <= 2
    assert body.startswith("RAHNUMA URGENT R-7K2M9Q (sms, ur). Where: ")
    assert "Contact: NO." in body
    assert body.endswith(" Reply CLAIM R-7K2M9Q")


def test_an_english_sms_short_form_uses_both_gsm_segments() -> None:
    # One character outside GSM-7 would make the SMS UCS-2: 134 characters instead of 306.
    body = sms_card(case(description=DESCRIPTION * 3))
    assert count(body).encoding == GSM7
    assert count(body).segments == 2
    assert DESCRIPTION[:200] in body
