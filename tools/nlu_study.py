"""The NLU pipeline study: train each candidate pipeline, measure it, write the table.

    python -m tools.nlu_study [--candidates NAME ...] [--out results/nlu-study]

For each candidate (a variation of ``config.yml``'s pipeline, defined in
``CANDIDATES`` below) it trains an NLU-only model from ``nlu/data`` from
scratch (no training cache, so the time is what a fresh machine pays), then
measures: training seconds, model size, load seconds, and per language the
held-out macro-F1, strict and safety recall of the critical intents, critical
false positives on the held-out split, and the everyday false-alarm rate
(``nlu/everyday``). Each candidate's figures go to ``<out>/<name>.json`` as
soon as it is done (a long study can be resumed with ``--candidates``), and
the whole table to ``<out>/study.md`` (copy it into docs/nlu-pipeline.md).

Times are wall-clock on this machine; run the study with nothing else busy.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import yaml

from tools.evaluate_nlu import CRITICAL, EverydayResult, LanguageResult, predict

ROOT = Path(__file__).resolve().parent.parent
Pipeline = List[Dict[str, Any]]


def _component(pipeline: Pipeline, name: str) -> Dict[str, Any]:
    return next(c for c in pipeline if c["name"] == name)


def _char_ngrams(pipeline: Pipeline) -> Dict[str, Any]:
    return next(c for c in pipeline if c.get("analyzer") == "char_wb")


def current(pipeline: Pipeline) -> Pipeline:
    """Today's pipeline, unchanged."""
    return pipeline


def diet_epochs(epochs: int) -> Callable[[Pipeline], Pipeline]:
    """DIET with fewer epochs."""

    def change(pipeline: Pipeline) -> Pipeline:
        _component(pipeline, "DIETClassifier")["epochs"] = epochs
        return pipeline

    change.__doc__ = f"DIETClassifier epochs: {epochs}"
    return change


def bounded_chars(epochs: int, max_features: int, max_ngram: int) -> Callable[[Pipeline], Pipeline]:
    """Fewer DIET epochs over a bounded character n-gram vocabulary."""

    def change(pipeline: Pipeline) -> Pipeline:
        _component(pipeline, "DIETClassifier")["epochs"] = epochs
        chars = _char_ngrams(pipeline)
        chars["max_features"] = max_features
        chars["max_ngram"] = max_ngram
        return pipeline

    change.__doc__ = f"DIET {epochs} epochs; char_wb 2-{max_ngram}, at most {max_features} features"
    return change


def linear(max_features: int) -> Callable[[Pipeline], Pipeline]:
    """A linear intent classifier over the same features, entities by CRF."""

    def change(pipeline: Pipeline) -> Pipeline:
        index = pipeline.index(_component(pipeline, "DIETClassifier"))
        _char_ngrams(pipeline)["max_features"] = max_features
        pipeline[index : index + 1] = [
            {"name": "LogisticRegressionClassifier", "max_iter": 200, "random_state": 42},
            {"name": "CRFEntityExtractor"},
        ]
        return pipeline

    change.__doc__ = (
        f"LogisticRegressionClassifier + CRFEntityExtractor; char_wb at most {max_features}"
    )
    return change


CANDIDATES: Dict[str, Callable[[Pipeline], Pipeline]] = {
    "current": current,
    "diet-20": diet_epochs(20),
    "diet-20-chars-20k": bounded_chars(20, 20_000, 4),
    "diet-15-chars-10k": bounded_chars(15, 10_000, 4),
    "linear-chars-20k": linear(20_000),
}


def candidate_config(name: str, directory: Path) -> Path:
    """``config.yml`` with the candidate's pipeline, written to ``directory``."""
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    config["pipeline"] = CANDIDATES[name](copy.deepcopy(config["pipeline"]))
    path = directory / f"{name}.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), "utf-8")
    return path


def train(name: str, directory: Path) -> tuple[Path, float]:
    """Trains the candidate's NLU model from scratch; returns it and the seconds taken."""
    config = candidate_config(name, directory)
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.monotonic()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "rasa"),
            "train",
            "nlu",
            "--config",
            str(config),
            "--nlu",
            "nlu/data",
            "--out",
            str(directory),
            "--fixed-model-name",
            name,
        ],
        cwd=ROOT,
        env={**env, "RASA_CACHE_DIRECTORY": str(directory / "cache")},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return directory / f"{name}.tar.gz", time.monotonic() - started


def measure(name: str, out: Path) -> Dict[str, Any]:
    """Trains and measures one candidate; writes ``<out>/<name>.json``."""
    with tempfile.TemporaryDirectory(prefix=f"study-{name}-") as scratch:
        print(f"==> {name}: training ({CANDIDATES[name].__doc__})", flush=True)
        model, seconds = train(name, Path(scratch))
        size = model.stat().st_size
        from rasa.core.agent import Agent

        started = time.monotonic()
        Agent.load(str(model))
        load_seconds = time.monotonic() - started
        held, everyday = asyncio.run(predict(model, ROOT / "nlu/heldout", ROOT / "nlu/everyday"))
    figures = {
        "name": name,
        "description": CANDIDATES[name].__doc__,
        "train_seconds": round(seconds, 1),
        "model_mb": round(size / 1e6, 1),
        "load_seconds": round(load_seconds, 1),
        "languages": _per_language(held, everyday),
    }
    (out / f"{name}.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False), "utf-8")
    return figures


def _per_language(
    held: List[LanguageResult], everyday: List[EverydayResult]
) -> Dict[str, Dict[str, Any]]:
    alarms = {e.language: e for e in everyday}
    figures = {}
    for result in held:
        intents = result.per_intent()
        figures[result.language] = {
            "macro_f1": round(result.macro()["f1"], 3),
            "strict_recall": {i: round(intents.get(i, {}).get("recall", 0.0), 2) for i in CRITICAL},
            "safety_recall": {i: round(result.safety_recall(i), 2) for i in CRITICAL},
            "critical_fp": len(result.critical_false_positives()),
            "everyday_rate": round(alarms[result.language].rate, 4),
            "everyday_alarms": len(alarms[result.language].alarms),
        }
    return figures


def table(results: List[Dict[str, Any]]) -> str:
    """The study as a Markdown table, one row per candidate and language."""
    lines = [
        "| candidate | train s | MB | load s | lang | macro-F1 | strict recall (report / "
        "urgent) | safety recall | held-out critical FP | everyday false alarms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "failed" in r:
            lines.append(f"| {r['name']} | failed: {r['failed'][:160]} | | | | | | | | |")
            continue
        for language, f in r["languages"].items():
            strict = " / ".join(f"{f['strict_recall'][i]:.2f}" for i in CRITICAL)
            safety = " / ".join(f"{f['safety_recall'][i]:.2f}" for i in CRITICAL)
            lines.append(
                f"| {r['name']} | {r['train_seconds']:.0f} | {r['model_mb']} "
                f"| {r['load_seconds']:.0f} | {language} | {f['macro_f1']:.3f} | {strict} "
                f"| {safety} | {f['critical_fp']} | {f['everyday_rate']:.2%} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: List[str]) -> int:
    """Runs the study (or part of it) and writes the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", nargs="*", choices=sorted(CANDIDATES))
    parser.add_argument("--out", type=Path, default=ROOT / "results/nlu-study")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    for name in args.candidates or list(CANDIDATES):
        try:
            figures = measure(name, args.out)
        except Exception as error:  # a candidate Rasa cannot train or run is a finding too
            figures = {
                "name": name,
                "description": CANDIDATES[name].__doc__,
                "failed": f"{type(error).__name__}: {str(error)[:300]}",
            }
            (args.out / f"{name}.json").write_text(json.dumps(figures, indent=2), "utf-8")
        print(json.dumps(figures, ensure_ascii=False), flush=True)
    done = [
        json.loads((args.out / f"{name}.json").read_text("utf-8"))
        for name in CANDIDATES
        if (args.out / f"{name}.json").exists()
    ]
    (args.out / "study.md").write_text(table(done), "utf-8")
    print(table(done))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
