"""Test helpers: run what the code enqueued (DummyBackend keeps it) the way a worker would, commit hooks included."""

from __future__ import annotations

from typing import Any

from django.tasks import default_task_backend
from django.test import TestCase


def run_queued(*names: str, rounds: int = 5) -> list[Any]:
    """Runs queued tasks (only `names` if given), then what they enqueued, up to `rounds` waves. Returns results."""
    results = []
    for _round in range(rounds):
        queued = [r for r in default_task_backend.results if not names or r.task.name in names]
        if not queued:
            break
        default_task_backend.clear()
        for item in queued:
            with TestCase.captureOnCommitCallbacks(execute=True):
                results.append(item.task.call(*item.args, **item.kwargs))
    return results


def queued_names() -> list[str]:
    return [r.task.name for r in default_task_backend.results]
