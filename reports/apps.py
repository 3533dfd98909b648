from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("Tablero y reportes")

    def ready(self) -> None:
        from customers.merge import register_merge_participant
        from reports.rollups import merged_customer

        register_merge_participant("reports", merged_customer)
        from core.events import subscribe
        from orders.events import OrderCancelled
        from reports.subscribers import CONVERSATION_EVENTS, on_conversation_event, on_order_cancelled

        for event in CONVERSATION_EVENTS:
            subscribe(event, on_conversation_event, name="reports.freshness", in_transaction=True)
        subscribe(OrderCancelled, on_order_cancelled, name="reports.freshness", in_transaction=True)
