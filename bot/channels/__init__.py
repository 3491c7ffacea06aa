"""The front doors: what each channel contributes to a conversation.

A channel interprets what its users send (commands, keywords, menu numbers),
shapes the assistant's answers to its limits, and sends. Everything that
differs between channels is behind this interface; the conversation code
never asks which channel it is talking to.
"""

from __future__ import annotations

from typing import List, Protocol, Sequence

from bot.conversation.messages import Inbound, Outgoing, Step, UserState
from bot.rasa import Reply
from contract.channels import Channel

__all__ = ["ChannelDoor"]


class ChannelDoor(Protocol):
    """One front door (Telegram, SMS)."""

    @property
    def name(self) -> Channel:
        """Which channel this is."""

    @property
    def answers_in_webhook(self) -> bool:
        """Answers travel back in the waiting webhook's response when they are ready in time."""

    def interpret(self, inbound: Inbound, user: UserState) -> Step:
        """What to do with an inbound message: ask the assistant or answer locally."""

    def shape(self, replies: Sequence[Reply], user: UserState) -> List[Outgoing]:
        """The assistant's replies as this channel's messages (may update ``user``)."""

    def is_control(self, inbound: Inbound) -> bool:
        """The message is for the channel itself and must reach it whatever else holds
        the conversation (SMS STOP and START)."""

    async def send(self, address: str, messages: Sequence[Outgoing]) -> None:
        """Delivers messages now; raises DeliveryError when the provider refuses."""
