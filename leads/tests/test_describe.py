"""A lead's history reads as sentences with names, in Spanish and English, never as codes or ids."""

from __future__ import annotations

import pytest
from django.utils import translation

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from inbox.tests.test_describe import assert_readable
from leads import actions
from leads.choices import LeadEventKind, WorkStatus
from leads.describe import annotate_lead_events, describe_lead_event
from leads.models import LeadEvent
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db
K = LeadEventKind


@pytest.fixture
def people():
    fernanda = UserFactory(pk=7201, username="fcardenas", full_name="Fernanda Cárdenas", role=Role.SUPERVISOR)
    raul = UserFactory(pk=7202, username="rmendoza", full_name="Raúl Mendoza", role=Role.AGENTE)
    lucia = UserFactory(pk=7203, username="lucia.p", full_name="Lucía Peña", role=Role.AGENTE)
    return fernanda, raul, lucia


def every_event(lead, fernanda, raul, lucia):
    """One row of every LeadEventKind (and every status reason), shaped like leads.actions writes them."""
    def ev(kind, actor=None, **data):
        return LeadEvent.objects.create(lead=lead, kind=kind, actor=actor, data=data)

    rows = [
        ev(K.ARRIVED, stage="Ventas / Para Llamar", status_id=88001),
        ev(K.UPDATED, stage="Ventas / Para Llamar", status_id=88001),
        ev(K.LEFT_QUEUE, stage="Ventas / Venta Confirmada", status_id=88002),
        ev(K.NOTE, raul, note_id=990001, outcome="positivo", template="Llamar nuevamente", tags=["VIP", "Bogotá"]),
        ev(K.NOTE, raul, note_id=990002, outcome="no_clasificado", template=None, tags=[]),
        ev(K.HELD, raul, via="next"),
        ev(K.HELD, lucia, via="note"),
        ev(K.RELEASED, fernanda, **{"from": "rmendoza"}),
        ev(K.RELEASED, raul, **{"from": "rmendoza"}),
        ev(K.REASSIGNED, fernanda, **{"from": "rmendoza", "to": "lucia.p"}),
        ev(K.REASSIGNED, fernanda, **{"from": None, "to": "lucia.p"}),
        ev(K.STATUS, raul, **{"from": "ninguno", "to": "en_proceso", "reason": "note"}),
        ev(K.STATUS, raul, **{"from": "en_proceso", "to": "completado", "reason": "closed"}),
        ev(K.STATUS, fernanda, **{"from": "completado", "to": "en_proceso", "reason": "reopened"}),
        ev(K.STATUS, None, **{"from": "completado", "to": "en_proceso",
                              "reason": "back in the to-call stage in Kommo"}),
        ev(K.DELETED),
        ev("future_kind", raul, secret="no se muestra"),
    ]
    assert {r.kind for r in rows} >= set(K.values)
    return rows


CODES = {*K.values, *WorkStatus.values, "positivo", "no_clasificado", "rmendoza", "lucia.p", "fcardenas", "next",
         "note", "closed", "reopened", "future_kind"}
IDS = {7201, 7202, 7203, 88001, 88002, 990001, 990002}


def test_every_lead_event_reads_as_a_sentence_in_both_languages(people):
    # given one event of every kind
    lead = LeadFactory(name="Pedido Ferretería")
    every_event(lead, *people)
    for language in ("es", "en"):
        with translation.override(language):
            # when
            events = list(LeadEvent.objects.filter(lead=lead).select_related("actor").order_by("id"))
            annotate_lead_events(events)
            # then
            for e in events:
                assert_readable(e.text, ids=IDS, codes=CODES, spanish=language == "es")
            joined = "\n".join(e.text for e in events)
            for name in ("Fernanda Cárdenas", "Raúl Mendoza", "Lucía Peña", "Ventas / Venta Confirmada"):
                assert name in joined, (language, name)


def test_lead_sentences(people):
    # given
    lead = LeadFactory()
    every_event(lead, *people)
    # when
    with translation.override("es"):
        events = list(LeadEvent.objects.filter(lead=lead).order_by("id"))  # actors not joined: one query resolves
        annotate_lead_events(events)
    # then
    assert [e.text for e in events] == [
        "El lead llegó a la cola desde la etapa «Ventas / Para Llamar» de Kommo",
        "El lead se actualizó desde Kommo (etapa «Ventas / Para Llamar»)",
        "El lead salió de la cola: en Kommo pasó a «Ventas / Venta Confirmada»",
        "Raúl Mendoza agregó una nota (resultado: Positivo) con la nota predefinida «Llamar nuevamente» y etiquetó "
        "al cliente con «VIP» y «Bogotá»",
        "Raúl Mendoza agregó una nota",
        "Raúl Mendoza tomó el lead",
        "Lucía Peña tomó el lead al escribir la primera nota",
        "Fernanda Cárdenas liberó el lead, que tenía Raúl Mendoza",
        "Raúl Mendoza liberó el lead",
        "Fernanda Cárdenas reasignó el lead de Raúl Mendoza a Lucía Peña",
        "Fernanda Cárdenas asignó el lead a Lucía Peña",
        "El lead pasó a En proceso",
        "Raúl Mendoza cerró el lead",
        "Fernanda Cárdenas reabrió el lead",
        "El lead volvió a En proceso porque regresó a la etapa «Para Llamar» en Kommo",
        "El lead se eliminó en Kommo",
        "Raúl Mendoza registró un cambio",
    ]


def test_annotate_lead_events_query_count_is_flat(people, django_assert_num_queries):
    # given 30 events with joined actors and people named in their data
    fernanda, raul, _lucia = people
    lead = LeadFactory()
    others = [UserFactory(full_name=f"Operador {i}") for i in range(10)]
    for i in range(30):
        LeadEvent.objects.create(lead=lead, kind=K.REASSIGNED, actor=fernanda,
                                 data={"from": raul.username, "to": others[i % 10].username})
    events = list(LeadEvent.objects.filter(lead=lead).select_related("actor"))
    # when / then: one query for the people named in data
    with django_assert_num_queries(1):
        annotate_lead_events(events)
    assert all(e.text.startswith("Fernanda Cárdenas reasignó el lead de Raúl Mendoza a Operador") for e in events)
    # and none when nothing needs a name
    plain = list(LeadEvent.objects.filter(lead=lead, kind=K.REASSIGNED).select_related("actor")[:3])
    for e in plain:
        e.data = {}
    with django_assert_num_queries(0):
        annotate_lead_events(plain)


def test_taking_the_next_lead_reads_as_a_sentence(people):
    # given a lead in the queue and an agent pressing "Siguiente lead"
    _fernanda, raul, _lucia = people
    lead = LeadFactory()
    actions.check_next_lead(raul)
    # when
    with translation.override("es"):
        events = list(LeadEvent.objects.filter(lead=lead).select_related("actor"))
        annotate_lead_events(events)
    # then
    assert [e.text for e in events] == ["Raúl Mendoza tomó el lead"]


def test_unknown_kind_is_generic():
    with translation.override("es"):
        assert describe_lead_event("otro", {"x": 1}, actor=None) == "Cambio registrado"
