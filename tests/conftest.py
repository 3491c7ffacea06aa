"""Fixtures every environment's tests share: the repository root and a real Redis.

This file imports nothing of Rasa or of the gateway, so the Rasa environment
(``make unit``) and the gateway environment (``make gateway``) both load it.
Redis is the real server ``scripts/with-redis`` points RAHNUMA_TEST_REDIS_URL
at; each test gets a key prefix of its own, removed afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("RAHNUMA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def close(client: Redis) -> None:
    """Closes a client and its pool, in either environment's redis-py."""
    if hasattr(client, "aclose"):  # redis-py 5 and later (the gateway's)
        await client.aclose()
        return
    await client.close()  # redis 4.6 (the Rasa environment) keeps the pool open
    await client.connection_pool.disconnect()


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A client of the test Redis (``make test`` starts one when none answers)."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as error:  # pragma: no cover - the environment, not the code
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: {error} (make test starts one)")
    yield client
    await close(client)


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    """A Redis key prefix of the test's own; its keys are removed afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    async for key in redis.scan_iter(f"{name}:*"):
        await redis.delete(key)
