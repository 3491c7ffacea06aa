"""End to end: the trained model, the real action server, whole conversations.

Run by `make integration` (model trained, action server started by the make
target). Checks what a user would notice: the language of the replies, the
privacy notice, emergency numbers in the very first reply, the reference code,
deletion.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from actions.content import confirmed_hotlines, format_hotlines
from tests.conftest import ROOT, translated

pytestmark = pytest.mark.integration

MODEL = Path(os.environ.get("RAHNUMA_MODEL", ROOT / "models/rahnuma.tar.gz"))
ACTION_SERVER = os.environ.get("ACTION_SERVER_URL", "http://localhost:5055")
URDU_LETTERS = re.compile(r"[\u0600-\u06ff]")
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def response(name: str, language: str = "en") -> str:
    """Response ``name`` (its full form: no channel here) as the catalogs translate it."""
    english = next(v["text"] for v in DOMAIN["responses"][name] if not v.get("channel"))
    return translated(language, name, str(english))


@pytest.fixture(scope="module")
def agent() -> Any:
    from rasa.core.agent import Agent
    from rasa.utils.endpoints import EndpointConfig

    from dialogue.tracker_store import ErasingInMemoryTrackerStore

    assert MODEL.exists(), f"no trained model at {MODEL}: run `make train`"
    loaded = Agent.load(
        str(MODEL),
        action_endpoint=EndpointConfig(f"{ACTION_SERVER}/webhook"),
        generator=EndpointConfig(type="dialogue.nlg.LocalizedNLG"),
    )
    loaded.tracker_store = ErasingInMemoryTrackerStore(domain=loaded.domain)
    assert loaded.processor is not None, "the model loaded without a processor"
    loaded.processor.tracker_store = loaded.tracker_store
    return loaded


class Chat:
    """One user's conversation."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.sender = uuid.uuid4().hex

    async def say(self, text: str) -> List[Dict[str, Any]]:
        return list(await self.agent.handle_text(text, sender_id=self.sender) or [])

    async def texts(self, text: str) -> List[str]:
        """What the user reads (the ``custom`` items after each text are for the gateway)."""
        return [reply["text"] for reply in await self.say(text) if "text" in reply]

    async def slot(self, name: str) -> Any:
        tracker = await self.agent.tracker_store.retrieve(self.sender)
        return tracker.get_slot(name)


def _is_urdu(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return sum(1 for c in letters if URDU_LETTERS.match(c)) > 0.6 * len(letters)


async def test_first_contact_gets_the_privacy_notice_in_the_users_language(agent: Any) -> None:
    chat = Chat(agent)
    replies = await chat.texts("السلام علیکم، مجھے بیرون ملک نوکری کے بارے میں پوچھنا ہے")
    assert len(replies) >= 2
    assert all(_is_urdu(reply) for reply in replies)
    notice = response("utter_privacy_notice", "ur")
    assert replies[0] == notice
    notes = [r["custom"]["rahnuma"] for r in await chat.say("شکریہ") if "custom" in r]
    assert notes and all(note["language"] == "ur" for note in notes)  # what the gateway reads
    second = await chat.texts("پروٹیکٹر کیا ہوتا ہے اور کیوں ضروری ہے")
    assert second and notice not in second  # once only


async def test_reply_language_follows_the_user_and_short_replies_do_not_flip_it(agent: Any) -> None:
    chat = Chat(agent)
    await chat.say("mujhe bahar kaam ke liye jana hai, qanooni tareeqa kya hai")
    assert await chat.slot("language") == "ur_Latn"
    await chat.say("ok")
    assert await chat.slot("language") == "ur_Latn"
    replies = await chat.texts("what is the protector and why do I need it")
    assert await chat.slot("language") == "en"
    assert response("utter_protector") in replies


async def test_explicit_language_choice_sticks(agent: Any) -> None:
    chat = Chat(agent)
    await chat.say('/choose_language{"language": "ur"}')
    assert await chat.slot("language") == "ur"
    replies = await chat.texts("how much fee can an agent legally take from me")
    assert await chat.slot("language") == "ur"
    assert replies and all(_is_urdu(reply) for reply in replies)


async def test_someone_in_danger_gets_emergency_numbers_in_the_first_reply(agent: Any) -> None:
    chat = Chat(agent)
    await chat.say("hello")
    replies = await chat.texts(
        "help they locked my brother in a room and took his passport, he cannot get out"
    )
    # every confirmed emergency line of the deployer's directory, before anything else
    hotlines = format_hotlines(confirmed_hotlines(emergency_only=True), "en")
    assert replies == [
        response("utter_urgent_numbers").format(hotlines=hotlines),
        response("utter_offer_handoff"),  # then the offer to pass the case to staff
    ]


async def test_a_report_gets_a_reference_after_consent(agent: Any) -> None:
    chat = Chat(agent)
    await chat.say("hello")
    await chat.say("/report_trafficking")
    await chat.say("/affirm")
    await chat.say(
        "the agent in our village took money from ten boys and sent them to Libya by boat"
    )
    await chat.say("Gujrat")
    await chat.say("/deny")
    replies = await chat.texts("/affirm")
    reference = re.search(r"R-[0-9A-Z]{6}", " ".join(replies))
    assert reference, replies
    assert await chat.slot("report_reference") == reference.group(0)


async def test_a_hotline_question_in_the_middle_of_a_report_returns_to_it(agent: Any) -> None:
    chat = Chat(agent)
    await chat.say("hello")
    await chat.say("/report_trafficking")
    await chat.say("/affirm")
    replies = await chat.texts("what is the helpline number")
    hotlines = format_hotlines(confirmed_hotlines(), "en")
    assert response("utter_hotlines").format(hotlines=hotlines) in replies
    assert await chat.slot("requested_slot") == "report_description"


async def test_deleting_data_erases_the_conversation(agent: Any) -> None:
    chat = Chat(agent)
    await chat.say("mera visa asli hai ya nahi kaise pata karun")
    await chat.say("/delete_my_data")
    await chat.say("/affirm")
    tracker = await agent.tracker_store.retrieve(chat.sender)
    stored = str([event.as_dict() for event in tracker.events])
    assert "visa asli" not in stored
    assert tracker.get_slot("language") == "ur_Latn"
