"""Writes for customers: identity by E.164 phone and email, profile edits, tags, duplicates and merges."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import Skill, User
from accounts.roles import Perm
from core import audit
from core.bulk import bulk_insert
from core.errors import ActionError, ConflictError, NotFoundError
from core.events import emit
from core.tasks import enqueue_on_commit
from core.text import fold
from core.upsert import race_free
from core.validators import max_length_of, text_error, text_problem
from customers import segments
from customers import tasks as customer_tasks
from customers.activity import refresh_on_commit
from customers.choices import ConsentChannel, ConsentStatus, ContactChannel, Language
from customers.events import ConsentChanged, CustomerCreated, CustomerMerged, CustomerTagged
from customers.merge import merge_participants
from customers.models import (
    Consent,
    Customer,
    CustomerEmail,
    CustomerPhone,
    DuplicateCandidate,
    MarketingList,
    Segment,
    Tag,
)
from customers.phones import normalize_email, normalize_phone, validate_customer_email


def _max_length(field: str) -> int | None:
    """The column's max_length for a profile field (None: a text column, or phones/emails checked one by one)."""
    if field not in PROFILE_FIELDS:
        return None
    return max_length_of(Customer, field)


def _flag_duplicate(customer: Customer, other: Customer, reason: str) -> None:
    if customer.pk == other.pk:
        return
    a, b = sorted([customer, other], key=lambda c: c.pk)
    DuplicateCandidate.objects.get_or_create(customer=a, other=b, defaults={"reason": reason[:200]})


def do_upsert_customer(
    *, name: str, phones: Iterable[str] = (), emails: Iterable[str] = (), kommo_contact_id: int | None = None,
) -> Customer:
    """Finds the customer by Kommo contact id, then any E.164 phone, then any email; creates one otherwise (see
    do_find_or_create_customer)."""
    return do_find_or_create_customer(name=name, phones=phones, emails=emails, kommo_contact_id=kommo_contact_id)[0]


@race_free
def do_find_or_create_customer(
    *, name: str, phones: Iterable[str] = (), emails: Iterable[str] = (), kommo_contact_id: int | None = None,
) -> tuple[Customer, bool]:
    """Finds the customer by Kommo contact id, then any E.164 phone, then any email; creates one otherwise. Returns
    (customer, created): a customer created here exists only in the caller's transaction, so nobody else can hold
    it or anything of it yet (the inbound intake skips its lock and its open-conversation lookup).

    Identifiers already owned by another customer are never moved silently: the pair is flagged as a
    possible duplicate for a person to merge. Race-free (core.upsert): a worker that loses the race to insert the
    same Kommo contact, phone or email runs again and finds the winner's customer. Runs in a savepoint of the
    caller's transaction.
    """
    e164s = [p for p in dict.fromkeys(normalize_phone(raw) for raw in phones) if p]
    mails = [m for m in dict.fromkeys(normalize_email(raw) for raw in emails) if m]
    customer = None
    if kommo_contact_id is not None:
        customer = Customer.objects.filter(kommo_contact_id=kommo_contact_id).first()
    by_phone = {p.e164: p.customer for p in CustomerPhone.objects.filter(e164__in=e164s).select_related("customer")}
    by_mail = {m.email: m.customer for m in CustomerEmail.objects.filter(email__in=mails).select_related("customer")}
    if customer is None:
        customer = next(iter(by_phone.values()), None) or next(iter(by_mail.values()), None)
    created = customer is None
    if customer is None:
        customer = Customer.objects.create(name=name.strip() or _("Sin nombre"), kommo_contact_id=kommo_contact_id)
        emit(CustomerCreated(customer_id=customer.pk, name=customer.name))
    else:
        changed = []
        if name.strip() and not customer.name.strip():
            customer.name = name.strip()
            changed.append("name")
        if (kommo_contact_id is not None and customer.kommo_contact_id is None
                and not Customer.objects.filter(kommo_contact_id=kommo_contact_id).exists()):
            customer.kommo_contact_id = kommo_contact_id
            changed.append("kommo_contact_id")
        if changed:
            customer.save(update_fields=[*changed, "updated_at"])
    for e164 in e164s:
        owner = by_phone.get(e164)
        if owner is None:
            CustomerPhone.objects.create(customer=customer, e164=e164)
        elif owner.pk != customer.pk:
            _flag_duplicate(customer, owner, f"teléfono {e164}")
    for email in mails:
        owner = by_mail.get(email)
        if owner is None:
            CustomerEmail.objects.create(customer=customer, email=email)
        elif owner.pk != customer.pk:
            _flag_duplicate(customer, owner, f"correo {email}")
    return customer, created


def apply_tags(customer: Customer, names: Iterable[str], *, acting_user: User | None = None) -> list[Tag]:
    """Adds tags (created on first use) to the customer; `customer.tagged` names the ones it did not have."""
    tags = []
    for name in dict.fromkeys(n.strip()[:60] for n in names):
        if name:
            tag, _created = Tag.objects.get_or_create(name=name)
            tags.append(tag)
    if tags:
        had = set(customer.tags.filter(pk__in=[t.pk for t in tags]).values_list("pk", flat=True))
        customer.tags.add(*tags)
        added = [t.name for t in tags if t.pk not in had]
        if added:
            emit(CustomerTagged(customer_id=customer.pk, tags=added), actor=acting_user)
            refresh_on_commit(customer.pk)  # a tag can put the customer in a segment (VIP)
    return tags


PROFILE_FIELDS = ("name", "document_id", "address", "city", "department", "notes")
MAX_TAGS = 30


@dataclass(frozen=True, kw_only=True)
class Preferences:
    """How and when the customer wants to be reached, and in which language ("" / None: no preference)."""

    language: str = ""
    preferred_channel: str = ""
    contact_from: time | None = None
    contact_to: time | None = None

    def errors(self) -> dict[str, str]:
        errors = {}
        if self.language not in {"", *Language.values}:
            errors["language"] = _("Idioma desconocido: %s") % self.language[:20]
        if self.preferred_channel not in {"", *ContactChannel.values}:
            errors["preferred_channel"] = _("Canal desconocido: %s") % self.preferred_channel[:20]
        if (self.contact_from is None) != (self.contact_to is None):
            errors["contact_hours"] = _("Indique las dos horas del horario de contacto, o ninguna.")
        elif self.contact_from is not None and self.contact_to is not None and self.contact_from >= self.contact_to:
            errors["contact_hours"] = _("El horario de contacto debe empezar antes de terminar.")
        return errors

    def values(self) -> dict[str, object]:
        return {"language": self.language, "preferred_channel": self.preferred_channel,
                "contact_from": self.contact_from, "contact_to": self.contact_to}

    @classmethod
    def of(cls, customer: Customer) -> Preferences:
        return cls(language=customer.language, preferred_channel=customer.preferred_channel,
                   contact_from=customer.contact_from, contact_to=customer.contact_to)


def _plain(value: object) -> object:
    """A value as the audit log stores it (JSON)."""
    return value.isoformat(timespec="minutes") if isinstance(value, time) else value


def _tag_names(names: Iterable[str], errors: dict[str, str]) -> list[str]:
    cleaned = []
    for raw in names:
        name = " ".join(str(raw).split())
        message = text_error(name, label=_("La etiqueta"), max_length=60)
        if message is not None:
            errors["tags"] = message
        elif name and name not in cleaned:
            cleaned.append(name)
    if len(cleaned) > MAX_TAGS:
        errors["tags"] = _("Un cliente puede tener hasta %d etiquetas.") % MAX_TAGS
    return cleaned


@transaction.atomic
def do_update_customer(
    customer_id: int,
    *,
    acting_user: User,
    name: str,
    document_id: str = "",
    address: str = "",
    city: str = "",
    department: str = "",
    notes: str = "",
    phones: Iterable[str] | None = (),
    emails: Iterable[str] | None = (),
    require_document: bool = False,
    marketing_list_ids: Iterable[int] | None = None,
    tags: Iterable[str] | None = None,
    preferences: Preferences | None = None,
    errors: dict[str, str] | None = None,
    audit_action: str | None = "customer.updated",
) -> Customer:
    """Validates every field, reports all errors at once (`errors` detail, with those the caller found already in
    `errors`), and writes nothing on error. `tags`, `preferences` and `marketing_list_ids`, when given, replace the
    customer's; `phones` / `emails` None leave them as they are, unchecked (a number stored by a channel that the
    stricter form rule would refuse must not block an edit of something else). `audit_action` None: the caller
    audits."""
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise NotFoundError("customer_not_found", _("El cliente no existe."))
    errors = dict(errors or {})
    tag_names = None if tags is None else _tag_names(tags, errors)
    if preferences is not None:
        errors.update(preferences.errors())
    keep_phones, keep_emails = phones is None, emails is None
    phones, emails = list(phones or ()), list(emails or ())
    texts = (("name", name, _("El nombre")), ("document_id", document_id, _("El documento")),
             ("address", address, _("La dirección")), ("city", city, _("La ciudad")),
             ("department", department, _("El departamento")), ("notes", notes, _("Las observaciones")),
             ("phones", "".join(phones), _("El teléfono")), ("emails", "".join(emails), _("El correo")))
    for field, value, label in texts:
        message = text_error(value.strip(), label=label, max_length=_max_length(field))
        if message is not None:
            errors[field] = message
    if not name.strip():
        errors["name"] = _("El nombre es obligatorio.")
    if require_document and not document_id.strip():
        errors["document_id"] = _("El documento de identidad es obligatorio.")
    e164s: list[str] = []
    for raw in [p for p in phones if p.strip()]:
        e164 = normalize_phone(raw)
        if e164 is None:
            errors["phones"] = _("Teléfono inválido: %s") % raw
        elif e164 not in e164s:
            e164s.append(e164)
    mails: list[str] = []
    for raw in [m for m in emails if m.strip()]:
        email = validate_customer_email(raw)
        if email is None:
            errors["emails"] = _("Correo inválido: %s") % raw
        elif email not in mails:
            mails.append(email)
    if keep_phones:
        e164s = sorted(customer.phones.values_list("e164", flat=True))
    if keep_emails:
        mails = sorted(customer.emails.values_list("email", flat=True))
    taken = CustomerPhone.objects.filter(e164__in=e164s).exclude(customer=customer).values_list("e164", flat=True)
    if taken:
        errors["phones"] = _("El teléfono %s ya pertenece a otro cliente.") % ", ".join(taken)
    taken_m = CustomerEmail.objects.filter(email__in=mails).exclude(customer=customer).values_list("email", flat=True)
    if taken_m:
        errors["emails"] = _("El correo %s ya pertenece a otro cliente.") % ", ".join(taken_m)
    if errors:
        raise ActionError("invalid_customer", " ".join(errors.values()), errors=errors)
    values = {"name": name.strip(), "document_id": document_id.strip(), "address": address.strip(),
              "city": city.strip(), "department": department.strip(), "notes": notes.strip()}
    changes: dict[str, list[object]] = {
        f: [getattr(customer, f), v] for f, v in values.items() if getattr(customer, f) != v}
    for field, (_old, new) in changes.items():
        setattr(customer, field, new)
    old_phones = sorted(customer.phones.values_list("e164", flat=True))
    old_mails = sorted(customer.emails.values_list("email", flat=True))
    if old_phones != sorted(e164s):
        customer.phones.exclude(e164__in=e164s).delete()
        for e164 in e164s:
            CustomerPhone.objects.get_or_create(customer=customer, e164=e164)
        changes["phones"] = [old_phones, sorted(e164s)]
    if old_mails != sorted(mails):
        customer.emails.exclude(email__in=mails).delete()
        for email in mails:
            CustomerEmail.objects.get_or_create(customer=customer, email=email)
        changes["emails"] = [old_mails, sorted(mails)]
    if preferences is not None:
        for field, wanted in preferences.values().items():
            if getattr(customer, field) != wanted:
                changes[field] = [_plain(getattr(customer, field)), _plain(wanted)]
                setattr(customer, field, wanted)
    if tag_names is not None:
        old_tags = sorted(customer.tags.values_list("name", flat=True))
        if old_tags != sorted(tag_names):
            customer.tags.remove(*customer.tags.exclude(name__in=tag_names))
            apply_tags(customer, tag_names, acting_user=acting_user)
            changes["tags"] = [old_tags, sorted(tag_names)]
    if marketing_list_ids is not None:
        old_lists = sorted(customer.marketing_lists.values_list("pk", flat=True))
        new_lists = sorted(set(marketing_list_ids))
        if old_lists != new_lists:
            customer.marketing_lists.set(MarketingList.objects.filter(pk__in=new_lists))
            changes["marketing_lists"] = [old_lists, new_lists]
    if changes:
        customer.save()
        if audit_action is not None:
            audit.record(actor=acting_user, action=audit_action, target=customer, changes=changes)
        if {"tags", "marketing_lists", "language"} & set(changes):
            refresh_on_commit(customer.pk)  # segments read them
    return customer


def access_customer(acting_user: User, customer_id: int, *, lock: bool = False) -> Customer:
    """The customer, for someone who may see customers (404 `customer_not_found` otherwise)."""
    require_perm(acting_user, Perm.CUSTOMERS_VIEW)
    qs = Customer.objects.select_for_update() if lock else Customer.objects
    customer = qs.filter(pk=customer_id).first()
    if customer is None:
        raise NotFoundError("customer_not_found", _("El cliente no existe."))
    return customer


@dataclass(frozen=True, kw_only=True)
class ConsentChange:
    """What a person (or an integration) records about one channel's consent."""

    status: str
    source: str = ""  # where an opt-in came from ("formulario web", "tienda")


def _consent_errors(consent: Mapping[str, ConsentChange]) -> dict[str, str]:
    errors = {}
    for channel, change in consent.items():
        if channel not in ConsentChannel.values:
            errors["consent"] = _("Canal de consentimiento desconocido: %s") % str(channel)[:20]
        elif change.status not in ConsentStatus.values:
            errors["consent"] = _("Estado de consentimiento desconocido: %s") % str(change.status)[:20]
        else:
            message = text_error(change.source.strip(), label=_("El origen del consentimiento"), max_length=200)
            if message is not None:
                errors["consent"] = message
    return errors


BOT_FIELDS = {"name": "name", "city": "city", "document": "document_id", "language": "language"}


def do_set_customer_fields(customer: Customer, *, fields: Mapping[str, str], source: str) -> list[str]:
    """Fields an automated writer (the chatbot) learnt from the customer: name, city, document, language. A value
    that does not fit or is not valid is skipped (a customer's typo never fails the conversation); an empty one
    never erases what is known. Returns the fields changed; the audit log names `source`."""
    changes: dict[str, Any] = {}
    for key, raw in fields.items():
        attribute = BOT_FIELDS.get(key)
        text = " ".join(str(raw).split())
        if attribute is None or not text or text_problem(text) is not None:
            continue
        if attribute == "language":
            text = text.lower()[:2]
            if text not in Language.values:
                continue
        text = text[:max_length_of(Customer, attribute) or len(text)]
        if getattr(customer, attribute) != text:
            changes[attribute] = [getattr(customer, attribute), text]
            setattr(customer, attribute, text)
    if changes:
        customer.save(update_fields=[*changes, "updated_at"])
        audit.record(actor=None, action="customer.updated", target=customer, changes=changes, actor_username=source)
    return list(changes)


@transaction.atomic
def check_update_customer(
    acting_user: User,
    customer_id: int,
    *,
    name: str | None = None,
    phones: Iterable[str] | None = None,
    emails: Iterable[str] | None = None,
    document_id: str | None = None,
    address: str | None = None,
    city: str | None = None,
    department: str | None = None,
    notes: str | None = None,
    tags: Iterable[str] | None = None,
    marketing_list_ids: Iterable[int] | None = None,
    preferences: Preferences | Mapping[str, Any] | None = None,
    consent: Mapping[str, ConsentChange] | None = None,
    consent_method: str = Consent.Method.AGENT,
) -> Customer:
    """Changes what is given and keeps the rest (the profile's edit form, PATCH /api/v1/customers/{id}); every
    error at once, nothing written on error. `preferences` as a mapping changes only the preferences it names,
    over the current ones read under the row lock."""
    require_perm(acting_user, Perm.CUSTOMERS_EDIT)
    customer = access_customer(acting_user, customer_id, lock=True)
    if preferences is not None and not isinstance(preferences, Preferences):
        preferences = replace(Preferences.of(customer), **preferences)
    errors = _consent_errors(consent or {})

    def keep(value: str | None, field: str) -> str:
        return str(getattr(customer, field)) if value is None else value

    customer = do_update_customer(
        customer.pk, acting_user=acting_user, name=keep(name, "name"), document_id=keep(document_id, "document_id"),
        address=keep(address, "address"), city=keep(city, "city"), department=keep(department, "department"),
        notes=keep(notes, "notes"),
        phones=phones, emails=emails,
        tags=tags, marketing_list_ids=marketing_list_ids, preferences=preferences, errors=errors)
    for channel, change in (consent or {}).items():
        do_set_consent(customer, channel=channel, status=change.status, source=change.source.strip(),
                       method=consent_method, acting_user=acting_user)
    return customer


@transaction.atomic
def check_create_customer(
    acting_user: User,
    *,
    name: str,
    phones: Iterable[str] = (),
    emails: Iterable[str] = (),
    document_id: str = "",
    address: str = "",
    city: str = "",
    department: str = "",
    notes: str = "",
    tags: Iterable[str] = (),
    marketing_list_ids: Iterable[int] = (),
    preferences: Preferences | None = None,
    consent: Mapping[str, ConsentChange] | None = None,
    consent_method: str = Consent.Method.AGENT,
) -> Customer:
    """A new customer typed by a person or sent by an integration. A phone or email that already belongs to
    someone is refused (naming it), never moved: the existing customer is the one to edit."""
    require_perm(acting_user, Perm.CUSTOMERS_EDIT)
    customer = do_create_customer(
        acting_user, name=name, phones=phones, emails=emails, document_id=document_id, address=address, city=city,
        department=department, notes=notes, tags=tags, marketing_list_ids=marketing_list_ids,
        preferences=preferences, errors=_consent_errors(consent or {}))
    for channel, change in (consent or {}).items():
        do_set_consent(customer, channel=channel, status=change.status, source=change.source.strip(),
                       method=consent_method, acting_user=acting_user)
    return customer


def do_create_customer(
    acting_user: User,
    *,
    name: str,
    phones: Iterable[str] = (),
    emails: Iterable[str] = (),
    document_id: str = "",
    address: str = "",
    city: str = "",
    department: str = "",
    notes: str = "",
    tags: Iterable[str] = (),
    marketing_list_ids: Iterable[int] = (),
    preferences: Preferences | None = None,
    errors: dict[str, str] | None = None,
) -> Customer:
    """Creates the customer with every field validated by do_update_customer (all problems at once, with those the
    caller found in `errors`; nothing is kept on error: the caller's transaction or savepoint rolls back). Audited
    as `customer.created`; emits customer.created. The form, the API and the CSV import create through here."""
    customer = Customer.objects.create(name=name.strip()[:200] or "?")
    customer = do_update_customer(
        customer.pk, acting_user=acting_user, name=name, phones=phones, emails=emails, document_id=document_id,
        address=address, city=city, department=department, notes=notes, tags=tags,
        marketing_list_ids=marketing_list_ids, preferences=preferences, errors=errors, audit_action=None)
    created = {field: value for field in ("name", *PROFILE_FIELDS[1:]) if (value := getattr(customer, field))}
    created["phones"] = sorted(customer.phones.values_list("e164", flat=True))
    created["emails"] = sorted(customer.emails.values_list("email", flat=True))
    created["tags"] = sorted(customer.tags.values_list("name", flat=True))
    audit.record(actor=acting_user, action="customer.created", target=customer,
                 changes={field: [None, value] for field, value in created.items() if value})
    emit(CustomerCreated(customer_id=customer.pk, name=customer.name), actor=acting_user)
    return customer


def do_set_consent(customer: Customer, *, channel: str, status: str, source: str = "", method: str = "",
                   acting_user: User | None = None, at: datetime | None = None,
                   override_opt_out: bool = True) -> Consent | None:
    """Records an opt-in (with its source) or an opt-out (with how) on one channel. Returns the consent row, or
    None when nothing changed (the same status again: an opt-out keyword sent twice is confirmed once).
    `override_opt_out`=False (a file import) never turns an opt-out the customer asked for themselves (a keyword
    reply, the email link) back into an opt-in: only the customer, or a person who heard them, can."""
    now = at or timezone.now()
    consent = Consent.objects.select_for_update().filter(customer=customer, channel=channel).first()
    if (not override_opt_out and status == ConsentStatus.OPTED_IN and consent is not None
            and consent.status == ConsentStatus.OPTED_OUT
            and consent.opt_out_method in {Consent.Method.KEYWORD, Consent.Method.LINK}):
        return None
    if consent is not None and consent.status == status and (status == ConsentStatus.OPTED_OUT
                                                             or not source or source == consent.source):
        return None
    consent = consent or Consent(customer=customer, channel=channel)
    old = consent.status
    consent.status, consent.updated_at = status, now
    if status == ConsentStatus.OPTED_IN:
        consent.opted_in_at, consent.source = now, source or consent.source
    else:
        consent.opted_out_at, consent.opt_out_method = now, method
    consent.save()
    audit.record(actor=acting_user, action="customer.consent_changed", target=customer,
                 changes={"channel": channel, "status": [old or None, status],
                          **({"source": source} if source else {}), **({"method": method} if method else {})})
    emit(ConsentChanged(customer_id=customer.pk, channel=channel, status=status,
                        method=method if status == ConsentStatus.OPTED_OUT else ""), actor=acting_user)
    return consent


@transaction.atomic
def do_complete_customer(customer_id: int, *, acting_user: User, name: str = "", phone: str = "", address: str = "",
                         city: str = "", department: str = "", document_id: str = "") -> tuple[Customer, str]:
    """Completes a record with what the customer just told (the delivery data typed with an order in a
    conversation): only the fields given change, read and written under the row lock, so an edit made meanwhile
    elsewhere (another phone, the notes) is kept; a phone is added to the customer's phones. Returns the customer
    and the typed phone in E.164 ("" when none was typed). Errors name their fields and write nothing."""
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise NotFoundError("customer_not_found", _("El cliente no existe."))
    given = {"name": name.strip(), "address": address.strip(), "city": city.strip(), "department": department.strip(),
             "document_id": document_id.strip()}
    labels = {"name": _("El nombre"), "address": _("La dirección"), "city": _("La ciudad"),
              "department": _("El departamento"), "document_id": _("El documento")}
    errors: dict[str, str] = {}
    for field, value in given.items():
        message = text_error(value, label=labels[field], max_length=_max_length(field)) if value else None
        if message is not None:
            errors[field] = message
    e164 = ""
    if phone.strip():
        e164 = normalize_phone(phone) or ""
        if not e164:
            errors["phones"] = _("Teléfono inválido: %s") % phone.strip()
        elif CustomerPhone.objects.filter(e164=e164).exclude(customer=customer).exists():
            errors["phones"] = _("El teléfono %s ya pertenece a otro cliente.") % e164
    if errors:
        raise ActionError("invalid_customer", " ".join(errors.values()), errors=errors)
    changes: dict[str, list[object]] = {f: [getattr(customer, f), v] for f, v in given.items()
                                        if v and getattr(customer, f) != v}
    for field, (_old, new) in changes.items():
        setattr(customer, field, new)
    if changes:
        customer.save(update_fields=list(changes))
    if e164 and not customer.phones.filter(e164=e164).exists():
        try:
            with transaction.atomic():
                CustomerPhone.objects.create(customer=customer, e164=e164)
        except IntegrityError:  # another customer took it meanwhile
            raise ActionError("invalid_customer", _("El teléfono %s ya pertenece a otro cliente.") % e164,
                              errors={"phones": _("El teléfono %s ya pertenece a otro cliente.") % e164}) from None
        changes["phones"] = [None, e164]
    if changes:
        audit.record(actor=acting_user, action="customer.updated", target=customer, changes=changes)
    return customer, e164


@transaction.atomic
def check_create_marketing_list(acting_user: User, *, name: str, code: str, description: str = "") -> MarketingList:
    require_perm(acting_user, Perm.LEADS_SUPERVISE)
    name, code = name.strip(), code.strip().lower()
    if not name or not code:
        raise ActionError("missing_fields", _("El nombre y el código son obligatorios."))
    if MarketingList.objects.filter(code=code).exists() or MarketingList.objects.filter(name__iexact=name).exists():
        raise ConflictError("list_exists", _("Ya existe una lista con ese nombre o código."))
    created = MarketingList.objects.create(name=name, code=code, description=description)
    audit.record(actor=acting_user, action="marketing_list.created", target=created)
    return created


def check_merge_customers(acting_user: User, *, keep_id: int, merge_id: int) -> Customer:
    """A supervisor merges a duplicate into the customer kept (the duplicates page, POST /api/v1/customers/merge)."""
    require_perm(acting_user, Perm.LEADS_SUPERVISE)
    return do_merge_customers(keep_id=keep_id, merge_id=merge_id, acting_user=acting_user)


@transaction.atomic
def do_merge_customers(*, keep_id: int, merge_id: int, acting_user: User) -> Customer:
    """Moves everything of `merge_id` onto `keep_id` — phones, emails, tags, marketing lists, and through the apps'
    merge participants (customers.merge) its leads, conversations, orders, web-chat visitors and WhatsApp contacts,
    with the reports refreshed — fills the kept profile's empty fields from the duplicate, then deletes it. One
    transaction: all or nothing. Audited (`customer.merged`)."""
    if keep_id == merge_id:
        raise ConflictError("same_customer", _("No se puede fusionar un cliente consigo mismo."))
    customers = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[keep_id, merge_id])}
    if len(customers) != 2:
        raise NotFoundError("customer_not_found", _("El cliente no existe."))
    keep, gone = customers[keep_id], customers[merge_id]
    CustomerPhone.objects.filter(customer=gone).update(customer=keep)
    CustomerEmail.objects.filter(customer=gone).update(customer=keep)
    keep.tags.add(*gone.tags.all())
    keep.marketing_lists.add(*gone.marketing_lists.all())
    for participant in merge_participants().values():  # leads, orders, inbox, connectors, reports
        participant(keep, gone)
    for field in (*PROFILE_FIELDS, "language", "preferred_channel"):
        if not getattr(keep, field) and getattr(gone, field):
            setattr(keep, field, getattr(gone, field))
    if keep.contact_from is None and gone.contact_from is not None:
        keep.contact_from, keep.contact_to = gone.contact_from, gone.contact_to
    _merge_consents(keep, gone)
    if keep.kommo_contact_id is None and gone.kommo_contact_id is not None:
        contact_id, gone.kommo_contact_id = gone.kommo_contact_id, None
        gone.save(update_fields=["kommo_contact_id"])
        keep.kommo_contact_id = contact_id
    keep.save()
    DuplicateCandidate.objects.filter(customer__in=[keep, gone], other__in=[keep, gone]).delete()
    audit.record(actor=acting_user, action="customer.merged", target=keep,
                 changes={"merged": [gone.pk, gone.name]})
    refresh_on_commit(keep.pk)
    emit(CustomerMerged(customer_id=keep.pk, merged_id=gone.pk, merged_name=gone.name), actor=acting_user)
    try:
        gone.delete()
    except (ProtectedError, IntegrityError) as exc:
        # A relation to Customer that no app moves (customers/tests/test_merge.py guards against this): nothing of
        # the merge is kept, and the error says which rows still point at the duplicate.
        blocking = sorted({str(obj._meta.verbose_name_plural) for obj in getattr(exc, "protected_objects", ())})
        raise ConflictError("merge_blocked", _("No se pudo fusionar: aún hay %(rows)s del cliente duplicado.")
                            % {"rows": ", ".join(blocking) or _("datos")}) from exc
    return keep


def _merge_consents(keep: Customer, gone: Customer) -> None:
    """The duplicate's consent joins the kept customer's: a channel only the duplicate has moves; on both, an opt-out
    wins (a "BAJA" sent from the other number still stands), otherwise the most recent record."""
    kept = {c.channel: c for c in Consent.objects.select_for_update().filter(customer=keep)}
    for consent in Consent.objects.select_for_update().filter(customer=gone):
        mine = kept.get(consent.channel)
        if mine is None:
            consent.customer = keep
            consent.save(update_fields=["customer"])
            continue
        out = [c for c in (mine, consent) if c.status == ConsentStatus.OPTED_OUT]
        winner = max(out or [mine, consent], key=lambda c: c.updated_at)
        if winner is consent:
            for field in ("status", "source", "opted_in_at", "opted_out_at", "opt_out_method", "updated_at"):
                setattr(mine, field, getattr(consent, field))
            mine.save()


# --- imported history ----------------------------------------------------------------------------------------

IMPORT_BATCH = 5000


def _imported_customer_values(ref: str, name: str) -> dict[str, str]:
    """The row Customer.save() would write (its search name is the folded name it shows)."""
    shown = name or _("Cliente %s") % ref
    return {"name": shown, "search_name": fold(shown)[:200], "import_ref": ref}


def do_import_customers(names: Mapping[str, str]) -> tuple[dict[str, int], int]:
    """The customers of imported history (reports.importer), found by `import_ref`, unknown ones created with the
    name the file gives. Returns ({ref: customer id}, how many were created). A bulk insert (COPY on PostgreSQL:
    100,000 customers in seconds) of the same rows `do_import_customer` writes one by one (pinned by a test);
    history describes the past, so no customer.created event is emitted."""
    refs = list(names)
    found: dict[str, int] = {}
    for start in range(0, len(refs), IMPORT_BATCH):
        found.update(Customer.objects.filter(import_ref__in=refs[start:start + IMPORT_BATCH])
                     .values_list("import_ref", "pk"))
    new = [ref for ref in refs if ref not in found]
    bulk_insert(Customer, (_imported_customer_values(ref, names[ref]) for ref in new))
    for start in range(0, len(new), IMPORT_BATCH):
        found.update(Customer.objects.filter(import_ref__in=new[start:start + IMPORT_BATCH])
                     .values_list("import_ref", "pk"))
    return found, len(new)


def do_import_customer(ref: str, name: str) -> int:
    """One customer of imported history (see do_import_customers)."""
    existing = Customer.objects.filter(import_ref=ref).values_list("pk", flat=True).first()
    if existing is not None:
        return existing
    return Customer.objects.create(**_imported_customer_values(ref, name)).pk


# --- segments ------------------------------------------------------------------------------------------------

@transaction.atomic
def check_save_segment(
    acting_user: User,
    segment_id: int | None,
    *,
    name: str,
    code: str,
    rules: Mapping[str, Any],
    description: str = "",
    tone: str = Segment.Tone.BLUE,
    priority: str = "",
    skill_id: int | None = None,
    active: bool = True,
    in_lists: bool = False,
) -> Segment:
    """Creates or edits a segment (every problem at once, in `errors`); its members are recomputed after commit,
    announcing nobody (a rule edit is not customers moving)."""
    require_perm(acting_user, Perm.SEGMENTS_MANAGE)
    segment = Segment() if segment_id is None else Segment.objects.select_for_update().filter(pk=segment_id).first()
    if segment is None:
        raise NotFoundError("segment_not_found", _("El segmento no existe."))
    errors: dict[str, str] = {}
    name, code, description = " ".join(name.split()), code.strip().lower(), description.strip()
    for field, value, label, limit in (("name", name, _("El nombre"), 80), ("description", description,
                                                                        _("La descripción"), 250)):
        message = text_error(value, label=label, max_length=limit)
        if message is not None:
            errors[field] = message
    if not name:
        errors["name"] = _("El nombre es obligatorio.")
    if not re.fullmatch(r"[a-z0-9_-]{1,50}", code):
        errors["code"] = _("El código usa letras sin tildes, números, guiones y guiones bajos (hasta 50).")
    elif Segment.objects.filter(code=code).exclude(pk=segment.pk).exists():
        errors["code"] = _("Ya existe un segmento con ese código.")
    elif segment.builtin and code != segment.code:
        errors["code"] = _("El código de un segmento predefinido no cambia: las reglas de automatización lo usan.")
    if name and Segment.objects.filter(name__iexact=name).exclude(pk=segment.pk).exists():
        errors["name"] = _("Ya existe un segmento con ese nombre.")
    if tone not in Segment.Tone.values:
        errors["tone"] = _("Color desconocido.")
    if priority not in {"", *Segment.Priority.values}:
        errors["priority"] = _("Prioridad desconocida.")
    if skill_id is not None and not Skill.objects.filter(pk=skill_id).exists():
        errors["skill"] = _("La habilidad no existe.")
    try:
        cleaned = segments.clean_rules(rules)
    except segments.RuleError as exc:
        errors["rules"] = str(exc)
    if errors:
        raise ActionError("invalid_segment", " ".join(errors.values()), errors=errors)
    before = {"name": segment.name, "code": segment.code, "rules": segment.rules, "active": segment.active,
              "priority": segment.priority, "skill": segment.skill_id, "tone": segment.tone,
              "in_lists": segment.in_lists} if segment.pk else {}
    rules_changed = segment.pk is None or segment.rules != cleaned or segment.active != active
    segment.name, segment.code, segment.description, segment.rules = name, code, description, cleaned
    segment.tone, segment.priority, segment.skill_id, segment.active = tone, priority, skill_id, active
    segment.in_lists = in_lists
    if rules_changed:
        segment.recomputed_at = None  # the next computation is a baseline: nobody is announced
    segment.save()
    after = {"name": name, "code": code, "rules": cleaned, "active": active, "priority": priority,
             "skill": skill_id, "tone": tone, "in_lists": in_lists}
    changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    audit.record(actor=acting_user, action="segment.created" if not before else "segment.updated", target=segment,
                 changes=changes)
    if rules_changed:
        enqueue_on_commit(customer_tasks.recompute_segment, segment_id=segment.pk)
    return segment


@transaction.atomic
def check_delete_segment(acting_user: User, segment_id: int) -> None:
    require_perm(acting_user, Perm.SEGMENTS_MANAGE)
    segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
    if segment is None:
        raise NotFoundError("segment_not_found", _("El segmento no existe."))
    if segment.builtin:
        raise ConflictError("segment_builtin", _("Los segmentos predefinidos no se borran: puede desactivarlos."))
    audit.record(actor=acting_user, action="segment.deleted", target=segment, changes={"name": segment.name})
    segment.delete()
