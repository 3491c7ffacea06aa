"""Urdu text normalisation, run first in the Rasa pipeline.

People type Urdu on keyboards that emit Arabic code points (ي for ی, ك for
ک), add diacritics and tatweel, paste zero-width and direction marks, and use
Urdu or Arabic-Indic digits and Urdu punctuation. The same word must reach the
featurizers as the same characters, in training and at prediction time.

Normalisation is done character by character so that entity annotations in
the training data (start/end offsets) can be moved to the new text. It never
changes Latin text except collapsing long runs of one letter ("pleeeease").

It is total: every code point U+0000..U+10FFFF (lone surrogates, noncharacters,
private use and unassigned ones included) goes through without an error, each
in constant time, so a text of any length is normalised in linear time and
never grows by more than ``MAX_EXPANSION`` characters per original character.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

# Arabic-keyboard letters to the Urdu letters a native writer means.
_LETTERS = {
    "\u064a": "\u06cc",  # ARABIC YEH -> FARSI YEH (ی)
    "\u0649": "\u06cc",  # ALEF MAKSURA -> ی
    "\u0643": "\u06a9",  # ARABIC KAF -> KEHEH (ک)
    "\u0647": "\u06c1",  # ARABIC HEH -> HEH GOAL (ہ)
    "\u0629": "\u06c1",  # TEH MARBUTA -> ہ
    "\u06c0": "\u06c1",  # HEH WITH YEH ABOVE -> ہ (hamza is a diacritic here)
    "\u06c2": "\u06c1",  # HEH GOAL WITH HAMZA -> ہ
}

_PUNCTUATION = {
    "\u061f": "?",  # ARABIC QUESTION MARK
    "\u060c": ",",  # ARABIC COMMA
    "\u06d4": ".",  # ARABIC FULL STOP (Urdu full stop)
    "\u061b": ";",  # ARABIC SEMICOLON
    "\u066a": "%",  # ARABIC PERCENT SIGN
    "\u066b": ".",  # ARABIC DECIMAL SEPARATOR
    "\u066c": ",",  # ARABIC THOUSANDS SEPARATOR
}

# Invisible characters: zero-width, joiners, bidi marks and embeddings, BOM.
_INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2066\u2067\u2068\u2069\u2060\ufeff\u00ad\u061c"
)

_TATWEEL = "\u0640"


def _is_diacritic(char: str) -> bool:
    code = ord(char)
    return (
        0x064B <= code <= 0x065F  # harakat, shadda, sukun, hamza above/below
        or code == 0x0670  # superscript alef
        or 0x06D6 <= code <= 0x06ED  # Quranic annotation marks
        or 0x0610 <= code <= 0x061A  # honorific signs
    )


def _normalize_base_char(char: str) -> str:
    """The mapping of one character that is not an Arabic presentation form."""
    if char in _INVISIBLE or char == _TATWEEL or _is_diacritic(char):
        return ""
    if char in _LETTERS:
        return _LETTERS[char]
    if char in _PUNCTUATION:
        return _PUNCTUATION[char]
    code = ord(char)
    if 0x06F0 <= code <= 0x06F9:  # Urdu (extended Arabic-Indic) digits
        return chr(ord("0") + code - 0x06F0)
    if 0x0660 <= code <= 0x0669:  # Arabic-Indic digits
        return chr(ord("0") + code - 0x0660)
    if char in "\t\r\n\u00a0\u2007\u202f":
        return " "
    return char


# Formula ligatures that stand for a whole phrase and have no compatibility
# decomposition, so NFKC leaves them as they are. They are dropped, not spelled
# out: "﷽" (U+FDFD, bismillah ar-rahman ar-raheem) is a blessing many people put
# at the top of any message, whatever it asks, and its four words (بسم اللہ
# الرحمن الرحیم) would outweigh a short question's own words in the featurizers
# and could tip the intent towards whatever the training data happens to pair
# with them. The honorific ligatures Unicode 14 added (U+FD40..U+FD4F, U+FDCF,
# U+FDFE, U+FDFF; unassigned in Python 3.10's Unicode 13 database) are formulas
# of the same kind, written after a name, and are dropped like the honorific
# signs U+0610..U+061A above. U+FDFA (ﷺ) and U+FDFB (ﷻ), which NFKC does spell
# out, keep their spelled-out words as before.
_DROPPED_LIGATURES = frozenset(
    "\ufdfd\ufdcf\ufdfe\ufdff" + "".join(chr(code) for code in range(0xFD40, 0xFD50))
)


def _presentation_forms() -> Dict[str, str]:
    """Presentation forms (copied from PDFs, old keyboards) to base letters.

    NFKC is applied once and its output mapped by ``_normalize_base_char``, with no
    second round: NFKC's output is already free of presentation forms, and a form
    it leaves unchanged (ornate parentheses, Arabic spacing symbols, noncharacters
    U+FDD0..U+FDEF, unassigned code points) maps to itself instead of back into
    this step.
    """
    table: Dict[str, str] = {}
    for first, last in ((0xFB50, 0xFDFF), (0xFE70, 0xFEFF)):
        for code in range(first, last + 1):
            char = chr(code)
            if char in _DROPPED_LIGATURES:
                table[char] = ""
            else:
                decomposed = unicodedata.normalize("NFKC", char)
                table[char] = "".join(_normalize_base_char(c) for c in decomposed)
    return table


_PRESENTATION_FORMS = _presentation_forms()

# The most characters one original character can become: U+FDFA (ﷺ) is spelled
# out as the 18 characters "صلی اللہ علیہ وسلم"; every other character is at most
# as long. Checked for every code point in the tests.
MAX_EXPANSION = max(1, *(len(piece) for piece in _PRESENTATION_FORMS.values()))


def _normalize_char(char: str) -> str:
    piece = _PRESENTATION_FORMS.get(char)
    if piece is not None:
        return piece
    return _normalize_base_char(char)


@dataclass(frozen=True)
class Normalized:
    """Normalised text and, for every original offset, the new offset."""

    text: str
    offsets: List[int]

    def moved(self, original_offset: int) -> int:
        """The offset in the normalised text that corresponds to an original one."""
        return self.offsets[original_offset]


def normalize(text: str) -> Normalized:
    """Normalise Urdu code points, digits, punctuation and invisible characters.

    ``offsets`` has ``len(text) + 1`` entries, so an entity's end offset maps too.
    """
    out: List[str] = []
    offsets: List[int] = []
    length = 0
    tail = ""  # the last two characters written
    for char in text:
        offsets.append(length)
        piece = _normalize_char(char)
        if len(piece) == 1 and piece.isalpha() and tail == piece * 2:
            piece = ""  # "pleeeease" -> "pleease": three or more of a letter become two
        out.append(piece)
        length += len(piece)
        tail = (tail + piece)[-2:]
    offsets.append(length)
    collapsed = "".join(out)
    return Normalized(collapsed, offsets)


def normalize_text(text: str) -> str:
    """Only the normalised text, for callers that need no offsets."""
    return normalize(text).text.strip()


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class UrduTextNormalizer(GraphComponent):
    """Rewrites each message's text in place before tokenisation."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """No options: normalisation is the same for every deployment."""
        return {}

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> UrduTextNormalizer:
        """Builds the component (no state)."""
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Normalises every training example and moves its entity spans."""
        for example in training_data.training_examples:
            self._normalize_message(example)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Normalises incoming messages."""
        for message in messages:
            self._normalize_message(message)
        return messages

    @staticmethod
    def _normalize_message(message: Message) -> None:
        text: Optional[str] = message.get(TEXT)
        if not text:
            return
        result = normalize(text)
        if result.text == text:
            return
        message.set(TEXT, result.text)
        entities = message.get(ENTITIES) or []
        for entity in entities:
            start, end = entity[ENTITY_ATTRIBUTE_START], entity[ENTITY_ATTRIBUTE_END]
            surface = text[start:end]
            entity[ENTITY_ATTRIBUTE_START] = result.moved(start)
            entity[ENTITY_ATTRIBUTE_END] = result.moved(end)
            if entity.get(ENTITY_ATTRIBUTE_VALUE) == surface:
                new_surface = result.text[
                    entity[ENTITY_ATTRIBUTE_START] : entity[ENTITY_ATTRIBUTE_END]
                ]
                entity[ENTITY_ATTRIBUTE_VALUE] = new_surface
