"""Helplines and the first reply to someone in danger, on tests/fixtures/content/directory.yml.

The fixture lists an unconfirmed emergency line first and an unconfirmed ordinary one
last: neither may ever reach a user.
"""

from __future__ import annotations

import pytest

from actions.hotlines import ActionHotlines, ActionUrgentHelp
from contract.bidi import isolate

pytestmark = pytest.mark.usefixtures("fixture_content")


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
        "Fixture emergency: 115; Fixture rescue: 1133; "
        "Fixture anti-trafficking hotline: 111-555-786"
    )


async def test_urdu_numbers_are_isolated_for_right_to_left_text(
    make_tracker, domain, dispatcher
) -> None:
    await ActionUrgentHelp().run(
        dispatcher, make_tracker(intent="urgent_help", language="ur"), domain
    )
    assert dispatcher.messages[0]["hotlines"] == "، ".join(
        [
            f"فکسچر ایمرجنسی: {isolate('115')}",
            f"فکسچر ریسکیو: {isolate('1133')}",
            f"فکسچر انسانی اسمگلنگ ہیلپ لائن: {isolate('111-555-786')}",
        ]
    )


async def test_hotlines_lists_every_confirmed_number_in_the_chats_language(
    make_tracker, domain, dispatcher
) -> None:
    await ActionHotlines().run(
        dispatcher, make_tracker(intent="ask_hotlines", language="ur_Latn"), domain
    )
    [message] = dispatcher.messages
    assert message["response"] == "utter_hotlines"
    assert message["hotlines"] == (
        "Fixture emergency: 115; Fixture rescue: 1133; "
        "Fixture insani smuggling helpline: 111-555-786; "
        "Fixture mashwara line (muft qanooni mashwara): 0800-55505"
    )
