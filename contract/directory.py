"""Helplines from the deployer's directory (``content/directory.yml``), for both environments.

The action server lists them in answers; the gateway puts the emergency
number in its own texts (holding messages, the rate-limit notice). Both read
the same file through this module, so a deployer who changes a number
changes it everywhere. Each environment parses the YAML itself (PyYAML is not
part of the contract) and hands the mapping to ``parse_hotlines``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Mapping, Sequence

from contract.bidi import isolate
from contract.languages import ENGLISH, URDU


class DirectoryError(Exception):
    """The directory is malformed (a deployment error, not a user's)."""


@dataclass(frozen=True)
class Helpline:
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


def parse_hotlines(directory: Mapping[str, Any]) -> List[Helpline]:
    """Every helpline in the parsed directory, confirmed or not, in file order.

    Raises DirectoryError naming the entry when one is malformed: a deployer's
    typo must stop the service at start-up, never show an unchecked number.
    """
    entries = directory.get("hotlines") or []
    if not isinstance(entries, list):
        raise DirectoryError("directory.yml: `hotlines` must be a list")
    return [_hotline(index, entry) for index, entry in enumerate(entries, start=1)]


def _hotline(index: int, entry: Any) -> Helpline:
    where = f"directory.yml: helpline {index}"
    if not isinstance(entry, Mapping):
        raise DirectoryError(f"{where} is not a mapping")
    names = entry.get("name")
    if not isinstance(names, Mapping) or not isinstance(names.get(ENGLISH), str):
        raise DirectoryError(f"{where}: `name` must map languages to names, English included")
    flags = {flag: entry.get(flag, False) for flag in ("emergency", "confirmed")}
    if "confirmed" not in entry or not all(isinstance(v, bool) for v in flags.values()):
        raise DirectoryError(f"{where}: `confirmed` and `emergency` must be true or false")
    missing = [field for field in ("id", "number", "source", "verified") if not entry.get(field)]
    if missing:
        raise DirectoryError(f"{where}: missing {', '.join(missing)}")
    return Helpline(
        id=str(entry["id"]),
        number=str(entry["number"]),
        names={str(language): str(name) for language, name in names.items()},
        emergency=flags["emergency"],
        confirmed=flags["confirmed"],
        source=str(entry["source"]),
        verified=str(entry["verified"]),
    )


def served(hotlines: Sequence[Helpline], emergency_only: bool = False) -> List[Helpline]:
    """The helplines that may be shown to users (confirmed), in file order."""
    return [line for line in hotlines if line.confirmed and (line.emergency or not emergency_only)]


def emergency_number(hotlines: Sequence[Helpline]) -> str:
    """The number the gateway's short texts give: the first confirmed emergency line."""
    lines = served(hotlines, emergency_only=True)
    if not lines:
        raise DirectoryError("directory.yml lists no confirmed emergency helpline")
    return lines[0].number


def format_hotlines(lines: Sequence[Helpline], language: str) -> str:
    """'Name: number' pairs joined for one message.

    In Urdu the numbers are isolated (``contract/bidi.py``) so that a digit run
    inside right-to-left text keeps its order (1122, 111-247-786), and items
    are joined with the Urdu comma.
    """
    if language == URDU:
        return "، ".join(f"{line.name(URDU)}: {isolate(line.number)}" for line in lines)
    return "; ".join(f"{line.name(language)}: {line.number}" for line in lines)
