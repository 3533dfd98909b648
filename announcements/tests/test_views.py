"""The announcements pages and the banner: wiring, permissions, the banner on every page in one query, confirming from
the banner and from the page, the publisher's confirmation list, the editor, and the image's safe serving."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from accounts.tests.factories import TeamFactory
from announcements import actions
from announcements.choices import AnnouncementState
from announcements.models import Announcement, AnnouncementRecipient
from announcements.tests.factories import PNG, publish
from inbox.attachments import ATTACHMENT_CSP, Upload

pytestmark = pytest.mark.django_db

EVIL = ('Hola <script>alert("x")</script><img src=x onerror="alert(1)"> [clic](javascript:alert(2)) '
        '<a href="https://ok.example" onclick="alert(3)">ok</a>')


def banner_of(html: str) -> str:
    match = re.search(r'<div id="ann-banner".*?</div>\s*<main', html, re.S)
    assert match, "the banner region is on every signed-in page"
    return match.group(0)


# --- the banner ----------------------------------------------------------------------------------------------------

def test_the_banner_shows_on_every_page_until_confirmed(supervisor, agent, client_for):
    # given an announcement that asks for confirmation, published to the agent
    announcement = publish(supervisor, title="Nueva política de devoluciones", requires_ack=True)
    client = client_for(agent)
    # then it shows above another app's page, with its button
    page = client.get(reverse("accounts:profile")).content.decode()
    banner = banner_of(page)
    assert "Nueva política de devoluciones" in banner and "Leído y entendido" in banner
    assert f'action="{reverse("announcements:ack", args=[announcement.pk])}"' in banner
    assert 'data-testid="ann-banner-ack"' in banner
    # when the agent confirms it from the banner (htmx)
    response = client.post(reverse("announcements:ack", args=[announcement.pk]), {"next": "/perfil/"},
                           HTTP_HX_REQUEST="true", HTTP_HX_TARGET="div#ann-banner")
    # then the banner's new content is empty, and it is gone from every page
    assert response.status_code == 200 and "Nueva política" not in response.content.decode()
    assert "Nueva política" not in banner_of(client.get(reverse("accounts:profile")).content.decode())
    assert AnnouncementRecipient.objects.get(user=agent).acked_at is not None


def test_confirming_without_javascript_goes_back_to_the_page(supervisor, agent, client_for):
    announcement = publish(supervisor, requires_ack=True)
    client = client_for(agent)
    response = client.post(reverse("announcements:ack", args=[announcement.pk]), {"next": "/perfil/"})
    assert response.status_code == 302 and response["Location"] == "/perfil/"
    response = client.post(reverse("announcements:ack", args=[announcement.pk]), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("announcements:detail", args=[announcement.pk])


def test_closing_a_banner_without_confirmation_reads_it(supervisor, agent, client_for):
    announcement = publish(supervisor, title="¡Superamos la meta!", category="celebracion")
    client = client_for(agent)
    banner = banner_of(client.get(reverse("accounts:profile")).content.decode())
    assert "¡Superamos la meta!" in banner and "Leído y entendido" not in banner and "Cerrar" in banner
    client.post(reverse("announcements:dismiss", args=[announcement.pk]), HTTP_HX_REQUEST="true",
                HTTP_HX_TARGET="div#ann-banner")
    assert "¡Superamos la meta!" not in banner_of(client.get(reverse("accounts:profile")).content.decode())
    assert AnnouncementRecipient.objects.get(user=agent).read_at is not None


def test_the_banner_costs_one_query_however_many_announcements(supervisor, agent, client_for):
    # given the agent's page without announcements
    client = client_for(agent)
    url = reverse("accounts:profile")
    client.get(url)
    with CaptureQueriesContext(connection) as empty:
        client.get(url)
    # when six announcements wait for them (more than the banner shows)
    for n in range(6):
        publish(supervisor, title=f"Aviso {n}", requires_ack=n % 2 == 0)
    with CaptureQueriesContext(connection) as full:
        page = client.get(url).content.decode()
    # then the page costs the same number of queries, and the banner shows three and a link to the rest
    assert len(full) == len(empty)
    assert [q["sql"] for q in full if "announcements_announcementrecipient" in q["sql"]].__len__() == 1
    banner = banner_of(page)
    assert banner.count("ann-banner-item") == 3
    assert "Hay más anuncios pendientes" in banner


def test_the_banner_fragment_for_live_refreshes(supervisor, agent, client_for):
    client = client_for(agent)
    assert client.get(reverse("announcements:banner")).content.decode().strip() == ""
    announcement = publish(supervisor, title="Recién publicado", requires_ack=True)
    fragment = client.get(reverse("announcements:banner")).content.decode()
    assert "Recién publicado" in fragment and "<html" not in fragment
    # the announcement's own page leaves it out of its banner (its button is on the page)
    assert "Recién publicado" not in client.get(reverse("announcements:banner"),
                                                {"except": announcement.pk}).content.decode()
    page = client.get(reverse("announcements:detail", args=[announcement.pk])).content.decode()
    assert "ann-banner-item" not in banner_of(page)
    assert f"?except={announcement.pk}" in banner_of(page)


def test_a_reminded_banner_says_so(supervisor, agent, client_for):
    announcement = publish(supervisor, requires_ack=True)
    actions.check_remind(supervisor, announcement_id=announcement.pk)
    banner = banner_of(client_for(agent).get(reverse("accounts:profile")).content.decode())
    assert "is-reminded" in banner and "Recordatorio" in banner


def test_nobody_gets_a_banner_for_a_draft_or_an_archived_one(supervisor, agent, client_for):
    actions.check_save_announcement(supervisor, announcement_id=None,
                                    data=actions.AnnouncementInput(title="Borrador secreto"))
    archived = publish(supervisor, title="Ya archivado", requires_ack=True)
    actions.check_archive(supervisor, announcement_id=archived.pk)
    banner = banner_of(client_for(agent).get(reverse("accounts:profile")).content.decode())
    assert "Borrador secreto" not in banner and "Ya archivado" not in banner


# --- the list and an announcement --------------------------------------------------------------------------------

def test_the_list_shows_what_each_person_may_read(supervisor, agent, make_user, client_for):
    ventas = TeamFactory(name="Ventas")
    seller = make_user(teams=[ventas])
    publish(supervisor, title="Para todos")
    publish(supervisor, title="Solo ventas", everyone=False, team_ids=[ventas.pk])
    actions.check_save_announcement(supervisor, announcement_id=None,
                                    data=actions.AnnouncementInput(title="Un borrador"))
    agent_page = client_for(agent).get(reverse("announcements:list")).content.decode()
    seller_page = client_for(seller).get(reverse("announcements:list")).content.decode()
    publisher_page = client_for(supervisor).get(reverse("announcements:list")).content.decode()
    assert "Para todos" in agent_page and "Solo ventas" not in agent_page and "Un borrador" not in agent_page
    assert "Solo ventas" in seller_page
    assert "Un borrador" in publisher_page and 'data-testid="ann-new"' in publisher_page
    assert 'data-testid="ann-new"' not in agent_page
    assert 'data-nav="announcements:list"' in agent_page  # in everybody's menu


def test_the_list_filters_by_category_and_answers_a_fragment(supervisor, agent, client_for):
    publish(supervisor, title="Cumpleaños de Ana", category="celebracion")
    publish(supervisor, title="Nuevo horario", category="procedimiento")
    response = client_for(agent).get(reverse("announcements:list"), {"category": "celebracion"},
                                     HTTP_HX_REQUEST="true", HTTP_HX_TARGET="div#ann-results")
    body = response.content.decode()
    assert "<html" not in body and "Cumpleaños de Ana" in body and "Nuevo horario" not in body
    empty = client_for(agent).get(reverse("announcements:list"), {"category": "politica"}).content.decode()
    assert "Ningún anuncio coincide con los filtros." in empty
    # an unknown category is not an error: the filter is dropped
    assert client_for(agent).get(reverse("announcements:list"), {"category": "x" * 500}).status_code == 200


def test_the_list_query_count_is_flat(supervisor, agent, client_for, django_assert_max_num_queries):
    # given a publisher's list with three announcements
    client = client_for(supervisor)
    team = TeamFactory()
    agent.teams.set([team])
    for n in range(3):
        publish(supervisor, title=f"Aviso {n}", requires_ack=True)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("announcements:list"))
    # when twenty more, for everyone or for a team, are listed / then no query per row
    for n in range(20):
        publish(supervisor, title=f"Otro {n}", everyone=n % 2 == 0, team_ids=[team.pk], requires_ack=n % 3 == 0)
    with django_assert_max_num_queries(len(few)):
        page = client.get(reverse("announcements:list")).content.decode()
    assert page.count('<li class="ann-card') == 23


def test_content_never_runs_in_a_browser(supervisor, agent, client_for):
    announcement = publish(supervisor, title="<script>alert(0)</script>Título", body=EVIL)
    page = client_for(agent).get(reverse("announcements:detail", args=[announcement.pk])).content.decode()
    body = page[page.index('data-testid="ann-body"'):]
    body = body[:body.index("</div>")]
    assert "<script" not in body and "onerror" not in body and "onclick" not in body
    assert 'href="javascript' not in body
    assert "&lt;script&gt;alert(0)&lt;/script&gt;Título" in page


def test_opening_an_announcement_reads_it(supervisor, agent, client_for):
    announcement = publish(supervisor, requires_ack=True)
    page = client_for(agent).get(reverse("announcements:detail", args=[announcement.pk])).content.decode()
    assert 'data-testid="ann-ack"' in page and 'data-testid="ann-acks"' not in page  # no list for readers
    assert AnnouncementRecipient.objects.get(user=agent).read_at is not None
    response = client_for(agent).post(reverse("announcements:ack", args=[announcement.pk]),
                                      HTTP_HX_REQUEST="true", HTTP_HX_TARGET="div#ann-my-ack")
    assert 'data-testid="ann-acked"' in response.content.decode()


def test_what_one_may_not_read_is_404(supervisor, make_user, client_for):
    ventas = TeamFactory()
    make_user(teams=[ventas])
    announcement = publish(supervisor, everyone=False, team_ids=[ventas.pk], requires_ack=True)
    outsider = client_for(make_user())
    for name in ("announcements:detail", "announcements:image"):
        assert outsider.get(reverse(name, args=[announcement.pk])).status_code == 404
    assert outsider.post(reverse("announcements:ack", args=[announcement.pk])).status_code == 404
    assert outsider.post(reverse("announcements:dismiss", args=[announcement.pk])).status_code == 404
    assert outsider.get(reverse("announcements:detail", args=[987654])).status_code == 404


def test_the_publisher_sees_who_confirmed_and_reminds_the_rest(supervisor, make_user, client_for, sent):
    ana = make_user(full_name="Ana Ruiz")
    make_user(full_name="Beto Díaz")
    announcement = publish(supervisor, requires_ack=True)
    actions.check_acknowledge(ana, announcement_id=announcement.pk)
    client = client_for(supervisor)
    page = client.get(reverse("announcements:detail", args=[announcement.pk])).content.decode()
    assert 'data-testid="ann-acks"' in page and "1 de 2 personas confirmaron" in page.replace("\n", " ")
    assert "Ana Ruiz" in page and "Beto Díaz" in page
    pending = client.get(reverse("announcements:acks", args=[announcement.pk]), {"estado": "pendientes"})
    assert "Beto Díaz" in pending.content.decode() and "Ana Ruiz" not in pending.content.decode()
    # the reminder answers the refreshed list (htmx); a second one within the hour is refused in a sentence
    response = client.post(reverse("announcements:remind", args=[announcement.pk]), HTTP_HX_REQUEST="true",
                           HTTP_HX_TARGET="section#ann-acks")
    assert "Recordatorio enviado a 1 persona." in response.content.decode()
    again = client.post(reverse("announcements:remind", args=[announcement.pk]), HTTP_HX_REQUEST="true",
                        HTTP_HX_TARGET="section#ann-acks")
    assert "el próximo puede enviarse desde las" in again.content.decode()
    assert 'data-testid="ann-remind"' not in again.content.decode()


def test_the_confirmation_list_updates_live_and_on_resync(supervisor, agent, client_for):
    announcement = publish(supervisor, requires_ack=True)
    page = client_for(supervisor).get(reverse("announcements:detail", args=[announcement.pk])).content.decode()
    # the region the script refreshes on "centralita:announcement" (this announcement) and "centralita:resync"
    region = re.search(r'<section id="ann-acks"[^>]*>', page).group(0)
    assert "data-ann-live" in region and f'data-ann-id="{announcement.pk}"' in region
    assert f'data-refresh-url="{reverse("announcements:acks", args=[announcement.pk])}"' in region
    assert "announcements/announcements.js" in page  # on every page (core.assets "base")
    assert "announcements/announcements.css" in page


def test_agents_cannot_write_or_see_the_confirmation_list(supervisor, agent, client_for):
    announcement = publish(supervisor, requires_ack=True)
    client = client_for(agent)
    assert client.get(reverse("announcements:create")).status_code == 403
    assert client.get(reverse("announcements:acks", args=[announcement.pk])).status_code == 403
    for name in ("announcements:publish", "announcements:archive", "announcements:remind", "announcements:delete",
                 "announcements:unschedule", "announcements:pin", "announcements:edit"):
        assert client.post(reverse(name, args=[announcement.pk])).status_code == 403, name
    assert client.post(reverse("announcements:preview"), {"body": "x"}).status_code == 403


# --- writing --------------------------------------------------------------------------------------------------

def test_write_preview_publish_and_archive_through_the_pages(supervisor, agent, client_for):
    client = client_for(supervisor)
    ventas = TeamFactory(name="Ventas")
    agent.teams.set([ventas])
    preview = client.post(reverse("announcements:preview"), {"body": "**Hola** " + EVIL}).content.decode()
    assert "<strong>Hola</strong>" in preview and "<script" not in preview
    page = client.get(reverse("announcements:create")).content.decode()
    assert "Ventas" in page and 'data-ann-audience' in page
    response = client.post(reverse("announcements:create"), {
        "title": "Nuevo horario", "body": "De 8 a 17 h.", "category": "procedimiento", "audience": "equipos",
        "teams": [ventas.pk], "requires_ack": "on", "pinned_until": "", "publish_at": "", "intent": "publish",
        "image": SimpleUploadedFile("horario.png", PNG, content_type="image/png")})
    announcement = Announcement.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("announcements:detail", args=[announcement.pk])
    assert announcement.state == AnnouncementState.PUBLISHED and not announcement.everyone
    assert announcement.has_image and announcement.requires_ack
    assert list(announcement.recipients.values_list("user_id", flat=True)) == [agent.pk]
    # a published one is not edited: its editor sends back to it
    assert client.get(reverse("announcements:edit", args=[announcement.pk])).status_code == 302
    client.post(reverse("announcements:pin", args=[announcement.pk]),
                {"pinned_until": (timezone.localdate() + timedelta(days=3)).isoformat()})
    client.post(reverse("announcements:archive", args=[announcement.pk]))
    announcement.refresh_from_db()
    assert announcement.state == AnnouncementState.ARCHIVED and announcement.pinned_until is not None


def test_a_draft_is_saved_edited_scheduled_and_deleted(supervisor, agent, client_for):
    client = client_for(supervisor)
    form = {"title": "Borrador", "body": "", "category": "novedad", "audience": "todos", "intent": "save"}
    client.post(reverse("announcements:create"), form)
    announcement = Announcement.objects.get()
    assert announcement.state == AnnouncementState.DRAFT
    page = client.get(reverse("announcements:edit", args=[announcement.pk])).content.decode()
    assert 'value="Borrador"' in page
    later = timezone.localtime() + timedelta(days=1)
    client.post(reverse("announcements:edit", args=[announcement.pk]),
                {**form, "publish_at": later.strftime("%Y-%m-%dT%H:%M"), "intent": "publish"})
    announcement.refresh_from_db()
    assert announcement.state == AnnouncementState.SCHEDULED
    client.post(reverse("announcements:delete", args=[announcement.pk]))
    assert not Announcement.objects.exists()


def test_a_refused_form_keeps_what_was_written(supervisor, client_for):
    response = client_for(supervisor).post(reverse("announcements:create"), {
        "title": "Para un equipo", "body": "**Texto**", "category": "novedad", "audience": "equipos",
        "intent": "publish"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "<strong>Texto</strong>" in body and "Elija al menos un equipo" in body
    response = client_for(supervisor).post(reverse("announcements:create"), {
        "title": "Con imagen", "category": "novedad", "audience": "todos", "intent": "save",
        "image": SimpleUploadedFile("x.svg", b"<svg/>", content_type="image/svg+xml")})
    assert response.status_code == 400 and "PNG, JPEG, GIF o WebP" in response.content.decode()
    assert not Announcement.objects.exists()


# --- the image -------------------------------------------------------------------------------------------------

def _with_image(supervisor, **fields):
    return publish(supervisor, image=Upload(name='foto"\r\nX-Evil: 1.png', content_type="image/png", data=PNG),
                   **fields)


def test_the_image_is_served_to_its_readers_as_inbox_attachments_are(supervisor, agent, client_for):
    announcement = _with_image(supervisor)
    response = client_for(agent).get(reverse("announcements:image", args=[announcement.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == ATTACHMENT_CSP
    assert "X-Evil" not in response and "\r" not in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == PNG
    page = client_for(agent).get(reverse("announcements:detail", args=[announcement.pk])).content.decode()
    assert f'src="{reverse("announcements:image", args=[announcement.pk])}"' in page


def test_the_image_is_only_for_those_who_may_read_it(supervisor, make_user, client_for):
    ventas = TeamFactory()
    member = make_user(teams=[ventas])
    announcement = _with_image(supervisor, everyone=False, team_ids=[ventas.pk])
    assert client_for(member).get(reverse("announcements:image", args=[announcement.pk])).status_code == 200
    assert client_for(make_user()).get(reverse("announcements:image", args=[announcement.pk])).status_code == 404
    assert client_for(make_user(Role.GERENTE)).get(
        reverse("announcements:image", args=[announcement.pk])).status_code == 200  # a publisher
    actions.check_archive(supervisor, announcement_id=announcement.pk)
    assert client_for(member).get(reverse("announcements:image", args=[announcement.pk])).status_code == 404
    without = publish(supervisor)
    assert client_for(member).get(reverse("announcements:image", args=[without.pk])).status_code == 404


def test_a_stored_type_that_could_run_script_is_a_download(supervisor, agent, client_for):
    # even if a stored description said SVG, it would be served as a sandboxed download (inbox.attachments.serving)
    announcement = _with_image(supervisor)
    Announcement.objects.filter(pk=announcement.pk).update(image={**announcement.image,
                                                                  "content_type": "image/svg+xml"})
    response = client_for(agent).get(reverse("announcements:image", args=[announcement.pk]))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")


def test_a_double_click_on_publicar_publishes_one_announcement(supervisor, agent, client_for):
    # given the new-announcement form, which carries a one-time token
    client = client_for(supervisor)
    page = client.get(reverse("announcements:create")).content.decode()
    token = re.search(r'name="once" value="([0-9a-f]{32})"', page).group(1)
    form = {"title": "Cierre anticipado", "body": "Hoy cerramos a las 16 h.", "category": "novedad",
            "audience": "todos", "intent": "publish", "once": token}
    # when it is refused once (no title), then sent twice as corrected
    refused = client.post(reverse("announcements:create"), {**form, "title": ""})
    assert refused.status_code == 400 and f'value="{token}"' in refused.content.decode()
    first = client.post(reverse("announcements:create"), form)
    second = client.post(reverse("announcements:create"), form)
    # then one announcement exists, published once, and the second click lands on it too
    announcement = Announcement.objects.get()
    assert announcement.state == AnnouncementState.PUBLISHED
    detail = reverse("announcements:detail", args=[announcement.pk])
    assert (first.status_code, first["Location"]) == (302, detail)
    assert (second.status_code, second["Location"]) == (302, detail)
    # and a fresh form (a new token) writes a new one
    again = client.get(reverse("announcements:create")).content.decode()
    assert re.search(r'name="once" value="([0-9a-f]{32})"', again).group(1) != token
