from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Team, User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from core.models import AuditLog

pytestmark = pytest.mark.django_db


def test_login_success_is_audited_and_lands_home(agent):
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": agent.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert AuditLog.objects.filter(action="auth.login", actor=agent).exists()


def test_wrong_password_gives_clear_message_then_throttles(agent, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        response = client.post(reverse("accounts:login"), {"username": agent.username, "password": "mal"})
        assert response.status_code == 200
        assert "Usuario o contraseña incorrectos" in response.content.decode()
    # even the right password is refused while throttled
    response = client.post(reverse("accounts:login"), {"username": agent.username, "password": DEFAULT_PASSWORD})
    assert "Demasiados intentos fallidos" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditLog.objects.filter(action="auth.login_failed").count() == 3


def test_logout_is_post_only_audited_and_sets_offline(agent, client_for):
    client = client_for(agent)
    agent.availability = "disponible"
    agent.save()
    assert client.get(reverse("accounts:logout")).status_code == 405
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.availability == "desconectado"
    assert AuditLog.objects.filter(action="auth.logout").exists()


def test_admin_creates_user_in_the_browser_form(admin_user, client_for):
    Team.objects.create(name="Ventas", code="ventas")
    client = client_for(admin_user)
    response = client.post(reverse("accounts:user_create"), {
        "username": "nuevo", "full_name": "Nuevo Agente", "role": "agente", "language": "es",
        "password": "Clave-segura-2026", "teams": [Team.objects.get().pk],
    })
    assert response.status_code == 302
    assert User.objects.get(username="nuevo").teams.count() == 1


def test_user_form_shows_action_errors_per_field(admin_user, client_for):
    UserFactory(username="repetido")
    response = client_for(admin_user).post(reverse("accounts:user_create"), {
        "username": "repetido", "full_name": "X", "role": "agente", "language": "es", "password": "Clave-segura-2026",
    })
    assert response.status_code == 200
    assert "ya existe" in response.content.decode()


def test_set_availability_htmx_returns_the_switch(agent, client_for):
    response = client_for(agent).post(reverse("accounts:set_availability"), {"availability": "ocupado"},
                                      headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'value="ocupado" selected' in response.content.decode()


def test_language_preference_switches_ui_to_english(agent, client_for):
    client = client_for(agent)
    client.post(reverse("accounts:profile"), {"form": "language", "language": "en"})
    response = client.get(reverse("core:home"))
    assert response["Content-Language"] == "en"
    assert "Sign out" in response.content.decode()


def test_profile_creates_token_shown_once(agent, client_for):
    client = client_for(agent)
    response = client.post(reverse("accounts:profile"), {"form": "token", "name": "mi script"})
    assert "ctl_" in response.content.decode()
    assert "ctl_" not in client.get(reverse("accounts:profile")).content.decode()


def test_password_change_keeps_session_and_audits(agent, client_for):
    client = client_for(agent)
    response = client.post(reverse("accounts:password_change"), {
        "old_password": DEFAULT_PASSWORD, "new_password1": "Otra-clave-2026", "new_password2": "Otra-clave-2026"})
    assert response.status_code == 302
    assert client.get(reverse("core:home")).status_code == 200
    assert AuditLog.objects.filter(action="user.password_set").exists()


def test_presence_page_lists_agents(supervisor, agent, client_for):
    response = client_for(supervisor).get(reverse("accounts:presence"))
    assert f'data-testid="presence-{agent.username}"' in response.content.decode()
