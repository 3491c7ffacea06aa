"""Safety of the content: no invented numbers, a source for every fact, languages equal."""

from __future__ import annotations

import re
from typing import Any, Dict, List

import pytest
import yaml

from actions.content import confirmed_hotlines, fee_limits, hotlines
from actions.nlg import renderer
from tests.conftest import ROOT

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
SOURCES = yaml.safe_load((ROOT / "content/sources.yml").read_text(encoding="utf-8"))
FACT_SHEET = ROOT.parent / "shared/facts/pakistan-migration.md"
LANGUAGES = ("en", "ur", "ur_Latn")  # names of helplines are deployer data, in all three

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


def _variations() -> List[Dict[str, Any]]:
    return [v for variations in DOMAIN["responses"].values() for v in variations]


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
    assert str(SOURCES["verified"]) == "2026-11-22"


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


def test_only_confirmed_hotlines_are_served_and_each_is_sourced() -> None:
    served = confirmed_hotlines()
    assert {line.id for line in served} == {
        "police",
        "rescue_1122",
        "fia_tip",
        "fia_helpline",
        "mohr",
    }
    for line in served:
        assert set(line.names) == set(LANGUAGES)
        assert line.verified == "2026-11-22"


@pytest.mark.skipif(not FACT_SHEET.exists(), reason="needs ../shared beside the checkout")
def test_fee_limits_are_the_fact_sheets_and_reach_the_answer() -> None:
    sheet = FACT_SHEET.read_text(encoding="utf-8")
    limits = fee_limits()
    assert limits == {"oep_placement": 15000, "oep_processing": 6000}
    for amount in limits.values():
        assert f"Rs {amount:,}" in sheet
    answer = renderer().render("utter_recruitment_fees", "ur_Latn").text
    assert "Rs 15,000" in answer and "Rs 6,000" in answer
