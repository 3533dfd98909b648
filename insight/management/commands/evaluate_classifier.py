"""`manage.py evaluate_classifier [--eval FILE.csv] [--train FILE.csv] [--mistakes]`: the offline classifier's
scores on the held-out notes, with its cost on this machine (docs/ai.md). Run it with OMP_NUM_THREADS=1
OPENBLAS_NUM_THREADS=1 to measure one core."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from insight.classifier import (
    EVAL_CSV,
    TRAIN_CSV,
    OfflineProvider,
    evaluate,
    forget_trained_models,
    load_labelled,
    measure_cost,
    memory_mb,
)


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MB"


class Command(BaseCommand):
    help = "Train the offline call-outcome classifier and print its scores on the held-out notes, its speed and memory."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--eval", type=Path, default=EVAL_CSV, help="labelled notes to score (default: shipped)")
        parser.add_argument("--train", type=Path, default=TRAIN_CSV, help="training notes (default: shipped)")
        parser.add_argument("--mistakes", action="store_true", help="list every note the classifier got wrong")

    def handle(self, *args: Any, **options: Any) -> None:
        before = memory_mb()
        try:
            rows = load_labelled(Path(options["eval"]))
            provider = OfflineProvider(Path(options["train"]))
            started = time.perf_counter()
            provider.load()  # imports scikit-learn and trains
            loaded_in = time.perf_counter() - started
        except (OSError, ValueError) as exc:  # a LabelledFileError is a ValueError listing the bad rows
            raise CommandError(str(exc)) from None
        after_load = memory_mb()
        forget_trained_models()  # once more with the imports done: what retraining alone costs
        started = time.perf_counter()
        provider.load()
        trained_in = time.perf_counter() - started
        evaluation = evaluate(provider, rows)
        cost = measure_cost(provider, [text for text, _ in rows])
        self.stdout.write(f"model {provider.model} (threshold {provider.threshold:.2f})\n")
        self.stdout.write(evaluation.report() + "\n")
        self.stdout.write(
            f"\nfirst load (import scikit-learn + train): {loaded_in:.2f} s; training alone: {trained_in:.2f} s\n"
            f"one note at a time: p50 {cost.single_p50_ms:.2f} ms, p95 {cost.single_p95_ms:.2f} ms "
            f"({cost.notes} notes x 3)\n"
            f"batch: {cost.batch_notes_per_second:,.0f} notes/s\n"
            f"memory (RSS): {_mb(before)} before loading, {_mb(after_load)} after, {_mb(memory_mb())} after "
            f"scoring; peak {_mb(memory_mb('VmHWM'))}")
        if options["mistakes"]:
            self.stdout.write(f"\n{len(evaluation.mistakes)} mistake(s):")
            for m in evaluation.mistakes:
                self.stdout.write(f"  label {m.expected.value:<14} answer {m.answer.outcome.value:<14} "
                                  f"(suggested {m.answer.suggestion.value}, p={m.answer.confidence:.2f})  {m.text}")
