"""Pages for outgoing webhooks: register receivers, see what was sent to each, retry failed messages.

Thin adapters over webhooks.actions."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError, NotFoundError
from core.permissions import perm_required
from webhooks import actions
from webhooks.forms import EndpointForm
from webhooks.models import WebhookEndpoint, WebhookMessage

MESSAGES_SHOWN = 100
# The id of a just-created endpoint, kept in the session only until the next page shows its signing secret once
# (post/redirect/get, so reloading the page neither registers the endpoint twice nor shows the secret again).
# Only the id: the secret itself stays in its encrypted row, never in the session table.
JUST_CREATED_SESSION_KEY = "webhooks.just_created_endpoint"


def _add_action_error(form: EndpointForm, exc: ActionError) -> None:
    field = exc.details.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


def _save(form: EndpointForm, user: User, endpoint_id: int | None = None) -> WebhookEndpoint:
    d = form.cleaned_data
    return actions.check_save_endpoint(user, url=d["url"], events=d["events"], description=d["description"],
                                       is_active=d["is_active"], endpoint_id=endpoint_id)


@perm_required(Perm.INTEGRATIONS_MANAGE)
def endpoints(request: HttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST or None, initial={"is_active": True})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                endpoint = _save(form, request.user)  # type: ignore[arg-type]
            except ActionError as exc:
                _add_action_error(form, exc)
            else:
                request.session[JUST_CREATED_SESSION_KEY] = endpoint.pk
                messages.success(request, _("Webhook registrado."))
                return redirect("webhooks:endpoints")
        status = 400
    just_created = request.session.pop(JUST_CREATED_SESSION_KEY, None)
    return render(request, "webhooks/endpoints.html", {
        "form": form, "endpoints": WebhookEndpoint.objects.order_by("id"),
        "new_endpoint": WebhookEndpoint.objects.filter(pk=just_created).first() if isinstance(just_created, int)
        else None,
    }, status=status)


def _detail_context(endpoint: WebhookEndpoint, form: EndpointForm) -> dict[str, Any]:
    rows = list(endpoint.messages.defer("payload").order_by("-id")[:MESSAGES_SHOWN])
    return {"endpoint": endpoint, "form": form, "messages_list": rows, "shown": MESSAGES_SHOWN,
            "failed_count": endpoint.messages.filter(state=WebhookMessage.State.FAILED).count()}


@perm_required(Perm.INTEGRATIONS_MANAGE)
def endpoint(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        ep = actions.access_endpoint(user, endpoint_id)
    except NotFoundError:
        return render(request, "404.html", status=404)
    if request.method != "POST":
        form = EndpointForm(initial={"url": ep.url, "events": ep.events, "description": ep.description,
                                     "is_active": ep.is_active})
        return render(request, "webhooks/endpoint.html", _detail_context(ep, form))
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            _save(form, user, endpoint_id=ep.pk)
        except ActionError as exc:
            _add_action_error(form, exc)
        else:
            messages.success(request, _("Webhook guardado."))
            return redirect("webhooks:endpoint", endpoint_id=ep.pk)
    return render(request, "webhooks/endpoint.html", _detail_context(ep, form), status=400)


@require_POST
@perm_required(Perm.INTEGRATIONS_MANAGE)
def message_retry(request: HttpRequest, endpoint_id: int, message_id: int) -> HttpResponse:
    try:
        n = actions.check_retry_messages(request.user, message_ids=[message_id])  # type: ignore[arg-type]
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        if n:
            messages.success(request, _("Mensaje reencolado; se enviará en segundos."))
        else:
            messages.error(request, _("El mensaje no está fallido: no hay nada que reintentar."))
    return redirect("webhooks:endpoint", endpoint_id=endpoint_id)


@require_POST
@perm_required(Perm.INTEGRATIONS_MANAGE)
def endpoint_retry_failed(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    try:
        n = actions.check_retry_endpoint_messages(request.user, endpoint_id=endpoint_id)  # type: ignore[arg-type]
    except NotFoundError:
        return render(request, "404.html", status=404)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        if n:
            messages.success(request, ngettext("%(n)d mensaje fallido reencolado.",
                                               "%(n)d mensajes fallidos reencolados.", n) % {"n": n})
        else:
            messages.info(request, _("No hay mensajes fallidos."))
    return redirect("webhooks:endpoint", endpoint_id=endpoint_id)
