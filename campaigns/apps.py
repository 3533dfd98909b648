from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campañas")

    def ready(self) -> None:
        from campaigns import (
            events,  # noqa: F401 - registers the domain event types
            results,
        )
        from connectors.sms.statuses import register_listener as register_sms_listener
        from connectors.whatsapp.actions import register_status_listener
        from core.events import subscribe
        from customers.merge import register_merge_participant
        from inbox.events import MessageReceived
        from orders.events import OrderConfirmed

        subscribe(MessageReceived, results.on_message_received, name="campaigns.replies")
        subscribe(OrderConfirmed, results.on_order_confirmed, name="campaigns.conversions")
        register_status_listener(results.on_whatsapp_status)
        register_merge_participant("campaigns", results.merge_recipients)
        register_sms_listener(results.on_sms_status)
        from accounts.management.commands.seed_demo import SEEDERS
        from campaigns.demo import seed_campaign_draft

        if seed_campaign_draft not in SEEDERS:
            SEEDERS.append(seed_campaign_draft)
