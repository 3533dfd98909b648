"""20 concurrent confirmations compete for the last 5 units: exactly 5 are sold and the ledger matches."""

from __future__ import annotations

import pytest
from django.db import connections
from django.db.models import Sum

from catalog.models import Product, StockMovement
from core.errors import ConflictError
from leads.tests.test_concurrency import race
from orders import actions
from orders.models import Order
from orders.tests.factories import product, ready_lead

pytestmark = pytest.mark.django_db(transaction=True)


def test_twenty_confirmations_for_the_last_five_units():
    from accounts.tests.factories import UserFactory

    # given 5 units left and 20 draft orders of one unit each, by 20 agents
    p = product("ULTIMOS", stock=5)
    drafts = []
    for i in range(20):
        agent = UserFactory(username=f"race{i}", role="agente")
        drafts.append((agent, actions.check_create_order(agent, lead_id=ready_lead().pk, lines=[("ULTIMOS", 1)])))
    connections.close_all()
    # when all confirm at the same instant
    results = race([lambda a=a, o=o: actions.check_confirm_order(a, o.pk) for a, o in drafts])
    # then exactly 5 win, 15 get the 409 with the short line, stock is 0 and the ledger explains it
    confirmed = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if isinstance(r, ConflictError)]
    assert len(confirmed) == 5 and len(refused) == 15, results
    assert all(r.details["short_lines"][0]["sku"] == "ULTIMOS" for r in refused)
    p.refresh_from_db()
    assert p.stock_on_hand == 0
    assert StockMovement.objects.filter(product=p).aggregate(s=Sum("on_hand_delta"))["s"] == 0
    assert StockMovement.objects.filter(product=p, kind="sale").count() == 5
    assert Product.objects.get(pk=p.pk).stock_on_hand >= 0
