"""Twilio's webhooks (public, signed) and the SMS administration pages (people who connect channels)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from connectors.sms import actions, conf, intake, signing
from connectors.sms.forms import AccountForm, SimulateForm
from connectors.sms.models import SmsAccount, WebhookDelivery
from core.errors import ActionError
from core.middleware import client_ip
from core.permissions import perm_required

# An empty TwiML answer: Twilio sends no automatic reply (the agent answers from the inbox).
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _webhook(request: HttpRequest, account_id: int, kind: str) -> HttpResponse:
    """Stored before answered (intake.py): 200/204 when signed, 403 unsigned or forged, 413 too large, 404 for an
    account that is not connected (nothing stored for random traffic)."""
    account = SmsAccount.objects.filter(pk=account_id, is_active=True).first()
    if account is None:
        return JsonResponse({"detail": "Not found.", "code": 404}, status=404)
    # Read at most one byte past the limit: an oversized body is refused without buffering all of it.
    body = request.read(intake.MAX_BODY + 1)
    too_large = len(body) > intake.MAX_BODY
    body = body[:intake.MAX_BODY]
    params = intake.parse_form(body)
    url = intake.public_url(request.path_info, request.META.get("QUERY_STRING", ""))
    decision = intake.decide(account, url=url, params=params, signature=request.headers.get(signing.HEADER),
                             too_large=too_large)
    intake.store(account, kind=kind, body=body, params=params, decision=decision, remote_addr=client_ip(request))
    if decision.status != 200:
        return JsonResponse({"detail": decision.error, "code": decision.status}, status=decision.status)
    if kind == WebhookDelivery.Kind.INBOUND:
        return HttpResponse(EMPTY_TWIML, content_type="text/xml")
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def inbound_webhook(request: HttpRequest, account_id: int) -> HttpResponse:
    return _webhook(request, account_id, WebhookDelivery.Kind.INBOUND)


@csrf_exempt
@require_POST
def status_webhook(request: HttpRequest, account_id: int) -> HttpResponse:
    return _webhook(request, account_id, WebhookDelivery.Kind.STATUS)


def _connect(request: HttpRequest, form: AccountForm, account_id: int | None) -> bool:
    """Runs the connect action with the form's data; errors go on the form. True when saved."""
    user: User = request.user  # type: ignore[assignment]
    d = form.cleaned_data
    try:
        result = actions.check_connect_account(
            user, account_id=account_id, name=d["name"], account_sid=d["account_sid"], auth_token=d["auth_token"],
            from_number=d["from_number"], messaging_service_sid=d["messaging_service_sid"], base_url=d["base_url"],
            rate_per_second=d["rate_per_second"], cost_per_segment=d["cost_per_segment"], currency=d["currency"],
            inbox=d["inbox"].code if d["inbox"] else "")
    except ActionError as exc:
        field = exc.details.get("field")
        form.add_error(field if field in form.fields else None, exc.message)
        return False
    if result.created:
        messages.success(request, _("Cuenta «%s» conectada. Pegue en Twilio la URL de mensajes entrantes.")
                         % result.account.name)
    else:
        messages.success(request, _("Cuenta «%s» guardada.") % result.account.name)
    return True


def _rows(accounts: list[SmsAccount]) -> list[dict[str, Any]]:
    return [{"account": a, "inbound_url": actions.inbound_url(a), "status_url": actions.status_url(a)}
            for a in accounts]


@perm_required(Perm.CHANNELS_MANAGE)
def settings_page(request: HttpRequest) -> HttpResponse:
    form = AccountForm(request.POST or None, initial={"currency": settings.CURRENCY, "rate_per_second": 1})
    if request.method == "POST" and form.is_valid() and _connect(request, form, None):
        return redirect("sms:settings")
    accounts = list(SmsAccount.objects.select_related("inbox").order_by("name", "id"))
    return render(request, "sms/settings.html", {
        "form": form, "rows": _rows(accounts), "demo": conf.demo_mode(), "simulate_form": SimulateForm(),
        "default_base_url": conf.DEFAULT_BASE_URL,
    }, status=400 if form.errors else 200)


@perm_required(Perm.CHANNELS_MANAGE)
def edit_account(request: HttpRequest, sms_account_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        account = actions.access_account(user, sms_account_id)
    except ActionError as exc:
        messages.error(request, exc.message)
        return redirect("sms:settings")
    initial = {"name": account.name, "account_sid": account.account_sid, "from_number": account.from_number,
               "messaging_service_sid": account.messaging_service_sid, "inbox": account.inbox,
               "rate_per_second": account.rate_per_second, "cost_per_segment": account.cost_per_segment,
               "currency": account.currency,
               "base_url": "" if account.base_url == conf.DEFAULT_BASE_URL else account.base_url}
    form = AccountForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid() and _connect(request, form, account.pk):
        return redirect("sms:settings")
    return render(request, "sms/edit.html", {"form": form, "row": _rows([account])[0]},
                  status=400 if form.errors else 200)


@require_POST
@perm_required(Perm.CHANNELS_MANAGE)
def set_active(request: HttpRequest, sms_account_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    active = request.POST.get("active") == "1"
    try:
        actions.check_set_account_active(user, sms_account_id, active=active)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Cuenta activada.") if active
                         else _("Cuenta desactivada: sus webhooks ya no se aceptan ni se envían SMS por ella."))
    return redirect("sms:settings")


@require_POST
@perm_required(Perm.CHANNELS_MANAGE)
def simulate(request: HttpRequest, sms_account_id: int) -> HttpResponse:
    """Demo: a signed inbound SMS to ourselves, as if a customer texted the account's number."""
    user: User = request.user  # type: ignore[assignment]
    form = SimulateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Indique un teléfono válido y un mensaje."))
        return redirect("sms:settings")
    try:
        status = actions.check_simulate_inbound(user, sms_account_id, phone=form.cleaned_data["phone"],
                                                text=form.cleaned_data["text"])
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        if status == 200:
            messages.success(request, _("SMS simulado recibido: aparecerá en la bandeja en unos segundos."))
        else:
            messages.error(request, _("Nuestro webhook respondió HTTP %s.") % status)
    return redirect("sms:settings")


@perm_required(Perm.CHANNELS_MANAGE)
def deliveries(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    qs = WebhookDelivery.objects.select_related("account")
    if state in WebhookDelivery.State.values:
        qs = qs.filter(state=state)
    page = Paginator(qs.defer("body"), 50).get_page(request.GET.get("page"))
    return render(request, "sms/deliveries.html", {"page": page, "state": state,
                                                   "states": WebhookDelivery.State.choices})


@require_POST
@perm_required(Perm.CHANNELS_MANAGE)
def delivery_retry(request: HttpRequest, sms_delivery_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        actions.check_retry_delivery(user, sms_delivery_id)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Webhook reencolado."))
    return redirect("sms:deliveries")
