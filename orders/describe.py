"""An order's history as sentences with names (STYLE §17): "Raúl Mendoza confirmó el pedido por 150.000 COP",
"Sincronizado con Kommo: el lead pasó a «Ventas / Venta Confirmada»". One function per OrderEvent kind that
orders.actions and crm.sync write."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.describe import money, quote, system_actor
from orders.choices import OrderState
from orders.models import OrderEvent
from orders.sync_state import sync_stages

logger = logging.getLogger(__name__)
KOMMO_KINDS = frozenset({"kommo_synced", "kommo_sync_retry", "kommo_sync_failed"})


@dataclass(frozen=True)
class _Event:
    kind: str
    data: Mapping[str, Any]
    actor: str | None
    currency: str
    stage: str  # the Kommo stage the order's sync moves the lead to ("" when unknown)

    @property
    def who(self) -> str:
        return self.actor or system_actor()

    def attempt(self) -> int | None:
        value = self.data.get("attempt")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def _units(lines: object) -> tuple[int, int]:
    """(products, units) of data["lines"] ([[sku, quantity], …])."""
    rows = [row for row in lines if isinstance(row, list) and len(row) == 2] if isinstance(lines, list) else []
    return len(rows), sum(int(q) for _sku, q in rows if isinstance(q, int))


def _products(lines: object) -> str:
    products, units = _units(lines)
    return ngettext("%(n)d producto", "%(n)d productos", products) % {"n": products} + " · " + ngettext(
        "%(n)d unidad", "%(n)d unidades", units) % {"n": units}


def _created(e: _Event) -> str:
    products, _units_count = _units(e.data.get("lines"))
    if not products:
        return _("%(actor)s creó el pedido") % {"actor": e.who}
    return _("%(actor)s creó el pedido con %(products)s") % {"actor": e.who, "products": _products(e.data["lines"])}


def _lines(e: _Event) -> str:
    products, _units_count = _units(e.data.get("lines"))
    if not products:
        return _("%(actor)s quitó todos los productos del pedido") % {"actor": e.who}
    return _("%(actor)s cambió los productos del pedido (ahora %(products)s)") % {
        "actor": e.who, "products": _products(e.data["lines"])}


def _confirmed(e: _Event) -> str:
    total = e.data.get("total")
    if total is None:
        return _("%(actor)s confirmó el pedido") % {"actor": e.who}
    return _("%(actor)s confirmó el pedido por %(total)s") % {"actor": e.who, "total": money(total, e.currency)}


def _cancelled(e: _Event) -> str:
    reason = str(e.data.get("reason") or "").strip()
    if reason:
        return _("%(actor)s canceló el pedido: %(reason)s") % {"actor": e.who, "reason": quote(reason)}
    return _("%(actor)s canceló el pedido") % {"actor": e.who}


def _dispatched(e: _Event) -> str:
    return _("%(actor)s marcó el pedido como despachado") % {"actor": e.who}


def _state(e: _Event) -> str:
    to = e.data.get("to") or e.kind.partition(":")[2]
    label = str(OrderState(to).label) if to in OrderState.values else _("otro estado")
    return _("El pedido pasó a %(state)s") % {"state": label}


def _synced(e: _Event) -> str:
    if e.stage:
        return _("Sincronizado con Kommo: el lead pasó a %(stage)s") % {"stage": quote(e.stage)}
    return _("Sincronizado con Kommo")


def _reason(error: object) -> str:
    """Kommo's answer as a reason a person can act on; its own text is quoted, never interpreted further."""
    text = str(error or "").strip()
    if not text or text.startswith("Kommo did not answer"):
        return _("Kommo no respondió")
    if text.startswith("HTTP ") and text[5:].isdigit():
        return _("Kommo respondió con un error (%(status)s)") % {"status": text}
    return _("Kommo respondió %(detail)s") % {"detail": quote(text[:300])}


def _retry(e: _Event) -> str:
    attempt = e.attempt()
    if attempt is None:
        return _("No se pudo sincronizar con Kommo (%(reason)s); se reintentará automáticamente") % {
            "reason": _reason(e.data.get("error"))}
    return _("El intento %(attempt)d de sincronizar con Kommo falló (%(reason)s); se reintentará "
             "automáticamente") % {"attempt": attempt, "reason": _reason(e.data.get("error"))}


def _failed(e: _Event) -> str:
    attempt = e.attempt() or 1
    return ngettext(
        "La sincronización con Kommo falló tras %(n)d intento (%(reason)s); un administrador puede reintentarla "
        "desde Integraciones",
        "La sincronización con Kommo falló tras %(n)d intentos (%(reason)s); un administrador puede reintentarla "
        "desde Integraciones", attempt) % {"n": attempt, "reason": _reason(e.data.get("error"))}


_KINDS: Mapping[str, Callable[[_Event], str]] = {
    "created": _created, "lines": _lines, f"state:{OrderState.CONFIRMED.value}": _confirmed,
    f"state:{OrderState.CANCELLED.value}": _cancelled, f"state:{OrderState.DISPATCHED.value}": _dispatched,
    "kommo_synced": _synced, "kommo_sync_retry": _retry, "kommo_sync_failed": _failed,
}
DESCRIBED_KINDS = frozenset(_KINDS)


def describe_order_event(kind: str, data: Mapping[str, Any], *, actor: str | None, currency: str = "",
                         stage: str = "") -> str:
    """One order history row as a sentence in the current language. Pure: `actor` is the actor's display
    name (None for the system), `stage` the Kommo stage name a sync moved the lead to."""
    event = _Event(kind=kind, data=data if isinstance(data, Mapping) else {}, actor=actor, currency=currency,
                   stage=stage)
    describe = _KINDS.get(kind) or (_state if kind.startswith("state:") else None)
    if describe is not None:
        try:
            return describe(event)
        except (TypeError, ValueError, KeyError, AttributeError):
            logger.warning("order event of kind %s did not fit its sentence", kind)
    else:
        logger.info("no sentence for order event kind %s", kind)
    if actor:
        return _("%(actor)s registró un cambio") % {"actor": actor}
    return _("Cambio registrado")


def _stages(events: Sequence[OrderEvent]) -> dict[int, str]:
    """{order id: the CRM stage its confirmation sync targets}, for orders with a sync event (orders.sync_state)."""
    return sync_stages({e.order_id for e in events if e.kind == "kommo_synced"})


def annotate_order_events(events: Sequence[OrderEvent]) -> None:
    """Sets `e.text` on each event (current language). Load events with `select_related("actor", "order")`:
    then only Kommo syncs cost queries (two, whatever the number of events)."""
    stages = _stages(events)
    for e in events:
        actor = e.actor.display_name if e.actor_id is not None and e.actor is not None else None
        e.text = describe_order_event(  # type: ignore[attr-defined]
            e.kind, e.data, actor=actor, currency=e.order.currency, stage=stages.get(e.order_id, ""))
