"""Search in the chat (teamchat/search.py) through the database's own indexes. Run on both databases: SQLite (an FTS5
table kept by triggers) and PostgreSQL (a stored tsvector column with a GIN index):

    pytest teamchat/tests/test_search.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test pytest teamchat/tests/test_search.py
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from teamchat import actions, search
from teamchat.choices import ChannelKind, ChannelState
from teamchat.models import Channel, Message
from teamchat.search import ChatHit, search_messages, snippet
from teamchat.tests.factories import ChannelFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db: Any) -> dict[str, User]:
    return {name: UserFactory(username=name, full_name=name.capitalize(), role=Role.AGENTE)
            for name in ("ana", "beto", "carla", "dario")}


@pytest.fixture
def chat(people: dict[str, User]) -> dict[str, Any]:
    """Ana and Beto in a public channel, a private channel and a direct message; Carla in none of them."""
    ana, beto = people["ana"], people["beto"]
    public = ChannelFactory(name="ventas", members=[ana, beto])
    private = ChannelFactory(name="gerencia", private=True, members=[ana, beto])
    direct = ChannelFactory(direct=True, members=[ana, beto])
    return {
        "public": public, "private": private, "direct": direct,
        "meeting": MessageFactory(channel=public, author=ana, body="La Reunión de ventas es el martes a las 9"),
        "salary": MessageFactory(channel=private, author=ana, body="Revisión de salarios: reunión el jueves"),
        "secret": MessageFactory(channel=direct, author=beto, body="¿Almorzamos antes de la reunión?"),
    }


def found(user: User, q: str, **kwargs: Any) -> list[int]:
    return [hit.message.pk for hit in search_messages(user, q, **kwargs)]


# --- matching ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["reunion", "REUNIÓN", "Reunión", "reunión martes", "ventas MARTES"])
def test_accents_and_case_do_not_matter(chat, people, q):
    # when Carla (in no channel) searches without accents, in capitals, with accents
    # then she finds the public channel's "La Reunión de ventas es el martes"
    assert found(people["carla"], q) == [chat["meeting"].pk]


def test_accents_typed_find_text_written_without_them(chat, people):
    # given a message written without accents
    plain = MessageFactory(channel=chat["public"], body="la cotizacion del cliente")
    # when someone types them
    # then it is found anyway
    assert found(people["carla"], "cotización") == [plain.pk]


@pytest.mark.parametrize(("q", "expected"), [("reu", ["meeting"]), ("ventas mar", ["meeting"]), ("re", ["meeting"])])
def test_the_last_word_is_a_prefix_while_typing(chat, people, q, expected):
    assert found(people["carla"], q) == [chat[k].pk for k in expected]


def test_only_the_last_word_is_a_prefix(chat, people):
    # "reu" is not a whole word of the message, and only the last word matches the words it begins
    assert found(people["carla"], "reu martes") == []
    assert found(people["carla"], "martes reu") == [chat["meeting"].pk]


def test_every_word_must_be_in_the_message(chat, people):
    assert found(people["carla"], "reunion jueves") == []
    assert found(people["ana"], "reunion jueves") == [chat["salary"].pk]


def test_words_are_whole_words_not_fragments(chat, people):
    # "union" is inside "reunión" but is not a word of it (and only the last word is a prefix)
    assert found(people["ana"], "union de") == []
    assert found(people["ana"], "union") == []


# --- who reads what ---------------------------------------------------------------------------------------------


def test_a_private_channel_and_a_direct_message_are_not_searched_for_non_members(chat, people):
    # given messages with "reunión" in a public channel, a private channel and a direct message of Ana and Beto
    # when Carla, in none of them, searches
    hits = found(people["carla"], "reunion")
    # then she finds only the public channel's
    assert hits == [chat["meeting"].pk]
    assert found(people["carla"], "salarios") == []
    assert found(people["carla"], "almorzamos") == []


def test_members_find_their_private_channels_and_direct_messages(chat, people):
    # newest first
    expected = [chat["secret"].pk, chat["salary"].pk, chat["meeting"].pk]
    assert found(people["ana"], "reunion") == expected
    assert found(people["beto"], "reunion") == expected


def test_public_and_team_channels_are_searched_without_being_a_member(chat, people):
    # given a team channel Carla is not a member of
    team = ChannelFactory(kind=ChannelKind.TEAM, name="soporte", team=TeamFactory())
    note = MessageFactory(channel=team, body="Turno de reunión del soporte")
    # when she searches
    # then she finds it, as the public channel's message of which she is no member either
    assert found(people["carla"], "reunion") == [note.pk, chat["meeting"].pk]


def test_leaving_a_private_channel_stops_finding_its_messages(chat, people):
    chat["private"].memberships.filter(user=people["beto"]).delete()
    assert chat["salary"].pk not in found(people["beto"], "salarios reunion")
    assert found(people["ana"], "salarios") == [chat["salary"].pk]


def test_an_archived_channel_is_still_searched(chat, people):
    Channel.objects.filter(pk=chat["public"].pk).update(state=ChannelState.ARCHIVED)
    assert found(people["carla"], "martes") == [chat["meeting"].pk]


def test_someone_without_the_chat_finds_nothing(chat, people):
    people["carla"].is_active = False
    people["carla"].save(update_fields=["is_active"])
    assert search_messages(people["carla"], "reunion") == []


# --- deletions and edits ----------------------------------------------------------------------------------------


def test_a_deleted_message_is_never_found(chat, people):
    # when Ana deletes her message (its text goes)
    actions.check_delete_message(people["ana"], chat["meeting"].pk)
    # then no search finds it
    assert found(people["carla"], "reunion") == []
    assert found(people["ana"], "martes") == []


def test_a_message_marked_deleted_is_not_found_even_with_its_text(chat, people):
    # given a row marked deleted whose text is still there (an import, a row written by hand)
    Message.objects.filter(pk=chat["meeting"].pk).update(deleted_at=timezone.now())
    assert found(people["carla"], "martes") == []


def test_an_edit_reaches_the_index(chat, people):
    # when Ana edits her message (SQLite: the update trigger; PostgreSQL: the generated column)
    actions.check_edit_message(people["ana"], chat["meeting"].pk, body="La capacitación es el viernes")
    # then the new words find it and the old ones do not
    assert found(people["carla"], "capacitacion viernes") == [chat["meeting"].pk]
    assert found(people["carla"], "martes") == []
    assert found(people["carla"], "reunion") == []


def test_rows_written_in_bulk_are_found(chat, people):
    rows = Message.objects.bulk_create([Message(channel=chat["public"], body=f"pedido número {i}")
                                        for i in range(3)])
    assert found(people["carla"], "pedido numero") == [m.pk for m in reversed(rows)]


def test_a_removed_message_leaves_the_index(chat, people):
    chat["meeting"].delete()  # retention deletes rows
    assert found(people["carla"], "reunion") == []


# --- order and bounds -------------------------------------------------------------------------------------------


def test_newest_first_and_limited(chat, people):
    rows = [MessageFactory(channel=chat["public"], body=f"factura {i}") for i in range(5)]
    assert found(people["carla"], "factura") == [m.pk for m in reversed(rows)]
    assert found(people["carla"], "factura", limit=2) == [rows[4].pk, rows[3].pk]
    assert len(found(people["carla"], "factura", limit=0)) == 1  # at least one


def test_the_limit_is_capped(chat, people, monkeypatch):
    monkeypatch.setattr(search, "MAX_LIMIT", 3)
    Message.objects.bulk_create([Message(channel=chat["public"], body="envío pendiente") for _ in range(5)])
    assert len(found(people["carla"], "envio", limit=1000)) == 3


def test_query_words_are_capped_and_long_words_cut(chat, people):
    long_word = "x" * 80
    note = MessageFactory(channel=chat["public"], body=f"código {long_word} recibido")
    # a word longer than WORD_MAX is cut and matches as a prefix
    assert found(people["carla"], long_word) == [note.pk]
    # words after MAX_TERMS are ignored (MAX_TERMS whole words of the message, then noise)
    words = search.query_words("uno dos tres cuatro cinco seis siete ocho nueve diez")
    assert [w.text for w in words] == ["uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho"]
    assert [w.prefix for w in words] == [False] * 7 + [True]


@pytest.mark.parametrize("q", ["", "   ", "¿?", '"', "'", "*", "a:*", "x & y | !z", "(", "\\", "NEAR(", 'a"b',
                               "' OR 1=1 --", "%_", "ñ", "😀", "reunión)", "AND", "re* OR ma*", "٣", "ǅ"])
def test_odd_queries_never_fail(chat, people, q):
    assert isinstance(search_messages(people["ana"], q), list)


def test_words_in_what_looks_like_markup_are_found(chat, people):
    # PostgreSQL's parser would take "<y and b>" for an HTML tag, "&amp;" for an entity, and skip <script>'s content
    note = MessageFactory(channel=chat["public"], body="si x<y and b>z usa &amp; o <script>alerta</script>")
    for q in ("and", "amp", "alerta", "y b z"):
        assert found(people["carla"], q) == [note.pk], q


def test_a_query_without_words_finds_nothing(chat, people):
    assert search_messages(people["ana"], "¿?") == []


def test_queries_are_pinned(chat, people, django_assert_num_queries):
    # given hits in a public channel, a private one and a direct message
    # then: (PostgreSQL: the readable channels), the matches, their rows, the direct messages' members
    with django_assert_num_queries(4 if connection.vendor == "postgresql" else 3):
        hits = search_messages(people["ana"], "reunion")
        assert [h.title for h in hits] == ["Beto", "gerencia", "ventas"]


# --- hits -------------------------------------------------------------------------------------------------------


def test_hits_carry_what_the_list_shows(chat, people):
    # when Ana searches
    hits = search_messages(people["ana"], "reunion")
    by_id = {h.message.pk: h for h in hits}
    # then a direct message is named by the other member, a channel by its name
    assert by_id[chat["secret"].pk].title == "Beto"
    assert by_id[chat["meeting"].pk].title == "ventas"
    meeting = by_id[chat["meeting"].pk]
    assert isinstance(meeting, ChatHit) and meeting.channel == chat["public"]
    assert meeting.message.author == people["ana"]
    assert meeting.url == reverse("teamchat:channel", args=[chat["public"].pk]) + f"#m-{chat['meeting'].pk}"
    assert meeting.parts == (("La ", False), ("Reunión", True), (" de ventas es el martes a las 9", False))


def test_a_reply_links_to_its_thread(chat, people):
    reply = MessageFactory(channel=chat["public"], parent=chat["meeting"], body="Llevo el informe de cierre")
    (hit,) = search_messages(people["carla"], "informe")
    assert hit.in_thread and hit.message == reply
    assert hit.url == reverse("teamchat:thread", args=[chat["meeting"].pk]) + f"#t-{reply.pk}"


def test_notes_to_oneself_are_named_after_the_reader(people):
    notes = ChannelFactory(direct=True, members=[people["dario"]])
    MessageFactory(channel=notes, author=people["dario"], body="comprar tóner")
    (hit,) = search_messages(people["dario"], "toner")
    assert hit.title == "Dario"


def test_a_group_is_named_by_its_other_members(people):
    group = ChannelFactory(direct=True, members=[people["ana"], people["beto"], people["carla"]])
    MessageFactory(channel=group, author=people["ana"], body="inventario de bodega")
    (hit,) = search_messages(people["beto"], "bodega")
    assert hit.title == "Ana, Carla"


def test_snippets_are_cut_around_the_first_match_and_every_match_is_marked():
    words = search.query_words("cierre factu")
    body = "Texto de relleno. " * 20 + "El **cierre** de la factura es hoy; la factura sale mañana. " + "Más. " * 40
    parts = snippet(body, words)
    text = "".join(t for t, _m in parts)
    assert text.startswith("…") and text.endswith("…") and "**" not in text
    assert len(text) <= search.SNIPPET_CHARS + 2
    assert [t for t, marked in parts if marked] == ["cierre", "factura", "factura"]


def test_snippet_of_a_short_message_is_whole():
    assert snippet("Hola  *equipo*\n¿todo bien?", search.query_words("equipo")) == (
        ("Hola ", False), ("equipo", True), (" ¿todo bien?", False))


# --- the results fragment ---------------------------------------------------------------------------------------


def test_the_results_fragment(chat, people, client_for):
    # given a message with markup-like text and a reply in a thread
    MessageFactory(channel=chat["public"], author=people["beto"], body="<script>alert('reunión')</script> hoy")
    reply = MessageFactory(channel=chat["public"], parent=chat["meeting"], body="Confirmo la reunión")
    # when Ana searches from the chat's search box (htmx asks for the fragment)
    response = client_for(people["ana"]).get(reverse("teamchat:search"), {"q": "reunion", "partial": "1"},
                                             headers={"HX-Request": "true"})
    html = response.content.decode()
    # then every hit shows where, who and when, its snippet escaped with the match marked, and links to it
    assert response.status_code == 200
    assert html.count('data-testid="chat-search-hit"') == 5
    assert "<script>" not in html and "&lt;script&gt;alert(&#x27;<mark>reunión</mark>&#x27;)&lt;/script&gt;" in html
    assert "#ventas" in html and "#gerencia" in html and ">Beto<" in html.replace("\n", "")
    channel_url = reverse("teamchat:channel", args=[chat["public"].pk])
    assert f'href="{channel_url}#m-{chat["meeting"].pk}"' in html
    assert f'href="{reverse("teamchat:thread", args=[chat["meeting"].pk])}#t-{reply.pk}"' in html
    assert "La <mark>Reunión</mark> de ventas" in html
    assert "<strong>Ana</strong>" in html and "<time datetime=" in html


def test_the_results_fragment_when_nothing_matches(chat, people, client_for):
    response = client_for(people["carla"]).get(reverse("teamchat:search"), {"q": "salarios <b>", "partial": "1"},
                                               headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "Ningún mensaje coincide con «salarios &lt;b&gt;»." in html
    assert 'data-testid="chat-search-hit"' not in html


# --- schema -----------------------------------------------------------------------------------------------------


def test_the_schema_is_there_after_migrate():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname = ANY(%s)", [list(search.PG_INDEXES)])
            assert {r[0] for r in cursor.fetchall()} == set(search.PG_INDEXES)
            cursor.execute("SELECT is_generated FROM information_schema.columns WHERE table_name = %s "
                           "AND column_name = %s", [search.TABLE, search.PG_TSV_COLUMN])
            assert cursor.fetchone()[0] == "ALWAYS"
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s",
                           [search.SQLITE_FTS.name + "%"])
            assert len(cursor.fetchall()) == 3
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [search.SQLITE_FTS.name])
            assert "prefix='2 3'" in cursor.fetchone()[0]
    assert search.ensure_search_schema() == []  # idempotent: nothing missing


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's triggers only")
def test_sqlite_heals_triggers_a_table_rebuild_dropped(chat, people):
    # given the insert trigger gone (Django rebuilding the table in a later migration drops it)
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER teamchat_message_fts_ai")
    note = MessageFactory(channel=chat["public"], body="escrito sin trigger: inventario")
    assert found(people["carla"], "inventario") == []  # not indexed while the trigger was missing
    # when migrate's post_migrate runs
    search.post_migrate_handler(sender=None, using="default")
    # then the trigger is back and the index rebuilt from the messages
    assert found(people["carla"], "inventario") == [note.pk]
    actions.check_edit_message(people["ana"], chat["meeting"].pk, body="nueva agenda")
    assert found(people["carla"], "agenda") == [chat["meeting"].pk]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan")
def test_sqlite_reads_the_fts_table_newest_first(chat, people):
    sql, params = search.readable_channels(people["carla"])
    with connection.cursor() as cursor:
        cursor.execute(
            f"EXPLAIN QUERY PLAN SELECT m.id FROM {search.SQLITE_FTS.name} f JOIN {search.TABLE} m ON m.id = f.rowid "
            f"WHERE {search.SQLITE_FTS.name} MATCH %s AND m.deleted_at IS NULL AND m.channel_id IN ({sql}) "
            "ORDER BY f.rowid DESC LIMIT 50", ['"reunion"*', *params])
        plan = [row[-1] for row in cursor.fetchall()]
    # the FTS table drives (its rowid order serves ORDER BY: no sort), each match's row found by its key
    assert plan[0].startswith("SCAN f VIRTUAL TABLE")
    assert not any("TEMP B-TREE" in step for step in plan)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
def test_postgres_uses_the_gin_index(chat, people):
    # a tiny table would be scanned: ask whether the full-text index applies
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_indexscan = off")
        cursor.execute(f"EXPLAIN SELECT m.id FROM {search.TABLE} m WHERE m.{search.PG_TSV_COLUMN} @@ "
                       "to_tsquery('simple'::regconfig, 'reunion:*') ORDER BY m.id DESC LIMIT 50")
        plan = "\n".join(r[0] for r in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
        cursor.execute("RESET enable_indexscan")
    assert "chat_message_fts_idx" in plan
