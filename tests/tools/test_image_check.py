"""The image check: the Dockerfile parser (tools/dockerfile.py), the assembler
(tools/image_tree.py), and the import check itself (tools/image_check.py).

Standard library only, like the tool: runs in either environment. The import checks use this
interpreter (``sys.executable``) as the image's Python, so they need no real venv.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tools.dockerfile import FINAL, DockerfileError, IgnoreRules, parse
from tools.image_check import Target, check, main
from tools.image_tree import Assembler, AssemblyError, Context, Generated, Image, Provided


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def assemble(root: Path, dockerfile: str, stage: str = FINAL) -> Image:
    write(root, {"Dockerfile": dockerfile})
    parsed = parse((root / "Dockerfile").read_text(encoding="utf-8"))
    return Assembler(parsed, Context(root)).image(stage)


def files_of(image: Image, context: Path) -> dict[str, str]:
    return {
        path: "provided" if isinstance(origin, Provided) else origin.relative_to(context).as_posix()
        for path, origin in image.files.items()
    }


PROJECT = {
    "app/__init__.py": "",
    "app/main.py": "import app.helper\n",
    "app/helper.py": "VALUE = 1\n",
    "app/extra/__init__.py": "",
    "app/extra/deep.py": "from app.helper import VALUE\n",
    "lib/util.py": "",
    "lib/other.py": "",
    "README.md": "",
    "notes.log": "",
    "app/__pycache__/main.cpython-311.pyc": "",
}


# --- parsing ---------------------------------------------------------------------------------


def test_parse_joins_continuations_and_drops_comments() -> None:
    parsed = parse(
        textwrap.dedent(
            """\
            # syntax=docker/dockerfile:1
            FROM python:3.11-slim AS Builder
            # a comment
            COPY a.py \\
                 # a comment inside the continuation
                 b.py \\

                 dest/
            RUN echo one \\
             && echo two
            FROM builder
            CMD ["python", "-m", "app"]
            """
        )
    )
    stages = [(s.name, s.base) for s in parsed.stages]
    assert stages == [("builder", "python:3.11-slim"), (None, "builder")]
    copy, run = parsed.stages[0].instructions
    assert (copy.keyword, copy.args.split(), copy.line) == ("COPY", ["a.py", "b.py", "dest/"], 4)
    assert run.keyword == "RUN" and "echo two" in run.args
    assert parsed.stage(FINAL) is parsed.stages[1]
    assert parsed.stage("BUILDER") is parsed.stages[0]
    assert parsed.stage("1") is parsed.stages[1]


def test_parse_rejects_instructions_before_from() -> None:
    with pytest.raises(DockerfileError, match="WORKDIR before the first FROM"):
        parse("WORKDIR /app\nFROM scratch\n")


def test_heredoc_bodies_are_not_instructions() -> None:
    parsed = parse("FROM scratch\nRUN <<EOF\nCOPY nothing here\nEOF\nWORKDIR /app\n")
    assert [i.keyword for i in parsed.stages[0].instructions] == ["RUN", "WORKDIR"]


# --- assembling ------------------------------------------------------------------------------


def test_multi_source_copy_and_directory_sources(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    image = assemble(
        tmp_path,
        """\
        FROM python:3.11-slim
        WORKDIR /srv
        WORKDIR app
        COPY --chown=1000:1000 lib/util.py lib/other.py README.md vendor/
        COPY app/ app/
        COPY ["lib/util.py", "renamed.py"]
        COPY README.md .
        """,
    )
    assert image.workdir == "/srv/app"
    assert files_of(image, tmp_path) == {
        "/srv/app/vendor/util.py": "lib/util.py",
        "/srv/app/vendor/other.py": "lib/other.py",
        "/srv/app/vendor/README.md": "README.md",
        "/srv/app/app/__init__.py": "app/__init__.py",
        "/srv/app/app/main.py": "app/main.py",
        "/srv/app/app/helper.py": "app/helper.py",
        "/srv/app/app/extra/__init__.py": "app/extra/__init__.py",
        "/srv/app/app/extra/deep.py": "app/extra/deep.py",
        # the __pycache__ file is not ignored here: there is no .dockerignore
        "/srv/app/app/__pycache__/main.cpython-311.pyc": "app/__pycache__/main.cpython-311.pyc",
        "/srv/app/renamed.py": "lib/util.py",
        "/srv/app/README.md": "README.md",
    }


def test_globs_and_variables(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    image = assemble(
        tmp_path,
        """\
        ARG BASE=python:3.11-slim
        FROM ${BASE}
        ARG SRC=lib
        ENV DEST=/opt/lib
        COPY $SRC/*.py ${DEST}/
        """,
    )
    assert files_of(image, tmp_path) == {
        "/opt/lib/other.py": "lib/other.py",
        "/opt/lib/util.py": "lib/util.py",
    }
    assert image.notes == ["the contents of python:3.11-slim are not checked"]


def test_a_stage_inherits_its_base_stage(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    dockerfile = """\
        FROM python:3.11-slim AS base
        WORKDIR /app
        COPY lib/ lib/
        FROM base AS child
        COPY README.md ./
        FROM python:3.11-slim AS unrelated
        """
    child = assemble(tmp_path, dockerfile, "child")
    assert child.workdir == "/app"
    assert set(child.files) == {"/app/lib/util.py", "/app/lib/other.py", "/app/README.md"}
    base = assemble(tmp_path, dockerfile, "base")
    assert "/app/README.md" not in base.files
    assert assemble(tmp_path, dockerfile, FINAL).files == {}


def test_copy_from_a_stage_uses_its_assembled_tree(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    image = assemble(
        tmp_path,
        """\
        FROM python:3.11-slim AS builder
        WORKDIR /build
        COPY app/ src/
        COPY lib/util.py tools/util.py
        FROM python:3.11-slim
        WORKDIR /app
        COPY --from=builder /build/src/extra extra/
        COPY --from=builder --chown=app /build/tools/util.py /build/src/helper.py ./
        COPY --from=0 build/src/main.py main.py
        """,
    )
    assert files_of(image, tmp_path) == {
        "/app/extra/__init__.py": "app/extra/__init__.py",
        "/app/extra/deep.py": "app/extra/deep.py",
        "/app/util.py": "lib/util.py",
        "/app/helper.py": "app/helper.py",
        "/app/main.py": "app/main.py",
    }


def test_copy_from_a_stage_of_what_it_never_had_fails(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    with pytest.raises(AssemblyError, match=r"Dockerfile:4: COPY /build/out.bin: not in stage b"):
        assemble(
            tmp_path,
            """\
            FROM python:3.11-slim AS b
            RUN make out.bin
            FROM python:3.11-slim
            COPY --from=b /build/out.bin .
            """,
        )


def test_run_outputs_declared_as_generated_are_provided(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    write(
        tmp_path,
        {
            "Dockerfile": """\
            FROM python:3.10-slim AS base
            WORKDIR /app
            COPY app/ app/
            FROM base AS trained
            RUN rasa train --out models \\
                  --fixed-model-name m
            FROM base
            COPY --from=trained /app/models/m.tar.gz models/m.tar.gz
            """
        },
    )
    parsed = parse((tmp_path / "Dockerfile").read_text(encoding="utf-8"))
    generated = [Generated("models/*", made_by="rasa train", what="the model")]
    image = Assembler(parsed, Context(tmp_path), generated).image(FINAL)
    origin = image.files["/app/models/m.tar.gz"]
    assert isinstance(origin, Provided)
    assert "the model, `rasa train` at Dockerfile:5" in origin.reason
    assert "/app/app/main.py" in image.files
    # Without the declaration the same COPY is an error.
    with pytest.raises(AssemblyError, match="made by a RUN step"):
        Assembler(parsed, Context(tmp_path), ()).image(FINAL)


def test_dockerignore(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    write(
        tmp_path,
        {
            ".dockerignore": """\
            # comments and blank lines are skipped

            **/__pycache__
            *.log
            lib
            !lib/util.py
            /README.md
            """
        },
    )
    image = assemble(
        tmp_path,
        """\
        FROM python:3.11-slim
        COPY . /src/
        """,
    )
    paths = set(image.files)
    assert "/src/app/main.py" in paths
    assert "/src/lib/util.py" in paths  # negated
    assert not {"/src/lib/other.py", "/src/notes.log", "/src/README.md"} & paths
    assert not any("__pycache__" in p for p in paths)


def test_ignore_rules() -> None:
    rules = IgnoreRules([".venv*", "models", "**/*.pyc", "docs/*.md", "!docs/keep.md"])
    assert rules.excluded(".venv-bot/lib/site.py")
    assert rules.excluded("models/x.tar.gz")
    assert rules.excluded("a/b/c.pyc") and rules.excluded("c.pyc")
    assert rules.excluded("docs/a.md") and not rules.excluded("docs/keep.md")
    assert not rules.excluded("docs/sub/a.md")
    assert not rules.excluded("modelsx/a.py")
    assert rules.prunable(".venv-rasa") and not rules.prunable("docs")


def test_missing_and_ignored_sources_are_errors(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    write(tmp_path, {".dockerignore": "*.log\n"})
    with pytest.raises(AssemblyError) as raised:
        assemble(
            tmp_path,
            """\
            FROM python:3.11-slim
            WORKDIR /app
            COPY app/__init__.py app/missing.py app/
            COPY notes.log lib/*.txt ./
            """,
        )
    assert raised.value.messages == [
        "Dockerfile:3: COPY app/missing.py: not in the build context",
        "Dockerfile:4: COPY notes.log: excluded by .dockerignore",
        "Dockerfile:4: COPY lib/*.txt: no file of the build context matches",
    ]


def test_unknown_copy_flags_are_refused(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    with pytest.raises(DockerfileError, match="--parents is not supported"):
        assemble(tmp_path, "FROM scratch\nCOPY --parents app/ /x/\n")


# --- the import check ------------------------------------------------------------------------


def project(tmp_path: Path, copies: str) -> Assembler:
    """A tiny project whose image copies ``copies``; the check uses this interpreter."""
    root = tmp_path / "project"
    write(root, PROJECT)
    write(root, {"Dockerfile": f"FROM python:3.11-slim\nWORKDIR /app\n{copies}\n"})
    return Assembler(parse((root / "Dockerfile").read_text(encoding="utf-8")), Context(root))


def here(*modules: str) -> Target:
    return Target(venv="unused", modules=list(modules), stage=FINAL, python=sys.executable)


def test_check_passes_when_the_image_has_every_import(tmp_path: Path) -> None:
    assembler = project(tmp_path, "COPY app/ app/")
    outcome = check("app", here("app.main", "app.*"), assembler, repo=tmp_path)
    assert outcome.ok, outcome.lines()
    # app, app.main, app.extra, app.extra.deep, app.helper (app.main once)
    assert outcome.status == "ok app: 5 modules imported from 6 files"


def test_check_fails_when_a_copy_omits_an_imported_module(tmp_path: Path) -> None:
    assembler = project(tmp_path, "COPY app/__init__.py app/main.py app/")
    outcome = check("app", here("app.main"), assembler, repo=tmp_path)
    assert not outcome.ok
    assert outcome.status == (
        "FAIL app: ModuleNotFoundError: No module named 'app.helper' (imported by app/main.py:1)"
    )
    assert "  while importing app.main:" in outcome.lines()


def test_package_wildcard_imports_every_module_the_image_has(tmp_path: Path) -> None:
    # app/extra/deep.py imports app.helper, which this image lacks.
    assembler = project(tmp_path, "COPY app/__init__.py app/main.py app/\nCOPY app/extra app/extra")
    outcome = check("app", here("app.*"), assembler, repo=tmp_path)
    assert not outcome.ok
    assert outcome.status.endswith("No module named 'app.helper' (imported by app/main.py:1)")
    assert "  while importing app.main:" in outcome.lines()
    also = "(imported by app/extra/deep.py:1), while importing app.extra.deep:"
    assert any(line.endswith(also) for line in outcome.lines())


def test_the_repository_does_not_leak_into_the_image(tmp_path: Path) -> None:
    # The entry module reaches into the repository for a module the image lacks.
    assembler = project(tmp_path, "COPY app/__init__.py app/\nCOPY sneaky.py ./")
    root = tmp_path / "project"
    write(root, {"sneaky.py": f"import sys\nsys.path.append({str(root / 'lib')!r})\nimport util\n"})
    outcome = check("app", here("sneaky"), assembler, repo=tmp_path)
    assert not outcome.ok
    assert outcome.status.startswith("FAIL app: util came from ")
    assert "outside the image" in outcome.status


def test_a_missing_stage_or_source_fails_before_importing(tmp_path: Path) -> None:
    assembler = project(tmp_path, "COPY app/nothing.py app/")
    outcome = check("app", here("app"), assembler, repo=tmp_path)
    assert outcome.status == "FAIL app: Dockerfile:3: COPY app/nothing.py: not in the build context"
    named = Target(venv="unused", modules=["app"], python=sys.executable)
    outcome = check("nowhere", named, assembler)
    assert outcome.status == "FAIL nowhere: Dockerfile: no stage 'nowhere'"


def test_a_missing_venv_says_how_to_make_it(tmp_path: Path) -> None:
    assembler = project(tmp_path, "COPY app/ app/")
    target = Target(venv=".venv-none", modules=["app"], stage=FINAL)
    outcome = check("app", target, assembler, repo=tmp_path)
    assert outcome.status == "FAIL app: no Python at .venv-none/bin/python: run make install"


def test_main_exit_status_and_unknown_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path, "COPY app/ app/")
    dockerfile = str(tmp_path / "project" / "Dockerfile")
    table = {"good": here("app.main"), "bad": here("lib.util")}
    assert main(["--dockerfile", dockerfile, "--target", "good"], table) == 0
    assert main(["--dockerfile", dockerfile], table) == 1
    output = capsys.readouterr().out.splitlines()
    assert output[0] == "ok good: 1 modules imported from 6 files"
    assert "FAIL bad: ModuleNotFoundError: No module named 'lib'" in output
    with pytest.raises(SystemExit) as exited:
        main(["--dockerfile", dockerfile, "--target", "nope"], table)
    assert exited.value.code == 2
    assert "unknown target nope (known: good, bad)" in capsys.readouterr().err
