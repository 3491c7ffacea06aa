"""Helplines from the deployer's directory, parsed from fixture data (never the shipped file).

The numbers and names below are made up: ``content/directory.yml`` is the
deployer's to change, so these tests pin behaviour, not its contents.
"""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from contract.bidi import FSI, PDI
from contract.directory import (
    DirectoryError,
    Helpline,
    emergency_number,
    format_hotlines,
    parse_hotlines,
    served,
)
from contract.languages import ENGLISH, ROMAN_URDU, URDU


def entry(id: str, number: str, **fields: Any) -> Dict[str, Any]:
    """One helpline as PyYAML hands it over."""
    return {
        "id": id,
        "number": number,
        "name": {"en": f"{id} line", "ur": f"{id} لائن"},
        "confirmed": True,
        "source": "https://example.org/helplines",
        "verified": "2026-01-01",
        **fields,
    }


DIRECTORY: Dict[str, Any] = {
    "offices": [{"id": "elsewhere"}],  # other sections are not helplines
    "hotlines": [
        entry("draft", "0000", emergency=True, confirmed=False),
        entry("advice", "042-1111"),
        entry("rescue", "1122", emergency=True, name={"en": "Rescue", "ur": "ریسکیو"}),
        entry("police", "15", emergency=True),
        entry("unchecked", "0800-0000", confirmed=False),
        entry(
            "bureau",
            "111-247-786",
            name={"en": "Bureau", "ur": "بیورو", "ur_Latn": "Bureau wala"},
        ),
    ],
}


@pytest.fixture
def hotlines() -> List[Helpline]:
    return parse_hotlines(DIRECTORY)


def test_every_helpline_is_parsed_in_file_order(hotlines: List[Helpline]) -> None:
    assert [line.id for line in hotlines] == [
        "draft",
        "advice",
        "rescue",
        "police",
        "unchecked",
        "bureau",
    ]
    rescue = hotlines[2]
    assert rescue == Helpline(
        id="rescue",
        number="1122",
        names={"en": "Rescue", "ur": "ریسکیو"},
        emergency=True,
        confirmed=True,
        source="https://example.org/helplines",
        verified="2026-01-01",
    )
    assert hotlines[1].emergency is False  # not said: not an emergency line


def test_numbers_and_dates_written_bare_in_yaml_become_text() -> None:
    (line,) = parse_hotlines({"hotlines": [entry("rescue", 1122, verified=20260101)]})  # type: ignore[arg-type]
    assert line.number == "1122"
    assert line.verified == "20260101"


@pytest.mark.parametrize("directory", [{}, {"hotlines": None}, {"hotlines": []}])
def test_a_directory_without_helplines_has_none(directory: Dict[str, Any]) -> None:
    assert parse_hotlines(directory) == []


@pytest.mark.parametrize("missing", ["id", "number", "name", "confirmed", "source", "verified"])
def test_a_helpline_missing_a_required_field_is_a_directory_error(missing: str) -> None:
    broken = entry("rescue", "1122")
    del broken[missing]
    with pytest.raises(DirectoryError, match="helpline"):
        parse_hotlines({"hotlines": [entry("advice", "042-1111"), broken]})


@pytest.mark.parametrize(
    "hotlines",
    [
        ["rescue: 1122"],  # a string where an entry belongs
        [None],
        [entry("rescue", "1122", name=None)],
        {"id": "rescue"},  # a mapping where the list belongs
        [entry("rescue", "1122", name="Rescue")],
        [entry("rescue", "1122", name=["Rescue", "ریسکیو"])],
    ],
)
def test_a_helpline_of_the_wrong_shape_is_a_directory_error(hotlines: Any) -> None:
    with pytest.raises(DirectoryError):
        parse_hotlines({"hotlines": hotlines})


def test_served_keeps_only_confirmed_lines_in_file_order(hotlines: List[Helpline]) -> None:
    assert [line.id for line in served(hotlines)] == ["advice", "rescue", "police", "bureau"]
    assert [line.id for line in served(hotlines, emergency_only=True)] == ["rescue", "police"]


def test_the_emergency_number_is_the_first_confirmed_emergency_line(
    hotlines: List[Helpline],
) -> None:
    assert emergency_number(hotlines) == "1122"
    assert emergency_number(hotlines[3:]) == "15"


@pytest.mark.parametrize(
    "hotlines",
    [
        [],
        [entry("advice", "042-1111")],
        [entry("draft", "0000", emergency=True, confirmed=False), entry("advice", "042-1111")],
    ],
)
def test_no_confirmed_emergency_line_is_a_directory_error(hotlines: List[Dict[str, Any]]) -> None:
    lines = parse_hotlines({"hotlines": hotlines})
    with pytest.raises(DirectoryError):
        emergency_number(lines)


def test_in_english_lines_read_name_colon_number(hotlines: List[Helpline]) -> None:
    lines = served(hotlines, emergency_only=True)
    assert format_hotlines(lines, ENGLISH) == "Rescue: 1122; police line: 15"


def test_in_urdu_numbers_are_isolated_and_joined_with_the_urdu_comma(
    hotlines: List[Helpline],
) -> None:
    lines = served(hotlines, emergency_only=True)
    assert format_hotlines(lines, URDU) == f"ریسکیو: {FSI}1122{PDI}، police لائن: {FSI}15{PDI}"


def test_outside_urdu_numbers_are_not_isolated(hotlines: List[Helpline]) -> None:
    for language in (ENGLISH, ROMAN_URDU):
        text = format_hotlines(served(hotlines), language)
        assert FSI not in text and PDI not in text
        assert "111-247-786" in text


def test_a_name_not_translated_falls_back_to_english(hotlines: List[Helpline]) -> None:
    bureau, rescue = hotlines[5], hotlines[2]
    assert bureau.name(ROMAN_URDU) == "Bureau wala"
    assert rescue.name(ROMAN_URDU) == "Rescue"
    assert format_hotlines([rescue, bureau], ROMAN_URDU) == "Rescue: 1122; Bureau wala: 111-247-786"


def test_no_lines_format_as_nothing() -> None:
    assert format_hotlines([], ENGLISH) == ""
    assert format_hotlines([], URDU) == ""
