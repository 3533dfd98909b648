"""/api/v1/chat/…: each endpoint's wiring and permissions (the actions decide; the API answers their refusals in the
shared envelope), keyset paging that returns every message exactly once, flat query counts, and bad input as a
clear 4xx — never a 500."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from inbox.attachments import Upload
from teamchat import actions
from teamchat.choices import ChannelKind
from teamchat.models import Channel, Membership, Message, Reaction
from teamchat.tests.factories import ChannelFactory, Listener, MembershipFactory, MessageFactory

pytestmark = pytest.mark.django_db

JSON = "application/json"
API = "/api/v1/chat"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
T0 = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


@pytest.fixture
def ana(make_user):
    return make_user(Role.AGENTE, username="ana", full_name="Ana Ruiz")


@pytest.fixture
def beto(make_user):
    return make_user(Role.AGENTE, username="beto", full_name="Beto Gil")


@pytest.fixture
def carla(make_user):
    return make_user(Role.AGENTE, username="carla", full_name="Carla Díaz")


@pytest.fixture
def as_ana(ana, api_client_for):
    return api_client_for(ana)


def post(client, path, body=None):
    return client.post(path, data=body if body is not None else {}, content_type=JSON)


def patch(client, path, body):
    return client.patch(path, data=body, content_type=JSON)


def ids(page):
    return [m["id"] for m in page["results"]]


# --- channels -------------------------------------------------------------------------------------------------------


def test_the_channel_list_is_the_callers_sidebar_with_unread_counts(ana, beto, carla, as_ana):
    # given Ana in a public channel where Beto wrote twice after her, and in a direct message with Beto
    ventas = ChannelFactory(name="Ventas", topic="Metas del mes", members=[ana, beto])
    MessageFactory(channel=ventas, author=ana)
    MessageFactory.create_batch(2, channel=ventas, author=beto)
    direct = ChannelFactory(direct=True, members=[ana, beto])
    # and channels she is not in: Beto and Carla's private one, Carla's public one, an archived one of hers
    ChannelFactory(private=True, name="Gerencia", members=[beto, carla])
    ChannelFactory(name="Soporte", members=[carla])
    ChannelFactory(name="Viejo", archived=True, members=[ana])
    # when she lists her channels
    response = as_ana.get(f"{API}/channels")
    # then she gets her active ones: named channels first, a direct message named after the other person
    assert response.status_code == 200, response.content
    channels = response.json()
    assert [(c["id"], c["name"], c["kind"], c["unread"]) for c in channels] == [
        (ventas.pk, "Ventas", "publico", 2), (direct.pk, "Beto Gil", "directo", 0)]
    assert channels[0]["topic"] == "Metas del mes" and channels[0]["state"] == "activo"
    assert channels[0]["is_member"] is True and channels[0]["direct_with"] == []
    assert channels[1]["direct_with"] == [{"id": beto.pk, "username": "beto", "name": "Beto Gil"}]
    # and browsing shows the public channel she may join, never the private one
    browse = as_ana.get(f"{API}/channels?browse=1").json()
    assert [(c["name"], c["is_member"]) for c in browse] == [("Soporte", False)]


def test_create_a_channel_and_open_direct_messages(ana, beto, carla, as_ana, django_capture_on_commit_callbacks):
    # given Beto's open tab
    beto_tab = Listener(beto)
    # when Ana creates a private channel with Beto
    with django_capture_on_commit_callbacks(execute=True):
        created = post(as_ana, f"{API}/channels", {"name": "#Proyecto Norte", "topic": "Lanzamiento",
                                                    "private": True, "members": [beto.pk]})
    # then it exists with her as owner, and Beto's tab hears about it
    assert created.status_code == 201, created.content
    channel = created.json()
    assert (channel["name"], channel["kind"], channel["topic"], channel["unread"]) == (
        "Proyecto Norte", "privado", "Lanzamiento", 0)
    assert [(m["username"], m["role"]) for m in channel["members"]] == [("ana", "propietario"), ("beto", "miembro")]
    assert [e["op"] for e in beto_tab.events()] == ["channel_added"]
    # and the same name again, in any case, is a conflict
    taken = post(as_ana, f"{API}/channels", {"name": "proyecto norte"})
    assert (taken.status_code, taken.json()["code"], taken.json()["field"]) == (409, "name_taken", "name")
    # when she opens a direct message with Beto, twice
    first = post(as_ana, f"{API}/channels", {"kind": "direct", "members": [beto.pk]})
    again = post(as_ana, f"{API}/channels", {"kind": "direct", "members": [beto.pk, ana.pk]})
    # then both answer the same conversation, named after Beto
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert (first.json()["kind"], first.json()["name"]) == ("directo", "Beto Gil")
    # and a group with Carla too is another one; notes to herself are hers alone
    group = post(as_ana, f"{API}/channels", {"kind": "direct", "members": [carla.pk, beto.pk]}).json()
    assert (group["kind"], group["name"]) == ("grupo", "Beto Gil, Carla Díaz")
    notes = post(as_ana, f"{API}/channels", {"kind": "direct"}).json()
    assert (notes["kind"], notes["name"], [m["username"] for m in notes["members"]]) == ("directo", "Ana Ruiz",
                                                                                        ["ana"])


def test_a_direct_message_refuses_a_channels_fields(beto, as_ana):
    response = post(as_ana, f"{API}/channels", {"kind": "direct", "members": [beto.pk], "private": True})
    assert (response.status_code, response.json()["code"], response.json()["field"]) == (
        400, "invalid_request", "private")
    assert not Channel.objects.exists()


def test_one_channel_with_its_active_members(ana, beto, as_ana):
    channel = ChannelFactory(name="Ventas", members=[beto, ana])
    MembershipFactory(channel=channel, user=UserFactory(full_name="Zoe Retirada", is_active=False))
    response = as_ana.get(f"{API}/channels/{channel.pk}")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["is_member"]) == ("Ventas", True)
    assert [(m["name"], m["role"]) for m in body["members"]] == [("Ana Ruiz", "miembro"), ("Beto Gil", "propietario")]


# --- history --------------------------------------------------------------------------------------------------------


def test_keyset_pages_return_every_message_exactly_once_in_order(ana, beto, as_ana):
    # given 25 messages in a channel, a reply in a thread, and messages of another channel
    channel = ChannelFactory(members=[ana, beto])
    written = [MessageFactory(channel=channel, author=(ana, beto)[i % 2]).pk for i in range(25)]
    MessageFactory(channel=channel, author=beto, parent_id=written[3])
    MessageFactory.create_batch(3, channel=ChannelFactory(members=[ana]), author=ana)
    url = f"{API}/channels/{channel.pk}/messages"
    # when Ana scrolls back ten at a time from the latest, and one more message arrives after the first page
    pages = [as_ana.get(f"{url}?limit=10").json()]
    MessageFactory(channel=channel, author=beto)
    while pages[-1]["next_before"] is not None:
        pages.append(as_ana.get(f"{url}?limit=10&before={pages[-1]['next_before']}").json())
    # then the pages hold every top-level message once, oldest first within each page, and nothing shifted
    assert [len(p["results"]) for p in pages] == [10, 10, 5]
    assert [i for p in reversed(pages) for i in ids(p)] == written
    assert all(p["next_after"] is None for p in pages)
    # when she catches up from the beginning instead
    forward = [as_ana.get(f"{url}?limit=10&after=0").json()]
    while forward[-1]["next_after"] is not None:
        forward.append(as_ana.get(f"{url}?limit=10&after={forward[-1]['next_after']}").json())
    # then she gets the same messages plus the new one, in order, in three pages (the last one not full)
    caught_up = [i for p in forward for i in ids(p)]
    assert caught_up[:-1] == written and len(caught_up) == 26 and len(forward) == 3


def test_a_full_last_page_has_no_cursor(ana, as_ana):
    channel = ChannelFactory(members=[ana])
    MessageFactory.create_batch(10, channel=channel, author=ana)
    page = as_ana.get(f"{API}/channels/{channel.pk}/messages?limit=10").json()
    assert len(page["results"]) == 10 and page["next_before"] is None
    forward = as_ana.get(f"{API}/channels/{channel.pk}/messages?limit=10&after=0").json()
    assert len(forward["results"]) == 10 and forward["next_after"] is None


def test_a_message_as_the_api_shows_it(ana, beto, as_ana):
    # given Ana's message with bold text, a mention and an image, Beto's reply and two reactions; an edited
    # message and a deleted one
    channel = actions.check_create_channel(ana, name="Ventas", member_ids=[beto.pk])
    root = actions.check_post_message(ana, channel.pk, body="Hola **equipo** @beto",
                                      uploads=[Upload(name="meta.png", content_type="image/png", data=PNG)])
    reply = actions.check_post_message(beto, channel.pk, body="¡Listo!", parent_id=root.pk)
    actions.check_toggle_reaction(beto, root.pk, emoji="👍")
    actions.check_toggle_reaction(ana, root.pk, emoji="👍")
    edited = actions.check_post_message(ana, channel.pk, body="Reunión a las 3")
    actions.check_edit_message(ana, edited.pk, body="Reunión a las 4")
    deleted = actions.check_post_message(beto, channel.pk, body="Ups")
    actions.check_delete_message(beto, deleted.pk)
    # when Ana reads the channel
    page = as_ana.get(f"{API}/channels/{channel.pk}/messages").json()
    # then the replies stay in their thread, and each message carries what the chat shows
    assert ids(page) == [root.pk, edited.pk, deleted.pk]
    first, second, third = page["results"]
    assert first["author"] == {"id": ana.pk, "username": "ana", "name": "Ana Ruiz"}
    assert first["body"] == "Hola **equipo** @beto" and first["channel_id"] == channel.pk
    assert "<strong>equipo</strong>" in first["html"] and 'class="chat-mention">@beto<' in first["html"]
    assert (first["parent_id"], first["reply_count"], first["mentions"]) == (None, 1, [beto.pk])
    assert first["reactions"] == [{"emoji": "👍", "count": 2, "mine": True, "names": ["Beto Gil", "Ana Ruiz"]}]
    [attachment] = first["attachments"]
    assert (attachment["name"], attachment["content_type"], attachment["size"]) == ("meta.png", "image/png",
                                                                                   len(PNG))
    assert attachment["url"] == f"http://testserver/chat/m/{root.pk}/archivo/0"
    assert attachment["api_url"] == f"http://testserver{API}/messages/{root.pk}/files/0"
    assert (second["body"], second["edited_at"] is not None, second["deleted"]) == ("Reunión a las 4", True, False)
    assert (third["body"], third["html"], third["deleted"], third["attachments"]) == ("", "", True, [])
    # and the file comes through the API with the bearer token, served as the inbox serves files
    file = as_ana.get(attachment["api_url"])
    assert file.status_code == 200 and b"".join(file.streaming_content) == PNG
    assert file["Content-Type"] == "image/png" and file["X-Content-Type-Options"] == "nosniff"
    # and the thread reads its replies
    thread = as_ana.get(f"{API}/channels/{channel.pk}/messages?thread={root.pk}").json()
    assert ids(thread) == [reply.pk] and thread["results"][0]["parent_id"] == root.pk
    assert thread["next_before"] is None and thread["next_after"] is None
    # naming a reply reads its whole thread
    assert ids(as_ana.get(f"{API}/channels/{channel.pk}/messages?thread={reply.pk}").json()) == [reply.pk]


def test_a_thread_pages_forward(ana, as_ana):
    channel = ChannelFactory(members=[ana])
    root = MessageFactory(channel=channel, author=ana)
    replies = [MessageFactory(channel=channel, author=ana, parent=root).pk for _ in range(5)]
    url = f"{API}/channels/{channel.pk}/messages?thread={root.pk}&limit=2"
    pages = [as_ana.get(url).json()]
    while pages[-1]["next_after"] is not None:
        pages.append(as_ana.get(f"{url}&after={pages[-1]['next_after']}").json())
    assert [ids(p) for p in pages] == [replies[:2], replies[2:4], replies[4:]]


# --- writing --------------------------------------------------------------------------------------------------------


def test_post_reply_edit_react_and_delete(ana, beto, as_ana, django_capture_on_commit_callbacks):
    # given a channel of Ana and Beto, and Beto's open tab
    channel = ChannelFactory(members=[ana, beto])
    beto_tab = Listener(beto)
    url = f"{API}/channels/{channel.pk}/messages"
    # when Ana writes a message with a file, and replies to it
    with django_capture_on_commit_callbacks(execute=True):
        written = post(as_ana, url, {"body": "Propuesta @beto", "attachments": [
            {"name": "propuesta.pdf", "content_type": "application/pdf", "data": base64.b64encode(b"%PDF").decode()}]})
        assert written.status_code == 201, written.content
        message = written.json()
        reply = post(as_ana, url, {"body": "Detalles en el hilo", "parent_id": message["id"]})
    # then both are stored as written, and Beto's tab hears each
    assert (message["body"], message["mentions"], message["attachments"][0]["name"]) == (
        "Propuesta @beto", [beto.pk], "propuesta.pdf")
    assert reply.status_code == 201 and reply.json()["parent_id"] == message["id"]
    heard = [(e["op"], e["message_id"]) for e in beto_tab.events()]
    assert heard == [("message", message["id"]), ("message", reply.json()["id"])]
    assert Message.objects.get(pk=message["id"]).reply_count == 1
    # when she edits it
    edited = patch(as_ana, f"{API}/messages/{message['id']}", {"body": "Propuesta final"})
    assert edited.status_code == 200
    assert edited.json()["body"] == "Propuesta final" and edited.json()["edited_at"] is not None
    # and reacts, then takes the reaction back
    reacted = post(as_ana, f"{API}/messages/{message['id']}/reactions", {"emoji": "🎉"})
    assert reacted.json() == {"added": True, "reactions": [
        {"emoji": "🎉", "count": 1, "mine": True, "names": ["Ana Ruiz"]}]}
    assert post(as_ana, f"{API}/messages/{message['id']}/reactions", {"emoji": "🎉"}).json() == {
        "added": False, "reactions": []}
    # and deletes it
    assert as_ana.delete(f"{API}/messages/{message['id']}").status_code == 204
    # then "Mensaje borrado" stays in its place with its reply
    shown = as_ana.get(url).json()["results"][0]
    assert (shown["id"], shown["deleted"], shown["body"], shown["reply_count"]) == (message["id"], True, "", 1)
    again = as_ana.delete(f"{API}/messages/{message['id']}")
    assert (again.status_code, again.json()["code"]) == (404, "message_not_found")


def test_writing_in_a_public_channel_joins_it_but_not_in_a_team_channel(ana, beto, as_ana):
    public = ChannelFactory(members=[beto])
    response = post(as_ana, f"{API}/channels/{public.pk}/messages", {"body": "Hola"})
    assert response.status_code == 201
    assert Membership.objects.filter(channel=public, user=ana).exists()
    team = ChannelFactory(kind=ChannelKind.TEAM, team=TeamFactory(), members=[beto])
    refused = post(as_ana, f"{API}/channels/{team.pk}/messages", {"body": "Hola"})
    assert (refused.status_code, refused.json()["code"]) == (403, "not_member")


def test_mark_read_and_unread_counts(ana, beto, as_ana, django_capture_on_commit_callbacks):
    # given three messages of Beto that Ana has not read
    channel = ChannelFactory(members=[ana, beto])
    first, _second, last = MessageFactory.create_batch(3, channel=channel, author=beto)
    assert as_ana.get(f"{API}/unread").json() == {"total": 3, "channels": {str(channel.pk): 3}}
    ana_tab = Listener(ana)
    url = f"{API}/channels/{channel.pk}/read"
    # when she reads up to the first one
    with django_capture_on_commit_callbacks(execute=True):
        response = post(as_ana, url, {"up_to": first.pk})
    # then her mark moves there, her other tabs hear it, and two remain unread
    assert response.json() == {"last_read_id": first.pk}
    assert [(e["op"], e["last_read_id"]) for e in ana_tab.events()] == [("read", first.pk)]
    assert as_ana.get(f"{API}/unread").json()["total"] == 2
    # when she reads everything (an empty body), then asks to go back
    everything = as_ana.post(url, data="", content_type=JSON)
    back = post(as_ana, url, {"up_to": first.pk})
    # then the mark is the latest message, and it never moves back
    assert everything.json() == back.json() == {"last_read_id": last.pk}
    assert as_ana.get(f"{API}/channels").json()[0]["unread"] == 0
    assert post(as_ana, url, {"up_to": last.pk + 1000}).json() == {"last_read_id": last.pk}


# --- permissions ----------------------------------------------------------------------------------------------------


def test_a_private_channel_or_someone_elses_direct_message_is_not_found(ana, beto, carla, as_ana):
    # given Beto and Carla's private channel and direct message, each with a message with a file, and a public
    # channel Ana reads
    private = ChannelFactory(private=True, members=[beto, carla])
    direct = ChannelFactory(direct=True, members=[beto, carla])
    public = ChannelFactory(members=[ana, beto])
    for channel in (private, direct):
        message = actions.check_post_message(beto, channel.pk, body="Reservado", uploads=[
            Upload(name="a.png", content_type="image/png", data=PNG)])
        # when Ana tries every endpoint on them
        answers = {
            "channel": as_ana.get(f"{API}/channels/{channel.pk}"),
            "history": as_ana.get(f"{API}/channels/{channel.pk}/messages"),
            "thread elsewhere": as_ana.get(f"{API}/channels/{public.pk}/messages?thread={message.pk}"),
            "post": post(as_ana, f"{API}/channels/{channel.pk}/messages", {"body": "Hola"}),
            "read": post(as_ana, f"{API}/channels/{channel.pk}/read"),
            "edit": patch(as_ana, f"{API}/messages/{message.pk}", {"body": "x"}),
            "delete": as_ana.delete(f"{API}/messages/{message.pk}"),
            "react": post(as_ana, f"{API}/messages/{message.pk}/reactions", {"emoji": "👍"}),
            "file": as_ana.get(f"{API}/messages/{message.pk}/files/0"),
        }
        # then each is a 404, as if they did not exist, and nothing changed
        assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(answers, 404)
        assert {answers[k].json()["code"] for k in ("channel", "history", "post", "read")} == {"channel_not_found"}
        assert {answers[k].json()["code"] for k in ("thread elsewhere", "edit", "delete", "react", "file")} == {
            "message_not_found"}
        message.refresh_from_db()
        assert (message.body, message.deleted_at) == ("Reservado", None)
    assert not Reaction.objects.exists()
    assert Message.objects.filter(author=ana).count() == 0


def test_nobody_edits_or_deletes_someone_elses_message(ana, beto, as_ana, api_client_for, make_user):
    # given Beto's message in a channel Ana is in, and a chat manager (gerente) in it too
    manager = make_user(Role.GERENTE, username="gerente")
    channel = ChannelFactory(members=[ana, beto, manager])
    message = actions.check_post_message(beto, channel.pk, body="Mi mensaje")
    # when Ana edits or deletes it
    edit = patch(as_ana, f"{API}/messages/{message.pk}", {"body": "Cambiado"})
    delete = as_ana.delete(f"{API}/messages/{message.pk}")
    # then both are refused
    assert (edit.status_code, edit.json()["code"]) == (403, "forbidden")
    assert (delete.status_code, delete.json()["code"]) == (403, "forbidden")
    # and a chat manager may remove it, never rewrite it
    as_manager = api_client_for(manager)
    assert patch(as_manager, f"{API}/messages/{message.pk}", {"body": "Cambiado"}).status_code == 403
    assert as_manager.delete(f"{API}/messages/{message.pk}").status_code == 204
    message.refresh_from_db()
    assert message.deleted_at is not None


def test_an_archived_channel_is_read_only(ana, beto, as_ana):
    # given an archived channel with Ana's message
    channel = ChannelFactory(archived=True, members=[ana, beto])
    message = MessageFactory(channel=channel, author=ana)
    # when she writes, edits or reacts
    answers = [post(as_ana, f"{API}/channels/{channel.pk}/messages", {"body": "Hola"}),
               patch(as_ana, f"{API}/messages/{message.pk}", {"body": "Otro"}),
               post(as_ana, f"{API}/messages/{message.pk}/reactions", {"emoji": "👍"})]
    # then each is a conflict with the channel's state, and its history still reads
    assert [(r.status_code, r.json()["code"]) for r in answers] == [(409, "channel_archived")] * 3
    assert ids(as_ana.get(f"{API}/channels/{channel.pk}/messages").json()) == [message.pk]


def test_a_message_is_edited_for_seven_days(ana, as_ana):
    channel = ChannelFactory(members=[ana])
    with time_machine.travel(T0, tick=False):
        message = actions.check_post_message(ana, channel.pk, body="Hola")
    with time_machine.travel(T0 + timedelta(days=8), tick=False):
        response = patch(as_ana, f"{API}/messages/{message.pk}", {"body": "Hola de nuevo"})
    assert (response.status_code, response.json()["code"]) == (409, "edit_window_over")


def test_without_a_token_nothing_answers(client):
    channel = ChannelFactory()
    for response in (client.get(f"{API}/channels"), client.get(f"{API}/channels/{channel.pk}/messages"),
                     client.post(f"{API}/channels", data={"name": "x"}, content_type=JSON)):
        assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")


# --- query counts ---------------------------------------------------------------------------------------------------


def test_channel_list_query_count_is_flat(ana, as_ana, django_assert_num_queries):
    # given 20 channels and 10 direct messages, each with unread messages of others
    others = UserFactory.create_batch(10)
    for i in range(20):
        channel = ChannelFactory(members=[ana, *others[:3]])
        MessageFactory.create_batch(2, channel=channel, author=others[i % 10])
    for other in others:
        MessageFactory(channel=ChannelFactory(direct=True, members=[ana, other]), author=other)
    # when she lists them: the token (read, and its last use written), her channels' unread counts, the channels,
    # their other members
    with django_assert_num_queries(5):
        response = as_ana.get(f"{API}/channels")
    # then all 30 are there
    assert len(response.json()) == 30 and sum(c["unread"] for c in response.json()) == 50


def test_message_page_query_count_is_flat(ana, as_ana, django_assert_num_queries):
    # given 60 messages by different people, each with reactions of two others and a file, some with replies
    people = UserFactory.create_batch(6)
    channel = ChannelFactory(members=[ana, *people])
    for i in range(60):
        message = MessageFactory(channel=channel, author=people[i % 6], reply_count=i % 3, attachments=[
            {"name": f"f{i}.png", "content_type": "image/png", "size": 10, "path": f"chat/x/{i}.png"}])
        Reaction.objects.bulk_create([Reaction(message=message, user=people[(i + k) % 6], emoji="👍")
                                      for k in (1, 2)])
    # when Ana reads the latest 50: the token (read, and its last use written), the channel and her membership, the
    # page with its authors, its reactions with their users, the members' names for mentions, whether older
    # messages exist
    with django_assert_num_queries(8):
        response = as_ana.get(f"{API}/channels/{channel.pk}/messages")
    # then the page is complete
    page = response.json()
    assert len(page["results"]) == 50 and page["next_before"] == page["results"][0]["id"]
    assert all(m["reactions"][0]["count"] == 2 and len(m["attachments"]) == 1 for m in page["results"])


# --- bad input ------------------------------------------------------------------------------------------------------


@pytest.fixture
def world(ana, beto):
    channel = ChannelFactory(members=[ana, beto])
    message = MessageFactory(channel=channel, author=ana)
    return {"c": channel.pk, "m": message.pk}


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("get", "/channels/99999999999999999999", None, 400, "invalid_request"),
    ("get", "/channels/0", None, 400, "invalid_request"),
    ("get", "/channels/abc", None, 400, "invalid_request"),
    ("get", "/channels/987654321", None, 404, "channel_not_found"),
    ("get", "/channels?browse=quizas", None, 400, "invalid_request"),
    ("get", "/channels/{c}/messages?limit=0", None, 400, "invalid_request"),
    ("get", "/channels/{c}/messages?limit=101", None, 400, "invalid_request"),
    ("get", "/channels/{c}/messages?before=abc", None, 400, "invalid_request"),
    ("get", "/channels/{c}/messages?before=-1", None, 400, "invalid_request"),
    ("get", "/channels/{c}/messages?after=99999999999999999999", None, 400, "invalid_request"),
    ("get", "/channels/{c}/messages?before=5&after=3", None, 400, "invalid_paging"),
    ("get", "/channels/{c}/messages?thread={m}&before=3", None, 400, "invalid_paging"),
    ("get", "/channels/{c}/messages?thread=987654321", None, 404, "message_not_found"),
    ("get", "/channels/987654321/messages", None, 404, "channel_not_found"),
    ("post", "/channels", {}, 400, "name_required"),
    ("post", "/channels", {"name": "#  "}, 400, "name_required"),
    ("post", "/channels", {"name": "x" * 81}, 400, "invalid_request"),
    ("post", "/channels", {"name": 5}, 400, "invalid_request"),
    ("post", "/channels", {"name": "x", "colour": "red"}, 400, "invalid_request"),
    ("post", "/channels", {"name": "x", "members": ["3"]}, 400, "invalid_request"),
    ("post", "/channels", {"name": "x", "members": [987654321]}, 400, "user_not_found"),
    ("post", "/channels", {"kind": "grupo"}, 400, "invalid_request"),
    ("post", "/channels", {"kind": "direct", "members": [987654321]}, 400, "user_not_found"),
    ("post", "/channels", "", 400, "invalid_request"),
    ("post", "/channels", [], 400, "invalid_request"),
    ("post", "/channels/{c}/messages", {}, 400, "body_required"),
    ("post", "/channels/{c}/messages", {"body": "   "}, 400, "body_required"),
    ("post", "/channels/{c}/messages", {"body": "x" * 4001}, 400, "invalid_request"),
    ("post", "/channels/{c}/messages", {"body": "x", "parent_id": 987654321}, 404, "message_not_found"),
    ("post", "/channels/{c}/messages", {"body": "x", "parent_id": "1"}, 400, "invalid_request"),
    ("post", "/channels/{c}/messages", {"body": "x", "parent_id": 2**64}, 400, "invalid_request"),
    ("post", "/channels/{c}/messages", {"attachments": [{"name": "a", "data": "%%%"}]}, 400, "invalid_attachment"),
    ("post", "/channels/{c}/messages", "", 400, "invalid_request"),
    ("post", "/channels/987654321/messages", {"body": "x"}, 404, "channel_not_found"),
    ("patch", "/messages/{m}", {}, 400, "invalid_request"),
    ("patch", "/messages/{m}", {"body": " "}, 400, "body_required"),
    ("patch", "/messages/987654321", {"body": "x"}, 404, "message_not_found"),
    ("delete", "/messages/987654321", None, 404, "message_not_found"),
    ("post", "/messages/{m}/reactions", {"emoji": "abc"}, 400, "invalid_request"),
    ("post", "/messages/{m}/reactions", {"emoji": ""}, 400, "invalid_request"),
    ("post", "/messages/{m}/reactions", {"emoji": "👍" * 17}, 400, "invalid_request"),
    ("post", "/messages/{m}/reactions", {}, 400, "invalid_request"),
    ("post", "/messages/{m}/reactions", {"emoji": "é"}, 400, "emoji_invalid"),
    ("post", "/channels/{c}/read", {"up_to": -1}, 400, "invalid_request"),
    ("post", "/channels/{c}/read", {"up_to": "5"}, 400, "invalid_request"),
    ("post", "/channels/{c}/read", {"up_to": 2**64}, 400, "invalid_request"),
    ("get", "/messages/{m}/files/10", None, 400, "invalid_request"),
    ("get", "/messages/{m}/files/0", None, 404, "not_found"),
])
def test_bad_input_is_a_clear_4xx(as_ana, world, method, path, body, status, code):
    url = API + path.format(**world)
    if method == "get":
        response = as_ana.get(url)
    elif method == "delete":
        response = as_ana.delete(url)
    else:
        response = getattr(as_ana, method)(url, data=body, content_type=JSON)
    assert response.status_code == status, response.content
    assert response.json()["code"] == code and response.json()["detail"]


def test_the_openapi_document_describes_the_chats_own_schemas():
    # given the OpenAPI document, whose components are keyed by class name across every app (an inbox `MessageIn`
    # once stood in for the chat's, and the fuzzer sent `parent_id` to the inbox)
    from pydantic import BaseModel

    from config.api import api
    from teamchat import api as chat_api

    components = api.get_openapi_schema()["components"]["schemas"]
    schemas = [obj for obj in vars(chat_api).values()
               if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == chat_api.__name__
               and obj.__name__ in components]
    # then each chat schema in it has exactly its own fields
    assert len(schemas) >= 15
    assert {s.__name__: sorted(components[s.__name__]["properties"]) for s in schemas} == {
        s.__name__: sorted(s.model_fields) for s in schemas}
