from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebchatConfig(AppConfig):
    name = "connectors.webchat"
    label = "webchat"
    verbose_name = _("Chat web")

    def ready(self) -> None:
        from connectors.webchat.models import Visitor
        from customers.merge import move_rows, register_merge_participant

        register_merge_participant("webchat", move_rows(Visitor))
        from accounts.management.commands.seed_demo import SEEDERS
        from connectors.webchat.delivery import deliver_to_visitor
        from connectors.webchat.demo import seed_webchat
        from inbox.outbound import register_sender

        register_sender("webchat", deliver_to_visitor)
        if seed_webchat not in SEEDERS:
            SEEDERS.append(seed_webchat)
