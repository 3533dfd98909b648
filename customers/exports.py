"""CSV export of the customer list: the list page's filters and order (customers.selectors), the cells of
core.exports (dialect, headers, BOM, formula guard).

Streamed in keyset chunks of EXPORT_CHUNK customers: each chunk is one query for the customers (the filters, cut
after the previous chunk's last sort values, core.keyset) plus one each for their phones, emails, tags and marketing
lists, so 300,000 customers download in bounded memory, with five queries per 2,000 rows and no cursor kept open
between chunks. Under ASGI the rows come from an async iterator (Django buffers a synchronous one whole).

The file imports back (customers.imports): the editable columns are read under their names or their labels, the
computed ones (activity, dates, uuid) are ignored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from typing import Any, Final

from asgiref.sync import sync_to_async
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.exports import Column
from core.keyset import SortKey, after
from customers.choices import ContactChannel, Language, LeadState
from customers.models import Customer, CustomerEmail, CustomerPhone, MarketingList, Tag
from customers.selectors import CustomerFilters, filtered, sort_keys

EXPORT_CHUNK: Final = 2000
SEPARATOR: Final = "; "  # between the phones, emails, tags and lists of one customer (the import splits on ";")

# Columns whose values the import reads back, by the export column's name: the import's field.
IMPORTABLE: Final[dict[str, str]] = {
    "name": "name", "phones": "phones", "emails": "emails", "document_id": "document_id", "address": "address",
    "city": "city", "department": "department", "tags": "tags", "marketing_lists": "marketing_lists",
    "language": "language", "preferred_channel": "preferred_channel",
}


def export_columns() -> list[Column]:
    """The columns, with the coded values' labels in the language of the request (the rows are written later,
    while the response streams)."""
    return [
        Column("uuid", _("ID del cliente"), "uuid"),
        Column("name", _("Nombre")),
        Column("phones", _("Teléfonos"), "phone"),  # one E.164 number as is; several: defused ("+…; +…")
        Column("emails", _("Correos")),
        Column("document_id", _("Documento de identidad")),
        Column("address", _("Dirección")),
        Column("city", _("Ciudad")),
        Column("department", _("Departamento / estado")),
        Column("tags", _("Etiquetas")),
        Column("marketing_lists", _("Listas de marketing")),
        Column("language", _("Idioma"), "code", {k: str(v) for k, v in Language.choices}),
        Column("preferred_channel", _("Canal preferido"), "code", {k: str(v) for k, v in ContactChannel.choices}),
        Column("lead_state", _("Estado del lead"), "code", {k: str(v) for k, v in LeadState.choices}),
        Column("first_contact_at", _("Primer contacto"), "datetime"),
        Column("last_contact_at", _("Último contacto"), "datetime"),
        Column("conversations_count", _("Conversaciones"), "int"),
        Column("open_conversations", _("Conversaciones abiertas"), "int"),
        Column("orders_count", _("Compras"), "int"),
        Column("total_spent", _("Total comprado"), "money"),
        Column("last_order_at", _("Última compra"), "datetime"),
        Column("created_at", _("Creado"), "datetime"),
    ]


def _row(c: Customer) -> list[Any]:
    return [c.uuid, c.name, SEPARATOR.join(p.e164 for p in c.phones.all()),
            SEPARATOR.join(e.email for e in c.emails.all()), c.document_id, c.address, c.city, c.department,
            SEPARATOR.join(t.name for t in c.tags.all()), SEPARATOR.join(m.code for m in c.marketing_lists.all()),
            c.language, c.preferred_channel, c.lead_state, c.first_contact_at, c.last_contact_at,
            c.conversations_count, c.open_conversations, c.orders_count, c.total_spent, c.last_order_at,
            c.created_at]


def export_chunk(f: CustomerFilters, *, now: datetime, after_values: Sequence[object] | None
                 ) -> tuple[list[object] | None, list[list[Any]]]:
    """The rows of the next EXPORT_CHUNK customers after `after_values` (the previous chunk's last sort values;
    None: from the start), and this chunk's last sort values (None: it was the last)."""
    keys: tuple[SortKey, ...] = sort_keys(f.sort)
    qs = filtered(f, now=now)
    if after_values is not None:
        qs = qs.filter(after(keys, after_values))
    customers = list(
        qs.order_by(*[k.order() for k in keys]).prefetch_related(
            Prefetch("phones", queryset=CustomerPhone.objects.order_by("pk")),
            Prefetch("emails", queryset=CustomerEmail.objects.order_by("pk")),
            Prefetch("tags", queryset=Tag.objects.order_by("name")),
            Prefetch("marketing_lists", queryset=MarketingList.objects.order_by("code")),
        )[:EXPORT_CHUNK])
    last = [getattr(customers[-1], k.field) for k in keys] if len(customers) == EXPORT_CHUNK else None
    return last, [_row(c) for c in customers]


def customer_rows(f: CustomerFilters, *, now: datetime | None = None) -> Iterator[list[Any]]:
    """Every customer the filters select, in the list's order, one row each."""
    now = now or timezone.now()
    after_values: list[object] | None = None
    while True:
        after_values, rows = export_chunk(f, now=now, after_values=after_values)
        yield from rows
        if after_values is None:
            return


async def acustomer_rows(f: CustomerFilters, *, now: datetime | None = None) -> AsyncIterator[list[Any]]:
    """customer_rows for ASGI, each chunk read in a thread."""
    now = now or timezone.now()
    after_values: list[object] | None = None
    while True:
        after_values, rows = await sync_to_async(export_chunk)(f, now=now, after_values=after_values)
        for row in rows:
            yield row
        if after_values is None:
            return
