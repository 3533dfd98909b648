"""Mailbox administration and per-user mail preferences: the only writers of those rows (the intake, the poller
and the sender live in intake.py, imap.py and outbound.py)."""

from __future__ import annotations

import secrets
import smtplib
import ssl
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from connectors.mail import tasks, webhook
from connectors.mail.imap import check_connection
from connectors.mail.models import Mailbox, MailProfile, Security
from connectors.mail.outbound import smtp_connection
from core import audit
from core.errors import ActionError, ConflictError, NotFoundError
from core.tasks import enqueue_on_commit
from inbox.models import Inbox

SECRET_FIELDS = ("imap_password", "smtp_password", "mailgun_signing_key")
# Changing any of these points the poller at another folder: its UIDs start over.
IMAP_IDENTITY = ("imap_host", "imap_port", "imap_user", "imap_folder")


def access_mailbox(acting_user: User | None, mailbox_id: int, *, lock: bool = False) -> Mailbox:
    if acting_user is not None:
        require_perm(acting_user, Perm.CHANNELS_MANAGE)
    qs = Mailbox.objects.select_for_update() if lock else Mailbox.objects.all()
    mailbox = qs.filter(pk=mailbox_id).first()
    if mailbox is None:
        raise NotFoundError("mailbox_not_found", _("El buzón no existe."))
    return mailbox


def _port(value: int, field: str) -> int:
    if not 1 <= int(value) <= 65535:
        raise ActionError("invalid_port", _("Puerto inválido."), field=field)
    return int(value)


def _security(value: str, field: str) -> str:
    if value not in Security.values:
        raise ActionError("invalid_security", _("Cifrado desconocido: %s") % value, field=field)
    return value


def _require_password_for_new_server(mailbox: Mailbox, values: dict[str, Any], kind: str) -> None:
    """A stored password goes only to the server (host, port, user) it was typed for: otherwise a manager could
    point the mailbox at their own server and read the password off the login."""
    field = f"{kind}_password"
    if mailbox.pk is None or field in values or not getattr(mailbox, field) or not values[f"{kind}_host"]:
        return
    if any(values[f"{kind}_{key}"] != getattr(mailbox, f"{kind}_{key}") for key in ("host", "port", "user")):
        raise ActionError(f"{field}_required_for_new_server",
                          _("Al cambiar el servidor, el puerto o el usuario, escriba de nuevo la contraseña: la "
                            "guardada no se envía a otro servidor."), field=field)


@transaction.atomic
def check_save_mailbox(
    acting_user: User | None, *, mailbox_id: int | None = None, address: str, display_name: str = "",
    inbox_code: str = "", enabled: bool = True, imap_host: str = "", imap_port: int = 993,
    imap_security: str = Security.SSL, imap_user: str = "", imap_password: str | None = None,
    imap_folder: str = "INBOX", poll_interval: int = 60, smtp_host: str = "", smtp_port: int = 587,
    smtp_security: str = Security.STARTTLS, smtp_user: str = "", smtp_password: str | None = None,
    reply_address: str = "", mailgun_signing_key: str | None = None,
) -> Mailbox:
    """Creates a mailbox (`mailbox_id` None) or edits one. A secret passed as None keeps the stored one, so
    forms never have to show passwords — a password only while its server's host, port and user stay the same.
    `acting_user` None is the `mail_connect` command."""

    if acting_user is not None:
        require_perm(acting_user, Perm.CHANNELS_MANAGE)
    mailbox = access_mailbox(acting_user, mailbox_id, lock=True) if mailbox_id is not None else Mailbox()
    address = address.strip().lower()
    try:
        validate_email(address)
    except ValidationError as exc:
        raise ActionError("invalid_address", _("Dirección de correo inválida."), field="address") from exc
    inbox = None
    if inbox_code.strip():
        inbox = Inbox.objects.filter(code=inbox_code.strip()).first()
        if inbox is None:
            raise ActionError("unknown_inbox", _("Bandeja desconocida: %s") % inbox_code, field="inbox_code")
    if not 10 <= int(poll_interval) <= 86400:
        raise ActionError("invalid_interval", _("El intervalo de consulta va de 10 segundos a un día."),
                          field="poll_interval")
    reply_address = reply_address.strip()
    if reply_address and ("{token}" not in reply_address or "@" not in reply_address):
        raise ActionError("invalid_reply_address", _("La dirección de respuesta debe contener {token} y una @, "
                                                     "por ejemplo reply+{token}@correo.ejemplo.com."),
                          field="reply_address")
    values: dict[str, Any] = {
        "address": address, "display_name": display_name.strip()[:100], "inbox": inbox, "enabled": enabled,
        "imap_host": imap_host.strip(), "imap_port": _port(imap_port, "imap_port"),
        "imap_security": _security(imap_security, "imap_security"), "imap_user": imap_user.strip(),
        "imap_folder": imap_folder.strip() or "INBOX", "poll_interval": int(poll_interval),
        "smtp_host": smtp_host.strip(), "smtp_port": _port(smtp_port, "smtp_port"),
        "smtp_security": _security(smtp_security, "smtp_security"), "smtp_user": smtp_user.strip(),
        "reply_address": reply_address,
    }
    secrets_given = {"imap_password": imap_password, "smtp_password": smtp_password,
                     "mailgun_signing_key": mailgun_signing_key}
    values.update({k: v for k, v in secrets_given.items() if v is not None})
    _require_password_for_new_server(mailbox, values, "imap")
    _require_password_for_new_server(mailbox, values, "smtp")
    if values["imap_host"] and not (values.get("imap_password") or mailbox.imap_password):
        raise ActionError("imap_password_required", _("Indique la contraseña IMAP."), field="imap_password")
    creating = mailbox.pk is None
    changes: dict[str, Any] = {}
    for key, value in values.items():
        old = getattr(mailbox, key)
        if old != value:
            changes[key] = ["***", "***"] if key in SECRET_FIELDS else [
                str(old) if old is not None else None, str(value) if value is not None else None]
            setattr(mailbox, key, value)
    if not creating and any(k in changes for k in IMAP_IDENTITY):
        mailbox.uid_validity, mailbox.last_uid, mailbox.next_poll_at = None, 0, None
    if not changes and not creating:
        return mailbox
    try:
        with transaction.atomic():
            mailbox.save()
            transaction.on_commit(webhook.forget)  # its token's cached answer (enabled, signing key) is stale
    except IntegrityError as exc:
        raise ConflictError("mailbox_exists", _("Ya existe un buzón con esa dirección."), field="address") from exc
    audit.record(actor=acting_user, action="mail.mailbox_created" if creating else "mail.mailbox_updated",
                 target=mailbox, changes=changes, actor_username="" if acting_user else "mail_connect")
    return mailbox


@transaction.atomic
def check_rotate_webhook_token(acting_user: User | None, mailbox_id: int) -> Mailbox:
    """A new secret webhook URL (the old one stops working at once in this process and within a few seconds in the
    others, connectors.mail.webhook.KEY_TTL: update the ESP's route)."""
    mailbox = access_mailbox(acting_user, mailbox_id, lock=True)
    mailbox.webhook_token = secrets.token_urlsafe(24)
    mailbox.save(update_fields=["webhook_token"])
    transaction.on_commit(webhook.forget)
    audit.record(actor=acting_user, action="mail.webhook_token_rotated", target=mailbox)
    return mailbox


def check_request_poll(acting_user: User | None, mailbox_id: int) -> Mailbox:
    """"Consultar ahora": polls at once instead of waiting for the interval."""

    with transaction.atomic():
        mailbox = access_mailbox(acting_user, mailbox_id, lock=True)
        if not mailbox.polls:
            raise ActionError("not_polling", _("El buzón no está activo o no tiene IMAP configurado."))
        enqueue_on_commit(tasks.poll_mailbox, mailbox.pk)
    return mailbox


def check_mailbox_connections(acting_user: User | None, mailbox_id: int) -> dict[str, str]:
    """Logs in to IMAP and SMTP without reading or sending anything: {"imap"|"smtp": "" when fine, else why}."""

    mailbox = access_mailbox(acting_user, mailbox_id)
    results: dict[str, str] = {}
    if mailbox.imap_host:
        results["imap"] = check_connection(mailbox)
    if mailbox.smtp_host:
        try:
            connection = smtp_connection(mailbox)
            connection.open()
            connection.close()
            results["smtp"] = ""
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            results["smtp"] = str(exc) or exc.__class__.__name__
    if not results:
        raise ActionError("nothing_to_check", _("El buzón no tiene IMAP ni SMTP configurados."))
    return results


@transaction.atomic
def check_save_mail_profile(acting_user: User, *, signature: str, notifications: bool) -> MailProfile:
    """The user's own signature and notification choice (no audit entry: it changes nobody else's data)."""
    if not acting_user.is_authenticated:
        raise ActionError("forbidden", _("Inicie sesión."))
    signature = signature.strip()
    if len(signature) > 2000:
        raise ActionError("signature_too_long", _("La firma es demasiado larga (máximo 2000 caracteres)."),
                          field="signature")
    profile, _created = MailProfile.objects.select_for_update().get_or_create(user=acting_user)
    profile.signature, profile.notifications = signature, notifications
    profile.save()
    return profile
