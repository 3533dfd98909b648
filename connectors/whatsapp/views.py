"""WhatsApp webhook (public, signed) and the connection pages (administrators); the template send (agents)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from accounts.roles import Perm
from connectors.whatsapp import actions, conf, intake
from connectors.whatsapp.forms import NumberForm, SimulateForm
from connectors.whatsapp.models import MessageTemplate, WebhookDelivery, WhatsappNumber
from core.errors import ActionError
from core.middleware import client_ip
from core.permissions import perm_required


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest, phone_number_id: str) -> HttpResponse:
    """GET: Meta's verification handshake (contract §1). POST: the Django path of the intake (tests, servers without
    the fast ASGI route): same decision, same storage, same answers."""
    if request.method == "GET":
        number = WhatsappNumber.objects.filter(phone_number_id=phone_number_id, is_active=True).first()
        if number is None:
            raise Http404
        token = request.GET.get("hub.verify_token", "")
        if request.GET.get("hub.mode") != "subscribe" or not constant_time_compare(token, number.verify_token):
            return HttpResponse("Forbidden", status=403, content_type="text/plain")
        return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
    number_key = intake.lookup(phone_number_id) if phone_number_id.isdigit() else None
    body = request.body
    decision = intake.decide(number_key, request.headers.get("X-Hub-Signature-256"), body,
                             too_large=len(body) > intake.MAX_BODY)
    if number_key is None:
        raise Http404
    intake.store_batch([intake.Incoming(number_key.pk, body, client_ip(request), decision)])
    if decision.status != 200:
        return JsonResponse({"detail": decision.error, "code": decision.status}, status=decision.status)
    return HttpResponse(status=200)


@perm_required(Perm.CHANNELS_MANAGE)
def settings_page(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = NumberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            result = actions.check_connect_number(
                user, phone_number_id=d["phone_number_id"], waba_id=d["waba_id"], token=d["token"],
                app_secret=d["app_secret"], verify_token=d["verify_token"],
                inbox=d["inbox"].code if d["inbox"] else "", base_url=d["base_url"])
        except ActionError as exc:
            form.add_error(exc.details.get("field") if exc.details.get("field") in form.fields else None, exc.message)
        else:
            messages.success(request, _("Número %s conectado. Registre la URL del webhook en Meta.")
                             % result.number)
            if not d["verify_token"]:
                messages.info(request, _("Token de verificación (cópielo ahora, no se volverá a mostrar): %s")
                              % result.verify_token)
            if result.templates_error:
                messages.error(request, _("No se pudieron leer las plantillas: %s") % result.templates_error)
            return redirect("whatsapp:settings")
    numbers = list(WhatsappNumber.objects.select_related("inbox").order_by("display_phone_number", "id"))
    approved: dict[str, int] = {}
    for waba_id in MessageTemplate.objects.filter(status__iexact="APPROVED").values_list("waba_id", flat=True):
        approved[waba_id] = approved.get(waba_id, 0) + 1
    rows = [{"number": n, "webhook_url": actions.webhook_url(n), "templates": approved.get(n.waba_id, 0)}
            for n in numbers]
    return render(request, "whatsapp/settings.html", {
        "form": form, "rows": rows, "demo": conf.demo_mode(), "simulate_form": SimulateForm(),
        "graph_version": conf.graph_version(), "default_base_url": conf.default_base_url(),
    })


@require_POST
@perm_required(Perm.CHANNELS_MANAGE)
def sync_templates(request: HttpRequest, number_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        approved = actions.check_sync_templates(user, number_id)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Plantillas sincronizadas: %d aprobadas.") % approved)
    return redirect("whatsapp:settings")


@require_POST
@perm_required(Perm.CHANNELS_MANAGE)
def set_active(request: HttpRequest, number_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    active = request.POST.get("active") == "1"
    try:
        actions.check_set_number_active(user, number_id, active=active)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Número activado.") if active
                         else _("Número desactivado: sus webhooks ya no se aceptan."))
    return redirect("whatsapp:settings")


@require_POST
@perm_required(Perm.CHANNELS_MANAGE)
def simulate(request: HttpRequest, number_id: int) -> HttpResponse:
    """Demo: a signed webhook to ourselves, as if a customer wrote on WhatsApp."""
    user: User = request.user  # type: ignore[assignment]
    form = SimulateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Indique un teléfono válido y un mensaje."))
        return redirect("whatsapp:settings")
    d = form.cleaned_data
    try:
        status = actions.check_simulate_inbound(user, number_id, name=d["name"], phone=d["phone"], text=d["text"])
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        if status == 200:
            messages.success(request, _("Mensaje simulado recibido: aparecerá en la bandeja en unos segundos."))
        else:
            messages.error(request, _("Nuestro webhook respondió HTTP %s.") % status)
    return redirect("whatsapp:settings")


@perm_required(Perm.CHANNELS_MANAGE)
def deliveries(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    qs = WebhookDelivery.objects.select_related("number")
    if state:
        qs = qs.filter(state=state)
    page = Paginator(qs.defer("body"), 50).get_page(request.GET.get("page"))
    return render(request, "whatsapp/deliveries.html", {"page": page, "state": state,
                                                        "states": WebhookDelivery.State.choices})


@require_POST
@perm_required(Perm.CHANNELS_MANAGE)
def delivery_retry(request: HttpRequest, wa_delivery_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        actions.check_retry_delivery(user, wa_delivery_id)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Webhook reencolado."))
    return redirect("whatsapp:deliveries")


@require_POST
@perm_required(Perm.INBOX_WORK)
def send_template(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The conversation's template picker (whatsapp/_compose_extra.html) submits here: button `wa_template` names
    the template, fields `wa_t<template id>_<variable>` carry the values."""
    user: User = request.user  # type: ignore[assignment]
    raw = request.POST.get("wa_template", "")
    if not raw.isdigit():
        messages.error(request, _("Elija una plantilla."))
        return redirect("inbox:detail", conversation_id=conversation_id)
    if request.FILES or request.POST.getlist("attachment_refs"):
        # The reply form carries the files the agent attached; a template is sent alone, so say it, keep nothing.
        messages.error(request, _("Una plantilla se envía sin archivos: quite los adjuntos o envíelos en otro "
                                  "mensaje cuando el cliente responda."))
        return redirect("inbox:detail", conversation_id=conversation_id)
    prefix = f"wa_t{raw}_"
    values = {key[len(prefix):]: request.POST.get(key, "") for key in request.POST if key.startswith(prefix)}
    try:
        actions.check_send_template(user, conversation_id, template_id=int(raw), values=values)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Plantilla enviada al cliente."))
    return redirect("inbox:detail", conversation_id=conversation_id)
