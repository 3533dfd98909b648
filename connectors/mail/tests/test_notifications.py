"""Notification emails (assignment, @mention, task due) in the recipient's language, after commit, opt-out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from connectors.mail.models import MailProfile
from connectors.mail.tasks import notify_due_tasks
from connectors.mail.tests.helpers import queued_names, run_queued
from inbox import actions

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(db):
    c, _m, _new = actions.do_receive_inbound(channel="email", body="Hola", customer_name="Ana Pérez",
                                             emails=["ana@cliente.test"], subject="Pedido 1042")
    return c


def test_assignment_email_in_spanish(conversation, supervisor, django_capture_on_commit_callbacks):
    # given a Spanish-speaking agent
    agent = UserFactory(role=Role.AGENTE, username="marta", full_name="Marta Gómez", language="es")
    # when a supervisor assigns them the conversation / then one email is sent after commit
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_assign(supervisor, conversation.pk, assignee="marta")
    assert queued_names() == ["send_notification"]
    assert run_queued("send_notification") == [True]
    (email,) = mail.outbox
    assert email.to == [agent.email]
    assert email.subject == f"Conversación #{conversation.pk} asignada a usted (Ana Pérez)"
    assert "Hola, Marta Gómez:" in email.body and "le asignó esta conversación" in email.body
    assert "Cliente: Ana Pérez" in email.body and "Bandeja: Global · Correo" in email.body
    assert f"/inbox/{conversation.pk}/" in email.body
    assert email.extra_headers["Content-Language"] == "es"
    assert email.extra_headers["Auto-Submitted"] == "auto-generated"  # RFC 3834: no auto-reply loops


def test_assignment_email_in_english_for_an_english_user(conversation, supervisor,
                                                         django_capture_on_commit_callbacks):
    # given an agent whose language is English
    UserFactory(role=Role.AGENTE, username="john", full_name="John Smith", language="en")
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_assign(supervisor, conversation.pk, assignee="john")
    run_queued("send_notification")
    (email,) = mail.outbox
    # then the email is rendered under English (labels from the catalog; new sentences once translated)
    assert email.extra_headers["Content-Language"] == "en"
    assert "Customer: Ana Pérez" in email.body and "Inbox: Global · Email" in email.body
    assert "Cliente:" not in email.body


def test_taking_a_conversation_yourself_sends_nothing(conversation, supervisor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_assign(supervisor, conversation.pk, assignee=supervisor.username)
    assert "send_notification" not in queued_names()


def test_no_email_when_the_assignment_rolls_back(conversation, supervisor, django_capture_on_commit_callbacks):
    from django.db import transaction

    UserFactory(role=Role.AGENTE, username="marta")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        actions.check_assign(supervisor, conversation.pk, assignee="marta")
        raise RuntimeError("later step failed")
    assert "send_notification" not in queued_names()


def test_mention_emails_the_mentioned_users_not_the_author(conversation, supervisor,
                                                           django_capture_on_commit_callbacks):
    lucia = UserFactory(role=Role.AGENTE, username="lucia", language="es")
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_add_note(supervisor, conversation.pk,
                               body=f"@lucia ¿puedes revisar el envío? @{supervisor.username}")
    run_queued("send_notification")
    (email,) = mail.outbox
    assert email.to == [lucia.email]
    assert email.subject == f"{supervisor.display_name} lo mencionó en la conversación #{conversation.pk}"
    assert "¿puedes revisar el envío?" in email.body


def test_due_task_emails_its_responsible_once_per_due_date(conversation, supervisor, time_machine,
                                                           django_capture_on_commit_callbacks):
    time_machine.move_to("2026-11-20 10:00:00-05:00", tick=False)
    responsible = UserFactory(role=Role.AGENTE, username="pedro", language="en")
    task = actions.check_create_task(supervisor, conversation.pk, title="Llamar a la transportadora",
                                     responsible="pedro", due_at=timezone.now() + timedelta(minutes=30))
    # when the job runs before the due time / then nothing; after it / then one email
    assert notify_due_tasks.call() == 0
    time_machine.shift(timedelta(minutes=31))
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_due_tasks.call() == 1
        assert notify_due_tasks.call() == 0
    run_queued("send_notification")
    (email,) = mail.outbox
    assert email.to == [responsible.email] and "Llamar a la transportadora" in email.subject
    assert "Task: Llamar a la transportadora" in email.body and "Customer: Ana Pérez" in email.body
    # when the task gets a new due date and it passes / then it is notified again
    type(task).objects.filter(pk=task.pk).update(due_at=timezone.now() + timedelta(minutes=5))
    time_machine.shift(timedelta(minutes=6))
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_due_tasks.call() == 1


def test_users_who_opted_out_get_nothing(conversation, supervisor, django_capture_on_commit_callbacks):
    agent = UserFactory(role=Role.AGENTE, username="marta")
    MailProfile.objects.create(user=agent, notifications=False)
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_assign(supervisor, conversation.pk, assignee="marta")
    assert run_queued("send_notification") == [False]
    assert not mail.outbox
