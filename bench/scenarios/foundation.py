"""Foundation (issue 2): the login page and the users API with 1,000 users.

Data set: `size` users in total — one admin (created through accounts.actions, with an API token)
and size-1 bulk-created users sharing one precomputed password hash, mostly agentes, each in 1-2 of
12 teams and with 1-2 of 8 skills.
"""

from __future__ import annotations

import random
from typing import Any

from bench.harness import Sample, Scenario, timed_requests

TEAM_COUNT = 12
SKILL_COUNT = 8
PAGE_SIZE = 50
ADMIN_USERNAME = "bench-admin"
BENCH_PASSWORD = "bench-Centralita-2024!"  # throwaway benchmark database
ROLE_WEIGHTS = {"agente": 88, "supervisor": 6, "analista": 2, "director_ventas": 2, "gerente": 1, "admin": 1}
FIRST_NAMES = ["Ana", "Luis", "María", "Carlos", "Lucía", "Jorge", "Sofía", "Andrés", "Valentina", "Diego",
               "Camila", "Juan", "Daniela", "Felipe", "Paula", "Santiago", "Laura", "Mateo", "Isabel", "Tomás"]
LAST_NAMES = ["García", "Rodríguez", "Martínez", "López", "Gómez", "Pérez", "Sánchez", "Ramírez", "Torres",
              "Díaz", "Vargas", "Castro", "Rojas", "Moreno", "Herrera", "Jiménez", "Ruiz", "Ortiz"]

# Filled by ensure_users(); one worker process builds the data set once for every scenario here.
_state: dict[str, Any] = {}


def ensure_users(size: int) -> None:
    if _state.get("size") == size:
        return
    if _state:
        raise RuntimeError(f"foundation data set already built with {_state['size']} users, not {size}")
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from accounts.actions import do_create_api_token, do_create_user
    from accounts.models import Skill, Team, User
    from accounts.roles import Role

    rng = random.Random(2)
    password_hash = make_password(BENCH_PASSWORD)  # one PBKDF2 run for the whole data set
    with transaction.atomic():
        admin = do_create_user(username=ADMIN_USERNAME, password=None, full_name="Administración Benchmark",
                               role=Role.ADMIN, acting_user=None)
        admin.password = password_hash
        admin.save(update_fields=["password"])
        _, raw_token = do_create_api_token(admin, name="bench", acting_user=None)

        Team.objects.bulk_create(
            Team(name=f"Equipo {i:02d}", code=f"equipo-{i:02d}") for i in range(1, TEAM_COUNT + 1)
        )
        Skill.objects.bulk_create(
            Skill(code=f"skill-{i:02d}", name=f"Habilidad {i:02d}") for i in range(1, SKILL_COUNT + 1)
        )
        team_ids = list(Team.objects.values_list("id", flat=True))
        skill_ids = list(Skill.objects.values_list("id", flat=True))
        roles, weights = list(ROLE_WEIGHTS), list(ROLE_WEIGHTS.values())
        availability = ["disponible", "ocupado", "ausente", "desconectado"]
        User.objects.bulk_create(
            (
                User(
                    username=f"usuario{i:05d}",
                    full_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {rng.choice(LAST_NAMES)}",
                    email=f"usuario{i:05d}@example.com",
                    role=rng.choices(roles, weights)[0],
                    availability=rng.choice(availability),
                    language="es" if rng.random() < 0.9 else "en",
                    password=password_hash,
                )
                for i in range(1, size)
            ),
            batch_size=500,
        )
        user_ids = list(User.objects.exclude(pk=admin.pk).values_list("id", flat=True))
        user_teams = User.teams.through
        user_skills = User.skills.through
        user_teams.objects.bulk_create(
            (user_teams(user_id=uid, team_id=tid)
             for uid in user_ids for tid in rng.sample(team_ids, rng.randint(1, 2))),
            batch_size=1000,
        )
        user_skills.objects.bulk_create(
            (user_skills(user_id=uid, skill_id=sid)
             for uid in user_ids for sid in rng.sample(skill_ids, rng.randint(1, 2))),
            batch_size=1000,
        )
    assert User.objects.count() == size
    _state.update(size=size, token=raw_token)


def _api_client() -> Any:
    from django.test import Client

    return Client(headers={"Authorization": f"Bearer {_state['token']}"})


def run_login_page(n: int) -> list[Sample]:
    from django.test import Client

    client = Client()
    return timed_requests(lambda: client.get("/login/"), n)


def _users_page(page: int) -> dict[str, str]:
    return {"page_size": str(PAGE_SIZE), "page": str(page)}


def _check_users_page(client: Any, page: int) -> None:
    data = client.get("/api/v1/users", _users_page(page)).json()
    expected = max(0, min(PAGE_SIZE, _state["size"] - (page - 1) * PAGE_SIZE))
    if data["count"] != _state["size"] or len(data["results"]) != expected:
        raise RuntimeError(f"users API page {page}: count {data['count']}, {len(data['results'])} results")
    if not all(u["teams"] and u["skills"] for u in data["results"] if u["username"] != ADMIN_USERNAME):
        raise RuntimeError(f"users API page {page}: a user without teams or skills")


def _run_users_api(page: int, n: int) -> list[Sample]:
    client = _api_client()
    _check_users_page(client, page)
    params = _users_page(page)
    return timed_requests(lambda: client.get("/api/v1/users", params), n)


SCENARIOS = [
    Scenario(
        name="foundation.login_page",
        description="GET /login/ (anonymous) with 1,000 users in the database",
        setup=ensure_users,
        run=run_login_page,
    ),
    Scenario(
        name="foundation.users_api",
        description="GET /api/v1/users?page_size=50 (admin bearer token), first page, 1,000 users",
        setup=ensure_users,
        run=lambda n: _run_users_api(1, n),
    ),
    Scenario(
        name="foundation.users_api_page20",
        description="GET /api/v1/users?page_size=50&page=20 (admin bearer token), last page of 1,000 users",
        setup=ensure_users,
        run=lambda n: _run_users_api(20, n),
    ),
]
