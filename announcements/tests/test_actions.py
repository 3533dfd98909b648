"""Actions of announcements: who may publish, the audience's snapshot, scheduling, the state machine and its history,
pinning, confirming and reading, reminders; audit entries, domain events and realtime events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.tasks import default_task_backend

from accounts.roles import Role
from accounts.tests.factories import TeamFactory
from announcements import actions, selectors
from announcements.actions import AnnouncementInput
from announcements.choices import ANNOUNCEMENT_TRANSITIONS, AnnouncementState
from announcements.models import Announcement, AnnouncementRecipient, AnnouncementReminder, AnnouncementTransition
from announcements.tasks import publish_due_announcements
from announcements.tests.factories import PNG, AnnouncementFactory, publish
from core.errors import ActionError, ConflictError, InvalidTransition, NotFoundError, PermissionDeniedError
from core.models import AuditLog, EventLog
from inbox.attachments import Upload

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def ops(sent, op):
    return [s for s in sent if s["event"]["op"] == op]


# --- who writes ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.ADMIN, Role.GERENTE, Role.SUPERVISOR, Role.DIRECTOR_VENTAS])
def test_managers_supervisors_and_admins_publish(role, make_user, agent):
    announcement = publish(make_user(role), title="Horario de fin de año")
    assert announcement.state == AnnouncementState.PUBLISHED


@pytest.mark.parametrize("role", [Role.AGENTE, Role.ANALISTA])
def test_agents_and_analysts_do_not_publish(role, make_user):
    with pytest.raises(PermissionDeniedError):
        publish(make_user(role))
    assert not Announcement.objects.exists()


def test_every_problem_is_reported_at_once(supervisor):
    with pytest.raises(ActionError) as refused:
        actions.check_save_announcement(supervisor, announcement_id=None, data=AnnouncementInput(
            title="  ", category="chisme", everyone=False, team_ids=[987654], pinned_until=date(2000, 1, 1),
            image=Upload(name="x.svg", content_type="image/svg+xml", data=b"<svg/>")))
    assert refused.value.code == "invalid_announcement"
    assert set(refused.value.details["errors"]) == {"title", "category", "teams", "pinned_until", "image"}
    assert not Announcement.objects.exists()


def test_a_new_announcement_is_a_draft_with_an_audit_entry(supervisor, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        announcement = actions.check_save_announcement(supervisor, announcement_id=None, data=AnnouncementInput(
            title="  Cambio   de turnos ", body=" Desde **enero**. ", category="procedimiento"))
    announcement.refresh_from_db()
    assert (announcement.title, announcement.body, announcement.state, announcement.author) == (
        "Cambio de turnos", "Desde **enero**.", AnnouncementState.DRAFT, supervisor)
    assert AuditLog.objects.filter(action="announcement.created", target_id=str(announcement.pk)).exists()
    assert not AnnouncementRecipient.objects.exists()  # nobody gets a draft
    assert not EventLog.objects.filter(type__startswith="announcement.").exists()
    assert sent == []


def test_the_same_form_sent_twice_publishes_one_announcement(supervisor, agent, sent,
                                                            django_capture_on_commit_callbacks):
    # given a form's one-time token
    data = AnnouncementInput(title="Cierre por inventario", body="El sábado no se atiende.", category="novedad")
    # when it is saved and published twice with it (a double click)
    with django_capture_on_commit_callbacks(execute=True):
        first = actions.check_save_announcement(supervisor, announcement_id=None, data=data, publish=True,
                                                form_token="a" * 32)
    with django_capture_on_commit_callbacks(execute=True):
        second = actions.check_save_announcement(supervisor, announcement_id=None, data=data, publish=True,
                                                 form_token="a" * 32)
    # then one announcement exists, published, audited and announced once; another token writes another
    assert second.pk == first.pk and Announcement.objects.count() == 1
    assert AuditLog.objects.filter(action="announcement.published").count() == 1
    assert len(ops(sent, "published")) == 1
    actions.check_save_announcement(supervisor, announcement_id=None, data=data, form_token="b" * 32)
    assert Announcement.objects.count() == 2


# --- the audience's snapshot ----------------------------------------------------------------------------------------

def test_publishing_to_teams_snapshots_their_active_members(supervisor, make_user, sent,
                                                            django_capture_on_commit_callbacks):
    # given two teams with members, one inactive member, and somebody in both teams
    ventas, soporte, otros = TeamFactory(name="Ventas"), TeamFactory(name="Soporte"), TeamFactory(name="Otros")
    ana = make_user(teams=[ventas])
    beto = make_user(teams=[ventas, soporte])
    make_user(teams=[ventas], is_active=False)
    make_user(teams=[otros])
    supervisor.teams.set([ventas])  # the author is in the audience but needs no banner
    # when a supervisor publishes to Ventas and Soporte
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        announcement = publish(supervisor, everyone=False, team_ids=[ventas.pk, soporte.pk], requires_ack=True)
    # then one row per active member, once each, and the event after commit
    rows = AnnouncementRecipient.objects.filter(announcement=announcement)
    assert sorted(rows.values_list("user_id", flat=True)) == sorted([ana.pk, beto.pk])
    assert all(r.cleared_at is None and r.added_at == NOW for r in rows)
    assert announcement.published_at == NOW
    event = EventLog.objects.get(type="announcement.published")
    assert event.payload == {"announcement_id": announcement.pk, "title": "Nueva política de devoluciones",
                             "category": "novedad", "requires_ack": True, "everyone": False,
                             "team_ids": sorted([ventas.pk, soporte.pk]), "recipients": 2, "scheduled": False}
    assert list(AuditLog.objects.filter(target_id=str(announcement.pk)).order_by("pk")
                .values_list("action", flat=True)) == ["announcement.created", "announcement.published"]
    # and the realtime event goes to those people and to the publishers
    (published,) = ops(sent, "published")
    assert published["event"] == {**published["event"], "type": "announcement", "op": "published",
                                  "announcement_id": announcement.pk, "requires_ack": True}
    assert {ana.pk, beto.pk, supervisor.pk} <= set(published["users"])


def test_publishing_to_everyone_skips_who_cannot_sign_in(supervisor, make_user):
    agent = make_user()
    make_user(can_login=False)
    make_user(is_active=False)
    announcement = publish(supervisor)
    assert list(announcement.recipients.values_list("user_id", flat=True)) == [agent.pk]


def test_an_audience_without_active_people_is_refused(supervisor, make_user):
    empty = TeamFactory()
    make_user(teams=[empty], is_active=False)
    with pytest.raises(ActionError) as refused:
        publish(supervisor, everyone=False, team_ids=[empty.pk])
    assert refused.value.code == "empty_audience"
    assert not Announcement.objects.exists()  # the whole save rolled back


def test_people_who_join_later_read_it_and_may_confirm_on_their_own(supervisor, make_user, sent):
    # given an announcement published to Ventas
    ventas = TeamFactory(name="Ventas")
    make_user(teams=[ventas])
    announcement = publish(supervisor, everyone=False, team_ids=[ventas.pk], requires_ack=True)
    # when somebody joins Ventas afterwards
    newcomer = make_user(teams=[ventas])
    # then it is not in their banner, but they read it and may confirm it
    assert selectors.banner_rows(newcomer) == []
    assert selectors.visible_announcements(newcomer).filter(pk=announcement.pk).exists()
    row, changed = actions.check_acknowledge(newcomer, announcement_id=announcement.pk)
    assert changed and row.late and row.acked_at is not None
    # and somebody outside the audience does not even see it
    outsider = make_user()
    with pytest.raises(NotFoundError):
        actions.check_acknowledge(outsider, announcement_id=announcement.pk)


def test_a_publisher_outside_the_audience_cannot_confirm(supervisor, make_user):
    ventas = TeamFactory()
    make_user(teams=[ventas])
    announcement = publish(supervisor, everyone=False, team_ids=[ventas.pk], requires_ack=True)
    with pytest.raises(ConflictError) as refused:
        actions.check_acknowledge(make_user(Role.GERENTE), announcement_id=announcement.pk)
    assert refused.value.code == "not_addressed"


# --- scheduling ----------------------------------------------------------------------------------------------

def test_a_future_time_schedules_it_and_the_task_publishes_it_once(supervisor, agent, sent,
                                                                   django_capture_on_commit_callbacks):
    # given an announcement scheduled for 9:00 tomorrow
    with time_machine.travel(NOW, tick=False):
        announcement = publish(supervisor, publish_at=NOW + timedelta(hours=18))
        assert announcement.state == AnnouncementState.SCHEDULED
        assert publish_due_announcements.call() == 0  # not due yet
    assert not announcement.recipients.exists() and ops(sent, "published") == []
    # when the periodic task runs after its time, twice
    with time_machine.travel(NOW + timedelta(hours=18, seconds=30), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        assert publish_due_announcements.call() == 1
        assert publish_due_announcements.call() == 0
    # then it was published once, by nobody (the scheduler), and its people were snapshot then
    announcement.refresh_from_db()
    assert announcement.state == AnnouncementState.PUBLISHED
    assert announcement.published_at == NOW + timedelta(hours=18, seconds=30)
    assert list(announcement.recipients.values_list("user_id", flat=True)) == [agent.pk]
    assert list(AnnouncementTransition.objects.filter(announcement=announcement)
                .values_list("from_state", "to_state", "actor")) == [("borrador", "programado", supervisor.pk),
                                                                    ("programado", "publicado", None)]
    assert EventLog.objects.get(type="announcement.published").payload["scheduled"] is True
    published = AuditLog.objects.get(action="announcement.published")
    assert (published.actor, published.changes) == (None, {"recipients": 1, "scheduled": True})
    assert len(ops(sent, "published")) == 1


def test_the_task_publishes_a_bounded_batch_and_queues_itself_for_the_rest(supervisor, agent, monkeypatch):
    # given three announcements due, and batches of two
    with time_machine.travel(NOW, tick=False):
        for _ in range(3):
            publish(supervisor, publish_at=NOW + timedelta(minutes=5))
    monkeypatch.setattr(actions, "DUE_BATCH", 2)
    default_task_backend.clear()
    # when the task runs after their time
    with time_machine.travel(NOW + timedelta(minutes=6), tick=False):
        assert publish_due_announcements.call() == 2
        # then it queued itself for the third, which the next run publishes
        assert [r.task.name for r in default_task_backend.results] == ["publish_due_announcements"]
        assert publish_due_announcements.call() == 1
    assert Announcement.objects.filter(state=AnnouncementState.PUBLISHED).count() == 3


def test_a_scheduled_announcement_goes_back_to_draft_and_is_published_now_on_demand(supervisor, agent):
    with time_machine.travel(NOW, tick=False):
        announcement = publish(supervisor, publish_at=NOW + timedelta(days=1))
        actions.check_unschedule(supervisor, announcement_id=announcement.pk)
        announcement.refresh_from_db()
        assert announcement.state == AnnouncementState.DRAFT
        assert actions.do_publish_due(now=NOW + timedelta(days=2)) == 0  # a draft waits for its publisher
        actions.check_publish(supervisor, announcement_id=announcement.pk)  # the time is still ahead: scheduled
        announcement.refresh_from_db()
        assert announcement.state == AnnouncementState.SCHEDULED
        actions.check_publish(supervisor, announcement_id=announcement.pk)  # "Publicar ahora"
        announcement.refresh_from_db()
        assert announcement.state == AnnouncementState.PUBLISHED and announcement.published_at == NOW


def test_a_scheduled_one_saved_keeps_a_future_time(supervisor, agent):
    with time_machine.travel(NOW, tick=False):
        announcement = publish(supervisor, publish_at=NOW + timedelta(days=1))
        with pytest.raises(ActionError) as refused:
            actions.check_save_announcement(supervisor, announcement_id=announcement.pk,
                                            data=AnnouncementInput(title="Otro título", publish_at=None))
    assert set(refused.value.details["errors"]) == {"publish_at"}


def test_a_publication_more_than_a_year_ahead_is_refused(supervisor):
    with time_machine.travel(NOW, tick=False), pytest.raises(ActionError) as refused:
        publish(supervisor, publish_at=NOW + timedelta(days=400))
    assert set(refused.value.details["errors"]) == {"publish_at"}


# --- the state machine ---------------------------------------------------------------------------------------

def test_a_published_announcement_is_not_edited_nor_deleted(supervisor, agent):
    announcement = publish(supervisor)
    with pytest.raises(ConflictError) as refused:
        actions.check_save_announcement(supervisor, announcement_id=announcement.pk,
                                        data=AnnouncementInput(title="Otro"))
    assert refused.value.code == "announcement_not_editable"
    with pytest.raises(ConflictError) as refused:
        actions.check_delete(supervisor, announcement_id=announcement.pk)
    assert refused.value.code == "announcement_not_deletable"
    with pytest.raises(ConflictError) as refused:
        actions.check_publish(supervisor, announcement_id=announcement.pk)
    assert refused.value.code == "already_published"


def test_archiving_hides_it_from_its_readers_and_their_banners(supervisor, agent, sent,
                                                               django_capture_on_commit_callbacks):
    announcement = publish(supervisor, requires_ack=True)
    assert [r.announcement_id for r in selectors.banner_rows(agent)] == [announcement.pk]
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        actions.check_archive(supervisor, announcement_id=announcement.pk)
    announcement.refresh_from_db()
    assert (announcement.state, announcement.archived_at) == (AnnouncementState.ARCHIVED, NOW)
    assert selectors.banner_rows(agent) == []
    assert not selectors.visible_announcements(agent).exists()
    assert selectors.visible_announcements(supervisor).filter(pk=announcement.pk).exists()  # kept with its acks
    assert announcement.recipients.count() == 1
    assert EventLog.objects.get(type="announcement.archived").payload["announcement_id"] == announcement.pk
    assert AuditLog.objects.get(action="announcement.archived").changes["recipients"] == 1
    (archived,) = ops(sent, "archived")
    assert agent.pk in archived["users"] and supervisor.pk in archived["users"]
    # and an archived announcement is final
    with pytest.raises(ConflictError):
        actions.check_archive(supervisor, announcement_id=announcement.pk)
    with pytest.raises(ConflictError):
        actions.check_publish(supervisor, announcement_id=announcement.pk)


def test_the_transition_function_refuses_what_the_table_forbids(supervisor, monkeypatch):
    monkeypatch.setitem(ANNOUNCEMENT_TRANSITIONS, AnnouncementState.DRAFT, frozenset())
    announcement = AnnouncementFactory()
    with pytest.raises(InvalidTransition):
        actions.do_transition_announcement(announcement, to=AnnouncementState.PUBLISHED, acting_user=supervisor)
    assert not AnnouncementTransition.objects.exists()
    assert actions.do_transition_announcement(announcement, to=AnnouncementState.DRAFT,
                                              acting_user=supervisor) is False


def test_the_table_declares_every_state():
    assert set(ANNOUNCEMENT_TRANSITIONS) == set(AnnouncementState)
    assert ANNOUNCEMENT_TRANSITIONS[AnnouncementState.ARCHIVED] == frozenset()


def test_a_draft_is_deleted_with_its_image(supervisor, django_capture_on_commit_callbacks):
    announcement = actions.check_save_announcement(supervisor, announcement_id=None, data=AnnouncementInput(
        title="Cumpleaños", image=Upload(name="torta.png", content_type="", data=PNG)))
    path = announcement.image["path"]
    assert path.startswith(f"announcements/{announcement.pk}/") and default_storage.exists(path)
    assert announcement.image["content_type"] == "image/png"
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_delete(supervisor, announcement_id=announcement.pk)
    assert not Announcement.objects.exists() and not default_storage.exists(path)
    assert AuditLog.objects.filter(action="announcement.deleted").exists()


def test_replacing_the_image_removes_the_old_file(supervisor, django_capture_on_commit_callbacks):
    announcement = actions.check_save_announcement(supervisor, announcement_id=None, data=AnnouncementInput(
        title="Cumpleaños", image=Upload(name="a.png", content_type="image/png", data=PNG)))
    old = announcement.image["path"]
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_save_announcement(supervisor, announcement_id=announcement.pk, data=AnnouncementInput(
            title="Cumpleaños", remove_image=True))
    announcement.refresh_from_db()
    assert announcement.image == {} and not default_storage.exists(old)


@pytest.mark.parametrize(("data", "ok"), [
    (PNG, True),
    (b"\xff\xd8\xff\xe0" + b"0" * 20, True),
    (b"GIF89a" + b"0" * 20, True),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", True),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', False),
    (b"<html><script>alert(1)</script>", False),
    (b"", False),
    (PNG + b"0" * actions.IMAGE_MAX_BYTES, False),
])
def test_only_raster_images_within_the_limit_are_taken(supervisor, data, ok):
    write = lambda: actions.check_save_announcement(supervisor, announcement_id=None, data=AnnouncementInput(  # noqa: E731
        title="Imagen", image=Upload(name="foto.png", content_type="image/png", data=data)))
    if ok:
        assert write().has_image
    else:
        with pytest.raises(ActionError) as refused:
            write()
        assert set(refused.value.details["errors"]) == {"image"}


# --- pinning and the list's order ------------------------------------------------------------------------------

def test_pinned_ones_come_first_until_their_day(supervisor, agent, frozen):
    old_pinned = publish(supervisor, title="Fijado", pinned_until=date(2026, 12, 9))
    frozen.shift(timedelta(hours=1))
    newest = publish(supervisor, title="Más nuevo")
    assert [a.title for a in selectors.listed(agent)] == ["Fijado", "Más nuevo"]
    # the day after its pin it takes its place by date
    frozen.move_to(datetime(2026, 12, 10, 15, 0, tzinfo=UTC))
    assert [a.pk for a in selectors.listed(agent)] == [newest.pk, old_pinned.pk]


def test_the_pin_changes_also_once_published(supervisor, agent, frozen):
    announcement = publish(supervisor)
    actions.check_set_pin(supervisor, announcement_id=announcement.pk, pinned_until=date(2026, 12, 31))
    announcement.refresh_from_db()
    assert announcement.pinned_until == date(2026, 12, 31) and announcement.is_pinned
    assert AuditLog.objects.filter(action="announcement.updated",
                                   changes__pinned_until=[None, "2026-12-31"]).exists()
    with pytest.raises(ActionError):
        actions.check_set_pin(supervisor, announcement_id=announcement.pk, pinned_until=date(2026, 12, 1))
    with pytest.raises(PermissionDeniedError):
        actions.check_set_pin(agent, announcement_id=announcement.pk, pinned_until=None)


# --- confirming and reading ----------------------------------------------------------------------------------------

def test_confirming_is_recorded_once_and_clears_the_banner(supervisor, agent, sent,
                                                           django_capture_on_commit_callbacks):
    announcement = publish(supervisor, requires_ack=True)
    sent.clear()
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        row, changed = actions.check_acknowledge(agent, announcement_id=announcement.pk)
        again, changed_again = actions.check_acknowledge(agent, announcement_id=announcement.pk)
    assert changed and not changed_again
    assert (row.acked_at, row.read_at, row.cleared_at) == (NOW, NOW, NOW) and again.acked_at == NOW
    assert selectors.banner_rows(agent) == []
    assert EventLog.objects.filter(type="announcement.acknowledged").count() == 1
    assert EventLog.objects.get(type="announcement.acknowledged").payload == {
        "announcement_id": announcement.pk, "user_id": agent.pk, "username": agent.username,
        "acked_at": NOW.isoformat()}
    (acked,) = ops(sent, "acknowledged")  # one event: pressing twice changes nothing
    assert acked["event"]["user_id"] == agent.pk
    assert agent.pk in acked["users"] and supervisor.pk in acked["users"]


def test_opening_one_that_asks_for_confirmation_reads_it_but_keeps_the_banner(supervisor, agent, sent):
    announcement = publish(supervisor, requires_ack=True)
    assert actions.check_mark_read(agent, announcement_id=announcement.pk) is True
    assert actions.check_mark_read(agent, announcement_id=announcement.pk) is False
    assert [r.announcement_id for r in selectors.banner_rows(agent)] == [announcement.pk]
    assert len(ops(sent, "read")) == 1


def test_one_without_confirmation_leaves_the_banner_once_read(supervisor, agent, sent):
    announcement = publish(supervisor, category="celebracion")
    assert [r.announcement_id for r in selectors.banner_rows(agent)] == [announcement.pk]
    actions.check_mark_read(agent, announcement_id=announcement.pk)
    assert selectors.banner_rows(agent) == []
    with pytest.raises(ConflictError) as refused:
        actions.check_acknowledge(agent, announcement_id=announcement.pk)
    assert refused.value.code == "ack_not_required"


def test_the_banner_lists_those_asking_for_confirmation_first(supervisor, agent, frozen):
    asks = publish(supervisor, title="Política", requires_ack=True)
    frozen.shift(timedelta(minutes=5))
    news = publish(supervisor, title="Novedad")
    frozen.shift(timedelta(minutes=5))
    newest_ask = publish(supervisor, title="Procedimiento", requires_ack=True)
    assert [r.announcement_id for r in selectors.banner_rows(agent)] == [newest_ask.pk, asks.pk, news.pk]
    assert [r.announcement_id for r in selectors.banner_rows(agent, exclude_id=asks.pk)] == [newest_ask.pk, news.pk]


# --- reminders ----------------------------------------------------------------------------------------------------

def test_a_reminder_reaches_only_who_has_not_confirmed_at_most_once_an_hour(supervisor, make_user, sent, frozen,
                                                                            django_capture_on_commit_callbacks):
    # given three people, one of whom confirmed, and one deactivated since
    ana, beto, carla = make_user(), make_user(), make_user()
    announcement = publish(supervisor, requires_ack=True)
    actions.check_acknowledge(ana, announcement_id=announcement.pk)
    carla.is_active = False
    carla.save(update_fields=["is_active"])
    sent.clear()
    # when a publisher reminds
    with django_capture_on_commit_callbacks(execute=True):
        assert actions.check_remind(supervisor, announcement_id=announcement.pk) == 1
    # then only Beto is reminded: recorded per person and in the log, with the event and an audit entry
    row = AnnouncementRecipient.objects.get(announcement=announcement, user=beto)
    assert (row.reminded_at, row.reminders, row.cleared_at) == (NOW, 1, None)
    assert AnnouncementRecipient.objects.get(announcement=announcement, user=ana).reminders == 0
    log = AnnouncementReminder.objects.get()
    assert (log.sent_by, log.at, log.recipients) == (supervisor, NOW, 1)
    assert EventLog.objects.get(type="announcement.reminded").payload == {"announcement_id": announcement.pk,
                                                                          "reminded": 1}
    assert AuditLog.objects.get(action="announcement.reminded").changes == {"recipients": 1}
    (reminded,) = ops(sent, "reminded")
    assert beto.pk in reminded["users"] and ana.pk not in reminded["users"] and carla.pk not in reminded["users"]
    # and another reminder within the hour is refused, by anyone; after it, allowed
    frozen.shift(timedelta(minutes=59))
    with pytest.raises(ConflictError) as refused:
        actions.check_remind(make_user(Role.GERENTE), announcement_id=announcement.pk)
    assert refused.value.code == "reminder_too_soon"
    assert refused.value.details["retry_at"] == (NOW + timedelta(hours=1)).isoformat()
    frozen.shift(timedelta(minutes=1))
    assert actions.check_remind(supervisor, announcement_id=announcement.pk) == 1
    assert AnnouncementRecipient.objects.get(announcement=announcement, user=beto).reminders == 2


def test_nobody_to_remind_and_nothing_to_remind(supervisor, agent):
    asks = publish(supervisor, requires_ack=True)
    actions.check_acknowledge(agent, announcement_id=asks.pk)
    with pytest.raises(ConflictError) as refused:
        actions.check_remind(supervisor, announcement_id=asks.pk)
    assert refused.value.code == "nobody_to_remind"
    news = publish(supervisor)
    with pytest.raises(ConflictError) as refused:
        actions.check_remind(supervisor, announcement_id=news.pk)
    assert refused.value.code == "ack_not_required"
    with pytest.raises(PermissionDeniedError):
        actions.check_remind(agent, announcement_id=asks.pk)
    assert not AnnouncementReminder.objects.exists()


def test_the_banner_marks_a_reminder(supervisor, agent):
    announcement = publish(supervisor, requires_ack=True)
    assert selectors.banner_rows(agent)[0].reminded_at is None
    actions.check_remind(supervisor, announcement_id=announcement.pk)
    (row,) = selectors.banner_rows(agent)
    assert row.reminded_at is not None and row.announcement_id == announcement.pk


# --- found by a second reading ----------------------------------------------------------------------------------


def test_the_scheduler_never_publishes_one_moved_later_nor_to_nobody(supervisor, agent):
    # given two announcements due at 10:05: one is then moved to next week, the other's team empties
    ventas = TeamFactory(name="Ventas", code="ventas-x")
    agent.teams.add(ventas)
    with time_machine.travel(NOW, tick=False):
        moved = publish(supervisor, publish_at=NOW + timedelta(minutes=5))
        emptied = publish(supervisor, publish_at=NOW + timedelta(minutes=5), everyone=False, team_ids=[ventas.pk])
    Announcement.objects.filter(pk=moved.pk).update(publish_at=NOW + timedelta(days=7))
    ventas.is_active = False
    ventas.save()
    # when the scheduler runs at 10:06 (`now` as it listed them)
    assert actions.do_publish_due(now=NOW + timedelta(minutes=6)) == 0
    # then the moved one waits for its new time and the other goes back to draft, audited, sent to nobody
    moved.refresh_from_db()
    emptied.refresh_from_db()
    assert moved.state == AnnouncementState.SCHEDULED
    assert emptied.state == AnnouncementState.DRAFT and not emptied.recipients.exists()
    assert AuditLog.objects.filter(action="announcement.unscheduled", changes__reason="empty_audience").exists()


def test_a_past_publication_time_means_at_once(supervisor, agent):
    with time_machine.travel(NOW, tick=False):
        announcement = publish(supervisor, publish_at=NOW - timedelta(days=3650))
    assert announcement.state == AnnouncementState.PUBLISHED and announcement.publish_at is None


def test_archiving_takes_it_out_of_every_banner_and_reminders_count_active_people(supervisor, agent, make_user):
    gone = make_user(Role.AGENTE)
    with time_machine.travel(NOW, tick=False):
        announcement = publish(supervisor, requires_ack=True)
    gone.is_active = False
    gone.save()
    counts = selectors.confirmation_counts(announcement)
    assert counts["pending"] == 2 and counts["remindable"] == 1
    actions.check_archive(supervisor, announcement_id=announcement.pk)
    assert not AnnouncementRecipient.objects.filter(announcement=announcement, cleared_at__isnull=True).exists()
