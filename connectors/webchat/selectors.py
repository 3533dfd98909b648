"""Read side of the web chat: who can answer now, what the widget shows, and the messages a visitor may read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.choices import Availability
from accounts.models import User, business_hours_open
from accounts.roles import ROLE_PERMISSIONS, Perm
from connectors.webchat.models import ChatSite, ContactRequirement, Visitor
from connectors.webchat.tokens import sign_attachment
from inbox.actions import candidates
from inbox.choices import MessageKind
from inbox.message_choices import offered_choices
from inbox.models import Message

MAX_MESSAGE_LENGTH: int = settings.MESSAGE_MAX_LENGTH_BY_CHANNEL["webchat"]  # one place for every limit
HISTORY_PAGE = 50
AVAILABILITY_CACHE_SECONDS = 30  # the config is fetched on every page view of the customer's website


def agents_available(site: ChatSite, *, at: datetime | None = None) -> bool:
    """Whether someone can answer the site's chat now: the inbox's assignment candidates (members of its teams,
    available, inside business hours, with the skill it needs). Global has no member teams: there any available
    agent counts whose teams (if they have any) are open now."""

    at = at or timezone.now()
    inbox = site.inbox  # None: Global (the inbox creates it on the first message if it is missing)
    if inbox is not None and not inbox.is_global and inbox.teams.exists():
        return bool(candidates(inbox, at=at))
    roles = [r.value for r, perms in ROLE_PERMISSIONS.items() if Perm.INBOX_WORK in perms]
    pool = (User.objects.filter(is_active=True, can_login=True, role__in=roles, availability=Availability.AVAILABLE)
            .prefetch_related("teams"))
    open_team: dict[int, bool] = {}
    for user in pool[:200]:  # bounded: one open agent is enough
        teams = list(user.teams.all())
        if not teams:
            return True
        for team in teams:
            if team.pk not in open_team:
                open_team[team.pk] = business_hours_open(team, at)
            if open_team[team.pk]:
                return True
    return False


def cached_agents_available(site: ChatSite) -> bool:
    key = f"webchat:online:{site.pk}"
    value = cache.get(key)
    if value is None:
        value = agents_available(site)
        cache.set(key, value, AVAILABILITY_CACHE_SECONDS)
    return bool(value)


def default_texts() -> dict[str, str]:
    """Every text the widget shows, translated on the server (the widget has no strings of its own)."""
    return {
        "title": _("Chatea con nosotros"),
        "welcome": _("¡Hola! ¿En qué podemos ayudarte?"),
        "offline": _("En este momento no hay agentes disponibles. Déjanos tus datos y te responderemos lo antes "
                     "posible."),
        "open": _("Abrir el chat"),
        "close": _("Cerrar el chat"),
        "online": _("En línea"),
        "away": _("Fuera de línea"),
        "name": _("Nombre"),
        "email": _("Correo electrónico"),
        "phone": _("Teléfono"),
        "email_or_phone": _("Escribe tu correo o tu teléfono."),
        "prechat_intro": _("Antes de empezar, cuéntanos quién eres."),
        "start": _("Comenzar conversación"),
        "placeholder": _("Escribe un mensaje…"),
        "send": _("Enviar"),
        "you": _("Tú"),
        "agent": _("Agente"),
        "agent_typing": _("Un agente está escribiendo…"),
        "reconnecting": _("Sin conexión; reintentando…"),
        "sending": _("Enviando…"),
        "failed": _("No se pudo enviar. Toca para reintentar."),
        "too_long": _("El mensaje es demasiado largo (máximo %d caracteres).") % MAX_MESSAGE_LENGTH,
        "rate_limited": _("Estás enviando mensajes muy rápido. Espera un momento."),
        "leave_contact": _("Déjanos tu correo o teléfono para responderte."),
        "save_contact": _("Guardar mis datos"),
        "contact_saved": _("¡Gracias! Te responderemos por este medio si no estás en línea."),
        "powered": _("Chat de Centralita"),
        "choices": _("Opciones de respuesta"),
    }


def widget_config(site: ChatSite) -> dict[str, Any]:
    texts = default_texts()
    if site.title:
        texts["title"] = site.title
    if site.welcome_text:
        texts["welcome"] = site.welcome_text
    if site.offline_text:
        texts["offline"] = site.offline_text
    return {
        "site": site.token,
        "online": cached_agents_available(site),
        "colors": {"primary": site.primary_color, "text": site.text_color},
        "position": "left" if site.position == "izquierda" else "right",
        "prechat": {"name": site.require_name, "contact": {
            ContactRequirement.NONE: "none", ContactRequirement.EMAIL: "email", ContactRequirement.PHONE: "phone",
            ContactRequirement.EITHER: "either"}[ContactRequirement(site.require_contact)]},
        "max_length": MAX_MESSAGE_LENGTH,
        "texts": texts,
    }


def visitor_payload(visitor: Visitor) -> dict[str, Any]:
    return {"name": visitor.name, "email": visitor.email, "phone": visitor.phone,
            "has_contact": visitor.has_contact}


def message_payload(m: Message) -> dict[str, Any]:
    """Chatwoot's push_event_data shape, reduced to what a visitor may see (never the agent's full name or email,
    never delivery errors)."""
    incoming = m.kind == MessageKind.INBOUND
    meta = (m.meta or {}).get("webchat", {}) if incoming else {}
    if incoming:
        sender: dict[str, Any] = {"type": "contact"}
    else:
        name = (m.author.display_name if m.author else "").split(" ")[0]
        if m.author is None and isinstance(m.meta, dict) and "bot" in m.meta:
            name = _("Asistente virtual")  # the chatbot's messages (bots): the visitor knows it is not a person
        sender = {"type": "user", "name": name or _("Agente")}
    return {"id": m.pk, "content": m.body, "message_type": 0 if incoming else 1,
            "created_at": int(m.created_at.timestamp()), "echo_id": meta.get("echo_id") or None,
            "status": m.delivery_status or None, "sender": sender,
            "attachments": [] if incoming else attachment_links(m),
            # a bot's question: the widget shows its options as buttons under the bubble (inbox.message_choices)
            "choices": [] if incoming else offered_choices(m.meta)}


def attachment_links(m: Message) -> list[dict[str, Any]]:
    """The files of an agent's answer, each with a signed link the visitor can open (connectors.webchat.views)."""
    base = settings.SITE_URL.rstrip("/")
    return [{"name": a.get("name") or "", "size": a.get("size") or 0,
             "url": base + reverse("webchat:attachment", args=[sign_attachment(message_id=m.pk, index=i)])}
            for i, a in enumerate(m.attachments or []) if isinstance(a, dict) and a.get("path")]


def sent_attachments(message_id: int) -> list[Any]:
    """The files of an agent's answer (never of a note or a customer's message, never of a deleted one), for the
    signed links of attachment_links. Any channel: a web chat conversation merged into another keeps its links."""
    m = (Message.objects.filter(pk=message_id, kind=MessageKind.OUTBOUND, deleted_at__isnull=True)
         .only("attachments").first())
    return list(m.attachments or []) if m is not None else []


def visible_messages(visitor: Visitor) -> Any:
    """What the visitor may read: customer messages and agent replies of their own conversation since they joined
    it. Internal notes never."""
    if visitor.conversation_id is None:
        return Message.objects.none()
    qs = Message.objects.filter(conversation_id=visitor.conversation_id,
                                kind__in=[MessageKind.INBOUND, MessageKind.OUTBOUND])
    if visitor.joined_at is not None:
        qs = qs.filter(created_at__gte=visitor.joined_at)
    return qs


def history(visitor: Visitor, *, before: int | None = None, after: int | None = None) -> tuple[list[Message], bool]:
    """Newest page (before an id) or everything newer than an id (a reconnecting widget's sync), oldest first."""
    qs = visible_messages(visitor).select_related("author")
    if after is not None:
        rows = list(qs.filter(pk__gt=after).order_by("created_at", "id")[:HISTORY_PAGE + 1])
        return rows[:HISTORY_PAGE], len(rows) > HISTORY_PAGE
    if before is not None:
        pivot = qs.filter(pk=before).values_list("created_at", flat=True).first()
        if pivot is None:
            return [], False
        qs = qs.filter(Q(created_at__lt=pivot) | Q(created_at=pivot, pk__lt=before))
    rows = list(qs.order_by("-created_at", "-id")[:HISTORY_PAGE + 1])
    return list(reversed(rows[:HISTORY_PAGE])), len(rows) > HISTORY_PAGE


def visitor_for_conversation(conversation_id: int) -> Visitor | None:
    """The visitor most recently linked to a conversation (the agent's sidebar)."""
    return (Visitor.objects.filter(conversation_id=conversation_id).select_related("site")
            .order_by("-last_seen_at").first())
