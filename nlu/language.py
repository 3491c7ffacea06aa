"""Which language a message is written in: English, Urdu script or Roman Urdu.

The result travels in the parse data under ``language_detection`` as
``{"code": "en" | "ur" | "ur_Latn", "confident": bool}``. ``confident`` is
false for short or ambiguous messages ("ok", "1", "haan", "jee"): those must
never flip a conversation's language, only set it when none is known yet.
The decision to switch is made by the ``language`` slot extraction in
``actions/language.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from contract.languages import ENGLISH, ROMAN_URDU, URDU

OUTPUT_KEY = "language_detection"

# Words that only Roman Urdu uses (as typed, with common spellings). Words that
# are also English ("to", "me", "main", "hi", "bus", "ho") are left out.
_ROMAN_URDU_WORDS = frozenset(
    """
    hai hain hy hay ha hun hoon hu tha thi thay thy raha rahi rahe
    kya kia kiya kiyaa kyun kyu kiun kaise kaisay kese kesy kaisa kesa kahan kahaan kidhar
    kab kitna kitni kitne kitny kon kaun konsa kaunsa
    mera meri mere mery mujhe mujhay mjhe mujhy muje mujh humein hamein hamara hamari
    tera teri tumhara apna apni apne uska uski uske unka unki
    ka ki ke ko se sy mein mai mujhko wo woh yeh ye yah aur ya lekin magar agar phir
    nahi nahin nai ni nhi nahe mat koi kuch kuchh sab bohat bahut boht zyada bhi
    karna karo kar kr krna kro karein karen kiya karta karte karti karwana karwao
    chahiye chahye chaiye chahie chahta chahti sakta sakti sakte skta
    jana jao jaana gaya gayi gaye gya gyi aana aya ayi aaya hona hota hoti hote
    bata batao batain btao bataen batayen dena dedo dein lena lelo le liya liya
    madad bachao bachaen jaldi abhi yahan wahan pakar pakra band kamre kamra
    bhai bhaiya behan yaar ji jee haan han acha achha theek thik shukriya meharbani
    salam salaam assalam assalamualaikum walaikum khuda hafiz allah
    naukri nokri kaam paisay paise paisa rupay waqt log logon bachay bacha
    ne le lia lya di diya dia kahin sath saath liye liay waste wasta
    bare baare mutaliq kyunke kyunki
    """.split()
)

# English function words. Nouns such as "visa", "agent", "passport" are left
# out: Roman-Urdu writers use them all the time ("agent ne passport le liya").
_ENGLISH_WORDS = frozenset(
    """
    the a an is are was were am be been i you he she it we they my your our their
    what which who whom how why where when can could should would will shall do does
    did have has had of for with from about into on at by this that these those
    please want need know tell get go going and or but not no yes if there
    here any some got give him her them us took taken told said just very
    """.split()
)

_URDU_SCRIPT = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_LATIN = re.compile(r"[A-Za-z]")
_WORD = re.compile(r"[A-Za-z']+|[\u0600-\u06ff\u0750-\u077f]+")


@dataclass(frozen=True)
class Detection:
    """A language guess and whether it is safe to switch the conversation to it."""

    code: str
    confident: bool

    def as_dict(self) -> Dict[str, Any]:
        """The form stored in parse data and read by the actions."""
        return {"code": self.code, "confident": self.confident}


def detect(text: str) -> Detection:
    """Guesses the language of one message.

    Urdu script wins when most letters are Urdu; Latin text is Roman Urdu or
    English by counting words only one of them uses. Confidence needs at least
    two words of evidence, so one-word replies never switch the language.
    """
    urdu_letters = len(_URDU_SCRIPT.findall(text))
    latin_letters = len(_LATIN.findall(text))
    words = _WORD.findall(text)
    if urdu_letters == 0 and latin_letters == 0:
        return Detection(ENGLISH, confident=False)
    if urdu_letters >= latin_letters:
        urdu_words = sum(1 for word in words if _URDU_SCRIPT.match(word))
        return Detection(URDU, confident=urdu_words >= 2)

    latin_words = [word.lower().strip("'") for word in words if _LATIN.match(word)]
    roman = sum(1 for word in latin_words if word in _ROMAN_URDU_WORDS)
    english = sum(1 for word in latin_words if word in _ENGLISH_WORDS)
    if roman > english:
        return Detection(ROMAN_URDU, confident=roman >= 2 and roman >= 2 * english)
    if english > roman:
        return Detection(ENGLISH, confident=english >= 2 and english >= 2 * roman)
    return Detection(ENGLISH if roman == 0 else ROMAN_URDU, confident=False)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class LanguageDetector(GraphComponent):
    """Adds ``language_detection`` to every parsed message."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """No options."""
        return {}

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        """Builds the component (no state)."""
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training examples need no detection: the model does not learn from it."""
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Detects the language of each message."""
        for message in messages:
            text = message.get(TEXT) or ""
            message.set(OUTPUT_KEY, detect(text).as_dict(), add_to_output=True)
        return messages
