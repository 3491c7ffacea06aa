"""End-to-end tests: the real stack (Rasa, action server, gateway) started by `make e2e`.

They talk to it exactly as ``make chat`` does (``dev/chat.py``): Telegram
updates with the webhook secret and Twilio-signed SMS, against the gateway
wired to the local Telegram/Twilio peers. Run in ``.venv-bot``.

What the stack should answer is read from where the stack reads it: the
domain's English texts, the translators' catalogs, the deployer's directory.
A test never repeats their wording, so a new translation or helpline number
changes the expectation with the answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Dict, List

import pytest
import yaml

from contract.directory import Helpline, parse_hotlines, served
from contract.paths import content_dir
from dev.chat import HOLDING, Phone, read_env
from tests.conftest import ROOT, translated

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture
def phone() -> Iterator[Phone]:
    path = ROOT / "var/local.env"
    if not path.exists():
        pytest.fail("no var/local.env: run these through `make e2e`, which starts the stack")
    env = read_env(path)
    phone = Phone(env, env["GATEWAY_URL"], wait=60)
    yield phone
    phone.close()


def _variation(name: str, sms: bool) -> Dict[str, Any]:
    variations: List[Dict[str, Any]] = DOMAIN["responses"][name]
    return next(v for v in variations if (v.get("channel") == "sms") == sms)


def response(name: str, language: str, sms: bool = False) -> str:
    """Response ``name`` as the catalogs translate it (its SMS short form with ``sms``);
    placeholders stay as written."""
    context = f"{name} (sms)" if sms else name
    return translated(language, context, str(_variation(name, sms)["text"]))


def button_titles(name: str, language: str) -> List[str]:
    """The titles of response ``name``'s buttons, translated."""
    buttons = _variation(name, sms=False).get("buttons") or []
    return [translated(language, "button", str(button["title"])) for button in buttons]


def button_payloads(name: str) -> List[str]:
    """What response ``name``'s buttons send."""
    return [str(button["payload"]) for button in _variation(name, sms=False).get("buttons") or []]


def _directory() -> Dict[str, Any]:
    """The deployer's directory, which the stack serves (``RAHNUMA_CONTENT_DIR`` honoured)."""
    text = (content_dir() / "directory.yml").read_text(encoding="utf-8")
    directory: Dict[str, Any] = yaml.safe_load(text) or {}
    return directory


def emergency_lines() -> List[Helpline]:
    """The helplines the stack gives someone in danger: the deployer's, confirmed."""
    return served(parse_hotlines(_directory()), emergency_only=True)


def fee_values() -> Dict[str, str]:
    """The ``{fee_<id>}`` placeholders as a Latin-script answer shows them (``15,000``)."""
    limits = [entry for entry in _directory().get("fee_limits") or [] if entry["confirmed"]]
    return {f"fee_{entry['id']}": f"{int(entry['amount']):,}" for entry in limits}


def answers(messages: List[str]) -> List[str]:
    """SMS bodies without the holding message (sent when the assistant is slow)."""
    return [message for message in messages if message not in HOLDING]


def squash(text: str) -> str:
    """``text`` with every run of white space one space (pages are cut at white space)."""
    return " ".join(text.split())
