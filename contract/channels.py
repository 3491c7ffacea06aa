"""The channels a user can reach Rahnuma on.

A ``str`` enum, so a member is its own wire value (``Channel.SMS == "sms"``):
it travels in Redis, in Rasa's message metadata and in the report store
unchanged, and ``mypy --strict`` catches a misspelt channel.
"""

from __future__ import annotations

from enum import Enum


class Channel(str, Enum):
    """A front door: its value is the name stored and sent everywhere."""

    TELEGRAM = "telegram"
    SMS = "sms"

    def __str__(self) -> str:
        return self.value

    @property
    def display(self) -> str:
        """How staff read the channel's name."""
        return TITLES[self]

    @property
    def short(self) -> str:
        """The prefix of a pseudonym on this channel (``tg-…``, ``sms-…``)."""
        return SHORT[self]

    @classmethod
    def parse(cls, value: object) -> Channel | None:
        """The channel named ``value``, or None for anything else."""
        try:
            return cls(value)
        except ValueError:
            return None


TITLES = {Channel.TELEGRAM: "Telegram", Channel.SMS: "SMS"}
SHORT = {Channel.TELEGRAM: "tg", Channel.SMS: "sms"}
