"""CSV import of customers: the upload page's one action (customers.import_views).

Each row creates a customer or updates the one it matches, on its own: a bad row is reported with its line and its
problems and never stops the others. A row matches the customer that already has one of its phones or emails
(normalized: E.164, lower case) or its identity document; it then updates only what the row's non-empty cells say
(tags and marketing lists are added, never removed; phones and emails are added). A row that matches two different
customers (the phone of one, the email of another) is refused naming both: a person merges them first. A row without
phone, email or document is refused too, because nothing would find that customer again: that is what makes
importing the same file twice create nothing the second time (rows already imported are counted as unchanged and not
written).

Writes go through the customers actions: do_update_customer validates every field of the row and reports all its
problems at once (the same messages as the profile's form and the API), do_set_consent records consent with method
"import". The page's `check_*` actions require customers.edit, which an analyst importing a list does not have, so
this module is the import's `check_*`: it requires customers.import and then calls the `do_*` actions itself, as
check_create_customer does (create, fill, audit `customer.created`, emit CustomerCreated).

Transactions: IMPORT_BATCH rows per transaction, each row in its own savepoint (a refused row rolls back alone). On
SQLite a short pause between batches lets other writers (agents, the worker) take the write lock, as in
catalog.importer.

Accepted files: UTF-8 with or without BOM, or Windows-1252/Latin-1 (core.validators.sniff_encoding); comma or
semicolon separated (counted on the header line), an optional Excel `sep=;` first line; one header row, columns named
in Spanish or English (accents, case and spaces ignored), in any order; columns of our own export that are computed
(uuid, activity, dates) are ignored, other unknown columns are ignored and named in the result. Files over
MAX_IMPORT_BYTES or MAX_IMPORT_ROWS rows are refused: the page runs the import while the person waits.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import batched
from typing import Any, Final, Literal, Protocol

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError
from core.text import fold
from core.validators import TextFileError, csv_records, decode_text_file
from customers.actions import Preferences, do_create_customer, do_set_consent, do_update_customer
from customers.choices import ConsentChannel, ConsentStatus, ContactChannel, Language
from customers.exports import IMPORTABLE, export_columns
from customers.models import Consent, Customer, CustomerEmail, CustomerPhone, MarketingList
from customers.phones import normalize_email, normalize_phone, validate_customer_email

# Limits of one upload: the page runs the import while the person waits, behind a proxy that gives up after a minute
# (nginx's default proxy_read_timeout). Measured on SQLite, 2 shared vCPUs under load (2026-12-06): a new customer
# costs 12 ms (about 30 queries through do_update_customer, consent, audit and event), a row that changes nothing
# 4 ms, so 5,000 new customers take about a minute. Bigger files are split into several (the page says so).
MAX_IMPORT_BYTES: Final = 5 * 1024 * 1024
MAX_IMPORT_ROWS: Final = 5_000
MAX_REPORTED_ERRORS: Final = 500  # rows with problems listed on the page; all of them are counted
# Rows per transaction, each in its own savepoint: 25 rows hold SQLite's write lock about 0.3 s, and the pause
# between batches lets the agents' and the worker's writes in (catalog.importer explains why a gap is needed);
# 200 pauses add 10 s to the largest import. PostgreSQL locks only the rows written and needs no pause.
IMPORT_BATCH: Final = 25
SQLITE_BATCH_PAUSE: Final = 0.05
# Stored data, not translated: where an opt-in came from.
CONSENT_SOURCE: Final = "importación"

TEXT_FIELDS: Final = ("name", "document_id", "address", "city", "department", "notes")
CONSENT_COLUMNS: Final = {f"consent_{c}": c for c in ConsentChannel.values}
COLUMN_ALIASES: Final[dict[str, str]] = {
    "nombre": "name", "name": "name", "nombre_completo": "name", "full_name": "name",
    "telefono": "phones", "telefonos": "phones", "phone": "phones", "phones": "phones", "celular": "phones",
    "movil": "phones", "mobile": "phones",
    "correo": "emails", "correos": "emails", "email": "emails", "emails": "emails", "e_mail": "emails",
    "correo_electronico": "emails",
    "documento": "document_id", "document_id": "document_id", "documento_de_identidad": "document_id",
    "document": "document_id",
    "direccion": "address", "address": "address",
    "ciudad": "city", "city": "city",
    "departamento": "department", "department": "department", "estado": "department", "state": "department",
    "departamento_estado": "department",
    "etiquetas": "tags", "tags": "tags", "etiqueta": "tags",
    "lista": "marketing_lists", "listas": "marketing_lists", "marketing_lists": "marketing_lists",
    "listas_de_marketing": "marketing_lists", "lists": "marketing_lists",
    "idioma": "language", "language": "language",
    "canal_preferido": "preferred_channel", "preferred_channel": "preferred_channel",
    "notas": "notes", "notes": "notes", "observaciones": "notes",
    **{f"consentimiento_{c}": f"consent_{c}" for c in ConsentChannel.values},
    **{f"consent_{c}": f"consent_{c}" for c in ConsentChannel.values},
}
# The header of the page's example file.
EXAMPLE_HEADER: Final = ("nombre,telefono,correo,documento,direccion,ciudad,departamento,etiquetas,listas,idioma,"
                         "canal_preferido,notas,consentimiento_whatsapp,consentimiento_email,consentimiento_sms")
YES: Final = frozenset({"si", "s", "yes", "y", "1", "true", "verdadero"})
NO: Final = frozenset({"no", "n", "0", "false", "falso"})
# Spreadsheets run cells that start with these as formulas; our export prefixes them with an apostrophe.
FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
_NON_WORD: Final = re.compile(r"[^a-z0-9]+")


class Readable(Protocol):
    """An uploaded file, or a file opened in binary mode."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class RowError:
    line: int  # the file's line where the row starts (1 = the header)
    name: str  # the row's name cell, for the person reading the list
    messages: list[str]


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)  # the first MAX_REPORTED_ERRORS of them
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def errors_truncated(self) -> bool:
        return self.error_count > len(self.errors)

    def fail(self, line: int, name: str, messages: Iterable[str]) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line=line, name=name, messages=list(messages)))


@dataclass(frozen=True)
class _Row:
    line: int
    texts: dict[str, str]  # TEXT_FIELDS present in the file ("" when the cell is empty)
    phones: list[str]
    emails: list[str]
    tags: list[str]
    lists: list[str]  # marketing list codes
    language: str
    preferred_channel: str
    consent: dict[str, str]  # channel: opted_in | opted_out
    errors: dict[str, str]  # found while reading the row (unknown values); the action adds its own

    @property
    def name(self) -> str:
        return self.texts.get("name", "")


def _file_error(message: str, line: int | None = None) -> ActionError:
    return ActionError("invalid_import_file", message, **({"line": line} if line is not None else {}))


# --- reading -----------------------------------------------------------------------------------------------------


def _key(header: str) -> str:
    return _NON_WORD.sub("_", fold(header)).strip("_")


@cache
def _export_headers(language: str) -> tuple[dict[str, str], frozenset[str]]:
    """The headers of our own export (machine names and labels in both languages): the editable ones, by field,
    and the computed ones (read-only, ignored)."""
    editable: dict[str, str] = {}
    computed: set[str] = set()
    with translation.override(language):
        for column in export_columns():
            keys = {_key(column.name), _key(str(column.label))}
            if column.name in IMPORTABLE:
                editable.update(dict.fromkeys(keys, IMPORTABLE[column.name]))
            else:
                computed |= keys
    return editable, frozenset(computed - editable.keys())


@cache
def _choice_aliases(language: str) -> tuple[dict[str, str], dict[str, str]]:
    """Language and channel codes by their code and label folded, in `language`."""
    with translation.override(language):
        languages = {**{fold(c): c for c in Language.values}, **{fold(str(label)): c for c, label in Language.choices}}
        channels = {**{fold(c): c for c in ContactChannel.values},
                    **{fold(str(label)): c for c, label in ContactChannel.choices}}
    return languages, channels


@cache
def _aliases() -> tuple[dict[str, str], frozenset[str], dict[str, str], dict[str, str]]:
    columns, languages, channels = dict(COLUMN_ALIASES), {}, {}
    computed: set[str] = set()
    for language in ("es", "en"):
        editable, read_only = _export_headers(language)
        columns.update({k: v for k, v in editable.items() if k not in columns})
        computed |= read_only
        lang, chan = _choice_aliases(language)
        languages.update(lang)
        channels.update(chan)
    languages.update({"espanol": "es", "spanish": "es", "ingles": "en", "english": "en"})
    channels.update({"correo electronico": "email", "e-mail": "email", "llamada": "phone", "chat": "webchat"})
    return columns, frozenset(computed - columns.keys()), languages, channels


def _decode(upload: Readable) -> str:
    raw = upload.read(MAX_IMPORT_BYTES + 1)  # a bigger file is refused without reading it whole
    if len(raw) > MAX_IMPORT_BYTES:
        raise _file_error(_("El archivo supera los %d MB. Divídalo en varios archivos más pequeños.")
                          % (MAX_IMPORT_BYTES // (1024 * 1024)))
    try:
        return decode_text_file(raw)
    except TextFileError as exc:
        raise _file_error(exc.message, exc.line) from exc


def _records(text: str) -> list[tuple[int, list[str]]]:
    """(the file's line where the record starts, its cells) for every non-blank record."""
    try:
        return csv_records(text)
    except TextFileError as exc:
        raise _file_error(exc.message, exc.line) from exc


def _unescape(cell: str) -> str:
    value = cell.strip()
    if value.startswith("'") and value[1:2] and value[1] in FORMULA_PREFIXES:
        return value[1:]
    return value


def _split(value: str, separators: str) -> list[str]:
    return [part.strip() for part in re.split(f"[{re.escape(separators)}]", value) if part.strip()]


def _consent(value: str, channel: str, errors: dict[str, str]) -> str | None:
    word = fold(value)
    if not word:
        return None
    if word in YES:
        return ConsentStatus.OPTED_IN
    if word in NO:
        return ConsentStatus.OPTED_OUT
    errors["consent"] = (_("Consentimiento (%(channel)s) no reconocido: «%(value)s». Escriba sí o no, o deje la "
                           "celda vacía.") % {"channel": ConsentChannel(channel).label, "value": value[:40]})
    return None


def _columns(header: list[str], line: int) -> tuple[list[str | None], list[str]]:
    """The field each column feeds (None: ignored) and the unknown columns; a repeated column or no name column
    refuses the file."""
    aliases, computed, _languages, _channels = _aliases()
    columns: list[str | None] = []
    ignored: list[str] = []
    for raw in header:
        key = _key(raw)
        column = aliases.get(key)
        if column is None:
            if key and key not in computed:
                ignored.append(raw.strip())
            columns.append(None)
            continue
        if column in columns:
            raise _file_error(_("La columna «%s» está repetida (o aparece con otro nombre).") % raw.strip(), line)
        columns.append(column)
    if "name" not in columns:
        raise _file_error(_("Falta la columna «nombre» (o «name»): es la única obligatoria. La primera fila del "
                            "archivo debe tener los nombres de las columnas."), line)
    return columns, ignored


def _row(line: int, cells: Sequence[str], columns: Sequence[str | None]) -> _Row:
    languages, channels = _aliases()[2:]
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for index, cell in enumerate(cells):
        if index >= len(columns):
            if cell.strip():
                errors["row"] = (_("La fila tiene %(cells)d columnas y el encabezado %(columns)d.")
                                 % {"cells": len(cells), "columns": len(columns)})
                break
            continue
        column = columns[index]
        if column is not None:
            values[column] = _unescape(cell)
    codes = _split(values.get("marketing_lists", ""), ";,")
    language, channel = values.get("language", ""), values.get("preferred_channel", "")
    consent = {}
    for column, channel_code in CONSENT_COLUMNS.items():
        status = _consent(values.get(column, ""), channel_code, errors)
        if status is not None:
            consent[channel_code] = status
    return _Row(
        line=line, texts={f: values[f] for f in TEXT_FIELDS if f in values},
        phones=_split(values.get("phones", ""), ";/"), emails=_split(values.get("emails", ""), ";,"),
        tags=[" ".join(t.split()) for t in _split(values.get("tags", ""), ";")], lists=codes,
        # an unknown value goes to the action as typed, which names it (Preferences.errors)
        language=languages.get(fold(language), language), preferred_channel=channels.get(fold(channel), channel),
        consent=consent, errors=errors)


def read_customers_csv(upload: Readable, *, max_rows: int | None = None) -> tuple[list[_Row], list[str]]:
    """The rows of an uploaded file and its ignored columns; ActionError `invalid_import_file` refuses the file."""
    max_rows = max_rows or MAX_IMPORT_ROWS
    records = _records(_decode(upload))
    if not records:
        raise _file_error(_("El archivo está vacío: falta la fila de encabezado con los nombres de las columnas."))
    (header_line, header), data = records[0], records[1:]
    columns, ignored = _columns(header, header_line)
    if not data:
        raise _file_error(_("El archivo no tiene filas de clientes debajo del encabezado."), header_line)
    if len(data) > max_rows:
        raise _file_error(_("El archivo tiene %(rows)s filas y el máximo por importación es %(max)s. Divídalo en "
                            "varios archivos.") % {"rows": number_format(len(data), force_grouping=True),
                                                   "max": number_format(max_rows, force_grouping=True)})
    return [_row(line, cells, columns) for line, cells in data], ignored


# --- writing -----------------------------------------------------------------------------------------------------


def _describe(customer: Customer, reason: str) -> str:
    return _("«%(name)s» (%(reason)s)") % {"name": customer.name, "reason": reason}


def _matches(row: _Row) -> dict[int, tuple[Customer, str]]:
    """The customers that already have one of the row's phones, emails or its document, with why."""
    found: dict[int, tuple[Customer, str]] = {}
    e164s = [p for p in dict.fromkeys(normalize_phone(raw) for raw in row.phones) if p]
    mails = [m for m in dict.fromkeys(normalize_email(raw) for raw in row.emails) if m]
    for phone in CustomerPhone.objects.filter(e164__in=e164s).select_related("customer").order_by("pk"):
        found.setdefault(phone.customer_id, (phone.customer, _("teléfono %s") % phone.e164))
    for mail in CustomerEmail.objects.filter(email__in=mails).select_related("customer").order_by("pk"):
        found.setdefault(mail.customer_id, (mail.customer, _("correo %s") % mail.email))
    document = row.texts.get("document_id", "")
    if document:
        for customer in Customer.objects.filter(document_id=document).order_by("pk"):
            found.setdefault(customer.pk, (customer, _("documento %s") % document))
    return found


def _list_ids(row: _Row, lists: Mapping[str, int], errors: dict[str, str]) -> list[int]:
    unknown = [code for code in row.lists if code.lower() not in lists]
    if unknown:
        errors["marketing_lists"] = (_("Lista de marketing desconocida: %s. Use el código de una lista existente.")
                                     % ", ".join(unknown[:5]))
    return [lists[code.lower()] for code in row.lists if code.lower() in lists]


def _update_arguments(customer: Customer, row: _Row, list_ids: list[int]
                      ) -> tuple[dict[str, Any], dict[str, str], bool]:
    """What do_update_customer gets to apply the row to `customer` (non-empty cells replace; phones, emails, tags
    and lists are added), the consent changes, and whether the row changes anything at all."""
    phones = list(customer.phones.order_by("pk").values_list("e164", flat=True))
    emails = list(customer.emails.order_by("pk").values_list("email", flat=True))
    tags = list(customer.tags.values_list("name", flat=True))
    lists = list(customer.marketing_lists.values_list("pk", flat=True))
    consents = dict(customer.consents.values_list("channel", "status"))
    texts = {f: row.texts.get(f) or getattr(customer, f) for f in TEXT_FIELDS}
    new_phones = [p for p in row.phones if normalize_phone(p) not in phones]  # an invalid one too: the action says so
    new_emails = [m for m in row.emails if validate_customer_email(m) not in emails]
    new_tags = [t for t in dict.fromkeys(row.tags) if t not in tags]
    new_lists = [pk for pk in dict.fromkeys(list_ids) if pk not in lists]
    language = row.language or customer.language
    channel = row.preferred_channel or customer.preferred_channel
    consent = {c: status for c, status in row.consent.items() if consents.get(c) != status}
    changed = (any(texts[f] != getattr(customer, f) for f in TEXT_FIELDS) or new_phones or new_emails or new_tags
               or new_lists or language != customer.language or channel != customer.preferred_channel or consent)
    return {**texts, "phones": [*phones, *new_phones], "emails": [*emails, *new_emails], "tags": [*tags, *new_tags],
            "marketing_list_ids": [*lists, *new_lists],
            "preferences": Preferences(language=language, preferred_channel=channel,
                                       contact_from=customer.contact_from, contact_to=customer.contact_to)
            }, consent, bool(changed)


def _set_consent(customer: Customer, consent: Mapping[str, str], acting_user: User) -> None:
    for channel, status in consent.items():
        opted_in = status == ConsentStatus.OPTED_IN
        do_set_consent(customer, channel=channel, status=status, source=CONSENT_SOURCE if opted_in else "",
                       method="" if opted_in else Consent.Method.IMPORT, acting_user=acting_user,
                       override_opt_out=False)


def _write_row(row: _Row, *, acting_user: User, lists: Mapping[str, int]
               ) -> Literal["created", "updated", "unchanged"]:
    """Creates or updates the row's customer (inside the caller's savepoint); ActionError when the row is bad."""
    errors = dict(row.errors)
    list_ids = _list_ids(row, lists, errors)
    matches = _matches(row)
    if len(matches) > 1:
        described = [_describe(customer, reason) for customer, reason in matches.values()]
        message = (_("La fila coincide con clientes distintos: %(customers)s. Fusiónelos en «Posibles duplicados» o "
                     "corrija la fila.") % {"customers": _(" y ").join([", ".join(described[:-1]), described[-1]])})
        raise ActionError("ambiguous_customer", message, errors={"row": message})
    if matches:
        customer_id = next(iter(matches))
        customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
        if customer is None:  # merged or deleted since it was found
            raise ActionError("customer_not_found", _("El cliente que coincide con la fila ya no existe; vuelva a "
                                                      "importar el archivo."))
        arguments, consent, changed = _update_arguments(customer, row, list_ids)
        if not changed and not errors:
            return "unchanged"  # nothing written, nothing audited
        # With errors, the action reports the row's problems along with its own and writes nothing.
        customer = do_update_customer(customer.pk, acting_user=acting_user, errors=errors, **arguments)
        _set_consent(customer, consent, acting_user)
        return "updated"
    if not (row.phones or row.emails or row.texts.get("document_id")):
        errors["identity"] = _("Falta al menos un teléfono, un correo o un documento: sin ninguno no se puede saber "
                               "si el cliente ya existe al importar de nuevo.")
    texts: dict[str, Any] = {f: row.texts.get(f, "") for f in TEXT_FIELDS}
    customer = do_create_customer(
        acting_user, **texts, phones=row.phones, emails=row.emails, tags=row.tags, marketing_list_ids=list_ids,
        preferences=Preferences(language=row.language, preferred_channel=row.preferred_channel), errors=errors)
    _set_consent(customer, row.consent, acting_user)
    return "created"


def _import_row(row: _Row, report: ImportReport, *, acting_user: User, lists: Mapping[str, int]) -> None:
    try:
        with transaction.atomic():
            outcome = _write_row(row, acting_user=acting_user, lists=lists)
    except ActionError as exc:
        field_errors = exc.details.get("errors")
        messages = list(field_errors.values()) if isinstance(field_errors, dict) and field_errors else [exc.message]
        report.fail(row.line, row.name, messages)
        return
    except (IntegrityError, OperationalError):
        # Another change took the same phone or email meanwhile (or a deadlock with another import): this row only.
        report.fail(row.line, row.name, [_("Otro cambio simultáneo tomó el mismo teléfono, correo o cliente. Vuelva a "
                                           "importar el archivo: las filas ya importadas no se duplican.")])
        return
    setattr(report, outcome, getattr(report, outcome) + 1)


def check_import_customers(acting_user: User, upload: Readable, *, max_rows: int | None = None) -> ImportReport:
    """Imports an uploaded CSV of customers (see the module's docstring). Raises ActionError `invalid_import_file`
    (nothing written) for a file that cannot be read as a whole; otherwise returns the counts and the bad rows."""
    require_perm(acting_user, Perm.CUSTOMERS_IMPORT)
    rows, ignored = read_customers_csv(upload, max_rows=max_rows)
    report = ImportReport(rows=len(rows), ignored_columns=ignored)
    lists = {code.lower(): pk for code, pk in MarketingList.objects.values_list("code", "pk")}
    batches = list(batched(rows, IMPORT_BATCH))
    for number, batch in enumerate(batches, start=1):
        with transaction.atomic():
            for row in batch:
                _import_row(row, report, acting_user=acting_user, lists=lists)
        if connection.vendor == "sqlite" and number < len(batches):
            time.sleep(SQLITE_BATCH_PAUSE)
    return report
