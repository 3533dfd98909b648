"""An email campaign through a real SMTP server (aiosmtpd): the responsive HTML with a plain-text part, the
List-Unsubscribe headers and their one-click POST (RFC 8058), tracked links and the open pixel."""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from django.urls import reverse

from campaigns import actions, tracking
from campaigns.choices import CampaignChannel, RecipientState
from campaigns.models import CampaignRecipient
from campaigns.tests.helpers import customer, mailbox, marketer, run_sender
from customers.choices import ConsentStatus
from customers.models import Consent, Tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(smtp_server):
    tag = Tag.objects.create(name="Boletín")
    customer("Lucía Peña", email="lucia@example.test", channel="email", tag=tag)
    customer("Mario <script>alert(1)</script>", email="mario@example.test", channel="email", tag=tag)
    customer("Sin permiso", email="nadie@example.test", channel="email", tag=tag, consent=None)
    user = marketer()
    c = actions.check_save_campaign(user, None, actions.CampaignInput(
        name="Lanzamiento de verano", channel=CampaignChannel.EMAIL, objective="ventas", audience={"tags": [tag.pk]},
        mailbox_id=mailbox(smtp_server).pk, subject="{{nombre}}, llegó el verano",
        preheader="Nuevos productos con envío gratis", body="Hola **{{nombre}}**,\n\nMire la [colección](https://tienda.example.test/verano).",
        button_label="Ver la colección", link_url="https://tienda.example.test/verano?utm=campana"))
    c.user = user
    return c


def _parsed(smtp_server, to: str) -> email.message.EmailMessage:
    captured = next(m for m in smtp_server.messages if to in m.rcpt_tos)
    return email.message_from_bytes(captured.data, policy=policy.default)


def test_each_customer_gets_html_and_text_with_one_click_unsubscribe(campaign, smtp_server):
    actions.check_launch(campaign.user, campaign.pk)
    tally = run_sender(campaign)
    assert tally["sent"] == 2
    msg = _parsed(smtp_server, "lucia@example.test")
    r = CampaignRecipient.objects.get(address="lucia@example.test")
    # the subject is personal, the parts are text and HTML, the headers follow RFC 8058
    assert msg["Subject"] == "Lucía, llegó el verano"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert tracking.unsubscribe_url(r.pk) in msg["List-Unsubscribe"]
    assert msg["Message-ID"] == f"<campaign.{campaign.pk}.{r.pk}@tienda.example.test>"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Lucía" in text and "<" not in text.replace("<https", "")
    # links are tracked per recipient; the open pixel is there
    assert tracking.click_url(r.pk, campaign) in html
    assert tracking.open_url(r.pk) in html
    # customer data never runs as markup
    mario = _parsed(smtp_server, "mario@example.test").get_body(("html",)).get_content()
    assert "<script>alert(1)</script>" not in mario


def test_the_mail_clients_one_click_post_unsubscribes_and_the_page_confirms(campaign, client):
    actions.check_launch(campaign.user, campaign.pk)
    run_sender(campaign)
    r = CampaignRecipient.objects.get(address="lucia@example.test")
    url = reverse("campaigns:unsubscribe", args=[tracking.token(r.pk)])
    # a GET (a link scanner, or the person) only asks
    page = client.get(url)
    assert page.status_code == 200 and not Consent.objects.filter(customer=r.customer,
                                                                  status=ConsentStatus.OPTED_OUT).exists()
    # the mail client's POST (no session, no CSRF token) records the opt-out by link
    response = client.post(url, data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    consent = Consent.objects.get(customer=r.customer, channel="email")
    assert (consent.status, consent.opt_out_method) == (ConsentStatus.OPTED_OUT, Consent.Method.LINK)
    r.refresh_from_db()
    assert r.unsubscribed_at is not None


def test_the_open_pixel_marks_the_email_read_and_a_click_follows_the_body_link(campaign, client):
    actions.check_launch(campaign.user, campaign.pk)
    run_sender(campaign)
    r = CampaignRecipient.objects.get(address="lucia@example.test")
    pixel = client.get(reverse("campaigns:open", args=[tracking.token(r.pk)]))
    assert pixel.status_code == 200 and pixel["Content-Type"] == "image/gif"
    r.refresh_from_db()
    assert r.state == RecipientState.READ
    links = tracking.tracked_urls(campaign)
    body_link = links.index("https://tienda.example.test/verano")
    response = client.get(reverse("campaigns:click_n", args=[tracking.token(r.pk), body_link]))
    assert response["Location"] == "https://tienda.example.test/verano"
    assert client.get(reverse("campaigns:open", args=["forged-token"])).status_code == 200  # a pixel, always


def test_a_permanent_smtp_refusal_fails_that_recipient_with_the_servers_words(campaign, smtp_server):
    actions.check_launch(campaign.user, campaign.pk)
    smtp_server.fail_next.append((550, "5.1.1 no such user"))
    run_sender(campaign)
    failed = CampaignRecipient.objects.filter(state=RecipientState.FAILED)
    assert failed.count() == 1 and re.search("550|no such user", failed.get().error)
    assert CampaignRecipient.objects.filter(state=RecipientState.SENT).count() == 1


def test_the_unsubscribe_page_speaks_the_customers_language(campaign, client):
    actions.check_launch(campaign.user, campaign.pk)
    run_sender(campaign)
    r = CampaignRecipient.objects.get(address="lucia@example.test")
    type(r.customer).objects.filter(pk=r.customer_id).update(language="en")
    page = client.get(reverse("campaigns:unsubscribe", args=[tracking.token(r.pk)]))
    assert "Unsubscribe?" in page.content.decode()
