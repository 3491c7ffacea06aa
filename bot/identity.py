"""Who a user is, as far as the rest of the system may know.

Rasa, logs and metrics see only a pseudonym: a keyed HMAC of channel and
address (``tg-…`` / ``sms-…``). The address itself (Telegram chat id, phone
number) is needed only to send a late reply, so it is kept sealed
(``contract/sealing.py``) in Redis under the pseudonym, and expires
``ADDRESS_RETENTION_DAYS`` after the user's last message.

Never logs an address.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Optional

from redis.asyncio import Redis

from contract.channels import Channel
from contract.keys import Keys
from contract.sealing import InvalidToken, Sealer


class Pseudonyms:
    """Stable, unlinkable sender ids."""

    def __init__(self, key: str) -> None:
        self._key = key.encode("utf-8")

    def of(self, channel: Channel, address: str) -> str:
        """The pseudonym Rasa sees for ``address`` on ``channel``."""
        digest = hmac.new(self._key, f"{channel.value}:{address}".encode(), hashlib.sha256)
        return f"{channel.short}-{digest.hexdigest()[:32]}"


class AddressBook:
    """Sealed pseudonym → address, with a time limit."""

    def __init__(self, redis: Redis, sealer: Sealer, keys: Keys, ttl_seconds: int) -> None:
        self._redis = redis
        self._sealer = sealer
        self._keys = keys
        self._ttl = ttl_seconds

    @property
    def ttl(self) -> int:
        """Seconds an address is kept after the user's last message."""
        return self._ttl

    def key(self, pseudonym: str) -> str:
        """The Redis key of a user's sealed address."""
        return self._keys.address(pseudonym)

    def seal(self, address: str) -> bytes:
        """The address as stored (for writers that batch it with other commands)."""
        return self._sealer.seal(address)

    async def remember(self, pseudonym: str, address: str) -> None:
        """Keeps the address until the retention limit (renewed on every message)."""
        await self._redis.set(self.key(pseudonym), self.seal(address), ex=self._ttl)

    async def lookup(self, pseudonym: str) -> str | None:
        """The address, or None when it expired, was erased or cannot be decrypted."""
        token: Optional[bytes] = await self._redis.get(self.key(pseudonym))  # type: ignore[assignment]
        if token is None:
            return None
        try:
            return self._sealer.open(token)
        except InvalidToken:
            return None

    async def forget(self, pseudonym: str) -> None:
        """Erases the address."""
        await self._redis.delete(self.key(pseudonym))
