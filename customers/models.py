from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.text import fold


class Tag(models.Model):
    name = models.CharField(_("nombre"), max_length=60, unique=True)
    color = models.CharField(_("color"), max_length=7, default="#6e7781")

    class Meta:
        verbose_name = _("etiqueta")
        verbose_name_plural = _("etiquetas")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MarketingList(models.Model):
    name = models.CharField(_("nombre"), max_length=100, unique=True)
    code = models.SlugField(_("código"), max_length=50, unique=True)
    description = models.TextField(_("descripción"), blank=True)

    class Meta:
        verbose_name = _("lista de marketing")
        verbose_name_plural = _("listas de marketing")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    """A person or company the business talks to. Phones (E.164) and emails identify them across channels."""

    # The identifier exports and the API give other systems (seed 002): stable, never reused, no row count leaked.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("nombre"), max_length=200)
    search_name = models.CharField(max_length=200, blank=True, editable=False)  # core.text.fold(name)
    document_id = models.CharField(_("documento de identidad"), max_length=40, blank=True)
    address = models.CharField(_("dirección"), max_length=250, blank=True)
    city = models.CharField(_("ciudad"), max_length=100, blank=True)
    department = models.CharField(_("departamento / estado"), max_length=100, blank=True)
    notes = models.TextField(_("observaciones"), blank=True)
    kommo_contact_id = models.BigIntegerField(_("id de contacto en Kommo"), null=True, blank=True, unique=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers", verbose_name=_("etiquetas"))
    marketing_lists = models.ManyToManyField(MarketingList, blank=True, related_name="customers",
                                             verbose_name=_("listas de marketing"))
    extra = models.JSONField(_("datos adicionales"), default=dict, blank=True)
    # The customer's id in imported history (import_history's customer_id), so re-imports find the same person.
    import_ref = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("cliente")
        verbose_name_plural = _("clientes")
        constraints = [models.UniqueConstraint(fields=["import_ref"], condition=~Q(import_ref=""),
                                               name="customer_import_ref_unique")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.search_name = fold(self.name)[:200]
        if kwargs.get("update_fields") is not None and "name" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_name"}
        super().save(*args, **kwargs)


class CustomerPhone(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="phones")
    e164 = models.CharField(_("teléfono (E.164)"), max_length=20, unique=True)
    label = models.CharField(_("tipo"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("teléfono")
        verbose_name_plural = _("teléfonos")
        constraints = [models.CheckConstraint(condition=Q(e164__startswith="+"), name="phone_is_e164")]

    def __str__(self) -> str:
        return self.e164


class CustomerEmail(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="emails")
    email = models.CharField(_("correo"), max_length=254, unique=True)

    class Meta:
        verbose_name = _("correo")
        verbose_name_plural = _("correos")

    def __str__(self) -> str:
        return self.email


class DuplicateCandidate(models.Model):
    """Two customers that share an identifier and were not merged automatically; a person decides."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(_("motivo"), max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("posible duplicado")
        verbose_name_plural = _("posibles duplicados")
        constraints = [models.UniqueConstraint(fields=["customer", "other"], name="duplicate_pair_unique")]

    def __str__(self) -> str:
        return f"{self.customer_id} ~ {self.other_id}"
