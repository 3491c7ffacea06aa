"""Nobody left waiting: a reporter whose messages the claimant leaves unanswered goes back to
the whole team, and a handoff no staff member keeps alive ends with a notice to both sides.

Each message a reporter sends during a handoff marks the case as waiting (``p:handoff:waiting``,
the time of the first unanswered message; ``StaffDesk``); the claimant's ``/reply`` or
``/resolve`` clears it.
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
from typing import Any, Callable, List

from bot import texts
from bot.hotline.staff import StaffDesk
from contract.keys import Keys
from contract.reports import CLAIMED, Case, decoded

logger = logging.getLogger(__name__)

# KEYS: waiting, case, handoff, audit. ARGV: reference, now, reporter's handoff value.
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


class Silences:
    """Marks waiting reporters and releases the cases their claimant left silent."""

    def __init__(
        self,
        desk: StaffDesk,
        keys: Keys,
        silence_seconds: float,
        handoff_seconds: float = 72 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._desk = desk
        self._redis = desk.store.redis
        self._keys = keys
        self._silence = silence_seconds
        self._handoff = handoff_seconds
        self._clock = clock
        self._release = self._redis.register_script(RELEASE_SCRIPT)

    async def release_due(self) -> List[str]:
        """Releases every case waiting longer than the limit; returns their references."""
        due: Any = await self._redis.zrangebyscore(
            self._keys.handoff_waiting, "-inf", self._clock() - self._silence
        )
        released = []
        for raw in due:
            reference = decoded(raw)
            case = await self._desk.store.case(reference)
            if case is None:  # purged meanwhile
                await self._redis.zrem(self._keys.handoff_waiting, reference)
                continue
            holder = await self._release(
                keys=[
                    self._keys.handoff_waiting,
                    self._keys.case(reference),
                    self._keys.handoff(case.reporter),
                    self._keys.audit,
                ],
                args=[reference, self._clock()],
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
        due: Any = await self._redis.zrangebyscore(self._keys.handoff_expiry, "-inf", self._clock())
        ended = []
        for raw in due:
            reference = decoded(raw)
            if not await self._redis.zrem(self._keys.handoff_expiry, reference):
                continue  # another process ends it
            case = await self._desk.store.case(reference)
            if case is None or case.status != CLAIMED:
                continue
            handoff = self._keys.handoff(case.reporter)
            if decoded(await self._redis.get(handoff) or b"") != reference:
                continue  # the reporter already went back to the assistant
            await self._redis.delete(handoff)
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
        interval = max(1.0, min(30.0, self._silence / 4, self._handoff / 4))
        while True:
            try:
                await self.release_due()
                await self.end_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("releasing silent handoffs failed")
            await asyncio.sleep(interval)
