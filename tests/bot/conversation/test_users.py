"""What the gateway remembers of a user between messages, and the SMS opt-out, in real Redis."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from bot.conversation.messages import UserState
from bot.conversation.users import Users
from contract.keys import Keys

RETENTION = 30 * 86400
ALICE, BOB = "sms-" + "a" * 32, "sms-" + "b" * 32


@pytest.fixture
def users(redis: Redis, prefix: str) -> Users:
    return Users(redis, Keys(prefix), RETENTION)


async def test_a_new_user_starts_with_a_fresh_state(users: Users) -> None:
    user = await users.load(ALICE)
    assert user == UserState()
    assert await users.language_of(ALICE) is None
    assert not await users.is_opted_out(ALICE)


async def test_the_state_is_kept_between_messages_for_the_retention_period(
    users: Users, redis: Redis, prefix: str
) -> None:
    user = await users.load(ALICE)
    user.language = "ur"
    user.menu = ["/ask_legal_migration", "/ask_verify_agent"]
    user.more = ["page two", "صفحہ تین"]
    await users.save(ALICE, user)

    again = await users.load(ALICE)
    assert (again.language, again.menu, again.more) == ("ur", user.menu, user.more)
    assert await users.language_of(ALICE) == "ur"
    assert await users.load(BOB) == UserState()  # nobody else's
    assert RETENTION - 5 <= await redis.ttl(Keys(prefix).user(ALICE)) <= RETENTION


async def test_stop_and_start_are_written_back(users: Users) -> None:
    user = await users.load(ALICE)
    user.opted_out = True  # the SMS channel read STOP
    await users.save(ALICE, user)
    assert await users.is_opted_out(ALICE)
    stopped = await users.load(ALICE)
    assert stopped.opted_out and stopped.was_opted_out

    stopped.opted_out = False  # START
    await users.save(ALICE, stopped)
    assert not await users.is_opted_out(ALICE)


async def test_an_answer_saved_after_stop_does_not_undo_it(users: Users) -> None:
    # The webhook opts the number out at once, while an earlier message is being answered
    # with the state loaded before STOP arrived: saving that state must keep the opt-out.
    answering = await users.load(ALICE)
    await users.opt_out(ALICE)
    answering.language = "en"
    await users.save(ALICE, answering)
    assert await users.is_opted_out(ALICE)
    assert await users.language_of(ALICE) == "en"


async def test_erasure_forgets_the_state_but_keeps_the_opt_out(users: Users) -> None:
    user = await users.load(ALICE)
    user.language, user.menu = "ur", ["/menu"]
    await users.save(ALICE, user)
    await users.opt_out(ALICE)
    await users.opt_out(BOB)

    await users.forget(ALICE)
    forgotten = await users.load(ALICE)
    assert (forgotten.language, forgotten.menu, forgotten.more) == (None, [], [])
    assert await users.is_opted_out(ALICE)  # no SMS after deleting one's data either
    assert await users.is_opted_out(BOB)
