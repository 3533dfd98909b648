from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.actions import access_product, check_receive_stock, do_adjust_stock, parse_price
from catalog.models import MovementKind, StockMovement
from catalog.tests.helpers import ledger_matches
from core.errors import ActionError, ConflictError, NotFoundError, PermissionDeniedError
from core.models import AuditLog
from orders.tests.factories import product

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("raw", "expected"), [("12500", "12500.00"), ("12500,5", "12500.50"), (" 0.99 ", "0.99"),
                                               (7, "7.00")])
def test_parse_price_accepts_exact_decimals(raw, expected):
    # given a price typed with a comma, a point or as an integer
    # when it is parsed
    # then it is an exact two-decimal Decimal
    assert parse_price(raw) == Decimal(expected)


@pytest.mark.parametrize("raw", ["abc", "", "-1", "1.234", "NaN", "Infinity", "-inf", "1000000000000"])
def test_parse_price_refuses_what_is_not_a_price(raw):
    # given something that is not a storable price (NaN used to crash with a 500)
    # when it is parsed
    # then an ActionError on the price field
    with pytest.raises(ActionError) as exc:
        parse_price(raw)
    assert exc.value.code == "invalid_price" and exc.value.details["field"] == "price"


def test_receive_stock_records_a_receipt_and_one_audit_entry(supervisor):
    # given a product with 2 on hand
    p = product("R-1", stock=2)
    # when a supervisor receives 5
    check_receive_stock(supervisor, p.pk, quantity=5, reason=" Factura 77 ")
    # then a receipt with the trimmed reason, the stock and the ledger agree, and one audit entry
    last = StockMovement.objects.filter(product=p).first()
    assert (last.kind, last.on_hand_delta, last.on_hand_after, last.reason, last.user) == (
        MovementKind.RECEIPT, 5, 7, "Factura 77", supervisor)
    assert ledger_matches(p) and p.stock_on_hand == 7
    (entry,) = AuditLog.objects.filter(action="stock.received")
    assert entry.changes == {"quantity": 5, "reason": "Factura 77"} and entry.actor == supervisor


@pytest.mark.parametrize(("quantity", "reason", "code"), [(0, "x", "invalid_quantity"), (-3, "x", "invalid_quantity"),
                                                          (3, "  ", "reason_required")])
def test_receive_stock_validates(supervisor, quantity, reason, code):
    # given a product
    p = product("R-2", stock=1)
    # when a receipt without a positive quantity or a reason is asked for
    with pytest.raises(ActionError) as exc:
        check_receive_stock(supervisor, p.pk, quantity=quantity, reason=reason)
    # then it is refused and nothing moved
    assert exc.value.code == code and StockMovement.objects.filter(product=p).count() == 1


def test_receive_stock_needs_manage_and_an_existing_product(agent, supervisor):
    # given a product
    p = product("R-3", stock=1)
    # when an agent receives stock, or a supervisor receives for a missing product
    # then 403 and 404
    with pytest.raises(PermissionDeniedError):
        check_receive_stock(agent, p.pk, quantity=1, reason="x")
    with pytest.raises(NotFoundError):
        check_receive_stock(supervisor, 999_999, quantity=1, reason="x")


def test_access_product_by_id_or_sku(agent):
    # given a product
    p = product("AC-1")
    # when an agent looks it up by id and by SKU, and a missing SKU
    # then the same product, and 404 for the missing one
    assert access_product(agent, product_id=p.pk) == access_product(agent, sku="AC-1") == p
    with pytest.raises(NotFoundError):
        access_product(agent, sku="NOPE")


def test_do_adjust_stock_refuses_more_set_aside_than_on_hand():
    # given a product with 2 on hand
    p = product("DA-1", stock=2)
    # when the system tries to set aside 3
    with pytest.raises(ConflictError):
        do_adjust_stock(p.pk, delta=0, set_aside_delta=3, reason="x", acting_user=None)
    # then nothing moved
    assert ledger_matches(p) and p.stock_reserved == 0
