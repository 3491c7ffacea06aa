"""The turn id: how the gateway and Rasa's channel agree that two sends are one message.

The gateway sends it in the metadata of every message (``bot/conversation/inbox.py``); Rasa's
REST channel (``dialogue/channel.py``) finds it in the stored conversation and then answers a
retry from what the turn said, instead of running it again. A digest of the channel and the
provider's message id, so Rasa never sees a provider id. Standard library only: both
environments import it.
"""

from __future__ import annotations

import hashlib

TURN = "turn"  # the metadata key


def turn_id(channel: str, message_id: str) -> str:
    """The id of the message ``message_id`` on ``channel`` (``Channel.value``)."""
    return hashlib.sha256(f"{channel}:{message_id}".encode()).hexdigest()[:32]
