from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("Integración con Kommo")

    def ready(self) -> None:
        from core.events import subscribe
        from crm.sync import on_order_confirmed
        from orders.events import OrderConfirmed

        # In the order's transaction: the Kommo outbox row commits with the confirmation or not at all.
        subscribe(OrderConfirmed, on_order_confirmed, name="crm.kommo_sync", in_transaction=True)
        from crm.sync import order_sync_stages, order_sync_states
        from orders import sync_state

        # The order pages show each order's Kommo sync without orders importing crm.
        sync_state.register(states=order_sync_states, stages=order_sync_stages)
