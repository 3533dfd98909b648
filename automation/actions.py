"""Automation's writes (issue 16). Quick replies: agents keep their own; supervisors keep the shared ones (an
inbox's or everyone's)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.roles import Perm
from automation import tasks
from automation.choices import (
    AUTOMATIC_PER_HOUR,
    SCHEDULED_TRANSITIONS,
    SLA_CHANNELS,
    QuickReplyScope,
    ScheduledState,
)
from automation.events import ScheduledMessageCancelled, ScheduledMessageFailed, ScheduledMessageSent
from automation.models import QuickReply, ScheduledMessage, ScheduledMessageEvent, SequenceEnrollment, SlaPolicy
from automation.scheduling import MAX_AHEAD, MIN_AHEAD
from automation.selectors import visible_quick_replies
from automation.variables import FIELD_ALIASES, NAMESPACES, VARIABLE, variables_in
from connectors.whatsapp.actions import prepare_template
from connectors.whatsapp.message_templates import variables as template_variables
from connectors.whatsapp.models import MessageTemplate
from connectors.whatsapp.window import free_text_allowed
from core import audit
from core.errors import ActionError, ConflictError, InvalidTransition, NotFoundError, PermissionDeniedError
from core.events import emit
from core.outages import DEPENDENCY_DOWN
from core.perms import require_perm
from core.tasks import enqueue_later
from core.text import fold
from core.validators import check_text, max_length_of, text_error
from inbox.actions import (
    access_conversation,
    can_reply,
    check_may_act,
    do_record_event,
    do_send_automatic,
    do_send_reply,
    message_max_length,
)
from inbox.attachments import Upload, discard, read_attachment, store_uploads
from inbox.choices import Channel
from inbox.models import RULE_AUTOMATIC, Conversation, Inbox, Message
from realtime.events import send_event_on_commit

logger = logging.getLogger(__name__)
SHORTCUT = re.compile(r"^[a-z0-9_-]{1,30}$")
BODY_MAX_LENGTH = 4096
# The fields each namespace has (`cliente` also takes the customer's additional data, any name).
KNOWN_FIELDS = {"agente": {"nombre", "primer_nombre"}, "pedido": {"numero", "total", "estado", "lineas"},
                "equipo": {"proxima_apertura"},
                "conversacion": {"id"}}


def access_quick_reply(acting_user: User, quick_reply_id: int, *, conversation: Conversation | None = None
                       ) -> QuickReply:
    require_perm(acting_user, Perm.INBOX_WORK)
    found = visible_quick_replies(acting_user, conversation=conversation).filter(pk=quick_reply_id).first()
    if found is None:
        raise NotFoundError("quick_reply_not_found", _("La respuesta rápida no existe."))
    return found


def may_edit_quick_reply(user: User, scope: str, owner_id: int | None) -> bool:
    """A personal reply is its author's; the shared ones (an inbox's, everyone's) are the supervisors'."""
    if scope == QuickReplyScope.MINE:
        return owner_id == user.pk
    return user.has_perm_code(Perm.INBOX_SUPERVISE)


def _may_edit(acting_user: User, scope: str, owner_id: int | None) -> None:
    if may_edit_quick_reply(acting_user, scope, owner_id):
        return
    if scope == QuickReplyScope.MINE:
        raise PermissionDeniedError("forbidden", _("Solo su autor edita una respuesta rápida personal."))
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
                           body: str, category: str = "", scope: str = QuickReplyScope.MINE, inbox_code: str = "",
                           attachment: Upload | None = None, remove_attachment: bool = False) -> QuickReply:
    """Creates or edits one; every field error is reported at once (`errors`), a taken shortcut is a 409.
    `attachment` replaces its file, `remove_attachment` drops it; otherwise an edit keeps the file it had."""
    require_perm(acting_user, Perm.INBOX_WORK)
    stored = None
    if attachment is not None:
        (stored,) = store_uploads("quick_replies", [attachment])
    try:
        reply = _save_quick_reply(acting_user, quick_reply_id=quick_reply_id, title=title, shortcut=shortcut,
                                  body=body, category=category, scope=scope, inbox_code=inbox_code,
                                  attachment=stored, remove_attachment=remove_attachment)
    except BaseException:
        discard([stored] if stored else [])
        raise
    return reply


def _save_quick_reply(acting_user: User, *, quick_reply_id: int | None, title: str, shortcut: str, body: str,
                      category: str, scope: str, inbox_code: str, attachment: dict[str, Any] | None,
                      remove_attachment: bool) -> QuickReply:
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
    if attachment is not None or remove_attachment:
        values["attachment"] = attachment or {}
    try:
        with transaction.atomic():
            if quick_reply_id is None:
                reply = QuickReply.objects.create(**values)
                changes: dict[str, Any] = {k: _audit_value(k, v) for k, v in values.items()
                                           if k not in ("owner", "inbox")}
                audit.record(actor=acting_user, action="quick_reply.created", target=reply, changes=changes)
                return reply
            reply = access_quick_reply(acting_user, quick_reply_id)
            # locked: two edits at once must not write back a file the other just replaced (and deleted)
            reply = QuickReply.objects.select_for_update().get(pk=reply.pk)
            _may_edit(acting_user, reply.scope, reply.owner_id)
            changes = {k: [_audit_value(k, getattr(reply, k)), _audit_value(k, v)] for k, v in values.items()
                       if k not in ("owner", "inbox") and getattr(reply, k) != v}
            replaced = reply.attachment if "attachment" in values and reply.attachment != values["attachment"] else {}
            if replaced:  # the old file goes once the new description is saved
                transaction.on_commit(lambda: discard([replaced]))
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


def _audit_value(field: str, value: Any) -> str:
    """What the audit log keeps of a value: a file by its name."""
    if field == "attachment":
        return str((value or {}).get("name") or "")
    return str(value)


def check_delete_quick_reply(acting_user: User, quick_reply_id: int) -> None:
    reply = access_quick_reply(acting_user, quick_reply_id)
    _may_edit(acting_user, reply.scope, reply.owner_id)
    with transaction.atomic():
        audit.record(actor=acting_user, action="quick_reply.deleted", target=reply,
                     changes={"shortcut": reply.shortcut, "title": reply.title})
        if reply.attachment:
            transaction.on_commit(lambda: discard([reply.attachment]))
        reply.delete()


def quick_reply_file(acting_user: User, conversation: Conversation, reference: str) -> Upload:
    """The file of a quick reply chosen in the composer ("quick_reply:<id>", inbox.attachments' source): only one
    this user may use in this conversation."""
    try:
        reply = access_quick_reply(acting_user, int(reference), conversation=conversation)
    except (ValueError, NotFoundError):
        raise ActionError("invalid_attachment", _("El archivo elegido ya no está disponible."),
                          field="attachments") from None
    if not reply.attachment.get("path"):
        raise ActionError("invalid_attachment", _("El archivo elegido ya no está disponible."), field="attachments")
    try:
        data = read_attachment(reply.attachment)
    except OSError:
        raise ActionError("invalid_attachment", _("El archivo elegido ya no está disponible."),
                          field="attachments") from None
    return Upload(name=str(reply.attachment.get("name") or ""), content_type=str(reply.attachment.get("content_type")
                                                                                    or ""), data=data)


def do_record_use(reply: QuickReply) -> None:
    """An agent inserted it (the picker): the page orders by use."""
    QuickReply.objects.filter(pk=reply.pk).update(usage_count=F("usage_count") + 1, last_used_at=timezone.now())


# --- scheduled messages ------------------------------------------------------------------------------------------
# Lock order: the conversation's row, then the scheduled message's (as the inbox's writes and a conversation merge
# do: parent first), so a send, an edit, a cancel and a merge never wait on each other in a cycle.


def access_scheduled(acting_user: User, scheduled_id: int) -> ScheduledMessage:
    """A scheduled message of a conversation this user may act on (its author, the conversation's agent, or a
    supervisor); 404 otherwise. Not locked: the writers lock the conversation first, then the row."""
    require_perm(acting_user, Perm.INBOX_WORK)
    found = (ScheduledMessage.objects.select_related("conversation", "author", "template")
             .filter(pk=scheduled_id).first())
    if found is None:
        raise NotFoundError("scheduled_not_found", _("El mensaje programado no existe."))
    if found.author_id != acting_user.pk:
        try:
            check_may_act(acting_user, access_conversation(acting_user, found.conversation_id))
        except ActionError:
            raise NotFoundError("scheduled_not_found", _("El mensaje programado no existe.")) from None
    return found


def _lock(scheduled_id: int, conversation_id: int) -> tuple[Conversation, ScheduledMessage]:
    """The conversation, then the scheduled row, both locked; 409 when the row moved meanwhile."""
    c = Conversation.objects.select_for_update().get(pk=conversation_id)
    scheduled = (ScheduledMessage.objects.select_for_update(of=("self",)).select_related("author", "template")
                 .filter(pk=scheduled_id, conversation_id=conversation_id).first())
    if scheduled is None:
        raise ConflictError("not_scheduled", _("Este mensaje ya no está programado."))
    return c, scheduled


def do_transition_scheduled(scheduled: ScheduledMessage, *, to: ScheduledState, acting_user: User | None,
                            data: dict[str, Any] | None = None) -> bool:
    """The one transition function of scheduled messages (the caller holds the row lock): the declared table
    (SCHEDULED_TRANSITIONS), a history row, and the domain event after commit."""
    current = ScheduledState(scheduled.state)
    if current == to:
        return False
    if to not in SCHEDULED_TRANSITIONS[current]:
        raise InvalidTransition("invalid_transition", _("Un mensaje %(a)s no puede pasar a %(b)s.")
                                % {"a": current.label, "b": to.label})
    scheduled.state, scheduled.updated_at = to.value, timezone.now()
    scheduled.save(update_fields=["state", "updated_at", "sent_message", "failure"])
    ScheduledMessageEvent.objects.create(scheduled=scheduled, kind=to.value, actor=acting_user,
                                         data={"from": current.value, "to": to.value, **(data or {})})
    common: dict[str, Any] = {"scheduled_message_id": scheduled.pk, "conversation_id": scheduled.conversation_id,
                              "author_id": scheduled.author_id, "send_at": scheduled.send_at}
    if to == ScheduledState.SENT:
        assert scheduled.sent_message_id is not None
        emit(ScheduledMessageSent(**common, message_id=scheduled.sent_message_id), actor=acting_user)
    elif to == ScheduledState.CANCELLED:
        emit(ScheduledMessageCancelled(**common), actor=acting_user)
    else:
        emit(ScheduledMessageFailed(**common, reason=scheduled.failure), actor=acting_user)
    return True


def _content(c: Conversation, *, body: str, template_id: int | None, variables: dict[str, str]
             ) -> tuple[str, MessageTemplate | None, dict[str, str]]:
    """Validates what will be sent: free text (our variables filled, within the channel's length) or an approved
    WhatsApp template with its values — one of the two. Returns the text, the template and the template's values
    as they will be stored: only the template's own variables, each checked like any text."""
    body = body.strip()
    if template_id is not None:
        if body:
            raise ActionError("body_and_template", _("Programe un texto o una plantilla, no los dos."),
                              field="template")
        prepare_template(c, template_id=template_id, values=variables)
        template = MessageTemplate.objects.get(pk=template_id)
        clean = {key: str(variables.get(key) or "").strip()[:1024] for key in template_variables(template)}
        for key, value in clean.items():
            problem = text_error(value, label=f"{{{{{key}}}}}")
            if problem is not None:
                raise ActionError("invalid_text", problem, field="variables")
        left = [v for value in clean.values() for v in variables_in(value)]
        if left:
            raise ActionError("unfilled_variable", _("Complete o borre antes de programar: %s")
                              % ", ".join(dict.fromkeys(left)), field="variables", variables=left)
        return "", template, clean
    if not body:
        raise ActionError("empty_message", _("Escriba el mensaje que se enviará."), field="body")
    check_text(body, field="body", label=_("El mensaje"), max_length=message_max_length(c.channel))
    left = variables_in(body)
    if left:
        raise ActionError("unfilled_variable", _("Complete o borre antes de programar: %s")
                          % ", ".join(dict.fromkeys(left)), field="body", variables=left)
    return body, None, {}


def _when(send_at: datetime, now: datetime) -> datetime:
    """From the next minute on (the screen picks minutes: 10:41 chosen at 10:40:30 is fine), up to a year."""
    if timezone.is_naive(send_at):
        send_at = timezone.make_aware(send_at)
    if send_at < now.replace(second=0, microsecond=0) + MIN_AHEAD:
        raise ActionError("send_at_past", _("Elija un momento a partir del próximo minuto."), field="send_at")
    if send_at > now + MAX_AHEAD:
        raise ActionError("send_at_too_far", _("Se puede programar hasta con un año de anticipación."),
                          field="send_at")
    return send_at


def check_schedule_message(acting_user: User, conversation_id: int, *, send_at: datetime, body: str = "",
                           template_id: int | None = None, variables: dict[str, str] | None = None
                           ) -> ScheduledMessage:
    """"Enviar más tarde": who may answer the conversation writes a message (or picks a WhatsApp template) and a
    moment; the worker sends it then (do_send_scheduled)."""
    now = timezone.now()
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id, lock=True)
        check_may_act(acting_user, c)
        if not can_reply(c):
            raise ConflictError("phone_no_reply", _("Una llamada no se responde por escrito."))
        when = _when(send_at, now)
        text, template, values = _content(c, body=body, template_id=template_id, variables=variables or {})
        scheduled = ScheduledMessage.objects.create(
            conversation=c, author=acting_user, body=text, template=template,
            template_name=template.name if template else "", variables=values,
            send_at=when)
        ScheduledMessageEvent.objects.create(scheduled=scheduled, kind="scheduled", actor=acting_user,
                                             data={"send_at": when.isoformat()})
        do_record_event(c, "scheduled", actor=acting_user, send_at=when.isoformat(), scheduled_id=scheduled.pk)
    enqueue_scheduled(scheduled)
    return scheduled


def check_update_scheduled(acting_user: User, scheduled_id: int, *, send_at: datetime, body: str | None = None,
                           template_id: int | None = None, variables: dict[str, str] | None = None
                           ) -> ScheduledMessage:
    """Moves it, or (its author only: it goes out in their name) rewrites it, while it waits (409 once it was sent,
    cancelled or failed). The conversation's history says who changed it and for when it is now."""
    now = timezone.now()
    found = access_scheduled(acting_user, scheduled_id)
    with transaction.atomic():
        c, scheduled = _lock(scheduled_id, found.conversation_id)
        if scheduled.state != ScheduledState.SCHEDULED:
            raise ConflictError("not_scheduled", _("Este mensaje ya no está programado (%s).")
                                % scheduled.get_state_display())
        when = _when(send_at, now)
        rewrites = body is not None and (body.strip() != scheduled.body or template_id != scheduled.template_id
                                         or (variables or {}) != (scheduled.variables or {}))
        if rewrites and scheduled.author is not None and scheduled.author_id != acting_user.pk:
            # a person's message goes out in their name; a rule's follow-up is nobody's: whoever may act edits it
            raise PermissionDeniedError("not_author", _("Solo %s puede cambiar el texto: el mensaje sale a su "
                                                        "nombre. Puede cambiar la hora o cancelarlo.")
                                        % scheduled.author.display_name, field="body")
        if rewrites:
            assert body is not None
            text, template, values = _content(c, body=body, template_id=template_id, variables=variables or {})
            scheduled.body, scheduled.template = text, template
            scheduled.template_name = template.name if template else ""
            scheduled.variables = values
        before = scheduled.send_at
        scheduled.send_at, scheduled.updated_at = when, now
        scheduled.save()
        ScheduledMessageEvent.objects.create(scheduled=scheduled, kind="edited", actor=acting_user,
                                             data={"before": before.isoformat(), "send_at": when.isoformat(),
                                                   "rewritten": rewrites})
        do_record_event(c, "scheduled_edited", actor=acting_user, send_at=when.isoformat(),
                        before=before.isoformat(), scheduled_id=scheduled.pk, rewritten=rewrites)
    enqueue_scheduled(scheduled)
    return scheduled


def check_cancel_scheduled(acting_user: User, scheduled_id: int) -> ScheduledMessage:
    found = access_scheduled(acting_user, scheduled_id)
    with transaction.atomic():
        c, scheduled = _lock(scheduled_id, found.conversation_id)
        if scheduled.state != ScheduledState.SCHEDULED:
            raise ConflictError("not_scheduled", _("Este mensaje ya no está programado (%s).")
                                % scheduled.get_state_display())
        do_transition_scheduled(scheduled, to=ScheduledState.CANCELLED, acting_user=acting_user)
        do_record_event(c, "scheduled_cancelled", actor=acting_user, send_at=scheduled.send_at.isoformat(),
                        scheduled_id=scheduled.pk)
    return scheduled


def do_follow_merge(keep: Conversation, gone: Conversation) -> None:
    """inbox merge hook: the duplicate's waiting messages go with its messages to the conversation kept (both rows
    are locked by the merge: conversation first, as everywhere)."""
    ScheduledMessage.objects.filter(conversation=gone, state=ScheduledState.SCHEDULED).update(conversation=keep)
    # its running sequences too (one already running on the kept conversation keeps that one's steps instead)
    kept = set(SequenceEnrollment.objects.filter(conversation=keep, state="activa").values_list("sequence_id",
                                                                                               flat=True))
    SequenceEnrollment.objects.filter(conversation=gone, state="activa").exclude(sequence_id__in=kept).update(
        conversation=keep)


def enqueue_scheduled(scheduled: ScheduledMessage) -> None:
    """A deferred task at its time (the periodic sweep is the safety net: a lost or early task changes nothing,
    the send checks the state and the time under the row lock)."""
    def later() -> None:
        try:
            enqueue_later(tasks.send_scheduled_message, scheduled.send_at, scheduled.pk)
        except DEPENDENCY_DOWN as exc:  # the queue is down: the sweep sends it at its time
            logger.warning("scheduled message %s not queued (%s); the periodic sweep will send it", scheduled.pk,
                           exc)

    transaction.on_commit(later)


def _author_may_still_write(scheduled: ScheduledMessage, c: Conversation) -> None:
    """At send time the author must still be someone who may answer this conversation: active, working the
    inbox, its agent or a supervisor (a transfer, a deactivation or a role change since scheduling stops it)."""
    author = scheduled.author
    assert author is not None  # a rule's follow-up has no author to check
    if not author.is_active or not author.has_perm_code(Perm.INBOX_WORK):
        raise ActionError("author_inactive", _("%s ya no atiende conversaciones.") % author.display_name)
    access_conversation(author, c.pk)
    check_may_act(author, c)


def do_send_scheduled(scheduled_id: int, *, now: datetime | None = None) -> bool:
    """Sends one scheduled message if it is due and still waiting: in one transaction, under the conversation's and
    then its own row lock, the conversation's message is stored (its delivery queued after commit) and the state
    moves to "enviado" — so a worker killed half-way sends nothing and the next attempt sends it once. When it
    cannot go (WhatsApp's window closed and no template, the template gone, its author no longer answering this
    conversation…) it moves to "fallido" with the reason, on the conversation's history, and its author is told.
    A conversation closed since it was scheduled reopens, as when its agent writes again."""
    now = now or timezone.now()
    conversation_id = (ScheduledMessage.objects.filter(pk=scheduled_id, state=ScheduledState.SCHEDULED,
                                                       send_at__lte=now)
                       .values_list("conversation_id", flat=True).first())
    if conversation_id is None:
        return False
    with transaction.atomic():
        c = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        scheduled = (ScheduledMessage.objects.select_for_update(of=("self",)).select_related("author", "template")
                     .filter(pk=scheduled_id, conversation_id=conversation_id, state=ScheduledState.SCHEDULED,
                             send_at__lte=now).first())
        if c is None or scheduled is None:  # sent, cancelled, moved by a merge or deleted meanwhile
            return False
        try:
            with transaction.atomic():  # a refused send leaves no half-written message
                if scheduled.author is not None:  # a rule's follow-up has no author: it goes out as automatic
                    _author_may_still_write(scheduled, c)
                # A rule's message may carry both: its text while WhatsApp's window is open, its template after.
                text_now = scheduled.author is None and bool(scheduled.body) and (
                    c.channel != Channel.WHATSAPP or free_text_allowed(c))
                if scheduled.template_name and scheduled.template_id is None and not text_now:
                    raise ActionError("template_not_approved", _("La plantilla «%s» ya no existe o no está "
                                                                 "aprobada.") % scheduled.template_name)
                if scheduled.author is None:
                    _within_automatic_cap(c, now)
                if scheduled.template_id is not None and not text_now:
                    body, meta = prepare_template(c, template_id=scheduled.template_id,
                                                  values=dict(scheduled.variables or {}))
                else:
                    body, meta = scheduled.body, {}
                meta = {**meta, "scheduled_message_id": scheduled.pk}
                if scheduled.author is None:
                    message = do_send_automatic(c, body=body, meta={
                        **meta, "automation": {"rule": scheduled.rule_id, "name": scheduled.rule_name}})
                else:
                    message = do_send_reply(c, author=scheduled.author, body=body, meta=meta)
        except ActionError as exc:
            scheduled.failure = exc.message[:500]
            do_transition_scheduled(scheduled, to=ScheduledState.FAILED, acting_user=None,
                                    data={"code": exc.code})
            do_record_event(c, "scheduled_failed", actor=None, send_at=scheduled.send_at.isoformat(),
                            scheduled_id=scheduled.pk, reason=scheduled.failure, code=exc.code,
                            author=scheduled.author_id, rule=scheduled.rule_name)
            told = scheduled.author_id or c.assignee_id  # a rule's follow-up: the conversation's agent is told
            if told:
                send_event_on_commit({"type": "notice", "op": "scheduled_failed", "conversation_id": c.pk,
                                      "level": "error", "texts": scheduled_failed_texts(c, scheduled)},
                                     user_ids=[told])
            return False
        scheduled.sent_message = message
        do_transition_scheduled(scheduled, to=ScheduledState.SENT, acting_user=None,
                                data={"message_id": message.pk})
    return True


def automatic_cap_reached(c: Conversation, now: datetime) -> bool:
    """Whether the conversation already got AUTOMATIC_PER_HOUR automatic messages in the last hour (rules' replies,
    their follow-ups and sequences alike: the one cap against a bot answering ours)."""
    return Message.objects.filter(RULE_AUTOMATIC, conversation=c, kind="outbound",
                                  created_at__gte=now - timedelta(hours=1)).count() >= AUTOMATIC_PER_HOUR


def _within_automatic_cap(c: Conversation, now: datetime) -> None:
    if automatic_cap_reached(c, now):
        raise ActionError("automatic_cap", _("Ya se enviaron %s mensajes automáticos en la última hora a esta "
                                             "conversación") % AUTOMATIC_PER_HOUR)


def do_send_due_scheduled(*, now: datetime | None = None, limit: int = 2000) -> int:
    """The safety net (every 30 s): every due scheduled message not sent yet, oldest first, each on its own."""
    now = now or timezone.now()
    due = list(ScheduledMessage.objects.filter(state=ScheduledState.SCHEDULED, send_at__lte=now)
               .order_by("send_at", "pk").values_list("pk", flat=True)[:limit])
    return sum(1 for pk in due if do_send_scheduled(pk, now=now))


def scheduled_failed_texts(c: Conversation, scheduled: ScheduledMessage) -> dict[str, str]:
    """The author's notice in every language (they may read in either): names and the reason, never a code."""
    texts = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            texts[code] = _("No se envió el mensaje programado para %(when)s a %(customer)s: %(reason)s") % {
                "when": date_format(timezone.localtime(scheduled.send_at), "SHORT_DATETIME_FORMAT"),
                "customer": c.customer.name, "reason": scheduled.failure}
    return texts


# --- service-level policies --------------------------------------------------------------------------------

SLA_MIN_SECONDS, SLA_MAX_SECONDS = 10, 30 * 86400  # from ten seconds (web chat) to a month (resolution)
SLA_SECONDS_FIELDS = ("first_response_seconds", "next_response_seconds", "resolution_seconds",
                      "escalate_after_seconds")
SLA_FLAGS = ("business_hours", "pause_on_hold", "email_on_breach", "active")


@dataclass(frozen=True, kw_only=True)
class SlaPolicyInput:
    channel: str
    inbox_code: str = ""
    first_response_seconds: int | None = None
    next_response_seconds: int | None = None
    resolution_seconds: int | None = None
    escalate_after_seconds: int | None = None
    business_hours: bool = False
    pause_on_hold: bool = True
    email_on_breach: bool = False
    active: bool = True


def check_save_sla_policies(acting_user: User, policies: list[SlaPolicyInput], *,
                            remove: list[tuple[str, str]] | None = None) -> list[SlaPolicy]:
    """Saves the service-level policies. Without `remove` (the API's PUT) `policies` replace them all: one absent
    is deleted, and its channel or inbox is no longer timed. With `remove` (the page) the listed ones are created
    or changed and only those (channel, inbox code) pairs are deleted, so a page opened before another
    supervisor's change never undoes it. Every problem is reported at once, keyed `<row>.<field>`; nothing changes
    on error. Clocks already running keep their due times; a changed target applies to the clocks that start
    afterwards (automation.sla)."""
    require_perm(acting_user, Perm.INBOX_SUPERVISE)
    errors: dict[str, str] = {}
    inboxes = {i.code: i for i in Inbox.objects.filter(code__in={p.inbox_code for p in policies if p.inbox_code})}
    seen: set[tuple[str, str]] = set()
    for n, p in enumerate(policies):
        if p.channel not in SLA_CHANNELS:
            errors[f"{n}.channel"] = _("Canal sin niveles de servicio: «%s».") % p.channel
        if p.inbox_code and p.inbox_code not in inboxes:
            errors[f"{n}.inbox"] = _("Bandeja desconocida: «%s».") % p.inbox_code
        if (p.channel, p.inbox_code) in seen:
            errors[f"{n}.inbox"] = _("Hay dos políticas para el mismo canal y la misma bandeja.")
        seen.add((p.channel, p.inbox_code))
        for field in SLA_SECONDS_FIELDS:
            value = getattr(p, field)
            if value is not None and not SLA_MIN_SECONDS <= value <= SLA_MAX_SECONDS:
                errors[f"{n}.{field}"] = _("Entre 10 segundos y 30 días.")
    if errors:
        raise ActionError("invalid_sla_policy", " ".join(errors.values()), errors=errors, field=next(iter(errors)))
    try:
        return _save_sla_policies(acting_user, policies, inboxes, remove)
    except IntegrityError:  # another supervisor created the same policy in the meantime
        raise ConflictError("sla_policy_conflict", _("Otra persona cambió los niveles de servicio al mismo tiempo: "
                                                     "recargue la página e intente de nuevo.")) from None


def _save_sla_policies(acting_user: User, policies: list[SlaPolicyInput], inboxes: dict[str, Inbox],
                       remove: list[tuple[str, str]] | None) -> list[SlaPolicy]:
    with transaction.atomic():
        # FOR NO KEY UPDATE: serializes saves without blocking the clocks' reads of these rows
        current = {(p.channel, p.inbox.code if p.inbox else ""): p
                   for p in SlaPolicy.objects.select_for_update(of=("self",), no_key=True).select_related("inbox")}
        saved, changes = [], {}
        now = timezone.now()
        for p in policies:
            key = (p.channel, p.inbox_code)
            row = current.pop(key, None) or SlaPolicy(channel=p.channel, inbox=inboxes.get(p.inbox_code))
            values = {f: getattr(p, f) for f in (*SLA_SECONDS_FIELDS, *SLA_FLAGS)}
            diff = {f: [getattr(row, f), v] for f, v in values.items() if row.pk is None or getattr(row, f) != v}
            if diff:
                for f, v in values.items():
                    setattr(row, f, v)
                row.updated_at = now
                row.save()
                changes[_audit_key(row)] = {f: v[1] for f, v in diff.items()}
            saved.append(row)
        gone = list(current.values()) if remove is None else [current[k] for k in remove if k in current]
        for policy in gone:
            changes[_audit_key(policy)] = {"deleted": True}
            policy.delete()
        if changes:
            audit.record(actor=acting_user, action="sla_policies.updated", target=None, changes=changes)
    return saved


def _audit_key(policy: SlaPolicy) -> str:
    """How the audit log names a policy: its channel, and the inbox's name at the time ("whatsapp/Clientes VIP")."""
    return f"{policy.channel}/{policy.inbox.name}" if policy.inbox else policy.channel
