"""Answers handed back to a webhook that is still waiting for them (SMS as TwiML).

An SMS webhook waits up to ``SMS_REPLY_BUDGET_SECONDS`` for its own answer, so
the answer can travel back in the webhook's response (free of the REST API's
latency). Whoever drains the user's inbox, in any gateway process, hands the
answer over here; if the budget ran out, or the waiting process died (its
``waiting`` mark expired), the answer goes through the outbox instead. Who
sends is decided by one atomic claim, so an answer is never sent both ways
and never lost between them.
"""

from __future__ import annotations

import json
import math
from typing import List, Literal, Sequence, Tuple

from redis.asyncio import Redis

from bot.conversation.messages import Outgoing, decode_outgoing, encode_outgoing
from contract.keys import Keys

REPLY_TTL = 300
WAIT_MARGIN = 6.0  # the waiting mark outlives the webhook's budget by this much
LATE_GRACE = 5  # seconds to wait for an answer claimed for the webhook a moment ago

# Hand an answer to the waiting webhook unless it gave up, or its process died (its
# "waiting" mark expired): then the outbox sends it. KEYS: claim, replies, waiting.
# ARGV: 'sync' (the answer) or 'async' (a holding note), the JSON, the ttl.
CLAIM_SCRIPT = """
if ARGV[1] == 'sync' and redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0
"""

WebhookOutcome = Literal["answer", "holding"]


def waiting_seconds(budget: float) -> int:
    """How long a webhook's waiting mark lives (0: no webhook waits)."""
    return math.ceil(budget + WAIT_MARGIN) if budget else 0


class WebhookReplies:
    """The hand-over between the inbox's drainer and the webhook waiting for its answer."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._claim = redis.register_script(CLAIM_SCRIPT)

    def _claim_keys(self, message_id: str) -> List[str]:
        keys = self._keys
        return [keys.claim(message_id), keys.reply(message_id), keys.waiting(message_id)]

    async def hand_over(self, message_id: str, messages: Sequence[Outgoing]) -> bool:
        """True when the waiting webhook takes ``messages``; False: send them another way."""
        handed = await self._claim(
            keys=self._claim_keys(message_id),
            args=["sync", encode_outgoing(messages), REPLY_TTL],
        )
        return bool(handed)

    async def release(self, message_id: str) -> None:
        """Tells the waiting webhook to answer with a holding message (its answer comes later)."""
        await self._claim(
            keys=self._claim_keys(message_id),
            args=["async", json.dumps({"holding": True}), REPLY_TTL],
        )

    async def wait(self, message_id: str, budget: float) -> Tuple[WebhookOutcome, List[Outgoing]]:
        """For the webhook: ("answer", messages), or ("holding", []) past the budget."""
        claim = self._keys.claim(message_id)
        replies = self._keys.reply(message_id)
        popped = await self._redis.blpop([replies], timeout=budget)
        if popped is None:
            if await self._redis.set(claim, "async", nx=True, ex=REPLY_TTL):
                return "holding", []
            # The answer was claimed for this webhook a moment ago: it is on its way.
            popped = await self._redis.blpop([replies], timeout=LATE_GRACE)
            if popped is None:
                return "holding", []
        raw = popped[1].decode() if isinstance(popped[1], bytes) else str(popped[1])
        if isinstance(json.loads(raw), dict):
            return "holding", []
        return "answer", decode_outgoing(raw)
