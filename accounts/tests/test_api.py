from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from accounts.models import User
from accounts.tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_post_users_creates_user_with_teams(admin_user, api_client_for):
    # given teams and an admin token
    TeamFactory(code="ventas", name="Ventas")
    TeamFactory(code="soporte", name="Soporte")
    api = api_client_for(admin_user)
    # when the admin posts a new user
    response = api.post("/api/v1/users", {"username": "sofia", "password": "Clave-segura-2026",
                                          "full_name": "Sofía Ñañez", "role": "supervisor",
                                          "teams": ["ventas", "soporte"]}, content_type="application/json")
    # then 201 with the user, and she can log in
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["role"] == "supervisor" and body["full_name"] == "Sofía Ñañez"
    assert sorted(t["code"] for t in body["teams"]) == ["soporte", "ventas"]
    assert User.objects.get(username="sofia").check_password("Clave-segura-2026")


def test_malformed_json_is_400_with_reason(admin_user, api_client_for):
    response = api_client_for(admin_user).post("/api/v1/users", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert User.objects.count() == 1


def test_missing_fields_are_400_naming_them(admin_user, api_client_for):
    response = api_client_for(admin_user).post("/api/v1/users", {"username": "x"}, content_type="application/json")
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"password", "full_name", "role"} <= fields


def test_invalid_role_is_400_with_message(admin_user, api_client_for):
    response = api_client_for(admin_user).post("/api/v1/users", {
        "username": "x", "password": "Clave-segura-2026", "full_name": "X", "role": "jefe"},
        content_type="application/json")
    # the schema lists the roles: a 400 naming the field, and the roles to choose from
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request" and response.json()["field"] == "role"
    assert "agente" in response.json()["detail"]


def test_bad_token_is_401(client):
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer ctl_not-a-token"})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_revoked_token_is_401(agent, api_client_for):
    api = api_client_for(agent)
    agent.api_tokens.update(revoked_at="2026-01-01T00:00:00Z")
    assert api.get("/api/v1/me").status_code == 401


def test_user_list_is_paginated_with_next_link(admin_user, api_client_for, django_assert_max_num_queries):
    # given 30 users in teams
    team = TeamFactory()
    for user in UserFactory.create_batch(29):
        user.teams.add(team)
    api = api_client_for(admin_user)
    # when listing with page_size=10, with a query count that does not grow with the page
    with django_assert_max_num_queries(8):
        first = api.get("/api/v1/users?page_size=10").json()
    # then results + next link, and following next reaches the end
    assert first["count"] == 30 and len(first["results"]) == 10
    assert first["next"].startswith("http://testserver/api/v1/users?") and first["previous"] is None
    seen = [u["id"] for u in first["results"]]
    page = first
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [u["id"] for u in page["results"]]
    assert len(seen) == len(set(seen)) == 30


def test_patch_user_changes_role_and_password(admin_user, agent, api_client_for):
    api = api_client_for(admin_user)
    response = api.patch(f"/api/v1/users/{agent.pk}", {"role": "supervisor", "password": "Nueva-clave-2026"},
                         content_type="application/json")
    assert response.status_code == 200 and response.json()["role"] == "supervisor"
    agent.refresh_from_db()
    assert agent.check_password("Nueva-clave-2026")


def test_teams_crud_and_members(admin_user, agent, api_client_for):
    api = api_client_for(admin_user)
    created = api.post("/api/v1/teams", {"name": "Reclamos", "code": "reclamos"}, content_type="application/json")
    assert created.status_code == 201
    team_id = created.json()["id"]
    patched = api.patch(f"/api/v1/teams/{team_id}", {"members": [agent.username]}, content_type="application/json")
    assert patched.json()["members"] == [agent.username]
    dup = api.post("/api/v1/teams", {"name": "Reclamos", "code": "otro"}, content_type="application/json")
    assert dup.status_code == 409


def test_me_availability(agent, api_client_for):
    response = api_client_for(agent).post("/api/v1/me/availability", {"availability": "disponible"},
                                          content_type="application/json")
    assert response.status_code == 200 and response.json()["availability"] == "disponible"


def test_openapi_document_and_docs_page(client):
    doc = client.get("/api/v1/openapi.json")
    assert doc.status_code == 200
    spec = doc.json()
    assert "/api/v1/users" in spec["paths"] and "BearerTokenAuth" in json.dumps(spec["components"])
    assert client.get("/api/v1/docs").status_code == 200


def test_create_api_token_command_prints_a_working_token(agent, client, capsys):
    call_command("create_api_token", agent.username)
    raw = capsys.readouterr().out.strip()
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200 and response.json()["username"] == agent.username
