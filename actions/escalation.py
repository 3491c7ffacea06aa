"""The boundary between the assistant and whoever receives trafficking reports.

``Escalation.submit(report) -> reference`` is the one call the report form
makes. It returns only after the report is stored, so the user is told
"saved" only when that is true. Two implementations, chosen by
``ESCALATION_BACKEND``:

- ``redis`` (what ``make serve`` and deployments use): ``contract.reports`` writes
  the report, sealed, to a Redis stream that the relay (``bot/hotline/relay.py``)
  delivers to hotline staff; it needs ``REDIS_URL`` and ``RAHNUMA_DATA_KEY``
  (``REDIS_PREFIX`` as the gateway's).
- ``memory`` (the default for unit tests): kept in this process only.

Exceptions::

    EscalationError            base: the report could not be handled
    └── EscalationUnavailableError  the store is down; the user must be told to call

Never logs report contents: only references and flags.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Awaitable, Callable, Dict, List, Optional, Protocol, Set, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from contract.channels import Channel
from contract.keys import Keys
from contract.reports import ReportStore, ReportStoreError, Submission, new_reference
from contract.sealing import Sealer

logger = logging.getLogger(__name__)

T = TypeVar("T")
DAY = 86400.0
OUTAGE_PATIENCE = 15.0  # seconds a report waits for Redis before the reporter is told


class EscalationError(Exception):
    """The report could not be handled."""


class EscalationUnavailableError(EscalationError):
    """The report store cannot be reached; nothing was saved."""


class EscalationLimitError(EscalationError):
    """This reporter sent ``REPORTS_PER_DAY`` reports in the last 24 hours; nothing was saved
    (one user must not be able to flood the staff's queue, the urgent one above all)."""


def daily_limit() -> int:
    """``REPORTS_PER_DAY`` (5): reports one reporter may file in 24 hours."""
    return max(1, int(os.environ.get("REPORTS_PER_DAY", "5")))


@dataclass(frozen=True)
class Report:
    """A report as the user gave it. ``reporter`` is a pseudonym, never an address."""

    reporter: str
    language: str
    channel: Optional[str]
    description: str
    location: Optional[str]
    danger_now: bool
    may_contact: bool
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def urgent(self) -> bool:
        """Someone is in danger now: staff must see this first."""
        return self.danger_now


class Escalation(Protocol):
    """Where reports go."""

    async def submit(self, report: Report) -> str:
        """Stores the report and returns its reference; raises EscalationError."""
        ...

    async def references_of(self, reporter: str) -> List[str]:
        """References of the reports this pseudonymous reporter submitted."""
        ...


class InMemoryEscalation:
    """Keeps reports in this process: for the embedded default and tests only.

    Reports are lost when the action server stops; a deployment that hands
    reports to staff must use the durable implementation.
    """

    def __init__(self, limit: int = 5) -> None:
        self._reports: Dict[str, Report] = {}
        self._lock = asyncio.Lock()
        self._limit = limit

    async def submit(self, report: Report) -> str:
        """Stores the report under a fresh, unused reference."""
        async with self._lock:
            since = report.created_at.timestamp() - DAY
            recent = [r for r in self._reports.values() if r.reporter == report.reporter]
            if sum(r.created_at.timestamp() > since for r in recent) >= self._limit:
                raise EscalationLimitError(f"{self._limit} reports in 24 hours")
            reference = new_reference()
            while reference in self._reports:
                reference = new_reference()
            self._reports[reference] = report
        logger.info("report stored reference=%s urgent=%s", reference, report.urgent)
        return reference

    async def references_of(self, reporter: str) -> List[str]:
        """References submitted by ``reporter``, oldest first."""
        return [ref for ref, report in self._reports.items() if report.reporter == reporter]

    def get(self, reference: str) -> Optional[Report]:
        """The stored report (tests and local inspection)."""
        return self._reports.get(reference)


class RedisEscalation:
    """Reports in the durable Redis queue that the relay delivers to hotline staff."""

    def __init__(
        self,
        url: str,
        prefix: str,
        keys: str,
        patience: float = OUTAGE_PATIENCE,
        limit: int = 5,
    ) -> None:
        self._url = url
        self._patience = patience
        self._limit = limit
        self._prefix = prefix
        self._keys = keys
        self._store: Optional[ReportStore] = None

    def _reports(self) -> ReportStore:
        # Built on first use, inside the action server's event loop.
        if self._store is None:
            redis = Redis.from_url(self._url, socket_timeout=10, socket_connect_timeout=5)
            self._store = ReportStore(redis, Keys(self._prefix), Sealer(self._keys))
        return self._store

    async def submit(self, report: Report) -> str:
        """Returns the reference once Redis has the report (and its replicas, if any)."""
        submission = Submission(
            reporter=report.reporter,
            language=report.language,
            channel=Channel.parse(report.channel),
            description=report.description,
            location=report.location,
            urgent=report.urgent,
            may_contact=report.may_contact,
        )
        store = self._reports()
        try:
            before = set(await self._patiently(lambda: store.references_of(report.reporter)))

            async def once() -> str:
                # A write that reached Redis just before the connection broke is not made twice.
                stored = set(await store.references_of(report.reporter)) - before
                if stored:
                    return min(stored)
                if await self._filed_today(store, before) >= self._limit:
                    raise EscalationLimitError(f"{self._limit} reports in 24 hours")
                return await store.submit(submission)

            return await self._patiently(once)
        except (RedisError, OSError, ReportStoreError) as error:
            raise EscalationUnavailableError(f"report store: {type(error).__name__}") from error

    async def _filed_today(self, store: ReportStore, references: Set[str]) -> int:
        """How many of ``references`` were filed in the last 24 hours."""
        since = time.time() - DAY
        created = [await store.redis.hget(store.keys.case(ref), "created") for ref in references]
        return sum(1 for value in created if value is not None and float(value) > since)

    async def _patiently(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, tried again while Redis is unreachable, for up to ``patience``
        seconds (a restart from its AOF takes a few): a reporter is asked to call a helpline
        instead only after that. A loop rather than tenacity, which the Rasa environment
        does not install."""
        deadline = time.monotonic() + self._patience
        delay = 0.2
        while True:
            try:
                return await call()
            except (RedisConnectionError, RedisTimeoutError, OSError):
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning("report store unreachable; trying again in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def close(self) -> None:
        """Closes the connection pool (the action server keeps it for its lifetime)."""
        if self._store is not None:
            await self._store.redis.close()
            await self._store.redis.connection_pool.disconnect()
            self._store = None

    async def references_of(self, reporter: str) -> List[str]:
        """References of this reporter's reports that staff still hold."""
        try:
            return await self._reports().references_of(reporter)
        except (RedisError, OSError) as error:
            raise EscalationUnavailableError(f"report store: {type(error).__name__}") from error


@lru_cache(maxsize=1)
def get_escalation() -> Escalation:
    """The configured implementation, built on first use (never at import)."""
    backend = os.environ.get("ESCALATION_BACKEND", "memory")
    if backend == "memory":
        return InMemoryEscalation(limit=daily_limit())
    if backend == "redis":
        keys = os.environ.get("RAHNUMA_DATA_KEY", "")
        if not keys.strip():
            raise EscalationError("ESCALATION_BACKEND=redis needs RAHNUMA_DATA_KEY")
        return RedisEscalation(
            os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            os.environ.get("REDIS_PREFIX", "rahnuma"),
            keys,
            limit=daily_limit(),
        )
    raise EscalationError(f"unknown ESCALATION_BACKEND {backend!r}; expected 'memory' or 'redis'")
