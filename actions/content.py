"""Read-only access to the deployer's data files under ``content/``.

``directory.yml`` holds helplines, Protectorate offices, Migrant Resource
Centres and fee limits; ``promoters.csv`` the licence list; ``topics.yml`` the
topic titles. Each entry has a source and a verified date, so a deployer can
update them without touching code. Files are read once per process (``lru_cache``); set
``RAHNUMA_CONTENT_DIR`` to point the action server at another copy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

import yaml

ENGLISH = "en"
URDU = "ur"
ROMAN_URDU = "ur_Latn"
LANGUAGES = (ENGLISH, URDU, ROMAN_URDU)


class ContentError(Exception):
    """A content file is missing or malformed (a deployment error, not a user's)."""


def content_dir() -> Path:
    """Where the data files are read from."""
    override = os.environ.get("RAHNUMA_CONTENT_DIR")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "content"


def _load_yaml(name: str) -> Dict[str, Any]:
    path = content_dir() / name
    try:
        with path.open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        raise ContentError(f"cannot read {path}: {error}") from error
    if not isinstance(data, dict):
        raise ContentError(f"{path} must contain a mapping at the top level")
    return data


@dataclass(frozen=True)
class Hotline:
    """One helpline, as listed in content/directory.yml."""

    id: str
    number: str
    names: Mapping[str, str]
    emergency: bool
    confirmed: bool
    source: str
    verified: str

    def name(self, language: str) -> str:
        """The helpline's name in ``language`` (English if not translated)."""
        return self.names.get(language) or self.names[ENGLISH]


@lru_cache(maxsize=1)
def directory() -> Dict[str, Any]:
    """content/directory.yml, read once."""
    return _load_yaml("directory.yml")


@lru_cache(maxsize=1)
def hotlines() -> List[Hotline]:
    """Every helpline in the directory, confirmed or not."""
    entries = directory().get("hotlines") or []
    try:
        return [
            Hotline(
                id=str(entry["id"]),
                number=str(entry["number"]),
                names=dict(entry["name"]),
                emergency=bool(entry.get("emergency", False)),
                confirmed=bool(entry["confirmed"]),
                source=str(entry["source"]),
                verified=str(entry["verified"]),
            )
            for entry in entries
        ]
    except (KeyError, TypeError) as error:
        raise ContentError(f"directory.yml: malformed helpline ({error})") from error


def confirmed_hotlines(emergency_only: bool = False) -> List[Hotline]:
    """The helplines that may be shown to users, in file order."""
    return [
        line for line in hotlines() if line.confirmed and (line.emergency or not emergency_only)
    ]


def join_list(items: Sequence[str], separator: str, language: str) -> str:
    """Items joined for one sentence; Urdu uses its own comma (،)."""
    return ("، " if language == URDU else separator).join(items)


def format_hotlines(lines: Sequence[Hotline], language: str) -> str:
    """'Name: number' pairs joined for one message.

    Numbers are wrapped in Unicode isolates in Urdu text so that a digit run
    inside right-to-left text keeps its order (1122, 111-247-786).
    """
    if language == URDU:
        items = [f"{line.name(URDU)}: \u2066{line.number}\u2069" for line in lines]
    else:
        items = [f"{line.name(language)}: {line.number}" for line in lines]
    return join_list(items, "; ", language)


def offices() -> Dict[str, Any]:
    """The Protectorate offices, Migrant Resource Centres and nearest-office hints."""
    return directory()


@lru_cache(maxsize=1)
def fee_limits() -> Dict[str, int]:
    """Confirmed legal fee limits in rupees, by id (e.g. ``oep_placement``)."""
    limits = {}
    for entry in directory().get("fee_limits") or []:
        try:
            if entry["confirmed"]:
                limits[str(entry["id"])] = int(entry["amount"])
        except (KeyError, TypeError, ValueError) as error:
            raise ContentError(f"directory.yml: malformed fee limit ({error})") from error
    return limits


def directory_values() -> Dict[str, Any]:
    """Placeholders every response may use: ``{fee_<id>}`` for each fee limit."""
    return {f"fee_{key}": amount for key, amount in fee_limits().items()}


@lru_cache(maxsize=1)
def topics() -> Dict[str, str]:
    """Short English button titles for each intent (translated via the catalogs)."""
    data = _load_yaml("topics.yml").get("topics") or {}
    return {str(intent): str(title) for intent, title in data.items()}


def language_of(slot_value: Any) -> str:
    """The conversation's language from the slot, English when unset or unknown."""
    return slot_value if slot_value in LANGUAGES else ENGLISH


def localized_city(city: str, entry: Mapping[str, Any], language: str) -> str:
    """A city name as the user's language writes it."""
    if language == URDU and entry.get("ur"):
        return str(entry["ur"])
    return city
