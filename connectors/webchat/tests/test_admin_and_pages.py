"""Sites administration, the demo page, the conversation page's web chat parts and who counts as available."""

from __future__ import annotations

import io
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings

from accounts.models import BusinessHours
from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from connectors.webchat import actions
from connectors.webchat.models import ChatSite
from connectors.webchat.selectors import agents_available
from connectors.webchat.tests.factories import ChatSiteFactory
from core.errors import ActionError
from core.models import AuditLog
from inbox.defaults import ensure_default_inboxes
from inbox.models import Inbox

pytestmark = pytest.mark.django_db


def site_form(**overrides):
    data = {"form": "site", "name": "Tienda en línea", "allowed_origins": "https://Tienda.example/\nhttps://*.tienda.example",
            "primary_color": "#aa0000", "text_color": "#ffffff", "position": "derecha", "title": "",
            "welcome_text": "Hola 👋", "offline_text": "", "require_name": "on", "require_contact": "correo",
            "inbox": "", "enabled": "on"}
    return {**data, **overrides}


def test_admin_creates_a_site_and_gets_the_one_line_snippet(admin_user, client_for, settings):
    settings.SITE_URL = "https://centralita.example"
    client = client_for(admin_user)
    # when an admin creates a site
    response = client.post("/webchat/sites/", site_form())
    site = ChatSite.objects.get()
    # then it is stored with normalized origins, audited, and its page shows the script tag to paste
    assert response.status_code == 302 and response["Location"] == f"/webchat/sites/{site.pk}/"
    assert site.allowed_origins == ["https://tienda.example", "https://*.tienda.example"]
    assert AuditLog.objects.filter(action="webchat.site_created").exists()
    page = client.get(response["Location"]).content.decode()
    snippet = (f'&lt;script src=&quot;https://centralita.example/static/webchat/widget.js&quot; '
               f'data-site=&quot;{site.token}&quot; async&gt;&lt;/script&gt;')
    assert snippet in page
    assert len(site.token) >= 32


def test_invalid_origins_and_colors_are_refused(admin_user, client_for):
    client = client_for(admin_user)
    bad_origin = client.post("/webchat/sites/", site_form(allowed_origins="tienda.example/carrito"))
    bad_color = client.post("/webchat/sites/", site_form(primary_color="rojo"))
    assert bad_origin.status_code == 200 and "no es un origen válido" in bad_origin.content.decode()
    assert bad_color.status_code == 200
    assert not ChatSite.objects.exists()


def test_admin_edits_and_rotates_the_token(admin_user, client_for):
    site = ChatSiteFactory()
    old = site.token
    client = client_for(admin_user)
    client.post(f"/webchat/sites/{site.pk}/", site_form(name="Tienda nueva", enabled=""))
    client.post(f"/webchat/sites/{site.pk}/", {"form": "rotate"})
    site.refresh_from_db()
    assert site.name == "Tienda nueva" and site.enabled is False and site.token != old
    assert AuditLog.objects.filter(action="webchat.site_token_rotated").exists()


def test_only_channel_managers_configure_sites(supervisor):
    with pytest.raises(ActionError):
        actions.check_save_site(supervisor, name="X", allowed_origins=[], primary_color="#000000",
                                text_color="#ffffff", position="derecha", require_name=True,
                                require_contact="ninguno", inbox_id=None, enabled=True)


def test_admin_page_is_in_the_menu(admin_user, client_for):
    page = client_for(admin_user).get("/").content.decode()
    assert 'href="/webchat/sites/"' in page


def test_demo_page_hosts_the_demo_sites_widget(client):
    site = actions.do_ensure_demo_site()
    page = client.get("/webchat/demo/").content.decode()
    assert f'data-site="{site.token}"' in page and "/static/webchat/widget.js" in page
    assert actions.do_ensure_demo_site() == site  # one demo site


def test_demo_page_is_404_when_there_is_no_demo_site_in_production(client, settings):
    settings.DEBUG = False
    assert client.get("/webchat/demo/").status_code == 404


def test_conversation_page_has_typing_hooks_and_visitor_details(site, visitor, supervisor, client_for,
                                                                online_agent):
    actions.check_visitor_message(site, visitor, content="Hola", echo_id="v1", page_url="https://tienda.example/x")
    visitor.refresh_from_db()
    page = client_for(supervisor).get(f"/inbox/{visitor.conversation_id}/").content.decode()
    assert 'id="webchat-visitor-typing"' in page and "webchat/agent.js" in page
    assert f"/webchat/conversations/{visitor.conversation_id}/typing" in page
    assert "https://tienda.example/x" in page and site.name in page


def test_demo_seeder_creates_the_demo_site_and_links_seeded_chats():
    # given web chat conversations made by the inbox's demo seeder (no widget behind them)
    import random

    from django.core.management.base import OutputWrapper

    from accounts.management.commands.seed_demo import SEEDERS
    from connectors.webchat.demo import seed_webchat
    from connectors.webchat.models import Visitor
    from inbox.actions import do_receive_inbound

    c, _m, _ = do_receive_inbound(channel="webchat", body="hola", customer_name="Cliente demo 1")
    do_receive_inbound(channel="email", body="hola", customer_name="Otro", emails=["otro@correo.example"])
    # when the web chat seeder (registered with seed_demo) runs
    assert seed_webchat in SEEDERS
    seed_webchat(random.Random(1), "small", OutputWrapper(io.StringIO()))
    # then the demo site exists and the web chat conversation has a visitor for replies to reach
    site = ChatSite.objects.get(is_demo=True)
    assert site.enabled and site.inbox is None
    assert list(Visitor.objects.values_list("conversation", flat=True)) == [c.pk]


# --- availability -----------------------------------------------------------------------------------------


def _at(hour: int) -> datetime:
    return datetime(2026, 3, 4, hour, 0, tzinfo=ZoneInfo(settings.TIME_ZONE))  # a Wednesday, no holiday


def test_availability_follows_the_inbox_teams_hours_and_agents():
    # given the Ventas inbox, worked by a team open 8–18, with one available member
    ensure_default_inboxes()
    team = TeamFactory(code="ventas-wc", name="Ventas WC")
    BusinessHours.objects.create(team=team, weekday=2, opens_at=time(8), closes_at=time(18))
    inbox = Inbox.objects.get(code="ventas")
    inbox.teams.set([team])
    site = ChatSiteFactory(inbox=inbox)
    agent = UserFactory(role=Role.AGENTE, availability="disponible")
    agent.teams.add(team)
    # then someone can answer at 10:00, nobody at 20:00, and nobody when she is away
    with time_machine.travel(_at(10), tick=False):
        assert agents_available(site) is True
    with time_machine.travel(_at(20), tick=False):
        assert agents_available(site) is False
    agent.availability = "ausente"
    agent.save()
    with time_machine.travel(_at(10), tick=False):
        assert agents_available(site) is False


def test_global_counts_any_available_agent_whose_team_is_open():
    ensure_default_inboxes()
    site = ChatSiteFactory()
    assert agents_available(site) is False
    team = TeamFactory(code="noche", name="Noche")
    BusinessHours.objects.create(team=team, weekday=2, opens_at=time(20), closes_at=time(23))
    UserFactory(role=Role.AGENTE, availability="disponible").teams.add(team)
    UserFactory(role=Role.ANALISTA, availability="disponible")  # does not work the inbox
    with time_machine.travel(_at(10), tick=False):
        assert agents_available(site) is False
    with time_machine.travel(_at(21), tick=False):
        assert agents_available(site) is True
