"""Read side of customers: the list's search, filters and orders (the page, the CSV export and the API share them)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from core.keyset import SortKey
from core.money import parse_amount
from core.text import fold
from core.validators import text_problem
from customers.choices import LeadState
from customers.models import (
    TAIL_DIGITS,
    Customer,
    CustomerEmail,
    CustomerPhone,
    MarketingList,
    Segment,
    SegmentMembership,
    Tag,
)
from customers.phones import looks_like_phone, normalize_email, normalize_phone
from customers.segments import CHANNEL_COLUMNS

SORTS: Final[dict[str, tuple[SortKey, ...]]] = {
    # most recently in touch first; never contacted at the end
    "contact": (SortKey("contact_sort_at", descending=True), SortKey("id", descending=True)),
    "spent": (SortKey("total_spent", descending=True, parse=Decimal), SortKey("id", descending=True)),
    "name": (SortKey("search_name"), SortKey("id")),
    "created": (SortKey("created_at", descending=True), SortKey("id", descending=True)),
}
DEFAULT_SORT: Final = "contact"
MIN_PHONE_DIGITS: Final = TAIL_DIGITS  # "…2233": the end of a number people remember
MAX_PHONE_MATCHES: Final = 5_000  # the end of a number matching more phones than this narrows to the first ones
# "Último contacto": within the last N days, or not in the last N days (inactive).
CONTACT_WINDOWS: Final = ("7", "30", "90", "365")


@dataclass(frozen=True)
class CustomerFilters:
    q: str = ""
    tag: str = ""  # a tag's name
    segment: str = ""  # a segment's code
    marketing_list: str = ""  # a list's code
    lead_state: str = ""  # ninguno | en_proceso | completado
    channel: str = ""  # whatsapp | email | webchat | phone | sms
    contacted_within: str = ""  # days: contacted in the last N days
    not_contacted_within: str = ""  # days: no contact in the last N days (or never)
    spent_min: str = ""  # total spent at least (a decimal number)
    spent_max: str = ""
    open_conversation: str = ""  # "1": has an open conversation; "0": has none
    sort: str = DEFAULT_SORT

    def __post_init__(self) -> None:
        # Values come from a URL: one that cannot be stored text (a NUL, a lone surrogate) would make PostgreSQL
        # refuse the query; it becomes U+FFFD, which matches nobody, as any unknown value does.
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and text_problem(value) is not None:
                object.__setattr__(self, f.name, "\ufffd")

    @classmethod
    def from_query(cls, data: QueryDict) -> CustomerFilters:
        return cls(**{f.name: data.get(f.name, "").strip()[:200] for f in fields(cls) if data.get(f.name)})

    def active(self) -> bool:
        """Whether anything narrows the list (the sort does not)."""
        return any(getattr(self, f.name) for f in fields(self) if f.name != "sort")

    def narrowed(self) -> bool:
        """Whether a filter besides the search is set (the phone shows the filter panel open then)."""
        return any(getattr(self, f.name) for f in fields(self) if f.name not in {"q", "sort"})

    def query(self, **override: str) -> str:
        """The filters as a query string (the export link, the next page), with `override` applied."""
        params = QueryDict(mutable=True)
        for f in fields(self):
            value = override.pop(f.name, getattr(self, f.name))
            if value and not (f.name == "sort" and value == DEFAULT_SORT):
                params[f.name] = value
        for name, value in override.items():  # not a filter: the page's cursor
            if value:
                params[name] = value
        return params.urlencode()


def _money(value: str) -> Decimal | None:
    return parse_amount(value)  # as people type it: "1.000.000" in Spanish


def _days(value: str) -> int | None:
    return int(value) if value.isdecimal() and 0 < int(value) <= 3650 else None


def search(qs: QuerySet[Customer], q: str) -> QuerySet[Customer]:
    """Name (accent- and case-insensitive, anywhere in it), phone in any format (a full number exactly; a few digits
    as the number's end), email (a full address exactly, a part anywhere), or document number."""
    q = q.strip()
    if not q:
        return qs
    if "@" in q:
        email = normalize_email(q)
        mails = (CustomerEmail.objects.filter(email=email) if email
                 else CustomerEmail.objects.filter(email__contains=q.lower()))
        return qs.filter(pk__in=mails.values("customer_id"))
    digits_only = q.replace(" ", "").replace("-", "").replace("(", "").replace(")", "").lstrip("+")
    if looks_like_phone(q) or (digits_only.isdecimal() and len(digits_only) >= MIN_PHONE_DIGITS):
        e164 = normalize_phone(q)
        digits = "".join(ch for ch in q if ch.isdigit())
        phones = (CustomerPhone.objects.filter(e164=e164) if e164
                  else CustomerPhone.objects.filter(tail=digits[-TAIL_DIGITS:], e164__endswith=digits))
        # The few customers the phones name, as a list: beside the document's OR, a subquery made PostgreSQL test
        # every customer of the sort against it (330 ms at 300,000 customers).
        ids = list(phones.values_list("customer_id", flat=True)[:MAX_PHONE_MATCHES])
        return qs.filter(Q(pk__in=ids) | Q(document_id=q.strip()))
    folded = fold(q)
    return qs.filter(Q(search_name__contains=folded) | Q(document_id=q))


def filtered(f: CustomerFilters, *, now: datetime | None = None) -> QuerySet[Customer]:
    """The customers the filters select (an unknown tag, list or value selects nobody rather than everybody)."""
    now = now or timezone.now()
    qs = search(Customer.objects.all(), f.q)
    if f.tag:
        qs = qs.filter(pk__in=Customer.tags.through.objects.filter(tag__name=f.tag).values("customer_id"))
    if f.marketing_list:
        qs = qs.filter(pk__in=Customer.marketing_lists.through.objects.filter(marketinglist__code=f.marketing_list)
                       .values("customer_id"))
    if f.lead_state:
        qs = qs.filter(lead_state=f.lead_state) if f.lead_state in LeadState.values else qs.none()
    if f.channel:
        column = CHANNEL_COLUMNS.get(f.channel)  # type: ignore[call-overload]
        qs = qs.filter(**{column: True}) if column else qs.none()
    if f.contacted_within:
        days = _days(f.contacted_within)
        qs = qs.filter(contact_sort_at__gte=now - timedelta(days=days)) if days else qs.none()
    if f.not_contacted_within:
        days = _days(f.not_contacted_within)
        qs = qs.filter(contact_sort_at__lt=now - timedelta(days=days)) if days else qs.none()
    for value, lookup in ((f.spent_min, "total_spent__gte"), (f.spent_max, "total_spent__lte")):
        if value:
            amount = _money(value)
            qs = qs.filter(**{lookup: amount}) if amount is not None else qs.none()
    if f.open_conversation == "1":
        qs = qs.filter(open_conversations__gt=0)
    elif f.open_conversation == "0":
        qs = qs.filter(open_conversations=0)
    if f.segment:
        qs = segment_filter(qs, f.segment)
    return qs


def segment_filter(qs: QuerySet[Customer], code: str) -> QuerySet[Customer]:
    """The segment's current members (kept by customers.segments; an unknown code selects nobody)."""
    return qs.filter(pk__in=SegmentMembership.objects.filter(segment__code=code, left_at__isnull=True)
                     .values("customer_id"))


def sort_keys(sort: str) -> tuple[SortKey, ...]:
    return SORTS.get(sort) or SORTS[DEFAULT_SORT]


def filter_choices() -> dict[str, object]:
    """What the filter bar offers: tags and lists by name (the filters take a tag's name and a list's code)."""
    return {"tags": list(Tag.objects.order_by("name").values_list("name", flat=True)[:500]),
            "lists": list(MarketingList.objects.order_by("name").values_list("code", "name")),
            "segments": list(Segment.objects.filter(active=True).values_list("code", "name")),
            "lead_states": LeadState.choices,
            "channels": [(c.value, c.label) for c in CHANNEL_COLUMNS],
            "windows": CONTACT_WINDOWS}

