"""The audit log and the system page speak in sentences: names and labels, never codes, ids or Python reprs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from accounts.roles import Role
from accounts.tests.factories import SkillFactory, TeamFactory, UserFactory
from auditlog.describe import DESCRIBED_ACTIONS, annotate_audit, describe_audit
from core.describe import money
from core.models import AuditLog
from core.schedule import SCHEDULE
from customers.models import MarketingList
from inbox.models import Inbox
from inbox.tests.test_describe import assert_readable
from orders.choices import OrderState

pytestmark = pytest.mark.django_db
SKIP_DIRS = {".venv", ".tools", "node_modules", "tests", "fakes", "bench", "migrations"}


def audited_actions() -> set[str]:
    """Every action string passed to core.audit.record anywhere in the code base."""
    root = Path(settings.BASE_DIR)
    found: set[str] = set()
    for path in root.rglob("*.py"):
        if SKIP_DIRS & set(path.relative_to(root).parts):
            continue
        source = path.read_text(encoding="utf-8")
        if "audit.record(" not in source:
            continue
        for first, other in re.findall(r'action="([a-z_]+\.[a-z_]+)"(?: if [^\n]*? else "([a-z_]+\.[a-z_]+)")?',
                                       source):
            found |= {first, other} - {""}
        if 'action=f"order.{to.value}"' in source:
            found |= {f"order.{s.value}" for s in OrderState if s != OrderState.DRAFT}
    return found


@pytest.fixture
def world():
    """People, teams, skills, inboxes and lists with distinctive ids, so a leaked id cannot hide."""
    fernanda = UserFactory(pk=7401, username="fcardenas", full_name="Fernanda Cárdenas", role=Role.ADMIN)
    raul = UserFactory(pk=7402, username="rmendoza", full_name="Raúl Mendoza", role=Role.AGENTE)
    lucia = UserFactory(pk=7403, username="lucia.p", full_name="Lucía Peña", role=Role.AGENTE)
    ventas = TeamFactory(pk=7411, code="ventas-co", name="Ventas Colombia")
    soporte = TeamFactory(pk=7412, code="soporte-co", name="Soporte Colombia")
    SkillFactory(code="garantias-co", name="Garantías")
    Inbox.objects.create(code="posventa-co", name="Posventa Colombia")
    MarketingList.objects.create(pk=7421, code="clientes-vip", name="Clientes VIP")
    MarketingList.objects.create(pk=7422, code="recompra", name="Recompra")
    return {"fernanda": fernanda, "raul": raul, "lucia": lucia, "ventas": ventas, "soporte": soporte}


def samples(w):
    """One entry per audited action, shaped like the action that writes it (target and changes)."""
    f, r = w["fernanda"], w["raul"]
    user = ("accounts.user", r.pk, "Raúl Mendoza")
    herself = ("accounts.user", f.pk, "Fernanda Cárdenas")
    team = ("accounts.team", w["ventas"].pk, "Ventas Colombia")
    conversation = ("inbox.conversation", 8123, "#8123 7777 whatsapp")
    inbox = ("inbox.inbox", 55, "Posventa Colombia")
    lead = ("leads.lead", 66, "Pedido Ferretería (#1000123)")
    order = ("orders.order", 77, "P-000077")
    return {
        "auth.login": (f, herself, {}),
        "auth.logout": (f, herself, {}),
        "auth.login_failed": (None, None, {"username": "fcardenaz"}),
        "user.created": (f, user, {"role": "agente", "teams": ["soporte-co", "ventas-co"]}),
        "user.updated": (f, user, {"full_name": ["Raul", "Raúl Mendoza"], "is_active": [True, False],
                                   "capacity": [8, 10], "teams": [["ventas-co"], ["soporte-co", "ventas-co"]],
                                   "skills": [[], ["garantias-co"]], "language": ["es", "en"]}),
        "user.role_changed": (f, user, {"role": ["agente", "supervisor"]}),
        "user.password_set": (f, user, {}),
        "user.language_changed": (r, user, {"language": ["es", "en"]}),
        "user.availability_changed": (r, user, {"availability": ["disponible", "ausente"]}),
        "user.notifications_changed": (r, user, {"notify_browser": [False, True], "notify_sound": [True, False]}),
        "team.created": (f, team, {}),
        "team.updated": (f, team, {"name": ["Ventas", "Ventas Colombia"], "is_active": [True, False],
                                   "members": [[w["raul"].pk], [w["raul"].pk, w["lucia"].pk]]}),
        "team.hours_set": (f, team, {"hours": [["0:08:00-17:00"], ["0:08:00-17:00", "5:09:00-13:00"]]}),
        "holiday.created": (f, ("accounts.holiday", 12, "2026-12-25 Navidad"), {}),
        "holiday.deleted": (f, ("accounts.holiday", 12, "2026-12-25 Navidad"), {}),
        "skill.created": (f, ("accounts.skill", 13, "Garantías"), {}),
        "api_token.created": (f, ("accounts.apitoken", 14, "Integración ERP (ctk_ab12…)"), {"user": "rmendoza"}),
        "api_token.revoked": (f, ("accounts.apitoken", 14, "Integración ERP (ctk_ab12…)"), {}),
        "system.process_dismissed": (f, ("core.heartbeat", 7, "worker srv-2:4121 @ 10:02:11"),
                                     {"process": "worker srv-2:4121"}),
        "settings.updated": (f, ("core.sitesettings", 1, "Centralita"),
                             {"company_name": ["Centralita", "Café Andino"], "default_language": ["es", "en"],
                              "brand_color": ["#0b5cad", "#aa3300"]}),
        "product.created": (f, ("catalog.product", 15, "CAF-500 · Café de origen"), {"price": "150000.00"}),
        "product.updated": (f, ("catalog.product", 15, "CAF-500 · Café de origen"),
                            {"price": ["150000.00", "160000.00"], "is_active": ["True", "False"]}),
        "stock.received": (f, ("catalog.product", 15, "CAF-500 · Café de origen"),
                           {"quantity": 20, "reason": "Compra a proveedor"}),
        "stock.adjusted": (f, ("catalog.product", 15, "CAF-500 · Café de origen"),
                           {"on_hand": -2, "set_aside": 0, "reason": "Conteo físico"}),
        "demo.catalog_seeded": (None, None, {"products": 12}),
        "demo.seeded": (None, None, {"seed": 7, "scale": "small", "users": 40, "availability_events": 900}),
        "kommo.sync_retried": (f, None, {"ids": [9001, 9002]}),
        "kommo.connected": (None, ("crm.kommoaccount", 1, "mycompany"),
                            {"subdomain": "mycompany", "to_call": "Ventas / Para Llamar",
                             "confirmed": "Ventas / Venta Confirmada", "auth": "long_lived"}),
        "kommo.webhook_secret_rotated": (f, ("crm.kommoaccount", 1, "mycompany"), {}),
        "kommo.webhook_retried": (f, ("crm.webhookdelivery", 9003, "kommo #9003 failed"), {}),
        "order.created": (r, order, {}),
        "order.confirmado": (r, order, {"state": ["borrador", "confirmado"], "total": "325000.00"}),
        "order.cancelado": (f, order, {"state": ["confirmado", "cancelado"], "reason": "El cliente desistió"}),
        "order.despachado": (f, order, {"state": ["confirmado", "despachado"]}),
        "customer.updated": (r, ("customers.customer", 16, "Ana Ruiz"),
                             {"name": ["Ana", "Ana Ruiz"], "phones": [["+573001112233"], ["+573001112244"]],
                              "emails": [[], ["ana@example.com"]], "marketing_lists": [[7421], [7421, 7422]]}),
        "marketing_list.created": (f, ("customers.marketinglist", 7422, "Recompra"), {}),
        "quick_reply.created": (r, ("automation.quickreply", 31, "/saludo — Saludo"),
                                {"title": "Saludo", "shortcut": "saludo", "scope": "mias"}),
        "quick_reply.updated": (f, ("automation.quickreply", 31, "/saludo — Saludo"),
                                {"scope": ["mias", "todos"], "title": ["Saludo", "Saludo de bienvenida"]}),
        "quick_reply.deleted": (f, ("automation.quickreply", 31, "/saludo — Saludo"),
                                {"shortcut": "saludo", "title": "Saludo"}),
        "sla_policies.updated": (f, None, {"whatsapp": {"first_response_seconds": 240},
                                           "email/Ventas Colombia": {"deleted": True}}),
        "automation_rule.created": (r, ("automation.automationrule", 12, "Bienvenida"),
                                    {"event": "message.received", "active": True}),
        "automation_rule.updated": (f, ("automation.automationrule", 12, "Bienvenida"), {"active": [False, True]}),
        "automation_rule.deleted": (f, ("automation.automationrule", 12, "Bienvenida"),
                                    {"name": "Bienvenida", "event": "message.received"}),
        "sequence.created": (r, ("automation.sequence", 4, "Posventa"), {"steps": 3}),
        "sequence.updated": (f, ("automation.sequence", 4, "Posventa"), {"steps": True}),
        "sequence.deleted": (f, ("automation.sequence", 4, "Posventa"), {"name": "Posventa"}),
        "customer.merged": (f, ("customers.customer", 16, "Ana Ruiz"), {"merged": [9004, "Ana R."]}),
        "customer.created": (r, ("customers.customer", 17, "Lucía Peña"), {"name": ["?", "Lucía Peña"]}),
        "customer.consent_changed": (r, ("customers.customer", 17, "Lucía Peña"), {
            "channel": "whatsapp", "status": [None, "opted_in"], "source": "Formulario de la tienda"}),
        "segment.created": (f, ("customers.segment", 5, "Clientes VIP"), {"name": [None, "Clientes VIP"]}),
        "segment.updated": (f, ("customers.segment", 5, "Clientes VIP"), {"active": [True, False]}),
        "segment.deleted": (f, ("customers.segment", 5, "Clientes VIP"), {"name": "Clientes VIP"}),
        "campaign.created": (f, ("campaigns.campaign", 3, "Te extrañamos"), {"name": [None, "Te extrañamos"]}),
        "campaign.updated": (f, ("campaigns.campaign", 3, "Te extrañamos"), {"subject": ["", "Vuelve"]}),
        "campaign.launched": (f, ("campaigns.campaign", 3, "Te extrañamos"), {"recipients": 1200, "skipped": 40}),
        "campaign.tested": (f, ("campaigns.campaign", 3, "Te extrañamos"), {"address": "+573001234567"}),
        "campaign.paused": (f, ("campaigns.campaign", 3, "Te extrañamos"), {}),
        "campaign.resumed": (f, ("campaigns.campaign", 3, "Te extrañamos"), {}),
        "campaign.cancelled": (f, ("campaigns.campaign", 3, "Te extrañamos"), {"not_sent": 800}),
        "campaign.unscheduled": (f, ("campaigns.campaign", 3, "Te extrañamos"), {}),
        "campaign.settings_updated": (f, ("campaigns.campaignsettings", 1, "Configuración de campañas"),
                                      {"cost_sms": ["0", "35"]}),
        "chat_channel.created": (f, ("teamchat.channel", 7, "Ventas norte"),
                                 {"name": "Ventas norte", "kind": "publico", "members": [f.pk, r.pk]}),
        "chat_channel.updated": (f, ("teamchat.channel", 7, "Ventas norte"), {"topic": ["", "Metas del mes"]}),
        "chat_channel.archived": (f, ("teamchat.channel", 7, "Ventas norte"), {"state": ["activo", "archivado"]}),
        "chat_channel.unarchived": (f, ("teamchat.channel", 7, "Ventas norte"), {"state": ["archivado", "activo"]}),
        "chat_member.added": (f, ("teamchat.channel", 7, "Ventas norte"), {"users": [r.pk], "reason": "added"}),
        "chat_member.removed": (f, ("teamchat.channel", 7, "Ventas norte"), {"users": [r.pk], "reason": "removed"}),
        "chat_member.role_changed": (f, ("teamchat.channel", 7, "Ventas norte"),
                                     {"user": r.pk, "role": "propietario"}),
        "chat_message.deleted": (f, ("teamchat.channel", 7, "Ventas norte"),
                                 {"message": 91, "author": r.pk, "files": 0}),
        "chat_message.purged": (None, None, {"messages": 120, "retention_days": 90}),
        "chat_settings.retention": (f, None, {"retention_days": [0, 90]}),
        "article.created": (f, ("knowledge.article", 23, "Devoluciones y cambios"),
                            {"title": [None, "Devoluciones y cambios"], "language": [None, "es"]}),
        "article.updated": (f, ("knowledge.article", 23, "Devoluciones y cambios"), {"tags": ["", "cambios"]}),
        "article.published": (f, ("knowledge.article", 23, "Devoluciones y cambios"), {}),
        "article.unpublished": (f, ("knowledge.article", 23, "Devoluciones y cambios"), {}),
        "article.deleted": (f, ("knowledge.article", 23, "Devoluciones y cambios"),
                            {"title": "Devoluciones y cambios", "state": "borrador"}),
        "article_category.saved": (f, ("knowledge.category", 24, "Envíos"), {"name": ["Envios", "Envíos"]}),
        "article_category.deleted": (f, ("knowledge.category", 24, "Envíos"), {"name": "Envíos", "articles": 3}),
        "announcement.created": (f, ("announcements.announcement", 31, "Nueva política de devoluciones"),
                                 {"title": [None, "Nueva política de devoluciones"], "category": [None, "politica"]}),
        "announcement.updated": (f, ("announcements.announcement", 31, "Nueva política de devoluciones"),
                                 {"pinned_until": [None, "2026-12-31"]}),
        "announcement.scheduled": (f, ("announcements.announcement", 31, "Nueva política de devoluciones"),
                                   {"publish_at": "2026-12-08T13:00:00+00:00"}),
        "announcement.unscheduled": (f, ("announcements.announcement", 31, "Nueva política de devoluciones"), {}),
        "announcement.published": (None, ("announcements.announcement", 31, "Nueva política de devoluciones"),
                                   {"recipients": 42, "scheduled": True}),
        "announcement.archived": (f, ("announcements.announcement", 31, "Nueva política de devoluciones"),
                                  {"recipients": 42, "acked": 40, "read": 41, "pending": 2}),
        "announcement.deleted": (f, ("announcements.announcement", 31, "Nueva política de devoluciones"),
                                 {"title": "Nueva política de devoluciones", "state": "borrador"}),
        "announcement.reminded": (f, ("announcements.announcement", 31, "Nueva política de devoluciones"),
                                  {"recipients": 2}),
        "bot_flow.created": (f, ("bots.botflow", 5, "Estado de mi pedido"), {}),
        "bot_flow.saved": (f, ("bots.botflow", 5, "Estado de mi pedido"), {"graph": ["…", "…"]}),
        "bot_flow.published": (f, ("bots.botflow", 5, "Estado de mi pedido"), {"version": [1, 2]}),
        "bot_flow.deleted": (f, ("bots.botflow", 5, "Estado de mi pedido"), {"name": ["Estado de mi pedido", None]}),
        "lead.status_changed": (r, lead, {"work_status": ["ninguno", "en_proceso"], "reason": "note"}),
        "lead.note_added": (r, lead, {"outcome": "positivo", "template": "Llamar nuevamente"}),
        "lead.released": (f, lead, {"held_by": ["rmendoza", None]}),
        "lead.reassigned": (f, lead, {"held_by": ["rmendoza", "lucia.p"]}),
        "lead.taken": (r, lead, {}),
        "note_template.saved": (f, ("leads.notetemplate", 17, "Llamar nuevamente"), {"tags": ["VIP", "Recompra"]}),
        "lead_settings.updated": (f, ("leads.leadsettings", 1, "LeadSettings"), {
            "before": {"reservation_roles": ["agente"], "queue_lists": [], "extra_customer_fields": []},
            "after": {"reservation_roles": ["agente", "supervisor"], "queue_lists": [7421],
                      "extra_customer_fields": ["cumpleaños"]}}),
        "mail.mailbox_created": (f, ("mail.mailbox", 18, "ventas@example.com"),
                                 {"address": [None, "ventas@example.com"], "imap_password": ["***", "***"]}),
        "mail.mailbox_updated": (f, ("mail.mailbox", 18, "ventas@example.com"),
                                 {"imap_host": ["imap.old.example", "imap.example.com"], "enabled": ["True", "False"],
                                  "smtp_password": ["***", "***"]}),
        "mail.webhook_token_rotated": (f, ("mail.mailbox", 18, "ventas@example.com"), {}),
        "webchat.site_created": (f, ("webchat.chatsite", 19, "Tienda en línea"),
                                 {"name": "Tienda en línea", "inbox": "posventa-co", "enabled": True}),
        "webchat.site_updated": (f, ("webchat.chatsite", 19, "Tienda en línea"),
                                 {"inbox": [None, "posventa-co"], "enabled": [True, False],
                                  "allowed_origins": [["https://a.example"], ["https://b.example"]]}),
        "webchat.site_token_rotated": (f, ("webchat.chatsite", 19, "Tienda en línea"), {}),
        "webchat.whatsapp_template_updated": (f, ("webchat.whatsapplinksettings", 1, "wa.me"),
                                              {"message_template": ["Hola", "Hola, vengo de la web"]}),
        "whatsapp.connected": (None, ("whatsapp.whatsappnumber", 20, "+57 300 1234567"),
                               {"phone_number_id": "1099", "waba_id": "2099", "inbox": "posventa-co",
                                "base_url": "https://graph.facebook.com", "display_phone_number": "+57 300 1234567"}),
        "whatsapp.activated": (f, ("whatsapp.whatsappnumber", 20, "+57 300 1234567"), {}),
        "whatsapp.deactivated": (f, ("whatsapp.whatsappnumber", 20, "+57 300 1234567"), {}),
        "whatsapp.templates_synced": (f, ("whatsapp.whatsappnumber", 20, "+57 300 1234567"), {"approved": 4}),
        "whatsapp.webhook_retried": (f, ("whatsapp.webhookdelivery", 9005, "whatsapp #9005 failed"), {}),
        "sms.connected": (None, ("sms.smsaccount", 22, "Ventas SMS (+15017122661)"),
                          {"name": "Ventas SMS", "account_sid": "AC" + "0" * 32, "sender": "+15017122661",
                           "base_url": "https://api.twilio.com", "rate_per_second": 1, "cost_per_segment": "0.0079",
                           "currency": "USD", "inbox": "posventa-co", "auth_token_changed": True}),
        "sms.updated": (f, ("sms.smsaccount", 22, "Ventas SMS (+15017122661)"),
                        {"name": "Ventas SMS", "account_sid": "AC" + "0" * 32, "sender": "+15017122661",
                         "base_url": "https://api.twilio.com", "rate_per_second": 3, "cost_per_segment": "0.0079",
                         "currency": "USD", "inbox": None, "auth_token_changed": False}),
        "sms.activated": (f, ("sms.smsaccount", 22, "Ventas SMS (+15017122661)"), {}),
        "sms.deactivated": (f, ("sms.smsaccount", 22, "Ventas SMS (+15017122661)"), {}),
        "sms.webhook_retried": (f, ("sms.webhookdelivery", 9008, "sms #9008 inbound failed"), {}),
        "webhook_endpoint.saved": (f, ("webhooks.webhookendpoint", 21, "https://erp.example.com/hook"),
                                   {"url": "https://erp.example.com/hook", "events": ["order.confirmed"],
                                    "active": True}),
        "webhook.retried": (f, None, {"ids": [9006]}),
        "history.import_started": (f, ("reports.importjob", 9007, "import 9007 (pending)"),
                                   {"conversations": "imports/conversaciones.csv", "sales": "", "skip_invalid": False}),
        "conversation.closed": (r, conversation, {"reason": "answered", "cycle": 1, "outcome": "genero_venta"}),
        "conversation.closure_reviewed": (f, conversation, {"cycle": 2, "verdict": "incorrecto"}),
        "message.delivery_retried": (r, conversation, {"error": "5.1.1 Usuario desconocido"}),
        "inbox.created": (f, inbox, {"name": "Posventa Colombia", "code": "posventa-co", "auto_assign": True,
                                     "skill": "garantias-co", "teams": [w["ventas"].pk, w["soporte"].pk]}),
        "inbox.updated": (f, inbox, {"auto_assign": [True, False], "skill": [None, "garantias-co"],
                                     "teams": [[w["ventas"].pk], [w["soporte"].pk]]}),
        "inbox.category_created": (f, inbox, {"category": [None, "Garantías"]}),
        "inbox.category_renamed": (f, inbox, {"category": ["Garantias", "Garantías"]}),
        "inbox.category_deleted": (f, inbox, {"category": ["Garantías", None]}),
        "something.new": (f, inbox, {"colour": ["rojo", "azul"]}),
    }


def make_entries(w):
    rows = []
    for action, (actor, target, changes) in samples(w).items():
        target_type, target_id, target_repr = target or ("", "", "")
        rows.append(AuditLog.objects.create(
            actor=actor, actor_username=actor.username if actor else ("manage.py" if action != "auth.login_failed"
                                                                      else "fcardenaz"),
            action=action, target_type=target_type, target_id=str(target_id), target_repr=target_repr,
            changes=changes, via="web"))
    return rows


CODES = {"garantias-co", "ventas-co", "soporte-co", "posventa-co", "agente", "supervisor", "disponible",
         "ausente", "en_proceso", "ninguno", "positivo", "answered", "genero_venta", "incorrecto", "rmendoza",
         "lucia.p", "long_lived", "is_active", "full_name", "notify_browser", "work_status", "held_by",
         "marketing_lists", "reservation_roles", "queue_lists", "imap_password", "smtp_password", "True", "False",
         "None", "LeadSettings", "whatsapp", "***"}
CODES -= {"incorrecto"}  # a Spanish word in its own label ("Cierre incorrecto")
IDS = {7401, 7402, 7403, 7411, 7412, 7421, 7422, 9001, 9002, 9004, 9006}


def test_every_audited_action_has_a_sample_and_a_sentence(world):
    # given every action the code base audits
    actions = audited_actions()
    assert {"auth.login", "conversation.closed", "order.confirmado", "lead.reassigned"} <= actions
    # then each one has its own sentence and a sample in this test
    assert actions <= DESCRIBED_ACTIONS, actions - DESCRIBED_ACTIONS
    assert actions <= set(samples(world)), actions - set(samples(world))


def test_every_audit_action_reads_as_a_sentence_in_both_languages(world):
    # given one entry per action
    entries = make_entries(world)
    for language in ("es", "en"):
        with translation.override(language):
            # when
            rows = list(AuditLog.objects.filter(pk__in=[e.pk for e in entries]).select_related("actor"))
            annotate_audit(rows)
            # then
            for row in rows:
                assert row.action not in row.text
                assert_readable(row.text, ids=IDS, codes=CODES, spanish=language == "es")
            joined = "\n".join(row.text for row in rows)
            for name in ("Fernanda Cárdenas", "Raúl Mendoza", "Lucía Peña", "Ventas Colombia", "Soporte Colombia",
                         "Garantías", "Posventa Colombia", "Clientes VIP", "Recompra", "#8123"):
                assert name in joined, (language, name)


def test_audit_sentences(world):
    # given
    entries = {e.action: e for e in make_entries(world)}
    # when
    with translation.override("es"):
        rows = list(AuditLog.objects.select_related("actor"))
        annotate_audit(rows)
    text = {row.action: row.text for row in rows}
    # then
    assert text["auth.login"] == "Fernanda Cárdenas inició sesión"
    assert text["system.process_dismissed"] == ("Fernanda Cárdenas descartó el aviso del proceso de fondo "
                                                "«worker srv-2:4121»")
    assert text["conversation.closed"] == ("Raúl Mendoza cerró la conversación #8123 (motivo: El cliente recibió una "
                                           "respuesta clara); resultado: Generó venta")
    assert text["auth.login_failed"] == "Intento fallido de inicio de sesión con el usuario «fcardenaz»"
    assert text["user.role_changed"] == ("Fernanda Cárdenas cambió el rol de Raúl Mendoza de Agente (operador) a "
                                         "Supervisor(a) de agentes")
    assert text["user.availability_changed"] == "Raúl Mendoza pasó de Disponible a Ausente"
    assert text["team.updated"] == ("Fernanda Cárdenas actualizó el equipo Ventas Colombia: nombre: Ventas → Ventas "
                                    "Colombia; activo: Sí → No; miembros: Raúl Mendoza → Raúl Mendoza, Lucía Peña")
    assert text["team.hours_set"] == ("Fernanda Cárdenas cambió el horario del equipo Ventas Colombia: "
                                      "Lunes 08:00–17:00, Sábado 09:00–13:00")
    assert text["lead.reassigned"] == ("Fernanda Cárdenas reasignó el lead Pedido Ferretería (#1000123) de Raúl "
                                       "Mendoza a Lucía Peña")
    assert text["lead_settings.updated"] == (
        "Fernanda Cárdenas cambió la configuración de la cola de leads: roles con reserva: Agente (operador) → "
        "Agente (operador), Supervisor(a) de agentes; datos extra del cliente a mostrar: — → cumpleaños; limitar la "
        "cola a estas listas: — → Clientes VIP")  # the model's field order, whatever order the database kept
    assert text["mail.mailbox_updated"] == (
        "Fernanda Cárdenas cambió el buzón de correo ventas@example.com: activo: Sí → No; servidor IMAP: "
        "imap.old.example → imap.example.com; contraseña SMTP: se cambió")
    assert text["order.confirmado"] == "Raúl Mendoza confirmó el pedido P-000077 por 325.000"
    assert text["kommo.sync_retried"] == "Fernanda Cárdenas reintentó 2 sincronizaciones con Kommo"
    assert text["demo.seeded"] == "El sistema cargó los datos de demostración"
    assert text["something.new"] == "Fernanda Cárdenas registró un cambio en Posventa Colombia: colour: rojo → azul"
    assert entries  # every sample was stored


def test_annotate_audit_query_count_is_flat(world, django_assert_num_queries):
    # given a page of 60 entries naming users, teams, skills, inboxes and lists
    make_entries(world)
    make_entries(world)
    rows = list(AuditLog.objects.select_related("actor"))
    assert len(rows) > 50
    # when / then: one query per kind of name, whatever the number of entries
    with django_assert_num_queries(5):
        annotate_audit(rows)


def test_describe_audit_alone_resolves_its_own_names(world):
    # given
    entry = AuditLog.objects.create(actor=world["fernanda"], actor_username="fcardenas", action="team.updated",
                                    target_type="accounts.team", target_id=str(world["ventas"].pk),
                                    target_repr="Ventas Colombia", changes={"members": [[], [world["lucia"].pk]]})
    # when
    with translation.override("es"):
        text = describe_audit(entry)
    # then
    assert text == "Fernanda Cárdenas actualizó el equipo Ventas Colombia: miembros: — → Lucía Peña"


def test_audit_page_shows_sentences_and_keeps_codes_in_titles(world, client_for):
    # given
    make_entries(world)
    # when
    page = client_for(world["fernanda"]).get(reverse("auditlog:audit")).content.decode()
    # then
    visible = re.sub(r"<[^>]+>", " ", page)
    assert "Raúl Mendoza cerró la conversación #8123" in visible
    assert 'title="conversation.closed"' in page
    for code in ("auth.login", "conversation.closed", "{'", "':"):
        assert code not in visible


def test_money_uses_the_house_format():
    assert money("325000.00", "COP") == "325.000\u00a0COP"
    assert money("1234.5") == "1.235"  # the organization's currency (COP) has no cents
    assert money("1234.5", "PEN") == "1.234,50\u00a0PEN"


def test_system_page_shows_job_titles_and_reasons_translated(world, client_for):
    # when
    with translation.override("es"):
        page = client_for(world["fernanda"]).get(reverse("core:system"), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    visible = re.sub(r"<[^>]+>", " ", page)
    # then every job reads as a title, a cadence and a reason, its machine name only in a title attribute
    for job in SCHEDULE:
        assert job.label and job.title in visible
        assert str(job.reason) in visible
        assert job.name not in visible
    assert "cada 30 segundos" in visible
    with translation.override("en"):
        assert all(job.title and job.cadence and str(job.reason) for job in SCHEDULE)
