"""`manage.py seed_demo`: the demo company, its determinism, idempotency and the logins it prints."""

from __future__ import annotations

import itertools
import random
from datetime import date, time, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.management.commands import seed_demo
from accounts.management.commands.seed_demo import DEMO_PASSWORD, SEEDERS, seed_accounts
from accounts.models import AvailabilityEvent, BusinessHours, Holiday, Skill, Team, User
from accounts.roles import Role
from core.models import AuditLog

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def snapshot() -> tuple[list[tuple[str, str, str, str, list[str], list[str]]], int, list[tuple[str, str, str]]]:
    users = [
        (u.username, u.full_name, u.role, u.availability, sorted(t.code for t in u.teams.all()),
         sorted(s.code for s in u.skills.all()))
        for u in User.objects.prefetch_related("teams", "skills").order_by("username")
    ]
    transitions = list(AvailabilityEvent.objects.order_by("user__username", "created_at", "id")
                       .values_list("user__username", "from_state", "to_state"))
    return users, AvailabilityEvent.objects.count(), transitions


def wipe() -> None:
    """Empties what the seeders write, children first (notes, orders and movements protect their parents).
    Faster than `flush`, which also re-runs post_migrate for every app."""
    from catalog.models import Product, StockMovement
    from crm.models import KommoSync
    from customers.models import Customer, MarketingList, Tag
    from inbox.models import Conversation, Task
    from leads.models import Lead, LeadNote, NoteTemplate
    from orders.models import Order
    from webhooks.models import WebhookMessage

    for model in (WebhookMessage, KommoSync, StockMovement, Order, Product, LeadNote, Lead, NoteTemplate, Task,
                  Conversation, Customer, Tag, MarketingList):
        model.objects.all().delete()
    User.objects.all().delete()  # cascades to availability events, memberships and skills
    Team.objects.all().delete()  # cascades to business hours
    Skill.objects.all().delete()
    Holiday.objects.all().delete()


def test_seeding_creates_the_company():
    # given an empty database
    # when the demo is seeded
    out = seed("--seed", "7")
    # then there is a user of every role, admin can use the Django admin
    assert set(User.objects.values_list("role", flat=True)) == set(Role.values)
    for username, role in [("admin", Role.ADMIN), ("gerente", Role.GERENTE), ("supervisora", Role.SUPERVISOR),
                           ("director", Role.DIRECTOR_VENTAS), ("analista", Role.ANALISTA)]:
        assert User.objects.get(username=username).role == role
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert not User.objects.exclude(username="admin").filter(is_staff=True).exists()
    assert sorted(User.objects.get(username="supervisora").teams.values_list("code", flat=True)) == [
        "soporte", "supervision"]
    assert list(User.objects.get(username="director").teams.values_list("code", flat=True)) == ["ventas"]
    # and the four teams, four skills, hours Mon-Fri 08-18 and Sat 09-13 for each team
    assert dict(Team.objects.values_list("code", "name")) == {
        "ventas": "Ventas", "marketing": "Marketing", "soporte": "Servicio y Soporte", "supervision": "Supervisión"}
    assert set(Skill.objects.values_list("code", flat=True)) == {"ventas", "soporte", "reclamos", "marketing", "senior"}
    for team in Team.objects.all():
        hours = list(team.hours.values_list("weekday", "opens_at", "closes_at"))
        assert hours == [(wd, time(8), time(18)) for wd in range(5)] + [(5, time(9), time(13))]
    assert BusinessHours.objects.count() == 4 * 6
    # and national holidays for 2026 and 2027
    holidays = dict(Holiday.objects.filter(team=None).values_list("date", "name"))
    assert holidays[date(2026, 12, 8)] == "Inmaculada Concepción"
    assert holidays[date(2026, 12, 25)] == "Navidad"
    assert holidays[date(2027, 1, 1)] == "Año Nuevo"
    assert holidays[date(2027, 1, 11)] == "Reyes Magos"
    assert not Holiday.objects.exclude(team=None).exists()
    # and eight agents, each in at least one of the agent teams, with skills and LatAm names
    agents = User.objects.filter(role=Role.AGENTE).prefetch_related("teams", "skills")
    assert sorted(a.username for a in agents) == sorted(f"agente{i}" for i in range(1, 9))
    for a in agents:
        assert {t.code for t in a.teams.all()} & {"ventas", "marketing", "soporte"}, a.username
        assert a.skills.exists(), a.username
        assert len(a.full_name.split()) >= 3, a.full_name
    assert {t for a in agents for t in a.teams.values_list("code", flat=True)} >= {"ventas", "marketing", "soporte"}
    # and mostly offline users, plus an audit entry per user and one summary entry
    assert User.objects.filter(availability="desconectado").count() > User.objects.count() // 2
    assert AuditLog.objects.filter(action="user.created").count() == User.objects.count()
    summary = AuditLog.objects.get(action="demo.seeded")
    assert summary.changes["seed"] == 7
    assert summary.via == "command"
    # and the logins are printed
    assert "admin" in out
    assert "agente8" in out
    assert DEMO_PASSWORD in out


def test_availability_history_is_consistent():
    # given a seeded demo
    seed("--seed", "3")
    now = timezone.now()
    closed = set(Holiday.objects.values_list("date", flat=True))
    # then every history is a chain that starts offline and ends in the user's current state
    for user in User.objects.all():
        events = list(user.availability_events.order_by("created_at", "id"))
        if user.role == Role.AGENTE:
            assert len(events) > 100, user.username  # ~3-6 transitions a working day for 90 days
        if not events:
            assert user.availability == "desconectado"
            continue
        assert events[0].from_state == "desconectado"
        for before, after in itertools.pairwise(events):
            assert after.from_state == before.to_state, user.username
        assert events[-1].to_state == user.availability
        assert user.availability_changed_at == events[-1].created_at
        # and it covers the last 90 days, never on Sundays or holidays, at most 6 events a day
        per_day: dict[date, int] = {}
        for e in events:
            assert now - timedelta(days=91) <= e.created_at <= now
            assert e.acting_user_id == user.pk
            day = timezone.localtime(e.created_at).date()
            per_day[day] = per_day.get(day, 0) + 1
        today = timezone.localtime(now).date()
        assert all(d.weekday() != 6 and d not in closed for d in per_day if d != today)
        assert max(per_day.values()) <= 6


def test_same_seed_same_data_and_other_seed_other_names():
    # given a database seeded with seed 42
    seed("--seed", "42")
    first = snapshot()
    # when the database is emptied and seeded again with the same seed
    wipe()
    seed("--seed", "42")
    # then users, names, roles, availability, teams, skills and the history are identical
    assert snapshot() == first
    # when seeded with another seed
    wipe()
    seed("--seed", "43")
    # then the people have other names
    names = {u[1] for u in first[0]}
    assert names != {u[1] for u in snapshot()[0]}


def test_second_run_is_a_noop():
    # given a seeded demo
    seed("--seed", "5")
    before = (User.objects.count(), AvailabilityEvent.objects.count(), AuditLog.objects.count(), snapshot())
    # when seeding again (even with another seed)
    out = seed("--seed", "6")
    # then nothing changes
    assert "demo data already present" in out
    assert (User.objects.count(), AvailabilityEvent.objects.count(), AuditLog.objects.count(), snapshot()) == before
    # and --force is refused rather than half-implemented
    with pytest.raises(CommandError, match="--force"):
        seed("--force")


def test_conflicting_username_refuses_without_changes():
    # given a database where someone already uses a demo username
    User.objects.create_user(username="agente3", full_name="Ya Existe")
    # when seeding / then the command refuses and leaves nothing behind
    with pytest.raises(CommandError, match="agente3"):
        seed()
    assert list(User.objects.values_list("username", flat=True)) == ["agente3"]
    assert not Team.objects.exists()


def test_users_log_in_with_the_demo_password():
    # given a seeded demo
    seed("--seed", "11")
    # when each demo user logs in with DEMO_PASSWORD / then it works
    for username in ["admin", "gerente", "supervisora", "director", "analista", "agente1", "agente8"]:
        assert Client().login(username=username, password=DEMO_PASSWORD), username
    assert not Client().login(username="agente1", password="wrong-password")
    # and through the login page too
    response = Client().post(reverse("accounts:login"), {"username": "supervisora", "password": DEMO_PASSWORD})
    assert response.status_code == 302


def test_extra_seeders_run_after_accounts_in_the_same_transaction(monkeypatch):
    # given a later app's seeder appended to SEEDERS
    assert SEEDERS[0] is seed_accounts
    calls = []

    def seed_more(rng, scale, stdout):
        calls.append((isinstance(rng, random.Random), scale, User.objects.filter(username="admin").exists()))
        stdout.write("more: done")

    monkeypatch.setattr(seed_demo, "SEEDERS", [*SEEDERS, seed_more])
    # when seeding
    out = seed("--scale", "small")
    # then it ran once, after the accounts, with its own generator
    assert calls == [(True, "small", True)]
    assert "more: done" in out


def test_failing_seeder_rolls_everything_back(monkeypatch):
    # given a seeder that fails after the accounts were seeded
    def explode(rng, scale, stdout):
        raise RuntimeError("boom")

    monkeypatch.setattr(seed_demo, "SEEDERS", [*SEEDERS, explode])
    # when seeding / then nothing is left behind
    with pytest.raises(RuntimeError, match="boom"):
        seed()
    assert not User.objects.exists()
    assert not Team.objects.exists()
    assert not AuditLog.objects.filter(action__in=["user.created", "demo.seeded"]).exists()


def test_large_scale_keeps_the_small_agents():
    # given the small demo of seed 9
    seed("--seed", "9")
    small = [u for u in snapshot()[0] if u[0] in {"admin", "agente1", "agente8"}]
    wipe()
    # when the large demo of the same seed is seeded
    out = seed("--seed", "9", "--scale", "large")
    # then there are 200 agents, all in a team, and the first ones are the same people as in the small demo
    agents = User.objects.filter(role=Role.AGENTE)
    assert agents.count() == 200
    assert not agents.filter(teams=None).exists()
    assert len(set(agents.values_list("full_name", flat=True))) == 200
    assert [u for u in snapshot()[0] if u[0] in {"admin", "agente1", "agente8"}] == small
    assert "agente1 … agente200" in out
