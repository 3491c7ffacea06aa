"""Benchmark: SMS through the gateway versus the same messages straight to Rasa.

    make bench-gateway              # starts the stack (scripts/with-stack), runs, stops it
    .venv-bot/bin/python bench/gateway.py --messages 600 --concurrency 20

In one run, the same messages (held-out examples from nlu/heldout, in English,
Urdu and Roman Urdu) are sent by C concurrent users:

- through the gateway: Twilio-signed webhooks to ``POST /sms/twilio``, each
  answered by TwiML after gateway → Rasa → action server (NLG);
- directly to Rasa's REST channel (``POST /webhooks/rest/webhook``) with the
  same metadata, the same Rasa and action server.

Latency is measured paired: each of the C users sends every message on both
paths, one after the other, alternating which goes first, so both paths see
the same load, the same moments and the same messages (Rasa's latency drifts
by ±15% between runs of a few minutes; a paired design cancels that out).
Throughput is measured apart, each path alone at concurrency C.

Reported: p50/p95/p99 latency, messages per second, the gateway-to-direct
latency ratio, errors (non-200, or a holding reply instead of the answer), and
mean billed SMS segments per reply by language: a Markdown table, JSON and a
plot in results/bench/. Performance lives here, not in timed tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import statistics
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Dict, List, Optional, Tuple
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contract.languages import LANGUAGES  # noqa: E402
from contract.segments import count  # noqa: E402
from dev.chat import HOLDING, read_env  # noqa: E402

KEYWORDS = re.compile(r"^(stop|start|help|more|info|cancel|end|quit|yes|\d+)$", re.I)


@dataclass
class Result:
    """One message's fate on one path."""

    language: str
    seconds: float  # until the answer reached the phone (TwiML, or later by REST)
    ok: bool  # answered; False for an HTTP error or an answer that never came
    segments: int = 0
    deferred: bool = False  # a holding reply first, the answer later by REST


@dataclass
class Run:
    """All results of one path."""

    name: str
    results: List[Result] = field(default_factory=list)
    wall: float = 0.0
    throughput: float = 0.0  # messages per second, this path alone
    errors_alone: int = 0

    def latencies(self) -> List[float]:
        return sorted(r.seconds for r in self.results if r.ok)

    def percentile(self, q: float) -> float:
        values = self.latencies()
        if not values:
            return float("nan")
        index = min(len(values) - 1, max(0, round(q / 100 * len(values)) - 1))
        return values[index]

    def errors(self) -> int:
        return sum(not r.ok for r in self.results)

    def deferred(self) -> int:
        return sum(r.deferred for r in self.results)


def examples(language: str) -> List[str]:
    """Held-out user messages of one language (entity markup removed, keywords skipped)."""
    found: List[str] = []
    for path in sorted((ROOT / "nlu/heldout" / language).glob("*.yml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("    - "):
                message = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", line[6:]).strip()
                if message and not KEYWORDS.match(message):
                    found.append(message)
    return found


def workload(total: int) -> List[Tuple[str, str]]:
    """``total`` (language, message) pairs, the languages interleaved equally."""
    pools = {language: examples(language) for language in LANGUAGES}
    jobs = []
    for n in range(total):
        language = LANGUAGES[n % len(LANGUAGES)]
        pool = pools[language]
        jobs.append((language, pool[(n // len(LANGUAGES)) % len(pool)]))
    return jobs


async def via_gateway(
    http: httpx.AsyncClient,
    env: Dict[str, str],
    gateway: str,
    user: str,
    language: str,
    message: str,
) -> Result:
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": env["TWILIO_ACCOUNT_SID"],
        "From": user,
        "To": env["TWILIO_FROM_NUMBER"],
        "Body": message,
        "NumMedia": "0",
    }
    signature = RequestValidator(env["TWILIO_AUTH_TOKEN"]).compute_signature(
        env["PUBLIC_URL"].rstrip("/") + "/sms/twilio", params
    )
    started = time.perf_counter()
    try:
        response = await http.post(
            f"{gateway}/sms/twilio",
            content=urlencode(params),
            headers={
                "X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
    except httpx.HTTPError:
        return Result(language, time.perf_counter() - started, ok=False)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        return Result(language, elapsed, ok=False)
    bodies = [m.text or "" for m in ET.fromstring(response.text).findall("Message")]  # noqa: S314
    if bodies and not any(body in HOLDING for body in bodies):
        return Result(language, elapsed, True, sum(count(body).segments for body in bodies))
    # A holding reply: like a real user, wait for the answer that follows by SMS.
    answer = await later_by_rest(http, env["TWILIO_API_URL"], user)
    if answer is None:
        return Result(language, time.perf_counter() - started, ok=False, deferred=True)
    return Result(
        language, time.perf_counter() - started, True, count(answer).segments, deferred=True
    )


DELIVERED: Dict[str, int] = {}  # REST messages each bench phone has already seen


async def later_by_rest(
    http: httpx.AsyncClient, peers: str, number: str, patience: float = 120.0
) -> Optional[str]:
    """The next SMS the gateway sent to ``number`` through the (local) Twilio API, if any."""
    deadline = time.perf_counter() + patience
    while time.perf_counter() < deadline:
        sent = (await http.get(f"{peers}/_peer/twilio", params={"to": number})).json()["sent"]
        if len(sent) > DELIVERED.get(number, 0):
            DELIVERED[number] = DELIVERED.get(number, 0) + 1
            return str(sent[DELIVERED[number] - 1]["body"])
        await asyncio.sleep(0.1)
    return None


async def direct(
    http: httpx.AsyncClient, rasa: str, user: str, language: str, message: str
) -> Result:
    body = {"sender": user, "message": message, "metadata": {"channel": "sms"}}
    started = time.perf_counter()
    try:
        response = await http.post(f"{rasa}/webhooks/rest/webhook", json=body)
    except httpx.HTTPError:
        return Result(language, time.perf_counter() - started, ok=False)
    elapsed = time.perf_counter() - started
    ok = response.status_code == 200 and any("text" in item for item in response.json())
    return Result(language, elapsed, ok)


Sender = Callable[[str, str, str], Awaitable[Result]]  # (user, language, message)


async def run_path(name: str, jobs: List[Tuple[str, str]], concurrency: int, send: Sender) -> Run:
    """Sends ``jobs`` from ``concurrency`` users, each user's messages one after another."""
    run = Run(name)
    queues: List[List[Tuple[str, str]]] = [jobs[i::concurrency] for i in range(concurrency)]
    tag = secrets.randbelow(10**4)

    async def user(index: int) -> None:
        # A fresh conversation per user and run: the same user id on both paths
        # would share nothing anyway (the gateway sends a pseudonym).
        sender = f"+9230{tag:04d}{index:04d}" if name == "gateway" else f"bench-{tag}-{index}"
        for language, message in queues[index]:
            run.results.append(await send(sender, language, message))

    started = time.perf_counter()
    await asyncio.gather(*(user(i) for i in range(concurrency)))
    run.wall = time.perf_counter() - started
    return run


def report(gateway: Run, rasa: Run, concurrency: int, out: Path) -> str:
    """The Markdown table (also written to ``out``), the JSON and the plot."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for run in (gateway, rasa):
        rows.append(
            {
                "path": run.name,
                "messages": len(run.results),
                "errors": run.errors() + run.errors_alone,
                "deferred": run.deferred(),
                "p50_ms": run.percentile(50) * 1000,
                "p95_ms": run.percentile(95) * 1000,
                "p99_ms": run.percentile(99) * 1000,
                "per_second": run.throughput,
            }
        )
    ratio = gateway.percentile(50) / rasa.percentile(50)
    notes = [
        "",
        "Latency is until the answer reached the phone: for a holding reply, until the answer "
        "arrived by SMS afterwards (the bench user waits for it, as a person would). Errors: "
        "an HTTP error, or an answer that never came (lost).",
    ]
    segments = {
        language: statistics.mean(
            [r.segments for r in gateway.results if r.language == language and r.ok] or [0]
        )
        for language in LANGUAGES
    }
    lines = [
        f"Concurrency {concurrency} users; {rows[0]['messages']} messages per path, paired "
        "(latency); each path alone for messages/s.",
        "",
        "| path | messages | errors | holding reply first | p50 ms | p95 ms | p99 ms "
        "| messages/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['path']} | {row['messages']} | {row['errors']} | "
            f"{row['deferred']} | "
            f"{row['p50_ms']:.0f} | {row['p95_ms']:.0f} | {row['p99_ms']:.0f} | "
            f"{row['per_second']:.1f} |"
        )
    lines += [
        "",
        f"Gateway-to-direct median latency ratio: **{ratio:.3f}** "
        f"(the gateway adds {100 * (ratio - 1):+.1f}% to the median).",
        *notes,
        "",
        "| language | mean SMS segments per reply (gateway) |",
        "|---|---|",
        *[f"| {language} | {value:.2f} |" for language, value in segments.items()],
    ]
    table = "\n".join(lines)
    (out / "gateway.md").write_text(table + "\n", encoding="utf-8")
    (out / "gateway.json").write_text(
        json.dumps(
            {"concurrency": concurrency, "rows": rows, "median_ratio": ratio, "segments": segments},
            indent=2,
        ),
        encoding="utf-8",
    )
    plot(gateway, rasa, out / "gateway.png")
    return table


def plot(gateway: Run, rasa: Run, path: Path) -> None:
    """Latency distributions of both paths (CDF)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for run in (gateway, rasa):
        values = [v * 1000 for v in run.latencies()]
        axis.plot(
            values,
            [(i + 1) / len(values) for i in range(len(values))],
            label=f"{run.name} (p50 {run.percentile(50) * 1000:.0f} ms)",
        )
    axis.set_xlabel("latency (ms)")
    axis.set_ylabel("share of messages answered")
    axis.set_title("SMS via the gateway vs straight to Rasa")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


async def paired(
    jobs: List[Tuple[str, str]], concurrency: int, gateway_send: Sender, rasa_send: Sender
) -> Tuple[Run, Run]:
    """Every message on both paths, back to back, from ``concurrency`` users."""
    gateway, rasa = Run("gateway"), Run("rasa direct")
    queues = [jobs[i::concurrency] for i in range(concurrency)]
    tag = secrets.randbelow(10**4)

    async def user(index: int) -> None:
        number, direct_id = f"+9231{tag:04d}{index:04d}", f"bench-p{tag}-{index}"
        for n, (language, message) in enumerate(queues[index]):
            first_gateway = (n + index) % 2 == 0
            for on_gateway in (first_gateway, not first_gateway):
                if on_gateway:
                    gateway.results.append(await gateway_send(number, language, message))
                else:
                    rasa.results.append(await rasa_send(direct_id, language, message))

    started = time.perf_counter()
    await asyncio.gather(*(user(i) for i in range(concurrency)))
    gateway.wall = rasa.wall = time.perf_counter() - started
    return gateway, rasa


async def measure(args: argparse.Namespace, env: Dict[str, str]) -> Tuple[Run, Run]:
    jobs = workload(args.messages)
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        async def gateway_send(user: str, language: str, message: str) -> Result:
            return await via_gateway(http, env, args.gateway, user, language, message)

        async def rasa_send(user: str, language: str, message: str) -> Result:
            return await direct(http, args.rasa, user, language, message)

        print(f"==> Warming up ({min(30, len(jobs))} messages per path)", flush=True)
        await run_path("gateway", jobs[:30], min(5, args.concurrency), gateway_send)
        await run_path("rasa", jobs[:30], min(5, args.concurrency), rasa_send)
        print(
            f"==> Latency: {len(jobs)} messages on both paths, paired, {args.concurrency} users",
            flush=True,
        )
        gateway, rasa = await paired(jobs, args.concurrency, gateway_send, rasa_send)
        alone = jobs[: max(args.concurrency, len(jobs) // 2)]
        for run, send, name in ((gateway, gateway_send, "gateway"), (rasa, rasa_send, "rasa")):
            print(f"==> Throughput: {len(alone)} messages, {name} alone", flush=True)
            part = await run_path(name, alone, args.concurrency, send)
            run.throughput = len(part.results) / part.wall
            run.errors_alone = part.errors()
        return gateway, rasa


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600, help="per path (N)")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent users (C)")
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    parser.add_argument("--rasa", default="http://127.0.0.1:5005")
    parser.add_argument("--out", type=Path, default=ROOT / "results/bench")
    args = parser.parse_args(argv)
    env = read_env(ROOT / "var/local.env")  # written by the stack (make serve, with-stack)
    gateway, rasa = asyncio.run(measure(args, env))
    print(report(gateway, rasa, args.concurrency, args.out))
    print(f"==> Written to {args.out}/gateway.md, gateway.json, gateway.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
