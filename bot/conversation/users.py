"""What the gateway keeps about each user between messages: state and the SMS opt-out.

The state (language, the SMS menu, pages still behind MORE) lives as long as
the user's address (``ADDRESS_RETENTION_DAYS`` after their last message).
The opt-out set is read here and nowhere else, by the conversation, the
outbox and the hotline alike: one reader, so an opted-out number can never
be messaged because one of them looked under another name. It survives
erasure: a user who asked for no SMS must not get any after deleting their
data.
"""

from __future__ import annotations

import json
from typing import Optional

from redis.asyncio import Redis

from bot.conversation.messages import UserState
from contract.keys import Keys


class Users:
    """Per-user state and opt-outs in Redis."""

    def __init__(self, redis: Redis, keys: Keys, retention_seconds: int) -> None:
        self._redis = redis
        self._keys = keys
        self._retention = retention_seconds

    async def load(self, pseudonym: str) -> UserState:
        """The user's state (a fresh one for a new user)."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(self._keys.user(pseudonym))
        pipe.sismember(self._keys.optout, pseudonym)
        raw, opted_out = await pipe.execute()
        user = UserState()
        if raw:
            data = json.loads(raw)
            user = UserState(
                language=data.get("language"),
                menu=list(data.get("menu") or []),
                more=list(data.get("more") or []),
            )
        user.opted_out = user.was_opted_out = bool(opted_out)
        return user

    async def save(self, pseudonym: str, user: UserState) -> None:
        """Writes the state back; the opt-out only when this message changed it."""
        data = {"language": user.language, "menu": user.menu, "more": user.more}
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(
            self._keys.user(pseudonym), json.dumps(data, ensure_ascii=False), ex=self._retention
        )
        if user.opted_out != user.was_opted_out:
            if user.opted_out:
                pipe.sadd(self._keys.optout, pseudonym)
            else:
                pipe.srem(self._keys.optout, pseudonym)
        await pipe.execute()

    async def language_of(self, pseudonym: str) -> Optional[str]:
        """The conversation's language as last seen, if any."""
        return (await self.load(pseudonym)).language

    async def is_opted_out(self, pseudonym: str) -> bool:
        """True when this user sent STOP (or its Urdu forms) and not START since."""
        return bool(await self._redis.sismember(self._keys.optout, pseudonym))

    async def opt_out(self, pseudonym: str) -> None:
        """Stops every SMS to this user until they send START."""
        await self._redis.sadd(self._keys.optout, pseudonym)

    async def forget(self, pseudonym: str) -> None:
        """Erases the state (the opt-out stays, by law and kindness)."""
        await self._redis.delete(self._keys.user(pseudonym))
