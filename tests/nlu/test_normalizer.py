"""The Urdu normaliser: code points, digits, punctuation, invisibles, entity spans."""

from __future__ import annotations

from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.normalizer import UrduTextNormalizer, normalize, normalize_text


def test_arabic_keyboard_letters_become_urdu_letters() -> None:
    # ي ك ه typed on an Arabic keyboard: the same word as ی ک ہ
    assert normalize_text("كيا يه") == "کیا یہ"
    assert normalize_text("ميرا ويزا") == normalize_text("میرا ویزا")


def test_teh_marbuta_becomes_heh_goal() -> None:
    assert normalize_text("صلوة") == "صلوہ"


def test_diacritics_and_tatweel_are_removed() -> None:
    assert normalize_text("مُجھے") == "مجھے"
    assert normalize_text("پاکـــستان") == "پاکستان"


def test_zero_width_and_direction_marks_are_removed() -> None:
    assert normalize_text("\u200fمدد\u200c\u200d\u202a کریں\u2069\ufeff") == "مدد کریں"


def test_urdu_and_arabic_indic_digits_become_ascii() -> None:
    assert normalize_text("۱۱۲۲") == "1122"
    assert normalize_text("٩٠٠١/LHR") == "9001/LHR"


def test_urdu_punctuation_becomes_ascii() -> None:
    assert normalize_text("کیا یہ اصلی ہے؟") == "کیا یہ اصلی ہے?"
    assert normalize_text("ہاں، ٹھیک ہے۔") == "ہاں, ٹھیک ہے."


def test_presentation_forms_become_base_letters() -> None:
    # U+FEFB is the lam-alef ligature as some keyboards and PDFs emit it
    assert normalize_text("\ufefb") == "لا"


def test_long_letter_runs_are_collapsed_but_latin_kept() -> None:
    assert normalize_text("pleeeease helppp") == "pleease helpp"
    assert normalize_text("Passport 9001/LHR") == "Passport 9001/LHR"


def test_offsets_follow_removed_characters() -> None:
    result = normalize("\u200fمُدد لاہور")
    # "لاہور" starts at 6 in the original and at 4 after dropping RLM and damma
    assert result.text == "مدد لاہور"
    assert result.moved(6) == 4
    assert result.moved(len("\u200fمُدد لاہور")) == len(result.text)


def test_training_entities_are_moved_with_the_text() -> None:
    text = "مُجھے  كراچی جانا ہے"
    start = text.index("كراچی")
    message = Message(
        data={
            "text": text,
            "intent": "inform",
            "entities": [
                {"start": start, "end": start + 5, "value": "Karachi", "entity": "city"},
                {"start": 0, "end": 5, "value": "مُجھے", "entity": "word"},
            ],
        }
    )
    data = UrduTextNormalizer().process_training_data(TrainingData([message]))
    example = data.training_examples[0]
    city, word = example.get("entities")
    assert example.get("text")[city["start"] : city["end"]] == "کراچی"
    assert city["value"] == "Karachi"  # a synonym's canonical value is untouched
    assert word["value"] == "مجھے"  # a literal value follows its normalised surface


def test_process_normalises_incoming_messages() -> None:
    message = Message(data={"text": "ويزا؟"})
    UrduTextNormalizer().process([message])
    assert message.get("text") == "ویزا?"
