"""Every write of campaigns: save a draft, test it, launch it (the audience resolved and stored), pause, resume,
cancel; the one transition function of a campaign's state machine; the settings. Views, the API, tasks and commands
call these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.roles import Perm
from campaigns import audience as audiences
from campaigns import stats, tasks, variables
from campaigns.channels import Later, Recipient, Refused, adapter_for
from campaigns.choices import (
    EDITABLE,
    CampaignChannel,
    CampaignState,
    Objective,
    RecipientState,
    ScheduleMode,
)
from campaigns.models import Campaign, CampaignRecipient, CampaignSettings
from campaigns.schedule import local_send_time, zone_for
from campaigns.transitions import do_transition
from connectors.mail.models import Mailbox
from connectors.sms.models import SmsAccount
from connectors.whatsapp.message_templates import unsupported_reason
from connectors.whatsapp.message_templates import variables as template_variables
from connectors.whatsapp.models import MessageTemplate, WhatsappNumber
from core import audit
from core.errors import ActionError, InvalidTransition, NotFoundError
from core.perms import require_perm
from core.tasks import enqueue_later, enqueue_on_commit
from core.validators import text_error


@dataclass
class CampaignInput:
    """What a person (or the API) writes of a campaign; None leaves a field as it is (PATCH)."""

    name: str | None = None
    objective: str | None = None
    channel: str | None = None
    audience: Mapping[str, Any] | None = None
    wa_number_id: int | None = None
    wa_template_id: int | None = None
    wa_variables: Mapping[str, Any] | None = None
    wa_header_image: str | None = None
    mailbox_id: int | None = None
    sms_account_id: int | None = None
    subject: str | None = None
    preheader: str | None = None
    body: str | None = None
    image_url: str | None = None
    button_label: str | None = None
    link_url: str | None = None
    schedule_mode: str | None = None
    starts_at: datetime | None = None
    window_start: time | None = None
    window_end: time | None = None
    rate_per_second: int | None = None  # 0 clears it (the channel's rate)
    conversion_days: int | None = None
    cost_per_message: Decimal | str | None = None  # "" clears it (the channel's cost)


TEXTS = {"name": (150, True), "subject": (200, False), "preheader": (200, False), "body": (4000, False),
         "button_label": (60, False)}
URLS = ("wa_header_image", "image_url", "link_url")


def access_campaign(acting_user: User, campaign_id: int, *, lock: bool = False) -> Campaign:
    require_perm(acting_user, Perm.CAMPAIGNS_VIEW)
    qs = Campaign.objects.select_related("wa_number", "wa_template", "mailbox", "sms_account", "created_by")
    if lock:
        qs = qs.select_for_update(of=("self",))
    campaign = qs.filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFoundError("campaign_not_found", _("La campaña no existe."))
    return campaign


def _url_error(value: str) -> str | None:
    if value and not (value.startswith("https://") or value.startswith("http://")):
        return _("Escriba una dirección completa, que empiece con https://.")
    if len(value) > 200:
        return _("La dirección es demasiado larga (máximo 200 caracteres).")
    return None


def _apply(campaign: Campaign, data: CampaignInput, errors: dict[str, str]) -> None:
    given = {f.name: getattr(data, f.name) for f in fields(data) if getattr(data, f.name) is not None}
    for key, (limit, required) in TEXTS.items():
        if key in given:
            value = str(given[key]).strip() if key != "body" else str(given[key]).strip("\n")
            problem = text_error(value, label=str(getattr(Campaign._meta.get_field(key), "verbose_name", key))
                                 .capitalize(), max_length=limit)
            if problem:
                errors[key] = problem
            elif required and not value:
                errors[key] = _("El nombre es obligatorio.")
            setattr(campaign, key, value)
    for key in URLS:
        if key in given:
            value = str(given[key]).strip()
            problem = _url_error(value)
            if problem:
                errors[key] = problem
            setattr(campaign, key, value)
    if "objective" in given:
        if given["objective"] not in Objective.values:
            errors["objective"] = _("Objetivo desconocido.")
        else:
            campaign.objective = given["objective"]
    if "channel" in given:
        if given["channel"] not in CampaignChannel.values:
            errors["channel"] = _("Canal desconocido.")
        else:
            campaign.channel = given["channel"]
    if "audience" in given:
        try:
            campaign.audience = audiences.clean_audience(given["audience"])
        except audiences.AudienceError as exc:
            errors["audience"] = exc.message
    for field, model, missing in (
            ("wa_number", WhatsappNumber, _("El número de WhatsApp no existe.")),
            ("wa_template", MessageTemplate, _("La plantilla no existe.")),
            ("mailbox", Mailbox, _("El buzón no existe.")),
            ("sms_account", SmsAccount, _("La cuenta de SMS no existe."))):
        if f"{field}_id" in given:
            found = model.objects.filter(pk=given[f"{field}_id"]).first()
            setattr(campaign, field, found)
            if found is None:
                errors[field] = missing
    if "wa_variables" in given:
        mapping = given["wa_variables"]
        if not isinstance(mapping, Mapping):
            errors["wa_variables"] = _("Las variables de la plantilla deben ser un objeto.")
        else:
            clean: dict[str, dict[str, str]] = {}
            for key, spec in mapping.items():
                source = str(spec.get("source") or "text") if isinstance(spec, Mapping) else "text"
                value = str(spec.get("value") or "") if isinstance(spec, Mapping) else str(spec)
                if source == "field" and value not in variables.FIELDS:
                    errors["wa_variables"] = _("Dato del cliente desconocido: %s.") % value
                elif text_error(value, label=f"{{{{{key}}}}}", max_length=1024):
                    errors["wa_variables"] = str(text_error(value, label=f"{{{{{key}}}}}", max_length=1024))
                clean[str(key)[:40]] = {"source": "field" if source == "field" else "text", "value": value}
            campaign.wa_variables = clean
    if "schedule_mode" in given:
        if given["schedule_mode"] not in ScheduleMode.values:
            errors["schedule_mode"] = _("Forma de envío desconocida.")
        else:
            campaign.schedule_mode = given["schedule_mode"]
    for key in ("starts_at", "window_start", "window_end"):
        if key in given:
            setattr(campaign, key, given[key])
    if "rate_per_second" in given:
        rate = given["rate_per_second"]
        if rate == 0:  # back to the channel's rate
            campaign.rate_per_second = None
        elif not isinstance(rate, int) or not 1 <= rate <= 1000:
            errors["rate_per_second"] = _("Entre 1 y 1.000 mensajes por segundo.")
        else:
            campaign.rate_per_second = rate
    if "conversion_days" in given:
        days = given["conversion_days"]
        if not isinstance(days, int) or not 1 <= days <= 90:
            errors["conversion_days"] = _("Entre 1 y 90 días.")
        else:
            campaign.conversion_days = days
    if "cost_per_message" in given and str(given["cost_per_message"]).strip() == "":
        campaign.cost_per_message = None  # back to the channel's cost
    elif "cost_per_message" in given:
        try:
            cost = Decimal(str(given["cost_per_message"]).replace(",", "."))
        except InvalidOperation:
            cost = Decimal(-1)
        if not cost.is_finite() or cost < 0 or cost >= 1_000_000:
            errors["cost_per_message"] = _("Escriba un costo de 0 o más.")
        else:
            campaign.cost_per_message = cost.quantize(Decimal("0.0001"))


@transaction.atomic
def check_save_campaign(acting_user: User, campaign_id: int | None, data: CampaignInput) -> Campaign:
    """Creates a draft or edits one (every problem at once, in `errors`). Only a draft changes: a launched campaign's
    message is what its recipients got."""
    require_perm(acting_user, Perm.CAMPAIGNS_MANAGE)
    if campaign_id is None:
        campaign = Campaign(created_by=acting_user, currency=settings.CURRENCY)
        if data.name is None:
            data.name = ""
    else:
        campaign = access_campaign(acting_user, campaign_id, lock=True)
        if campaign.state not in EDITABLE:
            raise InvalidTransition("campaign_not_editable", _("Solo se edita una campaña en borrador."))
    before = _snapshot(campaign) if campaign.pk else {}
    errors: dict[str, str] = {}
    _apply(campaign, data, errors)
    if errors:
        raise ActionError("invalid_campaign", " ".join(errors.values()), errors=errors)
    campaign.updated_at = timezone.now()
    campaign.save()
    after = _snapshot(campaign)
    audit.record(actor=acting_user, action="campaign.created" if not before else "campaign.updated",
                 target=campaign, changes={k: [before.get(k), v] for k, v in after.items() if before.get(k) != v})
    return campaign


def _snapshot(c: Campaign) -> dict[str, Any]:
    return {"name": c.name, "objective": c.objective, "channel": c.channel, "audience": c.audience,
            "template": c.wa_template_id, "subject": c.subject, "body": c.body[:200], "link": c.link_url,
            "schedule": c.schedule_mode, "starts_at": c.starts_at.isoformat() if c.starts_at else None}


def launch_problems(campaign: Campaign, *, now: datetime | None = None) -> dict[str, str]:
    """What keeps a draft from being launched (or tested), by field."""
    now = now or timezone.now()
    problems: dict[str, str] = {}
    if campaign.channel == CampaignChannel.WHATSAPP:
        if campaign.wa_number is None:
            problems["wa_number"] = _("Elija el número de WhatsApp que envía.")
        elif not campaign.wa_number.is_active:
            problems["wa_number"] = _("El número de WhatsApp está desactivado.")
        template = campaign.wa_template
        if template is None:
            problems["wa_template"] = _("Elija una plantilla aprobada por Meta.")
        elif not template.is_approved or (campaign.wa_number is not None
                                          and template.waba_id != campaign.wa_number.waba_id):
            problems["wa_template"] = _("La plantilla no está aprobada para este número.")
        elif variables.image_header(template):
            if not campaign.wa_header_image:
                problems["wa_header_image"] = _("Esta plantilla lleva una imagen en el encabezado: escriba su enlace.")
        elif reason := unsupported_reason(template):
            problems["wa_template"] = _("Esta plantilla no se puede usar: %s.") % reason
        if template is not None:
            missing = [k for k in template_variables(template)
                       if not str((campaign.wa_variables.get(k) or {}).get("value") or "").strip()]
            if missing:
                problems["wa_variables"] = _("Complete las variables de la plantilla: %s.") % ", ".join(
                    f"{{{{{k}}}}}" for k in missing)
    elif campaign.channel == CampaignChannel.EMAIL:
        if campaign.mailbox is None or not campaign.mailbox.smtp_host:
            problems["mailbox"] = _("Elija un buzón con servidor SMTP para enviar.")
        if not campaign.subject.strip():
            problems["subject"] = _("Escriba el asunto.")
        if not campaign.body.strip():
            problems["body"] = _("Escriba el mensaje.")
        if campaign.button_label and not campaign.link_url:
            problems["link_url"] = _("El botón necesita el enlace de la campaña.")
    else:
        if campaign.sms_account is None or not campaign.sms_account.is_active:
            problems["sms_account"] = _("Elija una cuenta de SMS activa.")
        if not campaign.body.strip():
            problems["body"] = _("Escriba el mensaje.")
    if campaign.channel != CampaignChannel.WHATSAPP:
        unknown = variables.unknown_in(campaign.subject, campaign.preheader, campaign.body)
        if unknown:
            problems["body"] = _("Variables desconocidas: %s.") % ", ".join(f"{{{{{v}}}}}" for v in unknown)
        if variables.LINK in variables.names_in(campaign.body) and not campaign.link_url:
            problems["link_url"] = _("El mensaje usa {{enlace}}: escriba el enlace de la campaña.")
    if campaign.schedule_mode == ScheduleMode.AT and (campaign.starts_at is None or campaign.starts_at <= now):
        problems["starts_at"] = _("Elija una fecha y hora futuras.")
    if campaign.schedule_mode == ScheduleMode.LOCAL and campaign.window_start >= campaign.window_end:
        problems["window_start"] = _("El horario permitido debe empezar antes de terminar.")
    return problems


# --- launch: the audience resolved and stored ----------------------------------------------------------------


def do_prepare(campaign: Campaign, *, now: datetime) -> tuple[int, int]:
    """Stores the campaign's recipients (the audience resolved once, in chunks walked by id) and who is left out
    with the reason; returns (to send, left out). Idempotent: rows already stored are kept as they are."""
    start = campaign.starts_at if campaign.schedule_mode == ScheduleMode.AT and campaign.starts_at else now
    local = campaign.schedule_mode == ScheduleMode.LOCAL
    window = (campaign.window_start, campaign.window_end)
    zones: dict[str, datetime] = {}
    to_send = skipped = 0
    for chunk in audiences.rows(campaign.audience, campaign.channel):
        batch = []
        for customer_id, address, reason in chunk:
            send_after = None
            if local and not reason:
                key = address[:6] if address.startswith("+") else "@"
                if key not in zones:
                    zones[key] = local_send_time(start, zone_for(address), window)
                send_after = zones[key]
            batch.append(CampaignRecipient(
                campaign=campaign, customer_id=customer_id, channel=campaign.channel, address=address,
                state=RecipientState.SKIPPED if reason else RecipientState.PENDING, skip_reason=reason,
                send_after=send_after))
            if reason:
                skipped += 1
            else:
                to_send += 1
        CampaignRecipient.objects.bulk_create(batch, ignore_conflicts=True)
    return to_send, skipped


@transaction.atomic
def check_launch(acting_user: User, campaign_id: int) -> Campaign:
    """Launches a draft: checks it, stores its recipients, and starts sending now or at its time."""
    require_perm(acting_user, Perm.CAMPAIGNS_MANAGE)
    campaign = access_campaign(acting_user, campaign_id, lock=True)
    if campaign.state != CampaignState.DRAFT:
        raise InvalidTransition("campaign_not_draft", _("Esta campaña ya fue lanzada."))
    now = timezone.now()
    problems = launch_problems(campaign, now=now)
    if problems:
        raise ActionError("campaign_incomplete", " ".join(problems.values()), errors=problems)
    to_send, skipped = do_prepare(campaign, now=now)
    if not to_send:
        raise ActionError("empty_audience", _("Ningún cliente de la audiencia puede recibir esta campaña por este "
                                              "canal: %s") % _skipped_sentence(campaign), field="audience")
    campaign.launched_at, campaign.recipients_count, campaign.skipped_count = now, to_send, skipped
    later = campaign.schedule_mode == ScheduleMode.AT
    do_transition(campaign, to=CampaignState.SCHEDULED if later else CampaignState.SENDING, acting_user=acting_user,
                  data={"recipients": to_send, "skipped": skipped})
    audit.record(actor=acting_user, action="campaign.launched", target=campaign,
                 changes={"recipients": to_send, "skipped": skipped})
    if later:
        assert campaign.starts_at is not None
        transaction.on_commit(lambda: enqueue_later(tasks.start_due_campaigns, campaign.starts_at))
    else:
        enqueue_on_commit(tasks.send_campaign, campaign_id=campaign.pk)
    return campaign


def _skipped_sentence(campaign: Campaign) -> str:
    reasons = stats.summary(campaign).skipped_sentences()
    return "; ".join(f"{label}: {n}" for label, n in reasons) or _("la audiencia está vacía")


@transaction.atomic
def check_pause(acting_user: User, campaign_id: int) -> Campaign:
    require_perm(acting_user, Perm.CAMPAIGNS_MANAGE)
    campaign = access_campaign(acting_user, campaign_id, lock=True)
    do_transition(campaign, to=CampaignState.PAUSED, acting_user=acting_user)
    audit.record(actor=acting_user, action="campaign.paused", target=campaign, changes={})
    return campaign


@transaction.atomic
def check_resume(acting_user: User, campaign_id: int) -> Campaign:
    require_perm(acting_user, Perm.CAMPAIGNS_MANAGE)
    campaign = access_campaign(acting_user, campaign_id, lock=True)
    do_transition(campaign, to=CampaignState.SENDING, acting_user=acting_user)
    audit.record(actor=acting_user, action="campaign.resumed", target=campaign, changes={})
    enqueue_on_commit(tasks.send_campaign, campaign_id=campaign.pk)
    return campaign


@transaction.atomic
def check_cancel(acting_user: User, campaign_id: int) -> Campaign:
    """Cancels a campaign: what was sent stays sent; nobody else is sent to (a scheduled one goes nowhere)."""
    require_perm(acting_user, Perm.CAMPAIGNS_MANAGE)
    campaign = access_campaign(acting_user, campaign_id, lock=True)
    do_transition(campaign, to=CampaignState.CANCELLED, acting_user=acting_user)
    # the queued, and sends a dead worker abandoned (their lease over); the one in flight ends on its own
    left = CampaignRecipient.objects.filter(campaign=campaign).filter(
        Q(state=RecipientState.PENDING) | Q(state=RecipientState.SENDING, lease_until__lt=timezone.now())).update(
        state=RecipientState.CANCELLED, lease_until=None)
    audit.record(actor=acting_user, action="campaign.cancelled", target=campaign, changes={"not_sent": left})
    return campaign


@transaction.atomic
def check_unschedule(acting_user: User, campaign_id: int) -> Campaign:
    """A scheduled campaign back to draft (its prepared recipients are dropped: the audience is resolved again at
    the next launch)."""
    require_perm(acting_user, Perm.CAMPAIGNS_MANAGE)
    campaign = access_campaign(acting_user, campaign_id, lock=True)
    do_transition(campaign, to=CampaignState.DRAFT, acting_user=acting_user)
    CampaignRecipient.objects.filter(campaign=campaign).delete()
    campaign.launched_at, campaign.recipients_count, campaign.skipped_count = None, 0, 0
    campaign.save(update_fields=["launched_at", "recipients_count", "skipped_count"])
    audit.record(actor=acting_user, action="campaign.unscheduled", target=campaign, changes={})
    return campaign


def do_start_due(*, now: datetime | None = None) -> int:
    """The scheduler's job: scheduled campaigns whose time came start sending."""
    now = now or timezone.now()
    started = 0
    for pk in Campaign.objects.filter(state=CampaignState.SCHEDULED, starts_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            campaign = Campaign.objects.select_for_update().filter(pk=pk, state=CampaignState.SCHEDULED).first()
            if campaign is None:
                continue
            do_transition(campaign, to=CampaignState.SENDING, acting_user=None)
            enqueue_on_commit(tasks.send_campaign, campaign_id=pk)
            started += 1
    return started


# --- test send ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestSent:
    address: str
    text: str


def check_test_send(acting_user: User, campaign_id: int, *, address: str) -> TestSent:
    """Sends the draft's message once to the person testing it (their phone or email), with a sample customer's
    data (the first of the audience, or the tester's own name); nothing is counted in the results."""
    require_perm(acting_user, Perm.CAMPAIGNS_MANAGE)
    campaign = access_campaign(acting_user, campaign_id)
    problems = {k: v for k, v in launch_problems(campaign).items() if k not in {"starts_at", "window_start"}}
    if problems:
        raise ActionError("campaign_incomplete", " ".join(problems.values()), errors=problems)
    address = address.strip()
    if campaign.channel == CampaignChannel.EMAIL:
        if "@" not in address or len(address) > 254 or any(ch.isspace() for ch in address):
            raise ActionError("invalid_address", _("Escriba un correo válido."), field="address")
    else:
        try:
            parsed = phonenumbers.parse(address, settings.PHONE_REGION)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_valid_number(parsed):
            raise ActionError("invalid_address", _("Escriba un teléfono válido, con el código del país."),
                              field="address")
        address = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    found = audiences.selected(campaign.audience).filter(audiences.reachable_q(campaign.channel)).order_by(
        "-contact_sort_at", "-pk").values(
        "name", "city", "department", "language").first()
    sample: dict[str, Any] = dict(found) if found else {"name": acting_user.display_name}
    adapter = adapter_for(campaign)
    try:
        r = Recipient(id=0, address=address, customer=sample, language=acting_user.language or "es")
        message = adapter.render(r)
        adapter.send(r, message)
    except (Refused, Later) as exc:
        raise ActionError("test_failed", _("No se pudo enviar la prueba: %s") % exc.reason) from exc
    finally:
        adapter.close()
    audit.record(actor=acting_user, action="campaign.tested", target=campaign, changes={"address": address})
    return TestSent(address=address, text=message.text)


# --- settings ---------------------------------------------------------------------------------------------------


SETTINGS_FIELDS = frozenset({"opt_out_keywords", "opt_out_reply", "cost_whatsapp", "cost_email", "cost_sms",
                             "whatsapp_daily_limit", "whatsapp_rate", "email_rate", "sms_rate"})


@transaction.atomic
def check_save_settings(acting_user: User, values: Mapping[str, Any]) -> CampaignSettings:
    require_perm(acting_user, Perm.CAMPAIGNS_MANAGE)
    config = CampaignSettings.load()
    config = CampaignSettings.objects.select_for_update().get(pk=config.pk)
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in SETTINGS_FIELDS:
            raise ActionError("invalid_settings", _("Campo desconocido: %s.") % key, field=key)
        if getattr(config, key) != value:
            changes[key] = [str(getattr(config, key)), str(value)]
            setattr(config, key, value)
    try:
        config.full_clean(exclude=["updated_at"])
    except ValidationError as exc:
        errors = {k: " ".join(str(m) for m in v) for k, v in exc.message_dict.items()}
        raise ActionError("invalid_settings", " ".join(errors.values()), errors=errors) from None
    config.updated_at = timezone.now()
    config.save()
    audit.record(actor=acting_user, action="campaign.settings_updated", target=config, changes=changes)
    return config
