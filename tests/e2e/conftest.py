"""End-to-end tests: the real stack (Rasa, action server, gateway) started by `make e2e`.

They talk to it exactly as ``make chat`` does (``dev/chat.py``): Telegram
updates with the webhook secret and Twilio-signed SMS, against the gateway
wired to the local Telegram/Twilio peers. Run in ``.venv-bot``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dev.chat import Phone, read_env
from tests.conftest import ROOT


@pytest.fixture
def phone() -> Iterator[Phone]:
    path = ROOT / "var/local.env"
    if not path.exists():
        pytest.fail("no var/local.env: run these through `make e2e`, which starts the stack")
    env = read_env(path)
    phone = Phone(env, env["GATEWAY_URL"], wait=60)
    yield phone
    phone.close()
