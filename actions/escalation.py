"""The boundary between the assistant and whoever receives trafficking reports.

``Escalation.submit(report) -> reference`` is the one call the report form
makes. It returns only after the report is stored, so the user is told
"saved" only when that is true. This module ships an in-memory implementation
(the embedded default and the tests); a durable Redis Streams implementation
that delivers to hotline staff plugs in behind the same interface.

Exceptions::

    EscalationError            base: the report could not be handled
    └── EscalationUnavailableError  the store is down; the user must be told to call

Never logs report contents: only references and flags.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Dict, List, Optional, Protocol

logger = logging.getLogger(__name__)

# Crockford base32 without I, L, O, U: no letters that read as digits.
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_REFERENCE_LENGTH = 6


class EscalationError(Exception):
    """The report could not be handled."""


class EscalationUnavailableError(EscalationError):
    """The report store cannot be reached; nothing was saved."""


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


def new_reference() -> str:
    """A short random reference such as ``R-7K2M9Q`` (about 10^9 possibilities)."""
    code = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(_REFERENCE_LENGTH))
    return f"R-{code}"


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

    def __init__(self) -> None:
        self._reports: Dict[str, Report] = {}
        self._lock = asyncio.Lock()

    async def submit(self, report: Report) -> str:
        """Stores the report under a fresh, unused reference."""
        async with self._lock:
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


@lru_cache(maxsize=1)
def get_escalation() -> Escalation:
    """The configured implementation, built on first use (never at import)."""
    backend = os.environ.get("ESCALATION_BACKEND", "memory")
    if backend == "memory":
        return InMemoryEscalation()
    raise EscalationError(f"unknown ESCALATION_BACKEND {backend!r}; expected 'memory'")
