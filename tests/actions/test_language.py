"""The language, channel and first-contact privacy notice, set after every message."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.language import ActionChooseLanguage, ValidateSlotMappings
from tests.actions.conftest import TrackerFactory
from tests.conftest import translated

CONFIDENT_UR = {"code": "ur", "confident": True}
CONFIDENT_ROMAN = {"code": "ur_Latn", "confident": True}
UNSURE_ROMAN = {"code": "ur_Latn", "confident": False}


async def _run(
    tracker_factory: TrackerFactory, domain: DomainDict, **kwargs: Any
) -> Tuple[List[EventType], List[Dict[str, Any]]]:
    """The events and the messages of the action after one message."""
    dispatcher = CollectingDispatcher()
    events = await ValidateSlotMappings().run(dispatcher, tracker_factory(**kwargs), domain)
    return events, dispatcher.messages


async def test_first_message_sets_the_language_even_when_unsure(make_tracker, domain) -> None:
    events, _ = await _run(make_tracker, domain, text="salam", detection=UNSURE_ROMAN)
    assert events == [SlotSet("language", "ur_Latn")]


async def test_confident_message_in_another_language_switches(make_tracker, domain) -> None:
    events, _ = await _run(make_tracker, domain, language="en", detection=CONFIDENT_UR)
    assert events == [SlotSet("language", "ur")]


async def test_short_ambiguous_reply_never_flips_the_language(make_tracker, domain) -> None:
    events, _ = await _run(
        make_tracker, domain, text="haan", intent="affirm", language="en", detection=UNSURE_ROMAN
    )
    assert events == []


async def test_explicit_choice_sets_and_locks(make_tracker, domain) -> None:
    entities = [{"entity": "language", "value": "ur", "start": 0, "end": 4}]
    events, _ = await _run(
        make_tracker,
        domain,
        intent="choose_language",
        entities=entities,
        language="en",
        detection={"code": "en", "confident": True},
    )
    assert events == [SlotSet("language", "ur"), SlotSet("language_locked", True)]


async def test_locked_language_sticks_when_the_user_writes_otherwise(make_tracker, domain) -> None:
    events, _ = await _run(
        make_tracker, domain, language="ur", language_locked=True, detection=CONFIDENT_ROMAN
    )
    assert events == []


async def test_gateway_language_command_is_an_explicit_choice(make_tracker, domain) -> None:
    events, _ = await _run(
        make_tracker,
        domain,
        language="ur",
        metadata={"language_choice": "en", "channel": "telegram"},
    )
    assert events == [
        SlotSet("language", "en"),
        SlotSet("language_locked", True),
        SlotSet("channel", "telegram"),
    ]


async def test_unknown_channel_is_ignored(make_tracker, domain) -> None:
    events, _ = await _run(make_tracker, domain, language="en", metadata={"channel": "fax"})
    assert events == []


async def test_privacy_notice_once_in_the_users_language(make_tracker, domain) -> None:
    events, messages = await _run(
        make_tracker,
        domain,
        text="میرا ویزا اصلی ہے؟",
        detection=CONFIDENT_UR,
        privacy_notice_shown=False,
    )
    assert events == [SlotSet("language", "ur"), SlotSet("privacy_notice_shown", True)]
    english = next(v for v in domain["responses"]["utter_privacy_notice"] if not v.get("channel"))
    # in Urdu, the language of this very message: as the translators wrote it
    assert [m["text"] for m in messages] == [
        translated("ur", "utter_privacy_notice", english["text"])
    ]


async def test_no_notice_after_the_first_contact(make_tracker, domain) -> None:
    _, messages = await _run(make_tracker, domain, language="en", privacy_notice_shown=True)
    assert messages == []


async def test_choose_language_without_a_language_asks_which(
    make_tracker, domain, dispatcher
) -> None:
    await ActionChooseLanguage().run(dispatcher, make_tracker(intent="choose_language"), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_language"]


async def test_choose_language_with_a_language_confirms(make_tracker, domain, dispatcher) -> None:
    entities = [{"entity": "language", "value": "ur_Latn"}]
    tracker = make_tracker(intent="choose_language", entities=entities, language="ur_Latn")
    await ActionChooseLanguage().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_language_changed"]
