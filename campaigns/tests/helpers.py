"""Campaign test data: customers with consents, a WhatsApp campaign on the fake Graph API, an email campaign on the
fake SMTP server, and a sender run with a virtual clock (pacing is checked by what it asked to wait, never by
sleeping and measuring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accounts.models import User
from accounts.roles import Role
from accounts.tests.factories import UserFactory
from campaigns import sending
from campaigns.actions import CampaignInput, check_save_campaign
from campaigns.choices import CampaignChannel
from campaigns.models import Campaign
from connectors.mail.models import Mailbox, Security
from connectors.whatsapp.actions import do_sync_templates
from connectors.whatsapp.models import MessageTemplate, WhatsappNumber
from customers.choices import ConsentStatus
from customers.models import Consent, Customer, CustomerEmail, CustomerPhone, Tag
from fakes.whatsapp import PROMO_TEMPLATE
from leads.tests.factories import CustomerFactory


def marketer() -> User:
    return UserFactory(role=Role.DIRECTOR_VENTAS, username="marta", full_name="Marta Díaz")


def customer(name: str, *, phone: str = "", email: str = "", consent: str | None = ConsentStatus.OPTED_IN,
             channel: str = "whatsapp", tag: Tag | None = None, city: str = "Bogotá") -> Customer:
    c = CustomerFactory(name=name, city=city)
    if phone:
        CustomerPhone.objects.create(customer=c, e164=phone)
    if email:
        CustomerEmail.objects.create(customer=c, email=email)
    if consent is not None:
        Consent.objects.create(customer=c, channel=channel, status=consent, source="formulario web")
    if tag is not None:
        c.tags.add(tag)
    return c


def promo_template(number: WhatsappNumber, fake: Any) -> MessageTemplate:
    fake.state.add_template(PROMO_TEMPLATE)
    do_sync_templates(number)
    return MessageTemplate.objects.get(name="promo_reactivacion", waba_id=number.waba_id)


def whatsapp_campaign(user: User, number: WhatsappNumber, template: MessageTemplate, tag: Tag, **extra: Any
                      ) -> Campaign:
    return check_save_campaign(user, None, CampaignInput(
        name="Te extrañamos", channel=CampaignChannel.WHATSAPP, objective="reactivacion",
        audience={"tags": [tag.pk]}, wa_number_id=number.pk, wa_template_id=template.pk,
        wa_variables={"1": {"source": "field", "value": "nombre"}, "2": {"source": "text", "value": "20%"}},
        link_url="https://tienda.example.test/vuelve", **extra))


def mailbox(smtp: Any) -> Mailbox:
    return Mailbox.objects.create(address="ofertas@tienda.example.test", display_name="Tienda Ejemplo",
                                  smtp_host=smtp.host, smtp_port=smtp.port, smtp_security=Security.NONE)


@dataclass
class Clock:
    """A virtual monotonic clock: `sleep` advances it and records what the sender asked to wait."""

    now: float = 1000.0
    waits: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        self.now += 0.0001  # every reading moves a little, as a real clock does
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def run_sender(campaign: Campaign, *, clock: Clock | None = None, budget: float = 1000.0, **kwargs: Any
               ) -> dict[str, int]:
    clock = clock or Clock()
    return sending.run(campaign.pk, budget=budget, clock=clock, sleep=clock.sleep, **kwargs)
