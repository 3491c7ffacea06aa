"""Helplines and the first reply to someone in danger."""

from __future__ import annotations

from actions.content import confirmed_hotlines, hotlines
from actions.hotlines import ActionHotlines, ActionUrgentHelp
from contract.bidi import isolate


async def test_urgent_help_gives_every_confirmed_emergency_number_at_once(
    make_tracker, domain, dispatcher
) -> None:
    events = await ActionUrgentHelp().run(
        dispatcher, make_tracker(intent="urgent_help", language="en"), domain
    )
    assert events == []
    [message] = dispatcher.messages
    assert message["response"] == "utter_urgent_numbers"
    assert message["hotlines"] == (
        "Police emergency: 15; Rescue 1122: 1122; FIA human trafficking hotline: 111-247-786"
    )


async def test_urdu_numbers_are_isolated_for_right_to_left_text(
    make_tracker, domain, dispatcher
) -> None:
    await ActionUrgentHelp().run(
        dispatcher, make_tracker(intent="urgent_help", language="ur"), domain
    )
    text = dispatcher.messages[0]["hotlines"]
    lines = confirmed_hotlines(emergency_only=True)
    assert lines, "the directory must list an emergency line for this test to mean anything"
    for line in lines:
        assert f"{line.name('ur')}: {isolate(line.number)}" in text


async def test_hotlines_lists_only_confirmed_numbers(make_tracker, domain, dispatcher) -> None:
    await ActionHotlines().run(
        dispatcher, make_tracker(intent="ask_hotlines", language="ur_Latn"), domain
    )
    text = dispatcher.messages[0]["hotlines"]
    for line in hotlines():
        assert (line.number in text) == line.confirmed, line.id
    assert "Wazarat-e-Insani Huqooq helpline" in text


def test_unconfirmed_entries_exist_but_are_never_confirmed_by_accident() -> None:
    unconfirmed = {line.id for line in hotlines() if not line.confirmed}
    assert unconfirmed == {"mrc", "opf"}
    assert all(line.source.startswith("https://") for line in confirmed_hotlines())
