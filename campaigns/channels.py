"""One adapter per campaign channel: what a recipient's message is, and the one vendor call that sends it.

`send` returns the vendor's id for the message, or raises `Refused` (permanent: the vendor's reason is kept on the
recipient) or `Later` (a rate limit honoured — Retry-After, Meta's throttling codes, Twilio's 20429 — or the vendor
unavailable: the recipient goes back in line). `reconcile` asks the vendor, after a worker died between its call and
recording the answer, whether that message left anyway (so the retry does not send it twice)."""

from __future__ import annotations

import secrets
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from email.utils import formataddr
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse

from campaigns import tracking, variables
from campaigns.choices import CampaignChannel
from campaigns.emailing import EmailContent, render_email
from campaigns.models import Campaign, CampaignSettings
from campaigns.variables import image_header
from connectors.mail.models import Mailbox
from connectors.mail.outbound import permanent_smtp_error, smtp_connection
from connectors.sms.client import SmsError, SmsRateLimited, SmsUnavailable
from connectors.sms.client import client_for as sms_client_for
from connectors.sms.segments import count as sms_segments
from connectors.whatsapp.actions import client_for as wa_client_for
from connectors.whatsapp.client import GraphError, GraphUnavailable
from connectors.whatsapp.message_templates import build_send
from connectors.whatsapp.models import WebhookDelivery
from connectors.whatsapp.outbound import recipient_field

STATUS_WINDOW = timedelta(minutes=5)
CALLBACK_PREFIX = "campaign:"  # biz_opaque_callback_data: Meta's statuses name the recipient even before the wamid
THROTTLED = frozenset({4, 80007, 130429, 131048, 131056})  # Meta's rate-limit codes: wait, then send again


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:300]


class Unknown(Exception):
    """The request may have reached the vendor but its answer was lost (a timeout after sending): the row is
    reconciled before any resend."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:300]


class Later(Exception):
    def __init__(self, reason: str, *, retry_after: float | None = None, rate_limited: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.retry_after, self.rate_limited = reason[:300], retry_after, rate_limited


@dataclass(frozen=True)
class Message:
    """What one recipient receives (the test send and the preview show the same)."""

    text: str  # as the customer reads it (the email's plain-text part)
    parts: int = 1  # SMS segments
    subject: str = ""
    html: str = ""
    headers: dict[str, str] | None = None
    payload: dict[str, Any] | None = None  # WhatsApp: the template object


@dataclass(frozen=True)
class Recipient:
    """The row the sender loads for one recipient (id 0 for a test send: its links are not tracked)."""

    id: int
    address: str
    customer: dict[str, Any]
    language: str = ""


class Adapter(Protocol):
    channel: str

    def render(self, r: Recipient) -> Message: ...

    def send(self, r: Recipient, message: Message) -> str: ...

    def reconcile(self, r: Recipient, since: datetime, message: Message) -> str | None: ...

    def cost(self, message: Message) -> Decimal: ...

    def close(self) -> None: ...


def _values(campaign: Campaign, r: Recipient) -> dict[str, str]:
    values = variables.values_for(r.customer)
    values[variables.LINK] = tracking.click_url(r.id, campaign) if campaign.link_url else ""
    return values


class _Base:
    channel = ""

    def __init__(self, campaign: Campaign, config: CampaignSettings) -> None:
        self.campaign = campaign
        unit = campaign.cost_per_message if campaign.cost_per_message is not None else config.cost_for(self.channel)
        self.unit_cost = unit

    def cost(self, message: Message) -> Decimal:
        return self.unit_cost * message.parts

    def reconcile(self, r: Recipient, since: datetime, message: Message) -> str | None:
        return None

    def close(self) -> None:
        return None


class WhatsappAdapter(_Base):
    channel = CampaignChannel.WHATSAPP

    def __init__(self, campaign: Campaign, config: CampaignSettings) -> None:
        super().__init__(campaign, config)
        if campaign.wa_number is None or campaign.wa_template is None:
            raise Refused("campaign without a WhatsApp number or template")
        self.number, self.template = campaign.wa_number, campaign.wa_template
        self._client: Any = None

    def render(self, r: Recipient) -> Message:
        values = variables.template_values(self.campaign.wa_variables, _values(self.campaign, r))
        built = build_send(self.template, values)
        payload = dict(built.meta["template"])
        if self.campaign.wa_header_image and image_header(self.template):
            payload["components"] = [{"type": "header", "parameters": [
                {"type": "image", "image": {"link": self.campaign.wa_header_image}}]},
                *payload.get("components", [])]
        return Message(text=built.body, payload=payload)

    def send(self, r: Recipient, message: Message) -> str:
        if self._client is None:
            self._client = wa_client_for(self.number)
        to = "".join(ch for ch in r.address if ch.isdigit())
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", **recipient_field(to),
                "type": "template", "template": message.payload,
                "biz_opaque_callback_data": f"{CALLBACK_PREFIX}{r.id}"}
        try:
            return self._client.send_message(self.number.phone_number_id, body)
        except GraphUnavailable as exc:
            if exc.status is None and exc.message.startswith("timeout"):  # sent, no answer: Meta may have it
                raise Unknown(exc.text) from exc
            raise Later(exc.text, rate_limited=exc.code in THROTTLED or exc.status == 429) from exc
        except GraphError as exc:
            if exc.code in THROTTLED:
                raise Later(exc.text, rate_limited=True) from exc
            raise Refused(exc.text) from exc

    def reconcile(self, r: Recipient, since: datetime, message: Message) -> str | None:
        """Meta has no "did you get it?" question, but its status webhooks name the recipient (callback data): one
        that arrived has already moved the row on. While webhooks received since the attempt are still waiting to
        be processed, it is too early to tell: the row waits (Later) rather than risk a second message."""
        # Meta reports a send within seconds: webhooks received in the few minutes after the attempt are the ones
        # that could name it (later ones cannot hold it up forever on a busy number).
        waiting = WebhookDelivery.objects.filter(state=WebhookDelivery.State.RECEIVED,
                                                 received_at__range=(since, since + STATUS_WINDOW))
        if waiting.exists():
            raise Later("status webhooks not processed yet", retry_after=30.0)
        return None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class EmailAdapter(_Base):
    channel = CampaignChannel.EMAIL

    def __init__(self, campaign: Campaign, config: CampaignSettings) -> None:
        super().__init__(campaign, config)
        if campaign.mailbox is None:
            raise Refused("campaign without a mailbox")
        self.mailbox: Mailbox = campaign.mailbox
        self.content = EmailContent(
            subject=campaign.subject, preheader=campaign.preheader, body_markdown=campaign.body,
            image_url=campaign.image_url, button_label=campaign.button_label, button_url=campaign.link_url,
            brand_name=self.mailbox.display_name, footer_address=settings.CAMPAIGN_POSTAL_ADDRESS)
        self._connection: Any = None

    def render(self, r: Recipient) -> Message:
        links = tracking.tracked_urls(self.campaign)
        rendered = render_email(
            self.content, variables=_values(self.campaign, r),
            unsubscribe_url=tracking.unsubscribe_url(r.id) if r.id else tracking.absolute(reverse("campaigns:list")),
            track_link=(lambda url: tracking.click_url(r.id, self.campaign, url, links)) if r.id else None,
            open_pixel_url=tracking.open_url(r.id) if r.id else "", language=r.language or "es")
        return Message(text=rendered.text, subject=rendered.subject, html=rendered.html, headers=rendered.headers)

    def send(self, r: Recipient, message: Message) -> str:
        ident = r.id or f"test-{secrets.token_hex(6)}"  # a test's id is new each time (clients drop repeated ids)
        message_id = f"campaign.{self.campaign.pk}.{ident}@{self.mailbox.domain}"
        email = EmailMultiAlternatives(
            subject=message.subject, body=message.text,
            from_email=formataddr((self.mailbox.display_name, self.mailbox.address)), to=[r.address],
            reply_to=[self.mailbox.address],
            headers={"Message-ID": f"<{message_id}>", **({} if not r.id else (message.headers or {}))})
        email.attach_alternative(message.html, "text/html")
        try:
            if self._connection is None:
                self._connection = smtp_connection(self.mailbox)
                self._connection.open()  # one SMTP session for the run, not one per message
            self._connection.send_messages([email])
        except (smtplib.SMTPException, OSError) as exc:
            self._connection = None
            if isinstance(exc, smtplib.SMTPException) and permanent_smtp_error(exc):
                raise Refused(str(exc)) from exc
            raise Later(str(exc)) from exc
        return message_id

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


class SmsAdapter(_Base):
    channel = CampaignChannel.SMS

    def __init__(self, campaign: Campaign, config: CampaignSettings) -> None:
        super().__init__(campaign, config)
        if campaign.sms_account is None:
            raise Refused("campaign without an SMS account")
        self.account = campaign.sms_account
        if campaign.cost_per_message is None and self.account.cost_per_segment:
            self.unit_cost = self.account.cost_per_segment
        self._client: Any = None

    def render(self, r: Recipient) -> Message:
        text = variables.fill(self.campaign.body, _values(self.campaign, r))
        return Message(text=text, parts=sms_segments(text).parts)

    def _sms(self) -> Any:
        if self._client is None:
            self._client = sms_client_for(self.account)
        return self._client

    def send(self, r: Recipient, message: Message) -> str:
        try:
            sent = self._sms().send(to=r.address, body=message.text, from_=self.account.from_number or None,
                                    messaging_service_sid=self.account.messaging_service_sid or None,
                                    status_callback=tracking.sms_status_callback(self.account))
        except SmsRateLimited as exc:
            raise Later(str(exc), retry_after=exc.retry_after, rate_limited=True) from exc
        except SmsUnavailable as exc:
            if exc.unknown_outcome:  # the answer was lost: Twilio may have the message
                raise Unknown(exc.text) from exc
            raise Later(exc.text) from exc
        except SmsError as exc:
            raise Refused(exc.text) from exc
        return str(sent.sid)

    def reconcile(self, r: Recipient, since: datetime, message: Message) -> str | None:
        """Twilio lists what was sent: a message to this number, from our sender, with this text, since the
        unfinished attempt began is that attempt's. When Twilio cannot be asked, it is too early to tell (Later)."""
        try:
            found = self._sms().list_messages(to=r.address, date_sent_after=since)
        except (SmsError, SmsUnavailable) as exc:
            raise Later(exc.text, retry_after=30.0) from exc
        sender = self.account.from_number or self.account.messaging_service_sid
        for item in found:
            if str(item.get("body") or "") == message.text and sender in {
                    str(item.get("from") or ""), str(item.get("messaging_service_sid") or "")}:
                return str(item.get("sid"))
        return None

    def close(self) -> None:
        if self._client is not None and hasattr(self._client, "close"):
            self._client.close()


ADAPTERS: dict[str, type[_Base]] = {CampaignChannel.WHATSAPP: WhatsappAdapter, CampaignChannel.EMAIL: EmailAdapter,
                                    CampaignChannel.SMS: SmsAdapter}


def adapter_for(campaign: Campaign, config: CampaignSettings | None = None) -> Adapter:
    return ADAPTERS[campaign.channel](campaign, config or CampaignSettings.load())  # type: ignore[return-value]
