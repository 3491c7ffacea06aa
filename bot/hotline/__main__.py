"""``python -m bot.hotline`` (``rahnuma-relay``): the hotline relay as a process.

Builds the relay from the settings (the destinations that are configured),
serves its metrics, and delivers and purges until SIGTERM or SIGINT.
``--rotate-keys`` re-seals stored cases with the first ``RAHNUMA_DATA_KEY``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any, List, Optional

import httpx
from prometheus_client import start_http_server
from redis.asyncio import Redis
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, ExtBot
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from bot.channels.telegram import use_timedelta_durations
from bot.channels.twilio import TwilioSender
from bot.hotline.destinations import CaseWebhook, Destination, OnCallSms, TelegramStaffChat
from bot.hotline.relay import Relay, RelayMetrics
from bot.logs import configure
from bot.metrics import Metrics
from bot.settings import Settings, load_or_explain
from contract.keys import Keys
from contract.reports import ReportStore
from contract.sealing import Sealer

logger = logging.getLogger(__name__)

STARTUP_TRIES = 30


async def build(settings: Settings, stack: contextlib.AsyncExitStack) -> Relay:
    """The relay for ``settings``, its clients closed by ``stack``."""
    redis = Redis.from_url(settings.redis_url, socket_timeout=30, socket_connect_timeout=5)
    stack.push_async_callback(redis.aclose)
    store = ReportStore(redis, Keys(settings.redis_prefix), Sealer(str(settings.data_keys)))
    destinations: List[Destination] = []
    if settings.hotline_telegram_chat_id is not None:
        assert settings.telegram_bot_token is not None
        use_timedelta_durations()
        bot: ExtBot[Any] = ExtBot(
            str(settings.telegram_bot_token),
            base_url=f"{settings.telegram_api_url}/bot",
            base_file_url=f"{settings.telegram_api_url}/file/bot",
            rate_limiter=AIORateLimiter(max_retries=3),
        )
        async for attempt in AsyncRetrying(  # the Bot API may not answer yet (getMe)
            retry=retry_if_exception_type(TelegramError),
            stop=stop_after_attempt(STARTUP_TRIES),
            wait=wait_fixed(1.0),
            before_sleep=lambda state: logger.warning(
                "Telegram not reachable yet (%s); trying again",
                type(state.outcome.exception()).__name__ if state.outcome else "?",
            ),
            reraise=True,
        ):
            with attempt:
                await stack.enter_async_context(bot)
        destinations.append(TelegramStaffChat(bot, settings.hotline_telegram_chat_id))
    if settings.hotline_sms_numbers:
        twilio = TwilioSender.from_settings(settings, Metrics(), redis)
        stack.push_async_callback(twilio.close)
        destinations += [OnCallSms(twilio, number) for number in settings.hotline_sms_numbers]
    if settings.hotline_webhook_url is not None:
        http = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0))
        stack.push_async_callback(http.aclose)
        destinations.append(
            CaseWebhook(http, settings.hotline_webhook_url, str(settings.hotline_webhook_secret))
        )
    return Relay(
        store,
        destinations,
        RelayMetrics(),
        max_attempts=settings.relay_max_attempts,
        retry_seconds=settings.relay_retry_seconds,
        claim_idle_seconds=settings.relay_claim_idle_seconds,
        heartbeat_seconds=settings.relay_heartbeat_seconds,
    )


async def run(settings: Settings) -> None:
    """Delivers and purges until cancelled (SIGTERM/SIGINT)."""
    async with contextlib.AsyncExitStack() as stack:
        relay = await build(settings, stack)
        if settings.relay_metrics_port:
            start_http_server(
                settings.relay_metrics_port,
                settings.relay_metrics_host,
                registry=relay.metrics.registry,
            )
        await relay.ensure_groups()
        logger.info("relay ready", extra={"destinations": ",".join(relay.destination_kinds)})
        workers = [
            asyncio.create_task(relay.work()),
            asyncio.create_task(relay.purge(settings.report_retention_days)),
        ]
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


def main(argv: Optional[List[str]] = None) -> int:
    """Starts the relay; a bad setting or no destination ends it with one line."""
    parser = argparse.ArgumentParser(description="Deliver trafficking reports to hotline staff.")
    parser.add_argument(
        "--rotate-keys",
        action="store_true",
        help="re-encrypt stored cases with the first RAHNUMA_DATA_KEY, then exit",
    )
    args = parser.parse_args(argv)
    settings = load_or_explain("rahnuma relay")
    if settings is None:
        return 2
    configure(settings.log_level)
    if args.rotate_keys:
        return asyncio.run(_rotate(settings))
    if not settings.hotline_enabled:
        print(
            "rahnuma relay: no destination configured; set HOTLINE_TELEGRAM_CHAT_ID, "
            "HOTLINE_SMS_NUMBERS or HOTLINE_WEBHOOK_URL",
            file=sys.stderr,
        )
        return 2
    asyncio.run(run(settings))
    return 0


async def _rotate(settings: Settings) -> int:
    redis = Redis.from_url(settings.redis_url, socket_timeout=30)
    try:
        store = ReportStore(redis, Keys(settings.redis_prefix), Sealer(str(settings.data_keys)))
        done = await store.rotate()
    finally:
        await redis.aclose()
    print(f"re-encrypted {done} cases with the first key of RAHNUMA_DATA_KEY")
    return 0


if __name__ == "__main__":
    sys.exit(main())
