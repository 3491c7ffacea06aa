"""The NLU pipeline study: train each candidate pipeline, measure it, write the table.

    python -m tools.nlu_study [--candidates NAME ...] [--seeds N ...] [--gates T ...]
                              [--out results/nlu-study]

For each candidate (a variation of ``config.yml``'s pipeline, defined in
``CANDIDATES`` below) it trains an NLU-only model from ``nlu/data`` from
scratch (no training cache, so the time is what a fresh machine pays), then
measures: training seconds, model size, load seconds, and per language the
held-out macro-F1, strict and safety recall of the critical intents, critical
false positives on the held-out split, and the everyday false-alarm rate
(``nlu/everyday``). With ``--seeds`` each candidate is trained once per seed
(the random state alone moves held-out figures by as much as the candidates
differ); with ``--gates`` each trained model is measured at several
CriticalIntentGate thresholds (the gate is not trained, so this costs no
training). Each run's figures go to ``<out>/<run>.json`` as soon as it is done
(a long study can be resumed with ``--candidates``), and a summary over seeds
plus every run to ``<out>/study.md`` (copy it into docs/nlu-pipeline.md).

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

from tools.evaluate_nlu import CRITICAL, EverydayResult, LanguageResult, parse_all

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED = 42  # config.yml's
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
    "diet-30": diet_epochs(30),
    "diet-20-chars-20k": bounded_chars(20, 20_000, 4),
    "diet-15-chars-10k": bounded_chars(15, 10_000, 4),
    "linear-chars-20k": linear(20_000),
}


def run_name(name: str, seed: int) -> str:
    """The name of one training run: the candidate, and the seed when not the default."""
    return name if seed == DEFAULT_SEED else f"{name}@{seed}"


def candidate_config(name: str, seed: int, directory: Path) -> Path:
    """``config.yml`` with the candidate's pipeline and seed, written to ``directory``."""
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    pipeline = CANDIDATES[name](copy.deepcopy(config["pipeline"]))
    for component in pipeline:
        for key in ("random_seed", "random_state"):
            if key in component:
                component[key] = seed
    config["pipeline"] = pipeline
    path = directory / f"{name}.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), "utf-8")
    return path


def train(name: str, seed: int, directory: Path) -> tuple[Path, float]:
    """Trains the candidate's NLU model from scratch; returns it and the seconds taken."""
    config = candidate_config(name, seed, directory)
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


def set_gate_threshold(agent: Any, threshold: float) -> None:
    """Sets the loaded model's CriticalIntentGate threshold, so that one trained model is
    measured at several gate thresholds without retraining (the gate is not trained).
    Reaches into Rasa 3.6's graph runner: a study tool's shortcut, not production code."""
    from nlu.safety import CriticalIntentGate

    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    gates = [n._component for n in nodes if isinstance(n._component, CriticalIntentGate)]
    if not gates:
        raise RuntimeError("the model has no CriticalIntentGate")
    for gate in gates:
        gate._threshold = threshold


def measure(name: str, seed: int, thresholds: List[float], out: Path) -> Dict[str, Any]:
    """Trains and measures one candidate with one seed; writes ``<out>/<run>.json``."""
    run = run_name(name, seed)
    with tempfile.TemporaryDirectory(prefix=f"study-{name}-") as scratch:
        print(f"==> {run}: training ({CANDIDATES[name].__doc__}; seed {seed})", flush=True)
        model, seconds = train(name, seed, Path(scratch))
        size = model.stat().st_size
        from rasa.core.agent import Agent

        started = time.monotonic()
        agent = Agent.load(str(model))
        load_seconds = time.monotonic() - started
        at_threshold = {}
        for threshold in thresholds:
            set_gate_threshold(agent, threshold)
            held, everyday = asyncio.run(
                parse_all(agent, ROOT / "nlu/heldout", ROOT / "nlu/everyday")
            )
            at_threshold[f"{threshold:g}"] = _per_language(held, everyday)
    figures = {
        "name": run,
        "candidate": name,
        "seed": seed,
        "description": CANDIDATES[name].__doc__,
        "train_seconds": round(seconds, 1),
        "model_mb": round(size / 1e6, 1),
        "load_seconds": round(load_seconds, 1),
        "gate": at_threshold,
    }
    (out / f"{run}.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False), "utf-8")
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
            "critical_missed": [  # (text, true, predicted): what a decision should read
                [text, true, predicted]
                for text, true, predicted in result.pairs
                if true in CRITICAL and predicted != true
            ],
        }
    return figures


def _gates(run: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    # Runs measured before gate thresholds were studied hold one gate: config.yml's 0.8.
    return run.get("gate") or {"0.8": run["languages"]}


def table(results: List[Dict[str, Any]]) -> str:
    """Every run as a Markdown table, one row per run, gate threshold and language."""
    lines = [
        "| run | train s | MB | load s | gate | lang | macro-F1 | strict recall (report / "
        "urgent) | safety recall | held-out critical FP | everyday false alarms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "failed" in r:
            lines.append(f"| {r['name']} | failed: {r['failed'][:160]} | | | | | | | | | |")
            continue
        for gate, languages in _gates(r).items():
            for language, f in languages.items():
                strict = " / ".join(f"{f['strict_recall'][i]:.2f}" for i in CRITICAL)
                safety = " / ".join(f"{f['safety_recall'][i]:.2f}" for i in CRITICAL)
                lines.append(
                    f"| {r['name']} | {r['train_seconds']:.0f} | {r['model_mb']} "
                    f"| {r['load_seconds']:.0f} | {gate} | {language} | {f['macro_f1']:.3f} "
                    f"| {strict} | {safety} | {f['critical_fp']} | {f['everyday_rate']:.2%} |"
                )
    return "\n".join(lines) + "\n"


def _mean_worst(values: List[float]) -> str:
    return f"{sum(values) / len(values):.2f} ({min(values):.2f})"


def summary(results: List[Dict[str, Any]]) -> str:
    """Per candidate and gate threshold, over its seeds: mean training seconds, and per
    language mean macro-F1, the mean and worst strict and safety recall, the held-out
    critical false positives summed and the worst everyday false-alarm rate."""
    groups: Dict[tuple[str, str], List[Dict[str, Any]]] = {}
    for r in results:
        if "failed" not in r:
            for gate, languages in _gates(r).items():
                groups.setdefault((r.get("candidate", r["name"]), gate), []).append(
                    {"train": r["train_seconds"], "languages": languages}
                )
    lines = [
        "| candidate | gate | seeds | mean train s | lang | mean macro-F1 | strict recall, "
        "mean (worst): report / urgent | safety recall, mean (worst) | critical FP (all seeds) "
        "| everyday false alarms, worst |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (candidate, gate), runs in groups.items():
        train = sum(r["train"] for r in runs) / len(runs)
        for language in runs[0]["languages"]:
            per = [r["languages"][language] for r in runs]
            f1 = sum(f["macro_f1"] for f in per) / len(per)
            strict = " / ".join(_mean_worst([f["strict_recall"][i] for f in per]) for i in CRITICAL)
            safety = " / ".join(_mean_worst([f["safety_recall"][i] for f in per]) for i in CRITICAL)
            fp = sum(f["critical_fp"] for f in per)
            rate = max(f["everyday_rate"] for f in per)
            lines.append(
                f"| {candidate} | {gate} | {len(runs)} | {train:.0f} | {language} | {f1:.3f} "
                f"| {strict} | {safety} | {fp} | {rate:.2%} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: List[str]) -> int:
    """Runs the study (or part of it) and writes the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", nargs="*", choices=sorted(CANDIDATES))
    parser.add_argument(
        "--seeds", nargs="*", type=int, default=[DEFAULT_SEED], help="one training run per seed"
    )
    parser.add_argument(
        "--gates",
        nargs="*",
        type=float,
        default=[0.8],
        help="CriticalIntentGate thresholds to measure each trained model at",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results/nlu-study")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    for name in args.candidates or list(CANDIDATES):
        for seed in args.seeds:
            try:
                figures = measure(name, seed, args.gates, args.out)
            except Exception as error:  # a candidate Rasa cannot train or run is a finding too
                figures = {
                    "name": run_name(name, seed),
                    "candidate": name,
                    "seed": seed,
                    "description": CANDIDATES[name].__doc__,
                    "failed": f"{type(error).__name__}: {str(error)[:300]}",
                }
                path = args.out / f"{run_name(name, seed)}.json"
                path.write_text(json.dumps(figures, indent=2), "utf-8")
            print(json.dumps(figures, ensure_ascii=False), flush=True)
    done = [json.loads(path.read_text("utf-8")) for path in sorted(args.out.glob("*.json"))]
    report = f"{summary(done)}\n{table(done)}"
    (args.out / "study.md").write_text(report, "utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
