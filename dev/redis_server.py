"""Throw-away ``redis-server`` processes for development, tests and benchmarks: the one helper.

``make serve`` starts one when no Redis answers, ``scripts/with-redis`` (the
unit and gateway tests) when none answers at ``REDIS_URL``, and the fault
tests start their own with a password and an append-only file fsynced on
every write, to kill it and read back what survived.

    python -m dev.redis_server -- COMMAND...   run COMMAND with RAHNUMA_TEST_REDIS_URL set:
                                               the Redis at $REDIS_URL when it answers,
                                               otherwise a throw-away one, stopped afterwards

Never used by a deployment: production Redis is a managed service or the
compose/Kubernetes ``redis`` service, configured by the deployer.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, List, Optional, Sequence

import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT = 10.0


class RedisServerError(Exception):
    """redis-server is missing, or did not start."""


def free_port() -> int:
    """A local port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def argv(
    port: int,
    directory: Optional[Path] = None,
    *,
    password: Optional[str] = None,
    append_only: bool = False,
) -> List[str]:
    """The redis-server command line: local only; AOF fsynced on every write when asked."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    if directory is not None:
        command += ["--dir", str(directory)]
    if append_only:
        command += ["--appendonly", "yes", "--appendfsync", "always"]
    else:
        command += ["--appendonly", "no"]
    if password is not None:
        command += ["--requirepass", password]
    return command


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when a Redis server answers PING at ``url``."""
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=timeout).ping())
    except (redis.RedisError, OSError):
        return False


class RedisServer:
    """One redis-server of our own, in its own directory, started and stopped by us."""

    def __init__(
        self,
        directory: Optional[Path] = None,
        *,
        password: Optional[str] = None,
        append_only: bool = False,
    ) -> None:
        if shutil.which("redis-server") is None:
            raise RedisServerError("redis-server is not installed (apt install redis-server)")
        self._own_directory = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="rahnuma-redis-"))
        self.port = free_port()
        self.password = password
        self.append_only = append_only
        auth = f":{password}@" if password else ""
        self.url = f"redis://{auth}127.0.0.1:{self.port}/0"
        self.process: Optional[subprocess.Popen[bytes]] = None
        self._log: Optional[IO[bytes]] = None

    @property
    def log(self) -> Path:
        """Where the server writes its log."""
        return self.directory / "redis.log"

    def start(self) -> RedisServer:
        """Starts the server (again, after ``kill``) and waits until it answers."""
        if self._log is not None:
            self._log.close()
        self._log = self.log.open("ab")
        self.process = subprocess.Popen(
            argv(self.port, self.directory, password=self.password, append_only=self.append_only),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log.read_text()[-2000:]
                self.stop()
                raise RedisServerError(f"redis-server exited: {log}")
            if answers(self.url, timeout=0.5):  # not listening yet, or still loading the AOF
                return self
            time.sleep(0.05)
        self.stop()  # nothing is left behind when it never answered
        raise RedisServerError(f"redis-server did not answer in {START_TIMEOUT:.0f} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last write (what a crash looks like)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """Stops the server and removes a directory it made."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        kind: Optional[type[BaseException]],
        error: Optional[BaseException],
        trace: Optional[TracebackType],
    ) -> None:
        self.stop()


def run_with_redis(command: Sequence[str]) -> int:
    """Runs ``command`` with RAHNUMA_TEST_REDIS_URL pointing at a Redis that answers."""
    url = os.environ.get("REDIS_URL", DEFAULT_URL)
    if answers(url):
        return subprocess.call(list(command), env={**os.environ, "RAHNUMA_TEST_REDIS_URL": url})
    with RedisServer() as server:
        print(
            f"==> No Redis at {url}: started one on 127.0.0.1:{server.port} for this run",
            file=sys.stderr,
        )
        env = {**os.environ, "RAHNUMA_TEST_REDIS_URL": server.url}
        return subprocess.call(list(command), env=env)


def main(args: Optional[Sequence[str]] = None) -> int:
    """``python -m dev.redis_server -- COMMAND...``."""
    command = list(sys.argv[1:] if args is None else args)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print("usage: python -m dev.redis_server -- COMMAND...", file=sys.stderr)
        return 2
    try:
        return run_with_redis(command)
    except RedisServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
