"""History import (issue 7): the company's past conversations and sales from Kommo/Sheets CSV exports.

Two phases. `parse_history` reads and validates every row, collecting every bad row with its line number and
reason; nothing is written while any row is bad (unless `skip_invalid`). `do_import_history` then upserts agents,
customers, conversations and sales by their ids in the files — into the same tables the live system writes —
and rebuilds the dashboard's rollups before returning, so the dashboard shows the history at once.

Rows become:
* agents → users found by `import_ref` (agent_id); unknown ones are created as profiles without login;
* customers → customers found by `import_ref` (customer_id);
* conversations → conversations in the "Historial importado" inbox (so 100,000 old "activa" rows never flood the
  live inbox), state activa → pendiente (nueva without agent), resuelta, escalada;
* sales → orders.Sale rows linked to their conversation.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import do_import_agent_profiles
from core.failpoints import failpoint
from core.text import fold
from core.validators import CHUNK, MAX_QUANTITY, TextFileError, sniff_encoding
from customers.actions import do_import_customers
from customers.activity import refresh_many
from inbox.actions import ImportedConversation, do_import_conversations
from inbox.choices import ConversationOutcome, ConversationState, CustomerState
from inbox.models import Conversation
from orders.actions import ImportedSale, do_import_sales
from reports import rollups

CONVERSATION_ALIASES: Final = {
    "conversation_id": "id_conversacion", "customer_id": "id_cliente", "customer_name": "nombre_cliente",
    "started_at": "fecha_inicio", "closed_at": "fecha_cierre", "state": "estado", "channel": "canal",
    "agent_id": "id_agente", "agent_name": "nombre_agente", "first_response_seconds": "tiempo_respuesta_inicial",
    "resolution_seconds": "tiempo_resolucion", "outcome": "resultado", "customer_state": "estado_cliente",
    "agent_comments": "comentarios_agente",
}
SALE_ALIASES: Final = {
    "sale_id": "id_venta", "product_id": "id_producto", "product_name": "nombre_producto",
    "conversation_id": "id_conversacion", "quantity": "cantidad", "unit_price": "precio_unitario", "amount": "monto",
}
CONVERSATION_REQUIRED: Final = ("conversation_id", "customer_id", "started_at", "state", "channel")
SALE_REQUIRED: Final = ("sale_id", "conversation_id", "amount")
STATES: Final = {"activa": "activa", "resuelta": ConversationState.RESOLVED.value,
                 "escalada": ConversationState.ESCALATED.value}
OUTCOMES: Final = {fold(v.replace("_", " ")): v for v in ConversationOutcome.values} | {
    fold(str(label)): value for value, label in [("genero_venta", "Generó venta"),
                                                 ("cerrada_sin_solucion", "Cerrada sin solución")]}
CUSTOMER_STATES: Final = {fold(v.replace("_", " ")): v for v in CustomerState.values} | {
    "cliente con venta": CustomerState.CONVERTED.value, "inactivo": CustomerState.NOT_INTERESTED.value}
CHANNELS: Final = {
    "whatsapp": "whatsapp", "wa": "whatsapp", "email": "email", "e-mail": "email", "correo": "email",
    "mail": "email", "correo electronico": "email", "web": "webchat", "webchat": "webchat", "web chat": "webchat",
    "chat web": "webchat", "chat": "webchat", "telefono": "phone", "phone": "phone", "llamada": "phone",
    "api": "api", "sms": "sms", "mensaje de texto": "sms",
}
BATCH: Final = 5000
# Bounds of the numbers a history row may carry (anything beyond is a typo or a unit mix-up, reported with its line
# rather than overflowing a column or a date calculation): durations up to ten years, money as its columns hold,
# quantities as the catalog's, dates in a range every database and time-zone conversion handles.
MAX_SECONDS: Final = 10 * 365 * 24 * 3600
MAX_AMOUNT: Final = Decimal(10) ** 14  # orders.Sale.amount: 16 digits, 2 decimals
MAX_UNIT_PRICE: Final = Decimal(10) ** 12  # orders.Sale.unit_price: 14 digits, 2 decimals
MIN_YEAR, MAX_YEAR = 1970, 2100


class HistoryFileError(Exception):
    """A file that cannot be imported: every bad row, with its line number and reason."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class ConversationRow:
    line: int
    ref: str
    customer_ref: str
    customer_name: str
    started_at: datetime
    closed_at: datetime | None
    state: str
    channel: str
    agent_ref: str
    agent_name: str
    first_response_seconds: int | None
    resolution_seconds: int | None
    outcome: str
    customer_state: str
    comments: str


@dataclass
class SaleRow:
    line: int
    ref: str
    conversation_ref: str
    product_ref: str
    product_name: str
    quantity: int
    unit_price: Decimal
    amount: Decimal


@dataclass
class ParsedHistory:
    conversations: list[ConversationRow] = field(default_factory=list)
    sales: list[SaleRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportResult:
    conversations: int
    sales: int
    agents_created: int
    customers_created: int
    skipped: list[str]


# --- reading ---------------------------------------------------------------------------------------------------


def _header_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", fold(name.strip()))


def _rows(path: Path, aliases: dict[str, str], required: tuple[str, ...], label: str,
          ) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row keyed by canonical column) for each data row; the header is line 1. A multi-line quoted
    cell counts every physical line, so a reported line is where the row starts in the file."""
    try:
        with path.open("rb") as raw:
            encoding = sniff_encoding(iter(lambda: raw.read(CHUNK), b""))
    except TextFileError as exc:
        raise HistoryFileError([_("%(file)s línea %(n)d: %(why)s") % {"file": label, "n": exc.line,
                                                                       "why": exc.message}]) from None
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise HistoryFileError([_("%s: el archivo está vacío.") % label]) from None
        known = {_header_key(k): k for k in aliases} | {_header_key(v): k for k, v in aliases.items()}
        columns = [known.get(_header_key(h)) for h in header]
        missing = [c for c in required if c not in columns]
        if missing:
            raise HistoryFileError([_("%(file)s: faltan columnas obligatorias: %(cols)s.") % {
                "file": label, "cols": ", ".join(f"{c} ({aliases[c]})" for c in missing)}])
        line = reader.line_num + 1
        for record in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            yield start, {c: (record[i].strip() if i < len(record) else "") for i, c in enumerate(columns) if c}


def _shown(value: str) -> str:
    """A cell as quoted in a message: long ones cut, so one bad cell cannot flood the report."""
    return value if len(value) <= 40 else value[:40] + "…"


def _number(value: str, name: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(_("%(col)s no es un número: «%(v)s»") % {"col": name, "v": _shown(value)}) from None
    if not number.is_finite():  # NaN, Infinity
        raise ValueError(_("%(col)s no es un número: «%(v)s»") % {"col": name, "v": _shown(value)})
    return number


def _datetime(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(_("%(col)s no es una fecha ISO 8601: «%(v)s»") % {"col": name, "v": _shown(value)}) from None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise ValueError(_("%(col)s está fuera del rango de fechas admitido (%(min)d–%(max)d): «%(v)s»")
                         % {"col": name, "min": MIN_YEAR, "max": MAX_YEAR, "v": _shown(value)})
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def _seconds(value: str, name: str) -> int | None:
    if not value:
        return None
    seconds = _number(value.replace(",", "."), name)
    if seconds < 0:
        raise ValueError(_("%(col)s es negativo: %(v)s") % {"col": name, "v": _shown(value)})
    if seconds > MAX_SECONDS:
        raise ValueError(_("%(col)s está fuera de rango: %(v)s (el máximo es %(max)d segundos, diez años)")
                         % {"col": name, "v": _shown(value), "max": MAX_SECONDS})
    return int(seconds.to_integral_value())


def _money(value: str, name: str, *, maximum: Decimal) -> Decimal:
    amount = _number(value.replace(" ", ""), name)
    if amount < 0:
        raise ValueError(_("%(col)s es negativo: %(v)s") % {"col": name, "v": _shown(value)})
    if amount >= maximum:
        raise ValueError(_("%(col)s está fuera de rango: %(v)s (debe ser menor que %(max)s)")
                         % {"col": name, "v": _shown(value), "max": f"{maximum:f}"})
    return amount.quantize(Decimal("0.01"))


def _enum(value: str, choices: dict[str, str], name: str) -> str:
    if not value:
        return ""
    key = fold(value.replace("_", " "))
    if key not in choices:
        raise ValueError(_("%(col)s desconocido: «%(v)s» (valores: %(ok)s)") % {
            "col": name, "v": value, "ok": ", ".join(sorted(set(choices.values())))})
    return choices[key]


def normalize_channel(value: str) -> str:
    key = fold(value)
    if key in CHANNELS:
        return CHANNELS[key]
    return re.sub(r"[^a-z0-9]+", "", key)[:12] or "otro"


def _conversation(line: int, row: dict[str, str]) -> ConversationRow:
    for name in CONVERSATION_REQUIRED:
        if not row.get(name):
            raise ValueError(_("falta %s") % name)
    started = _datetime(row["started_at"], "started_at")
    closed = _datetime(row["closed_at"], "closed_at") if row.get("closed_at") else None
    if closed is not None and closed < started:
        raise ValueError(_("closed_at es anterior a started_at"))
    state = _enum(row["state"], STATES, "state")
    return ConversationRow(
        line=line, ref=row["conversation_id"][:64], customer_ref=row["customer_id"][:64],
        customer_name=row.get("customer_name", "")[:200], started_at=started, closed_at=closed, state=state,
        channel=normalize_channel(row["channel"]), agent_ref=row.get("agent_id", "")[:64],
        agent_name=row.get("agent_name", "")[:150],
        first_response_seconds=_seconds(row.get("first_response_seconds", ""), "first_response_seconds"),
        resolution_seconds=_seconds(row.get("resolution_seconds", ""), "resolution_seconds"),
        outcome=_enum(row.get("outcome", ""), OUTCOMES, "outcome"),
        customer_state=_enum(row.get("customer_state", ""), CUSTOMER_STATES, "customer_state"),
        comments=row.get("agent_comments", ""),
    )


def _sale(line: int, row: dict[str, str]) -> SaleRow:
    for name in SALE_REQUIRED:
        if not row.get(name):
            raise ValueError(_("falta %s") % name)
    amount = _money(row["amount"], "amount", maximum=MAX_AMOUNT)
    quantity = 1
    if row.get("quantity"):
        number = _number(row["quantity"], "quantity")
        if number != number.to_integral_value():
            raise ValueError(_("quantity debe ser un número entero: «%s»") % _shown(row["quantity"]))
        if number <= 0:
            raise ValueError(_("quantity debe ser positiva: %s") % _shown(row["quantity"]))
        if number > MAX_QUANTITY:
            raise ValueError(_("quantity está fuera de rango: %(v)s (el máximo es %(max)d)")
                             % {"v": _shown(row["quantity"]), "max": MAX_QUANTITY})
        quantity = int(number)
    unit_price = (_money(row["unit_price"], "unit_price", maximum=MAX_UNIT_PRICE) if row.get("unit_price")
                  else amount / quantity)
    if unit_price >= MAX_UNIT_PRICE:
        raise ValueError(_("unit_price está fuera de rango: %s") % unit_price.quantize(Decimal("0.01")))
    return SaleRow(line=line, ref=row["sale_id"][:64], conversation_ref=row["conversation_id"][:64],
                   product_ref=row.get("product_id", "")[:64], product_name=row.get("product_name", "")[:200],
                   quantity=quantity, unit_price=unit_price.quantize(Decimal("0.01")), amount=amount)


def _reason(exc: Exception) -> str:
    # Our ValueErrors carry a translated reason naming the column; anything else from a parser (a decimal or date
    # overflow the checks above did not foresee) still gets its line instead of failing the whole import.
    if type(exc) is ValueError:
        return str(exc)
    return _("un valor está fuera de rango (%s)") % type(exc).__name__


def parse_history(conversations: Path, sales: Path | None = None) -> ParsedHistory:
    parsed = ParsedHistory()
    seen: set[str] = set()
    conv_label, sale_label = conversations.name, sales.name if sales else ""
    for line, row in _rows(conversations, CONVERSATION_ALIASES, CONVERSATION_REQUIRED, conv_label):
        try:
            item = _conversation(line, row)
            if item.ref in seen:
                raise ValueError(_("conversation_id repetido: %s") % item.ref)
        except (ValueError, ArithmeticError) as exc:
            parsed.errors.append(_("%(file)s línea %(n)d: %(why)s") % {"file": conv_label, "n": line,
                                                                       "why": _reason(exc)})
            continue
        seen.add(item.ref)
        parsed.conversations.append(item)
    if sales is not None:
        sale_refs: set[str] = set()
        pending: list[SaleRow] = []
        for line, row in _rows(sales, SALE_ALIASES, SALE_REQUIRED, sale_label):
            try:
                sale = _sale(line, row)
                if sale.ref in sale_refs:
                    raise ValueError(_("sale_id repetido: %s") % sale.ref)
            except (ValueError, ArithmeticError) as exc:
                parsed.errors.append(_("%(file)s línea %(n)d: %(why)s") % {"file": sale_label, "n": line,
                                                                           "why": _reason(exc)})
                continue
            sale_refs.add(sale.ref)
            pending.append(sale)
        # A sale must name a conversation of this file (a valid row) or one imported before.
        unknown = {s.conversation_ref for s in pending} - seen
        known_before = set(Conversation.objects.filter(import_ref__in=unknown).values_list("import_ref", flat=True))
        for sale in pending:
            if sale.conversation_ref in seen or sale.conversation_ref in known_before:
                parsed.sales.append(sale)
            else:
                parsed.errors.append(_("%(file)s línea %(n)d: conversation_id desconocido: %(ref)s") % {
                    "file": sale_label, "n": sale.line, "ref": sale.conversation_ref})
    return parsed


# --- writing ---------------------------------------------------------------------------------------------------


def _conversations(rows: list[ConversationRow], customers: dict[str, int],
                   agents: dict[str, int]) -> list[ImportedConversation]:
    return [ImportedConversation(
        ref=r.ref, customer_id=customers[r.customer_ref], agent_id=agents.get(r.agent_ref), channel=r.channel,
        state=r.state, started_at=r.started_at, closed_at=r.closed_at, first_response_seconds=r.first_response_seconds,
        resolution_seconds=r.resolution_seconds, outcome=r.outcome, customer_state=r.customer_state,
        comments=r.comments) for r in rows]


def _sales(rows: list[SaleRow], conversations: dict[str, int]) -> list[ImportedSale]:
    missing = {r.conversation_ref for r in rows} - set(conversations)
    conversations = {**conversations, **dict(Conversation.objects.filter(import_ref__in=missing)
                                             .values_list("import_ref", "pk"))}
    return [ImportedSale(ref=r.ref, conversation_id=conversations[r.conversation_ref], product_ref=r.product_ref,
                         product_name=r.product_name, quantity=r.quantity, unit_price=r.unit_price, amount=r.amount)
            for r in rows]


def customer_names(rows: list[ConversationRow]) -> dict[str, str]:
    """Each customer's name as the file gives it (the last non-empty one wins)."""
    names: dict[str, str] = {}
    for r in rows:
        names[r.customer_ref] = r.customer_name or names.get(r.customer_ref, "")
    return names


def agent_names(rows: list[ConversationRow]) -> dict[str, str]:
    return {r.agent_ref: r.agent_name for r in rows if r.agent_ref}


def do_import_history(parsed: ParsedHistory, *, skip_invalid: bool = False,
                      progress: Callable[[str, int, int], None] | None = None) -> ImportResult:
    """Writes a parsed history (all or nothing) and rebuilds the rollups. Refuses when rows are bad unless
    `skip_invalid`, in which case the good rows are imported and the bad ones returned in `skipped`."""
    if parsed.errors and not skip_invalid:
        raise HistoryFileError(parsed.errors)
    report = progress or (lambda _stage, _done, _total: None)
    with transaction.atomic():
        # Each table through its own app's import action (the same rows their one-by-one actions write).
        agents, agents_created = do_import_agent_profiles(agent_names(parsed.conversations))
        customers, customers_created = do_import_customers(customer_names(parsed.conversations))
        ids = do_import_conversations(_conversations(parsed.conversations, customers, agents), report)
        failpoint("history_import.before_sales")
        do_import_sales(_sales(parsed.sales, ids))
        rollups.rebuild_all(progress=lambda done, total: report("rollups", done, total))
    # History writes without events: the imported customers' activity (contacts, purchases) and their segments are
    # computed now, in short transactions of their own, instead of waiting for the nightly rebuild — without
    # announcing segment entries (thousands of "Inactivo" customers did not just become inactive).
    refresh_many(customers.values(), progress=lambda done, total: report("customers", done, total), announce=False)
    return ImportResult(conversations=len(parsed.conversations), sales=len(parsed.sales),
                        agents_created=agents_created, customers_created=customers_created, skipped=parsed.errors)
