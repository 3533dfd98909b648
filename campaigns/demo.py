"""Demo campaigns.

* `seed_campaign_draft` (a `seed_demo` seeder): a marketer's draft for the VIP customers, saved through the actions.
  seed_demo runs before `demo_setup` connects the demo WhatsApp number, so the draft waits for its number and
  template: the editor lists exactly that as what is missing to launch it.
* `run_demo_campaign`: a finished campaign with results, made the way a marketer's is — saved and launched through
  the actions, sent by the real sender to the demo WhatsApp (the local fake Graph API, whose status webhooks then
  mark the messages delivered and read), a few customers clicking, one answering and buying in the conversation
  that answer opened, one writing «BAJA». It needs the demo number connected and the server and worker running
  (the fake posts its webhooks to SITE_URL), so it is not a seeder; run it once the demo is up:

      python manage.py shell -c "from campaigns.demo import run_demo_campaign; run_demo_campaign()"
"""

from __future__ import annotations

import json
import random
import time
import urllib.request
from decimal import Decimal
from typing import Any

from django.core.management.base import OutputWrapper
from django.db import transaction

from accounts.models import User
from campaigns import results, sending
from campaigns.actions import CampaignInput, check_launch, check_save_campaign
from campaigns.choices import REACHED, CampaignChannel, ClickTarget, Objective
from campaigns.models import Campaign, CampaignRecipient
from connectors.whatsapp.models import MessageTemplate, WhatsappNumber
from core.errors import ActionError
from customers.models import Segment
from inbox.actions import check_assign
from inbox.models import Conversation
from orders.actions import Delivery, check_confirm_order, check_create_order

DRAFT_NAME = "Clientes VIP: preventa de temporada"
FINISHED_NAME = "Reactivación: retomemos la conversación"
DEMO_TEMPLATE = "retomar_conversacion"  # approved in the fake's demo account, one variable: the first name
LINK = "https://tienda.demo.centralita.example/preventa"


def _marketer() -> User | None:
    return (User.objects.filter(username="director").first() or User.objects.filter(username="admin").first())


def seed_campaign_draft(rng: random.Random, scale: str, stdout: OutputWrapper) -> None:
    user = _marketer()
    if user is None or Campaign.objects.exists():
        return
    vip = Segment.objects.filter(code="vip").exists()  # the default segments' migration made it (unless removed)
    check_save_campaign(user, None, CampaignInput(
        name=DRAFT_NAME, objective=Objective.SALES, channel=CampaignChannel.WHATSAPP,
        audience={"segments": ["vip"]} if vip else {}, link_url=LINK, conversion_days=14))
    stdout.write("campaigns: a draft for the VIP customers (its WhatsApp number and template are chosen once the "
                 "demo number is connected)")


def _fake_customer_writes(number: WhatsappNumber, wa_id: str, text: str, name: str) -> None:
    """The demo fake's control API: a customer writes to the number (the fake signs and posts Meta's webhook)."""
    body = json.dumps({"wa_id": wa_id, "text": text, "name": name}).encode()
    request = urllib.request.Request(number.base_url.rstrip("/") + "/_fake/inbound", data=body,  # noqa: S310
                                     headers={"Content-Type": "application/json"}, method="POST")  # (the demo fake)
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the local demo fake only
        answer.read()


def _wait(condition: Any, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return False


def run_demo_campaign(*, stdout: Any = None, seed: int = 1) -> Campaign | None:
    """See the module's docstring. Returns the campaign (None when the demo number or template is missing, or the
    campaign already exists)."""
    say = stdout.write if stdout is not None else print
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    user = _marketer()
    supervisor = User.objects.filter(username="supervisora").first()
    number = WhatsappNumber.objects.filter(is_active=True).order_by("pk").first()
    template = MessageTemplate.objects.filter(waba_id=number.waba_id, name=DEMO_TEMPLATE).first() if number else None
    if user is None or number is None or template is None or not template.is_approved:
        say("campaigns: no demo WhatsApp number with its templates yet (run demo_setup with the fake first)")
        return None
    if Campaign.objects.filter(name=FINISHED_NAME).exists():
        return None
    campaign = check_save_campaign(user, None, CampaignInput(
        name=FINISHED_NAME, objective=Objective.REACTIVATION, channel=CampaignChannel.WHATSAPP,
        audience={"segments": ["nuevo"]}, wa_number_id=number.pk, wa_template_id=template.pk,
        wa_variables={"1": {"source": "field", "value": "nombre"}}, link_url=LINK,
        cost_per_message=Decimal("55"), conversion_days=14))
    check_launch(user, campaign.pk)
    while sending.run(campaign.pk).get("sent"):  # the real sender, inline (the worker would do the same)
        pass
    reached = list(CampaignRecipient.objects.filter(campaign=campaign, state__in=REACHED).select_related("customer")
                   .order_by("pk"))
    say(f"campaigns: «{campaign.name}» sent to {len(reached)} customers; waiting for the fake's status webhooks")
    _wait(lambda: CampaignRecipient.objects.filter(campaign=campaign, read_at__isnull=False).count() >= len(reached))
    # a few customers open the link (what the tracked redirect records)
    for r in rng.sample(reached, min(len(reached), max(3, len(reached) // 4))):
        for _click in range(rng.choice([1, 1, 2])):
            results.record_click(r.pk, target=ClickTarget.BUTTON)
    # two answer; one of them buys in the conversation her answer opened; a third writes «BAJA»
    buyers = reached[:2]
    for r in buyers:
        _fake_customer_writes(number, r.address.lstrip("+"), "Hola, sí me interesa. ¿Qué tienen nuevo?",
                              r.customer.name)
    if len(reached) > 2:
        _fake_customer_writes(number, reached[2].address.lstrip("+"), "BAJA", reached[2].customer.name)
    _wait(lambda: CampaignRecipient.objects.filter(campaign=campaign, replied_at__isnull=False).count()
          >= len(buyers))
    _demo_sale(campaign, supervisor, say)
    say(f"campaigns: «{campaign.name}» finished with its results")
    return campaign


def _demo_sale(campaign: Campaign, supervisor: User | None, say: Any) -> None:
    """The first customer who answered buys in the conversation her answer opened (a conversion, with revenue)."""
    buyer = (CampaignRecipient.objects.filter(campaign=campaign, replied_at__isnull=False).select_related("customer")
             .order_by("pk").first())
    if buyer is None or not buyer.reply_conversation_id or supervisor is None:
        return
    conversation = Conversation.objects.select_related("assignee").get(pk=buyer.reply_conversation_id)
    try:
        with transaction.atomic():
            seller = conversation.assignee
            if seller is None:  # nobody took it yet: the supervisor takes it to sell
                check_assign(supervisor, conversation.pk, assignee=supervisor.pk)
                seller = supervisor
            order = check_create_order(seller, conversation_id=conversation.pk, lines=[("PH-001", 1)])
            check_confirm_order(seller, order.pk, delivery=Delivery(
                address=buyer.customer.address or "Calle 10 # 43-12", city=buyer.customer.city or "Medellín",
                department=buyer.customer.department or "Antioquia"))
    except ActionError as exc:  # demo data never aborts: say why and go on
        say(f"campaigns: demo order skipped: {exc.message}")


def complete_draft(stdout: OutputWrapper | None = None) -> bool:
    """`demo_setup`, once the demo WhatsApp number is connected: the VIP draft gets that number and its approved
    "retomar_conversacion" template (the first name in its variable), so it can be tested and launched right away."""
    user = _marketer()
    draft = Campaign.objects.filter(name=DRAFT_NAME, state="borrador", wa_template__isnull=True).first()
    number = WhatsappNumber.objects.filter(is_active=True).order_by("pk").first()
    template = (MessageTemplate.objects.filter(name=DEMO_TEMPLATE, waba_id=number.waba_id).first()
                if number is not None else None)
    if user is None or draft is None or number is None or template is None:
        return False
    check_save_campaign(user, draft.pk, CampaignInput(
        wa_number_id=number.pk, wa_template_id=template.pk,
        wa_variables={"1": {"source": "field", "value": "nombre"}}))
    if stdout is not None:
        stdout.write("campaigns: the VIP draft is ready to test and launch (demo WhatsApp number and template)")
    return True
