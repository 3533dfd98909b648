from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks salientes")

    def ready(self) -> None:
        from core.events import ANY, subscribe
        from webhooks.actions import on_event

        subscribe(ANY, on_event, name="webhooks.fan_out")
