"""Browser test (campaigns): a marketer builds a WhatsApp campaign for the *inactivo* segment — the live count says who
receives it and who is left out and why, the preview fills the template with a customer's name — sends a test to
herself, launches it, watches deliveries and reads tick in without reloading (the fake Graph API posts the status
webhooks), and a customer's «BAJA» reply opts them out.

The live server runs its tasks in-process (ImmediateBackend), as the other browser tests do: the launch's sender, the
webhooks' processing and the opt-out happen in the server like a worker would do them."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from django.test import override_settings
from playwright.sync_api import Browser, Page, expect

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from campaigns.choices import CampaignState, RecipientState
from campaigns.models import Campaign, CampaignRecipient
from campaigns.tests.helpers import customer
from customers.choices import ConsentStatus
from customers.models import Consent, Segment, SegmentMembership
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]
SHOTS = os.environ.get("SHOTS", "")


@pytest.fixture
def live(transactional_db, request) -> Iterator[str]:
    """The live server running its tasks in-process (the sender and the webhooks' processing)."""
    immediate = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
                             "QUEUES": ["default", "crm", "messaging"]}}
    with override_settings(TASKS=immediate):
        yield request.getfixturevalue("asgi_live_server")


def shot(page: Page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def wait_for(condition, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def inactive_customers(transactional_db):
    """The *inactivo* segment: Ana and Luis accepted WhatsApp campaigns, Dora opted out, Eva never said."""
    segment = Segment.objects.get_or_create(code="inactivo", defaults={
        "name": "Inactivo", "rules": {"any": [{"no_purchase_days": 90}]}})[0]
    people = {"ana": customer("Ana Peña", phone="+573001110001"), "luis": customer("Luis Mora", phone="+573001110002"),
              "dora": customer("Dora Ríos", phone="+573001110003", consent=ConsentStatus.OPTED_OUT),
              "eva": customer("Eva Luna", phone="+573001110004", consent=None)}
    for c in people.values():
        SegmentMembership.objects.create(segment=segment, customer=c)
    return people


def test_a_marketer_reactivates_inactive_customers_over_whatsapp(live: str, browser: Browser, whatsapp_number,
                                                                 fake_whatsapp, inactive_customers):
    # given the fake Graph API reports each message sent, delivered and read a moment after accepting it
    fake_whatsapp.state.webhook_url = f"{live}/integrations/whatsapp/webhook/{whatsapp_number.phone_number_id}/"
    fake_whatsapp.state.auto_status = ["sent", "delivered", "read"]
    fake_whatsapp.state.status_delay = 1.5
    UserFactory(username="marta", role=Role.DIRECTOR_VENTAS, full_name="Marta Díaz", email="marta@tienda.test")
    page = login(browser, live, "marta")

    # when she starts a campaign from the (empty) list and picks the inactive customers
    page.goto(f"{live}/campanas/")
    page.get_by_test_id("campaign-new").click()
    page.fill("#id_name", "Te extrañamos")
    page.get_by_label("Reactivación").check()
    page.get_by_label("Inactivo", exact=True).check()
    # then the live count says two receive it on WhatsApp, and why the other two are left out
    expect(page.get_by_test_id("audience-reachable")).to_have_text("2")
    left_out = page.get_by_test_id("audience-left-out")
    expect(left_out).to_contain_text("2 quedan fuera")
    expect(left_out).to_contain_text("1 sin consentimiento")
    expect(left_out).to_contain_text("1 dado de baja")
    expect(page.get_by_test_id("audience-sample")).to_contain_text("Luis Mora")

    # when she picks the approved template and fills its second variable with fixed text
    value = page.locator("#id_wa_template option", has_text="seguimiento_pedido").get_attribute("value")
    page.select_option("#id_wa_template", value)
    expect(page.get_by_test_id("template-text")).to_contain_text("tu pedido {{2}} está en camino")
    page.select_option("select[name='wa_var__2__source']", "__text__")
    page.fill("input[name='wa_var__2__text']", "VUELVE15")
    # then the preview shows the message as a customer of the audience reads it
    expect(page.get_by_test_id("preview-text")).to_contain_text("tu pedido VUELVE15 está en camino")
    expect(page.get_by_test_id("preview-text")).to_contain_text("Hola Luis,")
    shot(page, "campaign-editor")
    page.get_by_test_id("campaign-save").click()
    expect(page.locator(".msg-success")).to_contain_text("Borrador «Te extrañamos» guardado.")
    campaign = Campaign.objects.get(name="Te extrañamos")

    # when she sends herself a test
    page.fill("#test-address", "+57 300 555 0199")
    page.get_by_test_id("test-send").click()
    # then it says where it went, in place, and Meta got exactly that one message
    expect(page.get_by_test_id("test-sent")).to_contain_text("+57 300 5550199")
    assert [m["to"] for m in fake_whatsapp.state.sent] == ["573005550199"]

    # when she opens the launch: the confirmation says who receives it and who is left out
    page.get_by_test_id("campaign-launch").click()
    expect(page.get_by_test_id("launch-summary")).to_contain_text("2 clientes")
    expect(page.get_by_test_id("launch-left-out")).to_contain_text("1 dado de baja")
    shot(page, "campaign-launch")
    page.get_by_test_id("launch-confirm").click()
    expect(page.locator(".msg-success")).to_contain_text("Campaña lanzada")
    # then the detail page's numbers tick in as the statuses arrive, without a reload
    page.evaluate("window.campaignPageMarker = 1")
    expect(page.get_by_test_id("tile-recipients")).to_have_text("2")
    expect(page.get_by_test_id("tile-skipped")).to_have_text("2")
    expect(page.get_by_test_id("tile-delivered")).to_have_text("2", timeout=20_000)
    expect(page.get_by_test_id("tile-read")).to_have_text("2", timeout=20_000)
    expect(page.get_by_test_id("campaign-state")).to_have_text("Terminada")
    expect(page.get_by_test_id("campaign-recipients").locator(".rstate-leido")).to_have_count(2)
    assert page.evaluate("window.campaignPageMarker") == 1  # the same page: updated in place
    assert sorted(m["to"] for m in fake_whatsapp.state.sent) == ["573001110001", "573001110002", "573005550199"]
    shot(page, "campaign-detail")

    # when Luis answers «BAJA»
    fake_whatsapp.state.customer_writes("573001110002", "BAJA", name="Luis Mora")
    # then he is opted out of WhatsApp campaigns, and the campaign counts the opt-out
    wait_for(lambda: Consent.objects.filter(customer=inactive_customers["luis"], channel="whatsapp",
                                            status=ConsentStatus.OPTED_OUT).exists())
    page.reload()
    expect(page.get_by_test_id("tile-unsubscribed")).to_have_text("1")
    luis = CampaignRecipient.objects.get(campaign=campaign, customer=inactive_customers["luis"])
    assert luis.unsubscribed_at is not None and luis.state == RecipientState.READ
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.FINISHED


SMS_SAMPLES = ["", "Hola", "¿Cuánto?", "x" * 160, "x" * 161, "€" * 80, "€" * 77 + "x", "á" * 70, "á" * 71,
               "😀" * 35, "😀" * 34 + "x", "Oferta [15 %] en {tienda}~ " * 7]


def test_the_editors_sms_counter_counts_like_the_sender(live: str, browser: Browser):
    """The live counter is a JavaScript port of connectors/sms/segments.py: both must say the same for GSM-7
    (escapes count two, never split) and UCS-2 (surrogate pairs count two, never split)."""
    from connectors.sms.segments import count

    UserFactory(username="marta", role=Role.DIRECTOR_VENTAS)
    page = login(browser, live, "marta")
    page.goto(f"{live}/campanas/nueva/")
    page.locator("input[name=channel][value=sms]").check()
    for text in SMS_SAMPLES:
        found = page.evaluate("(text) => window.CampaignSegments(text)", text)
        expected = count(text)
        assert (found["encoding"], found["characters"], found["parts"]) == (
            expected.encoding, expected.characters, expected.parts), text
    # and the counter under the message says it as the person types
    page.fill("textarea[name=sms_body]", "á" * 71)
    expect(page.locator("[data-sms-counter]")).to_contain_text("71 caracteres · 2 SMS")
