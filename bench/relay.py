"""Benchmark: how long a submitted report takes to reach hotline staff.

    make bench-relay
    .venv-bot/bin/python bench/relay.py --reports 40 --interval 3.5

Reports are submitted exactly as the action server does (``ReportStore.submit``
against real Redis, ``REDIS_URL``), one every ``--interval`` seconds, one in
five urgent. The relay runs as its own process (``python -m bot.hotline``), as
deployed, delivering to the local peers (``dev/fakes.py``): the Telegram staff
chat, one on-call number by SMS and a case-system webhook. The time is taken
from just before ``submit`` to the moment each destination has the report
(the peers run in this process, polled every 2 ms).

The default interval keeps the staff chat under Telegram's limit for a group
(20 messages a minute, which python-telegram-bot's AIORateLimiter enforces);
a faster burst measures that limit, not the relay. Output: a Markdown table
and JSON in results/bench/relay.{md,json}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, List

from cryptography.fernet import Fernet
from redis.asyncio import Redis

from contract.channels import Channel
from contract.keys import Keys
from contract.languages import LANGUAGES
from contract.reports import ReportStore, Submission
from contract.sealing import Sealer
from dev.fakes import PeerState, create_peers

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"R-[0-9A-Z]{6}")
STAFF_CHAT = "-1009876543210"
ON_CALL = "+923001110001"


def percentile(values: List[float], share: float) -> float:
    """The nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))]


async def serve_peers(state: PeerState) -> tuple[str, asyncio.Task[None], object]:
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_peers(state), log_config=None, access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", task, server


async def run(reports: int, interval: float, redis_url: str) -> Dict[str, object]:
    """Submits ``reports`` and measures submit-to-destination times."""
    token = f"4242:{secrets.token_hex(16)}"
    state = PeerState(token=token, twilio_sid="AC" + "0" * 32, twilio_token=secrets.token_hex(16))
    peers_url, peers_task, server = await serve_peers(state)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    key = Fernet.generate_key().decode()
    env = {
        **os.environ,
        "RAHNUMA_PSEUDONYM_KEY": "b" * 40,
        "RAHNUMA_DATA_KEY": key,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": prefix,
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_URL": peers_url,
        "TWILIO_ACCOUNT_SID": state.twilio_sid,
        "TWILIO_AUTH_TOKEN": state.twilio_token,
        "TWILIO_FROM_NUMBER": "+15005550006",
        "TWILIO_API_URL": peers_url,
        "PUBLIC_URL": "http://127.0.0.1:8080",
        "TELEGRAM_WEBHOOK_SECRET": secrets.token_hex(8),
        "HOTLINE_TELEGRAM_CHAT_ID": STAFF_CHAT,
        "HOTLINE_STAFF_TELEGRAM_IDS": "777001",
        "HOTLINE_SMS_NUMBERS": ON_CALL,
        "HOTLINE_WEBHOOK_URL": f"{peers_url}/_peer/casebook",
        "HOTLINE_WEBHOOK_SECRET": "w" * 40,
        "RELAY_METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }
    relay = subprocess.Popen([sys.executable, "-m", "bot.hotline"], cwd=ROOT, env=env)
    redis = Redis.from_url(redis_url)
    store = ReportStore(redis, Keys(prefix), Sealer(key))
    submitted: Dict[str, float] = {}
    arrived: Dict[str, Dict[str, float]] = {"telegram": {}, "sms": {}, "webhook": {}}

    def scan() -> None:
        now = time.monotonic()
        sources = {
            "telegram": [m["text"] for m in state.telegram_to(STAFF_CHAT)],
            "sms": [m["body"] for m in state.sms_to(ON_CALL)],
            "webhook": [post["body"] for post in state.casebook],
        }
        for destination, texts in sources.items():
            for text in texts:
                found = REFERENCE.search(text)
                if found and found.group(0) not in arrived[destination]:
                    arrived[destination][found.group(0)] = now

    async def watch() -> None:
        while True:
            scan()
            await asyncio.sleep(0.002)

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.sleep(2.0)  # the relay process starts
        for index in range(reports):
            started = time.monotonic()
            reference = await store.submit(
                Submission(
                    reporter=f"tg-bench{index}",
                    language=LANGUAGES[index % len(LANGUAGES)],
                    channel=list(Channel)[index % len(Channel)],
                    description="An agent took our passports and keeps us in a house.",
                    location="Tripoli",
                    urgent=index % 5 == 0,
                    may_contact=index % 2 == 0,
                )
            )
            submitted[reference] = started
            print(f"\r{index + 1}/{reports} submitted", end="", flush=True)
            await asyncio.sleep(interval)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(
            len(times) < len(submitted) for times in arrived.values()
        ):
            await asyncio.sleep(0.1)
        print()
    finally:
        watcher.cancel()
        relay.terminate()
        relay.wait(15)
        async for stale in redis.scan_iter(f"{prefix}:*"):
            await redis.delete(stale)
        await redis.aclose()
        server.should_exit = True  # type: ignore[attr-defined]
        await peers_task
    result: Dict[str, object] = {"reports": reports, "interval_s": interval}
    held = {
        "telegram": [m["text"] for m in state.telegram_to(STAFF_CHAT)],
        "sms": [m["body"] for m in state.sms_to(ON_CALL)],
        "webhook": [post["body"] for post in state.casebook],
    }
    for destination, times in arrived.items():
        seconds = [times[ref] - submitted[ref] for ref in submitted if ref in times]
        refs = [found.group(0) for text in held[destination] if (found := REFERENCE.search(text))]
        duplicates = len(refs) - len(set(refs))
        result[destination] = {
            "delivered": len(seconds),
            "p50_ms": round(statistics.median(seconds) * 1000, 1) if seconds else None,
            "p95_ms": round(percentile(seconds, 0.95) * 1000, 1) if seconds else None,
            "max_ms": round(max(seconds) * 1000, 1) if seconds else None,
            "duplicates": duplicates,
        }
    return result


def main() -> int:
    """Runs the benchmark and writes results/bench/relay.{md,json}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=40)
    parser.add_argument("--interval", type=float, default=3.5)
    parser.add_argument(
        "--redis-url",
        default=os.environ.get(
            "RAHNUMA_TEST_REDIS_URL", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        ),
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.reports, args.interval, args.redis_url))
    out = ROOT / "results/bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "relay.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    lines = [
        "| destination | delivered | p50 ms | p95 ms | max ms | duplicates |",
        "|---|---|---|---|---|---|",
    ]
    for destination in ("telegram", "sms", "webhook"):
        row = result[destination]
        assert isinstance(row, dict)
        lines.append(
            f"| {destination} | {row['delivered']}/{args.reports} | {row['p50_ms']} | "
            f"{row['p95_ms']} | {row['max_ms']} | {row['duplicates']} |"
        )
    table = "\n".join(lines)
    (out / "relay.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
