"""Benchmark: what one Rasa process costs and how many turns a second it answers.

    make bench                                   # all of it, figures beside the previous ones
    .venv-bot/bin/python bench/turns.py --users 1 5 10 20 40 --seconds 30 [--profile]

Starts its own action server (actions and NLG) and one Rasa process with the
embedded endpoints (``endpoints.yml``: in-memory tracker store), on free ports,
and measures:

- **training**: seconds and model size of the last ``make train``
  (``models/rahnuma.train.json``, written by the Makefile);
- **load**: seconds from starting ``rasa run`` until it answers HTTP (Rasa
  opens its port only once the model is loaded);
- **memory**: Rasa's resident set after loading, and its peak after the run;
- **throughput**: a closed loop at each number of concurrent users (1, 5, 10,
  20, 40 by default): every user sends held-out messages (English, Urdu, Roman
  Urdu in turn) straight to Rasa's REST channel, the next one as soon as the
  answer arrives, for ``--seconds``. Messages per second, p50/p95 latency and
  errors: an HTTP error, or an empty answer (Rasa answers ``200 []`` when an
  action or the NLG endpoint fails, so an empty answer is a failure here).

With ``--profile``, py-spy samples Rasa and the action server during the
20-user level (or the largest level below it) and the CPU samples are summed
by where they were spent (NLU, each policy, the action and NLG round trips,
the tracker store, the HTTP server, ...): ``results/bench/profile.md``, with
the raw stacks beside it for a flame graph (``flamegraph.pl`` or speedscope).

The figures are written to ``results/bench/turns.{md,json,png}`` with the
previous ones (``bench/reference.json``) beside them; ``--save-reference``
makes this run the new reference. Run it with nothing else busy: the figures
are wall-clock on this machine. Performance lives here, not in timed tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway import Run, direct, workload  # noqa: E402
from dev import redis_server  # noqa: E402
from dev.serve import BOT_VENV, MODEL, RASA_VENV, Child, Supervisor  # noqa: E402

Figures = Dict[str, Any]  # one run's figures, as in results/bench/turns.json
REFERENCE = ROOT / "bench/reference.json"
TRAINED = ROOT / "models/rahnuma.train.json"
LOAD_TIMEOUT = 600.0


def figures(users: int, run: Run) -> Dict[str, float]:
    """One level's figures: messages, errors, answers per second, p50 and p95."""
    return {
        "users": users,
        "messages": len(run.results),
        "errors": run.errors(),
        "per_second": (len(run.results) - run.errors()) / run.wall if run.wall else 0.0,
        "p50_ms": run.percentile(50) * 1000,
        "p95_ms": run.percentile(95) * 1000,
    }


def memory_kb(pid: int) -> Dict[str, int]:
    """Resident set now (VmRSS) and at its peak (VmHWM), in kB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Stack:
    """The action server and one Rasa process, started for the benchmark."""

    def __init__(self, log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.supervisor = Supervisor(log.open("w", encoding="utf-8"))
        self.endpoints = log.parent / "turns-endpoints.yml"
        self.rasa_port = redis_server.free_port()
        self.action_port = redis_server.free_port()
        self.rasa: Optional[Child] = None
        self.actions: Optional[Child] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def start(self) -> float:
        """Starts both; returns Rasa's load time in seconds."""
        text = (ROOT / "endpoints.yml").read_text(encoding="utf-8")
        self.endpoints.write_text(text.replace(":5055/", f":{self.action_port}/"), "utf-8")
        self.actions = Child(
            "actions",
            [
                str(RASA_VENV / "bin/python"),
                "-m",
                "actions.server",
                "--port",
                str(self.action_port),
            ],
        )
        self.supervisor.start(self.actions)
        rasa_argv = [str(RASA_VENV / "bin/rasa"), "run", "--model", MODEL]
        rasa_argv += ["--endpoints", str(self.endpoints), "--credentials", "credentials.yml"]
        rasa_argv += ["--interface", "127.0.0.1", "--port", str(self.rasa_port)]
        self.rasa = Child("rasa", rasa_argv)
        started = time.monotonic()
        self.supervisor.start(self.rasa)
        while time.monotonic() - started < LOAD_TIMEOUT:
            if self.supervisor.dead() is not None:
                raise SystemExit("error: Rasa or the action server stopped; see the stack log")
            try:
                httpx.get(self.url, timeout=1)
                return time.monotonic() - started
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SystemExit(f"error: Rasa did not answer within {LOAD_TIMEOUT:.0f} s")

    def pid(self, child: Optional[Child]) -> int:
        assert child is not None and child.process is not None
        return child.process.pid

    def stop(self) -> None:
        self.supervisor.stop()


async def closed_loop(url: str, users: int, seconds: float, tag: str) -> Run:
    """``users`` users, each sending its next message when the answer to the last arrives,
    until ``seconds`` have passed; messages still in flight then are waited for."""
    jobs = workload(max(users * 40, 400))
    queues = [jobs[i::users] for i in range(users)]
    level = Run(f"{users} users")
    limits = httpx.Limits(max_connections=users * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        deadline = time.perf_counter() + seconds

        async def user(index: int) -> None:
            n = 0
            while time.perf_counter() < deadline:
                language, message = queues[index][n % len(queues[index])]
                level.results.append(
                    await direct(http, url, f"bench-{tag}-{index}", language, message)
                )
                n += 1

        started = time.perf_counter()
        await asyncio.gather(*(user(i) for i in range(users)))
        level.wall = time.perf_counter() - started
    return level


def py_spy() -> Optional[str]:
    """The py-spy binary (bot-dev environment), if installed."""
    found = BOT_VENV / "bin/py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Starts py-spy sampling ``pid`` (and its threads, idle ones left out) for ``seconds``."""
    binary = py_spy()
    if binary is None:
        raise SystemExit("error: --profile needs py-spy (make install puts it in .venv-bot)")
    argv = [binary, "record", "--pid", str(pid), "--duration", str(int(seconds))]
    argv += ["--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# Where a sample was spent, two ways. STAGES: what the turn was doing: the first stage
# (in this order) with a frame anywhere in the stack. LIBRARIES: what code ran: the innermost
# matching frame. Patterns are substrings of py-spy's "function (file:line)" frames.
STAGES: List[Tuple[str, Tuple[str, ...]]] = [
    ("tracker store: read", ("get_tracker (rasa/core/processor.py", "retrieve (rasa/core/tracker")),
    ("tracker store: write", ("save_tracker (rasa/core/processor.py",)),
    ("NLU pipeline (parse)", ("parse_message (rasa/core/processor.py",)),
    ("slot extraction (validation action)", ("run_action_extract_slots",)),
    ("policies (predict next action)", ("_predict_next_with_tracker",)),
    ("running actions (action server, responses)", ("_run_action (rasa/core/processor.py",)),
    ("lock store", ("rasa/core/lock_store",)),
    ("HTTP server (sanic)", ("sanic/",)),
]
LIBRARIES: List[Tuple[str, Tuple[str, ...]]] = [
    ("TensorFlow (DIET, TED)", ("tensorflow/", "keras/")),
    ("jsonschema", ("jsonschema/",)),
    ("JSON encode/decode", ("json/", "ujson")),
    ("HTTP client (aiohttp)", ("aiohttp/",)),
    ("Rasa trackers and events", ("rasa/shared/core/trackers", "rasa/shared/core/events")),
    ("Rasa featurizers", ("rasa/core/featurizers", "rasa/nlu/featurizers", "sklearn/")),
    ("Rasa policies", ("rasa/core/policies",)),
    ("Rasa domain", ("rasa/shared/core/domain",)),
    ("Rasa graph runner (dask)", ("rasa/engine", "dask/")),
    ("project code", ("/actions/", "/nlu/", "/dialogue/", "/contract/")),
    ("rasa-sdk", ("rasa_sdk/",)),
    ("HTTP server (sanic)", ("sanic/", "httptools")),
    ("logging", ("logging/", "structlog")),
]


def categorise(
    raw: Path, categories: List[Tuple[str, Tuple[str, ...]]], innermost: bool
) -> Counter[str]:
    """Samples per category from py-spy's raw (collapsed) stacks."""
    counts: Counter[str] = Counter()
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if number.isdigit():
            counts[_category(stack.split(";"), categories, innermost)] += int(number)
    return counts


def _category(
    frames: List[str], categories: List[Tuple[str, Tuple[str, ...]]], innermost: bool
) -> str:
    if innermost:
        for frame in reversed(frames):
            for name, keys in categories:
                if any(key in frame for key in keys):
                    return name
        return "other"
    for name, keys in categories:
        if any(key in frame for frame in frames for key in keys):
            return name
    return "other"


def profile_table(raw: Path, messages: int, cpu_ms: float) -> str:
    """Where one process's samples went, by stage and by library, as Markdown."""
    lines = [f"CPU per message: {cpu_ms:.1f} ms over {messages} messages.", ""]
    for title, categories, innermost in (("stage", STAGES, False), ("library", LIBRARIES, True)):
        counts = categorise(raw, categories, innermost)
        total = sum(counts.values()) or 1
        lines += [f"| {title} | share of samples | ms per message |", "|---|---|---|"]
        for name, n in counts.most_common():
            lines.append(f"| {name} | {n / total:.1%} | {cpu_ms * n / total:.1f} |")
        lines.append("")
    return "\n".join(lines)


def read_json(path: Path) -> Figures:
    """The figures in ``path``, or none when it does not exist yet."""
    if not path.exists():
        return {}
    figures: Figures = json.loads(path.read_text(encoding="utf-8"))
    return figures


def _cell(value: object, digits: int = 0) -> str:
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return "–"


def report(now: Figures, before: Figures) -> str:
    """One table: each figure now, and as it was in the reference run."""
    rows = [
        ("training s (make train, from scratch)", "train_seconds", 0),
        ("model MB", "model_mb", 1),
        ("load s (rasa run until it answers)", "load_seconds", 1),
        ("Rasa resident MB after load", "rss_mb", 0),
        ("Rasa peak resident MB", "peak_rss_mb", 0),
    ]
    lines = [
        f"| figure | now ({now.get('commit', '?')}) | previous "
        f"({before.get('commit', 'none')}, {before.get('date', '')}) |",
        "|---|---|---|",
    ]
    for label, key, digits in rows:
        was, now_value = _cell(before.get(key), digits), _cell(now.get(key), digits)
        lines.append(f"| {label} | {now_value} | {was} |")
    levels_now = {int(x["users"]): x for x in now.get("levels", [])}
    levels_before = {int(x["users"]): x for x in before.get("levels", [])}
    for users in sorted(levels_now):
        n, b = levels_now[users], levels_before.get(users, {})
        lines.append(
            f"| {users} users: messages/s, p50 / p95 ms, errors "
            f"| {n['per_second']:.1f}, {n['p50_ms']:.0f} / {n['p95_ms']:.0f}, {n['errors']} "
            f"| {_cell(b.get('per_second'), 1)}, {_cell(b.get('p50_ms'))} / "
            f"{_cell(b.get('p95_ms'))}, {_cell(b.get('errors'))} |"
        )
    return "\n".join(lines) + "\n"


def plot(now: Figures, before: Figures, path: Path) -> None:
    """Messages per second against concurrent users, now and before."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for label, run in (("now", now), ("previous", before)):
        levels = run.get("levels") or []
        if levels:
            xs = [x["users"] for x in levels]
            ys = [x["per_second"] for x in levels]
            axis.plot(xs, ys, marker="o", label=f"{label} ({run.get('commit', '?')})")
    axis.set_xlabel("concurrent users (closed loop)")
    axis.set_ylabel("messages answered per second")
    axis.set_title("One Rasa process on this machine")
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def commit() -> str:
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return found.stdout.strip() or "?"


def run(args: argparse.Namespace) -> Figures:
    """Starts the stack, measures every level (profiling one), stops the stack."""
    out: Path = args.out
    stack = Stack(out / "turns-stack.log")
    try:
        print("==> Starting the action server and Rasa (loading the model)", flush=True)
        load = stack.start()
        rasa_pid, actions_pid = stack.pid(stack.rasa), stack.pid(stack.actions)
        after_load = memory_kb(rasa_pid)["VmRSS"]
        print(f"==> Loaded in {load:.1f} s; Rasa resident {after_load / 1024:.0f} MB", flush=True)
        asyncio.run(closed_loop(stack.url, 5, 5, "warm"))
        profiled = max((u for u in args.users if u <= 20), default=args.users[0])
        levels = []
        for users in args.users:
            print(f"==> {users} users, {args.seconds:.0f} s", flush=True)
            spies = []
            if args.profile and users == profiled:
                before_cpu = {"rasa": cpu_seconds(rasa_pid), "actions": cpu_seconds(actions_pid)}
                for name, pid in (("rasa", rasa_pid), ("actions", actions_pid)):
                    spies.append((name, record(pid, args.seconds, out / f"profile-{name}.txt")))
            tag = f"{users}-{time.time():.0f}"
            level = asyncio.run(closed_loop(stack.url, users, args.seconds, tag))
            levels.append(figures(users, level))
            print(f"    {json.dumps(levels[-1])}", flush=True)
            if spies:
                used = {
                    "rasa": cpu_seconds(rasa_pid) - before_cpu["rasa"],
                    "actions": cpu_seconds(actions_pid) - before_cpu["actions"],
                }
                for _, spy in spies:
                    spy.wait(timeout=args.seconds + 60)
                messages = len(level.results)
                text = "".join(
                    f"## {name}\n\n"
                    + profile_table(
                        out / f"profile-{name}.txt", messages, 1000 * used[name] / messages
                    )
                    for name, _ in spies
                )
                (out / "profile.md").write_text(text, encoding="utf-8")
                print(text)
        peak = memory_kb(rasa_pid)["VmHWM"]
    finally:
        stack.stop()
    training = read_json(TRAINED)
    return {
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d"),
        "train_seconds": training.get("seconds"),
        "model_mb": training.get("model_mb"),
        "load_seconds": round(load, 1),
        "rss_mb": round(after_load / 1024),
        "peak_rss_mb": round(peak / 1024),
        "seconds_per_level": args.seconds,
        "levels": levels,
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 5, 10, 20, 40])
    parser.add_argument("--seconds", type=float, default=30.0, help="per level")
    parser.add_argument("--profile", action="store_true", help="py-spy at 20 users")
    parser.add_argument(
        "--save-reference", action="store_true", help="this run becomes bench/reference.json"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results/bench")
    args = parser.parse_args(argv)
    if not (ROOT / MODEL).exists():
        raise SystemExit(f"error: no model at {MODEL}; run `make train` first")
    args.out.mkdir(parents=True, exist_ok=True)
    now = run(args)
    before = read_json(REFERENCE)
    table = report(now, before)
    (args.out / "turns.md").write_text(table, encoding="utf-8")
    (args.out / "turns.json").write_text(json.dumps(now, indent=2), encoding="utf-8")
    plot(now, before, args.out / "turns.png")
    print(table)
    print(f"==> Written to {args.out}/turns.md, turns.json, turns.png")
    if args.save_reference:
        REFERENCE.write_text(json.dumps(now, indent=2) + "\n", encoding="utf-8")
        print(f"==> {REFERENCE.relative_to(ROOT)} now holds this run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
