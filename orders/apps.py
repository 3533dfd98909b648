from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Pedidos")

    def ready(self) -> None:
        from customers.merge import move_rows, register_merge_participant
        from orders.models import Order

        register_merge_participant("orders", move_rows(Order))
        from core.events import subscribe
        from customers.activity import register_activity_source
        from orders import customer_activity
        from orders.events import OrderCancelled, OrderConfirmed

        register_activity_source("orders", customer_activity.activity)
        from customers.panels import profile_sections
        from customers.timeline import register_timeline_source

        profile_sections.register("orders", context=customer_activity.profile_section,
                                  template="orders/_customer_purchases.html", position=20,
                                  page=customer_activity.purchase_page,
                                  page_template="orders/_customer_purchase_rows.html")
        register_timeline_source("orders", customer_activity.timeline_entries)
        for event in (OrderConfirmed, OrderCancelled):
            subscribe(event, customer_activity.on_order_event, name="customers.activity", in_transaction=True)
        from accounts.management.commands.seed_demo import SEEDERS
        from inbox.demo import seed_inbox
        from orders.demo import seed_conversation_sales

        # The demo's written-channel sales need the inbox's conversations: seed_inbox is registered here first
        # (InboxConfig, ready later, adds it only when absent).
        for seeder in (seed_inbox, seed_conversation_sales):
            if seeder not in SEEDERS:
                SEEDERS.append(seeder)
        from inbox.panels import conversation_side
        from leads.panels import call_screen
        from orders.views import call_screen_panel, conversation_panel

        # The order builder on the call screen and beside a conversation, without leads or inbox importing orders.
        call_screen.register("orders", context=call_screen_panel, template="orders/_order_panel.html")
        from core import assets

        for page in ("leads.call_screen", "inbox.workspace"):
            assets.register(page, css=("orders/orders.css",), js=("orders/stock.js",))
        conversation_side.register("orders", context=conversation_panel, template="orders/_order_panel.html")
