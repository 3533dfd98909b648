from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from catalog.actions import check_adjust_stock
from catalog.models import Product, StockMovement
from core.errors import ActionError, ConflictError, InvalidTransition, PermissionDeniedError
from orders import actions
from orders.choices import ORDER_TRANSITIONS, OrderState
from orders.models import Order
from orders.tests.factories import product, ready_lead

pytestmark = pytest.mark.django_db


def ledger_matches(p: Product) -> bool:
    p.refresh_from_db()
    return (StockMovement.objects.filter(product=p).aggregate(s=Sum("on_hand_delta"))["s"] or 0) == p.stock_on_hand


def test_confirm_takes_stock_records_ledger_and_totals(agent):
    # given two products and a lead with complete delivery data
    a, b = product("A-1", price="12500.50", stock=5), product("B-2", price="3000", stock=2)
    order = actions.check_create_order(agent, lead_id=ready_lead().pk, lines=[("A-1", 2), ("B-2", 1)])
    # when the agent confirms
    actions.check_confirm_order(agent, order.pk)
    order.refresh_from_db()
    # then stock went down through the ledger, prices are decimals, and the delivery data is snapshotted
    assert order.state == OrderState.CONFIRMED and order.total == Decimal("28001.00")
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.stock_on_hand, b.stock_on_hand) == (3, 1)
    assert ledger_matches(a) and ledger_matches(b)
    assert order.delivery_city == "Bogotá" and order.delivery_phone.startswith("+57300")


def test_every_short_line_is_reported_at_once_and_nothing_is_taken(agent):
    product("A", stock=1)
    product("B", stock=3)
    product("C", stock=0)
    order = actions.check_create_order(agent, lead_id=ready_lead().pk, lines=[("A", 1), ("B", 3)])
    # stock sold elsewhere meanwhile
    Product.objects.filter(sku="A").update(stock_on_hand=0)
    Product.objects.filter(sku="B").update(stock_on_hand=2)
    with pytest.raises(ConflictError) as exc:
        actions.check_confirm_order(agent, order.pk)
    assert exc.value.status == 409
    assert exc.value.details["short_lines"] == [{"sku": "A", "requested": 1, "available": 0},
                                                {"sku": "B", "requested": 3, "available": 2}]
    order.refresh_from_db()
    assert order.state == OrderState.DRAFT and not StockMovement.objects.filter(kind="sale").exists()


def test_builder_refuses_quantities_above_availability_with_the_number(agent):
    product("A", stock=2)
    product("Z", stock=0)
    with pytest.raises(ConflictError) as exc:
        actions.check_create_order(agent, lead_id=ready_lead().pk, lines=[("A", 3), ("Z", 1)])
    assert {s["sku"]: s["available"] for s in exc.value.details["short_lines"]} == {"A": 2, "Z": 0}


def test_set_aside_units_are_not_available(agent, supervisor):
    p = product("A", stock=3)
    check_adjust_stock(supervisor, p.pk, set_aside_delta=2, reason="Exhibición")
    with pytest.raises(ConflictError):
        actions.check_create_order(agent, lead_id=ready_lead().pk, lines=[("A", 2)])


def test_delivery_data_is_required_per_field(agent):
    from leads.tests.factories import LeadFactory

    product("A")
    order = actions.check_create_order(agent, lead_id=LeadFactory().pk, lines=[("A", 1)])
    with pytest.raises(ActionError) as exc:
        actions.check_confirm_order(agent, order.pk)
    assert exc.value.code == "delivery_incomplete"
    assert set(exc.value.details["errors"]) == {"phones", "address", "city", "department"}


def test_document_required_when_configured(agent, supervisor):
    from leads.models import LeadSettings

    LeadSettings.objects.update_or_create(pk=1, defaults={"require_document": True, "reservation_roles": ["agente"]})
    product("A")
    order = actions.check_create_order(agent, lead_id=ready_lead().pk, lines=[("A", 1)])
    with pytest.raises(ActionError) as exc:
        actions.check_confirm_order(agent, order.pk)
    assert set(exc.value.details["errors"]) == {"document_id"}


def test_cancel_returns_stock_through_the_ledger(agent, supervisor):
    p = product("A", stock=4)
    order = actions.check_create_order(agent, lead_id=ready_lead().pk, lines=[("A", 3)])
    actions.check_confirm_order(agent, order.pk)
    with pytest.raises(PermissionDeniedError):
        actions.check_cancel_order(agent, order.pk, reason="cliente desistió")
    actions.check_cancel_order(supervisor, order.pk, reason="cliente desistió")
    p.refresh_from_db()
    assert p.stock_on_hand == 4 and ledger_matches(p)
    assert list(StockMovement.objects.filter(product=p).order_by("id").values_list("kind", flat=True)) == [
        "receipt", "sale", "cancellation"]


def test_unknown_and_inactive_products_and_bad_quantities(agent):
    product("A")
    lead = ready_lead()
    for lines, code in [([("NOPE", 1)], "unknown_product"), ([("A", 0)], "invalid_quantity"),
                        ([("A", -2)], "invalid_quantity")]:
        with pytest.raises(ActionError) as exc:
            actions.check_create_order(agent, lead_id=lead.pk, lines=lines)
        assert exc.value.code == code
    Product.objects.filter(sku="A").update(is_active=False)
    with pytest.raises(ActionError) as exc:
        actions.check_create_order(agent, lead_id=lead.pk, lines=[("A", 1)])
    assert exc.value.code == "inactive_product"


@pytest.mark.parametrize("current", list(OrderState))
@pytest.mark.parametrize("target", list(OrderState))
def test_order_transition_table_exhaustively(current, target, agent):
    order = Order.objects.create(customer=ready_lead().customer, agent=agent, state=current)
    if current == target:
        assert actions.do_transition_order(order, to=target, acting_user=agent) is False
    elif target in ORDER_TRANSITIONS[current]:
        assert actions.do_transition_order(order, to=target, acting_user=agent) is True
        assert order.events.filter(kind=f"state:{target.value}").count() == 1
    else:
        with pytest.raises(InvalidTransition):
            actions.do_transition_order(order, to=target, acting_user=agent)


def test_agents_see_only_their_orders(agent, make_user):
    product("A")
    other = make_user("agente")
    order = actions.check_create_order(other, lead_id=ready_lead().pk, lines=[("A", 1)])
    with pytest.raises(ActionError):
        actions.access_order(agent, order.pk)


def test_confirm_twice_is_refused(agent):
    product("A")
    order = actions.check_create_order(agent, lead_id=ready_lead().pk, lines=[("A", 1)])
    actions.check_confirm_order(agent, order.pk)
    with pytest.raises(ConflictError):
        actions.check_confirm_order(agent, order.pk)
    assert StockMovement.objects.filter(kind="sale").count() == 1
