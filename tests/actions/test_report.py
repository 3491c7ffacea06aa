"""The report form's validation and submission through the escalation boundary."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from rasa_sdk.events import ActiveLoop, SlotSet

from actions import escalation
from actions.escalation import (
    EscalationLimitError,
    EscalationUnavailableError,
    InMemoryEscalation,
    Report,
)
from actions.report import (
    REPORT_SLOTS,
    ActionCancelReport,
    ActionMarkUrgent,
    ActionSubmitReport,
    ValidateReportForm,
)

RESET = [SlotSet(slot, None) for slot in REPORT_SLOTS]
# The emergency lines of tests/fixtures/content/directory.yml, in Roman Urdu.
EMERGENCY_ROMAN_URDU = (
    "Fixture emergency: 115; Fixture rescue: 1133; Fixture insani smuggling helpline: 111-555-786"
)


@pytest.fixture()
def store(monkeypatch: pytest.MonkeyPatch) -> InMemoryEscalation:
    memory = InMemoryEscalation()
    monkeypatch.setattr("actions.report.get_escalation", lambda: memory)
    return memory


def _filled(**overrides):
    slots = dict(
        report_consent=True,
        report_description="The agent took our passports in Tripoli",
        report_location="Libya",
        report_danger=True,
        report_contact=False,
        language="ur_Latn",
        channel="sms",
    )
    slots.update(overrides)
    return slots


async def test_submission_stores_the_report_and_gives_the_reference(
    make_tracker, domain, dispatcher, store, fixture_content
) -> None:
    events = await ActionSubmitReport().run(dispatcher, make_tracker(**_filled()), domain)
    reference = events[-1]["value"]
    assert events == [*RESET, SlotSet("report_reference", reference)]
    assert store.get(reference) == Report(
        reporter="3f9c2a7e0d1b4c58",
        language="ur_Latn",
        channel="sms",
        description="The agent took our passports in Tripoli",
        location="Libya",
        danger_now=True,
        may_contact=False,
        created_at=store.get(reference).created_at,
    )
    responses = [m["response"] for m in dispatcher.messages]
    assert responses == [
        "utter_report_submitted",
        "utter_report_submitted_anonymous",
        "utter_urgent_numbers",
    ]
    assert dispatcher.messages[0]["reference"] == reference
    assert dispatcher.messages[2]["hotlines"] == EMERGENCY_ROMAN_URDU  # someone is in danger


async def test_references_are_distinct_and_readable(store) -> None:
    reports = [Report(f"reporter-{n}", "en", None, "x", None, False, True) for n in range(200)]
    references = {await store.submit(report) for report in reports}
    assert len(references) == 200
    assert all(ref.startswith("R-") and len(ref) == 8 for ref in references)
    assert not any(set(ref[2:]) & set("ILOU") for ref in references)


async def test_refused_consent_sends_nothing(make_tracker, domain, dispatcher, store) -> None:
    tracker = make_tracker(**_filled(report_consent=False, report_description=None))
    events = await ActionSubmitReport().run(dispatcher, tracker, domain)
    assert events == RESET
    assert [m["response"] for m in dispatcher.messages] == ["utter_report_not_sent"]
    assert await store.references_of("3f9c2a7e0d1b4c58") == []


async def test_store_down_keeps_the_answers_and_gives_numbers(
    make_tracker, domain, dispatcher, monkeypatch, fixture_content
) -> None:
    class Down:
        async def submit(self, report: Report) -> str:
            raise EscalationUnavailableError("redis unreachable")

    monkeypatch.setattr("actions.report.get_escalation", lambda: Down())
    events = await ActionSubmitReport().run(dispatcher, make_tracker(**_filled()), domain)
    assert events == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_report_failed"]
    assert dispatcher.messages[0]["hotlines"] == EMERGENCY_ROMAN_URDU


async def test_a_reporter_over_the_daily_limit_gets_the_numbers_not_another_case(
    make_tracker, domain, dispatcher, monkeypatch, fixture_content
) -> None:
    memory = InMemoryEscalation(limit=2)
    monkeypatch.setattr("actions.report.get_escalation", lambda: memory)
    for _ in range(2):
        await ActionSubmitReport().run(dispatcher, make_tracker(**_filled()), domain)
    dispatcher.messages.clear()
    events = await ActionSubmitReport().run(dispatcher, make_tracker(**_filled()), domain)
    assert events == RESET
    assert [m["response"] for m in dispatcher.messages] == ["utter_report_limit"]
    assert dispatcher.messages[0]["hotlines"] == EMERGENCY_ROMAN_URDU
    assert len(await memory.references_of("3f9c2a7e0d1b4c58")) == 2


async def test_reports_older_than_a_day_do_not_count(store: InMemoryEscalation) -> None:
    old = datetime.now(timezone.utc) - timedelta(hours=25)
    limited = InMemoryEscalation(limit=1)
    await limited.submit(Report("a", "en", None, "x", None, False, True, created_at=old))
    assert await limited.submit(Report("a", "en", None, "y", None, False, True))
    with pytest.raises(EscalationLimitError):
        await limited.submit(Report("a", "en", None, "z", None, False, True))
    assert await limited.submit(Report("b", "en", None, "z", None, False, True))  # someone else


async def test_no_more_questions_without_consent(make_tracker, domain, dispatcher) -> None:
    tracker = make_tracker(report_consent=False)
    slots = await ValidateReportForm().required_slots(
        list(REPORT_SLOTS), dispatcher, tracker, domain
    )
    assert slots == []


async def test_all_questions_with_consent(make_tracker, domain, dispatcher) -> None:
    tracker = make_tracker(report_consent=True)
    slots = await ValidateReportForm().required_slots(
        list(REPORT_SLOTS), dispatcher, tracker, domain
    )
    assert slots == list(REPORT_SLOTS)


def test_description_said_as_an_emergency_gives_numbers_and_sets_danger(
    make_tracker, domain, dispatcher
) -> None:
    tracker = make_tracker(text="they are beating him now", intent="urgent_help", language="en")
    result = ValidateReportForm().validate_report_description(
        "they are beating him now", dispatcher, tracker, domain
    )
    assert result == {"report_description": "they are beating him now", "report_danger": True}
    assert [m["response"] for m in dispatcher.messages] == ["utter_urgent_numbers"]


def test_long_description_is_kept_up_to_the_limit(make_tracker, domain, dispatcher) -> None:
    text = "x" * 10_000
    result = ValidateReportForm().validate_report_description(
        text, dispatcher, make_tracker(intent="report_trafficking"), domain
    )
    assert result == {"report_description": "x" * 4000}
    assert dispatcher.messages == []


def test_blank_description_is_asked_again(make_tracker, domain, dispatcher) -> None:
    result = ValidateReportForm().validate_report_description(
        "   ", dispatcher, make_tracker(), domain
    )
    assert result == {"report_description": None}


async def test_urgent_hand_off_marks_danger(make_tracker, domain, dispatcher) -> None:
    assert await ActionMarkUrgent().run(dispatcher, make_tracker(), domain) == [
        SlotSet("report_danger", True)
    ]


async def test_cancel_clears_the_form(make_tracker, domain, dispatcher) -> None:
    events = await ActionCancelReport().run(dispatcher, make_tracker(**_filled()), domain)
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None), *RESET]
    assert [m["response"] for m in dispatcher.messages] == ["utter_report_cancelled"]


def test_unknown_backend_is_a_clear_error(monkeypatch) -> None:
    escalation.get_escalation.cache_clear()
    monkeypatch.setenv("ESCALATION_BACKEND", "carrier-pigeon")
    with pytest.raises(escalation.EscalationError, match="unknown ESCALATION_BACKEND"):
        escalation.get_escalation()
    escalation.get_escalation.cache_clear()
