from __future__ import annotations

import factory

from customers.models import Customer, CustomerPhone
from leads.models import Lead


class CustomerFactory(factory.django.DjangoModelFactory[Customer]):
    class Meta:
        model = Customer

    name = factory.Faker("name", locale="es_CO")


class LeadFactory(factory.django.DjangoModelFactory[Lead]):
    class Meta:
        model = Lead

    kommo_id = factory.Sequence(lambda n: 1_000_000 + n)
    name = factory.Sequence(lambda n: f"Pedido {n}")
    customer = factory.SubFactory(CustomerFactory)
    in_queue = True
    stage_name = "Ventas / Para Llamar"


def with_phone(customer: Customer, e164: str) -> Customer:
    CustomerPhone.objects.create(customer=customer, e164=e164)
    return customer
