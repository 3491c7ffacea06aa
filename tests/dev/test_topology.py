"""The production topology reads docker-compose.yml as compose would (``dev/topology.py``)."""

from __future__ import annotations

import pytest
import yaml

from dev.topology import (
    COMPOSE,
    TopologyError,
    fresh_secrets,
    image_command,
    interpolate,
    localize,
)

COMPOSE_FILE = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_variables_are_filled_as_compose_fills_them() -> None:
    values = {"A": "1", "EMPTY": ""}
    assert interpolate("x${A}y", values) == "x1y"
    assert interpolate("${MISSING:-5}", values) == "5"
    assert interpolate("${EMPTY:-5}", values) == "5"
    assert interpolate("${A:?run make secrets}", values) == "1"
    with pytest.raises(TopologyError, match="run make secrets"):
        interpolate("${MISSING:?run make secrets}", values)


def test_service_addresses_become_local_ports() -> None:
    places = {"redis": ("127.0.0.1", 6400), "actions": ("127.0.0.1", 5100)}
    local = localize(
        {
            "REDIS_URL": "redis://:pw@redis:6379/0",
            "REDIS_HOST": "redis",
            "REDIS_PORT": "6379",
            "ACTION_SERVER_URL": "http://actions:5055",
            "ACTION_HOST": "0.0.0.0",
            "OTHER": "elsewhere:80",
        },
        places,
    )
    assert local == {
        "REDIS_URL": "redis://:pw@127.0.0.1:6400/0",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": "6400",
        "ACTION_SERVER_URL": "http://127.0.0.1:5100",
        "ACTION_HOST": "127.0.0.1",
        "OTHER": "elsewhere:80",
    }


def test_each_service_runs_its_compose_command_or_its_image_cmd() -> None:
    assert image_command("actions", COMPOSE_FILE)[:3] == ["python", "-m", "actions.server"]
    assert image_command("relay", COMPOSE_FILE) == ["python", "-m", "bot.hotline"]
    assert image_command("gateway", COMPOSE_FILE) == ["python", "-m", "bot"]  # the gateway stage
    rasa = image_command("rasa", COMPOSE_FILE)  # the last stage's CMD
    assert rasa[:2] == ["rasa", "run"] and "endpoints.redis.yml" in rasa


def test_every_secret_the_compose_file_needs_is_made_for_a_throw_away_run() -> None:
    keys = fresh_secrets()
    for spec in COMPOSE_FILE["services"].values():
        for value in (spec.get("environment") or {}).values():
            interpolate(str(value), keys)  # raises on a ${X:?...} with no value
