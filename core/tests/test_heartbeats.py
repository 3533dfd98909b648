"""Issue 13: each worker and scheduler writes its own heartbeat; a silent one is flagged on the system page and in a
banner for those who may see it, until it is replaced on its machine or dismissed. Time is driven by time-machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.roles import Role
from core import heartbeats
from core.errors import PermissionDeniedError
from core.models import AuditLog, Heartbeat

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)


def row(process: str, *, kind: str = "worker", host: str = "srv-1", pid: int = 100, started: datetime = T0,
        seen: datetime = T0, state: str = "running") -> Heartbeat:
    return Heartbeat.objects.create(process=process, kind=kind, host=host, pid=pid, started_at=started,
                                    seen_at=seen, state=state)


def test_a_process_beats_for_itself_and_a_clean_stop_is_not_an_alert():
    with time_machine.travel(T0, tick=False) as clock:
        # given a worker process that beats
        heartbeats.beat("worker")
        (mine,) = Heartbeat.objects.all()
        assert (mine.kind, mine.state, mine.seen_at, mine.started_at) == ("worker", "running", T0, T0)
        clock.shift(timedelta(seconds=5))
        heartbeats.beat("worker")
        mine.refresh_from_db()
        assert mine.seen_at == T0 + timedelta(seconds=5) and mine.started_at == T0
        # when it stops cleanly and two minutes pass
        heartbeats.stopped("worker")
        clock.shift(timedelta(minutes=2))
        # then it is listed as stopped and nothing is silent
        (status,) = heartbeats.statuses()
        assert status.row.state == "stopped" and not status.silent
        assert heartbeats.silent() == []


def test_one_dead_worker_of_two_is_flagged_while_the_other_keeps_beating():
    # given two workers on two machines and a scheduler, all beating at T0
    row("worker srv-1:100")
    row("worker srv-2:200", host="srv-2", pid=200)
    row("scheduler srv-1:300", kind="scheduler", pid=300)
    # when srv-2's worker stops beating (SIGKILL) while the others go on for two minutes
    later = T0 + timedelta(minutes=2)
    Heartbeat.objects.exclude(process="worker srv-2:200").update(seen_at=later)
    with time_machine.travel(later, tick=False):
        # then exactly that worker is silent
        assert [s.row.process for s in heartbeats.silent()] == ["worker srv-2:200"]
        # until a new worker starts on srv-2 (systemd's restart): the dead one is then "replaced", not an alert
        row("worker srv-2:201", host="srv-2", pid=201, started=later, seen=later)
        assert heartbeats.silent() == []
        assert [s.row.process for s in heartbeats.statuses() if s.replaced] == ["worker srv-2:200"]


def test_a_silent_scheduler_does_not_make_beating_workers_look_dead():
    # given a scheduler that died at T0 and a worker that keeps beating
    row("scheduler srv-1:300", kind="scheduler", pid=300)
    row("worker srv-1:100", seen=T0 + timedelta(minutes=5))
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        # then only the scheduler is flagged
        assert [s.row.kind for s in heartbeats.silent()] == ["scheduler"]


def test_the_banner_and_the_system_page_show_a_silent_process_and_an_administrator_dismisses_it(
        make_user, client_for):
    admin, manager, agent = make_user(Role.ADMIN), make_user(Role.GERENTE), make_user(Role.AGENTE)
    dead = row("worker srv-2:200", host="srv-2", pid=200)
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        # when a manager opens any page, the banner says a process went silent; an agent sees no banner
        home = client_for(manager).get("/").content.decode()
        assert "Un proceso de fondo dejó de dar señales de vida." in home
        assert "dejó de dar señales" not in client_for(agent).get("/").content.decode()
        # and the system page lists it in red with its machine and last beat, without a dismiss button for managers
        page = client_for(manager).get("/system/").content.decode()
        assert 'class="row-alert"' in page and "srv-2" in page and "Sin señales" in page
        assert "Descartar aviso" not in page
        # when the manager tries to dismiss it anyway, it is refused; the administrator may
        assert client_for(manager).post(f"/system/processes/{dead.pk}/dismiss/").status_code == 403
        response = client_for(admin).post(f"/system/processes/{dead.pk}/dismiss/")
        assert response.status_code == 302
        # then the alert is gone, and the audit log says who dismissed what
        assert heartbeats.silent() == []
        assert "dejó de dar señales" not in client_for(admin).get("/").content.decode()
        assert AuditLog.objects.filter(action="system.process_dismissed", actor=admin).count() == 1


def test_dismissing_needs_the_settings_permission():
    from accounts.tests.factories import UserFactory
    from core.actions import check_dismiss_process

    dead = row("worker srv-2:200")
    with pytest.raises(PermissionDeniedError):
        check_dismiss_process(UserFactory(role=Role.GERENTE), dead.pk)


def test_processes_not_seen_for_a_week_are_forgotten():
    row("worker srv-1:100", seen=T0 - timedelta(days=8))
    row("worker srv-1:101", pid=101, seen=T0 - timedelta(days=1))
    with time_machine.travel(T0, tick=False):
        assert heartbeats.prune() == 1
    assert list(Heartbeat.objects.values_list("process", flat=True)) == ["worker srv-1:101"]


def test_a_live_process_cannot_be_dismissed(make_user):
    from core.actions import check_dismiss_process
    from core.errors import ConflictError

    live = row("worker srv-1:100")
    with time_machine.travel(T0 + timedelta(seconds=10), tick=False), pytest.raises(ConflictError):
        check_dismiss_process(make_user(Role.ADMIN), live.pk)
    live.refresh_from_db()
    assert live.state == "running"


def test_a_restarted_process_is_a_new_identity_even_with_the_same_host_and_pid(monkeypatch):
    # given a container restarted after SIGKILL: same hostname, PID 1 again
    first = heartbeats.identity()
    heartbeats._identity.clear()  # what a new process starts with
    # then its identity differs (heartbeat row, RQ worker name, lease holder), so the dead one stays dead
    second = heartbeats.identity()
    assert first != second and first.rsplit(":", 1)[0] == second.rsplit(":", 1)[0]
