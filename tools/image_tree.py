"""Assembling an image's file tree from a parsed Dockerfile, without a Docker daemon.

Follows each stage's ``COPY``/``ADD`` lines (``--from`` included) over the build context
filtered by ``.dockerignore``, and writes exactly the files the image would hold into a
directory. Files made by ``RUN`` steps cannot be made here: ``GENERATED`` declares them.
Standard library only.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from tools.dockerfile import (
    Dockerfile,
    DockerfileError,
    IgnoreRules,
    Instruction,
    Stage,
    arg_pairs,
    env_pairs,
    expand,
    glob_regex,
    has_glob,
    parse_copy,
)


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


class AssemblyError(Exception):
    """One or more COPY/ADD sources are missing: the image cannot be built as written."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = list(messages)


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
                for name, value in env_pairs(instruction.args):
                    image.env[name] = expand(value, {**args, **image.env})
            elif keyword == "ARG":
                for name, default in arg_pairs(instruction.args):
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
