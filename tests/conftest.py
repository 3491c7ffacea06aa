"""Fixtures every environment's tests share: the repository root, a real Redis, content of
our own, and the translators' catalogs.

This file imports nothing of Rasa or of the gateway, so the Rasa environment
(``make unit``) and the gateway environment (``make gateway``) both load it.
Redis is the real server ``scripts/with-redis`` points RAHNUMA_TEST_REDIS_URL
at; each test gets a key prefix of its own, removed afterwards.

Behaviour that depends on the deployer's data (helplines, offices, fees,
licences) is tested on ``tests/fixtures/content`` (``fixture_content``), never on
``content/``: a deployer who updates a number must not break the suite. Tests of
``content/`` itself check its shape and rules only (``tests/test_content.py``).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from redis.asyncio import Redis

from contract.languages import ENGLISH

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("RAHNUMA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CONTENT_FIXTURES = ROOT / "tests/fixtures/content"
# The readers of content/ that cache what they read, by module. A module not imported in
# this environment has read nothing, so only loaded modules are cleared.
CONTENT_CACHES = {
    "actions.content": ("directory", "hotlines", "fee_limits", "topics"),
    "actions.agents": ("promoters",),
    "bot.texts": ("emergency",),
}


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


def _clear_content_caches() -> None:
    for name, readers in CONTENT_CACHES.items():
        module = sys.modules.get(name)
        for reader in readers if module is not None else ():
            getattr(module, reader).cache_clear()


@pytest.fixture
def fixture_content(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Content is read from tests/fixtures/content (RAHNUMA_CONTENT_DIR) during the test."""
    monkeypatch.setenv("RAHNUMA_CONTENT_DIR", str(CONTENT_FIXTURES))
    _clear_content_caches()
    yield CONTENT_FIXTURES
    _clear_content_caches()  # the next reader, after the variable is unset, reads content/


@cache
def _po(language: str) -> Catalog:
    with (ROOT / f"locales/{language}/LC_MESSAGES/messages.po").open("rb") as handle:
        return read_po(handle)


def translated(language: str, context: str, english: str) -> str:
    """``english`` as the translators wrote it in locales/<language>/LC_MESSAGES/messages.po.

    Read from the .po file with Babel, not through the code under test, so a test can
    compare what a user is shown with what the translator wrote. A text with no
    translation fails the test that asks for it.
    """
    if language == ENGLISH:
        return english
    message = _po(language).get(english, context=context)
    assert message is not None and isinstance(message.string, str) and message.string, (
        f"{language}: no translation of {english!r} (context {context!r})"
    )
    return message.string
