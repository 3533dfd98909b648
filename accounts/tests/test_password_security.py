"""Issue 12: password rules everywhere a password is set, and API tokens revoked when it changes."""

from __future__ import annotations

import pytest
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts import actions
from accounts.models import ApiToken, User
from accounts.tests.factories import DEFAULT_PASSWORD
from core.errors import ActionError
from core.models import AuditLog

pytestmark = pytest.mark.django_db
SPACES = " " * 12


@pytest.mark.parametrize(("password", "fragment"), [
    (SPACES, "solo por espacios"),
    ("Corta-1", "por lo menos 10 caracteres"),
    ("12345678901234", "completamente numérica"),
    ("password1234", "demasiado común"),
])
def test_admin_cannot_create_a_user_with_a_weak_password(admin_user, password, fragment):
    # when an admin creates a user with a weak password
    with translation.override("es"), pytest.raises(ActionError) as exc:
        actions.check_create_user(admin_user, username="rosa", password=password, full_name="Rosa Díaz",
                                  role="agente")
    # then it is refused on the password field, in Spanish, and nobody is created
    assert exc.value.code == "invalid_password" and exc.value.details["field"] == "password"
    assert fragment in exc.value.message
    assert not User.objects.filter(username="rosa").exists()


def test_password_similar_to_the_username_is_refused(admin_user):
    with pytest.raises(ActionError) as exc:
        actions.check_create_user(admin_user, username="rosadiaz2026", password="rosadiaz2026",
                                  full_name="Rosa Díaz", role="agente")
    assert exc.value.code == "invalid_password"


def test_admin_reset_refuses_only_spaces_and_keeps_the_old_password(admin_user, agent):
    with pytest.raises(ActionError) as exc:
        actions.check_set_password(admin_user, agent.pk, password=SPACES)
    assert exc.value.code == "invalid_password"
    agent.refresh_from_db()
    assert agent.check_password(DEFAULT_PASSWORD)


def test_the_whitespace_rule_is_a_configured_validator():
    # so PasswordChangeForm, createsuperuser and changepassword refuse it too
    with pytest.raises(ValidationError) as exc:
        password_validation.validate_password(SPACES)
    assert "password_only_whitespace" in [e.code for e in exc.value.error_list]


def test_own_change_with_only_spaces_shows_a_spanish_error(agent, client_for):
    client = client_for(agent)
    response = client.post(reverse("accounts:password_change"), {
        "old_password": DEFAULT_PASSWORD, "new_password1": SPACES, "new_password2": SPACES},
        headers={"Accept-Language": "es"})
    assert response.status_code == 200 and "solo por espacios" in response.content.decode()
    agent.refresh_from_db()
    assert agent.check_password(DEFAULT_PASSWORD)


def test_admin_form_keeps_spaces_and_shows_the_validator_error(admin_user, agent, client_for):
    response = client_for(admin_user).post(reverse("accounts:user_edit", args=[agent.pk]), {"password": SPACES})
    assert response.status_code == 200 and "solo por espacios" in response.content.decode()
    agent.refresh_from_db()
    assert agent.check_password(DEFAULT_PASSWORD)


def test_api_refuses_weak_password_and_applies_nothing_of_the_patch(admin_user, agent, api_client_for):
    # when an admin PATCHes a role and a spaces-only password
    response = api_client_for(admin_user).patch(
        f"/api/v1/users/{agent.pk}", {"role": "supervisor", "password": SPACES}, content_type="application/json")
    # then 400 naming the password, with the Spanish message, and the role did not change either
    assert response.status_code == 400 and response.json()["field"] == "password"
    assert "espacios" in response.json()["detail"]
    agent.refresh_from_db()
    assert agent.role == "agente" and agent.check_password(DEFAULT_PASSWORD)


def test_api_create_user_refuses_spaces(admin_user, api_client_for):
    response = api_client_for(admin_user).post("/api/v1/users", {
        "username": "nuevo", "password": SPACES, "full_name": "Nuevo", "role": "agente"},
        content_type="application/json")
    assert response.status_code == 400 and response.json()["field"] == "password"


# --- tokens die with the password ----------------------------------------------------------------------------


def test_admin_reset_revokes_every_live_token_with_an_audit_record(admin_user, agent):
    # given an agent with two live tokens and one already revoked
    _t1, raw1 = actions.check_create_api_token(agent, name="uno")
    _t2, raw2 = actions.check_create_api_token(agent, name="dos")
    old, _raw = actions.check_create_api_token(agent, name="viejo")
    actions.check_revoke_api_token(agent, old.pk)
    # when an admin resets the password
    user, revoked = actions.check_set_password(admin_user, agent.pk, password="Nueva-clave-segura-26")
    # then both live tokens stop working, each revocation is audited with the reason, the old one is untouched
    assert user == agent and revoked == 2
    assert actions.authenticate_api_token(raw1) is None and actions.authenticate_api_token(raw2) is None
    audits = AuditLog.objects.filter(action="api_token.revoked", actor=admin_user)
    assert audits.count() == 2 and all(a.changes == {"reason": "password_changed"} for a in audits)
    assert not ApiToken.objects.filter(user=agent, revoked_at__isnull=True).exists()


def test_other_users_tokens_survive_a_reset(admin_user, agent, make_user):
    other = make_user()
    _t, raw = actions.check_create_api_token(other, name="ajeno")
    actions.check_set_password(admin_user, agent.pk, password="Nueva-clave-segura-26")
    assert actions.authenticate_api_token(raw) == other


def test_own_change_revokes_tokens_and_says_how_many(agent, client_for):
    # given an agent with two tokens
    _t, raw = actions.check_create_api_token(agent, name="uno")
    actions.check_create_api_token(agent, name="dos")
    client = client_for(agent)
    # when she changes her password in Mi perfil
    response = client.post(reverse("accounts:password_change"), {
        "old_password": DEFAULT_PASSWORD, "new_password1": "Otra-clave-2026", "new_password2": "Otra-clave-2026"},
        follow=True, headers={"Accept-Language": "es"})
    # then the session survives, the tokens are revoked and the message says so
    assert response.status_code == 200
    assert "Se revocaron sus 2 tokens de API" in response.content.decode()
    assert actions.authenticate_api_token(raw) is None


def test_admin_reset_in_the_browser_says_how_many_tokens_were_revoked(admin_user, agent, client_for):
    actions.check_create_api_token(agent, name="uno")
    response = client_for(admin_user).post(reverse("accounts:user_edit", args=[agent.pk]),
                                           {"password": "Nueva-clave-segura-26"}, follow=True)
    assert "Se revocó su token de API" in response.content.decode()


def test_no_tokens_no_mention(admin_user, agent, client_for):
    response = client_for(admin_user).post(reverse("accounts:user_edit", args=[agent.pk]),
                                           {"password": "Nueva-clave-segura-26"}, follow=True)
    body = response.content.decode()
    assert "Contraseña actualizada." in body and "token" not in body.split("Contraseña actualizada.")[1][:40]


def test_api_password_change_revokes_the_users_tokens(admin_user, agent, api_client_for):
    _t, raw = actions.check_create_api_token(agent, name="script")
    response = api_client_for(admin_user).patch(f"/api/v1/users/{agent.pk}", {"password": "Nueva-clave-segura-26"},
                                                content_type="application/json")
    assert response.status_code == 200
    assert Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/me").status_code == 401


def test_admin_sees_and_revokes_another_users_token_from_the_edit_page(admin_user, agent, client_for):
    token, raw = actions.check_create_api_token(agent, name="integración-x")
    client = client_for(admin_user)
    assert "integración-x" in client.get(reverse("accounts:user_edit", args=[agent.pk])).content.decode()
    response = client.post(reverse("accounts:token_revoke", args=[token.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("accounts:user_edit", args=[agent.pk])
    assert actions.authenticate_api_token(raw) is None
