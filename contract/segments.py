"""SMS segment arithmetic, as the carriers bill it.

A message is GSM-7 when every character is in the GSM 03.38 basic set or its
extension table (extension characters ``^{}[]~|\\€`` and form feed cost two
septets). One character outside it (any Urdu letter, most emoji) makes the
whole message UCS-2, counted in UTF-16 code units. Single messages hold 160
septets / 70 units; split messages 153 / 67 per part. Twilio refuses bodies
over 1600 characters.

Part of the contract (``contract/__init__.py``): the Rasa environment's
content tests check the SMS short forms with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

Encoding = Literal["GSM-7", "UCS-2"]
GSM7: Encoding = "GSM-7"
UCS2: Encoding = "UCS-2"


@dataclass(frozen=True)
class SegmentCount:
    """How an SMS body is encoded and billed."""

    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm7(text: str) -> bool:
    """True when every character can be sent in GSM-7."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def count(text: str) -> SegmentCount:
    """The encoding, length in units and number of billed segments of ``text``."""
    if is_gsm7(text):
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        single, part = 160, 153
        encoding = GSM7
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
        encoding = UCS2
    if units == 0:
        return SegmentCount(encoding, 0, 0)
    segments = 1 if units <= single else -(-units // part)
    return SegmentCount(encoding, units, segments)


def segments(text: str) -> int:
    """Billed segments for one SMS body."""
    return count(text).segments
