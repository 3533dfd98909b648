"""Every write to leads goes through here (STYLE §2). One transition function for the work status
(`do_transition_lead`), history rows in LeadEvent, audit entries, realtime events after commit."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm, Role
from core import audit
from core.errors import ActionError, ConflictError, InvalidTransition, NotFoundError
from core.events import emit
from core.upsert import race_free
from core.validators import check_text
from customers.actions import apply_tags, do_upsert_customer
from customers.activity import refresh_on_commit
from customers.models import Tag
from leads.choices import WORK_STATUS_TRANSITIONS, LeadEventKind, Outcome, WorkStatus
from leads.events import LeadArrived, LeadClosed, LeadNoted
from leads.models import Lead, LeadEvent, LeadNote, LeadSettings, NoteTemplate
from leads.selectors import open_queue
from realtime import topics
from realtime.events import is_muted, send_event_on_commit

NOTE_MAX_LENGTH: int = settings.NOTE_MAX_LENGTH  # one limit for every note (docs/api.md, Limits)

# --- audience and payloads ---------------------------------------------------------------------------


def lead_payload(lead: Lead, op: str = "upsert") -> dict[str, Any]:
    customer = lead.customer
    return {
        "type": "lead",
        "op": op,
        "lead": {
            "id": lead.pk,
            "kommo_id": lead.kommo_id,
            "name": lead.name,
            "customer_name": customer.name if customer else "",
            "status": lead.work_status,
            "status_label": str(WorkStatus(lead.work_status).label),
            "held_by": lead.held_by.username if lead.held_by else None,
            "held_by_name": lead.held_by.display_name if lead.held_by else "",
            "last_note": lead.last_note_text,
            "last_note_at": lead.last_note_at.isoformat() if lead.last_note_at else None,
            "in_queue": lead.in_queue,
            "stage_name": lead.stage_name,
            "queue_entered_at": lead.queue_entered_at.isoformat(),
        },
    }


def _broadcast(lead: Lead, op: str = "upsert") -> None:
    if not is_muted():
        send_event_on_commit(lead_payload(lead, op), topics=[topics.LEADS])


def _event(lead: Lead, kind: LeadEventKind, *, actor: User | None = None, data: dict[str, Any] | None = None,
           dedupe_key: str | None = None) -> bool:
    """Appends a history row; returns False when `dedupe_key` was already recorded (a redelivery)."""
    if dedupe_key is not None:
        try:
            with transaction.atomic():
                LeadEvent.objects.create(lead=lead, kind=kind, actor=actor, data=data or {}, dedupe_key=dedupe_key)
        except IntegrityError:
            return False
        return True
    LeadEvent.objects.create(lead=lead, kind=kind, actor=actor, data=data or {})
    return True


# --- the work-status state machine -----------------------------------------------------------------


def do_transition_lead(lead: Lead, *, to: WorkStatus, acting_user: User | None, reason: str = "") -> bool:
    """The one transition function of the lead's work status. The caller holds the row lock.

    Returns False (and writes nothing) when the lead is already in `to`; raises InvalidTransition when the
    table forbids the move; otherwise saves, writes history and the audit entry.
    """
    current = WorkStatus(lead.work_status)
    if current == to:
        return False
    if to not in WORK_STATUS_TRANSITIONS[current]:
        raise InvalidTransition("invalid_transition", _("No se puede pasar de %(a)s a %(b)s.")
                                % {"a": current.label, "b": to.label})
    now = timezone.now()
    lead.work_status = to.value
    update = ["work_status"]
    if to == WorkStatus.DONE:
        lead.closed_at, lead.closed_by = now, acting_user
        update += ["closed_at", "closed_by"]
    elif current == WorkStatus.DONE:
        lead.closed_at, lead.closed_by = None, None
        update += ["closed_at", "closed_by"]
    lead.save(update_fields=update)
    refresh_on_commit(lead.customer_id)
    _event(lead, LeadEventKind.STATUS, actor=acting_user,
           data={"from": current.value, "to": to.value, "reason": reason})
    audit.record(actor=acting_user, action="lead.status_changed", target=lead,
                 changes={"work_status": [current.value, to.value], "reason": reason})
    if to == WorkStatus.DONE:
        emit(LeadClosed(lead_id=lead.pk, kommo_id=lead.kommo_id, closed_by_id=acting_user.pk if acting_user else None,
                        reason=reason), actor=acting_user)
    return True


# --- intake from Kommo --------------------------------------------------------------------------------


@race_free
def do_upsert_lead_from_kommo(
    *,
    kommo_id: int,
    name: str,
    price: Decimal,
    pipeline_id: int | None,
    status_id: int | None,
    stage_name: str,
    updated_at: int,
    responsible_id: int | None,
    tags: Iterable[str],
    custom_fields: list[dict[str, Any]],
    contact: dict[str, Any] | None,
    in_stage: bool,
) -> Lead:
    """Creates or updates the lead from Kommo's current state, and puts it in or takes it out of the queue.

    Idempotent: the same Kommo state applied twice changes nothing and writes no second history row
    (arrivals and departures are keyed on lead id + status + Kommo's updated_at). A state older than what
    we already applied is ignored, so out-of-order deliveries cannot undo a newer move. Race-free (core.upsert):
    two workers applying `add` and `status` of the same new lead at once both find no row to lock; the one whose
    insert loses runs again and updates the winner's lead.
    """
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(kommo_id=kommo_id).first()
        if lead is not None and updated_at and updated_at < lead.kommo_updated_at:
            return lead
        customer = None
        if contact is not None:
            customer = do_upsert_customer(name=contact.get("name", ""), phones=contact.get("phones", []),
                                          emails=contact.get("emails", []),
                                          kommo_contact_id=contact.get("id"))
        now = timezone.now()
        created = lead is None
        if lead is None:
            lead = Lead(kommo_id=kommo_id, queue_entered_at=now)
        was_in_queue = lead.in_queue and not created
        lead.name = name or lead.name or _("Lead %s") % kommo_id
        lead.price = price
        lead.pipeline_id, lead.status_id, lead.stage_name = pipeline_id, status_id, stage_name
        lead.kommo_updated_at = max(updated_at, lead.kommo_updated_at)
        lead.kommo_responsible_id = responsible_id
        lead.custom_fields = custom_fields
        lead.deleted_in_kommo = False
        previous_customer = lead.customer_id
        if customer is not None:
            lead.customer = customer
        if in_stage and not was_in_queue:
            lead.in_queue, lead.queue_entered_at, lead.left_queue_at = True, now, None
            lead.queue_sort_at = lead.last_note_at or now
        elif not in_stage and was_in_queue:
            lead.in_queue, lead.left_queue_at = False, now
        lead.save()
        refresh_on_commit(lead.customer_id)
        if previous_customer != lead.customer_id:
            refresh_on_commit(previous_customer)  # its lead state was this lead's
        tag_objs = [Tag.objects.get_or_create(name=t[:60])[0] for t in dict.fromkeys(tags) if t]
        lead.tags.set(tag_objs)
        key = f"kommo:{kommo_id}:{status_id}:{updated_at}"
        if in_stage and not was_in_queue:
            if _event(lead, LeadEventKind.ARRIVED, data={"stage": stage_name, "status_id": status_id},
                      dedupe_key=f"{key}:in"):
                emit(LeadArrived(lead_id=lead.pk, kommo_id=kommo_id, customer_id=lead.customer_id, name=lead.name,
                                 stage_name=stage_name))
            if lead.work_status == WorkStatus.DONE:
                do_transition_lead(lead, to=WorkStatus.IN_PROGRESS, acting_user=None,
                                   reason="back in the to-call stage in Kommo")
        elif not in_stage and was_in_queue:
            _event(lead, LeadEventKind.LEFT_QUEUE, data={"stage": stage_name, "status_id": status_id},
                   dedupe_key=f"{key}:out")
        if created or in_stage or was_in_queue:
            _broadcast(lead)
    return lead


def do_lead_left_stage(*, kommo_id: int, status_id: int | None, pipeline_id: int | None, stage_name: str,
                       updated_at: int) -> Lead | None:
    """Kommo moved a known lead to another stage: it leaves the queue; its notes and history stay."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(kommo_id=kommo_id).first()
        if lead is None or (updated_at and updated_at < lead.kommo_updated_at):
            return lead
        lead.status_id, lead.pipeline_id, lead.stage_name = status_id, pipeline_id, stage_name
        lead.kommo_updated_at = max(updated_at, lead.kommo_updated_at)
        fields = ["status_id", "pipeline_id", "stage_name", "kommo_updated_at"]
        if lead.in_queue:
            lead.in_queue, lead.left_queue_at = False, timezone.now()
            fields += ["in_queue", "left_queue_at"]
            _event(lead, LeadEventKind.LEFT_QUEUE, data={"stage": stage_name, "status_id": status_id},
                   dedupe_key=f"kommo:{kommo_id}:{status_id}:{updated_at}:out")
            lead.save(update_fields=fields)
            _broadcast(lead)
        else:
            lead.save(update_fields=fields)
    return lead


def do_lead_deleted(*, kommo_id: int) -> Lead | None:
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(kommo_id=kommo_id).first()
        if lead is None or lead.deleted_in_kommo:
            return lead
        lead.deleted_in_kommo = True
        was_in_queue = lead.in_queue
        lead.in_queue = False
        lead.left_queue_at = timezone.now() if was_in_queue else lead.left_queue_at
        lead.save(update_fields=["deleted_in_kommo", "in_queue", "left_queue_at"])
        _event(lead, LeadEventKind.DELETED)
        if was_in_queue:
            _broadcast(lead)
    return lead


# --- working a lead ---------------------------------------------------------------------------------


def access_lead(acting_user: User, lead_id: int, *, lock: bool = False) -> Lead:
    require_perm(acting_user, Perm.LEADS_VIEW)
    qs = Lead.objects.select_related("customer", "held_by")
    if lock:
        qs = qs.select_for_update(of=("self",)) if connection.features.has_select_for_update_of else qs
    lead = qs.filter(pk=lead_id).first()
    if lead is None:
        raise NotFoundError("lead_not_found", _("El lead no existe."))
    return lead


def reservation_applies(user: User) -> bool:
    return user.role in (LeadSettings.load().reservation_roles or [])


def check_not_held_by_other(lead: Lead, user: User) -> None:
    if lead.held_by_id is not None and lead.held_by_id != user.pk and reservation_applies(user):
        raise ConflictError(
            "lead_held", _("Este lead lo tiene %(name)s. Pida a un supervisor que lo libere o reasigne.")
            % {"name": lead.held_by.display_name if lead.held_by else "?"},
            held_by=lead.held_by.username if lead.held_by else None,
        )


def _hold(lead: Lead, user: User, *, via: str) -> None:
    lead.held_by, lead.held_at = user, timezone.now()
    lead.save(update_fields=["held_by", "held_at"])
    _event(lead, LeadEventKind.HELD, actor=user, data={"via": via})


def check_add_note(
    acting_user: User, lead_id: int, *, text: str = "", outcome: str = Outcome.UNCLASSIFIED,
    template_id: int | None = None,
) -> LeadNote:
    """Adds a note. When reservation applies to the author's role, the first note holds the lead and
    anyone else bound by reservation gets a ConflictError (HTTP 409). Two notes racing for an unheld lead:
    the row lock (PostgreSQL) or the IMMEDIATE write transaction (SQLite) serializes them, so exactly one
    author ends up holding it and the other is refused.
    """
    require_perm(acting_user, Perm.LEADS_WORK)
    template = None
    if template_id is not None:
        template = NoteTemplate.objects.filter(pk=template_id, is_active=True).prefetch_related("tags").first()
        if template is None:
            raise NotFoundError("template_not_found", _("La nota predefinida no existe."), field="template_id")
        text = text.strip() or template.text
        if outcome == Outcome.UNCLASSIFIED:
            outcome = template.outcome
    text = text.strip()
    if not text:
        raise ActionError("empty_note", _("Escriba la nota o elija una nota predefinida."), field="text")
    if len(text) > NOTE_MAX_LENGTH:
        raise ActionError("note_too_long", _("La nota supera los %d caracteres.") % NOTE_MAX_LENGTH, field="text")
    check_text(text, field="text", label=_("La nota"))
    if outcome not in Outcome.values:
        raise ActionError("invalid_outcome", _("Resultado inválido. Use: %s.") % ", ".join(Outcome.values),
                          field="outcome")
    with transaction.atomic():
        lead = access_lead(acting_user, lead_id, lock=True)
        check_not_held_by_other(lead, acting_user)
        if lead.work_status == WorkStatus.DONE:
            raise ConflictError("lead_closed", _("El lead está cerrado; un supervisor puede reabrirlo."))
        now = timezone.now()
        note = LeadNote.objects.create(lead=lead, author=acting_user, text=text, outcome=outcome,
                                       template=template, created_at=now)
        if lead.held_by_id is None and reservation_applies(acting_user):
            _hold(lead, acting_user, via="note")
        lead.notes_count += 1
        lead.first_note_at = lead.first_note_at or now
        lead.last_note_at, lead.last_note_text, lead.last_note_outcome = now, text[:300], outcome
        lead.contacted, lead.queue_sort_at = True, now
        lead.save(update_fields=["notes_count", "first_note_at", "last_note_at", "last_note_text",
                                 "last_note_outcome", "contacted", "queue_sort_at"])
        refresh_on_commit(lead.customer_id)  # a call is a contact
        do_transition_lead(lead, to=WorkStatus.IN_PROGRESS, acting_user=acting_user, reason="note")
        applied: list[str] = []
        if template is not None and lead.customer is not None:
            applied = [t.name for t in template.tags.all()]
            apply_tags(lead.customer, applied, acting_user=acting_user)
        _event(lead, LeadEventKind.NOTE, actor=acting_user,
               data={"note_id": note.pk, "outcome": outcome, "template": template.title if template else None,
                     "tags": applied})
        audit.record(actor=acting_user, action="lead.note_added", target=lead,
                     changes={"outcome": outcome, "template": template.title if template else None})
        emit(LeadNoted(lead_id=lead.pk, note_id=note.pk, author_id=acting_user.pk, outcome=outcome,
                       template=template.title if template else None), actor=acting_user)
        _broadcast(lead)
    return note


def check_close_lead(acting_user: User, lead_id: int, *, text: str = "", outcome: str = "") -> Lead:
    """Closes the lead (Completado). A lead never worked needs a final note, so "closed" always means contacted."""
    require_perm(acting_user, Perm.LEADS_WORK)
    if text.strip():
        check_add_note(acting_user, lead_id, text=text, outcome=outcome or Outcome.UNCLASSIFIED)
    with transaction.atomic():
        lead = access_lead(acting_user, lead_id, lock=True)
        check_not_held_by_other(lead, acting_user)
        if lead.notes_count == 0:
            raise ActionError("close_needs_note", _("Agregue una nota antes de cerrar el lead."), field="text")
        if not do_transition_lead(lead, to=WorkStatus.DONE, acting_user=acting_user, reason="closed"):
            return lead
        _broadcast(lead)
    return lead


def check_reopen_lead(acting_user: User, lead_id: int) -> Lead:
    require_perm(acting_user, Perm.LEADS_SUPERVISE)
    with transaction.atomic():
        lead = access_lead(acting_user, lead_id, lock=True)
        if do_transition_lead(lead, to=WorkStatus.IN_PROGRESS, acting_user=acting_user, reason="reopened"):
            _broadcast(lead)
    return lead


def check_release_lead(acting_user: User, lead_id: int) -> Lead:
    """A supervisor (or the holder) releases the hold so another operator can take the lead."""
    with transaction.atomic():
        lead = access_lead(acting_user, lead_id, lock=True)
        if lead.held_by_id != acting_user.pk:
            require_perm(acting_user, Perm.LEADS_SUPERVISE)
        if lead.held_by_id is None:
            return lead
        previous = lead.held_by.username if lead.held_by else None
        lead.held_by, lead.held_at = None, None
        lead.save(update_fields=["held_by", "held_at"])
        _event(lead, LeadEventKind.RELEASED, actor=acting_user, data={"from": previous})
        audit.record(actor=acting_user, action="lead.released", target=lead, changes={"held_by": [previous, None]})
        _broadcast(lead)
    return lead


def check_reassign_lead(acting_user: User, lead_id: int, *, to_user: str | int) -> Lead:
    require_perm(acting_user, Perm.LEADS_SUPERVISE)
    target = (User.objects.filter(pk=to_user) if isinstance(to_user, int) or str(to_user).isdigit()
              else User.objects.filter(username=to_user)).first()
    if target is None or not target.is_active or not target.has_perm_code(Perm.LEADS_WORK):
        raise ActionError("invalid_operator", _("El usuario no existe o no puede trabajar leads."), field="to_user")
    with transaction.atomic():
        lead = access_lead(acting_user, lead_id, lock=True)
        previous = lead.held_by.username if lead.held_by else None
        if lead.held_by_id == target.pk:
            return lead
        lead.held_by, lead.held_at = target, timezone.now()
        lead.save(update_fields=["held_by", "held_at"])
        _event(lead, LeadEventKind.REASSIGNED, actor=acting_user, data={"from": previous, "to": target.username})
        audit.record(actor=acting_user, action="lead.reassigned", target=lead,
                     changes={"held_by": [previous, target.username]})
        _broadcast(lead)
    return lead


def check_next_lead(acting_user: User) -> Lead | None:
    """Gives the operator the next lead to call and holds it for them, atomically.

    Order: a lead they already hold but never noted (pressing twice does not hoard leads), else the first
    unheld open lead in queue order (never contacted first, then oldest last contact).
    Why 100 agents pressing at once never get the same lead: on PostgreSQL the candidate row is taken with
    `SELECT … FOR UPDATE SKIP LOCKED`, so concurrent transactions skip rows another one is claiming, and
    the hold is written in that same transaction; on SQLite every write transaction is `BEGIN IMMEDIATE`
    (settings), so claims run one at a time. Emits a lead `upsert` event after commit.
    """
    require_perm(acting_user, Perm.LEADS_WORK)

    with transaction.atomic():
        mine = (Lead.objects.filter(held_by=acting_user, in_queue=True, notes_count=0, closed_at__isnull=True)
                .select_related("customer", "held_by").order_by("held_at", "id").first())
        if mine is not None:
            return mine
        candidates = open_queue().filter(held_by__isnull=True).select_related("customer")
        if connection.vendor == "postgresql":
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        lead = candidates.first()
        if lead is None:
            return None
        _hold(lead, acting_user, via="next")
        audit.record(actor=acting_user, action="lead.taken", target=lead)
        _broadcast(lead)
    return lead


# --- predefined notes and settings --------------------------------------------------------------------


@transaction.atomic
def check_save_note_template(
    acting_user: User, *, template_id: int | None = None, title: str, text: str,
    outcome: str = Outcome.UNCLASSIFIED, tags: Iterable[str] = (), is_active: bool = True, sort: int = 0,
) -> NoteTemplate:
    require_perm(acting_user, Perm.LEADS_SUPERVISE)
    if not title.strip() or not text.strip():
        raise ActionError("missing_fields", _("El título y el texto son obligatorios."))
    if outcome not in Outcome.values:
        raise ActionError("invalid_outcome", _("Resultado inválido."), field="outcome")
    if template_id is None:
        template = NoteTemplate()
    else:
        found = NoteTemplate.objects.select_for_update().filter(pk=template_id).first()
        if found is None:
            raise NotFoundError("template_not_found", _("La nota predefinida no existe."))
        template = found
    template.title, template.text, template.outcome = title.strip(), text.strip(), outcome
    template.is_active, template.sort = is_active, sort
    template.save()
    template.tags.set([Tag.objects.get_or_create(name=t.strip()[:60])[0] for t in tags if t.strip()])
    audit.record(actor=acting_user, action="note_template.saved", target=template,
                 changes={"tags": sorted(t.strip() for t in tags if t.strip())})
    return template


@transaction.atomic
def check_update_lead_settings(
    acting_user: User, *, reservation_roles: Iterable[str], queue_list_ids: Iterable[int],
    extra_customer_fields: Iterable[str],
) -> LeadSettings:
    require_perm(acting_user, Perm.LEADS_SUPERVISE)

    roles = sorted(set(reservation_roles))
    unknown = [r for r in roles if r not in Role.values]
    if unknown:
        raise ActionError("invalid_role", _("Roles desconocidos: %s") % ", ".join(unknown), field="reservation_roles")
    current = LeadSettings.load()
    old = {"reservation_roles": current.reservation_roles,
           "queue_lists": sorted(current.queue_lists.values_list("pk", flat=True)),
           "extra_customer_fields": current.extra_customer_fields}
    current.reservation_roles = roles
    current.extra_customer_fields = [f.strip() for f in extra_customer_fields if f.strip()]
    current.save()
    current.queue_lists.set(list(queue_list_ids))
    audit.record(actor=acting_user, action="lead_settings.updated", target=current, changes={
        "before": old, "after": {"reservation_roles": roles, "queue_lists": sorted(queue_list_ids),
                                 "extra_customer_fields": current.extra_customer_fields}})
    return current
