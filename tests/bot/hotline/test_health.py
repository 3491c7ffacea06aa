"""The relay container's health check (``python -m bot.hotline.health``) reads the relay's own
metrics: healthy only while the work loop finishes rounds."""

from __future__ import annotations

import time

import pytest
from prometheus_client import start_http_server

from bot.hotline import health
from bot.hotline.relay import RelayMetrics
from dev.redis_server import free_port
from tests.bot.conftest import environment


def test_healthy_only_while_the_loop_beats(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics, port = RelayMetrics(), free_port()
    server, thread = start_http_server(port, "127.0.0.1", registry=metrics.registry)
    try:
        for name, value in environment(
            RELAY_METRICS_PORT=str(port), PUBLIC_URL="https://rahnuma.example.org"
        ).items():
            monkeypatch.setenv(name, value)
        assert health.main() == 1  # no round yet
        metrics.heartbeat.set(time.time() - 5)
        assert health.main() == 0
        metrics.heartbeat.set(time.time() - 61)  # RELAY_STALE_SECONDS is 60
        assert health.main() == 1
        monkeypatch.setenv("RELAY_METRICS_PORT", str(free_port()))  # nothing listens
        assert health.main() == 1
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
