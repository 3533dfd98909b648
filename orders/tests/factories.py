from __future__ import annotations

from decimal import Decimal

from accounts.models import User
from catalog.actions import check_save_product
from catalog.models import Product
from customers.models import Customer, CustomerPhone
from leads.models import Lead
from leads.tests.factories import LeadFactory


def product(sku: str, *, price: str = "10000", stock: int = 10, name: str | None = None) -> Product:
    return check_save_product(None, sku=sku, name=name or f"Producto {sku}", price=Decimal(price),
                              initial_stock=stock)


def ready_lead(**kwargs: object) -> Lead:
    """A lead whose customer has complete delivery data."""
    lead = LeadFactory(**kwargs)
    customer = lead.customer
    assert isinstance(customer, Customer)
    customer.name, customer.address, customer.city, customer.department = (
        "Lucía Peña", "Cra 7 # 45-10", "Bogotá", "Cundinamarca")
    customer.save()
    CustomerPhone.objects.create(customer=customer, e164=f"+57300{lead.pk:07d}")
    return lead


def agent_user(username: str = "agente-pedidos") -> User:
    from accounts.tests.factories import UserFactory

    return UserFactory(username=username, role="agente")
