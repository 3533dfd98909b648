"""The audit log tells what happened to announcements in sentences (auditlog.describe)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import translation

from announcements import actions
from announcements.tests.factories import publish
from auditlog.describe import annotate_audit
from core.models import AuditLog

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def sentences():
    rows = list(AuditLog.objects.filter(action__startswith="announcement.").select_related("actor").order_by("pk"))
    with translation.override("es"):
        annotate_audit(rows)
    return [row.text for row in rows]


def test_each_step_is_a_sentence(make_user, agent, settings):
    settings.TIME_ZONE = "America/Bogota"
    supervisor = make_user("supervisor", full_name="Fernanda Cárdenas")
    with time_machine.travel(NOW, tick=False):
        scheduled = publish(supervisor, title="Turnos de diciembre", publish_at=NOW + timedelta(hours=2))
        actions.check_unschedule(supervisor, announcement_id=scheduled.pk)
        actions.check_delete(supervisor, announcement_id=scheduled.pk)
        policy = publish(supervisor, title="Devoluciones a 45 días", requires_ack=True)
        actions.check_set_pin(supervisor, announcement_id=policy.pk, pinned_until=NOW.date() + timedelta(days=3))
        actions.check_remind(supervisor, announcement_id=policy.pk)
        actions.check_archive(supervisor, announcement_id=policy.pk)
    assert sentences() == [
        "Fernanda Cárdenas escribió el anuncio Turnos de diciembre",
        "Fernanda Cárdenas programó el anuncio Turnos de diciembre para el 07/12/2026 12:00",
        "Fernanda Cárdenas devolvió a borrador el anuncio programado Turnos de diciembre",
        "Fernanda Cárdenas borró el anuncio Turnos de diciembre",
        "Fernanda Cárdenas escribió el anuncio Devoluciones a 45 días",
        "Fernanda Cárdenas publicó el anuncio Devoluciones a 45 días para 1 persona",
        "Fernanda Cárdenas fijó el anuncio Devoluciones a 45 días hasta el 10/12/2026",
        "Fernanda Cárdenas recordó el anuncio Devoluciones a 45 días a 1 persona que no lo había confirmado",
        "Fernanda Cárdenas archivó el anuncio Devoluciones a 45 días",
    ]


def test_the_scheduler_publishing_is_said_so(supervisor, agent):
    with time_machine.travel(NOW, tick=False):
        publish(supervisor, title="Mañana", publish_at=NOW + timedelta(minutes=5))
    with time_machine.travel(NOW + timedelta(minutes=6), tick=False):
        actions.do_publish_due()
    assert sentences()[-1] == "El anuncio Mañana se publicó a la hora programada para 1 persona"
