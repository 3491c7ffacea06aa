"""An SMS is never answered with a 5xx: Twilio does not deliver it again, so a message the
gateway cannot take in (Redis down) gets a 200 TwiML "send it again" with the emergency
number; the Fallback URL says the same without touching anything."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import AsyncIterator, List
from urllib.parse import urlencode

import pytest

from bot import texts
from contract.languages import URDU
from dev.redis_server import RedisServer
from tests.bot.conftest import GatewayRig, running_stack

PHONE = "+923001112233"
SEND_AGAIN = texts.text("sms_send_again", None)


def bodies(twiml: str) -> List[str]:
    return [element.text or "" for element in ET.fromstring(twiml).findall("Message")]


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


async def test_an_sms_during_a_redis_outage_gets_send_again_not_a_5xx(
    own_redis: RedisServer, prefix: str
) -> None:
    async with running_stack(prefix, REDIS_URL=own_redis.url) as stack:
        before = await stack.post_sms(stack.sms_params(PHONE, "how do I check an agent"))
        assert before.status_code == 200 and bodies(before.text) != [SEND_AGAIN]
        own_redis.kill()
        during = await stack.post_sms(stack.sms_params(PHONE, "they took my passport"))
        assert during.status_code == 200
        assert bodies(during.text) == [SEND_AGAIN]
        assert texts.emergency() in SEND_AGAIN
        urdu = await stack.post_sms(stack.sms_params(PHONE, "میرا پاسپورٹ لے لیا"))
        assert bodies(urdu.text) == [texts.text("sms_send_again", URDU)]
        own_redis.start()
        after = await stack.post_sms(stack.sms_params(PHONE, "how do I check an agent"))
        assert after.status_code == 200 and bodies(after.text) != [SEND_AGAIN]


async def test_a_forged_sms_during_an_outage_is_still_refused(
    own_redis: RedisServer, prefix: str
) -> None:
    async with running_stack(prefix, REDIS_URL=own_redis.url) as stack:
        own_redis.kill()
        forged = await stack.post_sms(stack.sms_params(PHONE, "hello"), signature="AAAA")
        assert forged.status_code == 403


async def post_fallback(stack: GatewayRig, body: str, signature: str = "") -> tuple[int, str]:
    params = stack.sms_params(PHONE, body)
    url = stack.public_url + "/sms/twilio/fallback"
    response = await stack.http.post(
        stack.url + "/sms/twilio/fallback",
        content=urlencode(params).encode(),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature or stack.sign(params, url),
        },
    )
    return response.status_code, response.text


async def test_the_fallback_url_asks_to_send_again(stack: GatewayRig) -> None:
    status, twiml = await post_fallback(stack, "help, I am stuck at the border")
    assert status == 200
    assert bodies(twiml) == [SEND_AGAIN]


async def test_the_fallback_url_checks_the_signature(stack: GatewayRig) -> None:
    status, _ = await post_fallback(stack, "hello", signature="AAAA")
    assert status == 403
