"""/api/v1/announcements…: the same actions and selectors as the pages; bad input is a clear 4xx, never a 500."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.roles import Role
from accounts.tests.factories import TeamFactory
from announcements import actions
from announcements.models import Announcement, AnnouncementRecipient
from announcements.tests.factories import PNG, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def sup_api(supervisor, api_client_for):
    return api_client_for(supervisor)


@pytest.fixture
def agent_api(agent, api_client_for):
    return api_client_for(agent)


def post(client, path, body=None):
    return client.post(path, data=body, content_type="application/json")


def test_publish_list_confirm_and_see_who_confirmed(sup_api, agent_api, agent, make_user):
    # given a team with the agent in it
    ventas = TeamFactory(name="Ventas")
    agent.teams.set([ventas])
    # when a supervisor publishes to it through the API, with an image
    created = post(sup_api, "/api/v1/announcements", {
        "title": "Nuevo horario", "body": "De **8 a 17 h**.", "category": "procedimiento", "teams": [ventas.pk],
        "requires_ack": True, "image": {"name": "horario.png", "data": base64.b64encode(PNG).decode()}})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["state"], body["everyone"], body["teams"], body["requires_ack"], body["recipients"],
            body["acknowledged"], body["mine"]) == (
        "publicado", False, [{"id": ventas.pk, "name": "Ventas"}], True, 1, 0, None)
    assert body["image_url"] == f"/anuncios/{body['id']}/imagen"
    # then the agent lists it as pending, without the publishers' counts
    listed = agent_api.get("/api/v1/announcements?pending=true").json()
    assert listed["count"] == 1
    item = listed["results"][0]
    assert item["mine"] == {"read_at": None, "acked_at": None} and item["recipients"] is None
    # and confirms it, twice (idempotent)
    first = post(agent_api, f"/api/v1/announcements/{body['id']}/ack")
    second = post(agent_api, f"/api/v1/announcements/{body['id']}/ack")
    assert first.status_code == 200 and first.json()["changed"] is True
    assert second.json()["changed"] is False and second.json()["acked_at"] == first.json()["acked_at"]
    assert agent_api.get("/api/v1/announcements?pending=true").json()["count"] == 0
    # and the publisher sees who confirmed
    acks = sup_api.get(f"/api/v1/announcements/{body['id']}/acks").json()
    assert acks["count"] == 1
    assert acks["results"][0]["user"] == {"id": agent.pk, "username": agent.username, "name": agent.display_name}
    assert acks["results"][0]["acked_at"] is not None and acks["results"][0]["late"] is False
    assert sup_api.get(f"/api/v1/announcements/{body['id']}/acks?status=pending").json()["count"] == 0
    one = agent_api.get(f"/api/v1/announcements/{body['id']}").json()
    assert one["mine"]["acked_at"] is not None


def test_draft_and_schedule_through_the_api(sup_api, agent):
    draft = post(sup_api, "/api/v1/announcements", {"title": "Borrador", "draft": True})
    assert draft.json()["state"] == "borrador" and draft.json()["recipients"] == 0
    later = (timezone.now() + timedelta(days=1)).isoformat()
    scheduled = post(sup_api, "/api/v1/announcements", {"title": "Mañana", "publish_at": later})
    assert scheduled.status_code == 201 and scheduled.json()["state"] == "programado"
    # a publisher's list has them; a reader's does not
    assert sup_api.get("/api/v1/announcements").json()["count"] == 2
    assert sup_api.get("/api/v1/announcements?state=programado").json()["count"] == 1


def test_the_list_is_pinned_first_and_filtered_by_category(sup_api, agent_api, supervisor, agent):
    publish(supervisor, title="Fijado", category="politica", pinned_until=timezone.localdate() + timedelta(days=2))
    publish(supervisor, title="Más nuevo", category="celebracion")
    assert [a["title"] for a in agent_api.get("/api/v1/announcements").json()["results"]] == ["Fijado", "Más nuevo"]
    assert [a["title"] for a in agent_api.get("/api/v1/announcements?category=celebracion").json()["results"]] == [
        "Más nuevo"]
    # a reader asking for drafts still gets only what they may read
    assert agent_api.get("/api/v1/announcements?state=borrador").json()["count"] == 2


def test_the_list_query_count_is_flat(sup_api, supervisor, agent, django_assert_max_num_queries):
    team = TeamFactory()
    agent.teams.set([team])
    publish(supervisor, title="Uno", everyone=False, team_ids=[team.pk])
    with CaptureQueriesContext(connection) as one:
        sup_api.get("/api/v1/announcements")
    for n in range(15):
        publish(supervisor, title=f"Aviso {n}", everyone=n % 2 == 0, team_ids=[team.pk], requires_ack=True)
    with django_assert_max_num_queries(len(one)):
        assert sup_api.get("/api/v1/announcements?page_size=50").json()["count"] == 16


def test_permissions(agent_api, sup_api, supervisor, agent, make_user, api_client_for):
    announcement = publish(supervisor, requires_ack=True)
    assert post(agent_api, "/api/v1/announcements", {"title": "No"}).status_code == 403
    assert agent_api.get(f"/api/v1/announcements/{announcement.pk}/acks").json()["code"] == "forbidden"
    # somebody it is not for: 404, as if it did not exist
    ventas = TeamFactory()
    make_user(teams=[ventas])
    for_team = publish(supervisor, everyone=False, team_ids=[ventas.pk], requires_ack=True)
    assert post(agent_api, f"/api/v1/announcements/{for_team.pk}/ack").status_code == 404
    assert agent_api.get(f"/api/v1/announcements/{for_team.pk}").status_code == 404
    # a publisher it is not for: 409 not_addressed
    response = post(api_client_for(make_user(Role.GERENTE)), f"/api/v1/announcements/{for_team.pk}/ack")
    assert (response.status_code, response.json()["code"]) == (409, "not_addressed")


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"title": "   "}, None, "title"),
    ({"title": "x", "category": "chisme"}, None, "category"),
    ({"title": "x", "teams": [987654]}, "invalid_announcement", None),
    ({"title": "x", "teams": ["ventas"]}, None, "teams.0"),
    ({"title": "x", "pinned_until": "2000-01-01"}, "invalid_announcement", None),
    ({"title": "x", "pinned_until": "mañana"}, None, "pinned_until"),
    ({"title": "x", "publish_at": "2026-12-07T10:00"}, None, "publish_at"),
    ({"title": "x", "publish_at": "3026-12-07T10:00:00Z"}, "invalid_announcement", None),
    ({"title": "x", "image": {"name": "a.png", "data": "no es base64!"}}, "invalid_announcement", None),
    ({"title": "x", "image": {"name": "a.svg", "data": base64.b64encode(b"<svg/>").decode()}},
     "invalid_announcement", None),
    ({"title": "x", "requires_ack": "sí"}, None, "requires_ack"),
    ({"title": "x", "everyone": True}, None, "everyone"),
    ({"title": "x" * 201}, None, "title"),
])
def test_bad_input_is_a_clear_400(sup_api, agent, body, code, field):
    response = post(sup_api, "/api/v1/announcements", body)
    assert response.status_code == 400, response.content
    error = response.json()
    if code:
        assert error["code"] == code
    if field:
        assert field in [e["field"] for e in error["errors"]]
    assert not Announcement.objects.exists()


def test_empty_audience_and_state_conflicts_are_4xx(sup_api, agent_api, supervisor, agent, make_user):
    empty = TeamFactory()
    assert post(sup_api, "/api/v1/announcements", {"title": "x", "teams": [empty.pk]}).json()["code"] == \
        "empty_audience"
    news = publish(supervisor)
    response = post(agent_api, f"/api/v1/announcements/{news.pk}/ack")
    assert (response.status_code, response.json()["code"]) == (409, "ack_not_required")
    asks = publish(supervisor, requires_ack=True)
    actions.check_archive(supervisor, announcement_id=asks.pk)
    assert post(agent_api, f"/api/v1/announcements/{asks.pk}/ack").status_code == 404  # out of their sight
    assert post(sup_api, f"/api/v1/announcements/{asks.pk}/ack").json()["code"] == "announcement_archived"
    for path in ("/api/v1/announcements/0/ack", "/api/v1/announcements/99999999999999999999/ack",
                 "/api/v1/announcements/abc/ack"):
        assert post(agent_api, path).status_code in {400, 404, 422}
    assert sup_api.get(f"/api/v1/announcements/{asks.pk}/acks?status=maybe").status_code == 400
    assert sup_api.get("/api/v1/announcements?category=x").status_code == 400
    assert sup_api.get("/api/v1/announcements/987654/acks").status_code == 404


def test_a_newcomer_confirms_on_their_own(sup_api, supervisor, make_user, api_client_for):
    make_user()
    announcement = publish(supervisor, requires_ack=True)
    newcomer = make_user()
    response = post(api_client_for(newcomer), f"/api/v1/announcements/{announcement.pk}/ack")
    assert response.status_code == 200
    assert AnnouncementRecipient.objects.get(user=newcomer).late is True
    acks = sup_api.get(f"/api/v1/announcements/{announcement.pk}/acks").json()["results"]
    assert [a["late"] for a in acks if a["user"]["id"] == newcomer.pk] == [True]
