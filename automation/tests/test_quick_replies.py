"""Issue 16: quick replies — saved answers agents insert with a shortcut, personalised for the conversation, never
sent with a variable left as `{{…}}`."""

from __future__ import annotations

from itertools import count

import pytest
from django.urls import reverse

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from automation import actions
from automation.choices import QuickReplyScope
from automation.models import QuickReply
from automation.selectors import picker_options
from automation.variables import render
from core.errors import ActionError, ConflictError, NotFoundError, PermissionDeniedError
from core.models import AuditLog
from customers.models import Customer
from inbox import actions as inbox
from inbox.models import Conversation, Inbox, Message
from orders import actions as orders
from orders.tests.factories import product

pytestmark = pytest.mark.django_db
_phones = count(1)


def whatsapp(assignee=None, name: str = "María José Rodríguez", inbox_code: str | None = None) -> Conversation:
    c, _m, _new = inbox.do_receive_inbound(channel="whatsapp", body="Hola, ¿cuánto cuesta el envío?",
                                           customer_name=name, phones=[f"301{next(_phones):07d}"],
                                           inbox_code=inbox_code)
    if assignee is not None:
        Conversation.objects.filter(pk=c.pk).update(assignee=assignee)
        c.refresh_from_db()
    return c


def saludo(user, **kwargs) -> QuickReply:
    values = {"title": "Saludo", "shortcut": "saludo",
              "body": "¡Hola {{cliente.primer_nombre}}! Soy {{agente.primer_nombre}}, ¿en qué le ayudo?"} | kwargs
    return actions.check_save_quick_reply(user, **values)


def test_variables_are_filled_from_the_conversation_and_a_missing_one_is_reported(agent):
    # given a customer with a plan in their additional data and no order yet
    c = whatsapp(agent)
    Customer.objects.filter(pk=c.customer_id).update(extra={"Plan": "Premium"})
    c.refresh_from_db()
    body = ("Hola {{cliente.primer_nombre}} ({{ customer.name }}), plan {{cliente.plan}}. Pedido {{pedido.numero}} "
            "por {{pedido.total}}; conversación #{{conversacion.id}}. {{otra.cosa}} queda igual.")
    # when it is rendered for the agent
    rendered = render(body, conversation=c, agent=agent)
    # then every variable with a value is replaced, in Spanish or English, and the order's are missing
    assert rendered.body.startswith("Hola María (María José Rodríguez), plan Premium. Pedido {{pedido.numero}}")
    assert f"conversación #{c.pk}" in rendered.body and "{{otra.cosa}} queda igual" in rendered.body
    assert rendered.missing == ["{{pedido.numero}}", "{{pedido.total}}"]
    # and once the customer has a confirmed order, its number and total (in the organization's money format) fill in
    product("A", price="129900", stock=5)
    Customer.objects.filter(pk=c.customer_id).update(address="Calle 1 # 2-3", city="Cali", department="Valle")
    order = orders.check_create_order(agent, conversation_id=c.pk, lines=[("A", 2)])
    orders.check_confirm_order(agent, order.pk)
    filled = render("{{pedido.numero}} · {{pedido.total}}", conversation=c, agent=agent)
    assert filled.body == f"{order.number} · 259.800\u00a0COP" and filled.missing == []


def test_a_reply_with_an_unfilled_variable_is_never_sent(agent):
    # given a conversation of the agent
    c = whatsapp(agent)
    # when the agent sends text that still carries a variable, then it is refused and nothing is stored
    with pytest.raises(ActionError) as refused:
        inbox.check_send_reply(agent, c.pk, body="Su pedido {{pedido.numero}} sale hoy")
    assert refused.value.code == "unfilled_variable" and "{{pedido.numero}}" in refused.value.message
    assert not Message.objects.filter(conversation=c, kind="outbound").exists()
    # and braces that are not our variables are the customer's or the agent's own text
    inbox.check_send_reply(agent, c.pk, body="Escriba {{su código}} tal cual")
    assert Message.objects.filter(conversation=c, kind="outbound").count() == 1


def test_who_sees_and_who_edits_each_scope(agent, supervisor):
    # given an inbox, one reply of each scope and two agents
    ventas, _ = Inbox.objects.get_or_create(code="ventas", defaults={"name": "Ventas"})
    other = UserFactory(role=Role.AGENTE, username="agente2")
    mine = saludo(agent)
    shared = saludo(supervisor, shortcut="horario", title="Horario", body="Atendemos de 8 a 18 h.",
                    scope=QuickReplyScope.EVERYONE)
    in_ventas = saludo(supervisor, shortcut="envio", title="Envío", body="El envío tarda 2 días.",
                       scope=QuickReplyScope.INBOX, inbox_code="ventas")
    # then a personal one is its author's only; an agent may not create or edit a shared one
    assert actions.access_quick_reply(agent, mine.pk) == mine
    with pytest.raises(NotFoundError):
        actions.access_quick_reply(other, mine.pk)
    with pytest.raises(PermissionDeniedError):
        saludo(agent, shortcut="todos", scope=QuickReplyScope.EVERYONE)
    with pytest.raises(PermissionDeniedError):
        actions.check_save_quick_reply(agent, quick_reply_id=shared.pk, title="x", shortcut="horario", body="y",
                                       scope=QuickReplyScope.EVERYONE)
    # and in a conversation the picker offers the agent's own, everyone's, and its inbox's — not another inbox's
    in_ventas_conversation = whatsapp(agent, inbox_code="ventas")
    elsewhere = whatsapp(agent)
    assert {r.shortcut for r in picker_options(agent, in_ventas_conversation)} == {"saludo", "horario", "envio"}
    assert {r.shortcut for r in picker_options(agent, elsewhere)} == {"saludo", "horario"}
    assert {r.shortcut for r in picker_options(other, elsewhere)} == {"horario"}
    assert in_ventas.inbox == ventas


def test_shortcuts_are_normalised_validated_and_unique_per_scope(agent):
    # given a reply /saludo of the agent
    saludo(agent, shortcut="/Saludo")
    assert QuickReply.objects.get().shortcut == "saludo"
    # when another personal one takes the same shortcut, then 409
    with pytest.raises(ConflictError) as taken:
        saludo(agent, shortcut="saludo", title="Otro")
    assert taken.value.code == "shortcut_taken"
    # when a shortcut has spaces or signs, or the text names an unknown variable, every error is reported at once
    with pytest.raises(ActionError) as invalid:
        actions.check_save_quick_reply(agent, title=" ", shortcut="hola!", body="Hola {{agente.apellido}}")
    assert set(invalid.value.details["errors"]) == {"title", "shortcut", "body"}
    assert "{{agente.apellido}}" in invalid.value.details["errors"]["body"]
    # and every write is audited
    assert AuditLog.objects.filter(action="quick_reply.created").count() == 1


def test_the_picker_matches_the_shortcut_start_or_the_title_exact_first_then_most_used(agent):
    c = whatsapp(agent)
    envio = saludo(agent, shortcut="envio", title="Costo de envío", body="El envío cuesta 10.000")
    saludo(agent, shortcut="envio-express", title="Envío express", body="Llega mañana")
    saludo(agent, shortcut="precio", title="Precios y envío gratis", body="Desde 50.000 el envío es gratis")
    for _ in range(3):
        actions.do_record_use(QuickReply.objects.get(shortcut="envio-express"))
    assert [r.shortcut for r in picker_options(agent, c, "/envio")] == ["envio", "envio-express"]
    assert [r.shortcut for r in picker_options(agent, c, "env")] == ["envio-express", "envio", "precio"]
    envio.refresh_from_db()
    assert envio.usage_count == 0


def test_the_composer_picker_renders_each_option_and_inserting_counts_a_use(agent, client_for):
    # given the agent's conversation and their /saludo
    c = whatsapp(agent)
    reply = saludo(agent, body="Hola {{cliente.primer_nombre}}, su pedido {{pedido.numero}} está en camino.")
    client = client_for(agent)
    # when the conversation opens, then the composer has the picker
    page = client.get(reverse("inbox:detail", args=[c.pk])).content.decode()
    assert "data-qr-picker-url" in page and "automation/quick_replies.js" in page
    # when the agent types /sal, then the option shows the text for this customer and what has no value
    options = client.get(reverse("automation:picker", args=[c.pk]), {"q": "sal"}).content.decode()
    assert "Hola María, su pedido {{pedido.numero}} está en camino." in options
    assert "Sin valor en esta conversación: {{pedido.numero}}" in options
    # when they choose it, then the rendered text comes back with the missing list, and the use is counted
    used = client.post(reverse("automation:use", args=[reply.pk, c.pk])).json()
    assert used == {"body": "Hola María, su pedido {{pedido.numero}} está en camino.",
                    "missing": ["{{pedido.numero}}"], "attachment": None}
    reply.refresh_from_db()
    assert reply.usage_count == 1


def test_another_agents_conversation_gets_no_picker_and_no_rendering(agent, client_for):
    c = whatsapp(UserFactory(role=Role.AGENTE, username="agente2"))
    reply = saludo(agent)
    client = client_for(agent)
    assert client.get(reverse("automation:picker", args=[c.pk])).status_code == 404
    assert client.post(reverse("automation:use", args=[reply.pk, c.pk])).status_code == 404


def test_the_management_pages_create_edit_and_delete(agent, client_for):
    client = client_for(agent)
    # when the agent creates a reply with a taken shortcut, then the form answers 409 next to the field
    saludo(agent)
    taken = client.post(reverse("automation:quick_reply_create"),
                        {"title": "Otro saludo", "shortcut": "saludo", "body": "Hola", "scope": "mias"})
    assert taken.status_code == 409 and "Ese atajo ya existe." in taken.content.decode()
    # when they create one, it is listed; when they edit it, it changes; when they delete it, it is gone
    created = client.post(reverse("automation:quick_reply_create"),
                          {"title": "Medios de pago", "shortcut": "pago", "body": "Nequi, Daviplata o tarjeta",
                           "category": "pagos", "scope": "mias"})
    assert created.status_code == 302
    listing = client.get(reverse("automation:quick_replies")).content.decode()
    assert "/pago" in listing and "Medios de pago" in listing and "Solo yo" in listing
    pago = QuickReply.objects.get(shortcut="pago")
    client.post(reverse("automation:quick_reply_edit", args=[pago.pk]),
                {"title": "Medios de pago", "shortcut": "pagos", "body": "Nequi o tarjeta", "scope": "mias"})
    pago.refresh_from_db()
    assert (pago.shortcut, pago.body) == ("pagos", "Nequi o tarjeta")
    client.post(reverse("automation:quick_reply_delete", args=[pago.pk]))
    assert not QuickReply.objects.filter(pk=pago.pk).exists()


def test_the_api_manages_and_renders_quick_replies(agent, supervisor, api_client_for):
    c = whatsapp(agent)
    api = api_client_for(agent)
    created = api.post("/api/v1/quick-replies", {"title": "Saludo", "shortcut": "saludo", "category": "ventas",
                                                 "body": "Hola {{cliente.primer_nombre}}"},
                       content_type="application/json")
    assert created.status_code == 201 and created.json()["owner"] == agent.username
    qid = created.json()["id"]
    rendered = api.get(f"/api/v1/conversations/{c.pk}/quick-replies/{qid}/render").json()
    assert rendered == {"body": "Hola María", "missing": []}
    shared = api.post("/api/v1/quick-replies", {"title": "Horario", "shortcut": "horario", "body": "8 a 18 h",
                                                "scope": "todos"}, content_type="application/json")
    assert shared.status_code == 403
    updated = api.put(f"/api/v1/quick-replies/{qid}", {"title": "Saludo", "shortcut": "hola", "body": "Hola"},
                      content_type="application/json")
    assert updated.status_code == 200 and updated.json()["shortcut"] == "hola"
    assert [r["shortcut"] for r in api.get("/api/v1/quick-replies?q=ho").json()["results"]] == ["hola"]
    assert api_client_for(supervisor).get(f"/api/v1/quick-replies/{qid}").status_code == 404  # personal
    assert api.delete(f"/api/v1/quick-replies/{qid}").status_code == 204
    assert not QuickReply.objects.exists()
