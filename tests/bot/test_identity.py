"""Identity: pseudonyms that reveal nothing, addresses kept only encrypted and only for a while."""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import List

import pytest
from cryptography.fernet import Fernet, InvalidToken
from redis.asyncio import Redis

from bot.identity import AddressBook, Pseudonyms
from contract.channels import Channel
from contract.keys import Keys
from contract.sealing import Sealer
from tests.bot.conftest import GatewayRig

KEY = "pseudonym-key-" + "z" * 30
PHONE = "+923451239876"
CHAT = "731904562"
RETENTION = 30 * 86400


def new_key() -> str:
    return Fernet.generate_key().decode()


def as_bytes(value: object) -> bytes:
    """A Redis answer as this client gives it: bytes (it does not decode; redis-py's types
    say bytes or str, since they cannot know)."""
    assert isinstance(value, bytes), value
    return value


# -- pseudonyms -----------------------------------------------------------------


def test_a_pseudonym_is_stable_across_processes() -> None:
    first = Pseudonyms(KEY).of(Channel.SMS, PHONE)
    assert first == Pseudonyms(KEY).of(Channel.SMS, PHONE)
    assert re.fullmatch(r"sms-[0-9a-f]{32}", first)
    assert re.fullmatch(r"tg-[0-9a-f]{32}", Pseudonyms(KEY).of(Channel.TELEGRAM, CHAT))


def test_a_pseudonym_differs_by_address_channel_and_key() -> None:
    pseudonyms = Pseudonyms(KEY)
    sms, telegram = pseudonyms.of(Channel.SMS, "12345"), pseudonyms.of(Channel.TELEGRAM, "12345")
    assert sms.split("-", 1)[1] != telegram.split("-", 1)[1]  # not just another prefix
    assert pseudonyms.of(Channel.SMS, PHONE) != pseudonyms.of(Channel.SMS, "+923451239877")
    assert Pseudonyms(KEY).of(Channel.SMS, PHONE) != Pseudonyms(KEY + "x").of(Channel.SMS, PHONE)


@pytest.mark.parametrize(
    ("channel", "address"),
    [
        (Channel.SMS, PHONE),
        (Channel.TELEGRAM, CHAT),
        (Channel.SMS, "+447700900123"),
        (Channel.TELEGRAM, "1000000001"),
    ],
)
def test_a_pseudonym_never_contains_the_address(channel: Channel, address: str) -> None:
    pseudonym = Pseudonyms(KEY).of(channel, address)
    assert address.lstrip("+") not in pseudonym
    # Keyed: whoever has the address but not the key cannot compute (or confirm) it.
    unkeyed = hashlib.sha256(f"{channel}:{address}".encode()).hexdigest()[:32]
    assert pseudonym.split("-", 1)[1] != unkeyed


# -- sealing --------------------------------------------------------------------


@pytest.mark.parametrize("value", [PHONE, CHAT, "یہ ایک راز ہے", ""])
def test_a_sealed_value_opens_to_itself_and_hides_it(value: str) -> None:
    sealer = Sealer(new_key())
    token = sealer.seal(value)
    assert sealer.open(token) == value
    if value:
        assert value.encode() not in token
    assert sealer.seal(value) != token  # fresh IV: equal values do not look equal


def test_values_sealed_with_the_old_key_open_after_rotation() -> None:
    old, new = new_key(), new_key()
    before = Sealer(old).seal(PHONE)
    rotated = Sealer(f"{new},{old}")
    assert rotated.open(before) == PHONE
    after = rotated.seal(PHONE)
    assert Sealer(new).open(after) == PHONE  # the first key encrypts
    with pytest.raises(InvalidToken):
        Sealer(old).open(after)


def test_a_value_sealed_with_another_key_does_not_open() -> None:
    with pytest.raises(InvalidToken):
        Sealer(new_key()).open(Sealer(new_key()).seal(PHONE))


# -- the address book, against real Redis ---------------------------------------------


def book(redis: Redis, prefix: str, keys: str, ttl: int = RETENTION) -> AddressBook:
    return AddressBook(redis, Sealer(keys), Keys(prefix), ttl)


async def test_an_address_is_kept_encrypted_for_the_retention_period(
    redis: Redis, prefix: str
) -> None:
    pseudonym = Pseudonyms(KEY).of(Channel.SMS, PHONE)
    addresses = book(redis, prefix, new_key())
    await addresses.remember(pseudonym, PHONE)
    stored = await redis.get(f"{prefix}:address:{pseudonym}")
    assert stored is not None
    assert PHONE.encode() not in stored and PHONE[1:].encode() not in stored
    assert RETENTION - 5 <= await redis.ttl(f"{prefix}:address:{pseudonym}") <= RETENTION
    assert await addresses.lookup(pseudonym) == PHONE


async def test_each_message_renews_the_retention_period(redis: Redis, prefix: str) -> None:
    pseudonym = Pseudonyms(KEY).of(Channel.TELEGRAM, CHAT)
    addresses = book(redis, prefix, new_key())
    await addresses.remember(pseudonym, CHAT)
    await redis.expire(f"{prefix}:address:{pseudonym}", 60)  # as if 29 days had passed
    await addresses.remember(pseudonym, CHAT)
    assert await redis.ttl(f"{prefix}:address:{pseudonym}") > RETENTION - 5


async def test_an_expired_address_is_gone(redis: Redis, prefix: str) -> None:
    pseudonym = Pseudonyms(KEY).of(Channel.SMS, PHONE)
    addresses = book(redis, prefix, new_key())
    await addresses.remember(pseudonym, PHONE)
    await redis.pexpire(f"{prefix}:address:{pseudonym}", 1)
    await asyncio.sleep(0.05)
    assert await addresses.lookup(pseudonym) is None


async def test_forget_erases_the_address(redis: Redis, prefix: str) -> None:
    pseudonym = Pseudonyms(KEY).of(Channel.SMS, PHONE)
    other = Pseudonyms(KEY).of(Channel.SMS, "+923000000001")
    addresses = book(redis, prefix, new_key())
    await addresses.remember(pseudonym, PHONE)
    await addresses.remember(other, "+923000000001")
    await addresses.forget(pseudonym)
    assert await redis.exists(f"{prefix}:address:{pseudonym}") == 0
    assert await addresses.lookup(pseudonym) is None
    assert await addresses.lookup(other) == "+923000000001"  # only that user's


async def test_a_foreign_token_is_no_address(redis: Redis, prefix: str) -> None:
    pseudonym = Pseudonyms(KEY).of(Channel.SMS, PHONE)
    await book(redis, prefix, new_key()).remember(pseudonym, PHONE)  # another deployment's key
    assert await book(redis, prefix, new_key()).lookup(pseudonym) is None
    await redis.set(f"{prefix}:address:{pseudonym}", b"not a fernet token at all")
    assert await book(redis, prefix, new_key()).lookup(pseudonym) is None


async def test_addresses_survive_key_rotation(redis: Redis, prefix: str) -> None:
    old, new = new_key(), new_key()
    pseudonym = Pseudonyms(KEY).of(Channel.TELEGRAM, CHAT)
    await book(redis, prefix, old).remember(pseudonym, CHAT)
    assert await book(redis, prefix, f"{new},{old}").lookup(pseudonym) == CHAT
    assert await book(redis, prefix, new).lookup(pseudonym) is None


# -- what the running gateway leaves in Redis -------------------------------------------


async def test_the_gateway_keeps_no_phone_number_or_chat_id_in_plain_text(
    stack: GatewayRig, redis: Redis, prefix: str
) -> None:
    params = stack.sms_params(PHONE, "my number is in the From field")
    assert (await stack.post_sms(params)).status_code == 200
    await stack.post_update(stack.telegram_text(int(CHAT), "hello from telegram"))
    await stack.telegram_sent(int(CHAT), 1)
    stack.rasa.down = True  # leaves a message waiting in the inbox
    await stack.post_update(stack.telegram_text(int(CHAT), "waiting in the inbox"))
    await stack.telegram_sent(int(CHAT), 2)  # the holding message

    keys = [as_bytes(key) async for key in redis.scan_iter(f"{prefix}:*")]
    assert any(b":inbox:" in key for key in keys)
    forbidden = [PHONE, PHONE[1:], CHAT, "waiting in the inbox"]
    for key in keys:
        kind = as_bytes(await redis.type(key)).decode()
        values: List[bytes]
        if kind == "string":
            values = [as_bytes(await redis.get(key))]
        elif kind == "list":
            values = [as_bytes(value) for value in await redis.lrange(key, 0, -1)]
        elif kind == "set":
            values = [as_bytes(value) for value in await redis.smembers(key)]
        elif kind == "zset":
            values = [as_bytes(value) for value in await redis.zrange(key, 0, -1)]
        elif kind == "stream":
            entries = await redis.xrange(key) or []
            values = [as_bytes(v) for _, fields in entries for v in (fields or {}).values()]
        else:
            values = [as_bytes(value) for value in (await redis.hgetall(key)).values()]
        for text in forbidden:
            assert text.encode() not in key
            for value in values:
                assert text.encode() not in value, (key, kind)

    sms_pseudonym = stack.rasa.received[0]["sender"]
    address_key = f"{prefix}:address:{sms_pseudonym}"
    assert RETENTION - 5 <= await redis.ttl(address_key) <= RETENTION
