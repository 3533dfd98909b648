from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = _("Bandeja unificada")

    def ready(self) -> None:
        from customers.merge import move_rows, register_merge_participant
        from inbox.models import Conversation

        register_merge_participant("inbox", move_rows(Conversation))
        from django.db.models.signals import post_migrate

        from accounts.management.commands.seed_demo import SEEDERS
        from inbox import search
        from inbox.demo import seed_inbox

        # Re-creates the SQLite search triggers a later migration's table rebuild would drop (inbox/search.py).
        post_migrate.connect(search.post_migrate_handler, sender=self, dispatch_uid="inbox_search_schema")

        if seed_inbox not in SEEDERS:
            SEEDERS.append(seed_inbox)

        from inbox.actions import on_viewing_message
        from realtime.consumers import on_client_message

        on_client_message("viewing", on_viewing_message)
