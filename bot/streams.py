"""Redis stream plumbing shared by the outbox and the relay (consumer groups)."""

from __future__ import annotations

import os
import socket

from redis.asyncio import Redis
from redis.exceptions import ResponseError


def consumer_name() -> str:
    """This process's name in a consumer group: host and pid, unique per container."""
    return f"{socket.gethostname()}-{os.getpid()}"


async def ensure_group(redis: Redis, stream: str, group: str) -> None:
    """Creates ``group`` on ``stream`` (and the stream) unless it exists."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise
