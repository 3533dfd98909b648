"""The fake Kommo server speaks the wire contract (/work/shared/contracts/kommo.md). Loopback only."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakes.kommo import (
    LOST_STATUS_ID,
    MAIN_PIPELINE_ID,
    STATUS_INCOMING,
    STATUS_INITIAL_CONTACT,
    STATUS_SALE_CONFIRMED,
    STATUS_TO_CALL,
    WON_STATUS_ID,
    FakeKommo,
    FakeKommoServer,
    encode_webhook,
)

TOKEN = "long-lived-token"
CLIENT_ID = "integration-id"
CLIENT_SECRET = "integration-secret"
REDIRECT_URI = "https://hub.example.com/kommo/oauth/callback"
DATE_FIELD_ID = 1246491
SELECT_FIELD_ID = 1246489


class Receiver:
    """A tiny webhook endpoint: records every POST and answers the scripted statuses, then 200."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.hits: list[dict[str, Any]] = []
        self.statuses = list(statuses or [])
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                with receiver.cond:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.hits.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "answered": status})
                    receiver.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/kommo/webhook/s3cr3t/"

    def wait(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.hits) >= count, timeout)
            return list(self.hits)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def decoded(body: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(body, keep_blank_values=True))


@pytest.fixture
def fk() -> Iterator[FakeKommoServer]:
    with FakeKommoServer(subdomain="demo", token=TOKEN, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                         retry_schedule=[0.1, 0.1], rate_limit=None) as server:
        yield server


@pytest.fixture
def api(fk: FakeKommoServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fk.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


def oauth(client: httpx.Client, **params: str) -> httpx.Response:
    return client.post("/oauth2/access_token", json={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                     "redirect_uri": REDIRECT_URI, **params})


# -- OAuth and auth -------------------------------------------------------------------------------------------


def test_oauth_code_exchange_and_refresh_rotation(fk: FakeKommoServer) -> None:
    # given an authorization code issued to our integration
    code = fk.state.issue_auth_code(CLIENT_ID)
    client = httpx.Client(base_url=fk.base_url, timeout=5)

    # when we exchange it
    first = oauth(client, grant_type="authorization_code", code=code)

    # then we get a Bearer pair that the API accepts, and the code cannot be reused
    assert first.status_code == 200
    tokens = first.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 86400
    assert isinstance(tokens["server_time"], int)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/api/v4/account", headers=bearer).json()["subdomain"] == "demo"
    reused = oauth(client, grant_type="authorization_code", code=code)
    assert reused.status_code == 400
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["type"] == "https://developers.amocrm.ru/v3/errors/OAuthProblemJson"
    assert reused.json()["hint"] == "Authorization code has been revoked"

    # when we refresh, the refresh token rotates, and the old one still works until the new one is used
    r1 = tokens["refresh_token"]
    second = oauth(client, grant_type="refresh_token", refresh_token=r1).json()
    assert second["refresh_token"] != r1
    again = oauth(client, grant_type="refresh_token", refresh_token=r1)
    assert again.status_code == 200  # e.g. we lost the first answer to a network failure
    r2 = again.json()["refresh_token"]
    assert oauth(client, grant_type="refresh_token", refresh_token=r2).status_code == 200

    # then the old refresh token is dead once its successor was used
    dead = oauth(client, grant_type="refresh_token", refresh_token=r1)
    assert dead.status_code == 400
    assert dead.json()["hint"] == "Token has been revoked"
    bogus = oauth(client, grant_type="refresh_token", refresh_token="nope")
    assert bogus.json()["hint"] == "Invalid refresh token"
    client.close()


def test_oauth_wrong_secret_and_revoked_tokens(fk: FakeKommoServer) -> None:
    # given a connected integration
    client = httpx.Client(base_url=fk.base_url, timeout=5)
    tokens = fk.state.issue_tokens(CLIENT_ID)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}

    # when the client secret is wrong
    wrong = client.post("/oauth2/access_token", json={
        "client_id": CLIENT_ID, "client_secret": "wrong", "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"], "redirect_uri": REDIRECT_URI})

    # then the exchange is refused
    assert wrong.status_code == 401
    assert wrong.json()["hint"] == "Client authentication failed"

    # when the integration is uninstalled (tokens revoked)
    assert client.get("/api/v4/account", headers=bearer).status_code == 200
    client.post("/_fake/oauth/revoke")

    # then the API answers 401 and the refresh token 400
    assert client.get("/api/v4/account", headers=bearer).status_code == 401
    refused = oauth(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refused.status_code == 400
    client.close()


def test_authorize_shortcut_redirects_with_code(fk: FakeKommoServer) -> None:
    # given the demo's consent shortcut
    client = httpx.Client(base_url=fk.base_url, timeout=5)

    # when the browser opens it
    answer = client.get("/oauth", params={"client_id": CLIENT_ID, "state": "csrf1", "redirect_uri": REDIRECT_URI})

    # then it lands on our callback with a usable code, the state and the referer
    assert answer.status_code == 302
    location = urllib.parse.urlsplit(answer.headers["location"])
    params = dict(urllib.parse.parse_qsl(location.query))
    assert location.path == "/kommo/oauth/callback"
    assert params["state"] == "csrf1"
    assert params["referer"] == "demo.kommo.com"
    assert oauth(client, grant_type="authorization_code", code=params["code"]).status_code == 200
    client.close()


def test_api_requires_a_known_bearer_token(fk: FakeKommoServer) -> None:
    # given no token, an unknown token and the long-lived token
    client = httpx.Client(base_url=fk.base_url, timeout=5)

    # when / then
    missing = client.get("/api/v4/leads")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json() == {"title": "Unauthorized", "type": "https://httpstatus.es/401", "status": 401,
                              "detail": "Invalid user name or password"}
    assert client.get("/api/v4/leads", headers={"Authorization": "Bearer nope"}).status_code == 401
    account = client.get("/api/v4/account", headers={"Authorization": f"Bearer {TOKEN}"})
    assert account.status_code == 200
    assert account.headers["content-type"] == "application/hal+json"
    assert {"id": 32720107, "subdomain": "demo"}.items() <= account.json().items()
    client.close()


# -- leads, contacts, pipelines -------------------------------------------------------------------------------


def test_lead_with_contacts_and_contact_phones_and_emails(fk: FakeKommoServer, api: httpx.Client) -> None:
    # given a lead created in the Kommo "UI" with a contact
    lead = api.post("/_fake/leads", json={
        "name": "Pedido 1042", "price": 1000, "tags": ["vip"],
        "contact": {"name": "María Silva", "phones": ["+34600111222", {"value": "+34911222333", "enum_code": "MOB"}],
                    "emails": ["maria@example.com"]}}).json()

    # when we read it with contacts
    answer = api.get(f"/api/v4/leads/{lead['id']}", params={"with": "contacts"})

    # then it has the REST shape, the default stage and only id/is_main/_links per contact
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/hal+json"
    body = answer.json()
    assert body["status_id"] == STATUS_TO_CALL
    assert body["pipeline_id"] == MAIN_PIPELINE_ID
    assert body["custom_fields_values"] is None
    assert [t["name"] for t in body["_embedded"]["tags"]] == ["vip"]
    (contact_ref,) = body["_embedded"]["contacts"]
    assert set(contact_ref) == {"id", "is_main", "_links"}
    assert contact_ref["is_main"] is True
    assert "contacts" not in api.get(f"/api/v4/leads/{lead['id']}").json()["_embedded"]

    # and the contact carries PHONE/EMAIL multitext fields as in section 2.4
    contact = api.get(f"/api/v4/contacts/{contact_ref['id']}").json()
    assert (contact["first_name"], contact["last_name"]) == ("María", "Silva")
    fields = {cf["field_code"]: cf for cf in contact["custom_fields_values"]}
    assert fields["PHONE"]["field_type"] == "multitext"
    assert fields["PHONE"]["values"] == [
        {"value": "+34600111222", "enum_id": 552476, "enum_code": "WORK"},
        {"value": "+34911222333", "enum_id": 552480, "enum_code": "MOB"}]
    assert fields["EMAIL"]["values"] == [{"value": "maria@example.com", "enum_id": 552488, "enum_code": "WORK"}]
    listed = api.get("/api/v4/contacts", params=[("filter[id][]", str(contact_ref["id"])), ("filter[id][]", "1")])
    assert [c["id"] for c in listed.json()["_embedded"]["contacts"]] == [contact_ref["id"]]
    assert api.get("/api/v4/contacts", params={"query": "600 111 222"}).json()["_embedded"]["contacts"][0]["id"] == (
        contact_ref["id"])

    # and unknown ids are 404 problems
    missing = api.get("/api/v4/leads/1")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_pipelines_and_statuses(api: httpx.Client) -> None:
    # when we list the pipelines
    pipelines = api.get("/api/v4/leads/pipelines").json()

    # then Ventas is the main one with its stages, 142/143 in every pipeline
    assert pipelines["_total_items"] == 2
    ventas, postventa = pipelines["_embedded"]["pipelines"]
    assert (ventas["id"], ventas["name"], ventas["is_main"]) == (MAIN_PIPELINE_ID, "Ventas", True)
    statuses = {s["name"]: s for s in ventas["_embedded"]["statuses"]}
    assert statuses["Leads entrantes"]["type"] == 1
    assert [statuses[n]["id"] for n in ("Contacto inicial", "Para Llamar", "Venta Confirmada")] == [
        STATUS_INITIAL_CONTACT, STATUS_TO_CALL, STATUS_SALE_CONFIRMED]
    assert {s["id"] for s in postventa["_embedded"]["statuses"]} == {67548701, WON_STATUS_ID, LOST_STATUS_ID}

    # and the single pipeline is the bare object, the statuses a list
    single = api.get(f"/api/v4/leads/pipelines/{MAIN_PIPELINE_ID}").json()
    assert single["id"] == MAIN_PIPELINE_ID
    assert "_total_items" not in single
    listed = api.get(f"/api/v4/leads/pipelines/{MAIN_PIPELINE_ID}/statuses").json()
    assert len(listed["_embedded"]["statuses"]) == 6
    assert api.get("/api/v4/leads/pipelines/1").status_code == 404


def test_lead_list_pagination_filters_and_limits(fk: FakeKommoServer, api: httpx.Client) -> None:
    # given three leads, two of them in "Contacto inicial"
    for name, status in (("a", STATUS_INITIAL_CONTACT), ("b", STATUS_TO_CALL), ("c", STATUS_INITIAL_CONTACT)):
        fk.state.create_lead(name, status_id=status, emit=False)

    # when we page through them two at a time
    first = api.get("/api/v4/leads", params={"limit": 2, "page": 1}).json()
    second = api.get(first["_links"]["next"]["href"]).json()

    # then _page and _links.next drive the pages
    assert first["_page"] == 1
    assert [x["name"] for x in first["_embedded"]["leads"]] == ["a", "b"]
    assert second["_page"] == 2
    assert "next" not in second["_links"]
    assert [x["name"] for x in second["_embedded"]["leads"]] == ["c"]

    # and the stage filter, the empty answer (204) and the limit check behave as in the contract
    filtered = api.get("/api/v4/leads", params={"filter[statuses][0][status_id]": STATUS_INITIAL_CONTACT,
                                                "filter[statuses][0][pipeline_id]": MAIN_PIPELINE_ID})
    assert [x["name"] for x in filtered.json()["_embedded"]["leads"]] == ["a", "c"]
    empty = api.get("/api/v4/leads", params={"filter[statuses][0][status_id]": WON_STATUS_ID})
    assert (empty.status_code, empty.content) == (204, b"")
    too_many = api.get("/api/v4/leads", params={"limit": 251})
    assert too_many.status_code == 422
    assert too_many.json()["detail"] == "Limit 250 per page"


def test_patch_batch_single_and_validation_errors(fk: FakeKommoServer, api: httpx.Client) -> None:
    # given two leads
    one = fk.state.create_lead("uno", emit=False)["id"]
    two = fk.state.create_lead("dos", emit=False)["id"]

    # when we move both in one batch
    batch = api.patch("/api/v4/leads", json=[
        {"id": one, "status_id": STATUS_SALE_CONFIRMED, "pipeline_id": MAIN_PIPELINE_ID, "request_id": "hub-1"},
        {"id": two, "status_id": LOST_STATUS_ID, "pipeline_id": MAIN_PIPELINE_ID, "loss_reason_id": 4203748}])

    # then the answer has the batch shape of section 2.5 and the leads moved
    assert batch.status_code == 200
    items = batch.json()["_embedded"]["leads"]
    assert [(x["id"], x["request_id"]) for x in items] == [(one, "hub-1"), (two, "1")]
    assert set(items[0]) == {"id", "updated_at", "request_id", "_links"}
    assert api.get(f"/api/v4/leads/{two}").json()["closed_at"] is not None

    # when we PATCH one lead: name, price, custom fields and tags
    single = api.patch(f"/api/v4/leads/{one}", json={
        "name": "uno bis", "price": 50, "tags_to_add": [{"name": "whatsapp"}],
        "custom_fields_values": [{"field_id": SELECT_FIELD_ID, "values": [{"enum_id": 908101}]}]})

    # then the single answer is {id, updated_at, _links} and the lead changed
    assert single.status_code == 200
    assert set(single.json()) == {"id", "updated_at", "_links"}
    lead = api.get(f"/api/v4/leads/{one}").json()
    assert (lead["name"], lead["price"], lead["updated_by"]) == ("uno bis", 50, 11087123)
    assert lead["custom_fields_values"][0]["values"] == [{"value": "WhatsApp", "enum_id": 908101, "enum_code": None}]
    tag_id = lead["_embedded"]["tags"][0]["id"]
    api.patch(f"/api/v4/leads/{one}", json={"tags_to_delete": [{"id": tag_id}]})
    assert api.get(f"/api/v4/leads/{one}").json()["_embedded"]["tags"] == []

    # when a status does not exist (in that pipeline)
    invalid = api.patch("/api/v4/leads", json=[{"id": one, "status_id": STATUS_TO_CALL},
                                               {"id": two, "status_id": 67548701}])

    # then nothing changes and the 400 carries validation-errors per request_id
    assert invalid.status_code == 400
    assert invalid.headers["content-type"] == "application/problem+json"
    body = invalid.json()
    assert (body["title"], body["detail"]) == ("Bad Request", "Request validation failed")
    assert body["validation-errors"] == [{"request_id": "1", "errors": [{
        "code": "NotSupportedChoice", "path": "status_id", "detail": "The value you selected is not a valid choice."}]}]
    assert api.get(f"/api/v4/leads/{one}").json()["status_id"] == STATUS_SALE_CONFIRMED
    assert api.patch("/api/v4/leads", json=[{"status_id": STATUS_TO_CALL}]).status_code == 400
    assert api.patch("/api/v4/leads", json=[{"id": one}] * 251).status_code == 422
    assert api.patch("/api/v4/leads/1", json={"name": "x"}).status_code == 404


def test_notes(fk: FakeKommoServer, api: httpx.Client) -> None:
    # given a lead
    lead_id = fk.state.create_lead("notas", emit=False)["id"]

    # when we add notes through both routes
    batch = api.post("/api/v4/leads/notes", json=[
        {"entity_id": lead_id, "note_type": "common", "params": {"text": "WhatsApp: pide factura"},
         "request_id": "n1"}])
    nested = api.post(f"/api/v4/leads/{lead_id}/notes", json=[
        {"note_type": "service_message", "params": {"service": "Centralita", "text": "Llamada perdida"}}])

    # then the answers have the section 2.7 shape and the notes are listed
    assert batch.status_code == 200
    (note,) = batch.json()["_embedded"]["notes"]
    assert (note["entity_id"], note["request_id"]) == (lead_id, "n1")
    assert note["_links"]["self"]["href"].endswith(f"/api/v4/leads/{lead_id}/notes/{note['id']}")
    assert nested.json()["_embedded"]["notes"][0]["request_id"] == "0"
    listed = api.get(f"/api/v4/leads/{lead_id}/notes").json()["_embedded"]["notes"]
    assert [(n["note_type"], n["params"]["text"]) for n in listed] == [
        ("common", "WhatsApp: pide factura"), ("service_message", "Llamada perdida")]

    # and bad notes are validation errors
    bad = api.post("/api/v4/leads/notes", json=[{"entity_id": 1, "note_type": "nope", "params": {}}])
    assert bad.status_code == 400
    assert {e["path"] for e in bad.json()["validation-errors"][0]["errors"]} == {"entity_id", "note_type"}


def test_webhooks_crud(api: httpx.Client) -> None:
    # given no webhooks
    assert api.get("/api/v4/webhooks").status_code == 204
    destination = "https://hub.example.com/kommo/webhook/3f9c/"

    # when we subscribe twice to the same destination
    created = api.post("/api/v4/webhooks", json={"destination": destination, "settings": ["add_lead"], "sort": 10})
    updated = api.post("/api/v4/webhooks", json={"destination": destination, "settings": ["status_lead", "add_lead"]})

    # then the second POST updates the first; GET lists it wrapped
    assert created.status_code == 201
    assert created.json()["settings"] == ["add_lead"]
    assert updated.json()["id"] == created.json()["id"]
    listed = api.get("/api/v4/webhooks", params={"filter[destination]": destination}).json()
    assert listed["_total_items"] == 1
    (hook,) = listed["_embedded"]["webhooks"]
    assert hook["settings"] == ["status_lead", "add_lead"]
    assert hook["disabled"] is False

    # when we delete it by destination
    deleted = api.request("DELETE", "/api/v4/webhooks", json={"destination": destination})

    # then 204 with no body, and it is gone
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert api.get("/api/v4/webhooks").status_code == 204
    assert api.request("DELETE", "/api/v4/webhooks", json={"destination": destination}).status_code == 404
    bad = api.post("/api/v4/webhooks", json={"destination": destination, "settings": ["nope"]})
    assert bad.status_code == 400


# -- fault injection ------------------------------------------------------------------------------------------


def test_rate_limiter_answers_429_then_blocks_the_ip() -> None:
    # given a fake with the default limiter (7 rps) and a short road to the IP block
    with FakeKommoServer(subdomain="demo", token=TOKEN) as fk, httpx.Client(
            base_url=fk.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5) as api:
        assert fk.state.config.rate_limit == 7
        assert fk.state.config.block_after == 50
        api.post("/_fake/faults", json={"block_after": 3, "retry_after": 2})

        # when we send 8 requests in well under a second
        answers = [api.get("/api/v4/account") for _ in range(8)]

        # then the 8th is a 429 problem with retry_after
        assert [a.status_code for a in answers] == [200] * 7 + [429]
        assert answers[7].headers["content-type"] == "application/problem+json"
        assert answers[7].json()["retry_after"] == 2
        assert answers[7].json()["title"] == "Too Many Requests"

        # when we keep hammering past block_after violations
        statuses = [api.get("/api/v4/account").status_code for _ in range(3)]

        # then the IP is blocked: every request gets a bare HTML 403, even the OAuth endpoint
        assert statuses == [429, 429, 403]
        assert fk.state.rate_limit_violations == 3
        blocked = api.get("/api/v4/leads/pipelines")
        assert blocked.status_code == 403
        assert blocked.headers["content-type"].startswith("text/html")
        assert "403 Forbidden" in blocked.text
        assert api.post("/oauth2/access_token", json={}).status_code == 403
        assert [r["status"] for r in api.get("/_fake/requests").json()["requests"]][-2:] == [403, 403]

        # when the block is lifted
        api.post("/_fake/unblock")

        # then the API answers again
        assert api.get("/api/v4/account").status_code == 200


def test_scripted_faults(fk: FakeKommoServer, api: httpx.Client) -> None:
    # given two scripted 500s on /api/v4/leads
    api.post("/_fake/faults", json={"status": 500, "count": 2, "path_prefix": "/api/v4/leads"})

    # when / then: other paths are untouched, two 500 problems, then normal answers
    assert api.get("/api/v4/account").status_code == 200
    failed = [api.get("/api/v4/leads/pipelines") for _ in range(2)]
    assert [f.status_code for f in failed] == [500, 500]
    assert failed[0].headers["content-type"] == "application/problem+json"
    assert failed[0].json()["title"] == "ErrInternalServer"
    assert api.get("/api/v4/leads/pipelines").status_code == 200

    # given a scripted 429 and a 504
    api.post("/_fake/faults", json=[{"status": 429, "retry_after": 5}, {"status": 504}])

    # then they come in order; the 504 is a gateway's HTML page
    limited = api.get("/api/v4/account")
    assert (limited.status_code, limited.json()["retry_after"]) == (429, 5)
    gateway = api.get("/api/v4/account")
    assert gateway.status_code == 504
    assert gateway.headers["content-type"].startswith("text/html")

    # given a slow answer
    api.post("/_fake/faults", json={"delay": 0.3, "count": 1})
    started = time.monotonic()

    # then it answers normally, late
    assert api.get("/api/v4/account").status_code == 200
    assert time.monotonic() - started >= 0.3

    # given the server is down
    api.post("/_fake/faults", json={"down": True})

    # then connections are closed without an answer (logged with no status) until it is back up
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/api/v4/account")
    assert fk.state.requests[-1]["status"] is None
    api.post("/_fake/faults", json={"down": False})
    assert api.get("/api/v4/account").status_code == 200
    logged = fk.state.requests[-1]
    assert (logged["method"], logged["path"], logged["status"]) == ("GET", "/api/v4/account", 200)


# -- webhooks emitted -----------------------------------------------------------------------------------------


def test_fake_lead_creation_emits_add_and_status_webhooks(fk: FakeKommoServer, api: httpx.Client,
                                                          receiver: Receiver) -> None:
    # given our hub subscribed to add_lead and status_lead
    api.post("/api/v4/webhooks", json={"destination": receiver.url, "settings": ["add_lead", "status_lead"]})

    # when a lead with tags and a date custom field is created in "Para Llamar"
    lead = api.post("/_fake/leads", json={
        "name": "Order 1042", "price": 1000, "tags": ["vip"],
        "custom_fields": [{"field_id": SELECT_FIELD_ID, "values": [{"value": "Teléfono"}]},
                          {"field_id": DATE_FIELD_ID, "values": [{"value": 1725915600}]}],
        "contact": {"name": "Ana Pérez", "phones": ["+34600111222"]}}).json()

    # then two form-encoded POSTs arrive: leads[add], then leads[status] from the pipeline's first stage
    add, status = receiver.wait(2)
    assert add["path"] == "/kommo/webhook/s3cr3t/"
    assert add["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert "leads%5Badd%5D%5B0%5D%5Bid%5D=" in add["body"]
    fields = decoded(add["body"])
    assert fields["leads[add][0][id]"] == str(lead["id"])
    assert fields["leads[add][0][name]"] == "Order 1042"
    assert fields["leads[add][0][status_id]"] == str(STATUS_TO_CALL)
    assert fields["leads[add][0][pipeline_id]"] == str(MAIN_PIPELINE_ID)
    assert fields["leads[add][0][price]"] == "1000"
    assert "leads[add][0][old_status_id]" not in fields
    assert fields["leads[add][0][tags][0][name]"] == "vip"
    assert fields["leads[add][0][tags][0][id]"].isdigit()
    assert fields["leads[add][0][custom_fields][0][id]"] == str(SELECT_FIELD_ID)
    assert fields["leads[add][0][custom_fields][0][values][0][value]"] == "Teléfono"
    assert fields["leads[add][0][custom_fields][0][values][0][enum]"] == "908107"
    assert fields["leads[add][0][custom_fields][1][name]"] == "Fecha de contacto"
    assert fields["leads[add][0][custom_fields][1][values][0]"] == "1725915600"
    assert "leads[add][0][custom_fields][1][values][0][value]" not in fields
    assert (fields["account[subdomain]"], fields["account[id]"]) == ("demo", "32720107")
    assert fields["account[_links][self]"] == "https://demo.kommo.com"
    moved = decoded(status["body"])
    assert moved["leads[status][0][status_id]"] == str(STATUS_TO_CALL)
    assert moved["leads[status][0][old_status_id]"] == str(STATUS_INCOMING)

    # and each attempt is recorded
    deliveries = fk.state.wait_for_deliveries(2)
    assert [(d["events"], d["status"], d["attempt"], d["ok"]) for d in deliveries] == [
        (["leads[add]"], 200, 1, True), (["leads[status]"], 200, 1, True)]
    assert deliveries[0]["body"] == add["body"]


def test_patch_status_change_fires_status_webhook_with_several_items(fk: FakeKommoServer, api: httpx.Client,
                                                                     receiver: Receiver) -> None:
    # given two leads and a status_lead subscription
    one = fk.state.create_lead("uno", status_id=STATUS_INITIAL_CONTACT, emit=False)["id"]
    two = fk.state.create_lead("dos", status_id=STATUS_INITIAL_CONTACT, emit=False)["id"]
    fk.state.subscribe_webhook(receiver.url, ["status_lead"])

    # when both move in one API batch
    api.patch("/api/v4/leads", json=[{"id": one, "status_id": STATUS_SALE_CONFIRMED},
                                     {"id": two, "status_id": WON_STATUS_ID}])

    # then one POST carries leads[status][0] and [1], modified by the API user
    (hit,) = receiver.wait(1)
    fields = decoded(hit["body"])
    assert [fields[f"leads[status][{i}][id]"] for i in (0, 1)] == [str(one), str(two)]
    assert [fields[f"leads[status][{i}][status_id]"] for i in (0, 1)] == [str(STATUS_SALE_CONFIRMED),
                                                                          str(WON_STATUS_ID)]
    assert fields["leads[status][0][old_status_id]"] == str(STATUS_INITIAL_CONTACT)
    assert fields["leads[status][0][modified_user_id]"] == "11087123"
    assert all(isinstance(v, str) for v in fields.values())

    # when the UI moves, updates and deletes a lead through the control API
    fk.state.subscribe_webhook(receiver.url, ["status_lead", "update_lead", "delete_lead"])
    api.post(f"/_fake/leads/{one}/move", json={"status_id": STATUS_TO_CALL})
    api.post(f"/_fake/leads/{one}/update", json={"price": 99})
    api.delete(f"/_fake/leads/{two}")

    # then leads[status] (+ leads[update], [U] default on), leads[update] and the short leads[delete] arrive
    hits = receiver.wait(5)
    keys = [next(iter(decoded(h["body"]))).split("[0]")[0] for h in hits[1:]]
    assert keys == ["leads[status]", "leads[update]", "leads[update]", "leads[delete]"]
    deleted = {k: v for k, v in decoded(hits[4]["body"]).items() if k.startswith("leads")}
    assert deleted == {"leads[delete][0][id]": str(two), "leads[delete][0][status_id]": str(WON_STATUS_ID),
                       "leads[delete][0][pipeline_id]": str(MAIN_PIPELINE_ID)}


def test_webhook_delivery_is_retried_until_accepted(fk: FakeKommoServer) -> None:
    # given a receiver that fails once, and a tiny retry schedule
    flaky = Receiver(statuses=[500])
    try:
        fk.state.subscribe_webhook(flaky.url, ["add_lead"])

        # when two items are emitted in one POST
        queued = fk.state.emit_webhook("leads", "add", [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])

        # then the first attempt fails, the retry succeeds with the same body
        assert queued == 1
        first, second = flaky.wait(2)
        assert (first["answered"], second["answered"]) == (500, 200)
        assert first["body"] == second["body"]
        assert decoded(first["body"])["leads[add][1][name]"] == "b"
        deliveries = fk.state.wait_for_deliveries(2)
        assert [(d["attempt"], d["status"], d["ok"]) for d in deliveries] == [(1, 500, False), (2, 200, True)]
        assert deliveries[0]["next_retry_in"] == 0.1
        assert deliveries[0]["error"] == "HTTP 500"
    finally:
        flaky.close()


def test_webhook_delivery_to_a_dead_endpoint_records_errors(fk: FakeKommoServer) -> None:
    # given a destination nobody listens on and a single retry
    fk.state.configure(retry_schedule=[0.05])
    dead = Receiver()
    url = dead.url
    dead.close()
    fk.state.subscribe_webhook(url, ["add_lead"])

    # when a lead is created
    fk.state.create_lead("sin destino")

    # then both attempts are recorded as errors and no retry is left
    deliveries = fk.state.wait_for_deliveries(2)
    assert [(d["attempt"], d["status"], d["ok"]) for d in deliveries] == [(1, None, False), (2, None, False)]
    assert deliveries[1]["next_retry_in"] is None
    assert "Connection" in deliveries[0]["error"] or "Errno" in deliveries[0]["error"]


def test_encode_webhook_matches_the_contract_sample() -> None:
    # given the section 1.2 sample item
    item = {"id": 15318175, "name": "Order 1042", "status_id": 67548619, "old_status_id": 67548607, "price": 1000,
            "pipeline_id": 8572511, "tags": [{"id": 80147, "name": "vip"}],
            "custom_fields": [{"id": 1246489, "name": "Select", "values": [{"value": 2, "enum": 908107}]},
                              {"id": 1246491, "name": "Date", "values": [1725915600]}]}
    account = {"subdomain": "mycompany", "id": 32720107, "_links": {"self": "https://mycompany.kommo.com"}}

    # when it is encoded
    body = encode_webhook("leads", "status", [item], account)

    # then the wire form and the decoded keys are the contract's
    assert body.startswith("leads%5Bstatus%5D%5B0%5D%5Bid%5D=15318175&leads%5Bstatus%5D%5B0%5D%5Bname%5D=Order+1042")
    assert body.endswith("account%5Bsubdomain%5D=mycompany&account%5Bid%5D=32720107"
                         "&account%5B_links%5D%5Bself%5D=https%3A%2F%2Fmycompany.kommo.com")
    assert urllib.parse.parse_qsl(body) == [
        ("leads[status][0][id]", "15318175"), ("leads[status][0][name]", "Order 1042"),
        ("leads[status][0][status_id]", "67548619"), ("leads[status][0][old_status_id]", "67548607"),
        ("leads[status][0][price]", "1000"), ("leads[status][0][pipeline_id]", "8572511"),
        ("leads[status][0][tags][0][id]", "80147"), ("leads[status][0][tags][0][name]", "vip"),
        ("leads[status][0][custom_fields][0][id]", "1246489"), ("leads[status][0][custom_fields][0][name]", "Select"),
        ("leads[status][0][custom_fields][0][values][0][value]", "2"),
        ("leads[status][0][custom_fields][0][values][0][enum]", "908107"),
        ("leads[status][0][custom_fields][1][id]", "1246491"), ("leads[status][0][custom_fields][1][name]", "Date"),
        ("leads[status][0][custom_fields][1][values][0]", "1725915600"),
        ("account[subdomain]", "mycompany"), ("account[id]", "32720107"),
        ("account[_links][self]", "https://mycompany.kommo.com")]


# -- control API, persistence, CLI ----------------------------------------------------------------------------


def test_control_state_and_reset(fk: FakeKommoServer, api: httpx.Client) -> None:
    # given a lead, a note and a request
    lead_id = api.post("/_fake/leads", json={"name": "estado"}).json()["id"]
    fk.state.add_note(lead_id, "hola")
    api.get("/api/v4/account")

    # when we read the state and the request log
    state = api.get("/_fake/state").json()
    requests = api.get("/_fake/requests").json()["requests"]

    # then they show everything; /_fake/ calls are not logged
    assert [x["id"] for x in state["leads"]] == [lead_id]
    assert state["notes"][0]["params"] == {"text": "hola"}
    assert [r["path"] for r in requests] == ["/api/v4/account"]
    assert requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"

    # when we reset
    api.post("/_fake/reset")

    # then the account is empty again
    state = api.get("/_fake/state").json()
    assert (state["leads"], state["notes"], state["deliveries"]) == ([], [], [])
    assert api.get("/api/v4/leads").status_code == 204


def test_state_file_round_trip(tmp_path: Path) -> None:
    # given a fake with a state file and some data
    path = tmp_path / "kommo.json"
    first = FakeKommo("demo", TOKEN, state_file=path)
    lead = first.create_lead("persistente", contact={"name": "Ana", "phones": ["+34600"]}, emit=False)
    tokens = first.issue_tokens("cid")
    first.close()

    # when a new fake loads it
    second = FakeKommo("demo", TOKEN, state_file=path)

    # then leads, contacts and tokens survive
    reloaded = second.get_lead(lead["id"])
    assert reloaded is not None
    assert reloaded["name"] == "persistente"
    assert second.is_authorized(f"Bearer {tokens['access_token']}")
    assert second.create_lead("siguiente", emit=False)["id"] == lead["id"] + 1
    second.close()


def test_cli_serves_until_sigterm() -> None:
    # given the CLI on an ephemeral port
    process = subprocess.Popen(
        [sys.executable, "-m", "fakes.kommo", "--host", "127.0.0.1", "--port", "0", "--subdomain", "demo",
         "--account-id", "32720107", "--token", TOKEN], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2])
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()

        # when we call it
        assert line.startswith("fake kommo listening on http://127.0.0.1:")
        base_url = line.rsplit(" ", 1)[1]
        answer = httpx.get(f"{base_url}/api/v4/account", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert answer.json()["id"] == 32720107

        # then SIGTERM stops it cleanly
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
