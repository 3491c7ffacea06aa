"""Latin text and numbers inside Urdu (right-to-left) text.

A reference such as ``R-7K2M9Q``, a phone number or an English word placed in
an Urdu sentence must keep its own direction and order. It is wrapped in a
FIRST STRONG ISOLATE ... POP DIRECTIONAL ISOLATE pair (Unicode 6.3): the
isolate takes the direction of its first strong character, and a run with
none (digits, ``111-247-786``) is laid out left to right, so one function
serves numbers and words alike.
"""

from __future__ import annotations

FSI = "\u2068"  # FIRST STRONG ISOLATE
PDI = "\u2069"  # POP DIRECTIONAL ISOLATE
# Invisible characters that only steer direction: a message made of them alone is empty.
DIRECTION_MARKS = frozenset(
    "\u200e\u200f\u061c"  # LRM, RLM, ARABIC LETTER MARK
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # isolates
)


def isolate(value: str) -> str:
    """``value`` wrapped so that it keeps its own direction inside right-to-left text."""
    return f"{FSI}{value}{PDI}"


def without_marks(text: str) -> str:
    """``text`` without direction marks (to see whether anything visible is left)."""
    return "".join(c for c in text if c not in DIRECTION_MARKS)
