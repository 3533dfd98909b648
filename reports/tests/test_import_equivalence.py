"""Issue 14: the history importer writes through each app's import actions, and their bulk paths keep the same
invariants as the one-by-one paths: importing a file gives exactly the rows that applying its rows one at a time
through the single-row actions gives (users, customers, conversations, sales), and a re-import changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.db import transaction

from accounts.actions import do_import_agent_profile
from accounts.models import User
from customers.actions import do_import_customer
from customers.activity import refresh_many
from customers.models import Customer
from inbox.actions import do_import_conversation, history_inbox
from inbox.models import Conversation
from orders.actions import do_import_sale
from orders.models import Sale
from reports.importer import (
    _conversations,
    _sales,
    agent_names,
    customer_names,
    do_import_history,
    parse_history,
)
from reports.tests.csvdata import conv, sale, write_conversations, write_sales

pytestmark = pytest.mark.django_db

# Columns that are the database's or the clock's, not the import's: ids, creation moments, the unusable password.
VOLATILE = {"id", "uuid", "password", "date_joined", "created_at_db", "updated_at", "last_login"}


def rows_of(model: type, refs: set[str], ids: dict[str, dict[int, str]]) -> dict[str, dict[str, Any]]:
    """The imported rows of `model` by import ref, every concrete column (editable or not), foreign keys read as the
    ref of what they point to."""
    result = {}
    for obj in model.objects.filter(import_ref__in=refs):
        row = {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields if f.attname not in VOLATILE}
        for fk, target in (("customer_id", "customer"), ("assignee_id", "user"), ("conversation_id", "conversation")):
            if row.get(fk) is not None:
                row[fk] = ids[target].get(row[fk], row[fk])
        result[obj.import_ref] = row
    return result


def snapshot(parsed) -> dict[str, Any]:
    agent_refs = set(agent_names(parsed.conversations))
    customer_refs = {r.customer_ref for r in parsed.conversations}
    conversation_refs = {r.ref for r in parsed.conversations}
    ids = {"user": dict(User.objects.filter(import_ref__in=agent_refs).values_list("pk", "import_ref")),
           "customer": dict(Customer.objects.filter(import_ref__in=customer_refs).values_list("pk", "import_ref")),
           "conversation": dict(Conversation.objects.filter(import_ref__in=conversation_refs)
                                .values_list("pk", "import_ref"))}
    return {"users": rows_of(User, agent_refs, ids),
            "customers": rows_of(Customer, customer_refs, ids),
            "conversations": rows_of(Conversation, conversation_refs, ids),
            "sales": rows_of(Sale, {r.ref for r in parsed.sales}, ids)}


def one_by_one(parsed) -> None:
    """The same rows, each through its single-row action, in file order."""
    named = sorted(agent_names(parsed.conversations).items())
    agents = {ref: do_import_agent_profile(ref, name) for ref, name in named}
    customers = {ref: do_import_customer(ref, name) for ref, name in customer_names(parsed.conversations).items()}
    conversations = {row.ref: do_import_conversation(row)
                     for row in _conversations(parsed.conversations, customers, agents)}
    for row in _sales(parsed.sales, conversations):
        do_import_sale(row)
    refresh_many(customers.values(), announce=False)  # the import computes its customers' activity at the end too


@time_machine.travel("2026-12-01T15:00:00Z", tick=False)  # rows get their creation moment from the clock
def test_an_import_writes_what_its_rows_applied_one_by_one_write(tmp_path):
    # given a history with every kind of row: active with and without agent, resolved, escalated, a nameless
    # customer, an agent on several rows, sales on two conversations
    conversations = write_conversations(tmp_path, [
        conv("C1", "K1", "2026-11-10T09:00:00", agent="ana", first_response_seconds="120"),
        conv("C2", "K2", "2026-11-10T10:00:00"),
        conv("C3", "K1", "2026-11-11T11:00:00", state="resuelta", agent="beto", closed_at="2026-11-11T12:30:00",
             first_response_seconds="60", resolution_seconds="5400", outcome="Generó venta",
             customer_state="Cliente con venta", agent_comments="Compró el plan"),
        conv("C4", "K3", "2026-11-12T08:00:00", state="escalada", agent="ana", customer_name=""),
        conv("C5", "K4", "2026-11-12T09:00:00", channel="Correo", agent_id="EXT-7", agent_name="Agente Externo"),
    ])
    sales = write_sales(tmp_path, [sale("S1", "C3", "828800.00", quantity=2), sale("S2", "C1", "99900.00")])
    parsed = parse_history(conversations, sales)
    assert parsed.errors == []
    history_inbox()  # the "Historial importado" inbox exists (an id a rolled-back transaction would not give back)

    # when it is imported in bulk (then undone), and the same rows are applied one by one
    with transaction.atomic():
        do_import_history(parsed)
        bulk = snapshot(parsed)
        transaction.set_rollback(True)
    assert not Conversation.objects.filter(import_ref="C1").exists()
    one_by_one(parsed)
    single = snapshot(parsed)

    # then both wrote exactly the same rows
    for table in bulk:
        for ref in bulk[table]:
            assert bulk[table][ref] == single[table].get(ref), (table, ref)
    assert bulk == single
    assert len(bulk["conversations"]) == 5 and len(bulk["sales"]) == 2 and len(bulk["users"]) == 3
    assert bulk["customers"]["K3"]["name"] == "Cliente K3"
    assert {c["state"] for c in bulk["conversations"].values()} == {"pendiente", "nueva", "resuelta", "escalada"}

    # and importing the file on top of the one-by-one rows changes nothing
    do_import_history(parsed)
    assert snapshot(parsed) == single
