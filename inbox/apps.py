from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = _("Bandeja unificada")

    def ready(self) -> None:
        from accounts.management.commands.seed_demo import SEEDERS
        from inbox.demo import seed_inbox

        if seed_inbox not in SEEDERS:
            SEEDERS.append(seed_inbox)
