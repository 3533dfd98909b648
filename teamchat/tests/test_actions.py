"""The team chat's actions: who reads what, messages, threads, mentions, edits and deletions with their history,
reactions, unread counts, team channels, retention — and the realtime events each sends, read from the real
(in-memory) channel layer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from accounts.models import User
from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from core.errors import ConflictError, NotFoundError, PermissionDeniedError
from core.models import AuditLog
from leads.tests.factories import CustomerFactory
from orders.models import Order
from teamchat import actions, selectors
from teamchat.choices import ChannelKind, ChannelState
from teamchat.models import Channel, ChatSettings, Membership, Message, MessageRevision
from teamchat.tests.factories import Listener

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


@pytest.fixture
def people(db: Any) -> dict[str, User]:
    return {name: UserFactory(username=name, full_name=name.capitalize(), role=role) for name, role in (
        ("ana", Role.AGENTE), ("beto", Role.AGENTE), ("carla", Role.AGENTE), ("sofia", Role.SUPERVISOR),
        ("admin", Role.ADMIN))}


def _post(user: User, channel: Channel, body: str, **kwargs: Any) -> Message:
    return actions.check_post_message(user, channel.pk, body=body, **kwargs)


def test_public_channel_messages_reach_members_and_count_unread(people, django_capture_on_commit_callbacks):
    # given a public channel of Ana with Beto, and Carla who is not a member
    ana, beto, carla = people["ana"], people["beto"], people["carla"]
    channel = actions.check_create_channel(ana, name="Ventas norte", member_ids=[beto.pk])
    beto_tab, carla_tab = Listener(beto), Listener(carla)
    # when Ana writes twice
    with django_capture_on_commit_callbacks(execute=True):
        first = _post(ana, channel, "Hola equipo")
        _post(ana, channel, "¿Quién cubre el turno?")
    # then Beto's tab hears both (names, not ids, for the notification) and Carla's nothing
    sent = [e for e in beto_tab.events() if e["op"] == "message"]
    assert [e["message_id"] for e in sent] == sorted(e["message_id"] for e in sent)
    assert sent[0]["author"] == "Ana" and sent[0]["preview"] == "Hola equipo"
    assert carla_tab.events() == []
    # and Beto has two unread, Ana (the author) none
    assert selectors.unread_counts(beto) == {channel.pk: 2}
    assert selectors.unread_counts(ana) == {channel.pk: 0}
    # when Beto reads up to the first
    actions.check_mark_read(beto, channel.pk, up_to=first.pk)
    # then one is left; reading everything leaves none, and the mark never goes back
    assert selectors.unread_counts(beto) == {channel.pk: 1}
    actions.check_mark_read(beto, channel.pk)
    actions.check_mark_read(beto, channel.pk, up_to=first.pk)
    assert selectors.unread_counts(beto) == {channel.pk: 0}


def test_unread_counts_for_fifty_channels_are_one_query(people, django_assert_num_queries):
    # given Ana in 50 channels with messages from Beto
    ana, beto = people["ana"], people["beto"]
    for i in range(50):
        ch = actions.check_create_channel(beto, name=f"Canal {i}", member_ids=[ana.pk])
        for j in range(i % 3):
            _post(beto, ch, f"mensaje {j}")
    # when / then: one query
    with django_assert_num_queries(1):
        counts = selectors.unread_counts(ana)
    assert len(counts) == 50
    assert sum(counts.values()) == sum(i % 3 for i in range(50))


def test_private_channel_and_direct_messages_are_for_members_only(people):
    # given a private channel of Ana and Beto and a direct message between them
    ana, beto, carla = people["ana"], people["beto"], people["carla"]
    private = actions.check_create_channel(ana, name="Gerencia", private=True, member_ids=[beto.pk])
    direct = actions.check_open_direct(ana, user_ids=[beto.pk])
    message = _post(beto, direct, "solo para ti")
    # then Carla can neither read nor write nor join them, nor reach the message: they "do not exist" for her
    for ch in (private, direct):
        with pytest.raises(NotFoundError):
            actions.access_channel(carla, ch.pk)
        with pytest.raises(NotFoundError):
            _post(carla, ch, "hola")
    with pytest.raises(NotFoundError):
        actions.check_join_channel(carla, private.pk)
    with pytest.raises(NotFoundError):
        actions.check_toggle_reaction(carla, message.pk, emoji="👍")
    # and even a chat manager does not read a direct message, nor delete in it
    with pytest.raises(NotFoundError):
        actions.access_channel(people["admin"], direct.pk)
    # and opening the same direct message again finds the same one, from either side
    assert actions.check_open_direct(beto, user_ids=[ana.pk]).pk == direct.pk
    assert direct.kind == ChannelKind.DIRECT


def test_group_direct_message_is_capped(people):
    ana = people["ana"]
    others = [UserFactory(username=f"p{i}").pk for i in range(9)]
    with pytest.raises(Exception, match="hasta 9"):
        actions.check_open_direct(ana, user_ids=others)
    group = actions.check_open_direct(ana, user_ids=others[:3])
    assert group.kind == ChannelKind.GROUP and len(actions.member_ids(group.pk)) == 4


def test_public_channel_can_be_read_and_joined_by_anyone(people, django_capture_on_commit_callbacks):
    ana, carla = people["ana"], people["carla"]
    channel = actions.check_create_channel(ana, name="Anuncios informales")
    _post(ana, channel, "bienvenidos")
    # Carla reads it without being a member, and joining starts her with everything read
    _channel, membership = actions.access_channel(carla, channel.pk)
    assert membership is None
    actions.check_join_channel(carla, channel.pk)
    assert selectors.unread_counts(carla) == {channel.pk: 0}
    assert AuditLog.objects.filter(action="chat_member.added", changes__reason="joined").exists()


def test_mentions_name_members_only_and_channel_words(people, django_capture_on_commit_callbacks):
    ana, beto, carla = people["ana"], people["beto"], people["carla"]
    channel = actions.check_create_channel(ana, name="Soporte", member_ids=[beto.pk])
    beto_tab = Listener(beto)
    with django_capture_on_commit_callbacks(execute=True):
        m = _post(ana, channel, "@Beto mira esto, y @carla (no está) — @canal atentos")
    assert m.mentions == [beto.pk]  # Carla is not a member: not notified
    assert m.mentions_channel is True
    event = next(e for e in beto_tab.events() if e["op"] == "message")
    assert event["mentioned_ids"] == [beto.pk] and event["mentions_channel"] is True
    assert carla.pk not in event["mentioned_ids"]
    # and the text is stored rendered, with only the member's and the channel's mentions marked
    assert '<strong class="chat-mention">@Beto</strong>' in m.html
    assert '<strong class="chat-mention">@canal</strong>' in m.html and "@carla" in m.html
    assert '<strong class="chat-mention">@carla' not in m.html


def test_the_stored_html_follows_edits_and_deletion_and_rows_without_it_are_rendered(people):
    from teamchat.tests.factories import MessageFactory

    ana, beto = people["ana"], people["beto"]
    channel = actions.check_create_channel(ana, name="Formato", member_ids=[beto.pk])
    # given a message with Markdown-lite, then edited
    m = _post(ana, channel, "Ver **esto** <script>alert(1)</script>")
    assert "<strong>esto</strong>" in m.html and "<script>" not in m.html
    actions.check_edit_message(ana, m.pk, body="Ver _aquello_ @beto")
    m.refresh_from_db()
    assert "<em>aquello</em>" in m.html and '<strong class="chat-mention">@beto</strong>' in m.html
    # and one stored by a bulk load without its HTML
    loaded = MessageFactory(channel=channel, author=beto, body="Cargado **sin** HTML")
    assert loaded.html == ""
    html = selectors.bodies_html(channel, [m, loaded])
    # then the history draws the stored HTML, and renders the other one as the post would have
    assert html[m.pk] == m.html and "<strong>sin</strong>" in html[loaded.pk]
    # when the message is deleted, its HTML goes with its text
    actions.check_delete_message(ana, m.pk)
    m.refresh_from_db()
    assert m.html == "" and selectors.bodies_html(channel, [m]) == {}


def test_threads_count_replies_and_do_not_add_unread(people, django_capture_on_commit_callbacks):
    ana, beto = people["ana"], people["beto"]
    channel = actions.check_create_channel(ana, name="Pedidos", member_ids=[beto.pk])
    root = _post(ana, channel, "¿Alguien revisa el pedido P-000120?")
    actions.check_mark_read(beto, channel.pk)
    reply = _post(beto, channel, "Yo lo veo", parent_id=root.pk)
    reply_to_reply = _post(ana, channel, "Gracias", parent_id=reply.pk)  # joins the same thread
    root.refresh_from_db()
    assert root.reply_count == 2 and reply_to_reply.parent_id == root.pk
    assert [r.pk for r in selectors.thread(root)] == [reply.pk, reply_to_reply.pk]
    assert selectors.unread_counts(beto) == {channel.pk: 0}
    assert [m.pk for m in selectors.history(channel)] == [root.pk]


def test_editing_keeps_the_earlier_text_and_only_the_author_edits(people):
    ana, beto = people["ana"], people["beto"]
    channel = actions.check_create_channel(ana, name="Turnos", member_ids=[beto.pk])
    with time_machine.travel(T0, tick=False):
        m = _post(ana, channel, "Turno de 8 a 4")
        actions.check_edit_message(ana, m.pk, body="Turno de 9 a 5")
    m.refresh_from_db()
    assert m.body == "Turno de 9 a 5" and m.edited_at == T0
    assert list(MessageRevision.objects.filter(message=m).values_list("body", flat=True)) == ["Turno de 8 a 4"]
    with pytest.raises(PermissionDeniedError):
        actions.check_edit_message(beto, m.pk, body="hackeado")
    with time_machine.travel(T0 + timedelta(days=8), tick=False), pytest.raises(ConflictError):
        actions.check_edit_message(ana, m.pk, body="tarde")


def test_deleting_removes_text_files_and_history_and_is_audited(people, django_capture_on_commit_callbacks):
    ana, beto, sofia = people["ana"], people["beto"], people["sofia"]
    channel = actions.check_create_channel(ana, name="General", member_ids=[beto.pk, sofia.pk])
    m = _post(ana, channel, "texto equivocado")
    actions.check_edit_message(ana, m.pk, body="texto equivocado 2")
    actions.check_toggle_reaction(beto, m.pk, emoji="👍")
    # someone else may not delete it (a supervisor is not a chat manager)
    with pytest.raises(PermissionDeniedError):
        actions.check_delete_message(sofia, m.pk)
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_delete_message(ana, m.pk)
    m.refresh_from_db()
    assert m.deleted_at is not None and m.body == "" and not m.revisions.exists() and not m.reactions.exists()
    entry = AuditLog.objects.get(action="chat_message.deleted")
    assert entry.changes == {"message": m.pk, "author": ana.pk, "files": 0}
    # a chat manager removes a message in a public channel
    other = _post(beto, channel, "spam")
    actions.check_join_channel(people["admin"], channel.pk)
    actions.check_delete_message(people["admin"], other.pk)
    assert AuditLog.objects.filter(action="chat_message.deleted", actor=people["admin"]).exists()


def test_reactions_toggle(people):
    ana, beto = people["ana"], people["beto"]
    channel = actions.check_create_channel(ana, name="Logros", member_ids=[beto.pk])
    m = _post(ana, channel, "¡Meta del mes cumplida!")
    assert actions.check_toggle_reaction(beto, m.pk, emoji="🎉") is True
    assert actions.check_toggle_reaction(ana, m.pk, emoji="🎉") is True
    m = Message.objects.prefetch_related("reactions__user").get(pk=m.pk)
    assert selectors.grouped_reactions(m, beto) == [{"emoji": "🎉", "count": 2, "mine": True, "names": ["Beto", "Ana"]}]
    assert actions.check_toggle_reaction(beto, m.pk, emoji="🎉") is False
    with pytest.raises(Exception, match="emoji"):
        actions.check_toggle_reaction(beto, m.pk, emoji="<script>")


def test_archived_channel_is_read_only(people):
    ana, beto = people["ana"], people["beto"]
    channel = actions.check_create_channel(ana, name="Proyecto viejo", member_ids=[beto.pk])
    with pytest.raises(PermissionDeniedError):
        actions.check_archive_channel(beto, channel.pk)  # not an owner
    actions.check_archive_channel(ana, channel.pk)
    channel.refresh_from_db()
    assert channel.state == ChannelState.ARCHIVED
    assert channel.transitions.get().to_state == ChannelState.ARCHIVED
    with pytest.raises(ConflictError):
        _post(beto, channel, "¿hola?")
    actions.check_archive_channel(ana, channel.pk, archived=False)
    assert _post(beto, channel, "de vuelta").pk


def test_membership_changes_are_audited_and_the_last_owner_stays(people):
    ana, beto, carla = people["ana"], people["beto"], people["carla"]
    channel = actions.check_create_channel(ana, name="Compras", private=True)
    actions.check_add_members(ana, channel.pk, user_ids=[beto.pk, carla.pk])
    with pytest.raises(PermissionDeniedError):
        actions.check_remove_member(beto, channel.pk, user_id=carla.pk)
    with pytest.raises(ConflictError):
        actions.check_remove_member(ana, channel.pk, user_id=ana.pk)
    actions.check_remove_member(ana, channel.pk, user_id=carla.pk)
    actions.check_remove_member(beto, channel.pk, user_id=beto.pk)  # leaving
    assert sorted(actions.member_ids(channel.pk)) == [ana.pk]
    reasons = list(AuditLog.objects.filter(action__startswith="chat_member.").order_by("id")
                   .values_list("action", "changes__reason"))
    assert reasons == [("chat_member.added", "added"), ("chat_member.removed", "removed"),
                       ("chat_member.removed", "left")]


def test_team_channels_follow_their_teams(people):
    ana, beto = people["ana"], people["beto"]
    ventas = TeamFactory(name="Ventas", code="ventas")
    ana.teams.add(ventas)
    beto.teams.add(ventas)
    actions.do_sync_team_channels()
    channel = Channel.objects.get(kind=ChannelKind.TEAM, team=ventas)
    assert channel.name == "Ventas" and sorted(actions.member_ids(channel.pk)) == sorted([ana.pk, beto.pk])
    # Beto leaves the team; the sync for his page (or the periodic one) takes him out
    beto.teams.remove(ventas)
    actions.do_sync_team_channels(user=beto)
    assert actions.member_ids(channel.pk) == [ana.pk]
    assert actions.do_sync_team_channels() == 0  # idempotent
    with pytest.raises(Exception, match="equipo"):
        actions.check_add_members(people["admin"], channel.pk, user_ids=[beto.pk])


def test_retention_purges_old_messages_with_their_replies(people):
    ana, beto = people["ana"], people["beto"]
    channel = actions.check_create_channel(ana, name="Efímero", member_ids=[beto.pk])
    with time_machine.travel(T0 - timedelta(days=40), tick=False):
        old = _post(ana, channel, "viejo")
        _post(beto, channel, "respuesta vieja", parent_id=old.pk)
    with time_machine.travel(T0 - timedelta(days=5), tick=False):
        recent_root = _post(ana, channel, "reciente")
    with time_machine.travel(T0 - timedelta(days=35), tick=False):
        Message.objects.filter(pk=recent_root.pk).update(reply_count=0)
        reply_old = Message.objects.create(channel=channel, author=beto, parent=recent_root, body="vieja")
        Message.objects.filter(pk=recent_root.pk).update(reply_count=1)
    with time_machine.travel(T0, tick=False):
        assert actions.do_purge_expired() == 0  # retention off by default
        actions.check_set_retention(people["admin"], days=30)
        assert actions.do_purge_expired() == 3
    assert list(Message.objects.values_list("body", flat=True)) == ["reciente"]
    assert Message.objects.get(pk=recent_root.pk).reply_count == 0
    assert not Message.objects.filter(pk=reply_old.pk).exists()
    assert AuditLog.objects.filter(action="chat_message.purged", changes__messages=3).exists()
    assert ChatSettings.load().retention_days == 30
    with pytest.raises(PermissionDeniedError):
        actions.check_set_retention(ana, days=1)


def test_object_cards_show_only_what_the_reader_may_see(people):
    from teamchat.cards import cards_for

    # given an order of Beto's, linked in a channel Ana and Beto read
    ana, beto = people["ana"], people["beto"]
    order = Order.objects.create(customer=CustomerFactory(name="Rosa Díaz"), agent=beto)
    channel = actions.check_create_channel(beto, name="Ventas sur", member_ids=[ana.pk])
    m = _post(beto, channel, f"Miren https://centralita.example/orders/{order.pk}/ y /clientes/999999/")
    assert m.refs == [{"kind": "order", "id": order.pk}, {"kind": "customer", "id": 999999}]
    # then Beto (his order) sees its card; Ana (an agent, someone else's order) sees none; the missing customer none
    beto_cards = cards_for(beto, [m])[m.pk]
    assert [c["kind"] for c in beto_cards] == ["order"] and "Rosa Díaz" in beto_cards[0]["title"]
    assert cards_for(ana, [m]) == {}
    assert [c["kind"] for c in cards_for(people["sofia"], [m])[m.pk]] == ["order"]


def test_typing_goes_to_the_members_only(people, django_capture_on_commit_callbacks):
    ana, beto, carla = people["ana"], people["beto"], people["carla"]
    channel = actions.check_create_channel(ana, name="Rápido", member_ids=[beto.pk])
    ana_tab, beto_tab, carla_tab = Listener(ana), Listener(beto), Listener(carla)
    with django_capture_on_commit_callbacks(execute=True):
        actions.on_typing(ana, {"type": "chat_typing", "channel_id": channel.pk})
        actions.on_typing(carla, {"type": "chat_typing", "channel_id": channel.pk})  # not a member: ignored
        actions.on_typing(ana, {"type": "chat_typing", "channel_id": "x"})
    # then the channel's members get one event naming Ana (one send to the channel's room: Ana's own pages ignore
    # their own user_id); Carla, not a member, nothing
    assert [(e["op"], e["name"]) for e in beto_tab.events()] == [("typing", "Ana")]
    assert [(e["op"], e["user_id"]) for e in ana_tab.events()] == [("typing", ana.pk)]
    assert carla_tab.events() == []


def test_a_member_removed_stops_receiving_the_channels_events_at_once(people, django_capture_on_commit_callbacks):
    # given Beto's open tab, in the channel's room since his tab connected
    ana, beto, carla = people["ana"], people["beto"], people["carla"]
    channel = actions.check_create_channel(ana, name="Cambios", member_ids=[beto.pk])
    beto_tab = Listener(beto)
    carla_tab = Listener(carla)
    # when Ana removes him and then writes
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_remove_member(ana, channel.pk, user_id=beto.pk)
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_post_message(ana, channel.pk, body="Ya no lo lee Beto")
    # then Beto's tab got only that he was removed
    assert [e["op"] for e in beto_tab.events()] == ["channel_removed"]
    # when Ana adds Carla (already connected), and Carla then writes
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_add_members(ana, channel.pk, user_ids=[carla.pk])
    assert [e["op"] for e in carla_tab.events()] == ["channel_added"]
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_post_message(carla, channel.pk, body="Hola a todos")
    # then Carla's tab, in the room since it applied the change, gets her message live
    carla_events = carla_tab.events()
    assert [e["op"] for e in carla_events] == ["message"]
    assert carla_events[-1]["preview"] == "Hola a todos"


def test_new_members_start_with_history_read(people):
    ana, beto = people["ana"], people["beto"]
    channel = actions.check_create_channel(ana, name="Histórico", private=True)
    for i in range(3):
        _post(ana, channel, f"m{i}")
    actions.check_add_members(ana, channel.pk, user_ids=[beto.pk])
    assert selectors.unread_counts(beto) == {channel.pk: 0}
    assert Membership.objects.get(channel=channel, user=beto).last_read_id == channel.messages.order_by("-id")[0].pk


def test_team_sync_survives_long_team_names_and_descriptions(people):
    # given a team whose name and description are longer than a channel's (a TextField and 100 characters)
    ana = people["ana"]
    long_team = TeamFactory(name="Equipo " + "x" * 92, code="largo", description="Descripción " * 40)
    ana.teams.add(long_team)
    # when the chat syncs (a chat page or the periodic job)
    actions.do_sync_team_channels()
    # then its channel exists, named and described within the limits
    channel = Channel.objects.get(kind=ChannelKind.TEAM, team=long_team)
    assert len(channel.name) <= 80 and len(channel.topic) <= 250 and actions.member_ids(channel.pk) == [ana.pk]
    # and an inactive team's channel is emptied
    long_team.is_active = False
    long_team.save()
    actions.do_sync_team_channels()
    assert actions.member_ids(channel.pk) == []


def test_a_channel_always_keeps_an_owner_and_a_private_one_its_last_member(people):
    ana, beto = people["ana"], people["beto"]
    private = actions.check_create_channel(ana, name="Solo yo", private=True)
    with pytest.raises(ConflictError):
        actions.check_remove_member(ana, private.pk, user_id=ana.pk)  # she would lose it: archive instead
    actions.check_add_members(ana, private.pk, user_ids=[beto.pk])
    with pytest.raises(ConflictError):
        actions.check_set_owner(ana, private.pk, user_id=ana.pk, owner=False)
    actions.check_set_owner(ana, private.pk, user_id=beto.pk, owner=True)
    actions.check_set_owner(ana, private.pk, user_id=ana.pk, owner=False)
    actions.check_archive_channel(beto, private.pk)
    with pytest.raises(ConflictError):
        actions.check_update_channel(beto, private.pk, topic="archivado")


def test_typing_is_throttled_per_person_and_channel(people, django_capture_on_commit_callbacks):
    ana, beto = people["ana"], people["beto"]
    channel = actions.check_create_channel(ana, name="Escribiendo", member_ids=[beto.pk])
    beto_tab = Listener(beto)
    # (the real clock: the in-memory channel layer expires messages by it)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            actions.on_typing(ana, {"type": "chat_typing", "channel_id": channel.pk})
        actions.on_typing(ana, {"type": "chat_typing", "channel_id": float("inf")})
        actions.on_typing(ana, {"type": "chat_typing", "channel_id": 10**30})
    assert len(beto_tab.events()) == 1


def test_retention_deletes_recent_replies_of_expired_roots_with_their_files(people, settings, tmp_path):
    from inbox.attachments import Upload

    settings.MEDIA_ROOT = tmp_path
    ana, beto = people["ana"], people["beto"]
    channel = actions.check_create_channel(ana, name="Archivos viejos", member_ids=[beto.pk])
    with time_machine.travel(T0 - timedelta(days=40), tick=False):
        root = _post(ana, channel, "viejo")
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        reply = _post(beto, channel, "nueva", parent_id=root.pk,
                      uploads=[Upload(name="a.txt", content_type="text/plain", data=b"hola")])
    path = tmp_path / reply.attachments[0]["path"]
    assert path.exists()
    with time_machine.travel(T0, tick=False):
        actions.check_set_retention(people["admin"], days=30)
        from django.test import TestCase

        with TestCase.captureOnCommitCallbacks(execute=True):
            actions.do_purge_expired()
    assert not Message.objects.exists() and not path.exists()
    assert AuditLog.objects.filter(action="chat_message.purged", changes__messages=2).exists()


def test_open_connections_follow_membership_at_commit_even_before_their_page_reacts(
        people, django_capture_on_commit_callbacks):
    import json

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from realtime.events import user_group
    from realtime.models import Connection
    from realtime.rooms import room_group

    # given Beto's and Carla's open connections, registered as the websocket consumer registers them; Beto's joined
    # the channel's room when it opened, Carla's is not a member yet
    ana, beto, carla = people["ana"], people["beto"], people["carla"]
    channel = actions.check_create_channel(ana, name="Inmediato", member_ids=[beto.pk])
    layer = get_channel_layer()
    sockets = {}
    for user in (beto, carla):
        sockets[user.pk] = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(user_group(user.pk), sockets[user.pk])
        Connection.objects.create(user=user, channel_name=sockets[user.pk])
    async_to_sync(layer.group_add)(room_group(actions.room(channel.pk)), sockets[beto.pk])
    # when Ana adds Carla and removes Beto, and writes at once — before either page has read a control message
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_add_members(ana, channel.pk, user_ids=[carla.pk])
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_remove_member(ana, channel.pk, user_id=beto.pk)
    with django_capture_on_commit_callbacks(execute=True):
        actions.check_post_message(ana, channel.pk, body="Solo para quienes están")

    def received(name: str) -> list[dict[str, Any]]:
        out = []
        while layer.channels.get(name) is not None and not layer.channels[name].empty():
            out.append(async_to_sync(layer.receive)(name))
        return out

    # then Carla's connection already has the message, and Beto's got control messages and his removal, not the text
    carla_events = [json.loads(m["text"]) for m in received(sockets[carla.pk]) if m["type"] == "realtime.event"]
    assert "Solo para quienes están" in [e.get("preview") for e in carla_events]
    beto_messages = received(sockets[beto.pk])
    beto_events = [json.loads(m["text"]) for m in beto_messages if m["type"] == "realtime.event"]
    assert "Solo para quienes están" not in [e.get("preview") for e in beto_events]
    assert {"type": "realtime.rooms", "resync": True} in beto_messages
