"""Automation's writes (issue 16). Quick replies: agents keep their own; supervisors keep the shared ones (an
inbox's or everyone's)."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.roles import Perm
from automation.choices import QuickReplyScope
from automation.models import QuickReply
from automation.selectors import visible_quick_replies
from automation.variables import FIELD_ALIASES, NAMESPACES, VARIABLE
from core import audit
from core.errors import ActionError, ConflictError, NotFoundError, PermissionDeniedError
from core.perms import require_perm
from core.text import fold
from core.validators import max_length_of, text_error
from inbox.models import Conversation, Inbox

SHORTCUT = re.compile(r"^[a-z0-9_-]{1,30}$")
BODY_MAX_LENGTH = 4096
# The fields each namespace has (`cliente` also takes the customer's additional data, any name).
KNOWN_FIELDS = {"agente": {"nombre", "primer_nombre"}, "pedido": {"numero", "total", "estado"},
                "conversacion": {"id"}}


def access_quick_reply(acting_user: User, quick_reply_id: int, *, conversation: Conversation | None = None
                       ) -> QuickReply:
    require_perm(acting_user, Perm.INBOX_WORK)
    found = visible_quick_replies(acting_user, conversation=conversation).filter(pk=quick_reply_id).first()
    if found is None:
        raise NotFoundError("quick_reply_not_found", _("La respuesta rápida no existe."))
    return found


def _may_edit(acting_user: User, scope: str, owner_id: int | None) -> None:
    if scope == QuickReplyScope.MINE:
        if owner_id != acting_user.pk:
            raise PermissionDeniedError("forbidden", _("Solo su autor edita una respuesta rápida personal."))
    elif not acting_user.has_perm_code(Perm.INBOX_SUPERVISE):
        raise PermissionDeniedError("forbidden", _("Solo un supervisor edita las respuestas rápidas compartidas."))


def normalize_shortcut(raw: str) -> str:
    return fold(raw).lstrip("/").replace(" ", "-")


def _validate(*, title: str, shortcut: str, body: str, category: str, scope: str, inbox_code: str
              ) -> tuple[dict[str, str], Inbox | None]:
    errors: dict[str, str] = {}
    for name, value, label in (("title", title, _("El título")), ("body", body, _("El texto")),
                               ("category", category, _("La categoría"))):
        limit = BODY_MAX_LENGTH if name == "body" else max_length_of(QuickReply, name)
        message = text_error(value, label=label, max_length=limit)
        if message is not None:
            errors[name] = message
    if not title.strip():
        errors["title"] = _("Escriba un título.")
    if not body.strip():
        errors["body"] = _("Escriba el texto de la respuesta.")
    if not SHORTCUT.match(shortcut):
        errors["shortcut"] = _("El atajo lleva de 1 a 30 letras sin tildes, números, «-» o «_» (p. ej. saludo).")
    unknown = []
    for match in VARIABLE.finditer(body):
        namespace = NAMESPACES.get(fold(match.group(1)))
        name = fold(match.group(2))
        if namespace in KNOWN_FIELDS and FIELD_ALIASES.get(name, name) not in KNOWN_FIELDS[namespace]:
            unknown.append(match.group(0))
    if unknown:
        errors["body"] = _("Variables desconocidas: %s") % ", ".join(unknown)
    if scope not in QuickReplyScope.values:
        errors["scope"] = _("Elija quién la ve.")
    inbox = None
    if scope == QuickReplyScope.INBOX:
        inbox = Inbox.objects.filter(code=inbox_code).first() if inbox_code else None
        if inbox is None:
            errors["inbox"] = _("Elija la bandeja.")
    return errors, inbox


def check_save_quick_reply(acting_user: User, *, quick_reply_id: int | None = None, title: str, shortcut: str,
                           body: str, category: str = "", scope: str = QuickReplyScope.MINE, inbox_code: str = ""
                           ) -> QuickReply:
    """Creates or edits one; every field error is reported at once (`errors`), a taken shortcut is a 409."""
    require_perm(acting_user, Perm.INBOX_WORK)
    shortcut = normalize_shortcut(shortcut)
    title, body, category = title.strip(), body.strip(), category.strip()
    errors, inbox = _validate(title=title, shortcut=shortcut, body=body, category=category, scope=scope,
                              inbox_code=inbox_code)
    if errors:
        raise ActionError("invalid_quick_reply", " ".join(errors.values()), errors=errors,
                          field=next(iter(errors)))
    _may_edit(acting_user, scope, acting_user.pk)
    values: dict[str, Any] = {"title": title, "shortcut": shortcut, "body": body, "category": category,
                              "scope": scope, "inbox": inbox,
                              "owner": acting_user if scope == QuickReplyScope.MINE else None}
    try:
        with transaction.atomic():
            if quick_reply_id is None:
                reply = QuickReply.objects.create(**values)
                changes: dict[str, Any] = {k: str(v) for k, v in values.items() if k not in ("owner", "inbox")}
                audit.record(actor=acting_user, action="quick_reply.created", target=reply, changes=changes)
                return reply
            reply = access_quick_reply(acting_user, quick_reply_id)
            _may_edit(acting_user, reply.scope, reply.owner_id)
            changes = {k: [str(getattr(reply, k)), str(v)] for k, v in values.items()
                       if k not in ("owner", "inbox") and getattr(reply, k) != v}
            for k, v in values.items():
                setattr(reply, k, v)
            reply.updated_at = timezone.now()
            reply.save()
            if changes:
                audit.record(actor=acting_user, action="quick_reply.updated", target=reply, changes=changes)
            return reply
    except IntegrityError:
        raise ConflictError("shortcut_taken", _("El atajo /%s ya existe con ese alcance: elija otro.") % shortcut,
                            field="shortcut", errors={"shortcut": _("Ese atajo ya existe.")}) from None


def check_delete_quick_reply(acting_user: User, quick_reply_id: int) -> None:
    reply = access_quick_reply(acting_user, quick_reply_id)
    _may_edit(acting_user, reply.scope, reply.owner_id)
    audit.record(actor=acting_user, action="quick_reply.deleted", target=reply,
                 changes={"shortcut": reply.shortcut, "title": reply.title})
    reply.delete()


def do_record_use(reply: QuickReply) -> None:
    """An agent inserted it (the picker): the page orders by use."""
    QuickReply.objects.filter(pk=reply.pk).update(usage_count=F("usage_count") + 1, last_used_at=timezone.now())
