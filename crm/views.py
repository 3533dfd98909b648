"""Kommo webhook intake (public, secret URL) and the connection pages (administrators)."""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlencode

import httpx
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.roles import Perm
from core.access_log import secret_path
from core.crypto import decrypt, encrypt, mask
from core.errors import ActionError
from core.middleware import client_ip
from core.permissions import perm_required
from core.reveal import reveal_once, take_reveal
from crm import actions, intake
from crm.forms import KommoConnectForm, SimulateLeadForm
from crm.models import KommoAccount, WebhookDelivery

logger = logging.getLogger(__name__)

@secret_path  # the secret is in the URL: the access log writes the route name
@csrf_exempt
@require_POST
def kommo_webhook(request: HttpRequest, secret: str) -> HttpResponse:
    """The Django path of the intake (tests, and servers without the fast route); same decision, same storage.
    Unknown secret → 404; foreign account → 403 (recorded); unparseable → 400 (raw body kept for inspection).
    Otherwise the raw body is stored and 200 returned at once."""
    body = request.body.decode("utf-8", errors="replace")
    decision = intake.decide(intake.current_account(), secret, body)
    if decision.status == 404:
        raise Http404
    intake.store_batch([intake.Incoming(body, request.content_type or "", client_ip(request), decision)])
    if decision.status != 200:
        return JsonResponse({"detail": decision.detail, "code": decision.code}, status=decision.status)
    return HttpResponse(status=200)


reset_account_cache = intake.reset_account_cache


@perm_required(Perm.CRM_MANAGE)
def kommo_settings(request: HttpRequest) -> HttpResponse:
    account = KommoAccount.objects.filter(pk=1).first()
    initial = {}
    if account is not None:
        initial = {"subdomain": account.subdomain, "base_url": account.base_url, "auth_mode": account.auth_mode,
                   "client_id": account.client_id, "redirect_uri": account.redirect_uri,
                   "to_call_stage": account.to_call_stage_name, "confirmed_stage": account.confirmed_stage_name}
    form = KommoConnectForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        if d["auth_mode"] == KommoAccount.AuthMode.OAUTH and not d["token"]:
            # Authorization-code flow: remember what to save, send the admin to Kommo, finish in the callback.
            state = secrets.token_urlsafe(16)
            request.session["kommo_oauth"] = {**{k: d[k] for k in (
                "subdomain", "base_url", "client_id", "redirect_uri", "to_call_stage", "confirmed_stage")},
                # sessions live in the database too: the secret waits there encrypted, not readable
                "client_secret": encrypt(d["client_secret"]) if d["client_secret"] else "", "state": state}
            query = urlencode({"client_id": d["client_id"], "state": state, "mode": "post_message"})
            return redirect(f"{settings.KOMMO_OAUTH_URL}?{query}")
        try:
            actions.check_connect_kommo(
                request.user, subdomain=d["subdomain"], base_url=d["base_url"],  # type: ignore[arg-type]
                token=d["token"], client_id=d["client_id"] if d["auth_mode"] == "oauth" else "",
                client_secret=d["client_secret"] if d["auth_mode"] == "oauth" else "",
                redirect_uri=d["redirect_uri"], to_call_stage=d["to_call_stage"],
                confirmed_stage=d["confirmed_stage"], register_webhook=d["register_webhook"])
        except ActionError as exc:
            form.add_error(None, exc.message)
        else:
            reset_account_cache()
            reveal_once(request, "kommo.webhook")
            messages.success(request, _("Kommo conectado. Pegue la URL del webhook en Kommo."))
            return redirect("crm:settings")
    revealed = account is not None and take_reveal(request, "kommo.webhook")
    return render(request, "crm/settings.html", {
        "form": form, "account": account, "webhook_revealed": revealed,
        "webhook_url": actions.webhook_url(account, masked=not revealed) if account else "",
        "credential": mask(account.long_lived_token if account.auth_mode == KommoAccount.AuthMode.LONG_LIVED
                           else account.client_secret) if account else "",
        "stages": sorted((account.stage_names if account else {}).items(), key=lambda kv: kv[1]),
        "demo": settings.KOMMO_DEMO, "simulate_form": SimulateLeadForm(),
    })


@perm_required(Perm.CRM_MANAGE)
def kommo_oauth_callback(request: HttpRequest) -> HttpResponse:
    pending = request.session.pop("kommo_oauth", None)
    if not pending or not constant_time_compare(request.GET.get("state", ""), pending.get("state", "")):
        messages.error(request, _("La autorización de Kommo no coincide con una solicitud de esta sesión."))
        return redirect("crm:settings")
    if request.GET.get("error"):
        messages.error(request, _("Kommo rechazó la autorización: %s") % request.GET["error"])
        return redirect("crm:settings")
    try:
        actions.check_connect_kommo(
            request.user, subdomain=pending["subdomain"], base_url=pending["base_url"],  # type: ignore[arg-type]
            client_id=pending["client_id"], client_secret=decrypt(pending["client_secret"]),
            redirect_uri=pending["redirect_uri"], code=request.GET.get("code", ""),
            to_call_stage=pending["to_call_stage"], confirmed_stage=pending["confirmed_stage"])
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        reset_account_cache()
        reveal_once(request, "kommo.webhook")
        messages.success(request, _("Kommo conectado por OAuth."))
    return redirect("crm:settings")


@require_POST
@perm_required(Perm.CRM_MANAGE)
def rotate_webhook_secret(request: HttpRequest) -> HttpResponse:
    """A new secret webhook URL (the old one stops working at once); shown in full on the next page only."""
    if not KommoAccount.objects.filter(pk=1).exists():
        messages.error(request, _("Kommo aún no está conectado."))
        return redirect("crm:settings")
    actions.check_rotate_webhook_secret(request.user)  # type: ignore[arg-type]
    reset_account_cache()
    reveal_once(request, "kommo.webhook")
    messages.success(request, _("Nueva URL del webhook generada: péguela en Kommo (la anterior ya no funciona)."))
    return redirect("crm:settings")


@perm_required(Perm.CRM_MANAGE)
def deliveries(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    qs = WebhookDelivery.objects.all()
    if state:
        qs = qs.filter(state=state)
    page = Paginator(qs.defer("body"), 50).get_page(request.GET.get("page"))
    return render(request, "crm/deliveries.html", {"page": page, "state": state,
                                                   "states": WebhookDelivery.State.choices})


@require_POST
@perm_required(Perm.CRM_MANAGE)
def delivery_retry(request: HttpRequest, delivery_id: int) -> HttpResponse:
    try:
        actions.check_retry_delivery(request.user, delivery_id)  # type: ignore[arg-type]
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Webhook reencolado."))
    return redirect("crm:deliveries")


@require_POST
@perm_required(Perm.CRM_MANAGE)
def simulate_lead(request: HttpRequest) -> HttpResponse:
    """Demo: asks the fake Kommo to create a lead in "Para Llamar"; it then calls our webhook like Kommo would."""
    account = KommoAccount.current()
    form = SimulateLeadForm(request.POST)
    if not settings.KOMMO_DEMO or account is None or not form.is_valid():
        messages.error(request, _("La simulación solo está disponible en modo demo con Kommo conectado."))
        return redirect("crm:settings")
    d = form.cleaned_data
    payload = {"name": d["lead_name"], "status_id": account.to_call_status_id,
               "pipeline_id": account.to_call_pipeline_id,
               "tags": [t.strip() for t in d["tags"].split(",") if t.strip()],
               "contact": {"name": d["contact_name"], "phones": [d["phone"]] if d["phone"] else [],
                           "emails": [d["email"]] if d["email"] else []}}
    try:
        httpx.post(f"{account.api_base}/_fake/leads", json=payload, timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        messages.error(request, _("El Kommo de demostración no respondió: %s") % exc)
    else:
        messages.success(request, _("Lead simulado en Kommo; llegará a la cola en segundos."))
    return redirect(request.POST.get("next") or "crm:settings")
