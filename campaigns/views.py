"""Campaign pages (/campanas/): the list, the editor (audience with a live count, the message with a live preview, a
test send and the launch with its confirmation), the detail with results that tick while it sends, the report CSV
and the settings. Thin adapters: every write is an action of campaigns.actions; the numbers are campaigns.stats'."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from campaigns import audience as audiences
from campaigns import stats, variables
from campaigns.actions import (
    access_campaign,
    check_cancel,
    check_launch,
    check_pause,
    check_resume,
    check_save_campaign,
    check_save_settings,
    check_test_send,
    check_unschedule,
    launch_problems,
)
from campaigns.channels import Recipient, Refused, adapter_for
from campaigns.choices import (
    EDITABLE,
    LIVE,
    CampaignChannel,
    CampaignState,
    RecipientState,
    ScheduleMode,
    SkipReason,
)
from campaigns.forms import TEXT, VAR_PREFIX, CampaignForm, SettingsForm, TestSendForm, variable_choices
from campaigns.models import Campaign, CampaignRecipient, CampaignSettings, CampaignTransition
from connectors.mail.models import Mailbox
from connectors.sms.models import SmsAccount
from connectors.sms.segments import count as sms_count
from connectors.whatsapp.message_templates import examples, render_text, unsupported_reason
from connectors.whatsapp.message_templates import variables as template_variables
from connectors.whatsapp.models import MessageTemplate, WhatsappNumber
from core import keyset
from core.describe import system_actor
from core.errors import ActionError, NotFoundError
from core.exports import Column, CsvOptions, streaming_csv_response
from core.keyset import SortKey
from core.permissions import perm_required
from core.text import percent

PAGE_SIZE: Final = 25
RECIPIENTS_PAGE: Final = 50
LIST_KEYS: Final = (SortKey("created_at", descending=True), SortKey("id", descending=True))
POLL_STATES: Final = (CampaignState.SCHEDULED, *LIVE)
# Deliveries and reads keep arriving for a while after the last message left: a finished campaign's numbers are
# still polled this long after it finished (then the page stops asking).
AFTER_FINISH: Final = timedelta(minutes=15)
EXPORT_CHUNK: Final = 2000
EMAIL_PREVIEW_SECONDS: Final = 600
# Someone to show a message to when the audience selects nobody yet (the preview still shows every variable).
SAMPLE_CUSTOMER: Final = {"name": "Ana María Pérez", "city": "Medellín", "department": "Antioquia"}
# The email preview's own policy (it is marketer content): nothing runs, nothing is sent, images load.
EMAIL_PREVIEW_CSP: Final = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
                            "font-src https: data:; form-action 'none'; frame-ancestors 'self'")
CHANNEL_ICONS: Final = {CampaignChannel.WHATSAPP: "message-circle", CampaignChannel.EMAIL: "mail",
                        CampaignChannel.SMS: "smartphone"}
RECIPIENT_FILTERS: Final = (
    ("", gettext_lazy("Todos")),
    *RecipientState.choices,
    ("clicked", gettext_lazy("Hicieron clic")),
    ("replied", gettext_lazy("Respondieron")),
    ("converted", gettext_lazy("Compraron")),
    ("unsubscribed", gettext_lazy("Se dieron de baja")),
)


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False)) and not request.headers.get("HX-History-Restore-Request")


def polling(c: Campaign) -> bool:
    """Whether the detail page keeps asking for this campaign's numbers (every 3 seconds)."""
    if c.state in POLL_STATES:
        return True
    return c.state == CampaignState.FINISHED and c.finished_at is not None and \
        timezone.now() - c.finished_at < AFTER_FINISH


def _campaign_or_404(user: User, campaign_id: int) -> Campaign:
    try:
        return access_campaign(user, campaign_id)
    except NotFoundError:
        raise Http404(_("La campaña no existe.")) from None


def by_channel(channel: str) -> str:
    """How a sentence says the channel: "por WhatsApp", "por correo", "por SMS"."""
    return {CampaignChannel.WHATSAPP: _("por WhatsApp"), CampaignChannel.EMAIL: _("por correo"),
            CampaignChannel.SMS: _("por SMS")}.get(CampaignChannel(channel), "")


def count(n: int) -> str:
    return number_format(n, use_l10n=True, force_grouping=True)


# --- sentences --------------------------------------------------------------------------------------------------


def _when(moment: datetime) -> str:
    return date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


def _launch_sentence(t: CampaignTransition, values: dict[str, str]) -> str:
    n, skipped = int(t.data.get("recipients") or 0), int(t.data.get("skipped") or 0)
    values = {**values, "n": count(n), "skipped": count(skipped)}
    if t.to_state == CampaignState.SENDING:
        text = ngettext("Lanzada por %(who)s el %(when)s para %(n)s cliente",
                        "Lanzada por %(who)s el %(when)s para %(n)s clientes", n) % values
    else:
        text = ngettext("Programada por %(who)s el %(when)s para %(n)s cliente",
                        "Programada por %(who)s el %(when)s para %(n)s clientes", n) % values
    if skipped:
        text += " " + ngettext("(%(skipped)s omitido)", "(%(skipped)s omitidos)", skipped) % values
    return text + "."


def transition_sentence(t: CampaignTransition) -> str:
    """One line of a campaign's history, with names: "Lanzada por Ana Gómez el 03/03/2026 10:15 para 1.234 clientes
    (56 omitidos)."."""
    s = CampaignState
    values = {"who": t.actor.display_name if t.actor else system_actor(), "when": _when(t.at)}
    moved = (t.from_state, t.to_state)
    if t.from_state == s.DRAFT and t.to_state in (s.SENDING, s.SCHEDULED):
        return _launch_sentence(t, values)
    if moved == (s.SCHEDULED, s.SENDING) and t.actor is None:
        return _("Empezó a enviarse a su hora, el %(when)s.") % values
    sentences = {
        (s.SCHEDULED, s.SENDING): _("Iniciada por %(who)s el %(when)s."),
        (s.SCHEDULED, s.DRAFT): _("Devuelta a borrador por %(who)s el %(when)s."),
        (s.SENDING, s.PAUSED): _("Pausada por %(who)s el %(when)s."),
        (s.PAUSED, s.SENDING): _("Reanudada por %(who)s el %(when)s."),
        (s.SENDING, s.FINISHED): _("Terminó de enviarse el %(when)s."),
    }
    if moved in sentences:
        return sentences[moved] % values
    if t.to_state == s.CANCELLED:
        return _("Cancelada por %(who)s el %(when)s.") % values
    return _("Pasó de «%(a)s» a «%(b)s» el %(when)s.") % {
        **values, "a": CampaignState(t.from_state).label, "b": CampaignState(t.to_state).label}


def schedule_sentence(c: Campaign) -> str:
    if c.schedule_mode == ScheduleMode.AT and c.starts_at:
        return _("Empieza el %(when)s.") % {"when": _when(c.starts_at)}
    if c.schedule_mode == ScheduleMode.LOCAL:
        return _("En la hora local de cada cliente, entre las %(start)s y las %(end)s.") % {
            "start": c.window_start.strftime("%H:%M"), "end": c.window_end.strftime("%H:%M")}
    return _("Sale en cuanto se lanza.")


def timing_sentence(c: Campaign) -> str:
    """When it goes out (a draft or a scheduled campaign), or when it went (the others)."""
    if c.state in (CampaignState.DRAFT, CampaignState.SCHEDULED) or c.started_at is None:
        return schedule_sentence(c)
    if c.finished_at is not None:
        start, end = _when(c.started_at), _when(c.finished_at)
        if start == end:
            return _("Se envió el %(when)s.") % {"when": start}
        return _("Se envió del %(start)s al %(end)s.") % {"start": start, "end": end}
    if c.state == CampaignState.PAUSED:
        return _("Empezó el %(start)s; está en pausa.") % {"start": _when(c.started_at)}
    return _("Se envía desde el %(start)s.") % {"start": _when(c.started_at)}


# --- the list ---------------------------------------------------------------------------------------------------


def _list_filters(query: QueryDict) -> dict[str, str]:
    state = query.get("state", "")
    channel = query.get("channel", "")
    return {"state": state if state in CampaignState.values else "",
            "channel": channel if channel in CampaignChannel.values else ""}


def _with_numbers(rows: list[Campaign]) -> None:
    """Each campaign's results (two grouped queries for the page) and its audience as a sentence."""
    summaries = stats.summaries([c.pk for c in rows])
    sentences = audiences.describe_many([c.audience or {} for c in rows])
    for c, sentence in zip(rows, sentences, strict=True):
        s = summaries[c.pk]
        c.summary = s  # type: ignore[attr-defined]
        c.audience_text = sentence  # type: ignore[attr-defined]
        c.rates = [  # type: ignore[attr-defined]
            (_("Enviados"), percent(s.sent, s.recipients)), (_("Entregados"), percent(s.delivered, s.sent)),
            (_("Leídos") if c.channel != CampaignChannel.EMAIL else _("Abiertos"), percent(s.read, s.sent)),
            (_("Respondieron"), percent(s.replied, s.sent)), (_("Compraron"), percent(s.converted, s.sent))]
        c.roi_text = percent(s.roi) if s.roi is not None else "—"  # type: ignore[attr-defined]
        c.icon = CHANNEL_ICONS[CampaignChannel(c.channel)]  # type: ignore[attr-defined]


@perm_required(Perm.CAMPAIGNS_VIEW)
def campaign_list(request: HttpRequest) -> HttpResponse:
    """Every campaign, newest first, in keyset pages, with its results; filters by state and channel swap the
    results in place."""
    user = _user(request)
    f = _list_filters(request.GET)
    qs = Campaign.objects.select_related("created_by")
    if f["state"]:
        qs = qs.filter(state=f["state"])
    if f["channel"]:
        qs = qs.filter(channel=f["channel"])
    cursor = request.GET.get("cursor", "")
    after = keyset.decode(cursor, LIST_KEYS, Campaign) if cursor else None
    rows, nxt = keyset.page(qs, LIST_KEYS, after_values=after, size=PAGE_SIZE)
    _with_numbers(rows)
    filtered = bool(f["state"] or f["channel"])
    query = QueryDict(mutable=True)
    query.update({k: v for k, v in f.items() if v})
    first_query = query.urlencode()
    next_query = ""
    if nxt:
        query["cursor"] = nxt
        next_query = query.urlencode()
    context = {
        "campaigns": rows, "filters": f, "filtered": filtered, "next_query": next_query,
        "first_query": first_query if cursor else None,
        "first_page": not cursor, "none_at_all": not rows and not filtered and not cursor,
        "states": CampaignState.choices, "channels": CampaignChannel.choices,
        "can_manage": user.has_perm_code(Perm.CAMPAIGNS_MANAGE),
    }
    if _htmx(request) and request.headers.get("HX-Target", "").endswith("#campaign-results-list"):
        return render(request, "campaigns/_list_results.html", context)
    return render(request, "campaigns/list.html", context)


# --- the editor -------------------------------------------------------------------------------------------------


def _template_rows() -> list[dict[str, Any]]:
    """The approved templates a campaign can use, with their WhatsApp account (the number picks among them)."""
    rows = []
    for t in MessageTemplate.objects.order_by("name", "language"):
        if not t.is_approved:
            continue
        rows.append({"pk": t.pk, "label": f"{t.name} ({t.language})", "waba": t.waba_id,
                     "category": t.category.capitalize()})
    return rows


def _template_context(template: MessageTemplate | None, mapping: Mapping[str, Any],
                      post: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A template's text and its variables, each with what fills it (the stored mapping, or what was just posted)."""
    if template is None:
        return {"template": None}
    samples = examples(template)
    rows = []
    for key in template_variables(template):
        if post is not None and f"{VAR_PREFIX}{key}__source" in post:
            source = str(post.get(f"{VAR_PREFIX}{key}__source") or TEXT)
            text = str(post.get(f"{VAR_PREFIX}{key}__text") or "")
        else:
            spec = mapping.get(key) or {}
            if spec:
                source = str(spec.get("value") or "") if spec.get("source") == "field" else TEXT
                text = str(spec.get("value") or "") if spec.get("source") != "field" else ""
            else:  # a new mapping: the usual convention, the first variable is the customer's first name
                source = "nombre" if key in {"1", "first_name", "nombre", "primer_nombre"} else TEXT
                text = ""
        rows.append({"key": key, "source": source, "text": text, "example": samples.get(key, ""),
                     "prefix": f"{VAR_PREFIX}{key}"})
    return {"template": template, "variable_rows": rows, "variable_choices": variable_choices(),
            "template_text": _template_text(template), "template_buttons": _buttons(template),
            "template_unsupported": unsupported_reason(template),
            "template_media_header": _has_image_header(template), "text_choice": TEXT}


def _template_text(template: MessageTemplate) -> str:
    return render_text(template, {})


def _buttons(template: MessageTemplate) -> list[str]:
    """The template's buttons' labels (quick replies and links), shown under the message as WhatsApp does."""
    found: list[str] = []
    for component in template.components or []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == "BUTTONS":
            found += [str(b.get("text") or "") for b in component.get("buttons") or [] if isinstance(b, dict)]
    return [b for b in found if b]


def _has_image_header(template: MessageTemplate) -> bool:
    return any(isinstance(c, dict) and str(c.get("type", "")).upper() == "HEADER"
               and str(c.get("format", "")).upper() == "IMAGE" for c in template.components or [])


def _editor_context(request: HttpRequest, campaign: Campaign | None, form: CampaignForm,
                    sections: Mapping[str, str]) -> dict[str, Any]:
    user = _user(request)
    template = None
    if form.is_bound:
        pk = form.data.get("wa_template")
        template = MessageTemplate.objects.filter(pk=pk).first() if pk and str(pk).isdecimal() else None
    elif campaign is not None:
        template = campaign.wa_template
    mapping = campaign.wa_variables if campaign is not None else {}
    problems = launch_problems(campaign) if campaign is not None and not form.is_bound else {}
    field_problems = {form.field_for(k) or k: v for k, v in problems.items()}
    for name, message in field_problems.items():
        if name in form.fields:
            form[name].launch_problem = message  # type: ignore[attr-defined]  # BoundFields are cached per form
    numbers = {str(n.pk): n.waba_id for n in WhatsappNumber.objects.all()}
    test_address = user.email if campaign is not None and campaign.channel == CampaignChannel.EMAIL else ""
    return {
        "campaign": campaign, "form": form, "sections": sections, "problems": field_problems,
        "channel": form.channel_value(), "templates": _template_rows(), "number_wabas": numbers,
        "chosen_template": str(template.pk) if template else "",
        **_template_context(template, mapping, form.data if form.is_bound else None),
        "fields": [(f"{{{{{name}}}}}", f.label) for name, f in variables.FIELDS.items()],
        "test_form": TestSendForm(initial={"address": test_address}),
        "error_count": len(form.errors) + len(sections),
        "has_mailboxes": Mailbox.objects.exists(), "has_numbers": bool(numbers),
        "has_sms_accounts": SmsAccount.objects.exists(),
    }


def _editor(request: HttpRequest, campaign: Campaign | None) -> HttpResponse:
    user = _user(request)
    if campaign is not None and campaign.state not in EDITABLE:
        messages.info(request, _("Esta campaña ya fue lanzada: su mensaje es el que recibieron sus clientes y no "
                                 "se edita."))
        return redirect("campaigns:detail", campaign_id=campaign.pk)
    form = CampaignForm(request.POST or None, initial=CampaignForm.initial_for(campaign))
    sections: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                saved = check_save_campaign(user, campaign.pk if campaign else None, form.campaign_input())
            except NotFoundError:
                raise Http404(_("La campaña no existe.")) from None
            except ActionError as exc:
                sections = form.show_errors(exc)
                status = exc.status
            else:
                messages.success(request, _("Borrador «%s» guardado.") % saved.name)
                return redirect("campaigns:edit", campaign_id=saved.pk)
    return render(request, "campaigns/edit.html", _editor_context(request, campaign, form, sections), status=status)


@perm_required(Perm.CAMPAIGNS_MANAGE)
def campaign_create(request: HttpRequest) -> HttpResponse:
    return _editor(request, None)


@perm_required(Perm.CAMPAIGNS_MANAGE)
def campaign_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return _editor(request, _campaign_or_404(_user(request), campaign_id))


@perm_required(Perm.CAMPAIGNS_MANAGE)
def template_fields(request: HttpRequest) -> HttpResponse:
    """The chosen template's text and a row per variable (htmx, when another template is picked)."""
    pk = request.GET.get("wa_template", "")
    template = MessageTemplate.objects.filter(pk=pk).first() if pk.isdecimal() else None
    mapping: Mapping[str, Any] = {}
    campaign_pk = request.GET.get("campaign", "")
    if template is not None and campaign_pk.isdecimal():
        stored = Campaign.objects.filter(pk=campaign_pk, wa_template=template).values_list("wa_variables",
                                                                                          flat=True).first()
        mapping = stored or {}
    return render(request, "campaigns/_template_fields.html", _template_context(template, mapping))


def _audience_of(query: QueryDict) -> dict[str, list[Any]]:
    return {"segments": query.getlist("segments"), "tags": query.getlist("tags"), "lists": query.getlist("lists"),
            "lead_states": query.getlist("lead_states")}


@perm_required(Perm.CAMPAIGNS_MANAGE)
def audience_preview(request: HttpRequest) -> HttpResponse:
    """The live count while the audience is chosen (htmx): everyone selected, those the channel reaches, the
    others by reason, and a few of the reached with links to their profiles."""
    channel = request.GET.get("channel", "")
    if channel not in CampaignChannel.values:
        channel = CampaignChannel.WHATSAPP
    try:
        audience = audiences.clean_audience(_audience_of(request.GET))
    except audiences.AudienceError as exc:
        return render(request, "campaigns/_audience.html", {"error": exc.message})
    found = audiences.preview(audience, channel)
    return render(request, "campaigns/_audience.html", {
        "preview": found, "sentence": audiences.describe(audience),
        "by_channel": by_channel(channel), "skipped_rows": _skip_rows(found.skipped, channel),
        "left_out": found.total - found.reachable})


def _skip_rows(skipped: Mapping[str, int], channel: str) -> list[tuple[str, str, int]]:
    """Who is left out and why, in the words of the channel ("sin teléfono" for WhatsApp and SMS), to follow a
    number: [(reason, "dados de baja", 12)]."""
    rows = []
    for reason, n in skipped.items():
        if not n or reason not in SkipReason.values:
            continue
        if reason == SkipReason.OPTED_OUT:
            label = ngettext("dado de baja", "dados de baja", n)
        elif reason == SkipReason.NO_ADDRESS:
            label = _("sin correo") if channel == CampaignChannel.EMAIL else _("sin teléfono")
        else:
            label = _("sin consentimiento")
        rows.append((reason, label, n))
    return rows


def _sample_customer(audience: Mapping[str, Any], channel: str) -> dict[str, Any]:
    """Whom the preview shows the message to: the first customer of the audience the channel reaches (else anyone
    of it, else a made-up one), as the sender loads them."""
    try:
        clean = audiences.clean_audience(audience)
    except audiences.AudienceError:
        return dict(SAMPLE_CUSTOMER)
    fields = ("name", "city", "department", "language")
    qs = audiences.selected(clean).order_by("-contact_sort_at", "-pk")
    found = qs.filter(audiences.reachable_q(channel)).values(*fields).first() or qs.values(*fields).first()
    return dict(found) if found else dict(SAMPLE_CUSTOMER)


def _unsaved(form: CampaignForm) -> Campaign:
    """The campaign as it is being written, never saved: what the preview renders."""
    d: Mapping[str, Any] = form.cleaned_data
    channel = form.channel_value()

    def pick(model: Any, key: str) -> Any:
        value = str(d.get(key) or "")
        return model.objects.filter(pk=value).first() if value.isdecimal() else None

    campaign = Campaign(
        name=d.get("name") or "", channel=channel, subject=d.get("subject") or "",
        preheader=d.get("preheader") or "", image_url=d.get("image_url") or "",
        button_label=d.get("button_label") or "", link_url=d.get("link_url") or "",
        wa_header_image=d.get("wa_header_image") or "", currency=settings.CURRENCY,
        body=(d.get("email_body") if channel == CampaignChannel.EMAIL else d.get("sms_body")) or "")
    campaign.wa_number = pick(WhatsappNumber, "wa_number")
    campaign.wa_template = pick(MessageTemplate, "wa_template")
    campaign.wa_variables = form.template_mapping(campaign.wa_template)
    campaign.mailbox = pick(Mailbox, "mailbox")
    campaign.sms_account = pick(SmsAccount, "sms_account")
    return campaign


def _preview_context(user: User, campaign: Campaign, customer: Mapping[str, Any]) -> dict[str, Any]:
    """What _preview.html shows: the message as `customer` reads it, or why it cannot be shown yet."""
    context: dict[str, Any] = {"channel": campaign.channel, "customer_name": customer.get("name") or "",
                               "campaign": campaign}
    if campaign.channel == CampaignChannel.WHATSAPP and (campaign.wa_number is None or campaign.wa_template is None):
        context["missing"] = _("Elija el número y la plantilla para ver el mensaje.")
    elif campaign.channel == CampaignChannel.EMAIL and campaign.mailbox is None:
        context["missing"] = _("Elija el buzón que envía para ver el correo.")
    elif campaign.channel == CampaignChannel.SMS and campaign.sms_account is None:
        context["missing"] = _("Elija la cuenta de SMS para ver el mensaje.")
    else:
        adapter = adapter_for(campaign, CampaignSettings.load())
        try:
            message = adapter.render(Recipient(id=0, address="", customer=dict(customer),
                                               language=str(customer.get("language") or user.language or "es")))
        except (Refused, ValueError, KeyError) as exc:
            context["missing"] = _("No se pudo preparar la vista previa: %s") % exc
        else:
            context["message"] = message
            if campaign.channel == CampaignChannel.SMS:
                context["segments"] = sms_count(message.text)
            if campaign.channel == CampaignChannel.EMAIL:
                key = secrets.token_urlsafe(16)
                cache.set(_preview_key(user, key), message.html, EMAIL_PREVIEW_SECONDS)
                context["frame_key"] = key
            if campaign.channel == CampaignChannel.WHATSAPP and campaign.wa_template is not None:
                context["buttons"] = _buttons(campaign.wa_template)
    return context


@require_POST
@perm_required(Perm.CAMPAIGNS_MANAGE)
def message_preview(request: HttpRequest) -> HttpResponse:
    """The message as one customer of the audience will read it, from what is written now (htmx): WhatsApp's
    template filled in, the SMS with its segments, the email in a sandboxed frame (its HTML is the marketer's)."""
    user = _user(request)
    form = CampaignForm(request.POST)
    form.is_valid()  # the preview reads what is valid so far
    campaign = _unsaved(form)
    customer = _sample_customer(_audience_of(request.POST), campaign.channel)
    context = _preview_context(user, campaign, customer)
    return render(request, "campaigns/_preview.html", context)


def _preview_key(user: User, key: str) -> str:
    return f"campaigns:email-preview:{user.pk}:{key}"


@xframe_options_sameorigin
@perm_required(Perm.CAMPAIGNS_VIEW)  # the detail page shows a sent campaign's email to those who may see campaigns
def email_frame(request: HttpRequest) -> HttpResponse:
    """The rendered email of the live preview, inside the editor's sandboxed frame: served with a policy of its own
    (no script, no form, no plugin; the email's own styles and images), only to the person who rendered it.

    Why not `srcdoc`: a srcdoc frame inherits the editor's Content-Security-Policy, which blocks the email's inline
    styles and remote images, so the preview would not look like the email."""
    html = cache.get(_preview_key(_user(request), request.GET.get("k", "")[:64]))
    if html is None:
        notice = _("La vista previa expiró: cambie algo en el correo para verla de nuevo.")
        html = f'<p style="font-family:sans-serif;color:#555">{escape(notice)}</p>'
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = EMAIL_PREVIEW_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


# --- test send and launch ---------------------------------------------------------------------------------------


@require_POST
@perm_required(Perm.CAMPAIGNS_MANAGE)
def campaign_test_send(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Sends the saved draft once to the person testing it; answers in place (htmx) or on the editor."""
    user = _user(request)
    campaign = _campaign_or_404(user, campaign_id)
    form = TestSendForm(request.POST)
    error = ""
    sent = None
    if not form.is_valid():
        error = _("Escriba a dónde enviar la prueba.")
    else:
        try:
            sent = check_test_send(user, campaign.pk, address=form.cleaned_data["address"])
        except ActionError as exc:
            error = exc.message
    if _htmx(request):
        return render(request, "campaigns/_test_result.html", {"sent": sent, "error": error},
                      status=400 if error else 200)
    if error:
        messages.error(request, error)
    else:
        assert sent is not None
        messages.success(request, _("Prueba enviada a %s.") % sent.address)
    return redirect("campaigns:edit", campaign_id=campaign.pk)


def _launch_context(campaign: Campaign) -> dict[str, Any]:
    found = audiences.preview(campaign.audience or {}, campaign.channel)
    return {"campaign": campaign, "preview": found, "problems": launch_problems(campaign),
            "skipped_rows": _skip_rows(found.skipped, campaign.channel),
            "left_out": found.total - found.reachable, "schedule": schedule_sentence(campaign),
            "audience_text": audiences.describe(campaign.audience or {}),
            "by_channel": by_channel(campaign.channel)}


@perm_required(Perm.CAMPAIGNS_MANAGE)
def campaign_launch(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """GET: the confirmation (how many receive it, how many are left out and why, what is still missing); POST:
    the launch."""
    user = _user(request)
    campaign = _campaign_or_404(user, campaign_id)
    if request.method == "POST":
        try:
            launched = check_launch(user, campaign.pk)
        except NotFoundError:
            raise Http404(_("La campaña no existe.")) from None
        except ActionError as exc:
            messages.error(request, exc.message)
            return redirect("campaigns:edit", campaign_id=campaign.pk) if campaign.state in EDITABLE \
                else redirect("campaigns:detail", campaign_id=campaign.pk)
        if launched.state == CampaignState.SCHEDULED:
            messages.success(request, ngettext(
                "Campaña programada: %(n)s cliente la recibirá. %(when)s",
                "Campaña programada: %(n)s clientes la recibirán. %(when)s", launched.recipients_count)
                % {"n": count(launched.recipients_count), "when": schedule_sentence(launched)})
        else:
            messages.success(request, ngettext(
                "Campaña lanzada: se está enviando a %(n)s cliente.",
                "Campaña lanzada: se está enviando a %(n)s clientes.", launched.recipients_count)
                % {"n": count(launched.recipients_count)})
        return redirect("campaigns:detail", campaign_id=campaign.pk)
    if campaign.state not in EDITABLE:
        return redirect("campaigns:detail", campaign_id=campaign.pk)
    template = "campaigns/_launch.html" if _htmx(request) else "campaigns/launch.html"
    return render(request, template, _launch_context(campaign))


# --- the detail and its live results ----------------------------------------------------------------------------


def _tiles(c: Campaign, s: stats.Summary) -> list[dict[str, Any]]:
    """The result tiles: a count, and a rate where one means something."""
    read_label = _("Abiertos") if c.channel == CampaignChannel.EMAIL else _("Leídos")
    return [
        {"key": "recipients", "label": _("Destinatarios"), "value": count(s.recipients)},
        {"key": "skipped", "label": _("Omitidos"), "value": count(s.skipped),
         "details": [f"{count(n)} {label}" for _reason, label, n in _skip_rows(s.skipped_by_reason, c.channel)]},
        {"key": "queued", "label": _("En cola"), "value": count(s.queued)},
        {"key": "sent", "label": _("Enviados"), "value": count(s.sent),
         "rate": percent(s.sent, s.recipients), "rate_of": _("de los destinatarios")},
        {"key": "delivered", "label": _("Entregados"), "value": count(s.delivered),
         "rate": percent(s.delivered, s.sent), "rate_of": _("de los enviados")},
        {"key": "read", "label": read_label, "value": count(s.read),
         "rate": percent(s.read, s.sent), "rate_of": _("de los enviados")},
        {"key": "clicked", "label": _("Clics"), "value": count(s.clicked),
         "rate": percent(s.clicked, s.sent), "rate_of": _("de los enviados")},
        {"key": "replied", "label": _("Respuestas"), "value": count(s.replied),
         "rate": percent(s.replied, s.sent), "rate_of": _("de los enviados")},
        {"key": "converted", "label": _("Conversiones"), "value": count(s.converted),
         "rate": percent(s.converted, s.sent), "rate_of": _("de los enviados")},
        {"key": "failed", "label": _("Fallidos"), "value": count(s.failed),
         "rate": percent(s.failed, s.recipients), "rate_of": _("de los destinatarios"), "bad": bool(s.failed)},
        {"key": "unsubscribed", "label": _("Bajas"), "value": count(s.unsubscribed),
         "rate": percent(s.unsubscribed, s.sent), "rate_of": _("de los enviados")},
    ]


def _results_context(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    user = _user(request)
    s = stats.summary(campaign)
    return {
        "campaign": campaign, "summary": s, "tiles": _tiles(campaign, s),
        "roi_text": percent(s.roi) if s.roi is not None else "—", "polling": polling(campaign),
        "can_manage": user.has_perm_code(Perm.CAMPAIGNS_MANAGE), "schedule": timing_sentence(campaign),
        "audience_text": audiences.describe(campaign.audience or {}), "icon": CHANNEL_ICONS[
            CampaignChannel(campaign.channel)],
        "cancel_question": _cancel_question(campaign, s),
        "history": [transition_sentence(t) for t in campaign.transitions.select_related("actor")],
        "created": _("Creada por %(who)s el %(when)s.") % {
            "who": campaign.created_by.display_name if campaign.created_by else system_actor(),
            "when": _when(campaign.created_at)},
    }


def _cancel_question(c: Campaign, s: stats.Summary) -> str:
    if c.state == CampaignState.DRAFT:
        return _("¿Cancelar este borrador? No se enviará a nadie y ya no se podrá editar.")
    if c.state == CampaignState.SCHEDULED:
        return _("¿Cancelar la campaña programada? No se enviará a nadie.")
    return ngettext("¿Cancelar la campaña? El mensaje en cola no se enviará; lo ya enviado queda enviado.",
                    "¿Cancelar la campaña? Los %(n)s mensajes en cola no se enviarán; lo ya enviado queda enviado.",
                    s.queued) % {"n": count(s.queued)}


def _recipient_rows(campaign: Campaign, state: str, cursor: str) -> tuple[list[CampaignRecipient], str]:
    try:
        return stats.recipients(campaign, state=state, cursor=cursor, limit=RECIPIENTS_PAGE)
    except ValueError:  # a mangled cursor: the first page rather than an error
        return stats.recipients(campaign, state=state, limit=RECIPIENTS_PAGE)


def _recipients_context(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    state = request.GET.get("state", "")
    if state not in dict(RECIPIENT_FILTERS):
        state = ""
    cursor = request.GET.get("cursor", "")
    rows, nxt = _recipient_rows(campaign, state, cursor)
    for r in rows:
        r.reason = (SkipReason(r.skip_reason).label if r.skip_reason in SkipReason.values  # type: ignore[attr-defined]
                    else r.error)
    query = QueryDict(mutable=True)
    if state:
        query["state"] = state
    first = query.urlencode()
    if nxt:
        query["cursor"] = nxt
    current = QueryDict(mutable=True)
    current.update({k: v for k, v in (("state", state), ("cursor", cursor)) if v})
    return {"recipients": rows, "recipient_state": state, "recipient_filters": RECIPIENT_FILTERS,
            "current_query": current.urlencode(), "live": polling(campaign),
            "next_query": query.urlencode() if nxt else "", "first_query": first if cursor else None,
            "is_email": campaign.channel == CampaignChannel.EMAIL}


@perm_required(Perm.CAMPAIGNS_VIEW)
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    user = _user(request)
    campaign = _campaign_or_404(user, campaign_id)
    if _htmx(request) and request.headers.get("HX-Target", "").endswith("#campaign-recipients"):
        return render(request, "campaigns/_recipients.html", {"campaign": campaign,
                                                              **_recipients_context(request, campaign)})
    sample = _first_recipient(campaign) or _sample_customer(campaign.audience or {}, campaign.channel)
    return render(request, "campaigns/detail.html", {
        **_results_context(request, campaign), **_recipients_context(request, campaign),
        "has_recipients": campaign.state != CampaignState.DRAFT,
        "message_preview": _preview_context(user, campaign, sample)})


def _first_recipient(campaign: Campaign) -> dict[str, Any] | None:
    """A customer the campaign was sent to (or is to be), as the sender loads them: the detail shows the message as
    they read it. Ordered as the (campaign, state, id) index is, so a campaign of 100,000 reads one index entry."""
    fields = ("customer__name", "customer__city", "customer__department", "customer__language")
    row = (CampaignRecipient.objects.filter(campaign=campaign).exclude(state=RecipientState.SKIPPED)
           .order_by("state", "pk").values(*fields).first())
    return {key.removeprefix("customer__"): value for key, value in row.items()} if row else None


@perm_required(Perm.CAMPAIGNS_VIEW)
def campaign_results(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The tiles, the progress and the header (out of band), polled every 3 seconds while the campaign sends; the
    answer for a finished campaign no longer asks to be polled."""
    campaign = _campaign_or_404(_user(request), campaign_id)
    response = render(request, "campaigns/_results.html", {**_results_context(request, campaign), "oob": True})
    response["HX-Trigger"] = "campaign:tick"  # the recipients' table refreshes with the tiles (its own filter and page)
    return response


def _change(request: HttpRequest, campaign_id: int, action: Callable[[User, int], Campaign], done: str) -> HttpResponse:
    user = _user(request)
    try:
        action(user, campaign_id)
    except NotFoundError:
        raise Http404(_("La campaña no existe.")) from None
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("campaigns:detail", campaign_id=campaign_id)


@require_POST
@perm_required(Perm.CAMPAIGNS_MANAGE)
def campaign_pause(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return _change(request, campaign_id, check_pause,
                   _("Campaña pausada: no sale ningún mensaje más hasta que la reanude."))


@require_POST
@perm_required(Perm.CAMPAIGNS_MANAGE)
def campaign_resume(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return _change(request, campaign_id, check_resume, _("Campaña reanudada: el envío continúa."))


@require_POST
@perm_required(Perm.CAMPAIGNS_MANAGE)
def campaign_cancel(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return _change(request, campaign_id, check_cancel,
                   _("Campaña cancelada: lo enviado queda enviado; nadie más la recibirá."))


@require_POST
@perm_required(Perm.CAMPAIGNS_MANAGE)
def campaign_unschedule(request: HttpRequest, campaign_id: int) -> HttpResponse:
    response = _change(request, campaign_id, check_unschedule,
                       _("La campaña volvió a borrador: puede editarla y lanzarla de nuevo."))
    campaign = Campaign.objects.filter(pk=campaign_id, state=CampaignState.DRAFT).values_list("pk", flat=True).first()
    return redirect("campaigns:edit", campaign_id=campaign) if campaign else response


# --- the report -------------------------------------------------------------------------------------------------


def report_columns() -> list[Column]:
    return [
        Column("customer_id", gettext_lazy("ID del cliente"), "uuid"),
        Column("customer", gettext_lazy("Cliente")),
        Column("address", gettext_lazy("Teléfono o correo"), "phone"),
        Column("state", gettext_lazy("Estado"), "code", {k: str(v) for k, v in RecipientState.choices}),
        Column("skip_reason", gettext_lazy("Motivo de la omisión"), "code",
               {k: str(v) for k, v in SkipReason.choices}),
        Column("error", gettext_lazy("Error del proveedor")),
        Column("sent_at", gettext_lazy("Enviado"), "datetime"),
        Column("delivered_at", gettext_lazy("Entregado"), "datetime"),
        Column("read_at", gettext_lazy("Leído o abierto"), "datetime"),
        Column("failed_at", gettext_lazy("Falló"), "datetime"),
        Column("clicked_at", gettext_lazy("Primer clic"), "datetime"),
        Column("clicks", gettext_lazy("Clics"), "int"),
        Column("replied_at", gettext_lazy("Respondió"), "datetime"),
        Column("converted_at", gettext_lazy("Compró"), "datetime"),
        Column("revenue", gettext_lazy("Ingreso"), "money"),
        Column("cost", gettext_lazy("Costo"), "decimal"),
        Column("unsubscribed_at", gettext_lazy("Se dio de baja"), "datetime"),
    ]


REPORT_FIELDS: Final = ("pk", "customer__uuid", "customer__name", "address", "state", "skip_reason", "error",
                        "sent_at", "delivered_at", "read_at", "failed_at", "clicked_at", "clicks", "replied_at",
                        "converted_at", "revenue", "cost", "unsubscribed_at")


def report_chunk(campaign_id: int, after: int) -> list[list[Any]]:
    """The next EXPORT_CHUNK recipients after id `after`, as rows in the columns' order (one query)."""
    rows = (CampaignRecipient.objects.filter(campaign_id=campaign_id, pk__gt=after).order_by("pk")
            .values_list(*REPORT_FIELDS)[:EXPORT_CHUNK])
    return [list(r) for r in rows]


def report_rows(campaign_id: int) -> Iterator[list[Any]]:
    after = 0
    while True:
        chunk = report_chunk(campaign_id, after)
        for row in chunk:
            yield row[1:]
        if len(chunk) < EXPORT_CHUNK:
            return
        after = chunk[-1][0]


async def areport_rows(campaign_id: int) -> AsyncIterator[list[Any]]:
    after = 0
    while True:
        chunk = await sync_to_async(report_chunk)(campaign_id, after)
        for row in chunk:
            yield row[1:]
        if len(chunk) < EXPORT_CHUNK:
            return
        after = chunk[-1][0]


# perm_required is typed for HttpResponse; a StreamingHttpResponse is served just the same.
@perm_required(Perm.CAMPAIGNS_VIEW)
def campaign_report(request: HttpRequest, campaign_id: int) -> HttpResponse | StreamingHttpResponse:
    """One row per recipient (left-out customers included, with the reason), streamed in keyset chunks, with the
    export options of core.exports (dialect, headers)."""
    campaign = _campaign_or_404(_user(request), campaign_id)
    try:
        options = CsvOptions.from_query(request.GET)
    except ActionError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    asgi = isinstance(request, ASGIRequest)
    return streaming_csv_response(columns=report_columns(), rows=report_rows(campaign.pk),
                                  arows=areport_rows(campaign.pk) if asgi else None, options=options,
                                  filename=f"campana-{campaign.pk}.csv")


# --- settings ---------------------------------------------------------------------------------------------------


@perm_required(Perm.CAMPAIGNS_MANAGE)
def campaign_settings(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    config = CampaignSettings.load()
    form = SettingsForm(request.POST or None, instance=config)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                check_save_settings(user, form.values())
            except ActionError as exc:
                form.add_error(None, exc.message)
                status = exc.status
            else:
                messages.success(request, _("Configuración de campañas guardada."))
                return redirect("campaigns:settings")
    return render(request, "campaigns/settings.html", {"form": form, "config": config}, status=status)
