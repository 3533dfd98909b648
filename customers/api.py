"""/api/v1/customers…: the customer list (the page's filters and orders, keyset-paged), the full profile, creating and
editing a customer, their timeline across apps, and merging a duplicate. The same actions and selectors as the
customer pages: the handlers parse, call one action or selector and serialize."""

from collections.abc import Sequence
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from django.conf import settings
from django.db import models
from django.db.models import Prefetch
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import Field, Query, Router, Schema, Status
from pydantic import Strict, WithJsonSchema

from accounts.roles import Perm
from core import keyset
from core.api import (
    END,
    NOT_BLANK,
    DbId,
    EmailOrBlank,
    ErrorOut,
    InputSchema,
    IsoDateTime,
    QuerySchema,
    api_require,
    api_user,
    explained,
)
from core.errors import ActionError
from core.keyset import SortKey
from customers.actions import (
    MAX_TAGS,
    ConsentChange,
    Preferences,
    access_customer,
    check_create_customer,
    check_merge_customers,
    check_update_customer,
)
from customers.choices import ConsentStatus, ContactChannel, Language
from customers.models import Consent, Customer, CustomerEmail, CustomerPhone, MarketingList
from customers.segments import CHANNEL_COLUMNS
from customers.selectors import CustomerFilters, filtered, sort_keys
from customers.timeline import MAX_LIMIT as TIMELINE_MAX
from customers.timeline import timeline

router = Router(tags=["customers"])

MAX_PHONES: Final = 20
MAX_EMAILS: Final = 20
MAX_LISTS: Final = 100
PAGE_MAX: Final = 200
# "HH:MM", 00:00 to 23:59: the contact hours, in the business's time zone (TIME_ZONE).
HOUR_MINUTE: Final = explained(r"^([01][0-9]|2[0-3]):[0-5][0-9]" + END,
                               gettext_lazy("Hora inválida; use HH:MM (de 00:00 a 23:59)."))


# --- input -----------------------------------------------------------------------------------------------------

Phone = Annotated[str, Field(max_length=40, description="Any usual format (`300 123 4567`, `+57 300 123 4567`); "
                                                        "stored as E.164; blank entries are ignored")]
TagName = Annotated[str, Field(max_length=60)]
ListCode = Annotated[str, Field(min_length=1, max_length=50)]
HourMinute = Annotated[str, Field(pattern=HOUR_MINUTE)]
PreferredChannel = Annotated[ContactChannel, Strict(False)] | Literal[""]
PreferredLanguage = Annotated[Language, Strict(False)] | Literal[""]

PHONES_DOC: Final = (f"At most {MAX_PHONES}; each must be a valid number, and one that belongs to another customer is "
                     "refused naming it (400 `invalid_customer`, `errors.phones`): edit that customer instead")
EMAILS_DOC: Final = (f"At most {MAX_EMAILS}; one that belongs to another customer is refused naming it (400 "
                     "`invalid_customer`, `errors.emails`)")
TAGS_DOC: Final = f"Tag names (created on first use), at most {MAX_TAGS}; replaces the customer's tags"
LISTS_DOC: Final = "Marketing-list codes; replaces the customer's lists (400 `unknown_marketing_list` naming the codes)"


class PreferencesIn(InputSchema):
    """How and when the customer wants to be reached. In a PATCH, the fields given replace the current ones and the
    others are kept."""

    language: PreferredLanguage = Field("", description="es | en, or \"\" for no preference")
    preferred_channel: PreferredChannel = Field("", description="whatsapp | email | webchat | phone | sms, or \"\"")
    contact_from: HourMinute | None = Field(None, description="HH:MM in the business's time zone, or null for no "
                                                               "hours; with `contact_to`, both or neither, and "
                                                               "earlier than it (400 `invalid_customer`)")
    contact_to: HourMinute | None = Field(None, description="HH:MM, or null")


class ConsentChangeIn(InputSchema):
    status: Annotated[ConsentStatus, Strict(False)] = Field(..., description="opted_in | opted_out")
    source: str = Field("", max_length=200, description="Where an opt-in came from (\"formulario web\", \"tienda\")")


class ConsentIn(InputSchema):
    """Recorded with method `api` (an opt-out's `opt_out_method`); a channel absent or null is left as it is."""

    whatsapp: ConsentChangeIn | None = None
    email: ConsentChangeIn | None = None
    sms: ConsentChangeIn | None = None


class CustomerCreateIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=200, pattern=NOT_BLANK)
    phones: list[Phone] = Field(default_factory=list, max_length=MAX_PHONES, description=PHONES_DOC)
    emails: list[EmailOrBlank] = Field(default_factory=list, max_length=MAX_EMAILS, description=EMAILS_DOC)
    document_id: str = Field("", max_length=40)
    address: str = Field("", max_length=250)
    city: str = Field("", max_length=100)
    department: str = Field("", max_length=100)
    notes: str = Field("", max_length=settings.NOTE_MAX_LENGTH)
    tags: list[TagName] = Field(default_factory=list, max_length=MAX_TAGS, description=TAGS_DOC)
    marketing_lists: list[ListCode] = Field(default_factory=list, max_length=MAX_LISTS, description=LISTS_DOC)
    preferences: PreferencesIn | None = None
    consent: ConsentIn | None = None


class CustomerPatchIn(InputSchema):
    """Absent (or null) fields keep their value; lists given replace the customer's."""

    name: str | None = Field(None, min_length=1, max_length=200, pattern=NOT_BLANK)
    phones: list[Phone] | None = Field(None, max_length=MAX_PHONES, description=PHONES_DOC)
    emails: list[EmailOrBlank] | None = Field(None, max_length=MAX_EMAILS, description=EMAILS_DOC)
    document_id: str | None = Field(None, max_length=40)
    address: str | None = Field(None, max_length=250)
    city: str | None = Field(None, max_length=100)
    department: str | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=settings.NOTE_MAX_LENGTH)
    tags: list[TagName] | None = Field(None, max_length=MAX_TAGS, description=TAGS_DOC)
    marketing_lists: list[ListCode] | None = Field(None, max_length=MAX_LISTS, description=LISTS_DOC)
    preferences: PreferencesIn | None = Field(None, description="Partial: the fields given replace the current ones")
    consent: ConsentIn | None = None


class CustomerListQuery(QuerySchema):
    q: str = Field("", max_length=200, description="Name (accents and case ignored, anywhere in it), a phone in any "
                                                   "format (a full number exactly, a few digits as its end), an email "
                                                   "(a full address exactly, a part anywhere) or a document number")
    tag: str = Field("", max_length=60, description="A tag's name")
    segment: str = Field("", max_length=50, description="A segment's code")
    marketing_list: str = Field("", max_length=50, description="A marketing list's code")
    # Literals rather than the choices' enums: a union's error would name `query.lead_state` (a test keeps them in
    # step with LeadState and the selectors' channels and orders).
    lead_state: Literal["ninguno", "en_proceso", "completado", ""] = Field(
        "", description="The state of the customer's most recent lead")
    channel: Literal["whatsapp", "email", "webchat", "phone", "sms", ""] = Field(
        "", description="Has been in touch on this channel")
    contacted_within: int | None = Field(None, ge=1, le=3650, description="In touch in the last N days")
    not_contacted_within: int | None = Field(None, ge=1, le=3650,
                                             description="Not in touch in the last N days (or never)")
    spent_min: Annotated[Decimal, WithJsonSchema({"type": "number", "minimum": 0, "maximum": 10**12})] | None = Field(
        None, ge=0, le=10**12, description="Total spent at least (a decimal number)")
    spent_max: Annotated[Decimal, WithJsonSchema({"type": "number", "minimum": 0, "maximum": 10**12})] | None = Field(
        None, ge=0, le=10**12, description="Total spent at most")
    open_conversation: bool | None = Field(None, description="true: has an open conversation; false: has none")
    sort: Literal["contact", "spent", "name", "created"] = Field(
        "contact", description="contact: most recently in touch first (never contacted last); spent: total spent, "
                               "highest first; name: A to Z; created: newest first")
    cursor: str = Field("", max_length=1000, description="The `next_cursor` of the previous page, with the same "
                                                         "filters and sort (400 `invalid_cursor` otherwise)")
    limit: int = Field(50, ge=1, le=PAGE_MAX)


class TimelineQuery(QuerySchema):
    before: IsoDateTime | None = Field(None, description="Only entries older than this instant (ISO 8601 with its "
                                                         "offset): the `next_before` of the previous page")
    limit: int = Field(50, ge=1, le=TIMELINE_MAX)


class MergeIn(InputSchema):
    keep: DbId
    merge: DbId


# --- output ----------------------------------------------------------------------------------------------------

class CustomerOut(Schema):
    """A customer after a merge, with what it now has."""

    id: int
    uuid: UUID = Field(..., description="Stable public identifier (the one exports use)")
    name: str
    phones: list[str]
    emails: list[str]
    conversations: int
    orders: int
    leads: int


class CustomerListItemOut(Schema):
    id: int
    uuid: UUID = Field(..., description="Stable public identifier (the one exports use)")
    name: str
    phones: list[str] = Field(..., description="E.164")
    emails: list[str]
    tags: list[str]
    document_id: str
    city: str
    lead_state: str | None = Field(..., description="ninguno | en_proceso | completado; null without leads")
    last_contact_at: datetime | None
    open_conversations: int
    orders_count: int
    total_spent: str = Field(..., description="A decimal number")
    created_at: datetime


class CustomerPageOut(Schema):
    results: list[CustomerListItemOut]
    next_cursor: str | None = Field(..., description="Pass as `cursor` (with the same filters and sort) for the next "
                                                     "page; null on the last one")


class PreferencesOut(Schema):
    language: str = Field(..., description="es | en, or \"\" for no preference")
    preferred_channel: str = Field(..., description="whatsapp | email | webchat | phone | sms, or \"\"")
    contact_from: str | None = Field(..., description="HH:MM in the business's time zone, or null")
    contact_to: str | None


class ConsentOut(Schema):
    status: str = Field(..., description="opted_in | opted_out")
    source: str = Field(..., description="Where the opt-in came from")
    opted_in_at: datetime | None
    opted_out_at: datetime | None
    opt_out_method: str = Field(..., description="keyword | link | agent | api | import, or \"\"")


class ActivityOut(Schema):
    """Derived from conversations, orders, imported sales and leads; refreshed after every change that moves it."""

    first_contact_at: datetime | None
    last_contact_at: datetime | None
    last_inbound_at: datetime | None
    conversations_count: int
    open_conversations: int
    channels: list[str] = Field(..., description="Where the customer has been in touch: whatsapp, email, webchat, "
                                                 "phone")
    orders_count: int
    total_spent: str = Field(..., description="A decimal number")
    last_order_at: datetime | None
    orders_90d: int
    spent_12m: str = Field(..., description="A decimal number: spent in the last 12 months")
    lead_state: str | None = Field(..., description="ninguno | en_proceso | completado; null without leads")


class CustomerDetailOut(Schema):
    id: int
    uuid: UUID = Field(..., description="Stable public identifier (the one exports use)")
    name: str
    phones: list[str] = Field(..., description="E.164")
    emails: list[str]
    document_id: str
    address: str
    city: str
    department: str
    notes: str
    tags: list[str]
    marketing_lists: list[str] = Field(..., description="Marketing-list codes")
    preferences: PreferencesOut
    consent: dict[Literal["whatsapp", "email", "sms"], ConsentOut] = Field(
        ..., description="Per channel, only the channels with a recorded consent")
    activity: ActivityOut
    created_at: datetime
    updated_at: datetime


class TimelineEntryOut(Schema):
    at: datetime
    kind: str = Field(..., description="A stable code: conversation.opened, conversation.closed, order.confirmed, …")
    text: str = Field(..., description="A sentence for people, in the caller's language")
    url: str = Field(..., description="The page of what it is about, or \"\"")
    channel: str
    ref: dict[str, Any] = Field(..., description="Ids for integrations: {\"conversation_id\": 12}")


class TimelinePageOut(Schema):
    results: list[TimelineEntryOut]
    next_before: datetime | None = Field(..., description="Pass as `before` for older entries; null when none is "
                                                           "left")


# --- serialization ---------------------------------------------------------------------------------------------

def _prefetched(qs: models.QuerySet[Customer]) -> models.QuerySet[Customer]:
    """Phones and emails in the order they were added (the first is the main one), tags by name."""
    return qs.prefetch_related(Prefetch("phones", queryset=CustomerPhone.objects.order_by("pk")),
                               Prefetch("emails", queryset=CustomerEmail.objects.order_by("pk")), "tags")


def _hour(value: time | None) -> str | None:
    return None if value is None else value.strftime("%H:%M")


def _item(c: Customer) -> dict[str, Any]:
    return {"id": c.pk, "uuid": c.uuid, "name": c.name, "phones": [p.e164 for p in c.phones.all()],
            "emails": [e.email for e in c.emails.all()], "tags": [t.name for t in c.tags.all()],
            "document_id": c.document_id, "city": c.city, "lead_state": c.lead_state or None,
            "last_contact_at": c.last_contact_at, "open_conversations": c.open_conversations,
            "orders_count": c.orders_count, "total_spent": str(c.total_spent), "created_at": c.created_at}


def _consent(row: Consent) -> dict[str, Any]:
    return {"status": row.status, "source": row.source, "opted_in_at": row.opted_in_at,
            "opted_out_at": row.opted_out_at, "opt_out_method": row.opt_out_method}


def _detail(customer_id: int) -> dict[str, Any]:
    c = _prefetched(Customer.objects.all()).prefetch_related(
        Prefetch("marketing_lists", queryset=MarketingList.objects.order_by("code")), "consents").get(pk=customer_id)
    return {
        **{f: getattr(c, f) for f in ("id", "uuid", "name", "document_id", "address", "city", "department", "notes",
                                      "created_at", "updated_at")},
        "phones": [p.e164 for p in c.phones.all()], "emails": [e.email for e in c.emails.all()],
        "tags": [t.name for t in c.tags.all()], "marketing_lists": [m.code for m in c.marketing_lists.all()],
        "preferences": {"language": c.language, "preferred_channel": c.preferred_channel,
                        "contact_from": _hour(c.contact_from), "contact_to": _hour(c.contact_to)},
        "consent": {row.channel: _consent(row) for row in sorted(c.consents.all(), key=lambda r: r.channel)},
        "activity": {
            "first_contact_at": c.first_contact_at, "last_contact_at": c.last_contact_at,
            "last_inbound_at": c.last_inbound_at, "conversations_count": c.conversations_count,
            "open_conversations": c.open_conversations,
            "channels": [str(channel) for channel, column in CHANNEL_COLUMNS.items() if getattr(c, column)],
            "orders_count": c.orders_count, "total_spent": str(c.total_spent), "last_order_at": c.last_order_at,
            "orders_90d": c.orders_90d, "spent_12m": str(c.spent_12m), "lead_state": c.lead_state or None,
        },
    }


# --- parsing ---------------------------------------------------------------------------------------------------

def _after(cursor: str, keys: Sequence[SortKey]) -> list[object] | None:
    """The decoded cursor (None: the first page). A cursor this endpoint did not give is refused rather than read as
    the first page, so a client walking the pages cannot loop forever."""
    if not cursor:
        return None
    invalid = ActionError("invalid_cursor", _("El cursor no es válido: use el «next_cursor» de la página anterior, "
                                              "con los mismos filtros y el mismo orden."), field="cursor")
    values = keyset.decode(cursor, keys, Customer)
    if values is None:
        raise invalid
    return values


def _before(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(UTC)  # ISO 8601 allows offsets PostgreSQL refuses
    except OverflowError:  # before or after anything recorded
        return datetime.min.replace(tzinfo=UTC) if value.year == 1 else datetime.max.replace(tzinfo=UTC)


def _list_ids(codes: Sequence[str]) -> list[int]:
    """Marketing-list codes as ids; unknown codes are a 400 naming them."""
    wanted = list(dict.fromkeys(code.strip().lower() for code in codes))
    found = dict(MarketingList.objects.filter(code__in=wanted).values_list("code", "pk"))
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise ActionError("unknown_marketing_list", _("Lista de marketing desconocida: %s") % ", ".join(unknown),
                          field="marketing_lists")
    return [found[code] for code in wanted]


def _preference_values(given: dict[str, Any]) -> dict[str, Any]:
    """The preferences `given` (the fields of PreferencesIn that were sent) as the action takes them."""
    values: dict[str, Any] = {}
    for field, value in given.items():
        if field in {"contact_from", "contact_to"}:
            values[field] = None if value is None else time.fromisoformat(value)
        else:
            values[field] = str(value)
    return values


def _consent_changes(given: dict[str, Any] | None) -> dict[str, ConsentChange]:
    return {channel: ConsentChange(status=str(change["status"]), source=change.get("source", ""))
            for channel, change in (given or {}).items() if change is not None}


# --- operations ------------------------------------------------------------------------------------------------

LIST_DOC = ("The customer list with the page's filters, one order and keyset pagination: follow `next_cursor` "
            "(with the same filters and sort) until it is null; page 200 costs what page 1 costs, and customers "
            "added meanwhile never shift the pages. An unknown tag, list or segment selects nobody. Errors: 400 "
            "`invalid_request` for a value outside the documented ones, 400 `invalid_cursor` for a cursor this "
            "endpoint did not give.")


@router.get("/customers", response=CustomerPageOut, summary="Customers, filtered and sorted (keyset pagination)",
            description=LIST_DOC)
def list_customers(request: HttpRequest, query: Query[CustomerListQuery]) -> Any:
    api_require(request, Perm.CUSTOMERS_VIEW)
    filters = CustomerFilters(
        q=query.q, tag=query.tag, segment=query.segment, marketing_list=query.marketing_list,
        lead_state=query.lead_state, channel=query.channel,
        contacted_within=str(query.contacted_within or ""), not_contacted_within=str(query.not_contacted_within or ""),
        # two decimals always: "1000.000" would read as a million to the page's Spanish-aware amount parser
        spent_min="" if query.spent_min is None else f"{query.spent_min:.2f}",
        spent_max="" if query.spent_max is None else f"{query.spent_max:.2f}",
        open_conversation="" if query.open_conversation is None else str(int(query.open_conversation)),
        sort=query.sort)
    keys = sort_keys(query.sort)
    rows, next_cursor = keyset.page(_prefetched(filtered(filters)), keys, after_values=_after(query.cursor, keys),
                                    size=query.limit)
    return {"results": [_item(c) for c in rows], "next_cursor": next_cursor}


@router.post("/customers", response={201: CustomerDetailOut},
             summary="Create a customer (400 `invalid_customer` with `errors` per field: a phone or email that "
                     "belongs to another customer is named, never moved; 400 `unknown_marketing_list`)",
             description="Every invalid field is reported at once and nothing is written. Consent is recorded "
                         "with method `api`. Needs `customers.edit`.")
def create_customer(request: HttpRequest, payload: CustomerCreateIn) -> Any:
    customer = check_create_customer(
        api_user(request), name=payload.name, phones=payload.phones, emails=payload.emails,
        document_id=payload.document_id, address=payload.address, city=payload.city, department=payload.department,
        notes=payload.notes, tags=payload.tags, marketing_list_ids=_list_ids(payload.marketing_lists),
        preferences=Preferences(**_preference_values(payload.preferences.dict())) if payload.preferences else None,
        consent=_consent_changes(payload.consent.dict() if payload.consent else None),
        consent_method=Consent.Method.API)
    return Status(201, _detail(customer.pk))


# Declared before /customers/{customer_id}: ninja's path parameters match any text.
@router.post("/customers/merge", response={200: CustomerOut, 404: ErrorOut, 409: ErrorOut},
             summary="Merge the customer `merge` into `keep`: its conversations, orders, leads, phones, emails, tags "
                     "and marketing lists move to `keep`, and `merge` is deleted (supervisors; 404 "
                     "`customer_not_found`; 409 `same_customer` or `merge_blocked`)")
def merge_customers(request: HttpRequest, payload: MergeIn) -> Any:
    keep = check_merge_customers(api_user(request), keep_id=payload.keep, merge_id=payload.merge)
    return {"id": keep.pk, "uuid": keep.uuid, "name": keep.name,
            "phones": list(keep.phones.order_by("e164").values_list("e164", flat=True)),
            "emails": list(keep.emails.order_by("email").values_list("email", flat=True)),
            "conversations": keep.conversations.count(), "orders": keep.orders.count(), "leads": keep.leads.count()}


@router.get("/customers/{customer_id}", response={200: CustomerDetailOut, 404: ErrorOut},
            summary="A customer's full profile: data, tags, lists, preferences, consent per channel and activity "
                    "(404 `customer_not_found`)")
def get_customer(request: HttpRequest, customer_id: DbId) -> Any:
    access_customer(api_user(request), customer_id)
    return _detail(customer_id)


@router.patch("/customers/{customer_id}", response={200: CustomerDetailOut, 404: ErrorOut},
              summary="Change some of a customer's data; absent fields keep their value (404 `customer_not_found`; "
                      "400 `invalid_customer` with `errors` per field, `unknown_marketing_list`)",
              description="Lists given (`phones`, `emails`, `tags`, `marketing_lists`) replace the customer's; "
                          "`preferences` is partial (the fields given replace the current ones); consent changes are "
                          "recorded with method `api`. Every invalid field is reported at once and nothing is "
                          "written. Needs `customers.edit`.")
def update_customer(request: HttpRequest, customer_id: DbId, payload: CustomerPatchIn) -> Any:
    user = api_user(request)
    data = {field: value for field, value in payload.dict(exclude_unset=True).items() if value is not None}
    if "preferences" in data:
        data["preferences"] = _preference_values(data["preferences"])  # merged under the row lock
    if "marketing_lists" in data:
        data["marketing_list_ids"] = _list_ids(data.pop("marketing_lists"))
    if "consent" in data:
        data["consent"] = _consent_changes(data["consent"])
    check_update_customer(user, customer_id, **data, consent_method=Consent.Method.API)
    return _detail(customer_id)


@router.get("/customers/{customer_id}/timeline", response={200: TimelinePageOut, 404: ErrorOut},
            summary="A customer's timeline across apps, newest first: conversations, orders, calls… (404 "
                    "`customer_not_found`)",
            description="Only what the caller may see (an agent's conversations follow the inbox's rules). "
                        "Paged by time: pass `next_before` as `before` for the older entries.")
def customer_timeline(request: HttpRequest, customer_id: DbId, query: Query[TimelineQuery]) -> Any:
    user = api_user(request)
    entries = timeline(access_customer(user, customer_id), user=user, before=_before(query.before),
                       limit=query.limit)
    return {"results": [{"at": e.at, "kind": e.kind, "text": e.text, "url": e.url, "channel": e.channel,
                         "ref": e.ref} for e in entries],
            "next_before": entries[-1].at if len(entries) == query.limit else None}
