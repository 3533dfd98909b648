"""The campaign pages in the browser's terms: who may open what, the editor's errors all at once, the live audience
count and message preview, the test send, the launch with its confirmation, pause / resume / cancel, the live
results, the recipients' report and the settings. Writes go through the actions; these tests check the wiring."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.tasks import default_task_backend
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from campaigns.actions import CampaignInput, check_launch, check_save_campaign
from campaigns.choices import CampaignChannel, CampaignState, RecipientState, SkipReason
from campaigns.models import Campaign, CampaignRecipient, CampaignSettings
from campaigns.tests.helpers import customer, marketer
from campaigns.views import transition_sentence
from connectors.whatsapp.models import MessageTemplate, WhatsappNumber
from core.text import percent
from customers.choices import ConsentStatus
from customers.models import Segment, SegmentMembership

pytestmark = pytest.mark.django_db
R = RecipientState


# --- data -------------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_tasks():
    default_task_backend.clear()
    yield
    default_task_backend.clear()


@pytest.fixture
def marta():
    return marketer()  # director de ventas: sees and manages campaigns


@pytest.fixture
def number(db):
    # base_url on the discard port: nothing here calls Meta (the launch only queues the sender)
    return WhatsappNumber.objects.create(phone_number_id="555001", waba_id="waba-1",
                                         display_phone_number="+57 601 555 0000", verified_name="Tienda Ejemplo",
                                         access_token="t", app_secret="s", verify_token="v",
                                         base_url="http://127.0.0.1:9")


@pytest.fixture
def template(number):
    return MessageTemplate.objects.create(
        waba_id=number.waba_id, name="vuelve_pronto", language="es", status="APPROVED", category="MARKETING",
        components=[{"type": "BODY", "text": "Hola {{1}}, te extrañamos. Vuelve con {{2}} de descuento.",
                     "example": {"body_text": [["Ana", "20%"]]}},
                    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Quiero volver"}]}])


def in_segment(code: str, *customers):
    # the built-in segments come with a migration; a transactional test's flush may have removed them
    segment = Segment.objects.get_or_create(code=code, defaults={
        "name": code.capitalize(), "rules": {"any": [{"no_purchase_days": 90}]}})[0]
    for c in customers:
        SegmentMembership.objects.create(segment=segment, customer=c)
    return segment


@pytest.fixture
def inactive(db):
    """The *inactivo* segment: one customer the campaign reaches, and one of each reason to be left out; plus a
    customer outside the segment."""
    people = {
        "ana": customer("Ana María Peña", phone="+573001110001", city="Medellín"),
        "beto": customer("Alberto Ruiz", phone="+573001110002", consent=ConsentStatus.OPTED_OUT),
        "carla": customer("Carla Gómez", phone="+573001110003", consent=None),
        "dario": customer("Darío Sin Teléfono"),
    }
    in_segment("inactivo", *people.values())
    customer("Eva Luna", phone="+573001110009")  # reachable, but not inactive
    return people


def form_data(**extra):
    """The editor's fields as the browser posts them for a WhatsApp campaign."""
    data = {"name": "Te extrañamos", "objective": "reactivacion", "channel": "whatsapp", "schedule_mode": "now",
            "window_start": "09:00", "window_end": "19:00", "conversion_days": "7"}
    data.update(extra)
    return data


def draft(user, number, template, **extra):
    values = {"name": "Te extrañamos", "channel": CampaignChannel.WHATSAPP, "objective": "reactivacion",
              "audience": {"segments": ["inactivo"]}, "wa_number_id": number.pk, "wa_template_id": template.pk,
              "wa_variables": {"1": {"source": "field", "value": "nombre"}, "2": {"source": "text", "value": "20%"}}}
    values.update(extra)
    return check_save_campaign(user, None, CampaignInput(**values))


@pytest.fixture
def campaign(marta, number, template, inactive):
    return draft(marta, number, template)


@pytest.fixture
def launched(campaign, marta, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        check_launch(marta, campaign.pk)
    campaign.refresh_from_db()
    return campaign


# --- access -----------------------------------------------------------------------------------------------------

VIEW_PAGES = ["campaigns:list", "campaigns:detail", "campaigns:results", "campaigns:report", "campaigns:email_frame"]
MANAGE_PAGES = ["campaigns:create", "campaigns:edit", "campaigns:launch", "campaigns:settings",
                "campaigns:audience_preview", "campaigns:template_fields"]


def url(name, campaign):
    return reverse(name, args=[campaign.pk]) if name.split(":")[1] in {
        "detail", "results", "report", "edit", "launch"} else reverse(name)


@pytest.mark.parametrize("name", VIEW_PAGES + MANAGE_PAGES)
@pytest.mark.parametrize(("role", "can_view", "can_manage"), [
    (Role.DIRECTOR_VENTAS, True, True), (Role.SUPERVISOR, True, True), (Role.ANALISTA, True, False),
    (Role.GERENTE, True, False), (Role.AGENTE, False, False)])
def test_each_page_opens_for_the_roles_that_may_see_it(name, role, can_view, can_manage, campaign, client_for):
    # given a user of `role`
    client = client_for(UserFactory(role=role))
    # when they open the page
    response = client.get(url(name, campaign))
    # then it answers by their permissions: 200 when allowed, 403 otherwise
    allowed = can_manage if name in MANAGE_PAGES else can_view
    assert response.status_code == (200 if allowed else 403), (name, role, response.status_code)


@pytest.mark.parametrize("name", ["campaigns:detail", "campaigns:edit", "campaigns:results", "campaigns:report",
                                  "campaigns:launch"])
def test_a_campaign_that_does_not_exist_is_404(name, marta, client_for):
    response = client_for(marta).get(reverse(name, args=[987654]))
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["campaigns:pause", "campaigns:resume", "campaigns:cancel", "campaigns:unschedule",
                                  "campaigns:test_send"])
def test_writing_to_a_campaign_that_does_not_exist_is_404(name, marta, client_for):
    assert client_for(marta).post(reverse(name, args=[987654])).status_code == 404


@pytest.mark.parametrize("name", ["campaigns:pause", "campaigns:resume", "campaigns:cancel", "campaigns:launch",
                                  "campaigns:test_send", "campaigns:unschedule"])
def test_an_analyst_may_look_but_not_act(name, launched, client_for):
    response = client_for(UserFactory(role=Role.ANALISTA)).post(reverse(name, args=[launched.pk]))
    assert response.status_code == 403
    launched.refresh_from_db()
    assert launched.state == CampaignState.SENDING


# --- the list ---------------------------------------------------------------------------------------------------


def test_the_empty_list_explains_campaigns_to_a_first_time_user(marta, client_for):
    response = client_for(marta).get(reverse("campaigns:list"))
    page = response.content.decode()
    assert 'data-testid="campaigns-empty"' in page
    assert "Crear la primera campaña" in page and "BAJA" in page


def test_the_list_shows_each_campaign_with_its_audience_results_and_filters(
        launched, marta, number, template, client_for, django_assert_max_num_queries):
    # given a sending WhatsApp campaign (one delivered of one recipient) and another draft
    CampaignRecipient.objects.filter(campaign=launched, state=R.PENDING).update(state=R.DELIVERED)
    draft(marta, number, template, name="Borrador de enero", audience={"lead_states": ["en_proceso"]})
    client = client_for(marta)
    # when the marketer opens the list
    with django_assert_max_num_queries(14):
        response = client.get(reverse("campaigns:list"))
    page = response.content.decode()
    # then each campaign shows its state, channel, audience in words and rates
    assert [c.name for c in response.context["campaigns"]] == ["Borrador de enero", "Te extrañamos"]
    assert "Segmento «Inactivo»" in page and "Todos los clientes; con lead en proceso" in page
    row = response.context["campaigns"][1]
    assert dict(row.rates)["Entregados"] == percent(1, 1) == "100\u00a0%"
    # and the filters narrow it, in place with htmx
    response = client.get(reverse("campaigns:list"), {"state": "borrador"},
                          headers={"HX-Request": "true", "HX-Target": "div#campaign-results-list"})
    assert [c.name for c in response.context["campaigns"]] == ["Borrador de enero"]
    assert "<html" not in response.content.decode()
    response = client.get(reverse("campaigns:list"), {"channel": "sms"})
    assert list(response.context["campaigns"]) == [] and "Ninguna campaña coincide" in response.content.decode()


def test_the_list_pages_by_keyset(marta, number, template, client_for):
    for n in range(30):
        draft(marta, number, template, name=f"Campaña {n:02d}", audience={})
    client = client_for(marta)
    first = client.get(reverse("campaigns:list"))
    second = client.get(reverse("campaigns:list") + "?" + first.context["next_query"])
    names = [c.name for c in first.context["campaigns"]] + [c.name for c in second.context["campaigns"]]
    assert sorted(names) == [f"Campaña {n:02d}" for n in range(30)]
    assert second.context["next_query"] == ""


# --- the editor -------------------------------------------------------------------------------------------------


def test_saving_a_draft_with_errors_shows_every_problem_at_once(marta, client_for):
    # given an email draft with no name, two bad addresses and a bad cost
    response = client_for(marta).post(reverse("campaigns:create"), form_data(
        name="", channel="email", link_url="ftp://tienda", image_url="imagen.png", cost_per_message="mucho"))
    # then nothing is saved, and each problem is next to its field and listed at the top
    assert response.status_code == 400
    assert not Campaign.objects.exists()
    form = response.context["form"]
    assert set(form.errors) == {"name", "link_url", "image_url", "cost_per_message"}
    page = response.content.decode()
    assert 'data-testid="error-summary"' in page and "Hay 4 problemas" in page
    assert "El nombre es obligatorio." in page and "https://" in page and "Escriba un costo de 0 o más." in page


def test_saving_creates_the_draft_with_the_template_variables_and_opens_it(marta, number, template, inactive,
                                                                          client_for):
    # when the marketer saves a WhatsApp campaign for the inactive segment
    response = client_for(marta).post(reverse("campaigns:create"), form_data(
        segments=["inactivo"], wa_number=str(number.pk), wa_template=str(template.pk),
        wa_var__1__source="nombre", wa_var__2__source="__text__", wa_var__2__text="20%",
        link_url="https://tienda.example.test/vuelve", rate_per_second="5", cost_per_message="0,0150"))
    # then the draft is stored as written and the editor opens it
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("campaigns:edit", args=[campaign.pk])
    assert campaign.state == CampaignState.DRAFT and campaign.audience["segments"] == ["inactivo"]
    assert campaign.wa_variables == {"1": {"source": "field", "value": "nombre"},
                                     "2": {"source": "text", "value": "20%"}}
    assert (campaign.rate_per_second, campaign.cost_per_message) == (5, Decimal("0.0150"))
    # and the editor shows it again, ready to test and launch, with nothing missing
    page = client_for(marta).get(response["Location"]).content.decode()
    assert 'value="Te extrañamos"' in page and 'data-testid="campaign-launch"' in page
    assert 'data-testid="launch-problems"' not in page
    assert "Hola {{1}}, te extrañamos." in page  # the template's text, with its variables to map


def test_the_editor_lists_what_keeps_a_draft_from_launching_per_field(marta, client_for):
    campaign = check_save_campaign(marta, None, CampaignInput(name="A medias", channel=CampaignChannel.EMAIL))
    page = client_for(marta).get(reverse("campaigns:edit", args=[campaign.pk])).content.decode()
    assert 'data-testid="problem-mailbox"' in page and 'data-testid="problem-subject"' in page
    assert 'data-testid="problem-email_body"' in page and "Escriba el asunto." in page


def test_a_launched_campaign_is_not_edited(launched, marta, client_for):
    response = client_for(marta).get(reverse("campaigns:edit", args=[launched.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("campaigns:detail", args=[launched.pk])


def test_the_live_count_matches_the_customers_and_their_consents(inactive, marta, client_for):
    # when the marketer ticks the inactive segment for WhatsApp
    response = client_for(marta).get(reverse("campaigns:audience_preview"),
                                     {"segments": "inactivo", "channel": "whatsapp"})
    preview = response.context["preview"]
    # then one of the four is reached, and each other one is left out with the reason
    assert (preview.total, preview.reachable) == (4, 1)
    assert {reason: n for reason, _label, n in response.context["skipped_rows"]} == {
        SkipReason.NO_CONSENT: 1, SkipReason.OPTED_OUT: 1, SkipReason.NO_ADDRESS: 1}
    page = response.content.decode()
    assert "1 sin consentimiento" in page and "1 dado de baja" in page and "1 sin teléfono" in page
    assert "3 quedan fuera" in page
    # and the sample links to the reached customer's profile
    assert [c.name for c in preview.sample] == ["Ana María Peña"]
    assert reverse("customers:detail", args=[inactive["ana"].pk]) in page
    # the same audience by email reaches nobody (nobody has an email): all four "sin correo"
    response = client_for(marta).get(reverse("campaigns:audience_preview"),
                                     {"segments": "inactivo", "channel": "email"})
    assert response.context["preview"].reachable == 0 and "4 sin correo" in response.content.decode()


def test_an_unknown_segment_in_the_live_count_is_said_not_widened(marta, client_for):
    response = client_for(marta).get(reverse("campaigns:audience_preview"), {"segments": "<b>x</b>"})
    assert "Segmento desconocido" in response.content.decode() and "preview" not in response.context


def test_the_preview_fills_the_template_with_a_customer_of_the_audience(inactive, number, template, marta, client_for):
    response = client_for(marta).post(reverse("campaigns:message_preview"), form_data(
        segments=["inactivo"], wa_number=str(number.pk), wa_template=str(template.pk),
        wa_var__1__source="nombre", wa_var__2__source="__text__", wa_var__2__text="20%"))
    page = response.content.decode()
    assert "Así le llega a Ana María Peña" in page
    assert "Hola Ana, te extrañamos. Vuelve con 20% de descuento." in page and "Quiero volver" in page


def test_the_sms_preview_counts_segments(marta, client_for):
    from connectors.sms.models import SmsAccount

    account = SmsAccount.objects.create(name="Twilio", account_sid="AC1", auth_token="x", from_number="+15550001111")
    # "Ú" is outside GSM-7 ("É" is not): the whole text goes as UCS-2, 70 characters per SMS (67 per part)
    body = "Última semana, {{nombre}}: " + "x" * 60
    response = client_for(marta).post(reverse("campaigns:message_preview"), form_data(
        channel="sms", sms_account=str(account.pk), sms_body=body))
    segments = response.context["segments"]
    assert (segments.encoding, segments.characters, segments.parts) == ("UCS-2", 80, 2)
    page = response.content.decode()
    assert "Última semana, Ana: xxx" in page and "80 caracteres · 2 SMS (UCS-2)" in page


def test_the_email_preview_is_a_sandboxed_frame_of_its_own(marta, client_for):
    from connectors.mail.models import Mailbox

    box = Mailbox.objects.create(address="ofertas@tienda.example.test", display_name="Tienda", smtp_host="127.0.0.1")
    client = client_for(marta)
    response = client.post(reverse("campaigns:message_preview"), form_data(
        channel="email", mailbox=str(box.pk), subject="Hola {{nombre}}", email_body="**Volvé** <script>x()</script>"))
    page = response.content.decode()
    # then the email is in a frame with nothing allowed, never inline in the editor
    assert 'sandbox=""' in page and "<script>x()" not in page and "Hola Ana María" not in page
    frame = client.get(reverse("campaigns:email_frame"), {"k": response.context["frame_key"]})
    policy = frame["Content-Security-Policy"]
    assert policy.startswith("sandbox;") and "script-src" not in policy
    assert "<strong>Volvé</strong>" in frame.content.decode() and "<script>" not in frame.content.decode()
    # and another person cannot open it by its key
    other = client_for(UserFactory(role=Role.SUPERVISOR)).get(reverse("campaigns:email_frame"),
                                                              {"k": response.context["frame_key"]})
    assert "expiró" in other.content.decode()


def test_the_template_fields_follow_the_chosen_template(template, marta, client_for):
    response = client_for(marta).get(reverse("campaigns:template_fields"), {"wa_template": template.pk})
    page = response.content.decode()
    assert 'name="wa_var__1__source"' in page and 'name="wa_var__2__text"' in page
    assert "ejemplo: «20%»" in page


# --- test send and launch ---------------------------------------------------------------------------------------


def test_a_test_send_answers_in_place(marta, whatsapp_number, fake_whatsapp, client_for):
    # given a draft on the fake WhatsApp, with its demo template
    template = MessageTemplate.objects.get(name="seguimiento_pedido", waba_id=whatsapp_number.waba_id)
    campaign = draft(marta, whatsapp_number, template, audience={})
    # when the marketer sends herself a test (htmx)
    response = client_for(marta).post(reverse("campaigns:test_send", args=[campaign.pk]),
                                      {"address": "300 555 0199"}, headers={"HX-Request": "true"})
    # then the page says where it went, and Meta got the template once
    assert response.status_code == 200 and 'data-testid="test-sent"' in response.content.decode()
    assert "+57 300 5550199" in response.content.decode()
    sent = fake_whatsapp.state.sent
    assert len(sent) == 1 and (sent[0]["to"], sent[0]["type"]) == ("573005550199", "template")
    # and a bad address is said in place too
    response = client_for(marta).post(reverse("campaigns:test_send", args=[campaign.pk]), {"address": "abc"},
                                      headers={"HX-Request": "true"})
    assert response.status_code == 400 and "teléfono válido" in response.content.decode()


def test_the_launch_confirmation_says_who_receives_it_and_who_is_left_out(campaign, marta, client_for):
    response = client_for(marta).get(reverse("campaigns:launch", args=[campaign.pk]), headers={"HX-Request": "true"})
    page = response.content.decode()
    assert "<html" not in page
    assert "1 cliente</strong> la recibirá por WhatsApp" in page
    assert "3 quedan fuera" in page and "1 dado de baja" in page and "1 sin teléfono" in page
    assert 'data-testid="launch-confirm"' in page


def test_launching_from_the_page_starts_sending(campaign, marta, client_for, django_capture_on_commit_callbacks):
    # when the marketer confirms the launch
    client = client_for(marta)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("campaigns:launch", args=[campaign.pk]))
    # then the campaign sends to the one reachable customer, the others are kept with their reason
    assert response.status_code == 302 and response["Location"] == reverse("campaigns:detail", args=[campaign.pk])
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SENDING
    assert CampaignRecipient.objects.filter(campaign=campaign, state=R.PENDING).count() == 1
    assert CampaignRecipient.objects.filter(campaign=campaign, state=R.SKIPPED).count() == 3
    assert [r.task.name for r in default_task_backend.results] == ["send_campaign"]
    # and the detail says so, in a sentence with her name
    page = client.get(response["Location"]).content.decode()
    assert "Campaña lanzada: se está enviando a 1 cliente." in page
    assert "Lanzada por Marta Díaz el" in page and "para 1 cliente (3 omitidos)." in page


def test_an_incomplete_draft_is_not_launched_and_the_editor_says_why(marta, client_for):
    campaign = check_save_campaign(marta, None, CampaignInput(name="Sin plantilla"))
    client = client_for(marta)
    confirmation = client.get(reverse("campaigns:launch", args=[campaign.pk])).content.decode()
    assert 'data-testid="launch-blocked"' in confirmation and "Elija una plantilla aprobada por Meta." in confirmation
    response = client.post(reverse("campaigns:launch", args=[campaign.pk]), follow=True)
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.DRAFT
    assert response.redirect_chain[-1][0] == reverse("campaigns:edit", args=[campaign.pk])
    assert 'data-testid="problem-wa_template"' in response.content.decode()


# --- the detail -------------------------------------------------------------------------------------------------


def test_pause_resume_and_cancel_from_the_detail(launched, marta, client_for):
    client = client_for(marta)
    detail = reverse("campaigns:detail", args=[launched.pk])
    # pause
    page = client.post(reverse("campaigns:pause", args=[launched.pk]), follow=True).content.decode()
    assert "Campaña pausada" in page and 'data-testid="campaign-resume"' in page
    # resume
    client.post(reverse("campaigns:resume", args=[launched.pk]))
    launched.refresh_from_db()
    assert launched.state == CampaignState.SENDING
    # cancel, with the question saying what is not sent
    assert "¿Cancelar la campaña? El mensaje en cola no se enviará" in client.get(detail).content.decode()
    page = client.post(reverse("campaigns:cancel", args=[launched.pk]), follow=True).content.decode()
    launched.refresh_from_db()
    assert launched.state == CampaignState.CANCELLED
    assert CampaignRecipient.objects.filter(campaign=launched, state=R.CANCELLED).count() == 1
    # the history reads as sentences with her name, never codes
    for line in ("Pausada por Marta Díaz", "Reanudada por Marta Díaz", "Cancelada por Marta Díaz"):
        assert line in page
    assert "enviando" not in page.split('data-testid="campaign-history"')[1]
    # and a refused move is said, not a server error
    page = client.post(reverse("campaigns:pause", args=[launched.pk]), follow=True).content.decode()
    assert "no puede pasar a pausada" in page


def test_a_scheduled_campaign_goes_back_to_draft_and_opens_the_editor(marta, number, template, inactive, client_for):
    campaign = draft(marta, number, template, schedule_mode="at", starts_at=timezone.now() + timedelta(days=2))
    check_launch(marta, campaign.pk)
    client = client_for(marta)
    assert "Empieza el" in client.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    response = client.post(reverse("campaigns:unschedule", args=[campaign.pk]))
    assert response["Location"] == reverse("campaigns:edit", args=[campaign.pk])
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.DRAFT


def test_results_poll_while_sending_and_stop_when_finished(launched, marta, client_for):
    client = client_for(marta)
    # while it sends, the tiles ask to be polled and the recipients' table to follow them
    response = client.get(reverse("campaigns:results", args=[launched.pk]), headers={"HX-Request": "true"})
    page = response.content.decode()
    assert 'hx-trigger="every 3s"' in page and response["HX-Trigger"] == "campaign:tick"
    assert 'id="campaign-head"' in page and 'hx-swap-oob="true"' in page  # the header follows the state
    # when the one recipient is delivered and read, and the campaign finished
    CampaignRecipient.objects.filter(campaign=launched, state=R.PENDING).update(state=R.READ)
    finished = timezone.now() - timedelta(minutes=5)
    Campaign.objects.filter(pk=launched.pk).update(state=CampaignState.FINISHED, finished_at=finished)
    page = client.get(reverse("campaigns:results", args=[launched.pk])).content.decode()
    # then the tiles show it, and keep asking a little longer (late deliveries and reads)
    assert 'hx-trigger="every 3s"' in page
    # and once that is over, the page no longer polls
    with time_machine.travel(finished + timedelta(minutes=16), tick=False):
        page = client.get(reverse("campaigns:results", args=[launched.pk])).content.decode()
    assert 'hx-trigger="every 3s"' not in page
    assert 'data-testid="tile-read">1<' in page and 'data-testid="tile-skipped">3<' in page


def test_the_detail_shows_the_message_as_its_first_recipient_read_it(launched, marta, client_for):
    # given a launched campaign (only Ana, of the inactive segment, could receive it)
    # when a manager who may only look opens it
    page = client_for(UserFactory(role=Role.GERENTE)).get(reverse("campaigns:detail", args=[launched.pk]))
    # then the message is there, filled in for Ana, with its button
    body = page.content.decode()
    message = body[body.index('data-testid="campaign-message"'):]
    assert "Así le llega a Ana María Peña" in message
    assert "Hola Ana, te extrañamos. Vuelve con 20% de descuento." in message and "Quiero volver" in message


def test_the_recipients_are_filtered_by_state_and_paged(launched, marta, client_for):
    client = client_for(marta)
    detail = reverse("campaigns:detail", args=[launched.pk])
    response = client.get(detail, {"state": "omitido"},
                          headers={"HX-Request": "true", "HX-Target": "div#campaign-recipients"})
    rows = response.context["recipients"]
    assert {r.customer.name for r in rows} == {"Alberto Ruiz", "Carla Gómez", "Darío Sin Teléfono"}
    page = response.content.decode()
    assert "<html" not in page and "Se dio de baja" in page and "No aceptó recibir campañas" in page
    assert "+57 300 1110003" in page  # the address, as people read it
    # a mangled cursor shows the first page rather than an error
    assert client.get(detail, {"cursor": "no-es-un-cursor"}).status_code == 200


def test_history_sentences_name_the_person_and_the_system():
    from campaigns.models import CampaignTransition

    t = CampaignTransition(from_state="enviando", to_state="terminada", at=timezone.now())
    assert transition_sentence(t).startswith("Terminó de enviarse el ")
    t = CampaignTransition(from_state="programada", to_state="enviando", at=timezone.now())
    assert transition_sentence(t).startswith("Empezó a enviarse a su hora")


# --- the report -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("dialect", "delimiter"), [("csv", ","), ("excel", ";")])
def test_the_report_has_one_row_per_recipient(launched, marta, client_for, dialect, delimiter):
    CampaignRecipient.objects.filter(campaign=launched, state=R.PENDING).update(
        state=R.READ, cost=Decimal("0.0150"), revenue=Decimal("150000"))
    response = client_for(marta).get(reverse("campaigns:report", args=[launched.pk]), {"dialect": dialect})
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    assert len(rows) == 4  # every recipient, the left-out ones with their reason
    by_name = {r["Cliente"]: r for r in rows}
    ana = by_name["Ana María Peña"]
    assert (ana["Estado"], ana["Teléfono o correo"]) == ("Leído", "+573001110001")
    assert ana["Ingreso"] == ("150000.00" if dialect == "csv" else "150000,00")
    assert ana["Costo"] == ("0.0150" if dialect == "csv" else "0,0150")
    assert by_name["Alberto Ruiz"]["Motivo de la omisión"] == "Se dio de baja"


def test_a_bad_export_option_is_a_400(launched, marta, client_for):
    response = client_for(marta).get(reverse("campaigns:report", args=[launched.pk]), {"dialect": "xls"})
    assert response.status_code == 400


# --- settings ---------------------------------------------------------------------------------------------------


def test_the_settings_are_saved_through_the_action(marta, client_for):
    client = client_for(marta)
    data = {"opt_out_keywords": "BAJA, STOP, SALIR", "opt_out_reply": "Listo, no le escribimos más.",
            "cost_whatsapp": "0,0125", "cost_email": "0", "cost_sms": "0,0079", "whatsapp_daily_limit": "10000",
            "whatsapp_rate": "30", "email_rate": "5", "sms_rate": "1"}
    response = client.post(reverse("campaigns:settings"), data)
    assert response.status_code == 302
    config = CampaignSettings.load()
    assert config.keywords() == ["baja", "stop", "salir"]
    assert (config.cost_whatsapp, config.cost_sms, config.whatsapp_daily_limit) == (
        Decimal("0.0125"), Decimal("0.0079"), 10000)
    # an impossible rate is refused next to its field, and nothing changes
    response = client.post(reverse("campaigns:settings"), {**data, "whatsapp_rate": "0", "cost_email": "-1"})
    assert response.status_code == 400 and set(response.context["form"].errors) == {"whatsapp_rate", "cost_email"}
    assert CampaignSettings.load().whatsapp_rate == 30


def test_percentages_read_in_the_readers_language(settings):
    from django.utils import translation

    with translation.override("es"):
        assert percent(1, 3, places=1) == "33,3\u00a0%"
        assert percent(1, 1000) == "0,1\u00a0%"
        assert percent(5, 0) == "—"
    with translation.override("en"):
        assert percent(1, 3, places=1) == "33.3%"
