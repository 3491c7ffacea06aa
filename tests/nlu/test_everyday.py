"""The everyday-message sets stay held out: none of their messages is trained on."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Set

import pytest
from rasa.shared.nlu.training_data.loading import load_data

from tests.conftest import ROOT
from tools.evaluate_nlu import everyday_messages

EVERYDAY = ROOT / "nlu/everyday"
LANGUAGES = ("en", "ur", "ur_Latn")


def key(text: str) -> str:
    """A message as compared for overlap: case, punctuation and spacing ignored."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w\s]", "", folded).split())


def training_keys() -> Set[str]:
    data = load_data(str(ROOT / "nlu/data/nlu"))
    return {key(str(example.get("text"))) for example in data.intent_examples}


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_has_at_least_a_thousand_everyday_messages(language: str) -> None:
    messages = everyday_messages(EVERYDAY / f"{language}.txt")
    assert len(messages) >= 1000
    assert len(set(messages)) == len(messages)


def test_no_everyday_message_is_in_the_training_data() -> None:
    trained = training_keys()
    overlap = [
        message
        for language in LANGUAGES
        for message in everyday_messages(EVERYDAY / f"{language}.txt")
        if key(message) and key(message) in trained
    ]
    assert overlap == []


def test_everyday_files_say_where_they_come_from() -> None:
    for path in sorted(Path(EVERYDAY).glob("*.txt")):
        header = [line for line in path.read_text(encoding="utf-8").split("\n")[:20]]
        comments = " ".join(line.lower() for line in header if line.startswith("#"))
        assert "written for rahnuma" in comments and "training" in comments, path
