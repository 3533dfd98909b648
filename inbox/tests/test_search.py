"""Inbox search (inbox/search.py): message text, customer name, phone, email and tags, through the database's own
indexes. Run on both databases: SQLite (FTS5 tables kept by triggers) and PostgreSQL (tsvector + pg_trgm GIN)."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from customers.models import Customer, CustomerEmail, CustomerPhone, Tag
from inbox import actions, search
from inbox.models import Conversation, Inbox, Message
from inbox.selectors import InboxFilters, filtered, page

pytestmark = pytest.mark.django_db


def inbound(body, *, name="Ana Peña", phone="3001234567", email="", channel="whatsapp", inbox=None):
    c, _m, _new = actions.do_receive_inbound(channel=channel, body=body, customer_name=name, phones=[phone],
                                             emails=[email] if email else [], inbox_code=inbox)
    return c


@pytest.fixture
def data():
    return {
        "pena": inbound("Hola, ¿el plan incluye instalación en Cali?", name="Ana María Peña Zúñiga",
                        phone="3001234567", email="ana.pena@example.com"),
        "rojas": inbound("Mi pedido PED-48213 llegó incompleto", name="Óscar Rojas", phone="3109876543"),
        "gomez": inbound("Buenas tardes, necesito la factura", name="Lucía Gómez", phone="3205550000",
                         email="lucia@correo.co"),
    }


@pytest.fixture
def supervisor_user():
    return UserFactory(role=Role.SUPERVISOR, username="sup-search")


def ids(user, q, **filters):
    rows, _next = page(filtered(user, InboxFilters(q=q, **filters)), size=50)
    return {c.pk for c in rows}


@pytest.mark.parametrize(("q", "expected"), [
    ("instalacion", {"pena"}),  # accents folded in the message text
    ("INSTALACIÓN cali", {"pena"}),  # every word, any case
    ("instal", {"pena"}),  # the last word as a prefix (search as you type)
    ("ped-48213", {"rojas"}),
    ("48213", {"rojas"}),
    ("factura", {"gomez"}),
    ("peña", {"pena"}),  # customer name
    ("zuñi", {"pena"}),  # a fragment anywhere in the name
    ("oscar rojas", {"rojas"}),
    ("maria zuniga", {"pena"}),  # words in another order
    ("ana.pena@example.com", {"pena"}),  # email
    ("ana.pena@", {"pena"}),  # part of an email
    ("lucia", {"gomez"}),  # a name that is also an email's beginning
    ("+57 300 123 4567", {"pena"}),  # phone, as typed
    ("300-123-4567", {"pena"}),
    ("9876543", {"rojas"}),  # end of a phone number
    ("nada-que-ver", set()),
    ("xyzzy", set()),
])
def test_search_finds_messages_names_phones_and_emails(data, supervisor_user, q, expected):
    assert ids(supervisor_user, q) == {data[k].pk for k in expected}


def test_search_by_conversation_or_customer_tag(data, supervisor_user):
    vip = Tag.objects.get_or_create(name="VIP")[0]
    data["gomez"].tags.add(vip)
    data["rojas"].customer.tags.add(Tag.objects.create(name="mayorista"))
    assert ids(supervisor_user, "vip") == {data["gomez"].pk}
    assert ids(supervisor_user, "Mayorista") == {data["rojas"].pk}


def test_search_combines_with_filters_and_visibility(data, supervisor_user):
    team = TeamFactory(code="ventas-s", name="Ventas S")
    ventas, _ = Inbox.objects.get_or_create(code="ventas", defaults={"name": "Ventas"})
    ventas.teams.set([team])
    Conversation.objects.filter(pk=data["rojas"].pk).update(inbox=ventas)
    agent = UserFactory(role=Role.AGENTE, username="otro")  # not in the team: sees Global only
    assert ids(agent, "pedido") == set()
    assert ids(agent, "factura") == {data["gomez"].pk}
    assert ids(supervisor_user, "pedido", inbox="ventas") == {data["rojas"].pk}
    assert ids(supervisor_user, "pedido", inbox="global") == set()
    assert ids(supervisor_user, "factura", state="resuelta") == set()


def test_a_conversation_matching_several_ways_is_listed_once(data, supervisor_user):
    inbound("Peña otra vez: la instalación", name="Ana María Peña Zúñiga", phone="3001234567")
    data["pena"].tags.add(Tag.objects.create(name="peña"))
    rows, _next = page(filtered(supervisor_user, InboxFilters(q="peña")), size=50)
    assert [c.pk for c in rows] == [data["pena"].pk]


def test_new_changed_and_deleted_text_is_searchable_at_once(data, supervisor_user):
    message = Message.objects.get(conversation=data["gomez"])
    message.body = "Necesito el certificado de garantía"
    message.save(update_fields=["body"])
    assert ids(supervisor_user, "factura") == set()
    assert ids(supervisor_user, "garantia") == {data["gomez"].pk}
    customer = data["rojas"].customer
    customer.name = "Óscar Villaseñor"
    customer.save()
    assert ids(supervisor_user, "villasenor") == {data["rojas"].pk}
    assert ids(supervisor_user, "rojas") == set()
    CustomerPhone.objects.filter(customer=customer).update(e164="+573117777777")
    assert ids(supervisor_user, "3117777777") == {data["rojas"].pk}
    CustomerEmail.objects.create(customer=customer, email="oscar@villa.co")
    assert ids(supervisor_user, "oscar@villa") == {data["rojas"].pk}
    with connection.cursor() as cursor:  # a plain DELETE: what the delete trigger sees whatever the ORM cascades
        cursor.execute("DELETE FROM inbox_message WHERE conversation_id = %s", [data["pena"].pk])
    assert ids(supervisor_user, "instalacion") == set()


@pytest.mark.parametrize("q", ['"', "'", "%", "_", "*", "a:*", "x & y | !z", "(", "\\", "NEAR(", "a\"b", "ñ", "  ",
                               "@", "1", "OR", "AND NOT", "a" * 300])
def test_odd_queries_never_fail(data, supervisor_user, q):
    ids(supervisor_user, q)  # no SQL error, whatever the user types


def test_percent_and_underscore_are_literal(supervisor_user):
    c = inbound("descuento del 50% en la_linea", name="Mónica Ruiz", phone="3150000000")
    inbound("otro mensaje", name="Monica_X", phone="3150000001")
    assert ids(supervisor_user, "50%") == {c.pk}


def test_search_is_one_statement_whatever_the_matches(data, supervisor_user, django_assert_max_num_queries):
    for i in range(15):
        inbound(f"instalación número {i}", name=f"Cliente {i}", phone=f"31000000{i:02d}")
    qs = filtered(supervisor_user, InboxFilters(q="instalacion"))
    with django_assert_max_num_queries(1):
        rows, _next = page(qs, size=10)
    assert len(rows) == 10 and _next


def test_api_search_uses_the_same_selector(data, supervisor_user, api_client_for):
    api = api_client_for(supervisor_user)
    response = api.get("/api/v1/conversations", {"q": "instalacion"})
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [data["pena"].pk]
    assert api.get("/api/v1/conversations", {"q": "9876543"}).json()["results"][0]["id"] == data["rojas"].pk


def test_list_page_search(data, supervisor_user, client_for):
    response = client_for(supervisor_user).get("/inbox/", {"q": "zuñiga", "state": ""})
    assert response.status_code == 200
    assert f'data-conversation-id="{data["pena"].pk}"'.encode() in response.content
    assert f'data-conversation-id="{data["rojas"].pk}"'.encode() not in response.content


def test_search_schema_is_in_place():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname = ANY(%s)", [list(search.PG_INDEXES)])
            assert {r[0] for r in cursor.fetchall()} == set(search.PG_INDEXES)
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
            assert cursor.fetchone()
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'inbox_%'")
            assert len(cursor.fetchall()) == 3 * len(search.SQLITE_FTS)
    assert search.ensure_search_schema() == []  # idempotent: nothing missing


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's triggers only")
def test_sqlite_heals_triggers_a_table_rebuild_dropped(data, supervisor_user):
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER inbox_message_fts_ai")
    inbound("mensaje escrito sin trigger: reembolso", name="Pablo Sanz", phone="3180000000")
    assert ids(supervisor_user, "reembolso") == set()  # not indexed while the trigger was missing
    assert "inbox_message_fts_ai" in search.ensure_search_schema()
    assert len(ids(supervisor_user, "reembolso")) == 1  # rebuilt from the messages table


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
def test_postgres_uses_the_gin_indexes(data):
    plans = []
    with connection.cursor() as cursor:
        # a tiny table would be scanned, or a whole btree walked (customers' name-order index): ask whether the
        # trigram and full-text indexes apply
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_indexscan = off")
        cursor.execute("SET enable_indexonlyscan = off")
        for q in ("instalacion", "zuniga", "ana.pena@"):
            sql, params = search.matching_conversations(q)
            cursor.execute("EXPLAIN " + sql, params)
            plans.append("\n".join(r[0] for r in cursor.fetchall()))
        cursor.execute("RESET enable_seqscan")
        cursor.execute("RESET enable_indexscan")
        cursor.execute("RESET enable_indexonlyscan")
    assert "inbox_message_fts_idx" in plans[0]
    assert "Index Scan on customer_name_trgm_idx" in plans[1]
    assert "inbox_customer_email_trgm_idx" in plans[2]


def test_customer_rows_created_in_bulk_are_found(supervisor_user):
    customer = Customer.objects.create(name="Bulk Cliente Ñandú")
    inbox, _created = Inbox.objects.get_or_create(is_global=True, defaults={"name": "Global", "code": "global"})
    c = Conversation.objects.create(customer=customer, channel="api", inbox=inbox)
    Message.objects.bulk_create([Message(conversation=c, kind="inbound", body="cotización urgente ñandú")])
    assert ids(supervisor_user, "nandu") == {c.pk}
    assert ids(supervisor_user, "cotizacion urgente") == {c.pk}


def test_common_text_walks_the_newest_conversations(data, supervisor_user, monkeypatch,
                                                    django_assert_max_num_queries):
    """Above COMMON_MATCHES the search checks the newest conversations one by one: same results."""
    for i in range(5):
        inbound(f"factura número {i}", name=f"Cliente {i}", phone=f"31500000{i:02d}")
    data["pena"].tags.add(Tag.objects.create(name="factura"))  # another branch still counts
    expected = ids(supervisor_user, "factura")
    monkeypatch.setattr(search, "COMMON_MATCHES", 0)
    with django_assert_max_num_queries(5):  # an estimate and a capped count per branch, then the page
        assert ids(supervisor_user, "factura") == expected
    assert len(expected) == 7 and data["pena"].pk in expected and data["gomez"].pk in expected
    assert ids(supervisor_user, "factura numero 3") == {c.pk for c in Conversation.objects.filter(
        messages__body="factura número 3")}
    assert ids(supervisor_user, "zuñi") == {data["pena"].pk}  # a name, tested row by row
    assert ids(supervisor_user, "ana.pena@") == {data["pena"].pk}
    assert ids(supervisor_user, "9876543") == {data["rojas"].pk}
