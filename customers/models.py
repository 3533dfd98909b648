from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Q
from django.db.models.functions import Right
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.text import fold
from customers.choices import ConsentChannel, ConsentStatus, ContactChannel, Language, LeadState

NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # contact_sort_at of a customer never contacted


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
    # Preferences the customer told us: how and when to reach them, and in which language.
    language = models.CharField(_("idioma"), max_length=5, choices=Language.choices, blank=True)
    preferred_channel = models.CharField(_("canal preferido"), max_length=10, choices=ContactChannel.choices,
                                         blank=True)
    contact_from = models.TimeField(_("contactar desde"), null=True, blank=True)
    contact_to = models.TimeField(_("contactar hasta"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    # Activity: derived from conversations, orders, imported sales and leads by customers.activity (the apps above
    # register what they know), refreshed after every change that moves them and rebuilt nightly. Columns on the
    # customer row, not a side table, so the list filters and sorts on one table and no customer can miss its row.
    # Written only by customers.activity, with queryset.update() (updated_at means "the profile was edited").
    first_contact_at = models.DateTimeField(_("primer contacto"), null=True, blank=True, editable=False)
    last_contact_at = models.DateTimeField(_("último contacto"), null=True, blank=True, editable=False)
    # The list's default order: last_contact_at, or the epoch for the never contacted (so they come last). A NOT NULL
    # copy because "DESC NULLS LAST" cannot be indexed on SQLite, and PostgreSQL's DESC puts NULLs first.
    contact_sort_at = models.DateTimeField(default=NEVER, editable=False)
    last_inbound_at = models.DateTimeField(_("último mensaje recibido"), null=True, blank=True, editable=False)
    conversations_count = models.PositiveIntegerField(_("conversaciones"), default=0, editable=False)
    open_conversations = models.PositiveIntegerField(_("conversaciones abiertas"), default=0, editable=False)
    on_whatsapp = models.BooleanField(default=False, editable=False)
    on_email = models.BooleanField(default=False, editable=False)
    on_webchat = models.BooleanField(default=False, editable=False)
    on_phone = models.BooleanField(default=False, editable=False)
    on_sms = models.BooleanField(default=False, editable=False)
    orders_count = models.PositiveIntegerField(_("compras"), default=0, editable=False)
    orders_90d = models.PositiveIntegerField(default=0, editable=False)
    total_spent = models.DecimalField(_("total comprado"), max_digits=16, decimal_places=2, default=Decimal(0),
                                      editable=False)
    spent_12m = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal(0), editable=False)
    last_order_at = models.DateTimeField(_("última compra"), null=True, blank=True, editable=False)
    lead_state = models.CharField(_("estado del lead"), max_length=12, choices=LeadState.choices, blank=True,
                                  editable=False)
    activity_at = models.DateTimeField(null=True, blank=True, editable=False)  # when the columns above were computed

    class Meta:
        verbose_name = _("cliente")
        verbose_name_plural = _("clientes")
        constraints = [
            models.UniqueConstraint(fields=["import_ref"], condition=~Q(import_ref=""),
                                    name="customer_import_ref_unique"),
            models.CheckConstraint(condition=Q(lead_state__in=["", *LeadState.values]),
                                   name="customer_lead_state_valid"),
        ]
        indexes = [
            # The list's orders, each walked as an index and cut at the page (keyset on the sort key and id).
            models.Index(fields=["-contact_sort_at", "-id"], name="customer_contact_idx"),
            models.Index(fields=["-total_spent", "-id"], name="customer_spent_idx"),
            models.Index(fields=["search_name", "id"], name="customer_name_idx"),
            models.Index(fields=["-created_at", "-id"], name="customer_created_idx"),
            models.Index(fields=["document_id"], name="customer_document_idx", condition=~Q(document_id="")),
            models.Index(fields=["lead_state"], name="customer_lead_state_idx", condition=~Q(lead_state="")),
            models.Index(fields=["open_conversations"], name="customer_open_conv_idx",
                         condition=Q(open_conversations__gt=0)),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.search_name = fold(self.name)[:200]
        if kwargs.get("update_fields") is not None and "name" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_name"}
        super().save(*args, **kwargs)

    @property
    def customer_since(self) -> datetime:
        """Since when we know the customer: the record's creation, or an earlier first contact (imported history)."""
        return min(self.created_at, self.first_contact_at) if self.first_contact_at else self.created_at


TAIL_DIGITS = 4  # the shortest end of a number the search accepts (customers.selectors.MIN_PHONE_DIGITS)


class CustomerPhone(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="phones")
    e164 = models.CharField(_("teléfono (E.164)"), max_length=20, unique=True)
    label = models.CharField(_("tipo"), max_length=20, blank=True)
    # The number's last digits, kept by the database: a search by the end of a number ("…2233") reads this index
    # and checks the rest on the few rows it finds, instead of testing every phone with LIKE '%2233'.
    tail = models.GeneratedField(expression=Right("e164", TAIL_DIGITS),
                                 output_field=models.CharField(max_length=TAIL_DIGITS), db_persist=True)

    class Meta:
        verbose_name = _("teléfono")
        verbose_name_plural = _("teléfonos")
        constraints = [models.CheckConstraint(condition=Q(e164__startswith="+"), name="phone_is_e164")]
        indexes = [models.Index(fields=["tail"], name="customer_phone_tail_idx")]

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


class Consent(models.Model):
    """Whether a customer accepts campaign messages on one channel, and how we know: where the opt-in came from and
    when; when and how they opted out (a keyword reply, the email link, an agent, the API, an import). Campaigns
    send only to an opt-in without a later opt-out; changes are audited."""

    class Method(models.TextChoices):
        KEYWORD = "keyword", _("Respondió una palabra de baja")
        LINK = "link", _("Enlace de baja del correo")
        AGENT = "agent", _("Registrado por un agente")
        API = "api", _("API")
        IMPORT = "import", _("Importación")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(_("canal"), max_length=10, choices=ConsentChannel.choices)
    status = models.CharField(_("estado"), max_length=10, choices=ConsentStatus.choices)
    source = models.CharField(_("origen del consentimiento"), max_length=200, blank=True)
    opted_in_at = models.DateTimeField(_("aceptó el"), null=True, blank=True)
    opted_out_at = models.DateTimeField(_("se dio de baja el"), null=True, blank=True)
    opt_out_method = models.CharField(_("cómo se dio de baja"), max_length=10, choices=Method.choices, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("consentimiento")
        verbose_name_plural = _("consentimientos")
        constraints = [
            models.UniqueConstraint(fields=["customer", "channel"], name="consent_customer_channel_unique"),
            models.CheckConstraint(condition=Q(channel__in=ConsentChannel.values), name="consent_channel_valid"),
            models.CheckConstraint(condition=Q(status__in=ConsentStatus.values), name="consent_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.channel} {self.status}"


class Segment(models.Model):
    """A group of customers defined by declared rules over their activity, tags and lists (VIP, frecuente, nuevo,
    inactivo, and any an admin adds), kept by customers.segments: recomputed for a customer whenever their activity
    is refreshed and for everyone nightly, with every entry and exit kept (SegmentMembership) and announced
    (segment.entered / segment.left) so rules and campaigns can react."""

    class Priority(models.TextChoices):
        """The priorities a segment can raise its customers' new conversations to (inbox.choices.Priority's values)."""

        HIGH = "alta", _("Alta")
        URGENT = "urgente", _("Urgente")

    class Tone(models.TextChoices):
        GOLD = "gold", _("Dorado")
        BLUE = "blue", _("Azul")
        GREEN = "green", _("Verde")
        PURPLE = "purple", _("Morado")
        GRAY = "gray", _("Gris")

    code = models.SlugField(_("código"), max_length=50, unique=True)
    name = models.CharField(_("nombre"), max_length=80, unique=True)
    description = models.CharField(_("descripción"), max_length=250, blank=True)
    # {"any": [{condition: value, …}, …]}: a customer belongs when every condition of at least one group holds
    # (customers.segments.CONDITIONS declares the conditions).
    rules = models.JSONField(_("reglas"), default=dict)
    tone = models.CharField(_("color de la insignia"), max_length=10, choices=Tone.choices, default=Tone.BLUE)
    # Treatment: the priority new conversations of its members get, and the skill of the agents who take them first.
    priority = models.CharField(_("prioridad de sus conversaciones"), max_length=8, choices=Priority.choices,
                                blank=True)
    skill = models.ForeignKey("accounts.Skill", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              verbose_name=_("habilidad de los agentes que lo atienden"))
    active = models.BooleanField(_("activo"), default=True)
    # The badge in the inbox's list too (the profile, the conversation and the call screen always show it): for the
    # segments an agent must notice at a glance (VIP), not those most customers are in (Nuevo).
    in_lists = models.BooleanField(_("insignia también en la lista de la bandeja"), default=False)
    builtin = models.BooleanField(default=False, editable=False)  # a default segment: editable, not deletable
    position = models.PositiveSmallIntegerField(default=100)
    recomputed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("segmento")
        verbose_name_plural = _("segmentos")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class SegmentMembership(models.Model):
    """One stay of a customer in a segment: entered_at, and left_at once they no longer match (a later match is a new
    row). The current members are the rows without left_at."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="segment_memberships")
    entered_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "customer"], condition=Q(left_at__isnull=True),
                                    name="segment_membership_current_unique"),
        ]
        indexes = [
            models.Index(fields=["customer", "segment"], condition=Q(left_at__isnull=True),
                         name="segment_member_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.segment_id}:{self.customer_id}"
