"""The contract's rule: ``contract/`` imports the standard library, redis and cryptography only.

Both environments copy ``contract/`` whole and nothing else of the project, so
one import of ``bot``, ``actions``, PyYAML or Rasa here breaks the other
image at start-up. The rule is read from the source (every import, wherever
it stands) and proved by importing every module in the running environment:
CI runs this file in the Rasa environment and in the gateway's.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import List

import pytest

import contract
from tests.conftest import ROOT

CONTRACT = ROOT / "contract"
ALLOWED = frozenset({"__future__", "redis", "cryptography", "contract"})
SOURCES = sorted(CONTRACT.glob("*.py"))
MODULES = sorted(info.name for info in pkgutil.iter_modules(contract.__path__))


def violations(source: str, filename: str) -> List[str]:
    """'file:line: module' for every import in ``source`` the rule does not allow."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside contract itself
                continue
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in ALLOWED and top not in sys.stdlib_module_names:
                found.append(f"{filename}:{node.lineno}: imports {name}")
    return found


def test_the_contract_has_modules_to_check() -> None:
    assert {path.stem for path in SOURCES} >= {"__init__", "keys", "reports", "sealing"}
    assert sorted(path.stem for path in SOURCES if path.stem != "__init__") == MODULES


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: path.name)
def test_a_contract_module_imports_only_what_both_environments_have(path: Path) -> None:
    relative = str(path.relative_to(ROOT))
    assert violations(path.read_text(encoding="utf-8"), relative) == []


def test_the_rule_names_file_line_and_module_of_a_forbidden_import() -> None:
    source = textwrap.dedent(
        """\
        from __future__ import annotations
        import json, os.path
        from redis.asyncio import Redis
        from cryptography.fernet import Fernet
        from contract.keys import Keys
        from . import bidi
        import yaml
        def later():
            from bot.settings import Settings
            import rasa_sdk.events
        """
    )
    assert violations(source, "contract/example.py") == [
        "contract/example.py:7: imports yaml",
        "contract/example.py:9: imports bot.settings",
        "contract/example.py:10: imports rasa_sdk.events",
    ]


@pytest.mark.parametrize("name", MODULES)
def test_every_contract_module_imports_in_this_environment(name: str) -> None:
    module = importlib.import_module(f"contract.{name}")
    assert module.__name__ == f"contract.{name}"
    assert Path(module.__file__ or "").resolve().parent == CONTRACT


def test_importing_the_contract_loads_nothing_else_of_the_project() -> None:
    """In a fresh interpreter, so that what other tests imported cannot hide an import."""
    packages = {path.name for path in ROOT.iterdir() if (path / "__init__.py").is_file()}
    project = packages - {"contract"}
    outside = ["rasa", "rasa_sdk", "telegram", "twilio", "yaml"]
    program = textwrap.dedent(
        f"""\
        import importlib, json, sys
        for name in {MODULES!r}:
            importlib.import_module("contract." + name)
        print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})))
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", program],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert "contract" in loaded
    assert loaded & (project | set(outside)) == set()
