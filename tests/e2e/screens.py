"""The main screens of the app and the least data each needs, for the page-by-page browser checks
(tests/e2e/test_accessibility.py, tests/e2e/test_mobile_overflow.py).

`SCREENS` follows the menu (core/context_processors.py NAVIGATION) plus the pages reached from it (an open
conversation, a call screen, an order); each screen names the role that works there.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from accounts.choices import Availability
from accounts.models import User
from accounts.roles import Role
from accounts.tests.factories import DEFAULT_PASSWORD, TeamFactory, UserFactory
from connectors.mail.actions import check_save_mailbox
from connectors.webchat.actions import do_ensure_demo_site
from customers.models import Customer, DuplicateCandidate
from inbox.actions import check_assign, do_receive_inbound
from inbox.models import ConversationEvent, Inbox, Message
from leads.actions import check_save_note_template
from orders.actions import check_confirm_order, check_create_order
from orders.tests.factories import product, ready_lead
from realtime.events import muted
from webhooks.actions import check_save_endpoint

# username per role; every page is visited by the role that works there
AGENT, SUPERVISOR, ADMIN = "ana", "sara", "admin"


@dataclass(frozen=True)
class Screen:
    name: str
    path: str  # may hold the ids World holds: {conversation}, {lead}, {order}, {product}, …
    user: str | None  # None: anonymous


SCREENS: list[Screen] = [
    Screen("login", "/login/", None),
    Screen("home", "/", AGENT),
    Screen("inbox-list", "/inbox/", AGENT),
    Screen("inbox-conversation", "/inbox/{conversation}/", AGENT),
    Screen("closure-review", "/inbox/review/", SUPERVISOR),
    Screen("call-queue", "/call-center-queue", AGENT),
    Screen("call-screen", "/call-center-queue/leads/{lead}/", AGENT),
    Screen("orders-list", "/orders/", AGENT),
    Screen("order", "/orders/{order}/", AGENT),
    Screen("products", "/catalog/products/", SUPERVISOR),
    Screen("product", "/catalog/products/{product}/", SUPERVISOR),
    Screen("reports-dashboard", "/reportes/", SUPERVISOR),
    Screen("reports-leadflow", "/reportes/leads/", SUPERVISOR),
    Screen("team-presence", "/team/presence/", SUPERVISOR),
    Screen("predefined-notes", "/call-center-queue/predefined-notes", SUPERVISOR),
    Screen("queue-settings", "/call-center-queue/settings", SUPERVISOR),
    Screen("marketing-lists", "/customers/lists/", SUPERVISOR),
    Screen("duplicates", "/customers/duplicates/", SUPERVISOR),
    Screen("my-mail", "/profile/mail/", AGENT),
    Screen("quick-replies", "/automatizacion/respuestas-rapidas/", AGENT),
    Screen("knowledge", "/conocimiento/", AGENT),
    Screen("knowledge-new", "/conocimiento/nuevo/", SUPERVISOR),
    Screen("knowledge-categories", "/conocimiento/categorias/", SUPERVISOR),
    Screen("sla-policies", "/automatizacion/niveles-de-servicio/", SUPERVISOR),
    Screen("automation-rules", "/automatizacion/reglas/", SUPERVISOR),
    Screen("automation-rule-new", "/automatizacion/reglas/nueva", SUPERVISOR),
    Screen("sequences", "/automatizacion/secuencias/", SUPERVISOR),
    Screen("sequence-new", "/automatizacion/secuencias/nueva", SUPERVISOR),
    Screen("profile", "/profile/", AGENT),
    Screen("password-change", "/password/", AGENT),
    Screen("product-new", "/catalog/products/new/", SUPERVISOR),
    Screen("reports-import", "/reportes/importar/", ADMIN),
    Screen("admin-users", "/settings/users/", ADMIN),
    Screen("admin-user-new", "/settings/users/new/", ADMIN),
    Screen("admin-user", "/settings/users/{agent}/", ADMIN),
    Screen("admin-teams", "/settings/teams/", ADMIN),
    Screen("admin-team", "/settings/teams/{team}/", ADMIN),
    Screen("admin-organization", "/settings/organization/", ADMIN),
    Screen("admin-audit", "/audit/", ADMIN),
    Screen("admin-system", "/system/", ADMIN),
    Screen("admin-kommo", "/settings/kommo/", ADMIN),
    Screen("admin-kommo-webhooks", "/settings/kommo/webhooks/", ADMIN),
    Screen("admin-kommo-sync", "/integrations/kommo-sync/", ADMIN),
    Screen("admin-whatsapp", "/settings/whatsapp/", ADMIN),
    Screen("admin-whatsapp-webhooks", "/settings/whatsapp/webhooks/", ADMIN),
    Screen("admin-webchat-sites", "/webchat/sites/", ADMIN),
    Screen("admin-webchat-site", "/webchat/sites/{site}/", ADMIN),
    Screen("admin-mailboxes", "/settings/mail/", ADMIN),
    Screen("admin-mailbox", "/settings/mail/{mailbox}/", ADMIN),
    Screen("admin-inbox-settings", "/inbox/settings/", ADMIN),
    Screen("admin-inbox", "/inbox/settings/{inbox}/", ADMIN),
    Screen("admin-webhooks", "/integrations/webhooks/", ADMIN),
    Screen("admin-webhook", "/integrations/webhooks/{endpoint}/", ADMIN),
]
SCREENS_BY_NAME = {s.name: s for s in SCREENS}


@dataclass(frozen=True)
class World:
    conversation: int
    lead: int
    order: int
    product: int
    agent: int
    team: int
    inbox: int
    site: int
    mailbox: int
    endpoint: int

    def url(self, base: str, screen: Screen) -> str:
        return base + screen.path.format(**asdict(self))


def build_world(language: str = "es") -> World:
    """Three people (agent, supervisor, admin) speaking `language`, a conversation with an inbound message, a
    reply and a note, a closure to review, a lead with a predefined note at hand, a confirmed order and two
    customers that may be the same person; one of each connector and an outgoing webhook."""
    with muted():  # Playwright's loop lives in this thread; nobody is listening yet anyway
        team = TeamFactory(code="ventas-a11y", name="Ventas")
        agent = UserFactory(username=AGENT, role=Role.AGENTE, full_name="Ana Operadora", language=language,
                            availability=Availability.AVAILABLE, teams=[team])
        supervisor = UserFactory(username=SUPERVISOR, role=Role.SUPERVISOR, full_name="Sara Supervisora",
                                 language=language, teams=[team])
        admin = UserFactory(username=ADMIN, role=Role.ADMIN, full_name="Admin Sistema", language=language)
        # (transactional tests empty the tables, including the inboxes the data migration seeds)
        inbox, _ = Inbox.objects.get_or_create(code="ventas", defaults={"name": "Ventas", "auto_assign": False})
        inbox.teams.set([team])

        conversation, _m, _new = do_receive_inbound(channel="whatsapp", body="Hola, ¿hacen envíos a Medellín?",
                                                    customer_name="Ramiro Núñez", phones=["+573105550000"],
                                                    inbox_code="ventas")
        check_assign(supervisor, conversation.pk, assignee=agent.pk)
        Message.objects.create(conversation=conversation, kind="outbound", author=agent, delivery_status="sent",
                               body="¡Hola Ramiro! Sí, enviamos a Medellín en 2 días.")
        Message.objects.create(conversation=conversation, kind="note", author=agent, body="Cliente mayorista")
        _closed_last_week(inbox, agent)

        check_save_note_template(supervisor, title="Llamar nuevamente", text="Pidió que lo llamemos mañana",
                                 outcome="parcial", tags=["rellamar"])
        plan = product("PH-001", name="Plan Hogar", price="89000", stock=10)
        product("RT-002", name="Router WiFi", price="150000", stock=1)
        lead = ready_lead(name="Pedido Plan Hogar")
        sold = ready_lead(name="Pedido Router")
        order = check_create_order(agent, lead_id=sold.pk, lines=[("PH-001", 1), ("RT-002", 1)])
        check_confirm_order(agent, order.pk)

        first = Customer.objects.create(name="Lucía Peña", city="Bogotá")
        second = Customer.objects.create(name="Lucia Pena", city="Bogotá")
        DuplicateCandidate.objects.create(customer=first, other=second, reason="mismo teléfono")

        site = do_ensure_demo_site()
        mailbox = check_save_mailbox(admin, address="ventas@example.test", display_name="Ventas", inbox_code="ventas",
                                     imap_host="imap.example.test", imap_user="ventas", imap_password="secreto",
                                     smtp_host="smtp.example.test", smtp_user="ventas", smtp_password="secreto")
        endpoint = check_save_endpoint(admin, url="https://erp.example.test/hooks", events=["order.confirmed"],
                                       description="ERP")
    return World(conversation=conversation.pk, lead=lead.pk, order=order.pk, product=plan.pk, agent=agent.pk,
                 team=team.pk, inbox=inbox.pk, site=site.pk, mailbox=mailbox.pk, endpoint=endpoint.pk)


def _closed_last_week(inbox: Inbox, agent: User) -> None:
    """A conversation closed last week without an answer: the closure review has a row to show."""
    bogota = ZoneInfo("America/Bogota")
    today = timezone.localdate(timezone=bogota)
    monday = today - timedelta(days=today.weekday() + 7)
    at = datetime.combine(monday + timedelta(days=1), time(9), tzinfo=bogota)
    customer = Customer.objects.create(name="Marta Gómez")
    c = inbox.conversations.create(customer=customer, channel="whatsapp", state="resuelta", assignee=agent,
                                   created_at=at, last_activity_at=at + timedelta(minutes=3), closed_at=at)
    Message.objects.create(conversation=c, kind="inbound", body="¿Tienen factura?", created_at=at)
    ConversationEvent.objects.create(conversation=c, kind="state", actor=agent, created_at=at + timedelta(minutes=3),
                                     data={"from": "pendiente", "to": "resuelta", "reason": "answered"})


def open_as(browser: Browser, base: str, username: str | None, *, language: str = "es",
            viewport: dict[str, int] | None = None) -> Page:
    """A fresh browser context; signed in as `username` (whose language the world set), or anonymous with the
    language chosen on the login page itself."""
    context = browser.new_context(viewport=viewport or {"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login/")
    if username is None:  # the browser asks for en-US; the page's own switch picks the language (/i18n/setlang/)
        if page.locator("html").get_attribute("lang") != language:
            page.click(f"form.lang-switch button[value={language}]")
            expect(page.locator("html")).to_have_attribute("lang", language)
        return page
    page.fill("#id_username", username)
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#realtime-state")).to_be_attached()
    return page


def visit(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.ok, f"{url}: HTTP {response and response.status}"
    # Fragments some pages load after the first paint (htmx `load` triggers, charts); a page that keeps polling
    # never goes idle, and what is on screen by then is checked anyway.
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_load_state("networkidle", timeout=5_000)
