from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.text import fold


class Product(models.Model):
    """A sellable product with its live stock. `stock_on_hand` only changes through catalog.actions, which
    writes a StockMovement for every change, so the quantity is always explainable by the ledger."""

    # The identifier exports and the API give other systems (seed 002): stable, never reused, no row count leaked.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("nombre"), max_length=200)
    search_name = models.CharField(max_length=200, blank=True, editable=False)
    description = models.TextField(_("descripción"), blank=True)
    category = models.CharField(_("categoría"), max_length=100, blank=True)
    price = models.DecimalField(_("precio unitario"), max_digits=14, decimal_places=2)
    is_active = models.BooleanField(_("activo"), default=True)
    stock_on_hand = models.IntegerField(_("stock en bodega"), default=0)
    stock_reserved = models.IntegerField(_("stock apartado"), default=0,
                                         help_text=_("Unidades en bodega que no se pueden vender (apartadas)."))
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("producto")
        verbose_name_plural = _("productos")
        ordering = ["name"]
        constraints = [
            # The backstop behind the row locks in do_reserve_stock: stock can never go negative.
            models.CheckConstraint(condition=Q(stock_on_hand__gte=0), name="product_on_hand_non_negative"),
            models.CheckConstraint(condition=Q(stock_reserved__gte=0) & Q(stock_reserved__lte=F("stock_on_hand")),
                                   name="product_reserved_within_on_hand"),
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_non_negative"),
        ]
        indexes = [models.Index(fields=["is_active", "search_name"], name="product_active_name_idx")]

    def __str__(self) -> str:
        return f"{self.sku} · {self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.search_name = fold(self.name)[:200]
        if kwargs.get("update_fields") is not None and "name" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_name"}
        super().save(*args, **kwargs)

    @property
    def stock_available(self) -> int:
        return max(0, self.stock_on_hand - self.stock_reserved)


class MovementKind(models.TextChoices):
    RECEIPT = "receipt", _("Entrada")
    SALE = "sale", _("Venta")
    CANCELLATION = "cancellation", _("Cancelación")
    ADJUSTMENT = "adjustment", _("Ajuste manual")
    SET_ASIDE = "set_aside", _("Apartado")


class StockMovement(models.Model):
    """Append-only stock ledger: Σ on_hand_delta of a product equals its stock_on_hand."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(_("tipo"), max_length=16, choices=MovementKind.choices)
    on_hand_delta = models.IntegerField(_("cambio en bodega"))
    reserved_delta = models.IntegerField(_("cambio apartado"), default=0)
    on_hand_after = models.IntegerField(_("bodega después"))
    reason = models.CharField(_("motivo"), max_length=250, blank=True)
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="stock_movements")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("movimiento de stock")
        verbose_name_plural = _("movimientos de stock")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["product", "-created_at"], name="movement_product_time_idx")]

    def __str__(self) -> str:
        return f"{self.product_id} {self.kind} {self.on_hand_delta:+d}"
