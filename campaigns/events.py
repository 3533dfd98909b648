"""Domain events of campaigns (core.events)."""

from __future__ import annotations

import dataclasses

from django.utils.translation import gettext_lazy as _

from core.events import DomainEvent


@dataclasses.dataclass(frozen=True, kw_only=True)
class CampaignStateChanged(DomainEvent):
    """A campaign was launched, scheduled, started, paused, resumed, finished or cancelled."""

    type = "campaign.state_changed"
    label = _("Cambio de estado de una campaña")
    campaign_id: int
    name: str
    channel: str
    from_state: str
    to_state: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class CampaignReplied(DomainEvent):
    """A customer answered a campaign message (their message is in the inbox, attributed to the campaign)."""

    type = "campaign.replied"
    label = _("Respuesta a una campaña")
    campaign_id: int
    customer_id: int
    conversation_id: int
    message_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class CampaignConverted(DomainEvent):
    """An order confirmed within the campaign's window after its message reached the customer."""

    type = "campaign.converted"
    label = _("Compra atribuida a una campaña")
    campaign_id: int
    customer_id: int
    order_id: int
    revenue: str
