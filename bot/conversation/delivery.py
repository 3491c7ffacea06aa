"""Getting messages to a user, or to a staff member, on their channel.

Two ways in: ``to_user`` for someone known by pseudonym (the address is
looked up sealed, an opted-out user gets nothing, a refusal that may pass is
queued in the outbox), and ``to_address`` for staff, whose address the
gateway knows from its settings. Conversations and the hotline both send
through here, so the rules for who may be messaged live in one place.

Never logs addresses or text.
"""

from __future__ import annotations

import logging
from typing import Literal, Mapping, Optional, Sequence

from redis.exceptions import RedisError

from bot.channels import ChannelDoor
from bot.conversation.messages import Outgoing
from bot.conversation.outbox import Outbox
from bot.conversation.users import Users
from bot.errors import DeliveryError
from bot.identity import AddressBook
from contract.channels import Channel

logger = logging.getLogger(__name__)

# sent: the provider took it; queued: in the outbox for a retry; unreachable: never will be.
DeliveryOutcome = Literal["sent", "queued", "unreachable"]


class Delivery:
    """Sends on the configured channels."""

    def __init__(
        self,
        channels: Mapping[Channel, ChannelDoor],
        addresses: AddressBook,
        users: Users,
        outbox: Outbox,
    ) -> None:
        self._channels = dict(channels)
        self._addresses = addresses
        self._users = users
        self._outbox = outbox

    def channel(self, name: Channel) -> Optional[ChannelDoor]:
        """The configured channel of that name, if any."""
        return self._channels.get(name)

    async def to_user(
        self, pseudonym: str, channel: Optional[Channel], messages: Sequence[Outgoing]
    ) -> DeliveryOutcome:
        """Sends now; a refusal that may pass goes to the outbox."""
        door = self._channels.get(channel) if channel is not None else None
        if door is None or not messages:
            return "unreachable"
        address = await self._addresses.lookup(pseudonym)
        if address is None:
            logger.warning("no address kept for %s; nothing sent", pseudonym)
            return "unreachable"
        if await self._users.is_opted_out(pseudonym):
            return "unreachable"
        try:
            await door.send(address, messages)
            return "sent"
        except DeliveryError as error:
            if error.permanent:
                logger.warning("delivery to %s refused for good: %s", pseudonym, error)
                return "unreachable"
            logger.warning("delivery to %s failed (%s); queued for retry", pseudonym, error)
        try:
            await self._outbox.put(pseudonym, door.name, messages)
        except RedisError:
            return "unreachable"
        return "queued"

    async def queue(self, pseudonym: str, channel: Channel, messages: Sequence[Outgoing]) -> None:
        """Leaves ``messages`` to the outbox (an SMS answer that missed its webhook)."""
        await self._outbox.put(pseudonym, channel, messages)

    async def to_address(
        self, channel: Channel, address: str, messages: Sequence[Outgoing]
    ) -> bool:
        """Sends to an address the gateway was configured with (staff); False on failure."""
        door = self._channels.get(channel)
        if door is None:
            return False
        try:
            await door.send(address, messages)
            return True
        except DeliveryError as error:
            logger.warning("message on %s failed: %s", channel, error)
            return False
