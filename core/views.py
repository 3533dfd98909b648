from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from core import heartbeats
from core.actions import check_dismiss_process, check_update_site_settings
from core.errors import ActionError
from core.forms import SiteSettingsForm
from core.health import REQUIRED, run_checks
from core.models import PeriodicRun, SiteSettings
from core.permissions import perm_required
from core.perms import Perm
from core.schedule import SCHEDULE


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No database access, so it stays up while a dependency is down."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: this process can serve requests. 503 only when a required dependency (the database) fails; the
    channel layer or the task queue failing makes it 200 "degraded" (core.health.REQUIRED: pages and the API still
    work, webhooks are stored and picked up later), so a load balancer never drops every web process for a Redis
    blip. Answers within 2 s whatever a dependency does, and never touches the app's channel layer (core.health). It
    is public, so it says only which checks pass: the failure details (which name hosts, ports and users) are logged
    and shown on the staff system page. Background processes' heartbeats are on the system page, not here."""
    checks = {name: {"ok": bool(check["ok"])} for name, check in run_checks().items()}
    failed = [name for name, check in checks.items() if not check["ok"]]
    unavailable = any(name in REQUIRED for name in failed)
    body: dict[str, object] = {"status": "unavailable" if unavailable else "degraded" if failed else "ok",
                               "checks": checks}
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=503 if unavailable else 200)


@perm_required(Perm.SETTINGS_MANAGE)
def site_settings(request: HttpRequest) -> HttpResponse:
    current = SiteSettings.load()
    form = SiteSettingsForm(request.POST or None, initial={
        "company_name": current.company_name, "default_language": current.default_language,
        "brand_color": current.brand_color, "availability_on_login": current.availability_on_login})
    if request.method == "POST" and form.is_valid():
        try:
            check_update_site_settings(request.user, **form.cleaned_data)  # type: ignore[arg-type]
        except ActionError as exc:
            form.add_error(exc.details.get("field"), exc.message)
        else:
            messages.success(request, _("Configuración guardada."))
            return redirect("core:settings")
    return render(request, "core/settings.html", {"form": form})


@perm_required(Perm.SYSTEM_STATUS)
def system(request: HttpRequest) -> HttpResponse:


    return render(request, "core/system.html", {
        "checks": run_checks(), "processes": heartbeats.statuses(), "queue_probe_age": heartbeats.queue_probe_age(),
        "schedule": SCHEDULE, "required": REQUIRED,
        "can_dismiss": request.user.has_perm_code(Perm.SETTINGS_MANAGE),  # type: ignore[union-attr]
        "runs": {r.name: r for r in PeriodicRun.objects.all()},
        "mode": {"database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
                 "tasks": settings.TASK_BACKEND, "channel_layer": settings.CHANNEL_LAYER,
                 "time_zone": settings.TIME_ZONE},
    })


@require_POST
@perm_required(Perm.SETTINGS_MANAGE)
def dismiss_process(request: HttpRequest, heartbeat_id: int) -> HttpResponse:
    try:
        row = check_dismiss_process(request.user, heartbeat_id)  # type: ignore[arg-type]
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Se descartó el aviso de %(process)s.") % {"process": row.process})
    return redirect("core:system")
