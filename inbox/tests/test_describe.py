"""Conversation history reads as sentences with names, in Spanish and English, never as codes or ids."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from inbox import actions
from inbox.choices import CloseReason, ConversationState
from inbox.describe import DESCRIBED_KINDS, annotate_timeline, describe_conversation_event, event_texts
from inbox.models import Conversation, ConversationEvent, Inbox
from inbox.selectors import timeline
from leads.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
S = ConversationState
COMMENT = "El cliente pide factura electrónica a nombre de la empresa"
# Words that would betray an English (untranslated) sentence or a raw code in the Spanish text.
ENGLISH = re.compile(r"\b(the|was|by|to|from|with|and|assigned|transferred|moved|created|state|reason|"
                     r"customer|conversation|replied|escalated|merged|task|updated|mention|reviewed|"
                     r"classified|handled|outside|pool|None|True|False)\b")


def assert_readable(text: str, *, ids: set[int], codes: set[str], spanish: bool) -> None:
    """No code, no bare id, no Python repr (and, in Spanish, no English)."""
    assert text and text.strip() == text, text
    for pk in ids:
        assert not re.search(rf"(?<![#\d]){pk}(?!\d)", text), f"bare id {pk} in {text!r}"
    for code in codes:
        if not spanish and code.isalpha():
            continue  # "task", "state"… are plain words in English; codes with _ . - are never words
        assert not re.search(rf"(?<![\w]){re.escape(code)}(?![\w])", text), f"code {code!r} in {text!r}"
    for mark in ("{", "}", "[", "]", "<", ">"):
        assert mark not in text, f"repr mark {mark!r} in {text!r}"
    # a quote that is not an apostrophe inside a word ("conversation's") is a Python repr leaking through
    assert not re.search(r"(?<![A-Za-z])'|'(?![A-Za-z])", text), f"repr quote in {text!r}"
    if spanish:
        assert not ENGLISH.search(text), f"English in {text!r}"


@pytest.fixture
def people():
    # Distinctive ids, so a bare id leaking into a sentence cannot hide among other numbers.
    fernanda = UserFactory(pk=7101, username="fcardenas", full_name="Fernanda Cárdenas", role=Role.SUPERVISOR)
    raul = UserFactory(pk=7102, username="rmendoza", full_name="Raúl Mendoza", role=Role.AGENTE)
    lucia = UserFactory(pk=7103, username="lucia.p", full_name="Lucía Peña", role=Role.AGENTE)
    return fernanda, raul, lucia


@pytest.fixture
def conversation():
    global_inbox, _ = Inbox.objects.get_or_create(code="global", defaults={"name": "Global", "is_global": True,
                                                                          "auto_assign": False})
    Inbox.objects.get_or_create(code="posventa-co", defaults={"name": "Posventa Colombia"})
    return Conversation.objects.create(customer=CustomerFactory(name="Ana Ruiz"), channel="whatsapp",
                                       inbox=global_inbox)


def every_event(c, fernanda, raul, lucia):
    """One row of every kind inbox.actions writes, and of every state-change reason, shaped like the actions'."""
    def ev(kind, actor, comment="", **data):
        return ConversationEvent.objects.create(conversation=c, kind=kind, actor=actor, comment=comment, data=data)

    return [
        ev("created", None, channel="whatsapp"),
        ev("assigned", None, **{"from": None, "to": raul.pk}),
        ev("assigned", raul, **{"from": None, "to": raul.pk}),
        ev("assigned", fernanda, **{"from": raul.pk, "to": lucia.pk}),
        ev("assigned", fernanda, **{"from": raul.pk, "to": None}),
        ev("transferred", fernanda, COMMENT, **{"from": raul.pk, "to": lucia.pk}),
        ev("transferred", fernanda, COMMENT, **{"from": raul.pk, "to": None}),
        ev("escalated", raul, COMMENT, **{"from": raul.pk, "to": fernanda.pk}),
        ev("returned_to_pool", None, **{"from": raul.pk, "to": None}),
        ev("moved", fernanda, COMMENT, **{"from": "global", "to": "posventa-co", "category": "Garantías"}),
        ev("moved", fernanda, COMMENT, **{"from": "global", "to": "posventa-co", "category": None}),
        ev("mention", raul, users=["fcardenas", "lucia.p"], note=987654),
        ev("handled_outside", raul, COMMENT, channel="Teléfono fijo"),
        ev("delivery_retried", raul, message=998877, error="Rebotado por el servidor del destinatario: buzón lleno"),
        ev("delivery_retried", raul, message=998877, error=""),
        ev("classified", raul, outcome="genero_venta", customer_state="convertido"),
        ev("classified", raul, outcome="", customer_state="en_seguimiento"),
        ev("task", raul, task=876543, title="Enviar la factura", responsible="lucia.p"),
        ev("task_done", lucia, task=876543, title="Enviar la factura", **{"from": "abierta", "to": "completada"}),
        ev("task_reopened", raul, task=876543, title="Enviar la factura", **{"from": "completada", "to": "abierta"}),
        ev("task_reassigned", fernanda, task=876543, title="Enviar la factura", **{"from": lucia.pk, "to": raul.pk}),
        ev("updated", raul, company=["", "Ferretería Andina"], ticket_ref=["", "TCK-1"], priority=["normal", "alta"]),
        ev("merged", fernanda, merged=4321),
        ev("merged_into", fernanda, into=4322),
        ev("reviewed", fernanda, COMMENT, verdict="incorrecto", reviewed_cycle=2),
        ev("reviewed", fernanda, "", verdict="correcto", reviewed_cycle=1),
        ev("state", None, **{"from": "nueva", "to": "pendiente", "reason": "assigned"}),
        ev("state", raul, **{"from": "pendiente", "to": "en_espera", "reason": "replied"}),
        ev("state", None, **{"from": "resuelta", "to": "pendiente", "reason": "customer_wrote_again"}),
        ev("state", None, **{"from": "en_espera", "to": "pendiente", "reason": "customer_replied"}),
        ev("state", raul, **{"from": "resuelta", "to": "pendiente", "reason": "agent_wrote_again"}),
        ev("state", raul, COMMENT, **{"from": "pendiente", "to": "escalada", "reason": "escalated"}),
        *[ev("state", raul, COMMENT, **{"from": "pendiente", "to": "resuelta", "reason": r}) for r in CloseReason],
        ev("state", raul, "", **{"from": "pendiente", "to": "en_espera", "reason": ""}),
        ev("some_future_kind", raul, COMMENT, secret="no se muestra"),
        ev("another_future_kind", None),
    ]


def codes_and_ids(events, people):
    codes = {e.kind for e in events} | {str(v) for e in events for k, v in e.data.items()
                                        if k in ("reason", "outcome", "customer_state", "channel")
                                        and v and k != "channel"}
    codes |= set(S.values) - {"resuelta", "escalada"} | {"whatsapp", "global", "posventa-co", "fcardenas", "rmendoza",
                                                          "lucia.p", "genero_venta", "en_seguimiento", "abierta",
                                                          "completada"}
    ids = {p.pk for p in people} | {987654, 876543, 998877}
    return codes, ids


def test_every_conversation_event_reads_as_a_sentence_in_both_languages(people, conversation):
    # given one event of every kind and reason, as the actions write them
    fernanda, raul, lucia = people
    events = every_event(conversation, fernanda, raul, lucia)
    codes, ids = codes_and_ids(events, people)
    for language in ("es", "en"):
        with translation.override(language):
            # when the timeline is annotated
            items = timeline(conversation, limit=500)
            annotate_timeline(items)
            # then every event reads as a sentence, with the people's names and no code, id or repr
            texts = {item["id"]: str(item["text"]) for item in items if item["type"] == "event"}
            assert len(texts) == len(events)
            for text in texts.values():
                assert_readable(text, ids=ids, codes=codes, spanish=language == "es")
            joined = "\n".join(texts.values())
            for name in ("Fernanda Cárdenas", "Raúl Mendoza", "Lucía Peña", "Posventa Colombia", "Global"):
                assert name in joined, (language, name)
            assert "#4321" in joined and "#4322" in joined  # conversations keep their visible number


def test_sentences_name_people_inboxes_states_and_quote_comments(people, conversation):
    # given
    fernanda, raul, lucia = people
    events = {e.pk: e for e in every_event(conversation, fernanda, raul, lucia)}
    # when
    with translation.override("es"):
        items = timeline(conversation, limit=500)
        annotate_timeline(items)
    texts = [str(i["text"]) for i in items if i["type"] == "event"]
    # then
    assert len(texts) == len(events)
    expected = [
        "El cliente escribió por WhatsApp y empezó la conversación",
        "El sistema asignó la conversación a Raúl Mendoza",
        "Raúl Mendoza tomó la conversación",
        "Fernanda Cárdenas asignó la conversación a Lucía Peña",
        "Fernanda Cárdenas quitó el responsable de la conversación",
        f"Fernanda Cárdenas transfirió la conversación a Lucía Peña: «{COMMENT}»",
        f"Fernanda Cárdenas dejó la conversación sin responsable: «{COMMENT}»",
        "Raúl Mendoza pasó la conversación escalada a Fernanda Cárdenas",
        "La conversación volvió a la cola: Raúl Mendoza no respondió a tiempo o se desconectó",
        f"Fernanda Cárdenas movió la conversación de Global a Posventa Colombia (categoría «Garantías»): «{COMMENT}»",
        "Raúl Mendoza mencionó a Fernanda Cárdenas y Lucía Peña en una nota interna",
        f"Raúl Mendoza atendió al cliente fuera del CRM (Teléfono fijo): «{COMMENT}»",
        "Raúl Mendoza clasificó la conversación (resultado: Generó venta; estado del cliente: Convertido)",
        "Raúl Mendoza creó la tarea «Enviar la factura» para Lucía Peña",
        "Lucía Peña completó la tarea «Enviar la factura»",
        "Raúl Mendoza reabrió la tarea «Enviar la factura»",
        "Fernanda Cárdenas reasignó la tarea «Enviar la factura» de Lucía Peña a Raúl Mendoza",
        "Raúl Mendoza actualizó la conversación: empresa: — → Ferretería Andina; referencia de ticket: — → TCK-1; "
        "prioridad: Normal → Alta",
        "Fernanda Cárdenas fusionó aquí la conversación duplicada #4321",
        "Fernanda Cárdenas fusionó esta conversación en la #4322 por estar duplicada",
        f"Fernanda Cárdenas revisó el cierre del ciclo 2: Cierre incorrecto: «{COMMENT}»",
        "La conversación pasó a Pendiente al asignarse",
        "La conversación pasó a En espera porque Raúl Mendoza respondió al cliente",
        "La conversación se reabrió porque el cliente volvió a escribir",
        "La conversación volvió a Pendiente porque el cliente respondió",
        "Raúl Mendoza reabrió la conversación al escribirle de nuevo al cliente",
        f"Raúl Mendoza escaló la conversación: «{COMMENT}»",
        f"Raúl Mendoza cerró la conversación (motivo: El cliente recibió una respuesta clara): «{COMMENT}»",
        "Raúl Mendoza cambió el estado de la conversación de Pendiente a En espera",
        "Raúl Mendoza registró un cambio",
        "Cambio registrado",
    ]
    for sentence in expected:
        assert sentence in texts, sentence


def test_unknown_kind_is_a_generic_sentence_and_logs_nothing_sensitive(caplog):
    # given an event kind no sentence knows, with customer text in its data and comment
    caplog.set_level(logging.DEBUG, logger="inbox.describe")
    # when
    with translation.override("es"):
        text = describe_conversation_event("kommo_magic", {"phone": "+573001234567"}, actor=None,
                                           comment="Dirección: Cra 7 # 45-10", names={}, inboxes={})
    # then
    assert text == "Cambio registrado"
    assert "+573001234567" not in caplog.text and "Cra 7" not in caplog.text


def test_malformed_data_still_reads_as_a_sentence():
    # given rows whose data lost its shape (old rows, hand edits)
    with translation.override("es"):
        texts = [describe_conversation_event(kind, data, actor="Raúl Mendoza", comment="", names={}, inboxes={})
                 for kind, data in (("assigned", {"to": "abc"}), ("state", {"from": 3, "to": None}),
                                    ("mention", {"users": "x"}), ("updated", {"priority": "alta"}),
                                    ("merged", {}), ("task", {}), ("moved", {}), ("reviewed", {"verdict": 1}))]
    # then
    for text in texts:
        assert_readable(text, ids=set(), codes={"abc", "alta"}, spanish=True)
    assert texts[0] == "Raúl Mendoza asignó la conversación a un usuario desconocido"


def test_annotate_timeline_query_count_is_flat(people, conversation, django_assert_num_queries):
    # given 30 events naming different people and inboxes
    fernanda, raul, lucia = people
    more = [UserFactory(full_name=f"Agente {i}") for i in range(10)]
    for i in range(30):
        agent = more[i % len(more)]
        kind = ("assigned", "transferred", "moved")[i % 3]
        data = {"from": "global", "to": "posventa-co"} if kind == "moved" else {"from": raul.pk, "to": agent.pk}
        ConversationEvent.objects.create(conversation=conversation, kind=kind, actor=(fernanda, lucia)[i % 2],
                                         data=data, comment=COMMENT)
    items = timeline(conversation, limit=100)
    assert sum(1 for i in items if i["type"] == "event") == 30
    # when / then: one query for every person (actors and data), one for the inboxes
    with django_assert_num_queries(2):
        annotate_timeline(items)
    assert all("Agente" in str(i["text"]) or "Posventa Colombia" in str(i["text"]) for i in items)


def test_annotate_timeline_needs_no_query_when_nothing_has_a_name(conversation, django_assert_num_queries):
    # given
    ConversationEvent.objects.create(conversation=conversation, kind="created", data={"channel": "email"})
    items = timeline(conversation)
    # when / then
    with django_assert_num_queries(0):
        annotate_timeline(items)
    assert items[0]["text"] == "El cliente escribió por Correo y empezó la conversación"


def test_event_texts_has_every_language(people, conversation, django_assert_num_queries):
    # given
    fernanda, raul, _lucia = people
    e = ConversationEvent.objects.create(conversation=conversation, kind="transferred", actor=fernanda,
                                         comment=COMMENT, data={"from": fernanda.pk, "to": raul.pk})
    e = ConversationEvent.objects.select_related("actor").get(pk=e.pk)
    # when
    with django_assert_num_queries(1):
        texts = event_texts(e)
    # then
    assert set(texts) == {code for code, _name in settings.LANGUAGES}
    assert texts["es"] == f"Fernanda Cárdenas transfirió la conversación a Raúl Mendoza: «{COMMENT}»"
    assert "Fernanda Cárdenas" in texts["en"] and "Raúl Mendoza" in texts["en"] and COMMENT in texts["en"]


def test_real_actions_produce_described_events(people):
    # given a customer writing, a supervisor assigning, the agent answering and escalating, the supervisor closing
    fernanda, raul, _lucia = people
    with translation.override("es"):
        c, _m, _new = actions.do_receive_inbound(channel="whatsapp", body="Hola", customer_name="Ana Ruiz",
                                                 phones=["3001234567"])
        actions.check_assign(fernanda, c.pk, assignee=raul.pk)
        actions.check_send_reply(raul, c.pk, body="Con gusto la ayudo")
        actions.check_escalate(raul, c.pk, comment=COMMENT)
        actions.check_close_conversation(fernanda, c.pk, reason="answered", comment="Factura enviada por correo")
        # when
        items = timeline(c)
        annotate_timeline(items)
    # then
    texts = [str(i["text"]) for i in items if i["type"] == "event"]
    assert texts == ["El cliente escribió por WhatsApp y empezó la conversación",
                     "Fernanda Cárdenas asignó la conversación a Raúl Mendoza",
                     "La conversación pasó a Pendiente al asignarse",
                     "La conversación pasó a En espera porque Raúl Mendoza respondió al cliente",
                     f"Raúl Mendoza escaló la conversación: «{COMMENT}»",
                     "Raúl Mendoza pasó la conversación escalada a Fernanda Cárdenas",
                     "Fernanda Cárdenas cerró la conversación (motivo: El cliente recibió una respuesta clara): "
                     "«Factura enviada por correo»"]


def test_every_kind_and_reason_the_code_writes_has_a_sentence():
    # given the kinds and reasons written anywhere in the inbox's code
    root = Path(settings.BASE_DIR)
    source = "\n".join(p.read_text(encoding="utf-8") for p in (root / "inbox").glob("*.py"))
    kinds = (set(re.findall(r'_event\(\w+, "(\w+)"', source)) | set(re.findall(r'kind="(\w+)"', source))
             | set(re.findall(r'_record\(\w+, \w+, "(\w+)"', source)))
    reasons = set(re.findall(r'reason="(\w+)"', source))
    # then every one is described (the generic sentence is for rows no code writes any more)
    assert kinds and kinds <= DESCRIBED_KINDS, kinds - DESCRIBED_KINDS
    described_reasons = {"assigned", "replied", "customer_wrote_again", "customer_replied", "agent_wrote_again",
                         "escalated"}
    assert reasons - set(CloseReason.values) <= described_reasons, reasons
