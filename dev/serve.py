"""``python -m dev.serve``: the whole stack on one machine, in the foreground (``make serve``).

Starts Rasa (REST channel, on 127.0.0.1 only), the action server (custom actions,
storing reports in Redis), the gateway, the hotline relay when a
destination for reports is configured, and, when they are needed, a
throw-away Redis and the local Telegram/Twilio peers. Every line they print is prefixed with its
process name; Ctrl-C (or any process dying) stops them all.

With no ``TELEGRAM_BOT_TOKEN`` and no ``TWILIO_ACCOUNT_SID`` set, the gateway
is wired to the local peers with fresh local credentials (written to
``var/local.env`` for ``python -m dev.chat``), so both channels can be tried
without any account; a local hotline staff chat is configured as well, so
``python -m dev.chat`` can play a hotline worker (``:staff``). With only
``TELEGRAM_BOT_TOKEN`` set, the gateway long-polls the real Telegram.
Deployments run the same processes as containers (see docs/operations.md), not this script.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Dict, List, Optional

import httpx

from dev import chat, redis_server

if TYPE_CHECKING:
    from dev.topology import Topology

ROOT = Path(__file__).resolve().parent.parent
RASA_VENV = Path(os.environ.get("RASA_VENV", ".venv-rasa"))
BOT_VENV = Path(os.environ.get("BOT_VENV", ".venv-bot"))
MODEL = os.environ.get("MODEL", "models/rahnuma.tar.gz")
READY_TIMEOUT = 600.0
HOTLINE_DESTINATIONS = ("HOTLINE_TELEGRAM_CHAT_ID", "HOTLINE_SMS_NUMBERS", "HOTLINE_WEBHOOK_URL")


@dataclass
class Child:
    """One process of the stack."""

    name: str
    argv: List[str]
    env: Dict[str, str] = field(default_factory=dict)
    process: Optional[subprocess.Popen[bytes]] = None


def dotenv(path: Path) -> Dict[str, str]:
    """The .env file's values (the environment wins over them)."""
    return chat.read_env(path) if path.exists() else {}


class Supervisor:
    """Starts, watches and stops the stack's processes."""

    def __init__(self, sink: IO[str]) -> None:
        self.sink = sink
        self.children: List[Child] = []
        self._lock = threading.Lock()
        self.stopping = False

    def start(self, child: Child) -> None:
        """Starts ``child`` with its output prefixed into the sink."""
        env = {
            **os.environ,
            **child.env,
            "PYTHONUNBUFFERED": "1",
            # Rasa 3.6's pinned dependencies warn on every start; they are not ours to fix.
            "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::FutureWarning",
        }
        child.process = subprocess.Popen(
            child.argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.children.append(child)
        threading.Thread(target=self._pump, args=(child,), daemon=True).start()
        self.say(f"started {child.name}")

    def kill(self, child: Child, signum: int = signal.SIGKILL) -> None:
        """Sends ``signum`` to ``child``'s process group and waits for it (a crash: SIGKILL)."""
        if child.process is not None and child.process.poll() is None:
            os.killpg(child.process.pid, signum)
            child.process.wait(30)

    def restart(self, child: Child) -> None:
        """Starts ``child`` again after it stopped, with the same command and environment."""
        self.children.remove(child)
        self.start(child)

    def _pump(self, child: Child) -> None:
        assert child.process is not None and child.process.stdout is not None
        stdout = child.process.stdout
        for raw in stdout:
            line = raw.decode("utf-8", errors="replace").rstrip()
            with self._lock:
                self.sink.write(f"{child.name:<8}| {line}\n")
                self.sink.flush()
        stdout.close()  # the process ended (a restart gives the child a new one)

    def say(self, text: str) -> None:
        """A line from the supervisor itself."""
        with self._lock:
            self.sink.write(f"{'serve':<8}| {text}\n")
            self.sink.flush()

    def dead(self) -> Optional[Child]:
        """A child that exited, if any."""
        return next(
            (c for c in self.children if c.process is not None and c.process.poll() is not None),
            None,
        )

    def stop(self) -> None:
        """Stops every child: TERM, then KILL after 10 s."""
        self.stopping = True
        for child in reversed(self.children):
            if child.process is not None and child.process.poll() is None:
                os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in reversed(self.children):
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        self.say("stopped")


def local_credentials(public_url: str, peers_port: int) -> tuple[Child, Dict[str, str]]:
    """The local Telegram/Twilio peers and fresh credentials that point the gateway at them,
    with a hotline staff chat for the relay."""
    peers = f"http://127.0.0.1:{peers_port}"
    credentials = {
        "TELEGRAM_BOT_TOKEN": f"{secrets.randbelow(10**9)}:local-{secrets.token_hex(16)}",
        "TELEGRAM_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        "TELEGRAM_API_URL": peers,
        "TWILIO_ACCOUNT_SID": "AC" + secrets.token_hex(16),
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "TWILIO_FROM_NUMBER": "+15005550006",
        "TWILIO_API_URL": peers,
        "PUBLIC_URL": public_url,
        "HOTLINE_TELEGRAM_CHAT_ID": f"-100{secrets.randbelow(10**10):010d}",
        "HOTLINE_STAFF_TELEGRAM_IDS": str(9_000_000 + secrets.randbelow(1_000_000)),
        "RELAY_METRICS_PORT": str(redis_server.free_port()),
    }
    argv = [str(BOT_VENV / "bin/python"), "-m", "dev.fakes", "--port", str(peers_port)]
    return Child("peers", argv, credentials), credentials


def write_local_env(values: Dict[str, str]) -> None:
    """``var/local.env``: where ``python -m dev.chat`` finds the local credentials."""
    local_env = ROOT / chat.LOCAL_ENV
    local_env.parent.mkdir(exist_ok=True)
    local_env.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    local_env.chmod(0o600)


def plan(env: Dict[str, str], stack: Supervisor) -> tuple[List[Child], bool]:
    """The processes to start, and whether the peers are local."""
    port = int(env.get("GATEWAY_PORT", "8080"))
    rasa_port = int(env.get("RASA_PORT", "5005"))
    action_port = int(env.get("ACTION_PORT", "5055"))
    children: List[Child] = []
    gateway_env: Dict[str, str] = {
        "RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}",  # for /readyz
    }
    redis_url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if not redis_server.answers(redis_url):
        redis_port = redis_server.free_port()
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        stack.say(
            f"no Redis answers at {env.get('REDIS_URL', 'the default URL')}: "
            f"starting one on port {redis_port} (nothing kept on disk)"
        )
        children.append(Child("redis", redis_server.argv(redis_port)))
    gateway_env["REDIS_URL"] = redis_url
    local = not env.get("TELEGRAM_BOT_TOKEN") and not env.get("TWILIO_ACCOUNT_SID")
    if local:
        peers, credentials = local_credentials(f"http://127.0.0.1:{port}", redis_server.free_port())
        gateway_env.update(credentials)
        children.append(peers)
        write_local_env({**credentials, "GATEWAY_URL": f"http://127.0.0.1:{port}"})
    reports = {  # the action server stores reports where the relay and gateway find them
        "ESCALATION_BACKEND": "redis",
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": env.get("REDIS_PREFIX", "rahnuma"),
        "RAHNUMA_DATA_KEY": env.get("RAHNUMA_DATA_KEY", ""),
    }
    children += [
        Child(
            "actions",
            [str(RASA_VENV / "bin/python"), "-m", "actions.server", "--port", str(action_port)],
            reports,
        ),
        Child(
            "rasa",
            [
                str(RASA_VENV / "bin/rasa"),
                "run",
                "--model",
                MODEL,
                "--endpoints",
                env.get("RASA_ENDPOINTS", "endpoints.yml"),
                "--credentials",
                "credentials.yml",
                "--interface",
                "127.0.0.1",
                "--port",
                str(rasa_port),
            ],
        ),
        Child("gateway", [str(BOT_VENV / "bin/python"), "-m", "bot"], gateway_env),
    ]
    if local or any(env.get(name) for name in HOTLINE_DESTINATIONS):
        children.append(
            Child("relay", [str(BOT_VENV / "bin/python"), "-m", "bot.hotline"], gateway_env)
        )
    else:
        stack.say(
            "no hotline destination configured (HOTLINE_TELEGRAM_CHAT_ID, "
            "HOTLINE_SMS_NUMBERS, HOTLINE_WEBHOOK_URL): reports are stored, not relayed"
        )
    return children, local


def wait_ready(stack: Supervisor, url: str) -> bool:
    """Polls the gateway's /readyz until Redis and Rasa answer (Rasa loads its model first)."""
    started = time.monotonic()
    last_note = started
    while time.monotonic() - started < READY_TIMEOUT:
        if stack.dead() is not None:
            return False
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() - last_note > 15:
            stack.say(f"waiting for Rasa to load the model ({int(time.monotonic() - started)} s)")
            last_note = time.monotonic()
        time.sleep(0.5)
    return False


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the stack until Ctrl-C; with --chat, opens the chat once it is ready."""
    parser = argparse.ArgumentParser(description="Run the whole Rahnuma stack in the foreground.")
    parser.add_argument(
        "--chat", action="store_true", help="open the chat when ready (logs go to --log)"
    )
    parser.add_argument("--log", type=Path, default=Path("var/log/stack.log"))
    parser.add_argument(
        "--profile",
        choices=("embedded", "production"),
        default="embedded",
        help="production: docker-compose.yml's services as local processes (dev/topology.py)",
    )
    args = parser.parse_args(argv)
    env = {**dotenv(ROOT / ".env"), **os.environ}
    if not (ROOT / MODEL).exists():
        print(f"error: no trained model at {MODEL}; run `make train` first", file=sys.stderr)
        return 2
    sink: IO[str] = sys.stdout
    if args.chat:
        (ROOT / args.log).parent.mkdir(parents=True, exist_ok=True)
        sink = (ROOT / args.log).open("a", encoding="utf-8")
    stack = Supervisor(sink)
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)  # the terminal closed
    url = f"http://127.0.0.1:{env.get('GATEWAY_PORT', '8080')}"
    production = None
    try:
        if args.profile == "production":
            production, local = _start_production(env, stack), True
        else:
            children, local = plan(env, stack)
            for child in children:
                stack.start(child)
        if args.chat:
            print(
                f"==> Starting Rasa, the action server and the gateway (log: {args.log}); "
                "loading the model takes about a minute"
            )
        if not wait_ready(stack, url):
            failed = stack.dead()
            name = failed.name if failed else "the stack"
            print(
                f"error: {name} did not start; see the log above"
                + (f" ({args.log})" if args.chat else ""),
                file=sys.stderr,
            )
            return 1
        sms = "via local peers" if local else "live" if env.get("TWILIO_ACCOUNT_SID") else "off"
        bot = "via local peers" if local else "live" if env.get("TELEGRAM_BOT_TOKEN") else "off"
        print(f"==> Ready: gateway on {url} (Telegram {bot}, SMS {sms})", flush=True)
        if args.chat:
            if not local:
                print("Real credentials are set: talk to the bot in Telegram (Ctrl-C stops).")
                return _watch(stack)
            return chat.main([])
        if local:
            stack.say("try both channels without credentials: make chat (another terminal)")
        return _watch(stack)
    except KeyboardInterrupt:
        return 0
    except ProductionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        stack.stop()
        if production is not None:
            production.stop()


class ProductionError(Exception):
    """The production profile cannot start (missing keys, no Redis at REDIS_URL)."""


def _start_production(env: Dict[str, str], stack: Supervisor) -> Topology:
    """docker-compose.yml's services as local processes, on the keys in .env; Redis at
    REDIS_URL when set, else our own (password, AOF) kept in var/production/redis."""
    from dev import topology  # it imports this module

    names = ("RAHNUMA_PSEUDONYM_KEY", "RAHNUMA_DATA_KEY", "REDIS_PASSWORD")
    keys = {name: env.get(name, "") for name in names}
    missing = [name for name, value in keys.items() if not value]
    if missing:
        raise ProductionError(f"{', '.join(missing)} not in .env: run `make secrets`")
    redis_url = env.get("REDIS_URL")
    if redis_url and not redis_server.answers(redis_url):
        raise ProductionError("no Redis answers at REDIS_URL (unset it to start one here)")
    directory = ROOT / "var/production/redis"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        running = topology.start(
            stack,
            keys,
            redis_url=redis_url,
            redis_dir=directory,
            gateway_port=int(env.get("GATEWAY_PORT", "8080")),
        )
    except (topology.TopologyError, redis_server.RedisServerError) as error:
        raise ProductionError(str(error)) from error
    write_local_env(running.peers_env)
    return running


def interrupt(signum: int, frame: object) -> None:
    """A signal handler: stop as Ctrl-C does (the ``finally`` blocks stop every child)."""
    raise KeyboardInterrupt


def _watch(stack: Supervisor) -> int:
    while True:
        dead = stack.dead()
        if dead is not None:
            assert dead.process is not None
            stack.say(f"{dead.name} exited with status {dead.process.returncode}; stopping all")
            return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
