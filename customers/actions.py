"""Writes for customers: identity by E.164 phone and email, profile edits, tags, duplicates and merges."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from core import audit
from core.bulk import bulk_insert
from core.errors import ActionError, ConflictError, NotFoundError
from core.events import emit
from core.text import fold
from core.upsert import race_free
from core.validators import max_length_of, text_error
from customers.events import CustomerCreated, CustomerMerged, CustomerTagged
from customers.merge import merge_participants
from customers.models import Customer, CustomerEmail, CustomerPhone, DuplicateCandidate, MarketingList, Tag
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
    return tags


PROFILE_FIELDS = ("name", "document_id", "address", "city", "department", "notes")


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
    phones: Iterable[str] = (),
    emails: Iterable[str] = (),
    require_document: bool = False,
    marketing_list_ids: Iterable[int] | None = None,
) -> Customer:
    """Validates every field, reports all errors at once (`errors` detail), and writes nothing on error."""
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise NotFoundError("customer_not_found", _("El cliente no existe."))
    errors: dict[str, str] = {}
    phones, emails = list(phones), list(emails)
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
    if marketing_list_ids is not None:
        old_lists = sorted(customer.marketing_lists.values_list("pk", flat=True))
        new_lists = sorted(set(marketing_list_ids))
        if old_lists != new_lists:
            customer.marketing_lists.set(MarketingList.objects.filter(pk__in=new_lists))
            changes["marketing_lists"] = [old_lists, new_lists]
    if changes:
        customer.save()
        audit.record(actor=acting_user, action="customer.updated", target=customer, changes=changes)
    return customer


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
    for field in PROFILE_FIELDS:
        if not getattr(keep, field) and getattr(gone, field):
            setattr(keep, field, getattr(gone, field))
    if keep.kommo_contact_id is None and gone.kommo_contact_id is not None:
        contact_id, gone.kommo_contact_id = gone.kommo_contact_id, None
        gone.save(update_fields=["kommo_contact_id"])
        keep.kommo_contact_id = contact_id
    keep.save()
    DuplicateCandidate.objects.filter(customer__in=[keep, gone], other__in=[keep, gone]).delete()
    audit.record(actor=acting_user, action="customer.merged", target=keep,
                 changes={"merged": [gone.pk, gone.name]})
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
