"""Throw-away redis-server processes: started, killed, restarted, and lent to a command.

Real ``redis-server`` processes on free local ports; ``run_with_redis`` runs a real
child Python that reports what it was given.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import redis

from dev.redis_server import RedisServer, RedisServerError, answers, free_port, main, run_with_redis
from tests.conftest import REDIS_URL

PASSWORD = "a-password-for-the-fault-tests"

# The command lent a Redis: writes the URL it was given to argv[1], exits 3 if it answers.
REPORT_URL = """
import os, sys
import redis
url = os.environ["RAHNUMA_TEST_REDIS_URL"]
with open(sys.argv[1], "w") as out:
    out.write(url)
client = redis.Redis.from_url(url)
answered = client.ping()
client.close()
sys.exit(3 if answered else 4)
"""


def nowhere() -> str:
    """A Redis URL nobody answers at."""
    return f"redis://127.0.0.1:{free_port()}/0"


def test_a_server_with_a_password_answers_only_to_it() -> None:
    with RedisServer(password=PASSWORD) as server:
        assert PASSWORD in server.url
        client = redis.Redis.from_url(server.url)
        try:
            client.set("greeting", "salaam")
            assert client.get("greeting") == b"salaam"
        finally:
            client.close()
        assert not answers(f"redis://127.0.0.1:{server.port}/0")  # no password: refused
        process, directory = server.process, server.directory
    assert process is not None and process.poll() is not None  # stopped
    assert not directory.exists()  # its own directory is removed
    assert not answers(server.url)


def test_what_was_written_survives_a_kill_and_restart(tmp_path: Path) -> None:
    with RedisServer(tmp_path, password=PASSWORD, append_only=True) as server:
        client = redis.Redis.from_url(server.url)
        try:
            for n in range(50):
                client.rpush("reports", f"report {n}")
        finally:
            client.close()
        server.kill()  # SIGKILL: no shutdown, no last write
        assert not answers(server.url, timeout=0.5)

        server.start()
        client = redis.Redis.from_url(server.url)
        try:
            assert client.lrange("reports", 0, -1) == [f"report {n}".encode() for n in range(50)]
        finally:
            client.close()
    assert (tmp_path / "redis.log").exists()  # a directory we were given is left in place


def test_a_command_gets_the_redis_that_answers_and_its_exit_code_is_returned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    told = tmp_path / "url"
    assert run_with_redis([sys.executable, "-c", REPORT_URL, str(told)]) == 3
    assert told.read_text() == REDIS_URL


def test_without_a_redis_a_throw_away_one_is_lent_and_stopped_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = nowhere()
    monkeypatch.setenv("REDIS_URL", absent)
    told = tmp_path / "url"
    assert run_with_redis([sys.executable, "-c", REPORT_URL, str(told)]) == 3  # it answered
    lent = told.read_text()
    assert lent not in (absent, REDIS_URL)
    assert not answers(lent, timeout=0.5)  # stopped once the command ended
    assert "No Redis at" in capsys.readouterr().err


def test_a_missing_redis_server_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RedisServerError, match="redis-server is not installed"):
        RedisServer()

    monkeypatch.setenv("REDIS_URL", nowhere())
    told = tmp_path / "url"
    assert main(["--", sys.executable, "-c", REPORT_URL, str(told)]) == 1
    assert "redis-server is not installed" in capsys.readouterr().err
    assert not told.exists()  # the command never ran


def test_main_without_a_command_prints_its_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--"]) == 2
    assert "usage:" in capsys.readouterr().err
