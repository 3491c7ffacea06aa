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
are not assembled; the ``GENERATED`` table (``tools/image_tree.py``) declares which paths a
``RUN`` step provides, and the output names them. The base images' contents, the packages
``pip install`` puts in the image (the local environment stands in for them),
``USER``/permissions, ``CMD`` and anything done at run time are not checked either; it is a
smoke test, not a build.

    python -m tools.image_check                    # every target in TARGETS
    python -m tools.image_check --target gateway     # one target (repeatable)
    python -m tools.image_check --keep               # keep the assembled trees to look at

Exit status: 0 if every target passes, 1 if one fails, 2 on a usage error.

Split in three: ``tools/dockerfile.py`` reads the Dockerfile and ``.dockerignore``,
``tools/image_tree.py`` assembles a stage's files, this module imports the entry points.

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
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tools.dockerfile import FINAL, DockerfileError, parse
from tools.image_tree import Assembler, AssemblyError, Context, Image, materialize

REPO = Path(__file__).resolve().parent.parent


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
            "dialogue.channel",
        ],
    ),
}


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
