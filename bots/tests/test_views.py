"""The bot's pages: the list, the editor's htmx endpoints (save, publish, settings, simulator), import/export and
the statistics. Wiring, permissions and sentences; the rules themselves are bots.actions' tests."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.roles import Role
from bots.actions import check_create_flow, check_save_flow
from bots.demo import GRAPH
from bots.models import BotFlow, BotFlowVersion, BotRun
from bots.tests.helpers import global_inbox, published, write
from inbox.defaults import ensure_default_inboxes
from inbox.models import Message

pytestmark = pytest.mark.django_db

SMALL: dict[str, Any] = {"start": "hola", "steps": {
    "hola": {"type": "send", "text": "¡Hola! Soy el bot.", "x": 40, "y": 60, "next": {"next": "menu"}},
    "menu": {"type": "ask", "text": "¿Qué necesita?", "input": "choice", "var": "opcion", "x": 300, "y": 60,
             "choices": [{"id": "humano", "title": "Hablar con alguien"}, {"id": "chau", "title": "Nada más"}],
             "next": {"humano": "agente", "chau": "fin"}},
    "agente": {"type": "handoff", "text": "Le paso con una persona.", "x": 560, "y": 20},
    "fin": {"type": "end", "text": "¡Hasta pronto!", "x": 560, "y": 200},
}}


@pytest.fixture(autouse=True)
def _inboxes(db):
    """Global and the team inboxes (a browser test's flush of the reused database removes the migration's)."""
    ensure_default_inboxes()


@pytest.fixture
def analyst(make_user):
    return make_user(Role.ANALISTA, username="analista")


@pytest.fixture
def flow(supervisor):
    return check_create_flow(supervisor, name="Pedidos", description="Estado del pedido", graph=SMALL)


def htmx(client, method, url, data=None, **kwargs):
    return getattr(client, method)(url, data=data, HTTP_HX_REQUEST="true", **kwargs)


def put_form(client, url, graph):
    """What the editor's "Guardar" sends: htmx's PUT with the form-encoded `graph` field."""
    from urllib.parse import urlencode

    return client.put(url, data=urlencode({"graph": json.dumps(graph)}),
                      content_type="application/x-www-form-urlencoded", HTTP_HX_REQUEST="true")


# --- permissions ------------------------------------------------------------------------------------------------

def test_an_agent_without_bot_permissions_gets_403_everywhere(agent, flow, client_for):
    client = client_for(agent)
    for name in ("bots:list", "bots:create"):
        assert client.get(reverse(name)).status_code == 403
    for name in ("bots:editor", "bots:stats", "bots:export"):
        assert client.get(reverse(name, args=[flow.pk])).status_code == 403
    assert client.post(reverse("bots:simulate", args=[flow.pk]), {"message": "hola"}).status_code == 403


def test_an_analyst_sees_and_simulates_but_may_not_change_a_flow(analyst, flow, client_for):
    # given an analyst (bots.view without bots.manage)
    client = client_for(analyst)
    # when they open the list and the editor
    listing = client.get(reverse("bots:list")).content.decode()
    page = client.get(reverse("bots:editor", args=[flow.pk])).content.decode()
    # then they read the flow, without the buttons that change it
    assert "Pedidos" in listing and 'data-testid="bot-new"' not in listing
    assert 'id="bot-graph"' in page and 'data-testid="bot-save"' not in page and 'data-testid="bot-publish"' not in page
    assert '"canManage": false' in page
    # and the simulator answers them
    answer = htmx(client, "post", reverse("bots:simulate", args=[flow.pk]), {"message": "hola"})
    assert answer.status_code == 200 and "¡Hola! Soy el bot." in answer.content.decode()
    # but saving, publishing, the settings, importing and deleting are refused
    assert put_form(client, reverse("bots:save", args=[flow.pk]), SMALL).status_code == 403
    assert client.post(reverse("bots:publish", args=[flow.pk])).status_code == 403
    assert client.post(reverse("bots:settings", args=[flow.pk]), {"name": "Otro"}).status_code == 403
    assert client.post(reverse("bots:delete", args=[flow.pk])).status_code == 403
    assert client.post(reverse("bots:import")).status_code == 403
    flow.refresh_from_db()
    assert flow.name == "Pedidos" and flow.published is None


# --- the list and a new flow ------------------------------------------------------------------------------------

def test_the_list_explains_flows_when_there_are_none(supervisor, client_for):
    page = client_for(supervisor).get(reverse("bots:list")).content.decode()
    assert "Aún no hay flujos" in page and "Un flujo es un diagrama de pasos" in page
    assert "Crear el primer flujo" in page


def test_the_list_shows_version_changes_inbox_and_rates(supervisor, client_for):
    # given a published flow on the global inbox, then changed, and a conversation it is holding
    live = published(SMALL, name="Bienvenida", inbox_code=global_inbox().code, by=supervisor)
    changed = copy.deepcopy(SMALL)
    changed["steps"]["hola"]["text"] = "¡Buenas!"
    check_save_flow(supervisor, live.pk, graph=changed)
    write("hola")
    check_create_flow(supervisor, name="Borrador <b>nuevo</b>")
    # when the list opens
    page = client_for(supervisor).get(reverse("bots:list")).content.decode()
    # then each flow says where it stands, in words
    row = page[page.index(f'data-flow-id="{live.pk}"'):]
    row = row[:row.index("</tr>")]
    assert "Versión 1" in row and "Cambios sin publicar" in row and global_inbox().name in row
    assert ('<td class="num" data-label="Conversaciones">1<span class="muted bot-small bot-open">'
            '<span class="bot-sep"> · </span>1 en curso</span>') in row
    assert "Sin publicar" in page and "Solo por regla" in page
    assert "Borrador &lt;b&gt;nuevo&lt;/b&gt;" in page  # names are text
    assert "cards-on-phone" in page


def test_a_new_flow_starts_from_the_example_and_opens_the_editor(supervisor, client_for):
    client = client_for(supervisor)
    assert client.get(reverse("bots:create")).status_code == 200
    response = client.post(reverse("bots:create"), {"name": "Atención", "description": "", "start_with": "example"})
    flow = BotFlow.objects.get(name="Atención")
    assert response.status_code == 302 and response["Location"] == reverse("bots:editor", args=[flow.pk])
    assert flow.graph["start"] == "saludo" and len(flow.graph["steps"]) == 6
    # a name in use is said next to the field
    again = client.post(reverse("bots:create"), {"name": "atención", "start_with": "empty"})
    assert again.status_code == 409 and "Ya hay un flujo con ese nombre." in again.content.decode()


# --- the editor: save, publish, settings ------------------------------------------------------------------------

def test_the_editor_carries_the_graph_and_the_labels_for_its_script(supervisor, client_for):
    evil = copy.deepcopy(SMALL)
    evil["steps"]["hola"]["text"] = "</script><script>alert(1)</script>"
    flow = check_create_flow(supervisor, name="Seguro", graph=evil)
    page = client_for(supervisor).get(reverse("bots:editor", args=[flow.pk])).content.decode()
    assert "<script>alert(1)" not in page  # json_script escapes it
    assert '"send": "Enviar mensaje"' in page and '"fixedPorts"' in page
    assert 'data-testid="bot-save"' in page and 'data-testid="bot-add-ask"' in page
    assert "vendor/drawflow/drawflow.min.js" in page


def test_save_answers_a_sentence_and_refreshes_status_and_problems(supervisor, flow, client_for):
    client = client_for(supervisor)
    url = reverse("bots:save", args=[flow.pk])
    # when the editor saves a graph with an exit leading nowhere (as htmx sends it: PUT, form-encoded)
    incomplete = copy.deepcopy(SMALL)
    del incomplete["steps"]["menu"]["next"]["chau"]
    response = put_form(client, url, incomplete)
    # then it is saved, and the problems list (out of band) names the step and the exit
    body = response.content.decode()
    assert response.status_code == 200, body
    assert "data-saved" in body and "Antes de publicarlo resuelva" in body
    assert 'id="flow-problems"' in body and 'hx-swap-oob="true"' in body
    assert "Sin continuación en: «Nada más»." in body and 'data-select-step="menu"' in body
    flow.refresh_from_db()
    assert "chau" not in flow.graph["steps"]["menu"]["next"]
    # and a JSON PUT (a script) is the same contract
    response = client.put(url, data=json.dumps({"graph": SMALL}), content_type="application/json")
    assert response.status_code == 200 and "Diagrama guardado." in response.content.decode()


def test_a_refused_graph_is_said_in_a_sentence_and_nothing_changes(supervisor, flow, client_for):
    broken = copy.deepcopy(SMALL)
    broken["steps"]["menu"]["next"]["chau"] = "no_existe"
    response = put_form(client_for(supervisor), reverse("bots:save", args=[flow.pk]), broken)
    body = response.content.decode()
    assert response.status_code == 400
    assert "Paso «menu»: la salida «chau» lleva a un paso que no existe («no_existe»)." in body
    assert 'role="alert"' in body and "data-saved" not in body and "flow-problems" not in body
    flow.refresh_from_db()
    assert flow.graph == BotFlow.objects.get(pk=flow.pk).graph and flow.graph["steps"]["menu"]["next"]["chau"] == "fin"


def test_publish_is_refused_with_the_problems_then_publishes_the_graph_sent(supervisor, client_for):
    client = client_for(supervisor)
    flow = check_create_flow(supervisor, name="Nuevo")
    url = reverse("bots:publish", args=[flow.pk])
    # when an incomplete diagram is published
    incomplete = copy.deepcopy(SMALL)
    del incomplete["steps"]["menu"]["next"]["chau"]
    refused = htmx(client, "post", url, {"graph": json.dumps(incomplete)})
    body = refused.content.decode()
    # then it was saved but not published, and the reason is said
    assert refused.status_code == 400
    assert "El flujo no se puede publicar:" in body and "Sin continuación en" in body and "data-saved" in body
    assert not BotFlowVersion.objects.exists()
    # when the complete one is sent
    done = htmx(client, "post", url, {"graph": json.dumps(SMALL)})
    body = done.content.decode()
    # then version 1 is live and the status says so
    assert done.status_code == 200, body
    assert "Versión 1 publicada: las conversaciones nuevas la usan desde ahora" in body
    assert "Versión 1 publicada</span>" in body and "Cambios sin publicar" not in body
    flow.refresh_from_db()
    assert flow.published is not None and flow.published.number == 1 and flow.published.graph == flow.graph


def test_settings_save_in_place_and_rename_the_page(supervisor, flow, client_for):
    client = client_for(supervisor)
    url = reverse("bots:settings", args=[flow.pk])
    data = {"name": "Pedidos y envíos", "description": "", "inbox": global_inbox().code,
            "handoff_keywords": "Agente, asesor", "expire_minutes": "45", "expire_text": "Cerramos por ahora.",
            "max_retries": "1", "enabled": "on"}
    response = htmx(client, "post", url, data)
    body = response.content.decode()
    assert response.status_code == 200 and "Ajustes guardados." in body
    assert '<h1 id="flow-title" class="m-0" hx-swap-oob="true">Pedidos y envíos</h1>' in body
    flow.refresh_from_db()
    assert (flow.name, flow.inbox, flow.handoff_keywords, flow.expire_minutes, flow.max_retries, flow.enabled) == (
        "Pedidos y envíos", global_inbox(), "agente, asesor", 45, 1, True)
    # an out-of-range expiry is said next to its field, nothing saved
    refused = htmx(client, "post", url, {**data, "expire_minutes": "0"})
    assert refused.status_code == 400 and "errorlist" in refused.content.decode()
    # another flow may not start in the same inbox
    other = check_create_flow(supervisor, name="Otro")
    clash = htmx(client, "post", reverse("bots:settings", args=[other.pk]), {**data, "name": "Otro"})
    assert clash.status_code == 409 and "ya empieza con el flujo «Pedidos y envíos»" in clash.content.decode()


# --- the simulator ----------------------------------------------------------------------------------------------

def test_the_simulator_replays_the_conversation_with_choices_as_buttons(supervisor, flow, client_for):
    client = client_for(supervisor)
    url = reverse("bots:simulate", args=[flow.pk])
    # when the tester writes "hola"
    first = htmx(client, "post", url, {"message": "hola"}).content.decode()
    # then the bot greets and asks, its choices are buttons, and the message is carried for the next turn
    assert "¡Hola! Soy el bot." in first and "¿Qué necesita?" in first
    assert 'name="choice" value="Hablar con alguien"' in first
    assert '<input type="hidden" name="messages" value="hola">' in first
    # when they press a choice on the diagram on screen (not saved: the handoff says something else)
    unsaved = copy.deepcopy(SMALL)
    unsaved["steps"]["agente"]["text"] = "Un momento, por favor."
    second = htmx(client, "post", url, {"messages": ["hola"], "choice": "Hablar con alguien",
                                        "graph": json.dumps(unsaved)}).content.decode()
    # then the whole conversation is shown, the handoff as a note, and the variables
    assert "Un momento, por favor." in second and "Derivaría la conversación a una persona" in second
    assert "var.opcion" in second and "Derivado a una persona" in second
    # and nothing was written
    assert not Message.objects.exists() and not BotRun.objects.exists()
    # "Reiniciar" empties it
    reset = htmx(client, "post", url, {"messages": ["hola"], "reset": "1"}).content.decode()
    assert "Escriba como lo haría un cliente" in reset and 'name="messages"' not in reset


def test_the_simulator_says_why_it_cannot_run(supervisor, client_for):
    flow = check_create_flow(supervisor, name="Vacío")
    response = htmx(client_for(supervisor), "post", reverse("bots:simulate", args=[flow.pk]), {"message": "hola"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Elija el paso inicial del flujo para probarlo." in body and 'value="hola"' in body


# --- export and import ------------------------------------------------------------------------------------------

def test_export_then_import_round_trip(supervisor, flow, client_for):
    client = client_for(supervisor)
    check_save_flow(supervisor, flow.pk, handoff_keywords="persona", expire_minutes=20)
    # when the flow is exported
    exported = client.get(reverse("bots:export", args=[flow.pk]))
    assert exported.status_code == 200
    assert exported["Content-Disposition"] == 'attachment; filename="bot-pedidos.json"'
    data = json.loads(exported.content)
    assert data["format"] == "centralita.bot-flow" and data["graph"] == flow.graph
    # and imported back
    upload = SimpleUploadedFile("bot-pedidos.json", exported.content, content_type="application/json")
    response = client.post(reverse("bots:import"), {"file": upload})
    # then a second flow, renamed, holds the same diagram and settings, as a draft
    copy_ = BotFlow.objects.get(name="Pedidos (2)")
    assert response.status_code == 302 and response["Location"] == reverse("bots:editor", args=[copy_.pk])
    assert copy_.graph == flow.graph and copy_.published is None
    assert (copy_.handoff_keywords, copy_.expire_minutes) == ("persona", 20)


@pytest.mark.parametrize(("content", "said"), [
    (b"no es json", "El archivo no es JSON"),
    (b'{"format": "otra-cosa"}', "El archivo no es un flujo exportado de Centralita."),
])
def test_a_wrong_file_is_refused_in_a_sentence(supervisor, client_for, content, said):
    upload = SimpleUploadedFile("x.json", content, content_type="application/json")
    response = client_for(supervisor).post(reverse("bots:import"), {"file": upload})
    assert response.status_code == 400
    body = response.content.decode()
    assert said in body and "<details class=\"bot-import\" open>" in body
    assert not BotFlow.objects.exists()


# --- delete -----------------------------------------------------------------------------------------------------

def test_delete_only_a_flow_that_never_talked(supervisor, flow, client_for):
    client = client_for(supervisor)
    response = client.post(reverse("bots:delete", args=[flow.pk]))
    assert response.status_code == 302 and not BotFlow.objects.filter(pk=flow.pk).exists()
    live = published(SMALL, name="En uso", inbox_code=global_inbox().code, by=supervisor)
    write("hola")
    refused = client.post(reverse("bots:delete", args=[live.pk]), follow=True)
    assert BotFlow.objects.filter(pk=live.pk).exists()
    assert "desactívelo en lugar de borrarlo" in refused.content.decode()


# --- statistics -------------------------------------------------------------------------------------------------

def test_stats_list_steps_in_flow_order_and_the_answers_not_understood(analyst, supervisor, client_for):
    # given the demo flow live on the global inbox, one customer who chose an option and one who wrote nonsense
    live = published(GRAPH, name="Demo", inbox_code=global_inbox().code, by=supervisor)
    write("hola", phone="3001110001")
    c = write("hola", phone="3001110002")
    write("quiero un unicornio", phone="3001110002")
    assert c.pk
    # when the analyst opens the statistics
    response = client_for(analyst).get(reverse("bots:stats", args=[live.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    # then steps follow the diagram from its start, with counts
    order = [body.index(f'data-step="{s}"') for s in ("saludo", "menu", "como")]
    assert order == sorted(order)
    saludo = body[body.index('data-step="saludo"'):]
    assert '<td class="num" data-label="Llegaron">2</td>' in saludo[:saludo.index("</tr>")]
    # and the answer it did not understand is grouped under its step, with the hint
    assert "<q>quiero un unicornio</q>" in body and "añada opciones a esa pregunta o artículos" in body
    # the version filter answers too
    filtered = client_for(analyst).get(reverse("bots:stats", args=[live.pk]), {"version": "1"})
    assert filtered.status_code == 200 and "de la versión 1" in filtered.content.decode()
