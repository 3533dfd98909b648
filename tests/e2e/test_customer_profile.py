"""Browser test (issue 17): a customer with a long history — the profile shows the newest purchases and
conversations, "show earlier" adds the next ones in place without reloading, and the timeline loads as it scrolls
into view, in sentences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import Browser, expect

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from customers.activity import rebuild_customer_activity
from leads.tests.factories import CustomerFactory
from orders.choices import OrderState
from orders.models import Order
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e]


def test_a_long_history_pages_in_place_and_the_timeline_loads_on_reaching_it(asgi_live_server: str,
                                                                             browser: Browser):
    # given a customer with 27 confirmed orders
    supervisor = UserFactory(username="sofia", role=Role.SUPERVISOR, full_name="Sofía Supervisora")
    customer = CustomerFactory(name="Cliente Con Historia")
    for i in range(27):
        Order.objects.create(customer=customer, agent=supervisor, state=OrderState.CONFIRMED,
                             total=Decimal(1000 + i), confirmed_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i))
    rebuild_customer_activity()
    page = login(browser, asgi_live_server, "sofia")

    # when the supervisor opens the profile
    page.goto(f"{asgi_live_server}/clientes/{customer.pk}/")
    purchases = page.locator("[data-section=purchases] tbody tr:not(.more-row)")
    expect(purchases).to_have_count(20)
    page.evaluate("window.__kept = true")  # gone if the page reloads

    # and asks for the earlier purchases
    page.get_by_role("button", name="Ver compras anteriores").click()

    # then the other seven join the table in place, the oldest last, and the button is gone
    expect(purchases).to_have_count(27)
    expect(page.get_by_role("button", name="Ver compras anteriores")).to_have_count(0)
    oldest = Order.objects.filter(customer=customer).order_by("confirmed_at").first()
    assert oldest is not None
    expect(purchases.last).to_contain_text(oldest.number)
    assert page.evaluate("window.__kept === true")
    # and the timeline, at the end of the page, loads as it comes into view, in sentences
    page.locator(".customer-timeline").scroll_into_view_if_needed()
    entries = page.locator(".customer-timeline li[data-kind='order.confirmed']")
    expect(entries.first).to_contain_text("confirmado por")
    expect(entries).to_have_count(25)
    page.get_by_role("button", name="Ver historial anterior").click()
    expect(entries).to_have_count(27)
