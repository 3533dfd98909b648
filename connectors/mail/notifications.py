"""System notification emails (assignment, @mention, task due) through Django's mail system, each rendered in
the recipient's language. Users opt out in "Mi correo" (MailProfile.notifications).

The inbox calls `inbox.notifications.notify` inside its actions; `email_notifier` (registered in
MailConfig.ready) turns that into one task per recipient, enqueued after commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import User
from connectors.mail import tasks
from connectors.mail.models import MailProfile, TaskDueNotice
from core.tasks import enqueue_on_commit
from inbox.choices import TaskStatus
from inbox.models import Conversation, Message, Task

EVENTS = ("assigned", "mention", "task_due", "sla_breached")
DUE_LOOKBACK = timedelta(days=1)  # tasks overdue for longer (e.g. on first deployment) are not mailed at once
NOTE_EXCERPT = 500


def email_notifier(event: str, user_ids: list[int], data: dict[str, Any]) -> None:
    if event not in EVENTS:
        return
    for user_id in user_ids:
        enqueue_on_commit(tasks.send_notification, event, user_id, data)


def do_send_notification(event: str, user_id: int, data: dict[str, Any]) -> bool:
    """Renders and sends one notification; False when there is nothing to send (no email, opted out, gone)."""

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email or event not in EVENTS:
        return False
    if MailProfile.objects.filter(user=user, notifications=False).exists():
        return False
    conversation = (Conversation.objects.select_related("customer", "inbox")
                    .filter(pk=int(data.get("conversation_id") or 0)).first())
    if conversation is None:
        return False
    actor = User.objects.filter(pk=int(data["actor_id"])).first() if data.get("actor_id") else None
    context: dict[str, Any] = {
        "user": user, "c": conversation, "actor": actor,
        "url": settings.SITE_URL.rstrip("/") + reverse("inbox:detail", args=[conversation.pk]),
    }
    if event == "mention":
        note = Message.objects.filter(pk=int(data.get("note_id") or 0)).first()
        context["note"] = note.body[:NOTE_EXCERPT] if note is not None else ""
    if event == "task_due":
        task = Task.objects.filter(pk=int(data.get("task_id") or 0)).first()
        if task is None:
            return False
        context["task"] = task
    if event == "sla_breached":
        context["target"] = str(data.get("target") or "")
        context["due"] = datetime.fromisoformat(str(data["due"])) if data.get("due") else None
    language = user.language or settings.LANGUAGE_CODE
    with translation.override(language):
        subject = " ".join(render_to_string(f"mail/notifications/{event}_subject.txt", context).split())
        body = render_to_string(f"mail/notifications/{event}.txt", context)
    message = EmailMessage(subject=subject, body=body, to=[user.email],
                           headers={"Content-Language": language, "Auto-Submitted": "auto-generated"})
    message.send()
    return True


def do_notify_due_tasks(*, now: datetime | None = None, limit: int = 200) -> int:
    """Emails the responsible of each open task that fell due (once per task and due date). Safe to repeat."""

    now = now or timezone.now()
    due = list(Task.objects.filter(status=TaskStatus.OPEN, due_at__lte=now, due_at__gte=now - DUE_LOOKBACK)
               .order_by("due_at", "pk").values_list("pk", "due_at", "responsible_id", "conversation_id")[:limit * 2])
    done = set(TaskDueNotice.objects.filter(task_id__in=[d[0] for d in due]).values_list("task_id", "due_at"))
    sent = 0
    for task_id, due_at, responsible_id, conversation_id in due:
        if due_at is None or (task_id, due_at) in done or sent >= limit:
            continue
        try:
            with transaction.atomic():
                TaskDueNotice.objects.create(task_id=task_id, due_at=due_at)
                enqueue_on_commit(tasks.send_notification, "task_due", responsible_id,
                                  {"task_id": task_id, "conversation_id": conversation_id})
        except IntegrityError:  # another run noted it first
            continue
        sent += 1
    return sent
