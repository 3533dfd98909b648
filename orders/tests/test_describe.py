"""An order's history reads as sentences with names, in Spanish and English, never as codes or ids."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from crm.models import KommoAccount
from inbox.tests.test_describe import assert_readable
from orders import actions
from orders.choices import OrderState
from orders.describe import DESCRIBED_KINDS, annotate_order_events, describe_order_event
from orders.models import OrderEvent
from orders.tests.factories import product, ready_lead

pytestmark = pytest.mark.django_db
CONFIRMED_STAGE = 67548619


@pytest.fixture
def people():
    fernanda = UserFactory(pk=7301, username="fcardenas", full_name="Fernanda Cárdenas", role=Role.SUPERVISOR)
    raul = UserFactory(pk=7302, username="rmendoza", full_name="Raúl Mendoza", role=Role.AGENTE)
    return fernanda, raul


@pytest.fixture
def kommo():
    return KommoAccount.objects.create(pk=1, subdomain="mycompany", long_lived_token="t",
                                       confirmed_status_id=CONFIRMED_STAGE,
                                       stage_names={str(CONFIRMED_STAGE): "Ventas / Venta Confirmada"})


def confirmed_order(raul, fernanda):
    """A real order's whole life: created, edited, confirmed, synced (after two failures), dispatched."""
    product("CAF-500", price="150000", stock=10, name="Café de origen 500 g")
    product("TAZ-01", price="25000", stock=10, name="Taza")
    order = actions.check_create_order(raul, lead_id=ready_lead().pk, lines=[("CAF-500", 1)])
    actions.check_set_lines(raul, order.pk, lines=[("CAF-500", 2), ("TAZ-01", 1)])
    actions.check_confirm_order(raul, order.pk)
    # what crm.sync.do_drain_kommo_outbox writes
    OrderEvent.objects.create(order=order, kind="kommo_sync_retry",
                              data={"error": "Kommo did not answer: ConnectTimeout: timed out", "attempt": 1})
    OrderEvent.objects.create(order=order, kind="kommo_sync_retry", data={"error": "HTTP 502", "attempt": 2})
    OrderEvent.objects.create(order=order, kind="kommo_synced", data={"attempt": 3})
    actions.check_dispatch_order(fernanda, order.pk)
    return order


def cancelled_order(raul, fernanda):
    product("CAF-250", price="80000", stock=10, name="Café 250 g")
    order = actions.check_create_order(raul, lead_id=ready_lead().pk, lines=[("CAF-250", 1)])
    actions.check_confirm_order(raul, order.pk)
    OrderEvent.objects.create(order=order, kind="kommo_sync_failed",
                              data={"error": "El lead no existe", "attempt": 5})
    actions.check_cancel_order(fernanda, order.pk, reason="El cliente ya no quiere el pedido")
    OrderEvent.objects.create(order=order, kind="state:otro_futuro", data={"to": "otro_futuro"})
    OrderEvent.objects.create(order=order, kind="future_kind", actor=fernanda, data={"x": 1})
    return order


def texts_of(order):
    events = list(OrderEvent.objects.filter(order=order).select_related("actor", "order").order_by("id"))
    annotate_order_events(events)
    return [e.text for e in events]


CODES = {"created", "lines", "state:confirmado", "state:despachado", "state:cancelado", "kommo_synced",
         "kommo_sync_retry", "kommo_sync_failed", "future_kind", "state:otro_futuro", "otro_futuro", "CAF-500",
         "TAZ-01", "CAF-250", "fcardenas", "rmendoza"}  # state values are Spanish words: "state:…" is the code


def test_every_order_event_reads_as_a_sentence_in_both_languages(people, kommo):
    # given orders that went through every kind of event
    fernanda, raul = people
    orders = [confirmed_order(raul, fernanda), cancelled_order(raul, fernanda)]
    ids = {7301, 7302}  # orders show their number (P-000001), checked by the sentences test
    for language in ("es", "en"):
        with translation.override(language):
            # when
            texts = [t for o in orders for t in texts_of(o)]
            # then
            for text in texts:
                assert_readable(text, ids=ids, codes=CODES, spanish=language == "es")
            joined = "\n".join(texts)
            for name in ("Fernanda Cárdenas", "Raúl Mendoza", "Ventas / Venta Confirmada"):
                assert name in joined, (language, name)


def test_order_sentences(people, kommo):
    # given
    fernanda, raul = people
    # when
    with translation.override("es"):
        confirmed = texts_of(confirmed_order(raul, fernanda))
        cancelled = texts_of(cancelled_order(raul, fernanda))
    # then
    assert confirmed == [
        "Raúl Mendoza creó el pedido con 1 producto · 1 unidad",
        "Raúl Mendoza cambió los productos del pedido (ahora 2 productos · 3 unidades)",
        "Raúl Mendoza confirmó el pedido por 325.000\u00a0COP",
        "El intento 1 de sincronizar con Kommo falló (Kommo no respondió); se reintentará automáticamente",
        "El intento 2 de sincronizar con Kommo falló (Kommo respondió con un error (HTTP 502)); se reintentará "
        "automáticamente",
        "Sincronizado con Kommo: el lead pasó a «Ventas / Venta Confirmada»",
        "Fernanda Cárdenas marcó el pedido como despachado",
    ]
    assert cancelled == [
        "Raúl Mendoza creó el pedido con 1 producto · 1 unidad",
        "Raúl Mendoza confirmó el pedido por 80.000\u00a0COP",
        "La sincronización con Kommo falló tras 5 intentos (Kommo respondió «El lead no existe»); un administrador "
        "puede reintentarla desde Integraciones",
        "Fernanda Cárdenas canceló el pedido: «El cliente ya no quiere el pedido»",
        "El pedido pasó a otro estado",
        "Fernanda Cárdenas registró un cambio",
    ]


def test_annotate_order_events_query_count_is_flat(people, kommo, django_assert_num_queries):
    # given 30 events, a third of them Kommo syncs
    fernanda, raul = people
    order = confirmed_order(raul, fernanda)
    for i in range(24):
        OrderEvent.objects.create(order=order, kind=("kommo_synced", "lines", "state:despachado")[i % 3],
                                  actor=(None, raul, fernanda)[i % 3], data={"attempt": 1, "lines": [["A", 1]]})
    events = list(OrderEvent.objects.filter(order=order).select_related("actor", "order"))
    assert len(events) >= 30
    # when / then: the outbox rows and the account's stage names, whatever the number of events
    with django_assert_num_queries(2):
        annotate_order_events(events)
    without_kommo = [e for e in events if not e.kind.startswith("kommo")]
    with django_assert_num_queries(0):
        annotate_order_events(without_kommo)


def test_detail_page_shows_sentences_not_kinds(people, kommo, client_for):
    # given
    fernanda, raul = people
    order = confirmed_order(raul, fernanda)
    # when
    page = client_for(fernanda).get(reverse("orders:detail", args=[order.pk])).content.decode()
    # then the history is sentences; the kinds are at most attribute values, never visible text
    visible = re.sub(r"<[^>]+>", " ", page)
    assert "Raúl Mendoza confirmó el pedido por 325.000\u00a0COP" in visible
    assert "Sincronizado con Kommo: el lead pasó a «Ventas / Venta Confirmada»" in visible
    for code in ("state:confirmado", "kommo_synced", "kommo_sync_retry", "state:despachado"):
        assert code not in visible


def test_unknown_kind_is_generic():
    with translation.override("es"):
        assert describe_order_event("otra_cosa", {}, actor=None) == "Cambio registrado"


def test_every_kind_the_code_writes_has_a_sentence():
    # given the kinds written anywhere (orders.actions and crm.sync)
    root = Path(settings.BASE_DIR)
    source = "\n".join((root / p).read_text(encoding="utf-8") for p in ("orders/actions.py", "crm/sync.py"))
    kinds = (set(re.findall(r'OrderEvent\.objects\.create\([^)]*?kind="(\w+)"', source, re.DOTALL))
             | set(re.findall(r'"(kommo_sync\w*)"', source)))
    assert {"created", "lines", "kommo_synced", "kommo_sync_failed", "kommo_sync_retry"} <= kinds
    assert 'kind=f"state:{to.value}"' in source
    kinds |= {f"state:{s.value}" for s in OrderState if s != OrderState.DRAFT}  # a draft is never a target
    # then
    assert kinds <= DESCRIBED_KINDS, kinds - DESCRIBED_KINDS
