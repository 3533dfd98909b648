"""Issue 12: customer data is checked the same way on the lead page, the API and the actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.errors import ActionError
from customers.actions import do_update_customer
from customers.models import CustomerEmail
from customers.phones import normalize_email, validate_customer_email
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("raw", ["not-an-email", "ana@", "@correo.com", "ana@correo", "ana pérez@correo.com",
                                 "ana@@correo.com", "a" * 250 + "@x.co"])
def test_email_not_an_email_is_refused_by_the_shared_rule(raw):
    assert validate_customer_email(raw) is None


def test_real_addresses_pass_and_are_lower_cased():
    assert validate_customer_email("  Ana.Perez+pedidos@Correo.com.co ") == "ana.perez+pedidos@correo.com.co"
    # intake keeps its lenient reading: an address a channel delivered from is never dropped
    assert normalize_email("ana@intranet") == "ana@intranet"


def test_email_not_an_email_is_refused_on_the_customer_form(agent, client_for):
    # given a lead's customer
    lead = LeadFactory()
    # when the agent saves "not-an-email" on the lead page
    response = client_for(agent).post(reverse("leads:detail", args=[lead.pk]), {
        "action": "customer", "name": "Lucía", "phones": "", "emails": "not-an-email"})
    # then the form shows the reason and nothing is stored
    assert response.status_code == 400
    assert "Correo inválido: not-an-email" in response.content.decode()
    assert not CustomerEmail.objects.exists()


def test_email_not_an_email_is_refused_by_the_action(agent):
    lead = LeadFactory()
    with pytest.raises(ActionError) as refused:
        do_update_customer(lead.customer.pk, acting_user=agent, name="Lucía", emails=["not-an-email"])
    assert refused.value.details["errors"] == {"emails": "Correo inválido: not-an-email"}


def test_nul_bytes_and_overlong_values_in_customer_fields_are_refused_with_every_field(agent):
    # given a customer
    lead = LeadFactory()
    # when the action gets a NUL in the name, a too-long city and a NUL in an email
    with pytest.raises(ActionError) as refused:
        do_update_customer(lead.customer.pk, acting_user=agent, name="Lu\x00cía", city="B" * 101,
                           emails=["ana\x00@correo.com"])
    # then every field is named at once
    errors = refused.value.details["errors"]
    assert set(errors) == {"name", "city", "emails"}
    assert "U+0000" in errors["name"] and "100 caracteres" in errors["city"]
    lead.customer.refresh_from_db()
    assert "\x00" not in lead.customer.name
