"""What ``/readyz`` checks beyond the gateway's own peers: the hotline relays and the dead letters.

Every relay writes a heartbeat from its work loop (``Relay.beat``, ``p:relay:heartbeat``). When
a hotline destination is configured, a relay is expected: no heartbeat newer than
``RELAY_STALE_SECONDS`` means reports are not reaching staff, and users are being told they
were. ``/readyz`` then answers 503 with the heartbeat's age, the gauge
``rahnuma_relay_heartbeat_age_seconds`` shows it, and one ERROR line is logged when the relays
go silent (and one INFO line when they are back; not in the first window after the gateway
starts, when relays starting beside it may not have beaten yet): alert on any of the three.
The depth of the dead-letter streams is reported beside it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Dict, Optional, Tuple

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.metrics import Metrics
from bot.rasa import RasaClient, answers
from contract.keys import Keys

logger = logging.getLogger(__name__)


class RelayWatch:
    """Reads the relays' heartbeats and the dead-letter streams for ``/readyz``."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        metrics: Metrics,
        stale_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._metrics = metrics
        self._stale = stale_seconds
        self._clock = clock
        self._silent = False
        self._started = clock()  # relays starting with this gateway get one window to beat

    async def check(self) -> Tuple[bool, Dict[str, object]]:
        """Whether a relay beat recently, and what to report (ages in seconds, depths)."""
        beats: Any = await self._redis.hgetall(self._keys.relay_heartbeat)
        newest = max((float(value) for value in beats.values()), default=None)
        age: Optional[float] = None if newest is None else max(0.0, self._clock() - newest)
        self._metrics.relay_heartbeat_age.set(age if age is not None else float("inf"))
        alive = age is not None and age <= self._stale
        starting = self._clock() - self._started < self._stale
        if not alive and not self._silent and not starting:
            logger.error(
                "no hotline relay is running: reports are not reaching staff",
                extra={"heartbeat_age": None if age is None else round(age)},
            )
        elif alive and self._silent:
            logger.info("a hotline relay is running again")
        self._silent = not alive and not starting
        dead_reports = int(await self._redis.xlen(self._keys.reports_dead))
        dead_replies = int(await self._redis.xlen(self._keys.outbox_dead))
        return alive, {
            "relay_heartbeat_age": None if age is None else round(age, 1),
            "reports_dead_letter": dead_reports,
            "replies_dead_letter": dead_replies,
        }


async def readiness(
    redis: Redis,
    rasa: RasaClient,
    http: httpx.AsyncClient,
    action_server_url: Optional[str],
    relays: Optional[RelayWatch],
) -> Tuple[bool, Dict[str, object]]:
    """``/readyz``: Redis and Rasa answer; the action server too when ``ACTION_SERVER_URL`` is
    set (without it Rasa still answers, but with no message in it); a relay beats when a
    hotline destination is configured (``relays``)."""
    try:
        redis_ok = bool(await asyncio.wait_for(redis.ping(), timeout=2.0))
    except (RedisError, OSError, asyncio.TimeoutError):
        redis_ok = False
    rasa_ok = await rasa.ready()
    body: Dict[str, object] = {"redis": redis_ok, "rasa": rasa_ok}
    ready = redis_ok and rasa_ok
    if action_server_url is not None:
        actions_ok = await answers(http, action_server_url + "/health")
        body["actions"] = actions_ok
        ready = ready and actions_ok
    if relays is not None and redis_ok:
        relay_ok, relay = await relays.check()
        body.update(relay_ok=relay_ok, **relay)
        ready = ready and relay_ok
    return ready, body
