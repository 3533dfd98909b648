from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from django.db import models
from django.utils.translation import gettext_lazy as _


class OrderState(models.TextChoices):
    DRAFT = "borrador", _("Borrador")
    CONFIRMED = "confirmado", _("Confirmado")
    DISPATCHED = "despachado", _("Despachado")
    CANCELLED = "cancelado", _("Cancelado")


S = OrderState
ORDER_TRANSITIONS: Final[Mapping[OrderState, frozenset[OrderState]]] = {
    S.DRAFT: frozenset({S.CONFIRMED, S.CANCELLED}),
    S.CONFIRMED: frozenset({S.DISPATCHED, S.CANCELLED}),
    S.DISPATCHED: frozenset(),
    S.CANCELLED: frozenset(),
}
