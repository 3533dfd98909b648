from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import Product
from customers.models import Customer
from leads.models import Lead
from orders.choices import OrderState


class Order(models.Model):
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.PROTECT, related_name="orders",
                             verbose_name=_("lead"))
    # An order taken in a conversation (WhatsApp, email, web chat): its sales belong to that conversation.
    conversation = models.ForeignKey("inbox.Conversation", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="orders", verbose_name=_("conversación"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders", verbose_name=_("cliente"))
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders",
                              verbose_name=_("agente"))
    state = models.CharField(_("estado"), max_length=12, choices=OrderState.choices, default=OrderState.DRAFT)
    currency = models.CharField(_("moneda"), max_length=3, default="COP")
    total = models.DecimalField(_("total"), max_digits=16, decimal_places=2, default=0)
    # Delivery data as confirmed (the customer record may change later; the order must not).
    delivery_name = models.CharField(_("nombre de entrega"), max_length=200, blank=True)
    delivery_phone = models.CharField(_("teléfono de entrega"), max_length=20, blank=True)
    delivery_address = models.CharField(_("dirección de entrega"), max_length=250, blank=True)
    delivery_city = models.CharField(_("ciudad"), max_length=100, blank=True)
    delivery_department = models.CharField(_("departamento / estado"), max_length=100, blank=True)
    delivery_document = models.CharField(_("documento"), max_length=40, blank=True)
    cancel_reason = models.CharField(_("motivo de cancelación"), max_length=250, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("pedido")
        verbose_name_plural = _("pedidos")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=OrderState.values), name="order_state_valid"),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_non_negative"),
        ]
        indexes = [
            models.Index(fields=["state", "-created_at"], name="order_state_time_idx"),
            models.Index(fields=["agent", "-created_at"], name="order_agent_time_idx"),
            models.Index(fields=["customer", "-created_at"], name="order_customer_time_idx"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def number(self) -> str:
        return f"P-{self.pk:06d}" if self.pk else "P-?"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=14, decimal_places=2)
    quantity = models.PositiveIntegerField()
    line_total = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="order_line_unique_product"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_line_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"


class OrderEvent(models.Model):
    """Append-only history of an order (state changes, line edits, sync results)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind}"


class Sale(models.Model):
    """One sold product line: the unit of the dashboard's sales figures (issue 7). A confirmed order writes one
    per order line, linked to the customer's current conversation (a cancelled order deletes them); imported
    history writes them from its sales file, keyed by `import_ref` (sale_id). Sales without a conversation are
    kept but counted by no dashboard chart: every definition counts sales in the window of their conversation."""

    # The identifier exports and the API give other systems (seed 002): stable, never reused, no row count leaked.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    import_ref = models.CharField(max_length=64, blank=True)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="sales")
    conversation = models.ForeignKey("inbox.Conversation", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="sales")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    product_ref = models.CharField(max_length=64, blank=True)
    product_name = models.CharField(max_length=200, blank=True)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    amount = models.DecimalField(max_digits=16, decimal_places=2)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("venta")
        verbose_name_plural = _("ventas")
        constraints = [models.UniqueConstraint(fields=["import_ref"], condition=~Q(import_ref=""),
                                               name="sale_import_ref_unique")]
        indexes = [models.Index(fields=["conversation"], name="sale_conversation_idx")]

    def __str__(self) -> str:
        return f"{self.product_name} × {self.quantity}"
