"""The one transition function of a campaign's state machine (campaigns.choices.CAMPAIGN_TRANSITIONS)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from campaigns.choices import CAMPAIGN_TRANSITIONS, CampaignState
from campaigns.events import CampaignStateChanged
from campaigns.models import Campaign, CampaignTransition
from core.errors import InvalidTransition
from core.events import emit


def do_transition(campaign: Campaign, *, to: CampaignState, acting_user: User | None,
                  data: dict[str, Any] | None = None) -> None:
    """The one transition function of campaigns (the caller holds the row lock): the declared table, a history row,
    and `campaign.state_changed` after commit."""
    current = CampaignState(campaign.state)
    if to not in CAMPAIGN_TRANSITIONS[current]:
        raise InvalidTransition("invalid_transition", _("Una campaña %(a)s no puede pasar a %(b)s.")
                                % {"a": current.label.lower(), "b": to.label.lower()})
    now = timezone.now()
    campaign.state, campaign.updated_at = to.value, now
    if to == CampaignState.SENDING and campaign.started_at is None:
        campaign.started_at = now
    if to in (CampaignState.FINISHED, CampaignState.CANCELLED):
        campaign.finished_at = now
    campaign.save(update_fields=["state", "updated_at", "started_at", "finished_at", "launched_at",
                                 "recipients_count", "skipped_count"])
    CampaignTransition.objects.create(campaign=campaign, from_state=current.value, to_state=to.value,
                                      actor=acting_user, at=now, data=data or {})
    emit(CampaignStateChanged(campaign_id=campaign.pk, name=campaign.name, channel=campaign.channel,
                              from_state=current.value, to_state=to.value), actor=acting_user)
