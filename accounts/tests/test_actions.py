from __future__ import annotations

import json
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from accounts import actions
from accounts.choices import AVAILABILITY_TRANSITIONS, Availability
from accounts.models import AvailabilityEvent, BusinessHours, Holiday, User, business_hours_open
from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from core.errors import ActionError, ConflictError, PermissionDeniedError
from core.models import AuditLog

pytestmark = pytest.mark.django_db
BOGOTA = ZoneInfo("America/Bogota")


def test_admin_creates_user_with_teams_and_audit(admin_user):
    # given a team
    TeamFactory(code="ventas", name="Ventas")
    # when the admin creates an agent in it
    user = actions.check_create_user(admin_user, username="maria", password="Clave-segura-2026",
                                     full_name="María Peña", role="agente", teams=["ventas"])
    # then the user exists with the role, team, a usable password and an audit entry
    assert user.role == Role.AGENTE
    assert list(user.teams.values_list("code", flat=True)) == ["ventas"]
    assert user.check_password("Clave-segura-2026")
    entry = AuditLog.objects.get(action="user.created")
    assert entry.actor == admin_user and entry.target_id == str(user.pk)


@pytest.mark.parametrize(("field", "value", "code"), [
    ("role", "jefe", "invalid_role"),
    ("password", "123", "invalid_password"),
    ("teams", ["no-existe"], "unknown_team"),
    ("username", "", "missing_fields"),
])
def test_create_user_rejects_bad_input_and_writes_nothing(admin_user, field, value, code):
    # given valid data except one field
    data = {"username": "pedro", "password": "Clave-segura-2026", "full_name": "Pedro Gómez", "role": "agente"}
    data[field] = value
    before = User.objects.count()
    # when / then the action refuses with a stable code, and nothing is half-written
    with pytest.raises(ActionError) as exc:
        actions.check_create_user(admin_user, **data)
    assert exc.value.code == code
    assert User.objects.count() == before
    assert not AuditLog.objects.filter(action="user.created").exists()


def test_duplicate_username_is_a_conflict(admin_user):
    UserFactory(username="lucia")
    with pytest.raises(ConflictError):
        actions.check_create_user(admin_user, username="LUCIA", password="Clave-segura-2026",
                                  full_name="Lucía", role="agente")


def test_only_admins_create_users(supervisor):
    with pytest.raises(PermissionDeniedError):
        actions.check_create_user(supervisor, username="x", password="Clave-segura-2026", full_name="X",
                                  role="agente")


def test_role_change_is_audited_with_old_and_new(admin_user, agent):
    # when the admin promotes the agent
    actions.check_update_user(admin_user, agent.pk, role="supervisor")
    # then the audit log has the role change with both values
    entry = AuditLog.objects.get(action="user.role_changed")
    assert entry.changes == {"role": ["agente", "supervisor"]}
    agent.refresh_from_db()
    assert agent.role == "supervisor"


def test_admin_cannot_demote_or_deactivate_self(admin_user):
    with pytest.raises(ActionError):
        actions.check_update_user(admin_user, admin_user.pk, role="agente")
    with pytest.raises(ActionError):
        actions.check_update_user(admin_user, admin_user.pk, is_active=False)


@pytest.mark.parametrize("current", list(Availability))
@pytest.mark.parametrize("target", list(Availability))
def test_availability_transition_table_exhaustively(current, target, django_capture_on_commit_callbacks):
    # given a user in `current`
    user = UserFactory(availability=current)
    # when they move to `target`
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = actions.do_change_availability(user.pk, to=target, acting_user=user)
    # then allowed moves change state and write one history row + one event; same-state is a no-op
    events = AvailabilityEvent.objects.filter(user=user)
    if current == target:
        assert result.availability == current and not events.exists() and not callbacks
    else:
        assert target in AVAILABILITY_TRANSITIONS[current]
        assert result.availability == target
        assert list(events.values_list("from_state", "to_state")) == [(current.value, target.value)]
        assert len(callbacks) == 1


def test_availability_event_goes_to_viewers_and_self(agent, supervisor, make_user,
                                                     django_capture_on_commit_callbacks):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from realtime.events import topic_group, user_group
    from realtime.topics import topics_for

    # given an analyst (who sees colleagues' availability in the team chat), a supervisor (who watches the team) and
    # a deactivated account (no permissions), each listening on the layer with the groups their websocket joins
    # (their own, and the topics of their permissions)
    analyst = make_user(Role.ANALISTA)
    gone = make_user(Role.ANALISTA, is_active=False)
    layer = get_channel_layer()
    inbox = {u.pk: async_to_sync(layer.new_channel)() for u in (agent, supervisor, analyst, gone)}
    for user in (agent, supervisor, analyst, gone):
        for group in [user_group(user.pk), *(topic_group(t) for t in topics_for(user))]:
            async_to_sync(layer.group_add)(group, inbox[user.pk])
    # when the agent becomes busy and the transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_change_availability(agent, agent.pk, to="ocupado")
    # then the agent, the supervisor and the analyst receive the event carrying the change; the deactivated nothing
    for user in (agent, supervisor, analyst):
        event = json.loads(async_to_sync(layer.receive)(inbox[user.pk])["text"])
        assert event["type"] == "presence" and event["op"] == "update"
        assert event["availability"] == "ocupado" and event["user_id"] == agent.pk
    assert layer.channels.get(inbox[gone.pk]) is None or layer.channels[inbox[gone.pk]].empty()


def test_unknown_availability_is_refused(agent):
    with pytest.raises(ActionError) as exc:
        actions.check_change_availability(agent, agent.pk, to="durmiendo")
    assert exc.value.code == "invalid_availability"


def test_business_hours_and_holidays(admin_user):
    # given a team open Mon-Fri 08:00-18:00 and a national holiday
    team = TeamFactory()
    actions.check_set_business_hours(admin_user, team.pk, intervals=[(d, time(8), time(18)) for d in range(5)])
    Holiday.objects.create(team=None, date="2026-12-08", name="Inmaculada Concepción")
    # then it is open on a Monday morning, closed at night, on Sunday and on the holiday
    assert business_hours_open(team, datetime(2026, 11, 23, 9, 0, tzinfo=BOGOTA))
    assert not business_hours_open(team, datetime(2026, 11, 23, 19, 0, tzinfo=BOGOTA))
    assert not business_hours_open(team, datetime(2026, 11, 22, 10, 0, tzinfo=BOGOTA))
    assert not business_hours_open(team, datetime(2026, 12, 8, 10, 0, tzinfo=BOGOTA))
    assert BusinessHours.objects.filter(team=team).count() == 5


def test_business_hours_reject_inverted_interval(admin_user):
    team = TeamFactory()
    with pytest.raises(ActionError):
        actions.check_set_business_hours(admin_user, team.pk, intervals=[(0, time(18), time(8))])


def test_api_token_is_stored_hashed_and_revocable(agent):
    # when the agent creates a token
    token, raw = actions.check_create_api_token(agent, name="integración")
    # then only its hash is stored, it authenticates, and after revoking it does not
    assert raw.startswith("ctl_") and raw not in token.key_hash
    assert actions.authenticate_api_token(raw) == agent
    actions.check_revoke_api_token(agent, token.pk)
    assert actions.authenticate_api_token(raw) is None


def test_cannot_revoke_someone_elses_token(agent, make_user):
    other = make_user()
    token, _raw = actions.check_create_api_token(other, name="x")
    with pytest.raises(ActionError):
        actions.check_revoke_api_token(agent, token.pk)


def test_login_throttle_window(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_LOCKOUT_SECONDS = 600
    with time_machine.travel(datetime(2026, 11, 21, 10, 0, tzinfo=BOGOTA), tick=False) as traveller:
        for _ in range(3):
            actions.record_login_failure("ana", "10.0.0.1")
        assert actions.login_throttled("ana", "10.0.0.1") == "username_ip"
        assert actions.login_throttled("ANA", "10.0.0.1") == "username_ip"
        # the same name from another address, and another name from the same address, are not locked
        assert actions.login_throttled("ana", "10.0.0.9") is None
        assert actions.login_throttled("beto", "10.0.0.1") is None
        traveller.shift(601)
        assert actions.login_throttled("ana", "10.0.0.1") is None


def test_login_throttle_per_address_and_per_username_backstop(settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    settings.LOGIN_IP_FAILURE_LIMIT = 4
    settings.LOGIN_USERNAME_FAILURE_LIMIT = 6
    for n in range(4):
        actions.record_login_failure(f"user{n}", "10.0.0.1")
    assert actions.login_throttled("nadie", "10.0.0.1") == "ip"
    assert actions.login_throttled("nadie", "10.0.0.2") is None
    for n in range(6):
        actions.record_login_failure("ana", f"10.1.0.{n}")
    assert actions.login_throttled("ana", "10.2.0.1") == "username"
    # an unknown address (no peer) is one bucket of its own, not a free pass
    for _ in range(4):
        actions.record_login_failure("beto", None)
    assert actions.login_throttled("carla", None) == "ip"
