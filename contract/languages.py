"""The three languages Rahnuma speaks, as codes every part of the system uses.

``en`` English, ``ur`` Urdu in Urdu script, ``ur_Latn`` Roman Urdu (Urdu in
Latin letters). English is the source language of every text.
"""

from __future__ import annotations

from typing import Optional

ENGLISH = "en"
URDU = "ur"
ROMAN_URDU = "ur_Latn"
LANGUAGES = (ENGLISH, URDU, ROMAN_URDU)
# What staff read (in English) for each code.
NAMES = {ENGLISH: "English", URDU: "Urdu", ROMAN_URDU: "Roman Urdu"}


def known(code: Optional[str]) -> str:
    """``code`` when it is one of ours, English otherwise."""
    return code if code in LANGUAGES else ENGLISH  # type: ignore[return-value]


def name(code: Optional[str]) -> str:
    """The English name of a language code (the code itself when unknown)."""
    return NAMES.get(code or "", code or "unknown")


def has_urdu_letters(text: str) -> bool:
    """True when ``text`` holds a letter of the Arabic script blocks (Urdu), presentation
    forms included (text copied from some sources arrives in them)."""
    return any(
        "\u0600" <= c <= "\u06ff"
        or "\u0750" <= c <= "\u077f"
        or "\ufb50" <= c <= "\ufdff"
        or "\ufe70" <= c <= "\ufefc"
        for c in text
    )
