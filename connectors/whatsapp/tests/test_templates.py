"""Templates: synced from the Graph API (button, periodic job), offered in the conversation with variables
pre-filled from the customer, and sent outside the 24-hour window through our view and check_send_reply."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from connectors.whatsapp.models import MessageTemplate
from connectors.whatsapp.outbound import send_outbound
from connectors.whatsapp.tasks import sync_whatsapp_templates
from connectors.whatsapp.tests.helpers import WA_ID, clear_tasks, inbound, post, run_worker
from fakes import whatsapp as fw
from inbox.models import Message

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture(autouse=True)
def _tasks():
    clear_tasks()
    yield
    clear_tasks()


@pytest.fixture
def agent(db):
    return UserFactory(role=Role.AGENTE, username="valeria", full_name="Valeria Ruiz")


@pytest.fixture
def conversation(client, whatsapp_number, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, whatsapp_number, inbound(whatsapp_number, fw.text_message(
            WA_ID, "Hola", timestamp=int(NOW.timestamp()), wamid="wamid.in")), )
    run_worker()
    return Message.objects.get(external_id="wamid.in").conversation


def test_connecting_syncs_the_approved_templates(whatsapp_number):
    names = set(MessageTemplate.objects.filter(status="APPROVED").values_list("name", flat=True))
    assert names == {"seguimiento_pedido", "retomar_conversacion", "recordatorio_pago", "bienvenida"}
    assert MessageTemplate.objects.filter(status__in=["PENDING", "REJECTED"]).count() == 2
    assert whatsapp_number.templates_synced_at is not None


def test_sync_follows_paging_and_drops_deleted_templates(whatsapp_number, fake_whatsapp):
    # given a WABA with more templates than one page, and one deleted at Meta since the last sync
    for i in range(130):
        fake_whatsapp.state.add_template({"name": f"aviso_{i:03d}", "language": "es", "components": [
            {"type": "BODY", "text": f"Aviso {i}"}]})
    fake_whatsapp.state.templates = [t for t in fake_whatsapp.state.templates if t["name"] != "bienvenida"]
    # when the periodic job runs
    result = sync_whatsapp_templates.call()
    # then every page was read and the deleted one is gone
    assert result == {whatsapp_number.waba_id: 133}
    assert MessageTemplate.objects.filter(name__startswith="aviso_").count() == 130
    assert not MessageTemplate.objects.filter(name="bienvenida").exists()
    pages = [r for r in fake_whatsapp.state.requests if r["path"].endswith("/message_templates")]
    assert len(pages) >= 3


def test_sync_button_on_the_admin_page(client, whatsapp_number, fake_whatsapp):
    admin = UserFactory(role=Role.ADMIN)
    client.force_login(admin)
    fake_whatsapp.state.add_template({"name": "nueva", "language": "es", "components": [{"type": "BODY",
                                                                                       "text": "Hola"}]})
    response = client.post(reverse("whatsapp:sync_templates", args=[whatsapp_number.pk]), follow=True)
    assert "Plantillas sincronizadas: 5 aprobadas." in response.content.decode()
    fake_whatsapp.state.fail_next(10, status=500, path="/message_templates")
    response = client.post(reverse("whatsapp:sync_templates", args=[whatsapp_number.pk]), follow=True)
    assert "WhatsApp respondió" in response.content.decode()


def test_closed_window_shows_the_reason_and_the_picker_with_the_customers_name(client, agent, conversation):
    client.force_login(agent)
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        page = client.get(reverse("inbox:detail", args=[conversation.pk])).content.decode()
    assert 'data-testid="wa-window" data-open="0"' in page and "Ventana de 24 h: cerrada" in page
    assert "La ventana de 24 horas de WhatsApp está cerrada" in page
    assert "<details open data-testid=\"wa-templates\">" in page
    # the first variable of a positional template is the customer's first name; named ones by their name
    template = MessageTemplate.objects.get(name="seguimiento_pedido")
    assert f'name="wa_t{template.pk}_1" value="Ana"' in page
    assert f'name="wa_t{template.pk}_2" value=""' in page and 'placeholder="1042"' in page
    named = MessageTemplate.objects.get(name="bienvenida")
    assert f'name="wa_t{named.pk}_first_name" value="Ana"' in page


def test_open_window_shows_the_time_left(client, agent, conversation):
    client.force_login(agent)
    with time_machine.travel(NOW + timedelta(hours=20, minutes=47, seconds=30), tick=False):
        page = client.get(reverse("inbox:detail", args=[conversation.pk])).content.decode()
    assert "Ventana de 24 h: quedan 3 h 12 min" in page and 'data-open="1"' in page


def test_template_send_outside_the_window_reaches_meta_with_its_parameters(client, agent, conversation,
                                                                           fake_whatsapp):
    template = MessageTemplate.objects.get(name="seguimiento_pedido")
    client.force_login(agent)
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        # given free text is refused…
        refused = client.post(reverse("inbox:message", args=[conversation.pk]),
                              {"kind": "reply", "body": "Hola"}, follow=True)
        assert "plantillas aprobadas" in refused.content.decode()
        # …when the agent sends the template with its variables
        response = client.post(reverse("whatsapp:send_template", args=[conversation.pk]), {
            "wa_template": str(template.pk), f"wa_t{template.pk}_1": "Ana", f"wa_t{template.pk}_2": "1042",
            "body": "", "kind": "reply"}, follow=True)
    # then it is stored with the rendered text and the template in its meta…
    assert "Plantilla enviada al cliente." in response.content.decode()
    message = Message.objects.get(kind="outbound")
    assert message.body == "Hola Ana, tu pedido 1042 está en camino. ¿Te ayudamos en algo más?"
    assert message.meta["template"] == {"name": "seguimiento_pedido", "language": {"code": "es"}, "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "1042"}]}]}
    # …and the sender posts a template message that the (fake) Graph API accepts
    assert send_outbound(message.pk) == "sent"
    (record,) = fake_whatsapp.state.sent
    assert record["type"] == "template" and record["payload"]["template"]["name"] == "seguimiento_pedido"
    page = client.get(reverse("inbox:detail", args=[conversation.pk])).content.decode()
    assert "Plantilla «seguimiento_pedido»" in page and 'data-status="sent"' in page


def test_named_parameters_carry_their_names(client, agent, conversation, fake_whatsapp):
    template = MessageTemplate.objects.get(name="bienvenida")
    client.force_login(agent)
    client.post(reverse("whatsapp:send_template", args=[conversation.pk]),
                {"wa_template": str(template.pk), f"wa_t{template.pk}_first_name": "Ana"})
    message = Message.objects.get(kind="outbound")
    assert message.meta["template"]["components"][0]["parameters"] == [
        {"type": "text", "text": "Ana", "parameter_name": "first_name"}]
    assert send_outbound(message.pk) == "sent"


def test_missing_variables_and_unapproved_templates_are_refused(client, agent, conversation):
    client.force_login(agent)
    template = MessageTemplate.objects.get(name="seguimiento_pedido")
    response = client.post(reverse("whatsapp:send_template", args=[conversation.pk]),
                           {"wa_template": str(template.pk), f"wa_t{template.pk}_1": "Ana"}, follow=True)
    assert "Complete las variables de la plantilla: {{2}}." in response.content.decode()
    pending = MessageTemplate.objects.get(name="promo_navidad")
    response = client.post(reverse("whatsapp:send_template", args=[conversation.pk]),
                           {"wa_template": str(pending.pk), f"wa_t{pending.pk}_1": "Ana"}, follow=True)
    assert "no está aprobada" in response.content.decode()
    assert not Message.objects.filter(kind="outbound").exists()


def test_a_template_is_not_sent_with_files_attached_in_the_reply_form(client, agent, conversation):
    # given files attached in the reply form (the template button posts that same form)
    template = MessageTemplate.objects.get(name="bienvenida")
    client.force_login(agent)
    photo = SimpleUploadedFile("foto.png", b"\x89PNG", content_type="image/png")
    for extra in ({"attachments": [photo]}, {"attachment_refs": ["quick_reply:1"]}):
        # when the agent sends the template, then it is refused with the reason and nothing goes out
        response = client.post(reverse("whatsapp:send_template", args=[conversation.pk]),
                               {"wa_template": str(template.pk), f"wa_t{template.pk}_first_name": "Ana", **extra},
                               follow=True)
        assert "Una plantilla se envía sin archivos" in response.content.decode()
    assert not Message.objects.filter(kind="outbound").exists()
