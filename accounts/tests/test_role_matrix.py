"""Every role against every protected page and API route: 200 when the matrix allows, 403 otherwise."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import Holiday
from accounts.roles import ROLE_PERMISSIONS, Perm, Role
from accounts.tests.factories import TeamFactory, UserFactory


def _page_patterns() -> list[tuple[str, URLPattern]]:
    """All named app pages (not API, not Django admin) with the permissions their view declares."""
    found = []

    def walk(patterns: list[URLPattern | URLResolver], ns: str = "") -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace in {"api", "admin"}:
                    continue
                walk(p.url_patterns, f"{ns}{p.namespace}:" if p.namespace else ns)
            elif p.name and hasattr(p.callback, "required_perms"):
                found.append((f"{ns}{p.name}", p))

    walk(get_resolver().url_patterns)
    return found


PAGES = _page_patterns()
AGENT_SCOPED = {"orders:detail", "orders:confirm", "orders:draft_lines", "orders:cancel",
                "automation:scheduled_update", "automation:scheduled_cancel"}
# Pages about a shared object an agent may use but not edit (the matrix's fixture is an everyone's quick reply).
AGENT_MAY_NOT_EDIT = {"automation:quick_reply_edit"}
# The matrix's chat message is someone else's: only its author edits it (403 to everyone else), and only a chat
# manager deletes another's message in a public channel.
CHAT_AUTHOR_ONLY = {"teamchat:edit"}
CHAT_MODERATED = {"teamchat:delete"}
ALL_PAGES = [name for name, _p in PAGES]


def test_every_page_declares_its_permissions():
    # given the URL configuration / then the pages we expect are all guarded by perm_required
    names = {name for name, _ in PAGES}
    assert {"accounts:home", "auditlog:audit", "core:system", "accounts:profile", "accounts:presence",
            "accounts:user_list", "accounts:user_create", "accounts:user_edit", "accounts:team_list",
            "accounts:team_edit"} <= names


@pytest.fixture
def ids(db):
    from crm.models import WebhookDelivery
    from leads.models import Lead

    team = TeamFactory(code="ventas", name="Ventas")
    other = UserFactory(username="target")
    holiday = Holiday.objects.create(team=team, date="2026-12-25", name="Navidad")
    lead = Lead.objects.create(kommo_id=1, name="Lead de prueba", in_queue=True)
    delivery = WebhookDelivery.objects.create(body="x", state="failed")
    from crm.models import KommoSync
    from orders.models import Order
    from orders.tests.factories import product, ready_lead
    from webhooks.models import WebhookEndpoint, WebhookMessage

    item = product("ROLE-1")
    order_lead = ready_lead()
    order = Order.objects.create(lead=order_lead, customer=order_lead.customer, agent=other)
    endpoint = WebhookEndpoint.objects.create(url="https://billing.example/hook", events=["order.confirmed"])
    message = WebhookMessage.objects.create(endpoint=endpoint, event="order.confirmed", payload={}, state="fallido")
    sync = KommoSync.objects.create(lead_kommo_id=1, idempotency_key="role-matrix", state="fallido")
    from inbox.actions import do_receive_inbound
    from inbox.attachments import store_attachment

    attached = store_attachment(conversation_id=0, name="nota.txt", content_type="text/plain", data=b"hola")
    conversation, inbound, _created = do_receive_inbound(channel="api", body="hola", customer_name="Ana",
                                                         phones=["+573009998877"], attachments=[attached])
    from connectors.webchat.models import ChatSite

    chat_site = ChatSite.objects.create(name="Sitio de prueba")
    from connectors.mail.models import Mailbox

    mailbox = Mailbox.objects.create(address="soporte@example.com")  # no IMAP/SMTP: "test"/"poll" answer at once
    from connectors.whatsapp.models import WebhookDelivery as WhatsappDelivery
    from connectors.whatsapp.models import WhatsappNumber

    # base_url on the discard port: the allowed roles' "Sincronizar plantillas" fails fast and redirects
    wa_number = WhatsappNumber.objects.create(phone_number_id="1", waba_id="2", access_token="t", app_secret="s",
                                              verify_token="v", base_url="http://127.0.0.1:9")
    wa_delivery = WhatsappDelivery.objects.create(number=wa_number, body="{}", state="failed")
    from connectors.sms.models import SmsAccount
    from connectors.sms.models import WebhookDelivery as SmsDelivery

    sms_account = SmsAccount.objects.create(name="SMS", account_sid="AC" + "0" * 32, auth_token="t",
                                            from_number="+15005550006", base_url="http://127.0.0.1:9")
    sms_delivery = SmsDelivery.objects.create(account=sms_account, kind="inbound", body="a=b", state="failed")
    from reports.models import ImportJob

    import_job = ImportJob.objects.create(conversations_file="imports/role-matrix.csv")
    from inbox.models import Task

    task = Task.objects.create(conversation=conversation, title="Llamar", responsible=other)
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Heartbeat
    from customers.models import Segment

    silent = Heartbeat.objects.create(process="worker srv-9:1:ab12", kind="worker", host="srv-9", pid=1,
                                      seen_at=timezone.now() - timedelta(hours=1))
    from automation.models import QuickReply

    quick_reply = QuickReply.objects.create(title="Horario", shortcut="horario", body="8 a 18 h", scope="todos",
                                            attachment=store_attachment(conversation_id=0, name="horario.txt",
                                                                        content_type="text/plain", data=b"8 a 18"))
    from automation.models import ScheduledMessage

    scheduled = ScheduledMessage.objects.create(conversation=conversation, author=other, body="Hola",
                                                send_at=timezone.now() + timedelta(days=1))
    from automation.models import AutomationRule

    rule = AutomationRule.objects.create(name="Bienvenida", event="message.received",
                                         actions=[{"type": "add_tag", "tag": "nuevo"}])
    from automation.models import Sequence, SequenceEnrollment

    sequence = Sequence.objects.create(name="Posventa", steps=[{"delay_minutes": 1440, "body": "Hola"}])
    enrollment = SequenceEnrollment.objects.create(sequence=sequence, conversation=conversation,
                                                   customer_id=conversation.customer_id)
    from campaigns.models import Campaign

    campaign = Campaign.objects.create(name="Matriz", audience={}, created_by=other)  # a draft: every page opens
    from knowledge.models import Article, Category

    kb_category = Category.objects.create(name="Envíos", slug="envios")
    # published: an agent may read it (a draft is 404 to them, as if it did not exist)
    article = Article.objects.create(title="Costos de envío", slug="costos-de-envio", body="Todo el país.",
                                     state="publicado", category=kb_category)
    from bots.models import BotFlow

    flow = BotFlow.objects.create(name="Matriz")  # an empty draft: its pages open, publishing it is refused
    from inbox.attachments import Upload
    from teamchat import actions as chat_actions

    # a public channel anyone reads, with a message of someone else carrying a picture
    chat_channel = chat_actions.check_create_channel(other, name="Matriz")
    chat_message = chat_actions.check_post_message(other, chat_channel.pk, body="hola", uploads=[
        Upload(name="foto.png", content_type="image/png", data=b"\x89PNG\r\n\x1a\n")])
    from announcements.actions import AnnouncementInput, check_save_announcement
    from inbox.attachments import Upload

    # published to everyone, asking for confirmation, with an image: every role reads it and may confirm it (who is
    # created later joins the audience on their own), publishers see its confirmation list
    announcement = check_save_announcement(
        UserFactory(role=Role.SUPERVISOR, username="ann-author"), announcement_id=None, publish=True,
        data=AnnouncementInput(title="Nueva política", requires_ack=True, image=Upload(
            name="foto.png", content_type="image/png", data=b"\x89PNG\r\n\x1a\n")))
    return {"article_id": article.pk, "category_id": kb_category.pk, "flow_id": flow.pk,
            "announcement_id": announcement.pk,
            "channel_id": chat_channel.pk, "msg_id": chat_message.pk,
            "campaign_id": campaign.pk,"rule_id": rule.pk, "sequence_id": sequence.pk, "enrollment_id": enrollment.pk,
            "heartbeat_id": silent.pk, "quick_reply_id": quick_reply.pk,
            "scheduled_id": scheduled.pk,
            "conversation_id": conversation.pk, "user_id": other.pk, "team_id": team.pk, "holiday_id": holiday.pk,
            "job_id": import_job.pk,
            "number_id": wa_number.pk, "wa_delivery_id": wa_delivery.pk,
            "sms_account_id": sms_account.pk, "sms_delivery_id": sms_delivery.pk,
            "token_id": 999999, "site_id": chat_site.pk, "mailbox_id": mailbox.pk,
            "lead_id": lead.pk, "delivery_id": delivery.pk, "product_id": item.pk, "order_id": order.pk,
            "endpoint_id": endpoint.pk, "message_id": message.pk, "sync_id": sync.pk,
            "inbox_id": conversation.inbox_id, "view_id": 999999, "inbound_id": inbound.pk, "index": 0,
            "task_id": task.pk, "customer_id": conversation.customer_id, "name": "orders",
            "segment_id": Segment.objects.get_or_create(code="matriz", defaults={
                "name": "Matriz", "rules": {"any": [{"orders_min": 1}]}})[0].pk}


def _url(name: str, ids: dict[str, int]) -> str:
    pattern = dict(PAGES)[name]
    kwargs = {k: ids[k] for k in pattern.pattern.converters}
    return reverse(name, kwargs=kwargs)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("page", ALL_PAGES)
def test_page_access_by_role(role, page, ids, make_user, client_for):
    # given a user of `role`
    user = make_user(role)
    client = client_for(user)
    required = dict(PAGES)[page].callback.required_perms
    allowed = all(p in ROLE_PERMISSIONS[role] for p in required)
    # when they open the page (or, for action endpoints that only accept POST, submit to it)
    response = client.get(_url(page, ids))
    if response.status_code == 405:
        response = client.post(_url(page, ids))
        # then a forbidden action answers 403; an allowed one gets past the permission check (an empty
        # submission may then be redirected or refused as invalid, never 403 or a server error)
        if allowed and role == Role.AGENTE and page in AGENT_SCOPED:
            assert response.status_code in {302, 404}, (role, page, response.status_code)
        elif allowed and page in CHAT_MODERATED:
            expected = 200 if Perm.CHAT_MANAGE in ROLE_PERMISSIONS[role] else 403
            assert response.status_code == expected, (role, page, response.status_code)
        elif allowed:
            assert response.status_code in {200, 302, 400}, (role, page, response.status_code)
        else:
            assert response.status_code == 403, (role, page, response.status_code)
        return
    # then the server answers by the matrix (an allowed page may redirect, e.g. the OAuth callback); agents may
    # open orders pages but only see their own orders: someone else's answers 404, as if it did not exist
    if allowed and role == Role.AGENTE and page in AGENT_SCOPED:
        assert response.status_code == 404, (role, page, response.status_code)
    elif (allowed and role == Role.AGENTE and page in AGENT_MAY_NOT_EDIT) or (allowed and page in CHAT_AUTHOR_ONLY):
        assert response.status_code == 403, (role, page, response.status_code)
    elif allowed:
        assert response.status_code in {200, 302}, (role, page, response.status_code)
    else:
        assert response.status_code == 403, (role, page)


@pytest.mark.parametrize("page", ALL_PAGES)
def test_anonymous_is_sent_to_login(page, ids, client):
    response = client.get(_url(page, ids))
    if response.status_code == 405:
        response = client.post(_url(page, ids))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


# API routes: (method, path template, body, permission needed or None for any authenticated user)
API_ROUTES = [
    ("get", "/api/v1/users", None, Perm.USERS_VIEW, 200),
    ("post", "/api/v1/users", {"username": "nuevo", "password": "Clave-segura-2026", "full_name": "Nuevo",
                               "role": "agente"}, Perm.USERS_MANAGE, 201),
    ("get", "/api/v1/users/{user_id}", None, Perm.USERS_VIEW, 200),
    ("patch", "/api/v1/users/{user_id}", {"full_name": "Cambiado"}, Perm.USERS_MANAGE, 200),
    ("get", "/api/v1/teams", None, Perm.USERS_VIEW, 200),
    ("post", "/api/v1/teams", {"name": "Nuevo equipo", "code": "nuevo"}, Perm.TEAMS_MANAGE, 201),
    ("patch", "/api/v1/teams/{team_id}", {"description": "x"}, Perm.TEAMS_MANAGE, 200),
    ("get", "/api/v1/roles", None, None, 200),
    ("get", "/api/v1/me", None, None, 200),
    ("post", "/api/v1/me/availability", {"availability": "ocupado"}, Perm.PRESENCE_SET_OWN, 200),
    ("get", "/api/v1/leads/queue", None, Perm.LEADS_VIEW, 200),
    ("get", "/api/v1/conversations", None, Perm.INBOX_WORK, 200),
    ("get", "/api/v1/conversations/{conversation_id}", None, Perm.INBOX_WORK, 200),
    ("post", "/api/v1/conversations", {"customer": {"name": "Beto", "phone": "3001112299"}, "message": "hola"},
     Perm.INBOX_WORK, 201),
    ("get", "/api/v1/leads/{lead_id}", None, Perm.LEADS_VIEW, 200),
    ("post", "/api/v1/leads/{lead_id}/notes", {"text": "Llamé", "outcome": "parcial"}, Perm.LEADS_WORK, 201),
    ("post", "/api/v1/leads/next", None, Perm.LEADS_WORK, 200),
    ("post", "/api/v1/leads/{lead_id}/release", None, Perm.LEADS_SUPERVISE, 200),
    ("post", "/api/v1/leads/{lead_id}/reassign", {"to_user": "target"}, Perm.LEADS_SUPERVISE, 200),
    ("get", "/api/v1/predefined-notes", None, Perm.LEADS_VIEW, 200),
    ("post", "/api/v1/predefined-notes", {"title": "Llamar", "text": "Llamar mañana", "tags": ["rellamar"]},
     Perm.LEADS_SUPERVISE, 201),
    ("get", "/api/v1/reports/lead-flow", None, Perm.REPORTS_VIEW, 200),
    ("get", "/api/v1/reports/lead-flow?format=csv&table=by_operator", None, Perm.REPORTS_VIEW, 200),
    ("get", "/api/v1/reports/dashboard", None, Perm.REPORTS_VIEW, 200),
    ("get", "/api/v1/reports/dashboard?format=csv&chart=daily_activity", None, Perm.REPORTS_VIEW, 200),
    ("get", "/api/v1/reports/dashboard/conversations?chart=kpis&series=unanswered_open", None, Perm.REPORTS_VIEW,
     200),
    ("get", "/api/v1/reports/conversations.csv", None, Perm.REPORTS_EXPORT, 200),
    ("get", "/api/v1/kb/articles", None, Perm.KNOWLEDGE_VIEW, 200),
    ("get", "/api/v1/kb/articles/{article_id}", None, Perm.KNOWLEDGE_VIEW, 200),
    ("get", "/api/v1/kb/search?q=envio", None, Perm.KNOWLEDGE_VIEW, 200),
    ("post", "/api/v1/kb/articles", {"title": "Garantía", "body": "12 meses."}, Perm.KNOWLEDGE_MANAGE, 201),
    ("patch", "/api/v1/kb/articles/{article_id}", {"tags": ["envíos"]}, Perm.KNOWLEDGE_MANAGE, 200),
    ("post", "/api/v1/kb/articles/{article_id}/unpublish", None, Perm.KNOWLEDGE_MANAGE, 200),
    ("get", "/api/v1/announcements", None, None, 200),
    ("get", "/api/v1/announcements/{announcement_id}", None, None, 200),
    ("post", "/api/v1/announcements", {"title": "Horario de fin de año"}, Perm.ANNOUNCEMENTS_PUBLISH, 201),
    ("post", "/api/v1/announcements/{announcement_id}/ack", None, None, 200),
    ("get", "/api/v1/announcements/{announcement_id}/acks", None, Perm.ANNOUNCEMENTS_PUBLISH, 200),
    ("get", "/api/v1/chat/channels", None, Perm.CHAT_USE, 200),
    ("get", "/api/v1/chat/channels/{channel_id}/messages", None, Perm.CHAT_USE, 200),
    ("post", "/api/v1/chat/channels/{channel_id}/messages", {"body": "hola"}, Perm.CHAT_USE, 201),
    ("get", "/api/v1/chat/unread", None, Perm.CHAT_USE, 200),
]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("method", "path", "body", "perm", "ok"), API_ROUTES)
def test_api_access_by_role(role, method, path, body, perm, ok, ids, make_user, api_client_for):
    # given a token for a user of `role`
    api = api_client_for(make_user(role))
    allowed = perm is None or perm in ROLE_PERMISSIONS[role]
    # when they call the route
    response = getattr(api, method)(path.format(**ids), data=body, content_type="application/json")
    # then the status follows the matrix and errors are JSON with a message
    assert response.status_code == (ok if allowed else 403), (role, method, path, response.content)
    if not allowed:
        assert response.json()["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path", "body", "perm", "ok"), API_ROUTES)
def test_api_without_token_is_401_json(method, path, body, perm, ok, ids, client):
    response = getattr(client, method)(path.format(**ids), data=body, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert "Bearer" in response.json()["detail"]


def test_roles_doc_matches_matrix(settings):
    from pathlib import Path

    from accounts.management.commands.roles_matrix import render_doc

    doc = (Path(settings.BASE_DIR) / "docs" / "roles.md").read_text(encoding="utf-8")
    assert render_doc(doc) == doc, "docs/roles.md is stale: run `python manage.py roles_matrix --write`"


