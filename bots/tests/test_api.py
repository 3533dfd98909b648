"""/api/v1/bot-flows/… and /api/v1/conversations/{id}/bot: the same actions as the editor; bad graphs are a clear
400 naming the step; the simulator writes nothing."""

from __future__ import annotations

import copy

import pytest

from bots.demo import GRAPH
from bots.models import BotFlow, BotRun
from bots.tests.helpers import global_inbox, published, write
from inbox.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def sup_api(supervisor, api_client_for):
    return api_client_for(supervisor)


@pytest.fixture
def agent_api(agent, api_client_for):
    return api_client_for(agent)


def post(client, path, body=None):
    return client.post(path, data=body, content_type="application/json")


def put(client, path, body):
    return client.put(path, data=body, content_type="application/json")


def test_create_edit_publish_and_read_a_flow(sup_api):
    # Given a new flow created empty
    created = post(sup_api, "/api/v1/bot-flows", {"name": "Bienvenida"})
    assert created.status_code == 201, created.content
    flow = created.json()
    assert flow["published_version"] is None and flow["graph"] == {"start": "", "steps": {}}
    assert [p["message"] for p in flow["problems"]] == ["El flujo no tiene pasos."]
    # When its graph and settings are replaced and it is published
    saved = put(sup_api, f"/api/v1/bot-flows/{flow['id']}", {
        "name": "Bienvenida", "graph": GRAPH, "inbox": global_inbox().code,
        "handoff_keywords": ["Agente", "asesor"], "expire_minutes": 15, "max_retries": 1})
    assert saved.status_code == 200, saved.content
    assert saved.json()["problems"] == [] and saved.json()["handoff_keywords"] == ["agente", "asesor"]
    version = post(sup_api, f"/api/v1/bot-flows/{flow['id']}/publish")
    assert version.status_code == 200 and version.json()["version"] == 1
    # Then the list shows it published and attached to the inbox
    listed = sup_api.get("/api/v1/bot-flows").json()
    assert [(f["name"], f["published_version"], f["inbox"]) for f in listed] == [
        ("Bienvenida", 1, global_inbox().code)]


def test_a_bad_graph_is_a_400_naming_the_step(sup_api):
    flow = post(sup_api, "/api/v1/bot-flows", {"name": "Roto"}).json()
    graph = copy.deepcopy(GRAPH)
    graph["steps"]["menu"]["next"]["pedido"] = "no_existe"
    refused = put(sup_api, f"/api/v1/bot-flows/{flow['id']}", {"name": "Roto", "graph": graph})
    assert refused.status_code == 400
    assert refused.json()["detail"] == "Paso «menu»: la salida «pedido» lleva a un paso que no existe («no_existe»)."
    graph["steps"]["menu"]["next"]["pedido"] = "como"
    graph["steps"]["menu"]["type"] = "teleport"
    refused = put(sup_api, f"/api/v1/bot-flows/{flow['id']}", {"name": "Roto", "graph": graph})
    assert refused.status_code == 400 and refused.json()["detail"].startswith("Paso «menu»: tipo desconocido")


def test_publishing_an_incomplete_flow_is_refused(sup_api):
    flow = post(sup_api, "/api/v1/bot-flows", {"name": "Incompleto", "graph": {
        "start": "a", "steps": {"a": {"type": "send", "text": "Hola"}}}}).json()
    refused = post(sup_api, f"/api/v1/bot-flows/{flow['id']}/publish")
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("El flujo no se puede publicar: Paso «a»: Sin continuación en")


def test_simulate_chats_with_the_draft_and_writes_nothing(sup_api):
    # Given the demo flow as a draft
    flow = post(sup_api, "/api/v1/bot-flows", {"name": "Prueba", "graph": GRAPH}).json()
    # When the author simulates a customer asking for a person after choosing an option
    result = post(sup_api, f"/api/v1/bot-flows/{flow['id']}/simulate",
                  {"messages": ["hola", "Estado de mi pedido", "Tengo el número", "abc", "123"]})
    assert result.status_code == 200, result.content
    body = result.json()
    # Then each turn shows the bot's lines, choices and notes; variables are the final ones
    first = body["turns"][0]
    assert first["customer"] == "hola"
    assert [b["text"] for b in first["bot"]] == [
        "¡Hola {{cliente.primer_nombre}}! Soy el asistente virtual de la tienda.", "¿En qué te ayudo?"]
    assert first["bot"][1]["choices"][0] == "Estado de mi pedido"
    assert body["turns"][3]["bot"][0]["text"] == "Necesito el número del pedido, solo las cifras (por ejemplo 123)."
    assert body["variables"] == {"opcion": "Estado de mi pedido", "busqueda": "Tengo el número", "numero": "123"}
    assert body["finished"] is False
    assert not Message.objects.exists() and not BotRun.objects.exists()


def test_simulate_refuses_too_many_messages(sup_api):
    flow = post(sup_api, "/api/v1/bot-flows", {"name": "Prueba", "graph": GRAPH}).json()
    refused = post(sup_api, f"/api/v1/bot-flows/{flow['id']}/simulate", {"messages": ["hola"] * 51})
    assert refused.status_code == 400


def test_an_agent_may_not_manage_flows_but_reads_the_bot_of_a_conversation(agent_api, sup_api):
    assert post(agent_api, "/api/v1/bot-flows", {"name": "X"}).status_code == 403
    assert agent_api.get("/api/v1/bot-flows").status_code == 403
    published(inbox_code=global_inbox().code)
    c = write("hola", phone="3005551001")
    run = sup_api.get(f"/api/v1/conversations/{c.pk}/bot")
    assert run.status_code == 200, run.content
    assert (run.json()["state"], run.json()["step"], run.json()["open"], run.json()["flow"]["name"]) == (
        "activo", "menu", True, "Pedidos")
    assert sup_api.get("/api/v1/conversations/999999/bot").status_code == 404


def test_flows_are_listed_by_name(sup_api):
    for name in ("Zeta", "Alfa"):
        post(sup_api, "/api/v1/bot-flows", {"name": name})
    assert [f["name"] for f in sup_api.get("/api/v1/bot-flows").json()] == ["Alfa", "Zeta"]
    assert post(sup_api, "/api/v1/bot-flows", {"name": "alfa"}).status_code == 409
    assert BotFlow.objects.count() == 2
