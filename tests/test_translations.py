"""The gettext catalogs: extraction works, nothing missing, fuzzy or stale.

English is the source (domain.yml, content/topics.yml, actions/*.py).
Translators work on locales/<lang>/LC_MESSAGES/messages.po alone; these tests
are what tells them (and CI) that a catalog is complete.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Tuple

import pytest
import yaml
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from tests.conftest import ROOT

LANGUAGES = ("ur", "ur_Latn")
Key = Tuple[str, str]  # (msgctxt, msgid)


def _extract() -> Dict[Key, int]:
    # The same mapping `make extract` uses, read from babel.cfg.
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, "babel.cfg")
    found: Dict[Key, int] = {}
    for _filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map=method_map, options_map=options_map
    ):
        if isinstance(message, str):
            found[(context or "", message)] = lineno
    return found


def _catalog(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def _keys(catalog: Catalog) -> set[Key]:
    return {(m.context or "", m.id) for m in catalog if m.id and isinstance(m.id, str)}


@pytest.fixture(scope="module")
def extracted() -> Dict[Key, int]:
    return _extract()


def test_extraction_finds_every_response_topic_and_action_text(extracted) -> None:
    contexts = {context for context, _ in extracted}
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    expected = {"button", "topic", "office", "gateway"}  # gateway: bot/texts.py
    for name, variations in domain["responses"].items():
        expected.add(name)
        if any(v.get("channel") == "sms" for v in variations):
            expected.add(f"{name} (sms)")
    assert contexts == expected


def test_template_is_up_to_date(extracted) -> None:
    template = _keys(_catalog(ROOT / "locales/messages.pot"))
    assert template == set(extracted), "locales/messages.pot is stale: run `make update`"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_is_complete_and_not_fuzzy(language: str, extracted) -> None:
    catalog = _catalog(ROOT / f"locales/{language}/LC_MESSAGES/messages.po")
    assert not catalog.fuzzy, f"{language}: the catalog header is marked fuzzy"
    by_key = {(m.context or "", m.id): m for m in catalog if m.id}
    missing = [key for key in extracted if key not in by_key or not by_key[key].string]
    fuzzy = [key for key, m in by_key.items() if m.fuzzy]
    assert not missing, f"{language}: {len(missing)} untranslated, e.g. {missing[:3]}"
    assert not fuzzy, f"{language}: {len(fuzzy)} fuzzy, e.g. {fuzzy[:3]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_placeholders_and_numbers(language: str) -> None:
    catalog = _catalog(ROOT / f"locales/{language}/LC_MESSAGES/messages.po")
    for message in catalog:
        if not message.id:
            continue
        source, target = str(message.id), str(message.string)
        key = (message.context, source[:40])
        assert set(re.findall(r"{\w+}", target)) == set(re.findall(r"{\w+}", source)), key
        assert sorted(re.findall(r"\d[\d,]*", target)) == sorted(re.findall(r"\d[\d,]*", source)), (
            key
        )


def test_roman_urdu_has_no_urdu_script_and_urdu_is_urdu() -> None:
    roman = _catalog(ROOT / "locales/ur_Latn/LC_MESSAGES/messages.po")
    urdu = _catalog(ROOT / "locales/ur/LC_MESSAGES/messages.po")
    for message in roman:
        if re.search(r"[\u0600-\u06ff]", str(message.id)):
            continue  # the language's own name, "اردو", stays in its script
        assert not re.search(r"[\u0600-\u06ff]", str(message.string)), message.id
    for message in urdu:
        if message.id and message.context not in ("button", "office") and len(str(message.id)) > 20:
            text = re.sub(r"{\w+}", "", str(message.string))
            letters = [c for c in text if c.isalpha()]
            urdu_letters = [c for c in letters if "\u0600" <= c <= "\u06ff"]
            assert len(urdu_letters) > 0.6 * len(letters), message.id
