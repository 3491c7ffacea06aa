"""Read-only access to the deployer's data files under ``content/``.

``directory.yml`` holds helplines, Protectorate offices, Migrant Resource
Centres and fee limits; ``promoters.csv`` the licence list; ``topics.yml`` the
topic titles. Each entry has a source and a verified date, so a deployer can
update them without touching code. Files are read once per process (``lru_cache``); set
``RAHNUMA_CONTENT_DIR`` to point the action server at another copy.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, List, Mapping, Sequence

import yaml

from contract.directory import DirectoryError, Helpline, format_hotlines, parse_hotlines, served
from contract.languages import URDU, known
from contract.paths import content_dir

__all__ = [
    "ContentError",
    "Helpline",
    "confirmed_hotlines",
    "content_dir",
    "directory",
    "directory_values",
    "fee_limits",
    "format_hotlines",
    "hotlines",
    "join_list",
    "language_of",
    "localized_city",
    "offices",
    "topics",
]


class ContentError(Exception):
    """A content file is missing or malformed (a deployment error, not a user's)."""


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


@lru_cache(maxsize=1)
def directory() -> Dict[str, Any]:
    """content/directory.yml, read once."""
    return _load_yaml("directory.yml")


@lru_cache(maxsize=1)
def hotlines() -> List[Helpline]:
    """Every helpline in the directory, confirmed or not."""
    try:
        return parse_hotlines(directory())
    except DirectoryError as error:
        raise ContentError(str(error)) from error


def confirmed_hotlines(emergency_only: bool = False) -> List[Helpline]:
    """The helplines that may be shown to users, in file order."""
    return served(hotlines(), emergency_only)


def join_list(items: Sequence[str], separator: str, language: str) -> str:
    """Items joined for one sentence; Urdu uses its own comma (،)."""
    return ("، " if language == URDU else separator).join(items)


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
    return known(slot_value if isinstance(slot_value, str) else None)


def localized_city(city: str, entry: Mapping[str, Any], language: str) -> str:
    """A city name as the user's language writes it."""
    if language == URDU and entry.get("ur"):
        return str(entry["ur"])
    return city
