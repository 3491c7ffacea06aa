"""Nobody left waiting: a reporter whose messages the claimant leaves unanswered goes back to
the whole team, and a handoff no staff member keeps alive ends with a notice to both sides.

``HandoffClocks`` keeps both clocks of a handoff, for ``StaffDesk`` (which sets them) and
``Silences`` (which watches them). Each message a reporter sends during a handoff marks the
case as waiting (``p:handoff:waiting``, the time of the first unanswered message); the
claimant's ``/reply`` or ``/resolve`` clears it.
Every gateway process looks once in a while (``watch``); when a case has waited longer than
``HANDOFF_SILENCE_MINUTES``, one process (the one whose ``ZREM`` removed the mark, in the same
Lua script) puts the case back in the open queue, ends the handoff, writes ``released`` to the
audit trail and tells the staff chat, the claimant and the reporter (with the emergency number).

A handoff lasts ``HANDOFF_HOURS`` (72) from the claim or the last staff reply
(``p:handoff:expiry``); then the reporter's messages go to the assistant again, and the
claimant and the reporter are told (the case stays claimed: a ``/reply`` brings them back).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Callable, List

from redis.asyncio import Redis

from bot import texts
from contract.keys import Keys
from contract.reports import Case, decoded

if TYPE_CHECKING:  # the desk builds its clocks from this module
    from bot.hotline.staff import StaffDesk

logger = logging.getLogger(__name__)

# KEYS: waiting, case, handoff, audit. ARGV: reference, now.
# Returns the staff id that held the case, or false when there is nothing to do.
RELEASE_SCRIPT = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
if redis.call('HGET', KEYS[2], 'status') ~= 'claimed' then return false end
local holder = redis.call('HGET', KEYS[2], 'claimed_by')
redis.call('HSET', KEYS[2], 'status', 'open')
redis.call('HDEL', KEYS[2], 'claimed_by', 'claimed_via', 'claimed_at')
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
redis.call('XADD', KEYS[4], '*', 'reference', ARGV[1], 'action', 'released', 'staff', holder,
  'at', ARGV[2])
return holder
"""


class HandoffClocks:
    """Since when a reporter waits for an answer, and when their handoff ends."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        handoff_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._waiting = keys.handoff_waiting
        self._expiry = keys.handoff_expiry
        self.handoff_seconds = handoff_seconds
        self.clock = clock

    async def lasts(self, reference: str) -> None:
        """A claim, or a staff reply: the handoff lasts ``handoff_seconds`` from now."""
        await self._redis.zadd(self._expiry, {reference: self.clock() + self.handoff_seconds})

    async def waiting(self, reference: str) -> None:
        """The reporter wrote: they wait from their first unanswered message."""
        await self._redis.zadd(self._waiting, {reference: self.clock()}, nx=True)

    async def answered(self, reference: str) -> None:
        """The claimant replied: nobody waits, and the handoff lasts again."""
        await self._redis.zrem(self._waiting, reference)
        await self.lasts(reference)

    async def closed(self, reference: str) -> None:
        """The case is resolved: neither clock runs."""
        await self._redis.zrem(self._waiting, reference)
        await self._redis.zrem(self._expiry, reference)

    async def waiting_longer_than(self, seconds: float) -> List[str]:
        """Cases whose reporter has waited longer than ``seconds``."""
        due: Any = await self._redis.zrangebyscore(self._waiting, "-inf", self.clock() - seconds)
        return [decoded(raw) for raw in due]

    async def take_ended(self) -> List[str]:
        """Handoffs past their end, each taken by one process only (the ``ZREM`` that wins)."""
        due: Any = await self._redis.zrangebyscore(self._expiry, "-inf", self.clock())
        return [decoded(raw) for raw in due if await self._redis.zrem(self._expiry, raw)]


class Silences:
    """Releases the cases whose claimant left the reporter silent, and ends old handoffs."""

    def __init__(self, desk: StaffDesk, keys: Keys, silence_seconds: float) -> None:
        self._desk = desk
        self._clocks = desk.clocks
        self._redis = desk.store.redis
        self._keys = keys
        self._silence = silence_seconds
        self._release = self._redis.register_script(RELEASE_SCRIPT)

    async def release_due(self) -> List[str]:
        """Releases every case waiting longer than the limit; returns their references."""
        released = []
        for reference in await self._clocks.waiting_longer_than(self._silence):
            case = await self._desk.store.case(reference)
            if case is None:  # purged meanwhile
                await self._clocks.closed(reference)
                continue
            holder = await self._release(
                keys=[
                    self._keys.handoff_waiting,
                    self._keys.case(reference),
                    self._keys.handoff(case.reporter),
                    self._keys.audit,
                ],
                args=[reference, self._clocks.clock()],
            )
            if not holder:
                continue  # another process released it, or it was resolved meanwhile
            released.append(reference)
            await self._tell(case, decoded(holder))
        return released

    async def _tell(self, case: Case, holder: str) -> None:
        minutes = round(self._silence / 60)
        logger.warning("handoff released after silence", extra={"reference": case.reference})
        notice = (
            f"⏰ {case.reference}: the reporter has waited over {minutes} min for an answer. "
            f"The case is open again for anyone on duty: /claim {case.reference}"
        )
        if self._desk.staff_chat is not None:
            await self._desk.tell_staff(str(self._desk.staff_chat), notice)
        await self._desk.to_claimant(case, notice)  # read before the release: still theirs
        if case.may_contact:
            await self._desk.to_reporter(
                case, texts.text("hotline_released", case.language, reference=case.reference)
            )

    async def end_due(self) -> List[str]:
        """Ends the handoffs past ``HANDOFF_HOURS`` since the claim or the last staff reply:
        the reporter talks to the assistant again, and both sides are told."""
        ended = []
        for reference in await self._clocks.take_ended():
            case = await self._desk.store.case(reference)
            current = None if case is None else await self._desk.store.handoff_of(case.reporter)
            if case is None or current is None or current.reference != reference:
                continue  # resolved, or the reporter already went back to the assistant
            await self._desk.store.end_handoff(case.reporter)
            ended.append(reference)
            await self._desk.to_claimant(
                case,
                f"⌛ The handoff of {reference} ended: no reply from staff for a while. The "
                f"reporter talks to the assistant again; /reply {reference} brings them back.",
            )
            await self._desk.to_reporter(
                case, texts.text("hotline_handoff_ended", case.language, reference=reference)
            )
        return ended

    async def watch(self) -> None:
        """Forever, in every gateway process: releases silent handoffs, ends old ones."""
        interval = max(1.0, min(30.0, self._silence / 4, self._clocks.handoff_seconds / 4))
        while True:
            try:
                await self.release_due()
                await self.end_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("releasing silent handoffs failed")
            await asyncio.sleep(interval)
