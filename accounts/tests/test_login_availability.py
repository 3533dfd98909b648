"""Signing in makes a person Disponible (unless the organization keeps the previous state), through the
availability transition function, so history, audit and the presence event are the usual ones."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts import actions
from accounts.choices import Availability
from accounts.models import AvailabilityEvent, User
from accounts.tests.factories import DEFAULT_PASSWORD
from core.actions import check_update_site_settings
from core.models import AuditLog, AvailabilityOnLogin, SiteSettings

pytestmark = pytest.mark.django_db


def _keep_previous(admin: User) -> None:
    site = SiteSettings.load()
    check_update_site_settings(admin, company_name=site.company_name, default_language=site.default_language,
                               brand_color=site.brand_color, availability_on_login=AvailabilityOnLogin.KEEP)


def test_login_makes_an_offline_agent_available_with_history_and_event(agent, django_capture_on_commit_callbacks):
    # given an agent who logged out yesterday
    assert agent.availability == Availability.OFFLINE
    # when they sign in
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        user = actions.do_apply_availability_on_login(agent)
    # then they are Disponible, by their own hand, with one history row, an audit entry and a presence event
    assert user.availability == Availability.AVAILABLE
    event = AvailabilityEvent.objects.get(user=agent)
    assert (event.from_state, event.to_state, event.acting_user) == ("desconectado", "disponible", agent)
    assert AuditLog.objects.filter(action="user.availability_changed", target_id=str(agent.pk)).count() == 1
    assert len(callbacks) == 1


def test_login_leaves_an_available_agent_alone(make_user, django_capture_on_commit_callbacks):
    agent = make_user(availability=Availability.AVAILABLE)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        actions.do_apply_availability_on_login(agent)
    assert not AvailabilityEvent.objects.filter(user=agent).exists() and not callbacks


@pytest.mark.parametrize("previous", [Availability.OFFLINE, Availability.AWAY, Availability.BUSY])
def test_organization_may_keep_the_previous_state(admin_user, make_user, previous):
    # given an organization that keeps the state people had
    _keep_previous(admin_user)
    agent = make_user(availability=previous)
    # when the agent signs in, nothing changes
    assert actions.do_apply_availability_on_login(agent).availability == previous
    assert not AvailabilityEvent.objects.filter(user=agent).exists()


def test_signing_in_on_the_login_page_makes_the_agent_available(agent):
    response = Client().post(reverse("accounts:login"), {"username": agent.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.availability == Availability.AVAILABLE


def test_a_failed_login_changes_nothing(agent):
    Client().post(reverse("accounts:login"), {"username": agent.username, "password": "mal"})
    agent.refresh_from_db()
    assert agent.availability == Availability.OFFLINE


def test_programmatic_sessions_do_not_start_a_shift(agent):
    # Client.force_login (tests, scripts) is not a person at the login page: routing must not see them available
    Client().force_login(agent)
    agent.refresh_from_db()
    assert agent.availability == Availability.OFFLINE


def test_logout_sets_offline_again(agent):
    client = Client()
    client.post(reverse("accounts:login"), {"username": agent.username, "password": DEFAULT_PASSWORD})
    client.post(reverse("accounts:logout"))
    agent.refresh_from_db()
    assert agent.availability == Availability.OFFLINE
    assert list(AvailabilityEvent.objects.filter(user=agent).order_by("created_at", "id")
                .values_list("to_state", flat=True)) == ["disponible", "desconectado"]


# --- the top bar says when the person receives no work ---------------------------------------------------------


@pytest.mark.parametrize(("availability", "shown"), [("disponible", False), ("ausente", True),
                                                     ("ocupado", True), ("desconectado", True)])
def test_top_bar_notice_for_people_who_work_the_inbox(make_user, client_for, availability, shown):
    agent = make_user(availability=availability)
    html = client_for(agent).get("/").content.decode()
    assert 'id="availability-notice"' in html
    notice = html[html.index('id="availability-notice"'):]
    notice = notice[:notice.index("</p>")]
    assert (" hidden>" not in notice) == shown
    assert "No está recibiendo conversaciones nuevas" in notice


def test_no_notice_for_people_who_get_no_conversations(make_user, client_for):
    analyst = make_user("analista", availability="ausente")
    assert "availability-notice" not in client_for(analyst).get("/").content.decode()


def test_switching_availability_rerenders_the_notice(agent, client_for):
    response = client_for(agent).post(reverse("accounts:set_availability"), {"availability": "ausente"},
                                      headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "su estado es Ausente" in html


# --- notification preferences (Mi perfil) ---------------------------------------------------------------------


def test_own_notification_preferences_are_saved_and_audited(agent):
    user = actions.check_set_own_notifications(agent, notify_browser=True, notify_sound=False)
    assert (user.notify_browser, user.notify_sound) == (True, False)
    entry = AuditLog.objects.get(action="user.notifications_changed")
    assert entry.changes == {"notify_browser": [False, True]}
    actions.check_set_own_notifications(agent, notify_browser=True, notify_sound=False)  # unchanged: no new entry
    assert AuditLog.objects.filter(action="user.notifications_changed").count() == 1


def test_profile_form_saves_preferences_and_exposes_them_to_the_page(agent, client_for):
    client = client_for(agent)
    response = client.post(reverse("accounts:profile"), {"form": "notifications", "notify_sound": "on"})
    assert response.status_code == 302
    agent.refresh_from_db()
    assert (agent.notify_sound, agent.notify_browser) == (True, False)
    html = client.get(reverse("accounts:profile")).content.decode()
    assert 'data-notify-sound="on"' in html and 'data-notify-browser="off"' in html
    assert f'data-username="{agent.username}"' in html and f'data-user-id="{agent.pk}"' in html
