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
    response = client.get(reverse("accounts:home"))
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
    assert client.get(reverse("accounts:home")).status_code == 200
    assert AuditLog.objects.filter(action="user.password_set").exists()


def test_presence_page_lists_agents(supervisor, agent, client_for):
    response = client_for(supervisor).get(reverse("accounts:presence"))
    assert f'data-testid="presence-{agent.username}"' in response.content.decode()


# --- throttling that cannot be turned against the user (issue 12) ---------------------------------------------


def _login(client: Client, username: str, password: str) -> str:
    return client.post(reverse("accounts:login"), {"username": username, "password": password}).content.decode()


def test_an_attackers_failures_from_another_address_do_not_lock_the_user_out(agent, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXIES = []
    attacker = Client(REMOTE_ADDR="203.0.113.66", HTTP_X_FORWARDED_FOR="198.51.100.1")  # spoofed header: ignored
    for _ in range(10):
        _login(attacker, agent.username, "mal")
    assert "Demasiados intentos fallidos" in _login(attacker, agent.username, DEFAULT_PASSWORD)
    # the agent at their own desk still gets in with the right password
    user = Client(REMOTE_ADDR="198.51.100.1")
    response = user.post(reverse("accounts:login"), {"username": agent.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302 and user.session["_auth_user_id"] == str(agent.pk)


def test_one_address_is_limited_across_usernames_even_when_it_varies_the_header(agent, settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    settings.LOGIN_IP_FAILURE_LIMIT = 4
    settings.TRUSTED_PROXIES = []
    for n in range(4):
        spraying = Client(REMOTE_ADDR="203.0.113.66", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        assert "Usuario o contraseña incorrectos" in _login(spraying, f"usuario{n}", "mal")
    page = _login(Client(REMOTE_ADDR="203.0.113.66", HTTP_X_FORWARDED_FOR="198.51.100.99"), agent.username,
                  DEFAULT_PASSWORD)
    assert "Demasiados intentos fallidos desde esta dirección" in page
    # another address is unaffected
    other = Client(REMOTE_ADDR="203.0.113.67")
    assert other.post(reverse("accounts:login"),
                      {"username": agent.username, "password": DEFAULT_PASSWORD}).status_code == 302


def test_behind_a_trusted_proxy_each_client_address_is_throttled_separately(agent, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for _ in range(3):
        _login(Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.66"), agent.username, "mal")
    page = _login(Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.66"), agent.username,
                  DEFAULT_PASSWORD)
    assert "Demasiados intentos fallidos" in page  # prepending a made-up address does not escape the limit
    user = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert user.post(reverse("accounts:login"),
                     {"username": agent.username, "password": DEFAULT_PASSWORD}).status_code == 302


def test_username_backstop_refuses_logins_but_keeps_existing_sessions(agent, settings, client_for):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_USERNAME_FAILURE_LIMIT = 6
    logged_in = client_for(agent)
    for n in range(6):
        _login(Client(REMOTE_ADDR=f"203.0.113.{n + 1}"), agent.username, "mal")
    page = _login(Client(REMOTE_ADDR="198.51.100.1"), agent.username, DEFAULT_PASSWORD)
    assert "Demasiados intentos fallidos para este usuario" in page
    assert logged_in.get("/").status_code == 200
