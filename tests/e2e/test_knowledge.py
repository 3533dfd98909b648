"""Browser test (issue 18, knowledge base): a supervisor writes an article, watches the live preview, publishes it;
an agent finds it from the conversation's composer without the accent and inserts its text (and its public link)
into the reply, then sends it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import override_settings
from playwright.sync_api import Browser, expect

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from inbox import actions
from inbox.models import Conversation, Message
from knowledge.models import Article
from knowledge.tests.factories import CategoryFactory
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]


def test_a_supervisor_publishes_an_article_and_an_agent_inserts_it_into_a_reply(
        browser: Browser, transactional_db: Any, request: pytest.FixtureRequest) -> None:
    # given a supervisor, an agent with a WhatsApp conversation about a return, and the public help pages on
    UserFactory(username="lucia", role=Role.SUPERVISOR, full_name="Lucía Peña")
    raul = UserFactory(username="raul", role=Role.AGENTE, full_name="Raúl Mendoza", availability="disponible")
    c, _m, _new = actions.do_receive_inbound(channel="whatsapp", body="Hola, ¿cómo hago una devolución?",
                                             customer_name="María José Rodríguez", phones=["+57 311 555 0101"])
    Conversation.objects.filter(pk=c.pk).update(assignee=raul)
    CategoryFactory(name="Envíos y devoluciones")
    with override_settings(KNOWLEDGE_PUBLIC_HELP=True):
        live = request.getfixturevalue("asgi_live_server")

        # when the supervisor writes the article, the preview shows it formatted (and without the script)
        page = login(browser, live, "lucia")
        page.goto(f"{live}/conocimiento/")
        page.get_by_test_id("kb-new").click()
        page.fill("#id_title", "Devoluciones y cambios")
        page.select_option("#id_category", label="Envíos y devoluciones")
        page.fill("#id_body", "Tiene **30 días** para devolver un producto.\n\n- Escríbanos\n- Empaque el producto"
                              "\n\n<script>document.title='x'</script>")
        preview = page.get_by_test_id("kb-preview")
        expect(preview.locator("strong")).to_have_text("30 días")
        expect(preview.locator("li")).to_have_count(2)
        expect(preview.locator("script")).to_have_count(0)
        page.get_by_test_id("kb-save").click()
        expect(page.get_by_test_id("kb-state")).to_have_text("Borrador")
        # and publishes it
        page.get_by_test_id("kb-publish").click()
        expect(page.get_by_test_id("kb-state")).to_have_text("Publicado")
        article = Article.objects.get()
        assert article.state == "publicado" and article.published_at is not None

        # when the agent searches the knowledge base from the composer, without the accent
        agent = login(browser, live, "raul")
        agent.goto(f"{live}/inbox/{c.pk}/")
        box = agent.locator("#reply-body")
        box.fill("Hola María:")
        agent.get_by_test_id("kb-open").click()
        agent.get_by_test_id("kb-search").press_sequentially("devolucion")
        hits = agent.get_by_test_id("kb-hits")
        expect(hits).to_contain_text("Devoluciones y cambios")
        # and inserts its text, then its link
        hits.get_by_test_id("kb-insert-text").first.click()
        expect(box).to_have_value("Hola María:\n\nTiene 30 días para devolver un producto.\n\n- Escríbanos\n"
                                  "- Empaque el producto")
        expect(hits).to_be_hidden()  # the picker closed so the inserted text shows
        agent.get_by_test_id("kb-open").click()
        hits.get_by_test_id("kb-insert-link").first.click()
        expect(box).to_have_value(re.compile(rf"- Empaque el producto Devoluciones y cambios: https?://\S+/ayuda/es/"
                                             rf"{article.slug}/$"))
        # then the reply goes out with the article's text, and the search box was not part of it
        agent.click("#send-reply")
        expect(agent.locator("#timeline")).to_contain_text("Tiene 30 días para devolver un producto.")
        body = Message.objects.get(conversation=c, kind="outbound").body.replace("\r\n", "\n")  # a form's newlines
        assert body.startswith("Hola María:\n\nTiene 30 días para devolver un producto.\n\n- Escríbanos\n")
        assert body.endswith(f"/ayuda/es/{article.slug}/")


def test_an_article_longer_than_the_channels_reply_is_not_inserted_and_the_agent_is_told(
        browser: Browser, asgi_live_server: str) -> None:
    # given an agent's WhatsApp conversation (replies up to 4,096 characters) and a published article of 6,000
    raul = UserFactory(username="raul", role=Role.AGENTE, full_name="Raúl Mendoza", availability="disponible")
    c, _m, _new = actions.do_receive_inbound(channel="whatsapp", body="¿Cuáles son los términos de la garantía?",
                                             customer_name="María José Rodríguez", phones=["+57 311 555 0102"])
    Conversation.objects.filter(pk=c.pk).update(assignee=raul)
    Article.objects.create(title="Términos de la garantía", slug="terminos", body="Cláusula extensa. " * 340,
                           state="publicado", published_at=c.created_at)
    agent = login(browser, asgi_live_server, "raul")
    agent.goto(f"{asgi_live_server}/inbox/{c.pk}/")
    box = agent.locator("#reply-body")
    box.fill("Hola María:")
    # when the agent tries to insert its text
    agent.get_by_test_id("kb-open").click()
    agent.get_by_test_id("kb-search").press_sequentially("garantia")
    hits = agent.get_by_test_id("kb-hits")
    expect(hits).to_contain_text("Términos de la garantía")
    hits.get_by_test_id("kb-insert-text").first.click()
    # then the reply is left as it was and the picker says why
    expect(agent.locator("[data-kb-status]")).to_contain_text("no cabe en la respuesta de este canal")
    expect(box).to_have_value("Hola María:")
