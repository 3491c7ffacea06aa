"""Two gateway processes sharing Redis, as deployed: once-only handling and per-user order.

The gateways are real ``python -m bot`` processes; the Telegram/Twilio peers
and the Rasa stand-in run in the test's event loop.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO, List
from urllib.parse import urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator

from dev.fakes import PeerState
from tests.bot.conftest import (
    TWILIO_SID,
    TWILIO_TOKEN,
    WEBHOOK_SECRET,
    environment,
    free_socket,
    local_peers,
    text_update,
)
from tests.bot.fake_rasa import FakeRasa

PUBLIC = "https://rahnuma.example.org"


class Pair:
    """Two gateway processes and the peers they share."""

    def __init__(
        self,
        urls: List[str],
        peers: PeerState,
        rasa: FakeRasa,
        processes: List[subprocess.Popen[bytes]],
    ) -> None:
        self.urls = urls
        self.processes = processes
        self.peers = peers
        self.rasa = rasa
        self.http = httpx.AsyncClient(timeout=30)

    async def update(self, process: int, update_id: int, chat_id: int, text: str) -> int:
        response = await self.http.post(
            self.urls[process] + "/telegram/webhook",
            json=text_update(update_id, chat_id, text),
            headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
        )
        return response.status_code

    async def sms(self, process: int, sid: str, sender: str, body: str) -> List[str]:
        params = {
            "MessageSid": sid,
            "From": sender,
            "To": "+15005550006",
            "Body": body,
            "AccountSid": TWILIO_SID,
            "NumMedia": "0",
        }
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + "/sms/twilio", params)
        response = await self.http.post(
            self.urls[process] + "/sms/twilio",
            content=urlencode(params),
            headers={
                "X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert response.status_code == 200
        return [m.text or "" for m in ET.fromstring(response.text).findall("Message")]

    async def sent_to(self, chat_id: int, count: int, timeout: float = 20) -> List[str]:
        sent = await self.peers.until(lambda: self.peers.telegram_to(chat_id), count, timeout)
        return [m["text"] for m in sent]


@asynccontextmanager
async def two_gateways(prefix: str, **overrides: str) -> AsyncIterator[Pair]:
    async with local_peers() as (peers, peers_url, rasa, rasa_url):
        processes: List[subprocess.Popen[bytes]] = []
        logs: List[IO[bytes]] = []
        urls = []
        shared = environment(  # one set of keys: the processes share Redis
            PUBLIC_URL=PUBLIC,
            TELEGRAM_API_URL=peers_url,
            TWILIO_API_URL=peers_url,
            RASA_URL=rasa_url,
            REDIS_PREFIX=prefix,
            RATE_LIMIT_PER_MINUTE="1000",
            **overrides,
        )
        for _ in range(2):
            sock = free_socket()
            port = sock.getsockname()[1]
            sock.close()
            env = {**os.environ, **shared, "GATEWAY_PORT": str(port)}
            log = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
            logs.append(log)
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bot"],
                    cwd="/",
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        try:
            await _wait_healthy(urls, processes, logs)
            pair = Pair(urls, peers, rasa, processes)
            try:
                yield pair
            finally:
                await pair.http.aclose()
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
            for process in processes:
                process.wait(10)
            for written in logs:
                written.close()


async def _wait_healthy(
    urls: List[str], processes: List[subprocess.Popen[bytes]], logs: List[IO[bytes]]
) -> None:
    async with httpx.AsyncClient() as http:
        for url, process, log in zip(urls, processes, logs, strict=True):
            for _ in range(200):
                if process.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"gateway exited: {log.read().decode()[-2000:]}")
                try:
                    if (await http.get(url + "/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail("gateway did not start in 20 s")


async def test_an_update_delivered_to_both_processes_at_once_is_handled_once(prefix: str) -> None:
    async with two_gateways(prefix) as pair:
        chats = list(range(9100, 9125))
        statuses = await asyncio.gather(
            *(
                pair.update(process, 50_000 + chat, chat, f"hello {chat}")
                for chat in chats
                for process in (0, 1)
            )
        )
        assert set(statuses) == {200}
        for chat in chats:
            assert await pair.sent_to(chat, 1) == [f"echo: hello {chat}"]
        await asyncio.sleep(1.0)  # a second answer would have arrived by now
        assert sorted(pair.rasa.messages()) == sorted(f"hello {chat}" for chat in chats)
        assert len(pair.peers.telegram_sent) == len(chats)


async def test_one_users_messages_keep_their_order_across_processes(prefix: str) -> None:
    async with two_gateways(prefix) as pair:
        pair.rasa.jitter = 0.05
        chat = 9200
        texts = [f"message {n:02d}" for n in range(30)]
        for n, text in enumerate(texts):
            assert await pair.update(n % 2, 60_000 + n, chat, text) == 200
        replies = await pair.sent_to(chat, len(texts), timeout=60)
        assert pair.rasa.messages() == texts
        assert replies == [f"echo: {text}" for text in texts]


async def test_two_users_are_answered_concurrently_and_each_in_order(prefix: str) -> None:
    async with two_gateways(prefix) as pair:
        pair.rasa.jitter = 0.05

        async def user(chat: int, base: int) -> None:
            for n in range(10):
                assert await pair.update(n % 2, base + n, chat, f"{chat}:{n}") == 200

        await asyncio.gather(user(9301, 70_000), user(9302, 80_000))
        for chat in (9301, 9302):
            replies = await pair.sent_to(chat, 10, timeout=60)
            assert replies == [f"echo: {chat}:{n}" for n in range(10)]


async def test_a_twilio_retry_reaching_the_other_process_is_answered_once(prefix: str) -> None:
    async with two_gateways(prefix) as pair:
        first, second = await asyncio.gather(
            pair.sms(0, "SM" + "b" * 32, "+923001112223", "once please"),
            pair.sms(1, "SM" + "b" * 32, "+923001112223", "once please"),
        )
        assert sorted([first, second], key=len) == [[], ["echo: once please"]]
        assert pair.rasa.messages() == ["once please"]


async def test_a_gateway_killed_while_answering_loses_nothing(prefix: str) -> None:
    # The killed process held the user's lock (Rasa timeout 2 s + 30 s margin) and the
    # waiting webhook; the survivor takes the inbox over and the answer comes by SMS.
    async with two_gateways(prefix, RASA_TIMEOUT_SECONDS="2") as pair:
        pair.rasa.delay = 1.5
        sender = "+923004445556"
        waiting = asyncio.ensure_future(pair.sms(0, "SM" + "c" * 32, sender, "still there?"))
        while not pair.rasa.received:
            await asyncio.sleep(0.05)
        pair.processes[0].kill()
        with pytest.raises(httpx.HTTPError):
            await waiting
        pair.rasa.delay = 0.0

        sent = await pair.peers.until(lambda: pair.peers.sms_to(sender), 1, timeout=75)
        assert [m["body"] for m in sent] == ["echo: still there?"]
        assert pair.rasa.messages() == ["still there?", "still there?"]  # asked again, once
