"""Email channel pages (administrators: CHANNELS_MANAGE; "Mi correo": any user) and the ESP inbound webhook.
Thin adapters: forms parse, connectors.mail actions validate and write."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from connectors.mail import actions, webhook
from connectors.mail.forms import MailboxForm, MailProfileForm
from connectors.mail.models import InboundMail, Mailbox, MailProfile
from connectors.mail.threads import reply_address
from core.access_log import secret_path
from core.crypto import mask
from core.errors import ActionError
from core.permissions import perm_required
from core.reveal import reveal_once, take_reveal
from inbox.models import Inbox


@secret_path  # the secret is in the URL: the access log writes the route name
@csrf_exempt
@require_POST
def inbound_webhook(request: HttpRequest, provider: str, token: str) -> HttpResponse:
    """ESP inbound route: Mailgun `forward(…/integrations/mail/mailgun/<token>/)` (body-mime), Postmark JSON, or a
    raw RFC 822 POST. Under ASGI the fast route (connectors.mail.webhook.MailIntakeApp) answers it before Django;
    this view (test client, WSGI) makes the same decision and store. The unguessable token in the URL is the
    credential (plus Mailgun's signature when its key is set). The body is committed before anything is parsed;
    processing is queued."""
    limit = webhook.max_body()
    too_large = int(request.META.get("CONTENT_LENGTH") or 0) > limit
    # request.read(), not request.body: .body refuses anything above DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB).
    body = b"" if too_large else request.read(limit + 1)
    decision, pk = webhook.receive(provider=provider, token=token, body=body[:limit],
                                   content_type=request.META.get("CONTENT_TYPE", ""),
                                   too_large=too_large or len(body) > limit)
    if decision.status == 404:
        raise Http404
    if decision.status == 413:
        return JsonResponse({"code": "too_large", "detail": "body too large"}, status=413)
    if decision.status == 403:
        return JsonResponse({"code": "bad_signature", "detail": _("Firma del proveedor inválida.")}, status=403)
    return JsonResponse({"id": pk, "status": "received"})


def _inboxes() -> list[tuple[str, str]]:
    return list(Inbox.objects.filter(is_global=False).values_list("code", "name"))


def _form_error(form: MailboxForm, exc: ActionError) -> None:
    field = exc.details.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


@perm_required(Perm.CHANNELS_MANAGE)
def mailbox_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = MailboxForm(request.POST or None, inboxes=_inboxes())
    if request.method == "POST" and form.is_valid():
        try:
            mailbox = actions.check_save_mailbox(user, **form.action_kwargs())
        except ActionError as exc:
            _form_error(form, exc)
        else:
            reveal_once(request, f"mail.webhook:{mailbox.pk}")
            messages.success(request, _("Buzón %s creado.") % mailbox.address)
            return redirect("mail:mailbox", mailbox_id=mailbox.pk)
    return render(request, "mail/mailboxes.html", {
        "mailboxes": Mailbox.objects.select_related("inbox"), "form": form})


@perm_required(Perm.CHANNELS_MANAGE)
def mailbox_edit(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        mailbox = actions.access_mailbox(user, mailbox_id)
    except ActionError:
        return render(request, "404.html", status=404)
    form = MailboxForm(request.POST or None, inboxes=_inboxes(), initial=MailboxForm.initial_for(mailbox))
    if request.method == "POST" and form.is_valid():
        try:
            actions.check_save_mailbox(user, mailbox_id=mailbox.pk, **form.action_kwargs())
        except ActionError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("Cambios guardados."))
            return redirect("mail:mailbox", mailbox_id=mailbox.pk)
    # The URLs carry the mailbox's secret token: in full once after creating or rotating it, masked afterwards.
    revealed = take_reveal(request, f"mail.webhook:{mailbox.pk}")
    token = mailbox.webhook_token if revealed else mask(mailbox.webhook_token)
    base = settings.SITE_URL.rstrip("/")
    webhooks = [(label, f"{base}{reverse('mail:webhook', args=[provider, 'TOKEN'])}".replace("/TOKEN/", f"/{token}/"))
                for provider, label in (("mailgun", "Mailgun (forward, MIME)"), ("postmark", "Postmark"),
                                        ("raw", _("MIME crudo (otros)")))]
    return render(request, "mail/mailbox.html", {
        "mailbox": mailbox, "form": form, "webhooks": webhooks, "webhooks_revealed": revealed,
        "reply_example": reply_address(mailbox, 123),
        "log": InboundMail.objects.filter(mailbox=mailbox).defer("raw")[:50],
    })


@require_POST
@perm_required(Perm.CHANNELS_MANAGE)
def mailbox_test(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        results = actions.check_mailbox_connections(user, mailbox_id)
    except ActionError as exc:
        messages.error(request, exc.message)
        return redirect("mail:mailboxes") if exc.status == 404 else redirect("mail:mailbox", mailbox_id=mailbox_id)
    for protocol, problem in results.items():
        if problem:
            messages.error(request, _("%(p)s: no se pudo conectar: %(e)s") % {"p": protocol.upper(), "e": problem})
        else:
            messages.success(request, _("%s: conexión correcta.") % protocol.upper())
    return redirect("mail:mailbox", mailbox_id=mailbox_id)


@require_POST
@perm_required(Perm.CHANNELS_MANAGE)
def mailbox_poll(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        actions.check_request_poll(user, mailbox_id)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Consulta del buzón en cola."))
    return redirect("mail:mailbox", mailbox_id=mailbox_id)


@require_POST
@perm_required(Perm.CHANNELS_MANAGE)
def mailbox_rotate(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        actions.check_rotate_webhook_token(user, mailbox_id)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        reveal_once(request, f"mail.webhook:{mailbox_id}")
        messages.success(request, _("Nueva URL de webhook generada: actualícela en el proveedor."))
    return redirect("mail:mailbox", mailbox_id=mailbox_id)


@perm_required()
def my_mail(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    profile = MailProfile.objects.filter(user=user).first()
    form = MailProfileForm(request.POST or None, initial={
        "signature": profile.signature if profile else "", "notifications": profile.notifications if profile else True})
    if request.method == "POST" and form.is_valid():
        try:
            actions.check_save_mail_profile(user, **form.cleaned_data)
        except ActionError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Preferencias de correo guardadas."))
            return redirect("mail:profile")
    return render(request, "mail/profile.html", {"form": form})
