"""The web chat's rules, in one place: sites (admin), visitors and their messages (public), typing and receipts.

Visitors are not users: public calls are authorized by the site's token plus the visitor's signed token, and the
visitor is passed explicitly where staff actions take `acting_user`.

Privacy rule: a visitor reads exactly one conversation, the one their own messages went to, and only from when
they joined it. A pre-chat form is an unverified claim, so a second visitor typing someone else's e-mail or
phone never lands in that person's customer record (and thus never in their conversation): they get a customer
of their own, and the agent sees the claimed details in the sidebar and merges if it is really the same person.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import nh3
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from connectors.webchat import limits
from connectors.webchat.delivery import push_on_commit
from connectors.webchat.models import (
    ChatSite,
    ContactRequirement,
    Position,
    Visitor,
    WhatsAppLinkSettings,
    new_site_token,
)
from connectors.webchat.origins import normalize_origin, origin_allowed
from connectors.webchat.selectors import MAX_MESSAGE_LENGTH, message_payload, visible_messages
from connectors.webchat.tokens import read_visitor_token
from connectors.webchat.whatsapp_link import PLACEHOLDERS
from core import audit
from core.errors import ActionError, ConflictError, NotFoundError, PermissionDeniedError
from core.validators import has_lone_surrogate
from customers.models import CustomerEmail, CustomerPhone
from customers.phones import normalize_email, normalize_phone
from inbox.actions import access_conversation, audience, do_receive_inbound, do_update_delivery_status
from inbox.choices import OPEN_STATES, Channel, DeliveryStatus, MessageKind
from inbox.message_choices import offered_choices
from inbox.models import Conversation, Inbox, Message
from realtime.events import is_muted, send_event_on_commit

ECHO_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_RAW_LENGTH = 4 * MAX_MESSAGE_LENGTH  # longer input is refused before any parsing work
MAX_ORIGINS = 50


class RateLimited(ActionError):
    status = 429


class Unauthorized(ActionError):
    status = 401


# --- text ---------------------------------------------------------------------------------------------


def sanitize_text(raw: str, *, max_raw: int = MAX_RAW_LENGTH) -> str:
    """Plain text out of whatever a browser (or a script) sent: HTML tags and their scripts removed by nh3, entities
    decoded back to characters (the inbox and the widget escape on display), control characters dropped."""
    text = (raw or "")[:max_raw]
    if has_lone_surrogate(text):  # nh3 (Rust) cannot take one: a 400, not a 500 (on the socket too)
        raise ActionError("invalid_text", _("El texto contiene caracteres inválidos (un sustituto Unicode suelto)."))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = html.unescape(nh3.clean(text, tags=set()))
    return CONTROL.sub("", text).strip()


def _short_text(raw: str, *, max_length: int) -> str:
    return " ".join(sanitize_text(raw, max_raw=max_length * 4).split())[:max_length]


# --- public access: site, origin, visitor ---------------------------------------------------------------


def access_site(token: str) -> ChatSite:
    site = ChatSite.objects.select_related("inbox").filter(token=token or "", enabled=True).first() \
        if token and len(token) <= 64 else None
    if site is None:
        raise NotFoundError("site_not_found", _("El chat de este sitio no existe o está desactivado."))
    return site


def check_origin(site: ChatSite, *, origin: str, host: str) -> None:
    """Browsers always say where a cross-site call comes from; requests without an Origin (same-origin GETs,
    non-browser clients) pass, since the visitor token and the rate limits are what protect them."""
    if origin and not origin_allowed(origin, allowed=site.allowed_origins, host=host):
        raise PermissionDeniedError("origin_not_allowed", _("Este sitio web no está autorizado para este chat."))


def access_visitor(site: ChatSite, token: str) -> Visitor:
    claim = read_visitor_token(token)
    visitor = None
    if claim is not None and claim.site_id == site.pk:
        visitor = Visitor.objects.select_related("site").filter(site=site, key=claim.visitor_key).first()
    if visitor is None:
        raise Unauthorized("invalid_visitor", _("La sesión del chat no es válida; vuelve a empezar."))
    return visitor


def _effective_contact_rule(site: ChatSite, *, online: bool) -> ContactRequirement:
    rule = ContactRequirement(site.require_contact)
    if not online and rule == ContactRequirement.NONE:
        return ContactRequirement.EITHER  # nobody can answer now: we need a way to answer later
    return rule


def check_save_visitor(site: ChatSite, *, visitor: Visitor | None, name: str = "", email: str = "",
                       phone: str = "", page_url: str = "", client_key: str = "", online: bool = True) -> Visitor:
    """The pre-chat form: creates the visitor (`visitor` None) or completes their details (the "leave us your
    contact" form when nobody is online). Required fields follow the site's settings; when no agent is available
    a way to reach the visitor is always required."""
    clean_name = _short_text(name, max_length=120)
    clean_email = ""
    clean_phone = ""
    if email.strip():
        clean_email = normalize_email(email) or ""
        try:
            validate_email(clean_email)
        except ValidationError:
            raise ActionError("invalid_email", _("Escribe un correo electrónico válido."), field="email") from None
    if phone.strip():
        clean_phone = normalize_phone(phone[:40]) or ""
        if not clean_phone:
            raise ActionError("invalid_phone", _("Escribe un teléfono válido."), field="phone")
    name_now = clean_name or (visitor.name if visitor else "")
    email_now = clean_email or (visitor.email if visitor else "")
    phone_now = clean_phone or (visitor.phone if visitor else "")
    if site.require_name and not name_now:
        raise ActionError("name_required", _("Escribe tu nombre."), field="name")
    rule = _effective_contact_rule(site, online=online)
    if rule == ContactRequirement.EMAIL and not email_now:
        raise ActionError("email_required", _("Escribe tu correo electrónico."), field="email")
    if rule == ContactRequirement.PHONE and not phone_now:
        raise ActionError("phone_required", _("Escribe tu teléfono."), field="phone")
    if rule == ContactRequirement.EITHER and not (email_now or phone_now):
        raise ActionError("contact_required", _("Escribe tu correo o tu teléfono."), field="email")
    if visitor is None:
        retry = limits.hit("visitor", f"{site.pk}:{client_key or 'unknown'}")
        if retry:
            raise RateLimited("rate_limited", _("Demasiadas conversaciones nuevas desde esta conexión. Intenta más "
                                                "tarde."), retry_after=retry)
        return Visitor.objects.create(site=site, name=name_now, email=email_now, phone=phone_now,
                                      last_page_url=page_url[:500])
    visitor.name, visitor.email, visitor.phone = name_now, email_now, phone_now
    visitor.last_seen_at = timezone.now()
    if page_url:
        visitor.last_page_url = page_url[:500]
    visitor.save(update_fields=["name", "email", "phone", "last_seen_at", "last_page_url"])
    return visitor


def _thread_to_continue(visitor: Visitor) -> int | None:
    """The visitor's conversation when it is open or was resolved recently (the inbox reopens it as a new cycle);
    a long-closed one is history, and the next message starts a new conversation."""
    c = visitor.conversation
    if c is None:
        return None
    if c.state in OPEN_STATES:
        return c.pk
    recent = timezone.now() - timedelta(days=settings.INBOX_REOPEN_DAYS)
    return c.pk if c.closed_at is not None and c.closed_at >= recent else None


def _claimed_identity(visitor: Visitor) -> tuple[list[str], list[str]]:
    """Phones and e-mails to identify a new visitor's customer by, unless another visitor of the site already
    speaks for that customer (then none: see the module docstring)."""
    phones = [visitor.phone] if visitor.phone else []
    emails = [visitor.email] if visitor.email else []
    if not phones and not emails:
        return [], []
    owners = set(CustomerPhone.objects.filter(e164__in=phones).values_list("customer_id", flat=True))
    owners |= set(CustomerEmail.objects.filter(email__in=emails).values_list("customer_id", flat=True))
    if owners and Visitor.objects.filter(site=visitor.site_id, customer_id__in=owners).exclude(pk=visitor.pk).exists():
        return [], []
    return phones, emails


def _chosen(visitor: Visitor, reply: Any) -> dict[str, str] | None:
    """The option a visitor pressed under a bot's question (`reply`: {"id", "message_id"} from the widget), as
    WhatsApp's button replies are stored (`meta["reply"]`); None unless that message of the visitor's own
    conversation offered that option: an id cannot be made up, and the title is the one the bot wrote."""
    if not isinstance(reply, dict):
        return None
    choice_id, message_id = reply.get("id"), reply.get("message_id")
    if not isinstance(choice_id, str) or not isinstance(message_id, int) or isinstance(message_id, bool):
        return None
    asked = visible_messages(visitor).filter(pk=message_id, kind=MessageKind.OUTBOUND).only("meta").first()
    option = next((c for c in offered_choices(asked.meta) if c["id"] == choice_id), None) if asked else None
    if option is None:
        return None
    return {"kind": "button_reply", "id": option["id"], "title": option["title"],
            "description": option["description"]}


def check_visitor_message(site: ChatSite, visitor: Visitor, *, content: str, echo_id: str = "",
                          page_url: str = "", reply: Any = None) -> tuple[Message, bool]:
    """A visitor's message into the inbox (idempotent per echo id: a widget resending after a lost answer gets the
    stored message back). `reply`: the option button pressed, when the text is a button's title (`_chosen`).
    Returns (message, created_now)."""
    body = sanitize_text(content)
    if not body:
        raise ActionError("empty_message", _("El mensaje está vacío."), field="content")
    if len(body) > MAX_MESSAGE_LENGTH:
        raise ActionError("message_too_long", _("El mensaje es demasiado largo (máximo %d caracteres).")
                          % MAX_MESSAGE_LENGTH, field="content", max_length=MAX_MESSAGE_LENGTH)
    echo_id = echo_id if ECHO_ID.match(echo_id or "") else uuid.uuid4().hex
    external_id = f"webchat:{site.pk}:{visitor.key}:{echo_id}"
    existing = Message.objects.select_related("author").filter(external_id=external_id).first()
    if existing is not None:
        return existing, False
    retry = limits.hit("message", visitor.key)
    if retry:
        raise RateLimited("rate_limited", _("Estás enviando mensajes muy rápido. Espera %d segundos.") % retry,
                          retry_after=retry)

    with transaction.atomic():
        # Locking the visitor serializes a visitor's first messages (two tabs): one conversation, not two.
        visitor = Visitor.objects.select_for_update(of=("self",)).select_related("conversation").get(pk=visitor.pk)
        if visitor.customer_id is None:
            phones, emails = _claimed_identity(visitor)
        else:
            phones, emails = [], []
        meta: dict[str, Any] = {"webchat": {"site": site.pk, "visitor": visitor.key, "echo_id": echo_id,
                                            "page": page_url[:500]}}
        chosen = _chosen(visitor, reply)
        if chosen is not None:
            meta["reply"] = chosen
        conversation, message, _created = do_receive_inbound(
            channel=Channel.WEBCHAT, body=body, customer_name=visitor.name or _("Visitante del chat web"),
            phones=phones, emails=emails, customer_id=visitor.customer_id, conversation_id=_thread_to_continue(visitor),
            channel_ref=site.channel_ref, inbox_code=site.inbox.code if site.inbox else None,
            external_id=external_id, meta=meta)
        fields = ["customer", "last_seen_at"]
        if visitor.conversation_id != conversation.pk:
            visitor.conversation, visitor.joined_at = conversation, message.created_at
            fields += ["conversation", "joined_at"]
        visitor.customer_id, visitor.last_seen_at = conversation.customer_id, timezone.now()
        if page_url:
            visitor.last_page_url = page_url[:500]
            fields.append("last_page_url")
        visitor.save(update_fields=fields)
        # Every open tab of this visitor shows it (the sending tab matches it to its pending bubble by echo_id).
        push_on_commit([visitor.key], "message.created", message_payload(message))
    return message, True


def check_visitor_typing(visitor_id: int, *, typing: bool) -> bool:
    """Tells the agents watching the visitor's conversation that the visitor is (or stopped) typing. Excess
    signals are dropped silently: typing is a hint, not data."""
    if typing and limits.hit("typing", str(visitor_id)):
        return False
    conversation = (Conversation.objects.filter(webchat_visitors__pk=visitor_id, state__in=list(OPEN_STATES))
                    .select_related("assignee").only("pk", "assignee").first())
    if conversation is None or is_muted():
        return False

    send_event_on_commit({"type": "webchat", "op": "typing", "conversation_id": conversation.pk, "typing": typing},
                         **audience(conversation))
    return True


def check_visitor_ack(visitor: Visitor, *, message_ids: Iterable[Any], status: str) -> int:
    """The widget received (or showed) agent replies. Only replies of the visitor's own conversation count."""
    if status not in (DeliveryStatus.DELIVERED, DeliveryStatus.READ):
        raise ActionError("invalid_status", _("Estado inválido."), field="status")
    ids = [i for i in list(message_ids)[:100] if isinstance(i, int) and not isinstance(i, bool)]
    if not ids:
        return 0

    own = visible_messages(visitor).filter(kind=MessageKind.OUTBOUND, pk__in=ids).values_list("pk", flat=True)
    return sum(do_update_delivery_status(pk, status=status) for pk in list(own))


def check_agent_typing(acting_user: User, conversation_id: int, *, typing: bool) -> int:
    """Shows "an agent is typing" in the visitor's widget. Returns how many visitors were told."""

    conversation = access_conversation(acting_user, conversation_id)
    if conversation.channel != Channel.WEBCHAT:
        raise ActionError("not_webchat", _("Esta conversación no es de chat web."))
    keys = list(Visitor.objects.filter(conversation=conversation).values_list("key", flat=True))
    name = acting_user.display_name.split(" ")[0]
    push_on_commit(keys, "conversation.typing_on" if typing else "conversation.typing_off", {"name": name})
    return len(keys)


def access_visitor_by_id(visitor_id: int) -> Visitor:
    """The socket holds the visitor id after subscribing; reload it so links made since (a first message) count."""
    visitor = Visitor.objects.select_related("site", "site__inbox").filter(pk=visitor_id, site__enabled=True).first()
    if visitor is None:
        raise Unauthorized("invalid_visitor", _("La sesión del chat no es válida; vuelve a empezar."))
    return visitor


# --- administration -----------------------------------------------------------------------------------


def clean_origins(raw: Iterable[str]) -> list[str]:
    origins: list[str] = []
    for line in raw:
        if not line.strip():
            continue
        origin = normalize_origin(line)
        if origin is None:
            raise ActionError("invalid_origin", _("«%s» no es un origen válido: escriba esquema y dominio, p. ej. "
                                                  "https://www.ejemplo.com (sin ruta).") % line.strip()[:100],
                              field="allowed_origins")
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_ORIGINS:
        raise ActionError("too_many_origins", _("Como máximo %d orígenes por sitio.") % MAX_ORIGINS,
                          field="allowed_origins")
    return origins


def access_site_admin(acting_user: User, site_id: int, *, lock: bool = False) -> ChatSite:
    require_perm(acting_user, Perm.CHANNELS_MANAGE)
    qs = ChatSite.objects.select_for_update() if lock else ChatSite.objects.all()
    site = qs.filter(pk=site_id).first()
    if site is None:
        raise NotFoundError("site_not_found", _("El sitio de chat no existe."))
    return site


@transaction.atomic
def check_save_site(acting_user: User, *, site_id: int | None = None, name: str, allowed_origins: Iterable[str],
                    primary_color: str, text_color: str, position: str, title: str = "", welcome_text: str = "",
                    offline_text: str = "", require_name: bool, require_contact: str, inbox_id: int | None,
                    enabled: bool) -> ChatSite:
    """Creates a site (`site_id` None) or edits one. Its public token is set once and changes only on rotation."""
    require_perm(acting_user, Perm.CHANNELS_MANAGE)
    site = access_site_admin(acting_user, site_id, lock=True) if site_id is not None else None
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise ActionError("name_required", _("Escriba un nombre (hasta 100 caracteres)."), field="name")
    same_name = ChatSite.objects.filter(name__iexact=name)
    if (same_name.exclude(pk=site.pk) if site else same_name).exists():
        raise ConflictError("site_exists", _("Ya existe un sitio con ese nombre."), field="name")
    for field, value in (("primary_color", primary_color), ("text_color", text_color)):
        if not COLOR.match(value or ""):
            raise ActionError("invalid_color", _("Color hexadecimal, p. ej. #0b5cad."), field=field)
    if position not in Position.values:
        raise ActionError("invalid_position", _("Posición inválida."), field="position")
    if require_contact not in ContactRequirement.values:
        raise ActionError("invalid_contact_rule", _("Opción inválida."), field="require_contact")
    inbox = None
    if inbox_id is not None:
        inbox = Inbox.objects.filter(pk=inbox_id).first()
        if inbox is None:
            raise ActionError("unknown_inbox", _("La bandeja no existe."), field="inbox")
    values: dict[str, Any] = {
        "name": name, "allowed_origins": clean_origins(allowed_origins), "primary_color": primary_color.lower(),
        "text_color": text_color.lower(), "position": position, "title": _short_text(title, max_length=80),
        "welcome_text": sanitize_text(welcome_text)[:500], "offline_text": sanitize_text(offline_text)[:500],
        "require_name": require_name, "require_contact": require_contact, "inbox": inbox, "enabled": enabled}
    if site is None:
        site = ChatSite.objects.create(**values)
        audit.record(actor=acting_user, action="webchat.site_created", target=site,
                     changes={k: (v.code if isinstance(v, Inbox) else v) for k, v in values.items()})
        return site
    changes = {}
    for key, value in values.items():
        old = getattr(site, key)
        if old != value:
            changes[key] = [old.code if isinstance(old, Inbox) else old,
                            value.code if isinstance(value, Inbox) else value]
            setattr(site, key, value)
    if changes:
        site.save()
        audit.record(actor=acting_user, action="webchat.site_updated", target=site, changes=changes)
        cache.delete(f"webchat:online:{site.pk}")
    return site


@transaction.atomic
def check_rotate_site_token(acting_user: User, site_id: int) -> ChatSite:
    """A new public token: the snippet pasted with the old one stops working (e.g. copied onto a site that abuses
    it). Visitors keep their conversations once the page carries the new snippet."""

    site = access_site_admin(acting_user, site_id, lock=True)
    site.token = new_site_token()
    site.save(update_fields=["token", "updated_at"])
    audit.record(actor=acting_user, action="webchat.site_token_rotated", target=site)
    return site


def check_save_whatsapp_template(acting_user: User, *, template: str) -> WhatsAppLinkSettings:
    require_perm(acting_user, Perm.CHANNELS_MANAGE)
    text = sanitize_text(template)[:1000]
    unknown = sorted(set(re.findall(r"\{(\w+)\}", text)) - set(PLACEHOLDERS))
    if unknown:
        raise ActionError("unknown_placeholder", _("Marcadores desconocidos: %(bad)s. Use %(good)s.") % {
            "bad": ", ".join(f"{{{u}}}" for u in unknown),
            "good": ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)}, field="template")
    settings_row = WhatsAppLinkSettings.load()
    if settings_row.message_template != text:
        audit.record(actor=acting_user, action="webchat.whatsapp_template_updated", target=settings_row,
                     changes={"message_template": [settings_row.message_template, text]})
        settings_row.message_template = text
        settings_row.save()
    return settings_row


def do_ensure_demo_site() -> ChatSite:
    """The site /webchat/demo/ hosts (created by seed_demo, or on first visit in development). It answers into
    Global and asks for a name only, so trying it takes one field."""
    site = ChatSite.objects.filter(is_demo=True).first()
    if site is not None:
        return site
    with transaction.atomic():
        site, _created = ChatSite.objects.get_or_create(
            is_demo=True, defaults={"name": _("Demostración"), "require_contact": ContactRequirement.NONE,
                                    "title": "", "welcome_text": ""})
    return site

