from __future__ import annotations

from django.tasks import task

from reports import actions
from reports.rollups import delete_beyond_horizon, refresh_all_dirty


@task()
def refresh_reports() -> int:
    """Folds changed conversations into the dashboard's rollups (and trims the two-year horizon daily)."""

    return refresh_all_dirty()


@task()
def apply_retention() -> int:
    """RETENTION_MODE=delete: conversations that started before the two-year horizon are deleted (messages, history
    and tasks with them; their sales stay, unlinked). The default, keep, archives them in place: the dashboard
    excludes them either way."""

    return delete_beyond_horizon()


@task(queue_name="default")
def run_history_import(job_id: int) -> str | None:
    """Runs a history import started from /reportes/importar/ (reports.actions.do_run_import_job)."""

    job = actions.do_run_import_job(job_id)
    return job.state if job is not None else None


@task()
def recover_abandoned_imports() -> dict[str, int]:
    return actions.do_recover_abandoned_imports()
