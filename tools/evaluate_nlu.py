"""Held-out NLU evaluation, per language.

Parses every example under ``nlu/heldout/<language>/`` (never trained on) with
the trained model, and reports per language: intent precision, recall and F1
for each intent, the macro average, and a confusion list (true -> predicted,
with counts; ``nlu_fallback`` counts as a miss). Writes ``report.json`` and
``report.md`` to ``--out``.

Fails (exit 1) when any language's macro-F1 is below ``--min-f1``. For the
critical intents (report_trafficking, urgent_help) it also reports:
- strict recall: the intent was predicted;
- safety recall: predicted, or the message fell back to a clarifying question
  that offers it as a button (with the emergency numbers, for urgent_help) —
  what a user in that situation actually gets; fails below
  ``--min-critical-recall``;
- false positives: a critical intent predicted for a message that is not one
  (each listed); fails above ``--max-critical-fp-rate`` of the other messages.

Then the everyday check: every message in ``--everyday/<language>.txt`` (one
per line; ordinary chatter, news, jokes, product talk that is neither a
report nor an emergency; never trained on) is parsed, and the share that
reaches a critical intent (after the safety gate, i.e. what would give the
user emergency numbers or a report form) is reported per language; fails
above ``--max-everyday-rate``.

Usage: python -m tools.evaluate_nlu --model models/rahnuma.tar.gz --test-data nlu/heldout
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

CRITICAL = ("report_trafficking", "urgent_help")
FALLBACK = "nlu_fallback"


@dataclass
class LanguageResult:
    """Predictions for one language's held-out examples."""

    language: str
    pairs: List[Tuple[str, str, str]] = field(default_factory=list)  # (text, true, predicted)
    offered: List[List[str]] = field(default_factory=list)  # suggestions when unclear

    def per_intent(self) -> Dict[str, Dict[str, float]]:
        """Precision, recall, F1 and support for every true intent."""
        labels = sorted({true for _, true, _ in self.pairs})
        scores = {}
        for label in labels:
            tp = sum(1 for _, t, p in self.pairs if t == label and p == label)
            fp = sum(1 for _, t, p in self.pairs if t != label and p == label)
            fn = sum(1 for _, t, p in self.pairs if t == label and p != label)
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            scores[label] = {
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "support": tp + fn,
            }
        return scores

    def macro(self) -> Dict[str, float]:
        """Unweighted means over intents."""
        scores = self.per_intent()
        n = len(scores) or 1
        return {
            key: sum(s[key] for s in scores.values()) / n for key in ("precision", "recall", "f1")
        }

    def confusions(self) -> List[Tuple[str, str, int]]:
        """(true, predicted, count) for every mistake, commonest first."""
        counts = Counter((t, p) for _, t, p in self.pairs if t != p)
        return [(t, p, c) for (t, p), c in counts.most_common()]

    def critical_false_positives(self) -> List[Tuple[str, str, str]]:
        """Messages wrongly classified as a critical intent."""
        return [(x, t, p) for x, t, p in self.pairs if p in CRITICAL and t != p]

    def critical_fp_rate(self) -> float:
        """False positives over the messages whose true intent is not critical."""
        others = sum(1 for _, t, _ in self.pairs if t not in CRITICAL) or 1
        return len(self.critical_false_positives()) / others

    def safety_recall(self, intent: str) -> float:
        """Share of ``intent`` messages answered as such or offered as a button."""
        answers = zip(self.pairs, self.offered, strict=True)
        rows = [(p, offered) for (_, t, p), offered in answers if t == intent]
        hits = sum(1 for p, offered in rows if p == intent or (p == FALLBACK and intent in offered))
        return hits / len(rows) if rows else 0.0


@dataclass
class EverydayResult:
    """Critical predictions on one language's everyday messages."""

    language: str
    total: int = 0
    alarms: List[Tuple[str, str, float]] = field(default_factory=list)  # text, intent, confidence

    @property
    def rate(self) -> float:
        """Share of everyday messages that reached a critical intent."""
        return len(self.alarms) / self.total if self.total else 0.0


def everyday_messages(path: Path) -> List[str]:
    """The messages of an everyday file: one per line, ``#`` comments and blanks skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


async def predict_everyday(agent: Any, everyday_dir: Path) -> List[EverydayResult]:
    """Parses every everyday message; keeps those that reached a critical intent."""
    results = []
    for path in sorted(everyday_dir.glob("*.txt")):
        result = EverydayResult(path.stem)
        messages = everyday_messages(path)
        for index, text in enumerate(messages, start=1):
            parsed = await agent.parse_message(text)
            intent = parsed["intent"]
            if intent["name"] in CRITICAL:
                result.alarms.append((text, intent["name"], float(intent["confidence"])))
            if index % 500 == 0 or index == len(messages):
                print(f"  everyday {path.stem}: {index}/{len(messages)} parsed", flush=True)
        result.total = len(messages)
        results.append(result)
    return results


async def predict(
    model: Path, test_dir: Path, everyday_dir: Optional[Path]
) -> Tuple[List[LanguageResult], List[EverydayResult]]:
    """Parses every held-out example, language by language, then the everyday messages."""
    from rasa.core.agent import Agent

    return await parse_all(Agent.load(str(model)), test_dir, everyday_dir)


async def parse_all(
    agent: Any, test_dir: Path, everyday_dir: Optional[Path]
) -> Tuple[List[LanguageResult], List[EverydayResult]]:
    """``predict`` with a loaded agent."""
    from rasa.shared.nlu.training_data.loading import load_data

    from actions.clarify import suggested_intents

    results = []
    for language_dir in sorted(p for p in test_dir.iterdir() if p.is_dir()):
        data = load_data(str(language_dir))
        result = LanguageResult(language_dir.name)
        total = len(data.intent_examples)
        for index, example in enumerate(data.intent_examples, start=1):
            parsed = await agent.parse_message(example.get("text"))
            predicted = parsed["intent"]["name"]
            result.pairs.append((example.get("text"), example.get("intent"), predicted))
            ranking = parsed.get("intent_ranking") or []
            result.offered.append(suggested_intents(ranking) if predicted == FALLBACK else [])
            if index % 100 == 0 or index == total:
                print(f"  {language_dir.name}: {index}/{total} examples parsed", flush=True)
        results.append(result)
    everyday = await predict_everyday(agent, everyday_dir) if everyday_dir else []
    return results, everyday


def markdown(results: List[LanguageResult]) -> str:
    """The report as a Markdown document."""
    lines = [
        "# Held-out NLU evaluation",
        "",
        "| language | examples | macro precision | macro recall | macro F1 |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        m = r.macro()
        lines.append(
            f"| {r.language} | {len(r.pairs)} | {m['precision']:.3f} "
            f"| {m['recall']:.3f} | {m['f1']:.3f} |"
        )
    for r in results:
        lines += [
            "",
            f"## {r.language}",
            "",
            "| intent | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for intent, s in r.per_intent().items():
            lines.append(
                f"| {intent} | {s['precision']:.2f} | {s['recall']:.2f} "
                f"| {s['f1']:.2f} | {s['support']} |"
            )
        lines += ["", "Confusions (true → predicted: count):", ""]
        lines += [f"- {t} → {p}: {c}" for t, p, c in r.confusions()] or ["- none"]
    return "\n".join(lines) + "\n"


def main(argv: List[str]) -> int:
    """Evaluates, writes the reports and returns the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=Path("models/rahnuma.tar.gz"))
    parser.add_argument("--test-data", type=Path, default=Path("nlu/heldout"))
    parser.add_argument("--out", type=Path, default=Path("results/nlu"))
    parser.add_argument("--min-f1", type=float, default=0.90)
    parser.add_argument("--min-critical-recall", type=float, default=0.90)
    parser.add_argument("--max-critical-fp-rate", type=float, default=0.02)
    parser.add_argument("--everyday", type=Path, default=Path("nlu/everyday"))
    parser.add_argument("--max-everyday-rate", type=float, default=0.005)
    args = parser.parse_args(argv)
    if not args.model.exists():
        print(f"error: no model at {args.model}; run `make train` first", file=sys.stderr)
        return 2
    from rasa.utils.log_utils import configure_structlog

    logging.basicConfig(level=logging.WARNING)
    configure_structlog(logging.WARNING)  # no per-message debug lines (they carry text)
    print(f"==> Evaluating {args.model} on the held-out split in {args.test_data}")
    everyday_dir = args.everyday if args.everyday.is_dir() else None
    if everyday_dir is None:
        print(f"error: no everyday messages in {args.everyday}", file=sys.stderr)
        return 2
    results, everyday = asyncio.run(predict(args.model, args.test_data, everyday_dir))

    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        r.language: {
            "macro": r.macro(),
            "intents": r.per_intent(),
            "confusions": r.confusions(),
            "critical_false_positives": r.critical_false_positives(),
            "critical": {
                intent: {
                    "strict_recall": r.per_intent().get(intent, {}).get("recall", 0.0),
                    "safety_recall": r.safety_recall(intent),
                }
                for intent in CRITICAL
            },
        }
        for r in results
    }
    report["everyday"] = {
        e.language: {
            "messages": e.total,
            "critical": len(e.alarms),
            "rate": e.rate,
            "alarms": e.alarms,
        }
        for e in everyday
    }
    (args.out / "report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    (args.out / "report.md").write_text(markdown(results), encoding="utf-8")

    failures = []
    print(f"\n{'language':<10} {'examples':>8} {'precision':>10} {'recall':>8} {'macro-F1':>9}")
    for r in results:
        m = r.macro()
        print(
            f"{r.language:<10} {len(r.pairs):>8} {m['precision']:>10.3f} "
            f"{m['recall']:>8.3f} {m['f1']:>9.3f}"
        )
        if m["f1"] < args.min_f1:
            failures.append(f"{r.language}: macro-F1 {m['f1']:.3f} < {args.min_f1}")
    print(f"\n{'language':<10} {'intent':<20} {'strict recall':>13} {'safety recall':>13}")
    for r in results:
        for intent in CRITICAL:
            strict = r.per_intent().get(intent, {}).get("recall", 0.0)
            safety = r.safety_recall(intent)
            print(f"{r.language:<10} {intent:<20} {strict:>13.2f} {safety:>13.2f}")
            if safety < args.min_critical_recall:
                failures.append(
                    f"{r.language}: {intent} safety recall {safety:.2f} "
                    f"< {args.min_critical_recall}"
                )
    print("\nCritical intent predicted for another message (false positives):")
    for r in results:
        rate = r.critical_fp_rate()
        print(f"  {r.language}: {len(r.critical_false_positives())} ({rate:.1%})")
        for text, true, predicted in r.critical_false_positives():
            print(f"    {predicted} <- {true}: {text!r}")
        if rate > args.max_critical_fp_rate:
            failures.append(
                f"{r.language}: critical false-positive rate {rate:.1%} "
                f"> {args.max_critical_fp_rate:.0%}"
            )
    print("\nEveryday messages that reached a critical intent (false alarms):")
    for e in everyday:
        print(f"  {e.language}: {len(e.alarms)} of {e.total} ({e.rate:.2%})")
        for text, intent, confidence in sorted(e.alarms, key=lambda a: -a[2])[:15]:
            print(f"    {intent} {confidence:.2f}: {text!r}")
        if e.rate > args.max_everyday_rate:
            failures.append(
                f"{e.language}: everyday false-alarm rate {e.rate:.2%} "
                f"> {args.max_everyday_rate:.1%}"
            )
    print(f"\nFull report: {args.out / 'report.md'}")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
