"""The "Abrir en WhatsApp" link: URL building, template filling, and where the button shows."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.webchat.actions import check_save_whatsapp_template
from connectors.webchat.whatsapp_link import customer_whatsapp_url, fill_template, wa_me_url
from core.errors import ActionError
from customers.actions import do_upsert_customer


def link_text(url: str | None) -> str:
    assert url is not None
    return parse_qs(urlsplit(url).query)["text"][0]


def test_wa_me_url_uses_e164_digits_and_encodes_the_text():
    url = wa_me_url("+57 300 123 4567", "Hola Ana & Luis, ¿100% listo? #1 /x?y=z")
    assert url is not None
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "wa.me", "/573001234567")
    # every reserved character is escaped, so the text cannot add parameters or cut itself short
    assert "&" not in parts.query.removeprefix("text=") and "#" not in url and " " not in url
    assert parse_qs(parts.query) == {"text": ["Hola Ana & Luis, ¿100% listo? #1 /x?y=z"]}


@pytest.mark.parametrize("phone", ["", None, "3001234567", "+12", "+1234567890123456"])
def test_no_url_without_a_usable_e164_number(phone):
    assert wa_me_url(phone, "hola") is None


def test_without_text_there_is_no_query():
    assert wa_me_url("+573001234567") == "https://wa.me/573001234567"


def test_fill_template_replaces_known_placeholders_only():
    text = fill_template("Hola {nombre}, soy {agente} de {empresa}. {desconocido} {nombre.__class__} {",
                         {"nombre": "Ana", "agente": "Vale", "empresa": "Acme"})
    assert text == "Hola Ana, soy Vale de Acme. {desconocido} {nombre.__class__} {"


@pytest.mark.django_db
def test_customer_url_fills_the_default_template(agent):
    # given a customer with a phone and the organization's name
    from core.models import SiteSettings

    SiteSettings.objects.update_or_create(pk=1, defaults={"company_name": "Conecta Hogar"})
    customer = do_upsert_customer(name="Ana María Ríos", phones=["+57 300 123 4567"])
    url = customer_whatsapp_url(customer, agent=agent)
    # then the link opens her number with the default greeting, first name only
    assert url is not None and url.startswith("https://wa.me/573001234567?text=")
    assert link_text(url) == "Hola Ana, te escribimos de Conecta Hogar."


@pytest.mark.django_db
def test_customer_without_phone_has_no_link():
    customer = do_upsert_customer(name="Solo correo", emails=["solo@correo.example"])
    assert customer_whatsapp_url(customer) is None


@pytest.mark.django_db
def test_unknown_name_reads_naturally():
    # given a customer nobody named (stored as "Sin nombre")
    customer = do_upsert_customer(name="", phones=["+573001234567"])
    text = link_text(customer_whatsapp_url(customer, template="Hola {nombre}, ¿cómo estás?", company="X"))
    # then the greeting has no name rather than a placeholder one
    assert text == "Hola, ¿cómo estás?"


@pytest.mark.django_db
def test_admins_edit_the_template(admin_user, agent):
    # when an admin saves a template with placeholders
    check_save_whatsapp_template(admin_user, template="Buen día {nombre_completo}, le habla {agente}.")
    customer = do_upsert_customer(name="Ana Ríos", phones=["+573001234567"])
    text = link_text(customer_whatsapp_url(customer, agent=agent))
    # then links use it
    assert text == f"Buen día Ana Ríos, le habla {agent.display_name}."
    # and unknown placeholders or non-admins are refused
    with pytest.raises(ActionError) as bad:
        check_save_whatsapp_template(admin_user, template="Hola {cliente}")
    assert bad.value.code == "unknown_placeholder"
    with pytest.raises(ActionError):
        check_save_whatsapp_template(agent, template="Hola")


@pytest.mark.django_db
def test_button_on_the_conversation_page_only_with_a_phone(supervisor, client_for):
    from inbox.actions import do_receive_inbound

    with_phone, _m, _ = do_receive_inbound(channel="webchat", body="hola", customer_name="Ana",
                                           phones=["+573001234567"])
    without, _m, _ = do_receive_inbound(channel="email", body="hola", customer_name="Beto",
                                        emails=["beto@correo.example"])
    client = client_for(supervisor)
    page = client.get(f"/inbox/{with_phone.pk}/").content.decode()
    other = client.get(f"/inbox/{without.pk}/").content.decode()
    assert 'data-testid="open-whatsapp"' in page and "https://wa.me/573001234567?text=Hola%20Ana" in page
    assert 'data-testid="open-whatsapp"' not in other


@pytest.mark.django_db
def test_button_on_the_customers_duplicates_page(supervisor, client_for):
    # given two customers sharing an e-mail, one of them with a phone
    a = do_upsert_customer(name="Ana", phones=["+573001234567"], emails=["ana@correo.example"])
    from customers.actions import _flag_duplicate
    from customers.models import Customer

    b = Customer.objects.create(name="Ana R.")
    _flag_duplicate(a, b, "correo ana@correo.example")
    page = client_for(supervisor).get("/customers/duplicates/").content.decode()
    # then the one with a phone has the button, the other not
    assert page.count('data-testid="open-whatsapp"') == 1


@pytest.mark.django_db
def test_button_on_the_call_screen(agent, client_for):
    from leads.tests.factories import LeadFactory, with_phone

    # given a lead whose customer has a phone
    lead = LeadFactory(name="Pedido Ana", in_queue=True)
    with_phone(lead.customer, "+573001234568")
    # when the agent opens the call screen / then "Abrir en WhatsApp" opens wa.me with the customer's number
    from django.urls import reverse

    page = client_for(agent).get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert 'data-testid="open-whatsapp"' in page and "https://wa.me/573001234568?text=" in page
