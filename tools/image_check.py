"""Image smoke check without a Docker daemon: does each image hold the code its entry points import?

For every build target (stage) of the multi-stage Dockerfile this

1. parses the Dockerfile: stages (``FROM ... AS name``; a stage ``FROM`` an earlier stage
   inherits its files), ``WORKDIR``, ``ENV``/``ARG`` (for ``$VAR`` in paths), ``COPY``/``ADD``
   with several sources, directory sources, globs, ``--from=<stage>``, ``--chown``/``--chmod``/
   ``--link``, the JSON-array form, line continuations and comments; the build context is
   filtered by ``.dockerignore`` (directories, globs, ``**``, ``!`` negation);
2. assembles exactly the files the target's image would contain into a temporary tree (copies
   from the working tree), failing when a ``COPY`` source does not exist;
3. imports the target's entry modules (the ``TARGETS`` table below) with the interpreter of the
   environment the image installs, ``python -I`` (isolated: no PYTHONPATH, no current directory,
   no user site) and the temporary tree as the only project code on ``sys.path``; a module that
   still comes from the repository (an editable install) fails the check too.

What it cannot check: files made by ``RUN`` steps (a trained model, compiled ``.mo`` catalogs)
are not assembled; the ``GENERATED`` table declares which paths a ``RUN`` step provides, and the
output names them. The base images' contents, the packages ``pip install`` puts in the image
(the local environment stands in for them), ``USER``/permissions, ``CMD`` and anything done at
run time are not checked either; it is a smoke test, not a build.

    python tools/image_check.py                      # every target in TARGETS
    python tools/image_check.py --target gateway     # one target (repeatable)
    python tools/image_check.py --keep               # keep the assembled trees to look at

Exit status: 0 if every target passes, 1 if one fails, 2 on a usage error.

Why hand-written: the daemon-free builders (BuildKit, kaniko, buildah) need a container runtime
or root, and ``dockerfile-parse`` only splits a Dockerfile into instructions; what this check
needs is the *copy semantics* (stage inheritance, ``--from``, ``.dockerignore``, globs, the
destination rules), which no library offers without a build. It uses the standard library only
so that it runs in either environment.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

REPO = Path(__file__).resolve().parent.parent

# The final stage of the Dockerfile, what `docker build .` builds without --target.
FINAL = ":final"


@dataclass(frozen=True)
class Target:
    """One image to check: where its Python packages come from and what it runs."""

    venv: str  # the environment that stands in for the image's `pip install` (repo-relative)
    modules: Sequence[str]  # entry modules; "pkg.*" = pkg and every module under it in the image
    stage: str | None = None  # Dockerfile stage: None = the target's name; FINAL = the last one
    python: str | None = None  # an interpreter to use instead of <venv>/bin/python (tests)

    def interpreter(self, repo: Path = REPO) -> Path:
        """The Python that imports the entry modules."""
        return Path(self.python) if self.python else repo / self.venv / "bin" / "python"


# ---------------------------------------------------------------------------------------------
# The entry table: target name -> environment and the modules its image runs. EDIT THIS when
# the code layout or the Dockerfile changes (keep it in step with the Dockerfile's CMDs, the
# commands in its header comment, config.yml's custom components and endpoints*.yml).
# ---------------------------------------------------------------------------------------------
TARGETS: dict[str, Target] = {
    # `docker build --target gateway`: `python -m bot` (the gateway) and `python -m bot.hotline`
    # (the relay): every module under bot/ ships in it.
    "gateway": Target(venv=".venv-bot", modules=["bot.__main__", "bot.hotline.__main__", "bot.*"]),
    # The default image (the last, unnamed stage, based on `base`): `rasa run` loads the custom
    # NLU components (config.yml) and the tracker stores (endpoints*.yml); the same image runs
    # `python -m actions.server`, whose rasa-sdk app imports every module under actions/.
    "rasa": Target(
        venv=".venv-rasa",
        stage=FINAL,
        modules=[
            "actions.server",
            "actions.*",
            "nlu.normalizer",
            "nlu.language",
            "nlu.safety",
            "dialogue.tracker_store",
        ],
    ),
}


@dataclass(frozen=True)
class Generated:
    """Files a RUN step makes: present in the image, but not in the build context."""

    pattern: str  # glob relative to the stage's WORKDIR at the RUN step ("**" = any depth)
    made_by: str  # text of the RUN command that makes them
    what: str


# RUN steps whose output the check takes as given (it cannot run them). A `COPY --from=<stage>`
# of a path that no COPY put there fails, unless a RUN step of that stage declared here made it.
GENERATED: tuple[Generated, ...] = (
    Generated("models/*", made_by="rasa train", what="the trained model"),
    Generated(
        "locales/**/*.mo",
        made_by="babel.messages.frontend compile",
        what="compiled translations",
    ),
)


class DockerfileError(Exception):
    """The Dockerfile cannot be parsed, or names a stage that does not exist."""


class AssemblyError(Exception):
    """One or more COPY/ADD sources are missing: the image cannot be built as written."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = list(messages)


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
            for name, value in _arg_pairs(instruction.args):
                global_args[name] = value if value is not None else global_args.get(name, "")
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise DockerfileError(f"{path}: no FROM")
    return Dockerfile(path, stages, global_args)


def _arg_pairs(args: str) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for word in args.split():
        name, equals, value = word.partition("=")
        pairs.append((name, _unquote(value) if equals else None))
    return pairs


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _env_pairs(args: str) -> list[tuple[str, str]]:
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


# --- assembling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Provided:
    """A file made by a RUN step (or from an outside image): in the image, not assembled."""

    reason: str


Origin = Union[Path, Provided]  # a file of the build context, or a file the check takes as given


@dataclass
class Item:
    """What one COPY source resolves to."""

    name: str  # base name, for a file copied into a directory
    is_dir: bool  # a directory's *contents* are copied
    files: dict[str, Origin]  # relative path inside the item ("" for a file) -> origin
    provided: list[tuple[str, str]] = field(default_factory=list)  # relative glob, reason


@dataclass
class Image:
    """The files of one stage after its instructions, keyed by absolute path in the image."""

    stage: str
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, Origin] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=lambda: {"/"})
    provided: list[tuple[str, str]] = field(default_factory=list)  # absolute glob, reason
    notes: list[str] = field(default_factory=list)

    def derive(self, stage: str) -> Image:
        return Image(
            stage,
            self.workdir,
            dict(self.env),
            dict(self.files),
            set(self.dirs),
            list(self.provided),
            list(self.notes),
        )

    def add_dir(self, path: str) -> None:
        while path not in self.dirs:
            self.dirs.add(path)
            path = posixpath.dirname(path)

    def is_dir(self, path: str) -> bool:
        below = path.rstrip("/") + "/"
        return path in self.dirs or any(f.startswith(below) for f in self.files)

    def context_files(self) -> dict[str, Path]:
        return {p: o for p, o in self.files.items() if isinstance(o, Path)}

    def provided_files(self) -> dict[str, Provided]:
        return {p: o for p, o in self.files.items() if isinstance(o, Provided)}

    def resolve(self, source: str) -> list[Item]:
        """A ``COPY --from`` source: paths are relative to the stage's root."""
        path = posixpath.normpath("/" + source.lstrip("/"))
        if has_glob(path):
            regex = glob_regex(path)
            candidates = set(self.files) | self.dirs
            for name in self.files:
                while name != "/":
                    name = posixpath.dirname(name)
                    candidates.add(name)
            found = [self._item(p) for p in sorted(candidates) if regex.fullmatch(p)]
            if found:
                return found
        elif path in self.files or self.is_dir(path):
            return [self._item(path)]
        for pattern, reason in self.provided:
            if glob_regex(pattern).fullmatch(path):
                return [Item(posixpath.basename(path), False, {"": Provided(reason)})]
        below = path.rstrip("/") + "/"
        rebased = [(p[len(below) :], r) for p, r in self.provided if p.startswith(below)]
        if rebased:
            return [Item(posixpath.basename(path), True, {}, rebased)]
        raise AssemblyError(
            [f"{source}: not in stage {self.stage} (made by a RUN step? declare it in GENERATED)"]
        )

    def _item(self, path: str) -> Item:
        if path in self.files:
            return Item(posixpath.basename(path), False, {"": self.files[path]})
        below = path.rstrip("/") + "/"
        files = {p[len(below) :]: o for p, o in self.files.items() if p.startswith(below)}
        provided = [(p[len(below) :], r) for p, r in self.provided if p.startswith(below)]
        return Item(posixpath.basename(path), True, files, provided)


class Context:
    """The build context (a directory) as `docker build` sends it: less what .dockerignore drops."""

    def __init__(self, root: Path, ignore: IgnoreRules | None = None) -> None:
        self.root = root
        self.ignore = ignore if ignore is not None else IgnoreRules.load(root / ".dockerignore")

    def walk(self, rel_dir: str) -> Iterator[tuple[str, bool]]:
        """(relative path, is a directory) of everything sent under ``rel_dir`` ("" = all)."""
        top = self.root / rel_dir if rel_dir else self.root
        for current, dirnames, filenames in os.walk(top):
            rel = Path(current).relative_to(self.root).as_posix()
            rel = "" if rel == "." else rel + "/"
            dirnames[:] = sorted(d for d in dirnames if not self.ignore.prunable(rel + d))
            for name in dirnames:
                if not self.ignore.excluded(rel + name):
                    yield rel + name, True
            for name in sorted(filenames):
                if not self.ignore.excluded(rel + name):
                    yield rel + name, False

    def resolve(self, source: str) -> list[Item]:
        rel = posixpath.normpath(source.lstrip("/") or ".")
        if rel == ".." or rel.startswith("../"):
            raise AssemblyError([f"{source}: outside the build context"])
        if has_glob(rel):
            parts = rel.split("/")
            base = "/".join(_literal_parts(parts))
            regex = glob_regex(rel)
            found = [
                self._item(p, is_dir)
                for p, is_dir in (self.walk(base) if (self.root / base).is_dir() else ())
                if regex.fullmatch(p)
            ]
            if not found:
                raise AssemblyError([f"{source}: no file of the build context matches"])
            return found
        path = self.root / rel if rel != "." else self.root
        if not path.exists():
            raise AssemblyError([f"{source}: not in the build context"])
        if rel != "." and self.ignore.excluded(rel):
            raise AssemblyError([f"{source}: excluded by .dockerignore"])
        return [self._item(rel, path.is_dir())]

    def _item(self, rel: str, is_dir: bool) -> Item:
        if not is_dir:
            return Item(posixpath.basename(rel), False, {"": self.root / rel})
        base = "" if rel == "." else rel
        prefix = len(base) + 1 if base else 0
        files: dict[str, Origin] = {
            p[prefix:]: self.root / p for p, sub in self.walk(base) if not sub
        }
        return Item(posixpath.basename(rel), True, files)


def _literal_parts(parts: list[str]) -> list[str]:
    """The leading path elements of a glob that have no wildcard."""
    literal: list[str] = []
    for part in parts:
        if has_glob(part):
            break
        literal.append(part)
    return literal


class Assembler:
    """Builds the file tree of any stage of a Dockerfile, each stage once."""

    def __init__(
        self,
        dockerfile: Dockerfile,
        context: Context,
        generated: Sequence[Generated] = GENERATED,
    ) -> None:
        self.dockerfile = dockerfile
        self.context = context
        self.generated = generated
        self._done: dict[int, Image | AssemblyError] = {}

    def image(self, ref: str) -> Image:
        """The assembled tree of stage ``ref``; AssemblyError lists every missing source."""
        stage = self.dockerfile.stage(ref)
        if stage is None:
            raise DockerfileError(f"{self.dockerfile.path}: no stage {ref!r}")
        return self._build(stage)

    def _build(self, stage: Stage) -> Image:
        done = self._done.get(stage.index)
        if isinstance(done, AssemblyError):
            raise done
        if done is not None:
            return done
        self._done[stage.index] = AssemblyError([f"stage {stage.label} depends on itself"])
        try:
            image = self._assemble(stage)
        except AssemblyError as error:
            self._done[stage.index] = error
            raise
        self._done[stage.index] = image
        return image

    def _assemble(self, stage: Stage) -> Image:
        parent = self.dockerfile.stage(stage.base, before=stage.index)
        if parent is not None:
            image = self._build(parent).derive(stage.label)
        else:
            image = Image(stage.label)
            if stage.base != "scratch":
                image.notes.append(f"the contents of {stage.base} are not checked")
        args: dict[str, str] = {}
        errors: list[str] = []
        for instruction in stage.instructions:
            where = f"{self.dockerfile.path}:{instruction.line}"
            variables = {**args, **image.env}
            keyword = instruction.keyword
            if keyword == "WORKDIR":
                path = expand(instruction.args.strip(), variables)
                image.workdir = posixpath.normpath(posixpath.join(image.workdir, path))
                image.add_dir(image.workdir)
            elif keyword == "ENV":
                for name, value in _env_pairs(instruction.args):
                    image.env[name] = expand(value, {**args, **image.env})
            elif keyword == "ARG":
                for name, default in _arg_pairs(instruction.args):
                    known = default if default is not None else self.dockerfile.args.get(name)
                    if known is not None:
                        args[name] = expand(known, variables)
            elif keyword in ("COPY", "ADD"):
                try:
                    self._copy(stage, image, instruction, variables, where)
                except AssemblyError as error:
                    errors.extend(f"{where}: {keyword} {m}" for m in error.messages)
            elif keyword == "RUN":
                for generated in self.generated:
                    if generated.made_by in instruction.args:
                        pattern = posixpath.join(image.workdir, generated.pattern)
                        reason = f"{generated.what}, `{generated.made_by}` at {where}"
                        image.provided.append((pattern, reason))
        if errors:
            raise AssemblyError(errors)
        return image

    def _copy(
        self,
        stage: Stage,
        image: Image,
        instruction: Instruction,
        variables: dict[str, str],
        where: str,
    ) -> None:
        copy = parse_copy(instruction.args, where)
        sources = [expand(s, variables) for s in copy.sources]
        dest = expand(copy.dest, variables)
        origin_ref = expand(copy.flags.get("from", ""), variables)
        source_image: Image | None = None
        if origin_ref:
            source_stage = self.dockerfile.stage(origin_ref)
            if source_stage is stage:
                raise AssemblyError([f"--from={origin_ref}: a stage cannot copy from itself"])
            if source_stage is not None:
                source_image = self._build(source_stage)
        items: list[Item] = []
        errors: list[str] = []
        for source in sources:
            try:
                if origin_ref and source_image is None:
                    reason = f"from the image {origin_ref}, not checked"
                    items.append(Item(posixpath.basename(source), False, {"": Provided(reason)}))
                elif instruction.keyword == "ADD" and re.match(r"^[a-z]+://|^git@", source):
                    reason = f"downloaded by ADD at {where}, not checked"
                    items.append(Item(posixpath.basename(source), False, {"": Provided(reason)}))
                elif source_image is not None:
                    items.extend(source_image.resolve(source))
                else:
                    items.extend(self.context.resolve(source))
            except AssemblyError as error:
                errors.extend(error.messages)
        if errors:
            raise AssemblyError(errors)
        target = posixpath.normpath(posixpath.join(image.workdir, dest))
        into_dir = (
            dest.endswith("/")
            or posixpath.basename(dest) in (".", "..")
            or len(items) > 1
            or image.is_dir(target)
        )
        for item in items:
            if item.is_dir:
                image.add_dir(target)
                for rel, origin in item.files.items():
                    path = posixpath.join(target, rel)
                    image.files[path] = origin
                    image.add_dir(posixpath.dirname(path))
                image.provided.extend((posixpath.join(target, p), r) for p, r in item.provided)
            else:
                path = posixpath.join(target, item.name) if into_dir else target
                image.files[path] = item.files[""]
                image.add_dir(posixpath.dirname(path))


def materialize(image: Image, root: Path) -> int:
    """Copies the image's context files under ``root``; returns how many."""
    for directory in sorted(image.dirs):
        (root / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
    files = image.context_files()
    for path, origin in files.items():
        destination = root / path.lstrip("/")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, destination)
    return len(files)


# --- importing -------------------------------------------------------------------------------


def _probe(spec_json: str) -> None:  # pragma: no cover (runs in the target's interpreter)
    """Runs as ``python -I -c``: imports the entry modules from the assembled tree only.

    Self-contained (standard library, imports inside) because its source is what runs.
    """
    import importlib
    import json
    import os
    import pkgutil
    import sys
    import traceback

    spec = json.loads(spec_json)
    root = os.path.realpath(spec["root"])
    keep_out = [os.path.realpath(p) for p in spec["repos"]]
    prefix = os.path.realpath(sys.prefix)

    def inside(path: str, top: str) -> bool:
        return path == top or path.startswith(top.rstrip(os.sep) + os.sep)

    def from_repo(path: str) -> bool:
        real = os.path.realpath(path)
        if inside(real, root) or inside(real, prefix):
            return False
        return any(inside(real, top) for top in keep_out)

    # The tree first; nothing of the repository (an editable install's .pth or finder).
    sys.path[:] = [*spec["path"], *(p for p in sys.path if p and not from_repo(p))]
    sys.meta_path[:] = [
        f for f in sys.meta_path if not type(f).__module__.startswith("__editable__")
    ]
    importlib.invalidate_caches()

    errors: list[dict[str, object]] = []
    modules: list[str] = []
    for name in spec["modules"]:
        if not name.endswith(".*"):
            modules.append(name)
            continue
        package = name[:-2]
        directories = [os.path.join(p, *package.split(".")) for p in spec["path"]]
        found = [d for d in directories if os.path.isdir(d)]
        if not found:
            message = f"ModuleNotFoundError: the image has no package {package!r}"
            errors.append({"module": name, "error": message, "where": "", "tail": []})
            continue
        modules.append(package)
        stack = [(found[0], package)]
        while stack:
            directory, dotted = stack.pop()
            for info in sorted(pkgutil.iter_modules([directory]), key=lambda m: m.name):
                modules.append(f"{dotted}.{info.name}")
                if info.ispkg:
                    stack.append((os.path.join(directory, info.name), f"{dotted}.{info.name}"))
    modules = list(dict.fromkeys(modules))

    def shown(filename: str) -> str:
        real = os.path.realpath(filename)
        for top in spec["path"]:
            if inside(real, os.path.realpath(top)):
                return os.path.relpath(real, os.path.realpath(top))
        return filename

    imported = 0
    for module in modules:
        try:
            importlib.import_module(module)
        except (Exception, SystemExit) as error:  # every failure is reported
            frames = traceback.extract_tb(error.__traceback__)
            ours = [
                f
                for f in frames
                if os.path.isabs(f.filename) and inside(os.path.realpath(f.filename), root)
            ]
            where = f"{shown(ours[-1].filename)}:{ours[-1].lineno}" if ours else ""
            tail: list[str] = []
            for frame in ours[-3:]:
                tail.append(f'File "{shown(frame.filename)}", line {frame.lineno}, in {frame.name}')
                if frame.line:
                    tail.append(f"  {frame.line}")
            message = traceback.format_exception_only(type(error), error)[-1].strip()
            for top in spec["path"]:  # paths in the message as in the image's workdir
                for form in (top, os.path.realpath(top)):
                    message = message.replace(form.rstrip(os.sep) + os.sep, "")
            tail.append(message)
            errors.append({"module": module, "error": message, "where": where, "tail": tail})
        else:
            imported += 1
    for name, loaded in sorted(sys.modules.items()):
        places = [getattr(loaded, "__file__", None) or ""]
        places += list(getattr(loaded, "__path__", None) or [])
        leaked = [p for p in places if p and from_repo(p)]
        if leaked:
            message = f"{name} came from {leaked[0]}, outside the image (an editable install?)"
            errors.append({"module": name, "error": message, "where": "", "tail": []})
    result = {"imported": imported, "modules": modules, "errors": errors}
    with open(spec["result"], "w", encoding="utf-8") as out:
        json.dump(result, out)


PROBE = (
    "from __future__ import annotations\nimport sys\n"
    + textwrap.dedent(inspect.getsource(_probe))
    + "\n_probe(sys.argv[1])\n"
)


@dataclass
class Outcome:
    """The verdict on one target: a status line, then indented details."""

    name: str
    ok: bool
    status: str
    details: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [self.status, *("  " + d for d in self.details)]


def _shorten(path: str, workdir: str) -> str:
    below = workdir.rstrip("/") + "/"
    return path[len(below) :] if path.startswith(below) else path


def provided_notes(image: Image) -> list[str]:
    """What the image holds that the check takes as given, in words."""
    notes = [
        f"provided, not checked: {_shorten(p, image.workdir)} ({o.reason})"
        for p, o in sorted(image.provided_files().items())
    ]
    notes += [
        f"provided, not checked: {_shorten(p, image.workdir)} ({r})" for p, r in image.provided
    ]
    return notes + [f"note: {n}" for n in dict.fromkeys(image.notes)]


def run_probe(
    python: Path,
    tree: Path,
    image: Image,
    modules: Sequence[str],
    repos: Sequence[Path],
    timeout: float,
) -> dict[str, object]:
    """Imports ``modules`` from the materialized ``tree`` with ``python``; the probe's report."""
    root = tree / "rootfs"
    workdir = root / image.workdir.lstrip("/")
    path = [str(workdir)]
    for entry in image.env.get("PYTHONPATH", "").split(":"):
        if entry.startswith("/") and str(root / entry.lstrip("/")) not in path:
            path.append(str(root / entry.lstrip("/")))
    result_file = tree / "result.json"
    spec = {
        "root": str(root),
        "path": path,
        "modules": list(modules),
        "repos": [str(r) for r in repos],
        "result": str(result_file),
    }
    command = [str(python), "-I", "-c", PROBE, json.dumps(spec)]
    try:
        finished = subprocess.run(
            command,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"crash": f"the imports took longer than {timeout:g} s"}
    if not result_file.is_file():
        output = (finished.stderr or finished.stdout).strip().splitlines()
        return {"crash": f"{python} exited with {finished.returncode}", "tail": output[-8:]}
    report: dict[str, object] = json.loads(result_file.read_text(encoding="utf-8"))
    return report


def check(
    name: str,
    target: Target,
    assembler: Assembler,
    *,
    repo: Path = REPO,
    keep: bool = False,
    timeout: float = 600,
) -> Outcome:
    """Assembles ``target``'s image and imports its entry modules there."""
    python = target.interpreter(repo)
    if not python.exists():
        shown = python.relative_to(repo) if python.is_relative_to(repo) else python
        return Outcome(name, False, f"FAIL {name}: no Python at {shown}: run make install")
    stage = target.stage or name
    try:
        image = assembler.image(stage)
    except (AssemblyError, DockerfileError) as error:
        lines = str(error).splitlines()
        return Outcome(name, False, f"FAIL {name}: {lines[0]}", lines[1:])
    tree = Path(tempfile.mkdtemp(prefix=f"image-check-{name}-"))
    try:
        count = materialize(image, tree / "rootfs")
        repos = list(dict.fromkeys([repo.resolve(), assembler.context.root.resolve()]))
        report = run_probe(python, tree, image, target.modules, repos, timeout)
    finally:
        if not keep:
            shutil.rmtree(tree, ignore_errors=True)
    notes = provided_notes(image) + ([f"kept: {tree / 'rootfs'}"] if keep else [])
    if "crash" in report:
        tail = report.get("tail")
        details = [str(t) for t in tail] if isinstance(tail, list) else []
        return Outcome(name, False, f"FAIL {name}: {report['crash']}", details + notes)
    errors = report.get("errors")
    if isinstance(errors, list) and errors:
        return _failure(name, errors, notes)
    imported = report.get("imported")
    status = f"ok {name}: {imported} modules imported from {count} files"
    return Outcome(name, True, status, notes)


def _failure(name: str, errors: list[dict[str, object]], notes: list[str]) -> Outcome:
    """One status line for the first cause; the modules it broke and the traceback's end."""
    groups: dict[tuple[str, str], list[dict[str, object]]] = {}
    for error in errors:
        groups.setdefault((str(error["error"]), str(error["where"])), []).append(error)
    status = ""
    details: list[str] = []
    for (message, where), members in groups.items():
        cause = f"{message} (imported by {where})" if where else message
        modules = ", ".join(str(m["module"]) for m in members)
        if not status:
            status = f"FAIL {name}: {cause}"
            details.append(f"while importing {modules}:")
        else:
            details.append(f"also {cause}, while importing {modules}:")
        tail = members[0].get("tail")
        details += ["  " + str(t) for t in (tail if isinstance(tail, list) else [])]
    return Outcome(name, False, status, details + notes)


# --- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None, targets: dict[str, Target] | None = None) -> int:
    table = TARGETS if targets is None else targets
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n", 1)[0],
        epilog="targets: " + ", ".join(table),
    )
    parser.add_argument("--dockerfile", type=Path, default=REPO / "Dockerfile")
    parser.add_argument("--context", type=Path, help="build context (default: the Dockerfile's)")
    parser.add_argument(
        "--target",
        dest="targets",
        action="extend",
        nargs="+",
        metavar="NAME",
        help="a target of the table (repeatable; default: all)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the assembled trees")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per target's imports")
    args = parser.parse_args(argv)
    names: list[str] = list(dict.fromkeys(args.targets or table))
    unknown = [n for n in names if n not in table]
    if unknown:
        parser.error(f"unknown target {', '.join(unknown)} (known: {', '.join(table)})")
    dockerfile_path: Path = args.dockerfile
    if not dockerfile_path.is_file():
        parser.error(f"no Dockerfile at {dockerfile_path}")
    context = Context(args.context or dockerfile_path.resolve().parent)
    try:
        dockerfile = parse(dockerfile_path.read_text(encoding="utf-8"), dockerfile_path.name)
    except DockerfileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    assembler = Assembler(dockerfile, context)
    failed = False
    for name in names:
        outcome = check(name, table[name], assembler, keep=args.keep, timeout=args.timeout)
        print("\n".join(outcome.lines()), flush=True)
        failed = failed or not outcome.ok
    return 1 if failed else 0


if __name__ == "__main__":
    started = time.monotonic()
    status = main()
    print(f"({time.monotonic() - started:.1f} s)", file=sys.stderr)
    sys.exit(status)
