"""Threading: which conversation an incoming mail continues, and the headers that make replies thread.

Rules, in order (Chatwoot's, see the email contract §1):
1. our reply address `…+c<conversation>-<signature>@…` among the recipients: the signature is an HMAC of the
   conversation id, so it cannot be guessed from a conversation number;
2. `In-Reply-To` naming a Message-ID we stored (one we sent, or an earlier mail of the thread);
3. `References`, newest first, the same way.
Rules 2 and 3 only thread mail from the conversation's customer: our Message-IDs contain sequential numbers, so
a stranger could forge one, while the signed reply address proves the sender got our mail.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from connectors.mail.models import Mailbox, OutboundMail
from connectors.mail.parsing import ParsedMail
from customers.models import CustomerEmail
from inbox.models import Conversation, Message

TOKEN = re.compile(r"\+(c(\d+)-([0-9a-f]{16}))@", re.IGNORECASE)
HUB_ID = re.compile(r"^hub\.(\d+)\.(\d+)@")
EXTERNAL_ID_MAX = 200


def _signature(conversation_id: int) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"mail-reply:{conversation_id}".encode(), hashlib.sha256).hexdigest()[:16]


def reply_token(conversation_id: int) -> str:
    return f"c{conversation_id}-{_signature(conversation_id)}"


def reply_address(mailbox: Mailbox, conversation_id: int) -> str:
    token = reply_token(conversation_id)
    if mailbox.reply_address:
        return mailbox.reply_address.replace("{token}", token)
    local, domain = mailbox.address.rsplit("@", 1)
    return f"{local}+{token}@{domain}"


def conversation_from_recipients(addresses: list[str]) -> int | None:
    for address in addresses:
        for match in TOKEN.finditer(address):
            conversation_id = int(match.group(2))
            if hmac.compare_digest(match.group(3).lower(), _signature(conversation_id)):
                return conversation_id
    return None


def hub_message_id(mailbox: Mailbox, conversation_id: int, message_id: int) -> str:
    """Our stable Message-ID (without brackets): the same on every retry of the same message."""
    return f"hub.{conversation_id}.{message_id}@{mailbox.domain}"


def external_id(mailbox_id: int, rfc_id: str) -> str:
    """Message.external_id of a mail in a mailbox: scoped, because the same mail may reach two mailboxes."""
    value = f"mail:{mailbox_id}:{rfc_id}"
    if len(value) > EXTERNAL_ID_MAX:
        value = f"mail:{mailbox_id}:sha256:{hashlib.sha256(rfc_id.encode()).hexdigest()}"
    return value


@dataclass(frozen=True)
class ThreadMatch:
    conversation_id: int
    rule: str  # "reply_address" | "in_reply_to" | "references"


def _conversation_of(mailbox: Mailbox, rfc_ids: list[str]) -> int | None:
    """The conversation of the newest of `rfc_ids` we know: stored messages first, then our own sent ids."""

    if not rfc_ids:
        return None
    by_external = dict(Message.objects.filter(
        external_id__in=[external_id(mailbox.pk, i) for i in rfc_ids], conversation__channel="email",
    ).values_list("external_id", "conversation_id"))
    by_sent = dict(OutboundMail.objects.filter(rfc_message_id__in=rfc_ids, message__conversation__channel="email")
                   .values_list("rfc_message_id", "message__conversation_id"))
    for rfc_id in rfc_ids:
        found = by_external.get(external_id(mailbox.pk, rfc_id)) or by_sent.get(rfc_id)
        if found:
            return int(found)
    return None


def _from_customer(conversation_id: int, address: str) -> bool:
    customer_id = Conversation.objects.filter(pk=conversation_id).values_list("customer_id", flat=True).first()
    return customer_id is not None and CustomerEmail.objects.filter(customer_id=customer_id,
                                                                    email__iexact=address).exists()


def find_thread(mailbox: Mailbox, mail: ParsedMail, *, envelope_recipients: Sequence[str] = ()) -> ThreadMatch | None:
    token_conversation = conversation_from_recipients([*mail.recipients, *envelope_recipients])
    if token_conversation is not None and Conversation.objects.filter(pk=token_conversation,
                                                                      channel="email").exists():
        return ThreadMatch(token_conversation, "reply_address")
    for rule, ids in (("in_reply_to", mail.in_reply_to), ("references", list(reversed(mail.references)))):
        conversation_id = _conversation_of(mailbox, ids)
        if conversation_id is not None and _from_customer(conversation_id, mail.from_address):
            return ThreadMatch(conversation_id, rule)
    return None
