"""Safety of the content: no invented numbers, a source for every fact, languages equal.

The deployer's files under content/ are checked for their shape and rules only (every
entry sourced and dated, no duplicate ids, Urdu names in Urdu script, what the domain
needs is there): a deployer who updates a number or a date must not break these tests.
What the assistant does with the data is tested on tests/fixtures/content.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Dict, List

import pytest
import yaml

from actions.agents import STATUSES, normalize_licence, promoters
from actions.content import confirmed_hotlines, directory, fee_limits, hotlines, topics
from actions.nlg import renderer
from contract.directory import emergency_number
from contract.languages import LANGUAGES, ROMAN_URDU, URDU
from tests.conftest import ROOT, translated

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
SOURCES = yaml.safe_load((ROOT / "content/sources.yml").read_text(encoding="utf-8"))
FACT_SHEET = ROOT.parent / "shared/facts/pakistan-migration.md"

# Responses that state facts (laws, fees, numbers, institutions, events).
FACTUAL = [
    "utter_legal_migration",
    "utter_protector",
    "utter_recruitment_fees",
    "utter_visa_check",
    "utter_visit_visa_work",
    "utter_study_abroad",
    "utter_skills_certification",
    "utter_insurance_welfare",
    "utter_pre_departure",
    "utter_rights_abroad",
    "utter_return_reintegration",
    "utter_irregular_route_risks",
    "utter_smuggling_law",
    "utter_trafficking_signs",
    "utter_check_job_offer",
    "utter_ask_report_consent",
    "utter_privacy",
]
NUMBER = re.compile(r"\d[\d,\- ]*\d")  # two or more digits, with separators
FEE_PLACEHOLDER = re.compile(r"{fee_(\w+)}")


def _english(name: str) -> str:
    """The English source text of a response (the variation for every channel)."""
    return str(next(v["text"] for v in DOMAIN["responses"][name] if not v.get("channel")))


def _is_date(value: Any) -> bool:
    try:
        dt.date.fromisoformat(str(value))
    except ValueError:
        return False
    return True


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _in_urdu_script(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return sum("\u0600" <= c <= "\u06ff" for c in letters) > len(letters) / 2


def _sourced_and_dated(entry: Dict[str, Any]) -> bool:
    return _is_url(entry.get("source")) and _is_date(entry.get("verified"))


# -- the domain's answers and content/sources.yml -----------------------------------


def test_responses_hold_english_source_only() -> None:
    # Translations live in the gettext catalogs (tests/test_translations.py).
    for name, variations in DOMAIN["responses"].items():
        assert [v for v in variations if v.get("condition")] == [], name
        assert sum(1 for v in variations if not v.get("channel")) == 1, name


def _numbers(text: str) -> List[str]:
    return [n.strip(" -") for n in NUMBER.findall(text)]


def test_every_number_in_a_response_is_a_listed_figure() -> None:
    # A phone number, fee or figure that is not listed in content/sources.yml fails here:
    # numbers to call reach users only from content/directory.yml, through the actions.
    listed = {**SOURCES["figures"]}
    for name, extra in SOURCES["policy_figures"].items():
        listed[name] = [*listed.get(name, []), *extra]
    for name, variations in DOMAIN["responses"].items():
        for variation in variations:
            unlisted = set(_numbers(variation["text"])) - set(listed.get(name, []))
            assert not unlisted, f"{name} states unlisted numbers {unlisted}"


def test_no_listed_figure_is_a_hotline_number() -> None:
    numbers = {line.number for line in hotlines()}
    for figures in [*SOURCES["figures"].values(), *SOURCES["policy_figures"].values()]:
        assert not numbers & set(figures)


def test_every_factual_response_cites_a_source() -> None:
    cited = SOURCES["responses"]
    for name in FACTUAL:
        assert cited.get(name), f"{name} has no source in content/sources.yml"
    assert _is_date(SOURCES["verified"]), "content/sources.yml: verified is not a date"


def test_sources_name_responses_of_the_domain() -> None:
    named = {*SOURCES["responses"], *SOURCES["figures"], *SOURCES["policy_figures"]}
    assert named - set(DOMAIN["responses"]) == set(), "content/sources.yml names unknown responses"


@pytest.mark.skipif(not FACT_SHEET.exists(), reason="needs ../shared beside the checkout")
def test_cited_sources_are_in_the_fact_sheet() -> None:
    sheet = FACT_SHEET.read_text(encoding="utf-8")
    for name, urls in SOURCES["responses"].items():
        for url in urls:
            if url.startswith("http"):
                assert url in sheet, f"{name}: {url} is not in the fact sheet"


@pytest.mark.skipif(not FACT_SHEET.exists(), reason="needs ../shared beside the checkout")
def test_every_figure_is_printed_in_the_fact_sheet() -> None:
    sheet = FACT_SHEET.read_text(encoding="utf-8")
    for name, figures in SOURCES["figures"].items():
        for figure in figures:
            assert figure in sheet, f"{name}: {figure} is not in the fact sheet"


@pytest.mark.skipif(not FACT_SHEET.exists(), reason="needs ../shared beside the checkout")
def test_every_hotline_number_is_in_the_fact_sheet() -> None:
    sheet = FACT_SHEET.read_text(encoding="utf-8")
    for line in hotlines():
        assert line.number in sheet, line.id
        assert line.source in sheet, line.id


@pytest.mark.skipif(not FACT_SHEET.exists(), reason="needs ../shared beside the checkout")
def test_every_fee_limit_is_printed_in_the_fact_sheet() -> None:
    sheet = FACT_SHEET.read_text(encoding="utf-8")
    for name, amount in fee_limits().items():
        assert f"Rs {amount:,}" in sheet, (
            f"fee limit {name}: Rs {amount:,} is not in the fact sheet"
        )


# -- the shape of content/directory.yml -----------------------------------------------


def test_every_helpline_is_sourced_dated_and_named_in_every_language() -> None:
    lines = hotlines()
    ids = [line.id for line in lines]
    assert len(ids) == len(set(ids)), f"duplicate helpline ids in {ids}"
    for line in lines:
        assert set(line.names) == set(LANGUAGES), line.id
        assert _in_urdu_script(line.name(URDU)), f"{line.id}: the Urdu name is not in Urdu script"
        assert not _in_urdu_script(line.name(ROMAN_URDU)), f"{line.id}: Roman Urdu in Urdu script"
        assert _is_date(line.verified), f"{line.id}: verified {line.verified!r} is not a date"
        assert _is_url(line.source), line.id
    assert all(line.source.startswith("https://") for line in confirmed_hotlines())


def test_the_gateway_has_a_confirmed_emergency_number_to_give() -> None:
    # The gateway's holding and rate-limit texts give it (bot/texts.py); it fails to start without.
    assert emergency_number(hotlines()) in {line.number for line in confirmed_hotlines(True)}


def test_offices_and_centres_are_sourced_dated_and_named_in_urdu() -> None:
    data = directory()
    protectorates = data["protectorates"]
    assert _sourced_and_dated(protectorates), "protectorates: source and verified date"
    offices = protectorates["offices"]
    centres = data["migrant_resource_centres"]
    for entry in [*offices, *centres]:
        assert isinstance(entry["confirmed"], bool), entry["city"]
        assert _in_urdu_script(entry["ur"]), f"{entry['city']}: the Urdu name is not in Urdu script"
    for centre in centres:
        assert _sourced_and_dated(centre), centre["city"]
    cities = [entry["city"] for entry in offices]
    assert len(cities) == len(set(cities)), f"an office is listed twice in {cities}"
    for city, nearest in data["nearest"].items():
        assert set(nearest) <= set(cities), f"nearest to {city}: {nearest} are not all offices"


def test_every_fee_limit_the_answers_use_is_confirmed_sourced_and_dated() -> None:
    entries = directory()["fee_limits"]
    ids = [entry["id"] for entry in entries]
    assert len(ids) == len(set(ids)), f"duplicate fee limit ids in {ids}"
    for entry in entries:
        assert _sourced_and_dated(entry), entry["id"]
        assert isinstance(entry["amount"], int) and entry["amount"] > 0, entry["id"]
    used = {
        m
        for variations in DOMAIN["responses"].values()
        for variation in variations
        for m in FEE_PLACEHOLDER.findall(variation["text"])
    }
    assert used - set(fee_limits()) == set(), "an answer would show {fee_...} unfilled"


# -- the shape of content/topics.yml and content/promoters.csv ------------------------


def test_every_topic_is_an_intent_of_the_domain() -> None:
    assert set(topics()) <= set(DOMAIN["intents"])
    assert all(title.strip() for title in topics().values())


def test_the_licence_list_reads_and_every_licence_is_sourced_and_dated() -> None:
    listed = promoters()  # raises ContentError on an unknown status or a missing file
    numbers = [promoter.licence_number for promoter in listed]
    assert len(numbers) == len(set(numbers)), "a licence number is listed twice"
    for promoter in listed:
        assert promoter.status in STATUSES, promoter.licence_number
        assert promoter.licence_number == normalize_licence(promoter.licence_number)
        assert promoter.name and promoter.source, promoter.licence_number
        assert _is_date(promoter.expiry) and _is_date(promoter.verified), promoter.licence_number


# -- behaviour, on tests/fixtures/content ---------------------------------------------


def test_only_confirmed_hotlines_are_served_in_file_order(fixture_content) -> None:
    assert [line.id for line in hotlines()] == [
        "old_emergency",
        "emergency",
        "rescue",
        "trafficking",
        "advice",
        "unverified",
    ]
    assert [line.id for line in confirmed_hotlines()] == [
        "emergency",
        "rescue",
        "trafficking",
        "advice",
    ]
    assert [line.id for line in confirmed_hotlines(emergency_only=True)] == [
        "emergency",
        "rescue",
        "trafficking",
    ]


def test_confirmed_fee_limits_are_filled_into_the_answer(fixture_content) -> None:
    assert fee_limits() == {"oep_placement": 12345, "oep_processing": 2345}
    english = _english("utter_recruitment_fees")
    for language in ("en", ROMAN_URDU):
        answer = renderer().render("utter_recruitment_fees", language).text
        template = translated(language, "utter_recruitment_fees", english)
        assert answer == template.format(fee_oep_placement="12,345", fee_oep_processing="2,345")
