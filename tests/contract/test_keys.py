"""Every key ``contract/keys.py`` builds is in the key map of ``docs/architecture.md``.

``Keys("p")`` is built with the prefix ``p``, the name the key map uses for ``REDIS_PREFIX``.
Each public method is called with one placeholder per parameter, chosen by the parameter's
name (``PLACEHOLDERS``; a parameter not listed there becomes ``<name>``), and each property is
read, so a key added to ``Keys`` is checked without touching this file. The placeholders are
spelled as in the key map and in the docstrings of ``contract/keys.py``:

    pseudonym -> <pseudonym>     channel -> <channel>     message_id -> <id>
    reference -> <reference>     minute  -> <minute>      data       -> <k:…>

so ``Keys("p").inbox("<pseudonym>")`` is ``p:inbox:<pseudonym>``, exactly the text of its row.

A key pattern is the first cell of a table row in the "Key map" section, written in backticks.
A member whose name ends in ``_pattern`` is a SCAN glob, not a key: it must match a key of the
map instead. Rows for keys Rasa writes itself (not under ``p:``) are not built by ``Keys``.

Standard library and pytest only: this runs in both environments.
"""

from __future__ import annotations

import inspect
import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from contract.keys import Keys

PREFIX = "p"
KEY_MAP = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
SECTION = "key map"  # the heading of the section holding the tables (case-insensitive)
PLACEHOLDERS = {
    "pseudonym": "<pseudonym>",
    "channel": "<channel>",
    "message_id": "<id>",
    "reference": "<reference>",
    "minute": "<minute>",
    "data": "<k:…>",
}
ROW_KEY = re.compile(r"^\|\s*`([^`]+)`\s*\|")
DOCSTRING_KEY = re.compile(r"^``([^`]+)``")


def placeholder(parameter: str) -> str:
    """How the key map writes a value of ``parameter``."""
    return PLACEHOLDERS.get(parameter, f"<{parameter}>")


def built_keys() -> Dict[str, str]:
    """Member name -> what it builds, every public method and property of ``Keys``."""
    keys = Keys(PREFIX)
    built: Dict[str, str] = {}
    for name, member in inspect.getmembers(Keys):
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            built[name] = getattr(keys, name)
        elif inspect.isfunction(member):
            method = getattr(keys, name)
            parameters = inspect.signature(method).parameters
            built[name] = method(*(placeholder(p) for p in parameters))
    return built


def documented_keys() -> List[str]:
    """The key patterns in the key map's tables, in order."""
    lines = KEY_MAP.read_text(encoding="utf-8").splitlines()
    starts = [
        index
        for index, line in enumerate(lines)
        if line.startswith("## ") and SECTION in line.lower()
    ]
    assert starts, f"{KEY_MAP.name} has no '## … Key map' section"
    section: List[str] = []
    for line in lines[starts[0] + 1 :]:
        if line.startswith("## "):
            break
        section.append(line)
    return [found.group(1) for line in section if (found := ROW_KEY.match(line))]


def is_glob(name: str) -> bool:
    """A SCAN pattern rather than a key."""
    return name.endswith("_pattern")


BUILT = built_keys()
KEYS: List[Tuple[str, str]] = sorted((n, k) for n, k in BUILT.items() if not is_glob(n))
GLOBS: List[Tuple[str, str]] = sorted((n, k) for n, k in BUILT.items() if is_glob(n))


def test_keys_has_members_to_check() -> None:
    assert len(KEYS) >= 20, sorted(BUILT)  # introspection found the key builders


@pytest.mark.parametrize(("name", "key"), KEYS, ids=[name for name, _ in KEYS])
def test_every_key_is_in_the_key_map(name: str, key: str) -> None:
    assert key in documented_keys(), (
        f"Keys.{name} builds {key!r}, which has no row in the key map of "
        f"docs/architecture.md (type, writer, content, sealed, lifetime)"
    )


@pytest.mark.parametrize(("name", "key"), KEYS, ids=[name for name, _ in KEYS])
def test_the_docstring_names_the_key_it_builds(name: str, key: str) -> None:
    doc = inspect.getdoc(getattr(Keys, name)) or ""
    found = DOCSTRING_KEY.match(doc)
    assert found is not None, f"Keys.{name}: the docstring must start with ``{key}``"
    assert found.group(1) == key, f"Keys.{name} builds {key!r}, its docstring says {found[1]!r}"


@pytest.mark.parametrize(("name", "glob"), GLOBS, ids=[name for name, _ in GLOBS])
def test_every_scan_pattern_matches_a_key_of_the_map(name: str, glob: str) -> None:
    assert any(fnmatchcase(key, glob) for key in documented_keys()), (name, glob)


def test_no_two_members_build_the_same_key() -> None:
    owners: Dict[str, List[str]] = {}
    for name, key in BUILT.items():
        owners.setdefault(key, []).append(name)
    shared = {key: names for key, names in owners.items() if len(names) > 1}
    assert not shared, shared


def test_every_prefixed_row_is_a_key_that_is_built() -> None:
    built = {key for _, key in KEYS}
    stale = [key for key in documented_keys() if key.startswith(f"{PREFIX}:") and key not in built]
    assert not stale, f"rows in the key map that contract/keys.py does not build: {stale}"


def test_the_key_map_lists_each_key_once() -> None:
    rows = documented_keys()
    assert len(rows) == len(set(rows)), sorted(k for k in rows if rows.count(k) > 1)
