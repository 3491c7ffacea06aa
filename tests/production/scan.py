"""Reads every key of every Redis database the way an attacker with a copy of it would.

Each value (string, hash field, list / set / sorted-set member, stream field) is classed:
``sealed`` when the whole value opens with the deployment's data key, ``partly sealed`` when
it is a structure (JSON) whose personal fields are sealed tokens, ``clear`` otherwise. The
summary groups keys by their name with the variable parts (pseudonyms, ids) replaced by
``*``; ``find`` looks for words in what is stored in clear and, with the key, in what the
sealed tokens hold.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Set, Tuple
from urllib.parse import urlsplit

import redis

from contract.sealing import InvalidToken, Sealer

TOKEN = re.compile(rb"gAAAAA[A-Za-z0-9_=-]{40,}")
WORD = re.compile(r"[a-z_]+")


@dataclass(frozen=True)
class Value:
    db: int
    key: str
    field: str  # the hash or stream field ("" for other types)
    raw: bytes
    opened: str  # what the sealed tokens in it hold ("" when none)
    kind: str  # sealed / partly sealed / clear


def values(url: str, sealer: Sealer, databases: Tuple[int, ...] = (0, 1)) -> Iterator[Value]:
    """Every stored value in ``databases`` of the Redis at ``url``."""
    for db in databases:
        client = redis.Redis.from_url(urlsplit(url)._replace(path=f"/{db}").geturl())
        try:
            for name in client.scan_iter(count=500):
                key = name.decode("utf-8", errors="replace")
                for field, raw in _raw_values(client, name):
                    yield _classify(db, key, field.decode("utf-8", errors="replace"), raw, sealer)
        finally:
            client.close()


def _raw_values(client: Any, name: bytes) -> List[Tuple[bytes, bytes]]:
    """Every value under ``name`` with its field name (the client is untyped: redis-py's
    types allow str too)."""
    kind = client.type(name)
    if kind == b"string":
        return [(b"", client.get(name) or b"")]
    if kind == b"hash":
        return list(client.hgetall(name).items())
    if kind == b"list":
        return [(b"", value) for value in client.lrange(name, 0, -1)]
    if kind == b"set":
        return [(b"", value) for value in client.smembers(name)]
    if kind == b"zset":
        return [(b"", value) for value in client.zrange(name, 0, -1)]
    if kind == b"stream":
        return [pair for _, fields in client.xrange(name) for pair in fields.items()]
    return []


def _classify(db: int, key: str, field: str, raw: bytes, sealer: Sealer) -> Value:
    try:
        return Value(db, key, field, raw, sealer.open(raw.strip()), "sealed")
    except (InvalidToken, ValueError, TypeError):
        pass
    opened = []
    for token in TOKEN.findall(raw):
        try:
            opened.append(sealer.open(token))
        except InvalidToken:
            continue
    kind = "partly sealed" if opened else "clear"
    return Value(db, key, field, raw, "\n".join(opened), kind)


def family(key: str) -> str:
    """``rahnuma:tracker:3f9a...`` -> ``rahnuma:tracker:*``."""
    parts = key.split(":")
    kept = []
    for part in parts:
        if not WORD.fullmatch(part):
            kept.append("*")
            break
        kept.append(part)
    return ":".join(kept)


def summary(url: str, sealer: Sealer) -> Dict[str, Dict[str, Any]]:
    """Per key family (db-prefixed): keys, and how its values are kept (hash and stream
    values by field name: ``{"sealed": ["body"], "clear": ["status", ...]}``)."""
    keys: Dict[str, Set[str]] = defaultdict(set)
    kinds: Dict[str, Dict[str, Set[str]]] = defaultdict(lambda: defaultdict(set))
    for value in values(url, sealer):
        name = f"db{value.db} {family(value.key)}"
        keys[name].add(value.key)
        kinds[name][value.kind].add(value.field or "value")
    return {
        name: {"keys": len(keys[name]), **{k: sorted(v) for k, v in sorted(kinds[name].items())}}
        for name in sorted(keys)
    }


def find(url: str, sealer: Sealer, words: List[str], *, opened: bool) -> List[str]:
    """The keys holding any of ``words`` in clear (and in sealed tokens, with ``opened``)."""
    needles = [word.lower() for word in words]
    found = []
    for value in values(url, sealer):
        text = value.raw.decode("utf-8", errors="replace").lower()
        if opened:
            text += "\n" + value.opened.lower()
        if any(needle in text for needle in needles):
            found.append(f"db{value.db} {value.key}")
    return sorted(set(found))
