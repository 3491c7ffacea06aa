"""The production topology on one machine: what ``docker-compose.yml`` runs, as local processes.

``docker-compose.yml`` is read, not copied: every service's environment (with ``${...}``
filled in from the secrets), its replica count and its command (or its image's ``CMD`` from
the ``Dockerfile``) become local processes, with the compose host names rewritten to local
ports. So the processes get exactly the variables the containers get, and a change to the
compose file is what the production tests run:

- Redis with a password and an append-only file fsynced on every write (``dev/redis_server.py``),
  or the Redis at ``REDIS_URL`` when ``make serve PROFILE=production`` is given one;
- the action server; **two** Rasa processes on ``endpoints.redis.yml`` (Redis tracker and lock
  stores); **two** gateways; the hotline relays; each its own process;
- ``dev/balancer.py`` in place of nginx (in front of the gateways) and of Docker's DNS (in
  front of the Rasa replicas); the local Telegram/Twilio peers (``dev/fakes.py``).

Used by the production tests (``tests/production``, ``make test-production``) and by
``make serve PROFILE=production``. Never part of a deployment.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

import yaml
from cryptography.fernet import Fernet

from dev import redis_server
from dev.serve import (
    BOT_VENV,
    RASA_VENV,
    ROOT,
    Child,
    Supervisor,
    local_credentials,
    wait_ready,
)
from tools.dockerfile import FINAL, parse

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PROCESSES = ("actions", "rasa", "gateway", "relay")  # in start order; redis and proxy: see above
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([?-])([^}]*))?\}")
ADDRESS = re.compile(r"\b([a-z][a-z0-9-]*):(\d+)\b")
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (what compose binds; rewritten to the loopback)


class TopologyError(Exception):
    """The compose file cannot be run here (a missing variable, an unknown service)."""


def fresh_secrets() -> Dict[str, str]:
    """New keys for a throw-away deployment (what ``make secrets`` writes to .env)."""
    return {
        "RAHNUMA_PSEUDONYM_KEY": secrets.token_urlsafe(48),
        "RAHNUMA_DATA_KEY": Fernet.generate_key().decode(),
        "REDIS_PASSWORD": secrets.token_hex(32),
    }


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}``."""

    def fill(match: re.Match[str]) -> str:
        name, kind, rest = match.group(1), match.group(2), match.group(3)
        found = variables.get(name, "")
        if found:
            return found
        if kind == "?":
            raise TopologyError(f"{name} is not set: {rest}")
        return rest if kind == "-" else ""

    return VARIABLE.sub(fill, value)


def image_command(service: str, compose: Mapping[str, Any]) -> List[str]:
    """The command a service runs: its ``command``, else its image's ``CMD``."""
    spec = compose["services"][service]
    if "command" in spec:
        return [str(word) for word in spec["command"]]
    target = _build_target(spec.get("image"), compose)
    stage = parse(DOCKERFILE.read_text(encoding="utf-8")).stage(target or FINAL)
    assert stage is not None, f"no Dockerfile stage {target}"
    cmd = [i.args for i in stage.instructions if i.keyword == "CMD"]
    if not cmd:
        raise TopologyError(f"{service}: no command and no CMD in its Dockerfile stage")
    return [str(word) for word in json.loads(cmd[-1])]


def _build_target(image: Optional[str], compose: Mapping[str, Any]) -> Optional[str]:
    for spec in compose["services"].values():
        if spec.get("image") == image and isinstance(spec.get("build"), dict):
            target = spec["build"].get("target")
            return str(target) if target else None
    return None


def localize(
    environment: Mapping[str, str], places: Mapping[str, Tuple[str, int]]
) -> Dict[str, str]:
    """Compose host names and ports (``redis:6379``, ``REDIS_HOST: redis`` with ``REDIS_PORT``)
    rewritten to where each service listens here; ``0.0.0.0`` becomes the loopback."""

    def address(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in places:
            return match.group(0)
        host, port = places[name]
        return f"{host}:{port}"

    local: Dict[str, str] = {}
    for key, value in environment.items():
        local[key] = "127.0.0.1" if value == ALL_INTERFACES else ADDRESS.sub(address, value)
    for key, value in environment.items():
        if key.endswith("_HOST") and value in places:
            host, port = places[value]
            local[key] = host
            port_key = key[: -len("_HOST")] + "_PORT"
            if port_key in environment:
                local[port_key] = str(port)
    return local


def _with_port(command: List[str], port: int) -> List[str]:
    """``command`` with its ``--port`` value replaced (or added)."""
    if "--port" in command:
        index = command.index("--port")
        return [*command[: index + 1], str(port), *command[index + 2 :]]
    return [*command, "--port", str(port)]


def _executable(command: List[str], image: str) -> List[str]:
    venv = RASA_VENV if image == "rahnuma-rasa" else BOT_VENV
    return [str(venv / "bin" / command[0]), *command[1:]]


@dataclass
class Topology:
    """The running processes and where to reach them."""

    stack: Supervisor
    redis: Optional[redis_server.RedisServer]
    redis_url: str
    gateway_url: str  # the balancer in front of the gateways
    peers_env: Dict[str, str]  # what dev.chat's Phone needs (credentials, PUBLIC_URL)
    keys: Dict[str, str]  # the deployment's secrets
    services: Dict[str, List[Child]] = field(default_factory=dict)

    def child(self, service: str, index: int = 0) -> Child:
        """Replica ``index`` of ``service``."""
        return self.services[service][index]

    @property
    def gateway_urls(self) -> List[str]:
        """Each gateway's own address (behind the balancer)."""
        return [f"http://127.0.0.1:{_port_of(child)}" for child in self.services["gateway"]]

    def wait_ready(self) -> None:
        """Until every gateway's /readyz says its Redis, Rasa, action server and relay answer."""
        for url in self.gateway_urls:
            if not wait_ready(self.stack, url):
                dead = self.stack.dead()
                raise TopologyError(f"{dead.name if dead else 'the topology'} did not start")

    def stop(self) -> None:
        """Stops every process, then Redis if it is ours."""
        self.stack.stop()
        if self.redis is not None:
            self.redis.stop()


def start(
    stack: Supervisor,
    keys: Mapping[str, str],
    *,
    redis_url: Optional[str] = None,
    redis_dir: Optional[Path] = None,
    gateway_port: Optional[int] = None,
    overrides: Optional[Mapping[str, str]] = None,
) -> Topology:
    """Starts the compose file's services as local processes (``wait_ready`` before use).

    ``keys``: RAHNUMA_PSEUDONYM_KEY, RAHNUMA_DATA_KEY and REDIS_PASSWORD. ``redis_url``: a
    Redis to use instead of starting one (passworded, AOF) in ``redis_dir``. ``overrides``:
    variables set in every service on top of the compose file's (tests shorten timings).
    """
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    server: Optional[redis_server.RedisServer] = None
    if redis_url is None:
        server = redis_server.RedisServer(
            redis_dir, password=keys["REDIS_PASSWORD"], append_only=True
        ).start()
        redis_url = server.url
        stack.say(f"Redis with a password and appendfsync always on port {server.port}")
    parts = urlsplit(redis_url)
    variables = {**keys, "REDIS_PASSWORD": parts.password or keys["REDIS_PASSWORD"]}
    front = gateway_port or redis_server.free_port()
    places: Dict[str, Tuple[str, int]] = {
        "redis": (parts.hostname or "127.0.0.1", parts.port or 6379),
        "actions": ("127.0.0.1", redis_server.free_port()),
        "rasa": ("127.0.0.1", redis_server.free_port()),
        "gateway": ("127.0.0.1", front),
    }
    peers_port = redis_server.free_port()
    peers, credentials = local_credentials(f"http://127.0.0.1:{front}", peers_port)
    dotenv = {**keys, **credentials}  # what the env_file services read from .env
    topology = Topology(
        stack=stack,
        redis=server,
        redis_url=redis_url,
        gateway_url=f"http://127.0.0.1:{front}",
        peers_env={**credentials, "GATEWAY_URL": f"http://127.0.0.1:{front}"},
        keys=dict(variables),
    )
    stack.start(peers)
    for service in PROCESSES:
        spec = compose["services"][service]
        base = {k: interpolate(str(v), variables) for k, v in spec["environment"].items()}
        if spec.get("env_file"):
            base = {**dotenv, **base}
        env = {**localize(base, places), **(overrides or {})}
        command = _executable(image_command(service, compose), spec["image"])
        replicas = int((spec.get("deploy") or {}).get("replicas", 1))
        children = []
        for index in range(replicas):
            name = f"{service}{index + 1}" if replicas > 1 else service
            child = _replica(name, service, command, env, places, replicas)
            stack.start(child)
            children.append(child)
        topology.services[service] = children
        if replicas > 1 and service in ("rasa", "gateway"):
            backends = [f"http://127.0.0.1:{_port_of(c)}" for c in children]
            balancer = [str(BOT_VENV / "bin/python"), "-m", "dev.balancer"]
            balancer += ["--port", str(places[service][1])]
            for backend in backends:
                balancer += ["--to", backend]
            stack.start(Child(f"lb-{service}", balancer))
    return topology


def _replica(
    name: str,
    service: str,
    command: List[str],
    env: Dict[str, str],
    places: Mapping[str, Tuple[str, int]],
    replicas: int,
) -> Child:
    """One copy of ``service``: its own port when several listen, the address it serves."""
    env = dict(env)
    port = places[service][1] if service in places and replicas == 1 else redis_server.free_port()
    if service == "rasa":
        command = [*_with_port(command, port), "--interface", "127.0.0.1"]
    elif service == "actions":
        command = _with_port(command, port)
    elif service == "gateway":
        env.update(GATEWAY_HOST="127.0.0.1", GATEWAY_PORT=str(port))
    elif service == "relay":
        env["RELAY_METRICS_PORT"] = str(port)
    return Child(name, command, env)


def _port_of(child: Child) -> int:
    if "GATEWAY_PORT" in child.env:
        return int(child.env["GATEWAY_PORT"])
    return int(child.argv[child.argv.index("--port") + 1])
