"""Issue 17: the customer list downloads as CSV with the list's filters and order (core.exports: both dialects,
label or machine headers, formulas defused, streamed in chunks), and a CSV of customers imports row by row: new
customers are created, known ones (by phone, email or document) updated, and every bad row is reported with its
line, the good ones imported anyway."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from core.models import AuditLog
from customers import exports, imports
from customers.actions import do_set_consent, do_upsert_customer
from customers.imports import check_import_customers
from customers.models import Consent, Customer, MarketingList, Tag
from customers.selectors import CustomerFilters, filtered, sort_keys

pytestmark = pytest.mark.django_db

HEADER = "nombre,telefono,correo,documento,ciudad,etiquetas,listas,idioma,canal_preferido"


def upload(text: str, *, encoding: str = "utf-8", name: str = "clientes.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def read_csv(response: Any, delimiter: str = ",") -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:], newline=""), delimiter=delimiter))


@pytest.fixture
def analyst(make_user):
    return make_user(Role.ANALISTA, username="analista")


def customer(name: str, phone: str, email: str = "", **fields: Any) -> Customer:
    created = do_upsert_customer(name=name, phones=[phone], emails=[email] if email else [])
    if fields:
        Customer.objects.filter(pk=created.pk).update(**fields)
        created.refresh_from_db()
    return created


# --- export --------------------------------------------------------------------------------------------------------


def test_export_is_for_analysts_and_admins(make_user, client_for):
    # given an agent, a supervisor, an analyst and an admin
    url = reverse("customers:export")
    # when each downloads the list / then only analysts and admins may
    assert client_for(make_user(Role.AGENTE)).get(url).status_code == 403
    assert client_for(make_user(Role.SUPERVISOR)).get(url).status_code == 403
    assert client_for(make_user(Role.ANALISTA)).get(url).status_code == 200
    assert client_for(make_user(Role.ADMIN)).get(url).status_code == 200


def test_export_has_the_list_filters_and_every_column(analyst, client_for):
    # given two customers tagged «vip» (one with two phones, a list, preferences and purchases) and one not
    vip_list = MarketingList.objects.create(name="Clientes VIP", code="vip")
    ana = customer("Ana Peña", "+573001112233", "ana@example.com", document_id="CC 123", city="Bogotá",
                   language="es", preferred_channel="whatsapp", lead_state="completado", orders_count=2,
                   total_spent=Decimal("150000.50"))
    ana.phones.create(e164="+573004445566")
    ana.tags.add(Tag.objects.create(name="vip"), Tag.objects.create(name="frecuente"))
    ana.marketing_lists.add(vip_list)
    beto = customer("Beto", "+573007778899", total_spent=Decimal(10))
    beto.tags.add(Tag.objects.get(name="vip"))
    customer("Carla", "+573001230000")
    # when the analyst downloads the list filtered by the tag, sorted by spend, with machine names
    response = client_for(analyst).get(reverse("customers:export"), {"tag": "vip", "sort": "spent",
                                                                     "headers": "name"})
    # then a UTF-8 CSV with BOM streams both tagged customers, most spent first
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="clientes-')
    header, *rows = read_csv(response)
    assert header == ["uuid", "name", "phones", "emails", "document_id", "address", "city", "department", "tags",
                      "marketing_lists", "language", "preferred_channel", "lead_state", "first_contact_at",
                      "last_contact_at", "conversations_count", "open_conversations", "orders_count", "total_spent",
                      "last_order_at", "created_at"]
    assert [row[1] for row in rows] == ["Ana Peña", "Beto"]
    first = dict(zip(header, rows[0], strict=True))
    assert first["uuid"] == str(ana.uuid)
    assert first["phones"] == "'+573001112233; +573004445566"  # starts with "+": defused like any formula
    assert first["emails"] == "ana@example.com"
    assert first["tags"] == "frecuente; vip" and first["marketing_lists"] == "vip"
    assert (first["language"], first["preferred_channel"], first["lead_state"]) == ("es", "whatsapp", "completado")
    assert (first["orders_count"], first["total_spent"], first["last_order_at"]) == ("2", "150000.50", "")
    assert dict(zip(header, rows[1], strict=True))["phones"] == "+573007778899"  # one E.164 number: as is


def test_export_in_excel_dialect_with_labels(analyst, client_for):
    # given a customer who spent money
    customer("Ana", "+573001112233", total_spent=Decimal("99.5"), lead_state="en_proceso")
    # when downloaded for Excel with labels
    response = client_for(analyst).get(reverse("customers:export"), {"dialect": "excel"})
    # then semicolons, a decimal comma and labels for coded values
    header, row = read_csv(response, delimiter=";")
    values = dict(zip(header, row, strict=True))
    assert header[:3] == ["ID del cliente", "Nombre", "Teléfonos"]
    assert values["Total comprado"] == "99,50"
    assert values["Estado del lead"] == "En proceso"


def test_export_defuses_formulas(analyst, client_for):
    # given a customer who named themself a formula on WhatsApp
    customer('=HYPERLINK("http://x.example","clic")', "+573001112233", city="@SUM(1+1)")
    # when exported
    header, row = read_csv(client_for(analyst).get(reverse("customers:export"), {"headers": "name"}))
    values = dict(zip(header, row, strict=True))
    # then the spreadsheet shows the text instead of running it
    assert values["name"] == '\'=HYPERLINK("http://x.example","clic")'
    assert values["city"] == "'@SUM(1+1)"


def test_export_refuses_an_unknown_option(analyst, client_for):
    response = client_for(analyst).get(reverse("customers:export"), {"dialect": "xlsx"})
    assert response.status_code == 400


def test_export_streams_in_chunks_with_a_fixed_number_of_queries(monkeypatch, django_assert_num_queries):
    # given five customers with phones, emails, tags and lists, and chunks of two
    monkeypatch.setattr(exports, "EXPORT_CHUNK", 2)
    tag = Tag.objects.create(name="vip")
    lists = MarketingList.objects.create(name="VIP", code="vip")
    for i in range(5):
        c = customer(f"Cliente {i}", f"+57300111220{i}", f"c{i}@example.com")
        c.tags.add(tag)
        c.marketing_lists.add(lists)
    # when every row is read, sorted by name
    with django_assert_num_queries(3 * 5):  # three chunks: the customers, their phones, emails, tags and lists
        rows = list(exports.customer_rows(CustomerFilters(sort="name")))
    # then all of them, in order, each once
    assert [row[1] for row in rows] == [f"Cliente {i}" for i in range(5)]


@pytest.mark.parametrize("sort", ["contact", "spent", "name", "created"])
def test_export_chunks_follow_each_sort_of_the_list(monkeypatch, sort):
    # given customers with equal and empty sort values (never contacted, nothing spent, the same name)
    from datetime import timedelta

    from django.utils import timezone

    monkeypatch.setattr(exports, "EXPORT_CHUNK", 2)
    now = timezone.now()
    for i in range(7):
        customer("Ana" if i % 3 else f"C{i}", f"+57300111220{i}", total_spent=Decimal(i % 2),
                 last_contact_at=now - timedelta(days=i % 2) if i % 3 else None)
    f = CustomerFilters(sort=sort)
    # when exported in chunks of two
    uuids = [row[0] for row in exports.customer_rows(f)]
    # then every customer appears once, in the list's order
    expected = filtered(f).order_by(*[k.order() for k in sort_keys(sort)]).values_list("uuid", flat=True)
    assert uuids == list(expected)


def test_an_exported_file_imports_back_unchanged(analyst, client_for):
    # given customers with phones, emails, tags, lists and preferences
    MarketingList.objects.create(name="VIP", code="vip")
    ana = customer("Ana Peña", "+573001112233", "ana@example.com", city="Bogotá", language="es",
                   preferred_channel="email")
    ana.phones.create(e164="+573004445566")
    ana.tags.add(Tag.objects.create(name="vip"))
    ana.marketing_lists.add(MarketingList.objects.get(code="vip"))
    customer("=Beto", "+573007778899")
    client = client_for(analyst)
    for params in ({}, {"dialect": "excel"}, {"headers": "name"}):
        body = b"".join(client.get(reverse("customers:export"), params).streaming_content)
        # when the downloaded file is imported as is
        report = check_import_customers(analyst, SimpleUploadedFile("clientes.csv", body))
        # then nothing changes and nothing is refused
        assert (report.created, report.updated, report.unchanged, report.error_count) == (0, 0, 2, 0), params
        assert report.ignored_columns == []


# --- import --------------------------------------------------------------------------------------------------------


def test_import_creates_updates_and_counts_unchanged_rows(analyst):
    # given Ana (tagged «frecuente», with a city) and a marketing list
    MarketingList.objects.create(name="Clientes VIP", code="vip")
    ana = customer("Ana Peña", "+573001112233", "ana@example.com", city="Medellín")
    ana.tags.add(Tag.objects.create(name="frecuente"))
    customer("Beto", "+573007778899", document_id="CC 99")
    text = (f"{HEADER}\n"
            "Ana Peña,300 111 2233,,,,vip;nuevo,vip,en,correo\n"  # Ana by her phone: tags added, city kept
            "Carla Ruiz,+57 300 555 6677 / 3005556678,carla@example.com,,Cali,,,,\n"  # new, two phones
            "Beto,,,CC 99,,,,,\n")  # Beto by his document, nothing new
    # when an analyst imports it
    report = check_import_customers(analyst, upload(text))
    # then Ana is updated, Carla created and Beto unchanged
    assert (report.created, report.updated, report.unchanged, report.error_count) == (1, 1, 1, 0), report.errors
    ana.refresh_from_db()
    assert ana.city == "Medellín"  # an empty cell changes nothing
    assert sorted(ana.tags.values_list("name", flat=True)) == ["frecuente", "nuevo", "vip"]
    assert list(ana.marketing_lists.values_list("code", flat=True)) == ["vip"]
    assert (ana.language, ana.preferred_channel) == ("en", "email")
    carla = Customer.objects.get(name="Carla Ruiz")
    assert sorted(carla.phones.values_list("e164", flat=True)) == ["+573005556677", "+573005556678"]
    assert list(carla.emails.values_list("email", flat=True)) == ["carla@example.com"]
    assert carla.city == "Cali"
    # and the history says who did it
    assert AuditLog.objects.filter(action="customer.created", target_id=str(carla.pk), actor=analyst).exists()
    assert AuditLog.objects.filter(action="customer.updated", target_id=str(ana.pk), actor=analyst).exists()


def test_every_bad_row_is_reported_with_its_line_and_the_good_ones_are_imported(analyst):
    # given Ana and Beto, and a file with a note spanning two lines (so later rows start one line further down)
    customer("Ana", "+573001112233", "ana@example.com")
    customer("Beto", "+573007778899", "beto@example.com")
    text = ("nombre,telefono,correo,notas\n"                       # line 1
            "Carla,3005556677,,\"llamar\ntarde\"\n"               # lines 2-3: good
            "Dario,12,,\n"                                         # line 4: bad phone
            "Elena,,elena@,\n"                                     # line 5: bad email
            ",3009990000,,\n"                                      # line 6: a new customer without a name
            "\n"                                                   # line 7: blank, skipped
            "Fabio,3001112233,beto@example.com,\n"                 # line 8: Ana's phone and Beto's email
            "Gina,3004440000,gina@example.com,\n"                  # line 9: good
            "Hugo,,,\n")                                           # line 10: nothing to recognise him by
    # when imported
    report = check_import_customers(analyst, upload(text))
    # then the good rows are in and each bad one is listed with its line and its problem in a sentence
    assert (report.created, report.updated, report.error_count) == (2, 0, 5)
    assert set(Customer.objects.values_list("name", flat=True)) == {"Ana", "Beto", "Carla", "Gina"}
    assert Customer.objects.get(name="Carla").notes == "llamar\ntarde"
    errors = {e.line: (e.name, " ".join(e.messages)) for e in report.errors}
    assert sorted(errors) == [4, 5, 6, 8, 10]
    assert errors[4] == ("Dario", "Teléfono inválido: 12")
    assert errors[5] == ("Elena", "Correo inválido: elena@")
    assert errors[6] == ("", "El nombre es obligatorio.")
    assert "«Ana» (teléfono +573001112233)" in errors[8][1] and "«Beto» (correo beto@example.com)" in errors[8][1]
    assert "Falta al menos un teléfono, un correo o un documento" in errors[10][1]


def test_a_phone_taken_by_another_customer_is_refused_naming_it(analyst):
    # given Ana with two phones... and Beto found by his email, with a row adding Ana's second phone to him
    ana = customer("Ana", "+573001112233")
    ana.phones.create(e164="+573004445566")
    customer("Beto", "+573007778899", "beto@example.com")
    text = "nombre,telefono,correo\nBeto,3004445566,beto@example.com\n"
    # when imported
    report = check_import_customers(analyst, upload(text))
    # then the row is refused naming both customers, and nothing moved
    assert report.error_count == 1 and report.errors[0].line == 2
    assert "«Ana» (teléfono +573004445566)" in report.errors[0].messages[0]
    assert "«Beto» (correo beto@example.com)" in report.errors[0].messages[0]
    assert sorted(ana.phones.values_list("e164", flat=True)) == ["+573001112233", "+573004445566"]


def test_unknown_list_language_and_consent_are_reported_together(analyst):
    # given a row with an unknown list, language and consent value, and a bad phone
    text = "nombre,telefono,listas,idioma,consentimiento_whatsapp\nAna,12,nope,klingon,quizás\n"
    # when imported
    report = check_import_customers(analyst, upload(text))
    # then one error row lists every problem at once
    (error,) = report.errors
    assert error.line == 2
    joined = " ".join(error.messages)
    for part in ("Lista de marketing desconocida: nope", "Idioma desconocido: klingon", "Teléfono inválido: 12",
                 "Consentimiento (WhatsApp) no reconocido: «quizás»"):
        assert part in joined, joined
    assert not Customer.objects.exists()


def test_importing_the_same_file_twice_creates_nothing_the_second_time(analyst):
    # given a file of three customers
    text = (f"{HEADER}\n"
            "Ana Peña,3001112233,ana@example.com,,Bogotá,vip,,es,whatsapp\n"
            "Beto,,beto@example.com,,,,,,\n"
            "Carla,,,CC 77,,,,,\n")
    first = check_import_customers(analyst, upload(text))
    audited = AuditLog.objects.count()
    # when imported again
    again = check_import_customers(analyst, upload(text))
    # then the second time every row is unchanged, and nothing is written or audited
    assert (first.created, first.error_count) == (3, 0)
    assert (again.created, again.updated, again.unchanged, again.error_count) == (0, 0, 3, 0)
    assert Customer.objects.count() == 3
    assert AuditLog.objects.count() == audited


def test_a_latin1_file_keeps_its_accents(analyst):
    # given a file saved by Excel on Windows (Latin-1 / Windows-1252)
    text = "nombre,teléfono,ciudad,departamento\nJosé Ñúñez,3001112233,Bogotá,Cundinamarca\n"
    # when imported
    report = check_import_customers(analyst, upload(text, encoding="latin-1"))
    # then the accented header is recognised and the accents are kept
    assert report.created == 1, report.errors
    jose = Customer.objects.get()
    assert (jose.name, jose.city) == ("José Ñúñez", "Bogotá")


def test_a_semicolon_file_with_a_bom_and_english_headers(analyst):
    # given Excel's «CSV UTF-8» in Spanish: a BOM, semicolons, and phones separated by ";" inside a quoted cell
    text = "\ufeffName;Phone;Email;Tags;Color favorito\nAna;\"3001112233; 3004445566\";ana@example.com;a; b\n"
    # when imported
    report = check_import_customers(analyst, upload(text))
    # then the columns are found (the unknown one is ignored and named) and both phones saved
    assert report.created == 1, report.errors
    assert report.ignored_columns == ["Color favorito"]
    ana = Customer.objects.get()
    assert sorted(ana.phones.values_list("e164", flat=True)) == ["+573001112233", "+573004445566"]
    assert list(ana.tags.values_list("name", flat=True)) == ["a"]


def test_an_excel_sep_line_counts_as_a_line(analyst):
    # given Excel's separator hint above the header
    text = "sep=;\nnombre;telefono\nAna;12\n"
    # when imported / then the bad row is on the file's line 3
    report = check_import_customers(analyst, upload(text))
    assert [e.line for e in report.errors] == [3]


def test_consent_columns(analyst):
    # given Beto, who accepted WhatsApp campaigns at the store and email ones too
    beto = customer("Beto", "+573007778899")
    do_set_consent(beto, channel="whatsapp", status="opted_in", source="tienda")
    do_set_consent(beto, channel="email", status="opted_in", source="tienda")
    text = ("nombre,telefono,consentimiento_whatsapp,consent_email,consentimiento_sms\n"
            "Ana,3001112233,sí,no,\n"
            "Beto,3007778899,Si,,NO\n")
    # when imported
    report = check_import_customers(analyst, upload(text))
    # then "sí" is an opt-in from the import, "no" an opt-out by import, and an empty cell changes nothing
    assert (report.created, report.updated, report.error_count) == (1, 1, 0), report.errors
    ana = Customer.objects.get(name="Ana")
    whatsapp = Consent.objects.get(customer=ana, channel="whatsapp")
    assert (whatsapp.status, whatsapp.source) == ("opted_in", "importación")
    email = Consent.objects.get(customer=ana, channel="email")
    assert (email.status, email.opt_out_method) == ("opted_out", "import")
    assert not Consent.objects.filter(customer=ana, channel="sms").exists()
    # and an opt-in already recorded keeps its source; Beto's email consent is untouched
    assert Consent.objects.get(customer=beto, channel="whatsapp").source == "tienda"
    assert Consent.objects.get(customer=beto, channel="email").status == "opted_in"
    assert Consent.objects.get(customer=beto, channel="sms").opt_out_method == "import"
    # and importing it again changes nothing
    assert check_import_customers(analyst, upload(text)).unchanged == 2


@pytest.mark.parametrize(("content", "message"), [
    (b"telefono,correo\n3001112233,a@example.com\n", "Falta la columna «nombre»"),
    (b"nombre,telefono\n", "no tiene filas"),
    (b"", "vacío"),
    (b"PK\x03\x04\x00\x00binary", "no es un CSV de texto"),
    (b"nombre,telefono,phone\nAna,1,2\n", "está repetida"),
])
def test_a_file_that_cannot_be_imported_is_refused_as_a_whole(analyst, client_for, content, message):
    # when an analyst uploads it
    response = client_for(analyst).post(reverse("customers:import"),
                                        {"file": SimpleUploadedFile("x.csv", content)})
    # then the page says why, and nothing is imported
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors["file"])
    assert not Customer.objects.exists()


def test_too_many_rows_or_bytes_are_refused(analyst, client_for, monkeypatch):
    # given limits of two rows and 100 bytes
    monkeypatch.setattr(imports, "MAX_IMPORT_ROWS", 2)
    monkeypatch.setattr("customers.import_views.MAX_IMPORT_BYTES", 100)
    client = client_for(analyst)
    # when a file with three rows is uploaded / then it is refused asking to split it
    response = client.post(reverse("customers:import"),
                           {"file": upload("nombre,telefono\nA,3001112231\nB,3001112232\nC,3001112233\n")})
    assert response.status_code == 400
    assert "Divídalo" in response.context["form"].errors["file"][0]
    # and so is a file over the size limit
    response = client.post(reverse("customers:import"), {"file": upload("nombre\n" + "x" * 200 + "\n")})
    assert response.status_code == 400
    assert "supera" in response.context["form"].errors["file"][0]
    assert not Customer.objects.exists()


def test_the_error_list_is_cut_but_every_error_counted(analyst, monkeypatch):
    monkeypatch.setattr(imports, "MAX_REPORTED_ERRORS", 2)
    report = check_import_customers(analyst, upload("nombre,telefono\nA,1\nB,2\nC,3\n"))
    assert report.error_count == 3 and [e.line for e in report.errors] == [2, 3]
    assert report.errors_truncated


# --- the page ------------------------------------------------------------------------------------------------------


def test_the_import_page(make_user, client_for):
    # given an agent, a supervisor and an analyst (who cannot edit customers one by one, but may import them)
    url = reverse("customers:import")
    agent, supervisor, analyst = (make_user(Role.AGENTE), make_user(Role.SUPERVISOR), make_user(Role.ANALISTA))
    # then the agent may neither open nor post it
    assert client_for(agent).get(url).status_code == 403
    assert client_for(agent).post(url, {"file": upload("nombre,telefono\nAna,3001112233\n")}).status_code == 403
    assert not Customer.objects.exists()
    # and the others see the form and the example header
    assert client_for(supervisor).get(url).status_code == 200
    page = client_for(analyst).get(url)
    assert page.status_code == 200
    assert imports.EXAMPLE_HEADER in page.content.decode()
    # when the analyst imports a file with one good and one bad row
    response = client_for(analyst).post(url, {"file": upload("nombre,telefono\nAna,3001112233\nBeto,12\n")})
    # then the summary and the bad row's line are on the page
    assert response.status_code == 200
    html = response.content.decode()
    assert "Creados: 1" in html and "Con errores: 1" in html
    assert 'data-line="3"' in html and "Teléfono inválido: 12" in html
    assert Customer.objects.filter(name="Ana").exists()


def test_the_import_form_needs_its_csrf_token(analyst):
    client = Client(enforce_csrf_checks=True)
    client.force_login(analyst)
    response = client.post(reverse("customers:import"), {"file": upload("nombre,telefono\nAna,3001112233\n")})
    assert response.status_code == 403
    assert not Customer.objects.exists()
