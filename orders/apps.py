from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Pedidos")

    def ready(self) -> None:
        from customers.merge import move_rows, register_merge_participant
        from orders.models import Order

        register_merge_participant("orders", move_rows(Order))
        from leads import panels
        from orders.views import call_screen_panel

        # The order builder on the call screen, without leads importing orders.
        panels.register("orders", context=call_screen_panel, template="orders/_order_panel.html")
