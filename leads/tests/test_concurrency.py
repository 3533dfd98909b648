"""Races with real concurrent transactions (threads, one database connection each), on PostgreSQL and SQLite."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from core.errors import ConflictError
from leads import actions
from leads.models import Lead, LeadNote
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db(transaction=True)


def race(workers: list[Callable[[], Any]]) -> list[Any]:
    """Runs every worker at the same instant on its own thread and connection; returns results/exceptions."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(i: int, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[i] = fn()
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def contenders() -> int:
    # PostgreSQL allows 100 connections by default; keep room for the test runner itself.
    return 60 if connection.vendor == "postgresql" else 30


def test_two_operators_noting_the_same_lead_at_once_exactly_one_wins():
    lead = LeadFactory()
    agents = [UserFactory(role=Role.AGENTE) for _ in range(8)]
    results = race([lambda a=a: actions.check_add_note(a, lead.pk, text=f"soy {a.username}") for a in agents])
    winners = [r for r in results if isinstance(r, LeadNote)]
    losers = [r for r in results if isinstance(r, ConflictError)]
    assert len(winners) == 1 and len(losers) == len(agents) - 1, results
    lead.refresh_from_db()
    assert lead.held_by_id == winners[0].author_id and lead.notes_count == 1
    assert LeadNote.objects.filter(lead=lead).count() == 1


def test_agents_pressing_next_lead_at_once_never_get_the_same_lead():
    n = contenders()
    LeadFactory.create_batch(n + 10)
    agents = [UserFactory(role=Role.AGENTE) for _ in range(n)]
    results = race([lambda a=a: actions.check_next_lead(a) for a in agents])
    leads = [r for r in results if isinstance(r, Lead)]
    assert len(leads) == n, [r for r in results if not isinstance(r, Lead)]
    assert len({lead.pk for lead in leads}) == n  # no double reservation
    held = Lead.objects.filter(held_by__isnull=False)
    assert held.count() == n and len(set(held.values_list("held_by", flat=True))) == n
