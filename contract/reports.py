"""Hotline cases in Redis: the durable report queue, and what staff do with a report.

The action server submits a report here; the relay (``bot/hotline/relay.py``)
delivers it to staff; the gateway (``bot/hotline/staff.py``) lets staff claim,
reply to and resolve it, and lets the reporter ask for its status. The action
server runs in the Rasa environment, so this module follows the contract's
rule (``contract/__init__.py``): redis and cryptography only.

Its keys (``contract/keys.py``; the map is in ``docs/architecture.md``): the
streams ``p:reports`` and ``p:reports:urgent`` (read first) and the dead
letters ``p:reports:dead``; ``p:case:<reference>`` (a hash, description,
location and note sealed); the indexes ``p:cases:open``, ``p:cases:resolved``,
``p:reporter:<pseudonym>``; ``p:handoff:<pseudonym>``; the audit stream
``p:audit`` (never content).

``submit`` writes the case, the indexes and the stream entry in one Lua
script, so a report is either fully stored or not at all, and returns only
after Redis answered (with ``appendfsync always`` that answer comes after the
write reached the disk); when replicas are connected it also ``WAIT``s for
them. Only then may the user be told "saved".

Never logs descriptions, locations or notes: only references and flags.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Dict, List, Literal, Mapping, Optional

from redis.asyncio import Redis

from contract.channels import Channel
from contract.keys import Keys
from contract.sealing import InvalidToken, Sealer

logger = logging.getLogger(__name__)

# Crockford base32 without I, L, O, U: no letters that read as digits.
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_LENGTH = 6
RETENTION_DAYS = 90
AUDIT_RETENTION_DAYS = 365
HANDOFF_TTL = 30 * 86400
REPLICA_WAIT_MS = 1000


class Status(str, Enum):
    """Where a case stands; the value is what the case hash stores."""

    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"

    def __str__(self) -> str:
        return self.value


OPEN, CLAIMED, RESOLVED = Status.OPEN, Status.CLAIMED, Status.RESOLVED
# What a claim or a resolution came to (the Lua scripts return these words).
ClaimOutcome = Literal["claimed", "yours", "taken", "resolved", "unknown"]
ResolveOutcome = Literal["done", "taken", "resolved", "unknown"]

# KEYS: case, reporter set, open set, stream. ARGV: reference, urgent, language, channel,
# reporter, may_contact, sealed body, created. Returns the stream id, or false if taken.
SUBMIT_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
redis.call('HSET', KEYS[1], 'reference', ARGV[1], 'status', 'open', 'urgent', ARGV[2],
  'language', ARGV[3], 'channel', ARGV[4], 'reporter', ARGV[5], 'may_contact', ARGV[6],
  'body', ARGV[7], 'created', ARGV[8])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[8], ARGV[1])
return redis.call('XADD', KEYS[4], '*', 'reference', ARGV[1])
"""
# KEYS: case, handoff, audit. ARGV: staff, via, now, reference, handoff ttl.
CLAIM_SCRIPT = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'unknown' end
if status == 'resolved' then return 'resolved' end
if status == 'claimed' then
  if redis.call('HGET', KEYS[1], 'claimed_by') == ARGV[1] then return 'yours' end
  return 'taken'
end
redis.call('HSET', KEYS[1], 'status', 'claimed', 'claimed_by', ARGV[1], 'claimed_via', ARGV[2],
  'claimed_at', ARGV[3])
if redis.call('HGET', KEYS[1], 'may_contact') == '1' then
  redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5])
end
redis.call('XADD', KEYS[3], '*', 'reference', ARGV[4], 'action', 'claimed', 'staff', ARGV[1],
  'at', ARGV[3])
return 'claimed'
"""
# KEYS: case, handoff, audit, open set, resolved set. ARGV: staff, now, reference, sealed note.
RESOLVE_SCRIPT = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'unknown' end
if status == 'resolved' then return 'resolved' end
if status == 'claimed' and redis.call('HGET', KEYS[1], 'claimed_by') ~= ARGV[1] then
  return 'taken'
end
redis.call('HSET', KEYS[1], 'status', 'resolved', 'resolved_by', ARGV[1], 'resolved_at', ARGV[2])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'note', ARGV[4]) end
redis.call('ZREM', KEYS[4], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
redis.call('XADD', KEYS[3], '*', 'reference', ARGV[3], 'action', 'resolved', 'staff', ARGV[1],
  'at', ARGV[2])
return 'done'
"""
# KEYS: case, handoff, audit. ARGV: staff, now, reference, handoff ttl.
# A reporter who did not agree to be contacted is never handed over, as in CLAIM_SCRIPT.
REPLY_SCRIPT = """
if redis.call('HGET', KEYS[1], 'status') ~= 'claimed' then return 0 end
if redis.call('HGET', KEYS[1], 'claimed_by') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'may_contact') ~= '1' then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
redis.call('XADD', KEYS[3], '*', 'reference', ARGV[3], 'action', 'replied', 'staff', ARGV[1],
  'at', ARGV[2])
return 1
"""


# Delivery bookkeeping on a case that still exists (a purged case must not come back as
# a hash without its sealed body). KEYS: case. ARGV: field, value. Returns 0 when gone.
MARK_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
COUNT_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
"""


class ReportStoreError(Exception):
    """A report could not be stored or read (Redis down, a key that is not ours)."""


@dataclass(frozen=True)
class Case:
    """A report as staff handle it. ``reporter`` is a pseudonym, never an address."""

    reference: str
    status: Status
    urgent: bool
    language: str
    channel: Optional[Channel]  # None: the report came without a channel (tests, shell)
    reporter: str
    may_contact: bool
    description: str
    location: Optional[str]
    created: float
    claimed_by: Optional[str] = None
    claimed_via: Optional[str] = None
    resolved_at: Optional[float] = None
    delivered: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Submission:
    """What the action server hands over: the report as the user gave it."""

    reporter: str
    language: str
    channel: Optional[Channel]
    description: str
    location: Optional[str]
    urgent: bool
    may_contact: bool


def new_reference() -> str:
    """A short random reference such as ``R-7K2M9Q`` (about 10^9 possibilities)."""
    code = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
    return f"R-{code}"


def when(timestamp: float) -> str:
    """A time as staff read it: UTC, to the minute."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


class ReportStore:
    """Cases, their queue and their audit trail in one Redis."""

    def __init__(self, redis: Redis, keys: Keys, sealer: Sealer) -> None:
        self.redis = redis
        self.keys = keys
        self._sealer = sealer
        self._submit = redis.register_script(SUBMIT_SCRIPT)
        self._claim = redis.register_script(CLAIM_SCRIPT)
        self._resolve = redis.register_script(RESOLVE_SCRIPT)
        self._reply = redis.register_script(REPLY_SCRIPT)
        self._mark = redis.register_script(MARK_SCRIPT)
        self._count = redis.register_script(COUNT_SCRIPT)

    # -- submitting -----------------------------------------------------------

    async def submit(self, report: Submission) -> str:
        """Stores the report durably and queues it for staff; returns its reference."""
        body = json.dumps(
            {"description": report.description, "location": report.location}, ensure_ascii=False
        )
        sealed = self._sealer.seal(body)
        stream = self.keys.reports_urgent if report.urgent else self.keys.reports
        for _ in range(5):
            reference = new_reference()
            entry = await self._submit(
                keys=[
                    self.keys.case(reference),
                    self.keys.reporter(report.reporter),
                    self.keys.cases_open,
                    stream,
                ],
                args=[
                    reference,
                    int(report.urgent),
                    report.language,
                    report.channel.value if report.channel else "",
                    report.reporter,
                    int(report.may_contact),
                    sealed,
                    time.time(),
                ],
            )
            if entry:
                await self._wait_for_replicas()
                logger.info(
                    "report stored", extra={"reference": reference, "urgent": report.urgent}
                )
                return reference
        raise ReportStoreError("no free reference after 5 tries")

    async def _wait_for_replicas(self) -> None:
        """With replicas, waits until they have the write too (they may lag otherwise)."""
        info: Dict[str, Any] = await self.redis.info("replication")
        replicas = int(info.get("connected_slaves", 0))
        if replicas:
            waited: Any = await self.redis.wait(replicas, REPLICA_WAIT_MS)
            acknowledged = int(waited)
            if acknowledged < replicas:
                logger.warning("report reached %d of %d replicas in time", acknowledged, replicas)

    # -- reading --------------------------------------------------------------

    async def case(self, reference: str) -> Optional[Case]:
        """The case, or None when there is none (never was, or purged)."""
        raw: Any = await self.redis.hgetall(self.keys.case(reference))
        if not raw:
            return None
        fields = {key.decode(): value for key, value in raw.items()}
        try:
            body = json.loads(self._sealer.open(fields["body"]))
        except InvalidToken as error:
            raise ReportStoreError(f"{reference}: sealed with a key not configured") from error
        return Case(
            reference=reference,
            status=Status(_text(fields, "status") or OPEN),
            urgent=_text(fields, "urgent") == "1",
            language=_text(fields, "language") or "en",
            channel=Channel.parse(_text(fields, "channel")),
            reporter=_text(fields, "reporter") or "",
            may_contact=_text(fields, "may_contact") == "1",
            description=str(body.get("description") or ""),
            location=body.get("location"),
            created=float(_text(fields, "created") or 0),
            claimed_by=_text(fields, "claimed_by"),
            claimed_via=_text(fields, "claimed_via"),
            resolved_at=float(fields["resolved_at"]) if "resolved_at" in fields else None,
            delivered=frozenset(
                name[len("delivered:") :] for name in fields if name.startswith("delivered:")
            ),
        )

    async def open_cases(self, limit: int = 20) -> List[Case]:
        """Open and claimed cases, urgent first, then oldest first."""
        references: Any = await self.redis.zrange(self.keys.cases_open, 0, -1)
        cases = [case for ref in references if (case := await self.case(ref.decode()))]
        cases.sort(key=lambda case: (not case.urgent, case.created))
        return cases[:limit]

    async def references_of(self, reporter: str) -> List[str]:
        """References this pseudonymous reporter submitted (kept until purged)."""
        members: Any = await self.redis.smembers(self.keys.reporter(reporter))
        return sorted(member.decode() for member in members)

    async def case_of(self, reporter: str, reference: str) -> Optional[Case]:
        """The case if ``reporter`` submitted it; None otherwise (never someone else's)."""
        member: Any = await self.redis.sismember(self.keys.reporter(reporter), reference)
        if not member:
            return None
        return await self.case(reference)

    # -- delivery bookkeeping (the relay) ---------------------------------------

    async def mark_delivered(self, reference: str, destination: str) -> None:
        """Records that ``destination`` has the case: it is never sent there again."""
        await self._mark(
            keys=[self.keys.case(reference)], args=[f"delivered:{destination}", time.time()]
        )

    async def count_attempt(self, reference: str) -> int:
        """One more failed delivery round; returns how many there were (0: the case is gone)."""
        attempts = await self._count(keys=[self.keys.case(reference)], args=["attempts"])
        return int(attempts)

    # -- staff actions ------------------------------------------------------------

    async def claim(self, reference: str, staff: str, via: str) -> ClaimOutcome:
        """ "claimed", "yours" (already), "taken" (by someone else), "resolved" or "unknown"."""
        case = await self.case(reference)
        if case is None:
            return "unknown"
        outcome = await self._claim(
            keys=[self.keys.case(reference), self.keys.handoff(case.reporter), self.keys.audit],
            args=[staff, via, time.time(), reference, HANDOFF_TTL],
        )
        return decoded(outcome)  # type: ignore[return-value]  # the script's words

    async def record_reply(self, reference: str, staff: str) -> bool:
        """Audits a reply and routes the reporter's answers to ``staff`` again.

        False unless ``staff`` holds the claim on an open case.
        """
        case = await self.case(reference)
        if case is None:
            return False
        done = await self._reply(
            keys=[self.keys.case(reference), self.keys.handoff(case.reporter), self.keys.audit],
            args=[staff, time.time(), reference, HANDOFF_TTL],
        )
        return bool(done)

    async def resolve(self, reference: str, staff: str, note: str = "") -> ResolveOutcome:
        """ "done", "taken" (claimed by someone else), "resolved" (already) or "unknown"."""
        case = await self.case(reference)
        if case is None:
            return "unknown"
        sealed = self._sealer.seal(note) if note else b""
        outcome = await self._resolve(
            keys=[
                self.keys.case(reference),
                self.keys.handoff(case.reporter),
                self.keys.audit,
                self.keys.cases_open,
                self.keys.cases_resolved,
            ],
            args=[staff, time.time(), reference, sealed],
        )
        return decoded(outcome)  # type: ignore[return-value]  # the script's words

    async def audit(self, reference: Optional[str] = None) -> List[Dict[str, str]]:
        """The audit trail (of one case, or all), oldest first."""
        entries: Any = await self.redis.xrange(self.keys.audit)
        trail = [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in entries]
        return [e for e in trail if reference is None or e.get("reference") == reference]

    # -- the reporter's side ----------------------------------------------------

    async def handoff_of(self, reporter: str) -> Optional[Case]:
        """The claimed case whose staff member this reporter is talking to, if any."""
        raw: Any = await self.redis.get(self.keys.handoff(reporter))
        if raw is None:
            return None
        case = await self.case(raw.decode())
        if case is None or case.status != CLAIMED:
            await self.redis.delete(self.keys.handoff(reporter))
            return None
        return case

    async def end_handoff(self, reporter: str) -> None:
        """The reporter went back to the assistant (MENU, or erased their data)."""
        await self.redis.delete(self.keys.handoff(reporter))

    # -- housekeeping -------------------------------------------------------------

    async def purge(
        self,
        retention_days: int = RETENTION_DAYS,
        audit_days: int = AUDIT_RETENTION_DAYS,
        now: Optional[float] = None,
    ) -> int:
        """Deletes cases resolved more than ``retention_days`` ago; returns how many."""
        now = time.time() if now is None else now
        resolved = self.keys.cases_resolved
        old: Any = await self.redis.zrangebyscore(resolved, "-inf", now - retention_days * 86400)
        for raw in old:
            reference = raw.decode()
            reporter: Any = await self.redis.hget(self.keys.case(reference), "reporter")
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(self.keys.case(reference))
            if reporter:
                pipe.srem(self.keys.reporter(reporter.decode()), reference)
            pipe.zrem(resolved, reference)
            await pipe.execute()
        cutoff_ms = int((now - audit_days * 86400) * 1000)
        # Exact trims: an approximate one (MINID ~) keeps old entries sharing a node with new.
        oldest = f"{max(cutoff_ms, 0)}-0"
        await self.redis.xtrim(self.keys.audit, minid=oldest, approximate=False)
        await self.redis.xtrim(self.keys.reports_dead, minid=oldest, approximate=False)
        if old:
            logger.info("purged resolved cases", extra={"count": len(old)})
        return len(old)

    async def rotate(self) -> int:
        """Re-seals every case with the first configured key; returns how many."""
        done = 0
        async for raw in self.redis.scan_iter(match=self.keys.case_pattern, count=200):
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            fields: Any = await self.redis.hgetall(key)
            try:
                updates = {
                    name.decode(): self._sealer.rotate(value)
                    for name, value in fields.items()
                    if name in (b"body", b"note") and value
                }
            except InvalidToken as error:
                raise ReportStoreError(f"{key}: sealed with a key not configured") from error
            if updates:
                stored: Any = self.redis.hset(key, mapping=updates)
                await stored
                done += 1
        return done


def _text(fields: Mapping[str, bytes], name: str) -> Optional[str]:
    value = fields.get(name)
    return value.decode() if value else None


def decoded(value: Any) -> str:
    """A Redis reply as text (bytes from redis-py, whatever the client's decoding)."""
    return value.decode() if isinstance(value, bytes) else str(value)
