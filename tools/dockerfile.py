"""Reading a Dockerfile and a .dockerignore the way ``docker build`` does, for the image check.

Stages (``FROM ... AS name``; a stage ``FROM`` an earlier one inherits it), ``WORKDIR``,
``ENV``/``ARG`` (for ``$VAR`` in paths), ``COPY``/``ADD`` with several sources, ``--from``,
the JSON-array form, line continuations and comments; ``.dockerignore`` rules (directories,
globs, ``**``, ``!`` negation). Unsupported syntax is a clear ``DockerfileError``, never a guess.
Standard library only (``tools/image_check.py`` runs in either environment).
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# The final stage of the Dockerfile, what `docker build .` builds without --target.
FINAL = ":final"


class DockerfileError(Exception):
    """The Dockerfile cannot be parsed, or names a stage that does not exist."""


# --- parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str
    line: int  # where it starts (1-based)


@dataclass
class Stage:
    index: int
    name: str | None  # lower case, as Docker compares them
    base: str  # the image or stage after FROM
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name if self.name is not None else f"#{self.index} (unnamed)"


@dataclass
class Dockerfile:
    path: str  # for messages
    stages: list[Stage]
    args: dict[str, str]  # ARGs before the first FROM

    def stage(self, ref: str, before: int | None = None) -> Stage | None:
        """The stage named ``ref`` (a name, an index, or FINAL), defined before ``before``."""
        stages = self.stages if before is None else self.stages[:before]
        if ref == FINAL:
            return stages[-1] if stages else None
        if ref.isdigit():
            index = int(ref)
            return stages[index] if index < len(stages) else None
        return next((s for s in stages if s.name == ref.lower()), None)


HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
DIRECTIVE = re.compile(r"#\s*([A-Za-z]+)\s*=\s*(.*?)\s*$")


def logical_lines(text: str) -> Iterator[Instruction]:
    """Instructions with continuations joined and comments dropped (and heredoc bodies kept)."""
    lines = text.splitlines()
    escape = "\\"
    start = 0
    while start < len(lines) and (directive := DIRECTIVE.match(lines[start])):
        if directive.group(1).lower() == "escape" and directive.group(2) in ("\\", "`"):
            escape = directive.group(2)
        start += 1

    def blank_or_comment(line: str) -> bool:
        return not line.strip() or line.lstrip().startswith("#")

    i = start
    while i < len(lines):
        if blank_or_comment(lines[i]):
            i += 1
            continue
        first = i + 1
        parts: list[str] = []
        line = lines[i]
        while True:
            stripped = line.rstrip()
            i += 1
            if stripped.endswith(escape):
                parts.append(stripped[: -len(escape)])
                while i < len(lines) and blank_or_comment(lines[i]):
                    i += 1
                if i >= len(lines):
                    break
                line = lines[i]
            else:
                parts.append(line)
                break
        joined = "".join(parts).strip()
        keyword, _, args = joined.partition(" ")
        args = args.strip()
        keyword = keyword.upper()
        markers = HEREDOC.finditer(args) if keyword in ("RUN", "COPY", "ADD") else iter(())
        for marker in markers:
            body: list[str] = []
            while i < len(lines):
                body_line = lines[i]
                i += 1
                end = body_line.lstrip("\t") if marker.group(1) else body_line
                if end.rstrip() == marker.group(3):
                    break
                body.append(body_line)
            args += "\n" + "\n".join(body)
        yield Instruction(keyword, args, first)


VARIABLE = re.compile(
    r"\\(\$)|\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


def expand(text: str, variables: dict[str, str]) -> str:
    """``$VAR``, ``${VAR}``, ``${VAR:-default}`` and ``${VAR:+alternative}`` as Docker does."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        name = match.group(2) or match.group(5)
        value = variables.get(name, "")
        if match.group(3) == "-":
            return value or match.group(4)
        if match.group(3) == "+":
            return match.group(4) if value else ""
        return value

    return VARIABLE.sub(replace, text)


def parse(text: str, path: str = "Dockerfile") -> Dockerfile:
    """The stages of a Dockerfile and their instructions (no variable is expanded yet)."""
    stages: list[Stage] = []
    global_args: dict[str, str] = {}
    for instruction in logical_lines(text):
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
                where = f"{path}:{instruction.line}"
                raise DockerfileError(f"{where}: cannot read FROM {instruction.args}")
            name = words[2].lower() if len(words) == 3 else None
            if name is not None and any(s.name == name for s in stages):
                raise DockerfileError(f"{path}:{instruction.line}: a second stage named {name}")
            base = expand(words[0], global_args)
            stages.append(Stage(len(stages), name, base, instruction.line))
        elif not stages:
            if instruction.keyword != "ARG":
                raise DockerfileError(
                    f"{path}:{instruction.line}: {instruction.keyword} before the first FROM"
                )
            for name, value in arg_pairs(instruction.args):
                global_args[name] = value if value is not None else global_args.get(name, "")
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise DockerfileError(f"{path}: no FROM")
    return Dockerfile(path, stages, global_args)


def arg_pairs(args: str) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for word in args.split():
        name, equals, value = word.partition("=")
        pairs.append((name, _unquote(value) if equals else None))
    return pairs


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def env_pairs(args: str) -> list[tuple[str, str]]:
    """``ENV a=1 b="x y"`` or the old ``ENV a 1``."""
    first = args.split(None, 1)
    if not first:
        return []
    if "=" not in first[0]:
        return [(first[0], first[1] if len(first) > 1 else "")]
    pairs = []
    for match in re.finditer(r"([^\s=]+)=(\"(?:[^\"\\]|\\.)*\"|'[^']*'|(?:[^\s\\]|\\.)*)", args):
        pairs.append((match.group(1), _unquote(match.group(2))))
    return pairs


@dataclass(frozen=True)
class CopyArgs:
    flags: dict[str, str]
    sources: list[str]
    dest: str


COPY_FLAGS = {"from", "chown", "chmod", "link"}  # --link and ownership do not change the files


def parse_copy(args: str, where: str) -> CopyArgs:
    """Flags, sources and destination of a COPY/ADD (shell or JSON-array form)."""
    flags: dict[str, str] = {}
    rest = args.lstrip()
    while rest.startswith("--"):
        word, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        name, _, value = word[2:].partition("=")
        if name not in COPY_FLAGS:
            raise DockerfileError(f"{where}: --{name} is not supported by this check")
        flags[name] = value
    words: list[str] | None = None
    if rest.startswith("["):
        try:
            loaded = json.loads(rest)
        except ValueError:
            loaded = None
        if isinstance(loaded, list) and all(isinstance(w, str) for w in loaded):
            words = [str(w) for w in loaded]
    if words is None:
        words = rest.split()
    if any(w.startswith("<<") for w in words):
        raise DockerfileError(f"{where}: heredoc sources are not supported by this check")
    if len(words) < 2:
        raise DockerfileError(f"{where}: COPY needs a source and a destination")
    return CopyArgs(flags, words[:-1], words[-1])


# --- .dockerignore and globs -----------------------------------------------------------------


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A Docker glob as a regex: ``*`` and ``?`` stay within a path element, ``**`` crosses."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            if body.startswith(("!", "^")):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
            continue
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))


def has_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def literal_prefix(pattern: str) -> str:
    match = re.search(r"[*?\[\\]", pattern)
    return pattern[: match.start()] if match else pattern


@dataclass(frozen=True)
class IgnorePattern:
    pattern: str
    regex: re.Pattern[str]
    negate: bool


class IgnoreRules:
    """``.dockerignore``: the last pattern matching a path or one of its parents decides."""

    def __init__(self, lines: Iterable[str] = ()) -> None:
        self.patterns: list[IgnorePattern] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = posixpath.normpath(line[1:].strip() if negate else line).lstrip("/")
            if line and line != ".":
                self.patterns.append(IgnorePattern(line, glob_regex(line), negate))

    @classmethod
    def load(cls, path: Path) -> IgnoreRules:
        return cls(path.read_text(encoding="utf-8").splitlines() if path.is_file() else ())

    def excluded(self, rel: str) -> bool:
        parts = rel.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        result = False
        for pattern in self.patterns:
            if any(pattern.regex.fullmatch(p) for p in prefixes):
                result = not pattern.negate
        return result

    def prunable(self, rel_dir: str) -> bool:
        """An excluded directory that no ``!`` pattern can reach into: not walked at all."""
        if not self.excluded(rel_dir):
            return False
        below = rel_dir + "/"
        for pattern in self.patterns:
            prefix = literal_prefix(pattern.pattern)
            if pattern.negate and (prefix.startswith(below) or below.startswith(prefix)):
                return False
        return True
