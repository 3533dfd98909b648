from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = _("Bandeja unificada")

    def ready(self) -> None:
        from customers.merge import move_rows, register_merge_participant
        from inbox.models import Conversation

        register_merge_participant("inbox", move_rows(Conversation))
        from core.events import subscribe
        from customers.activity import register_activity_source
        from inbox import customer_activity
        from inbox.events import ConversationCreated, ConversationStateChanged, MessageReceived, MessageSent

        register_activity_source("inbox", customer_activity.activity)
        from customers.panels import profile_sections
        from customers.timeline import register_timeline_source

        profile_sections.register("inbox", context=customer_activity.profile_section,
                                  template="inbox/_customer_conversations.html", position=10,
                                  page=customer_activity.conversation_page,
                                  page_template="inbox/_customer_conversation_rows.html")
        register_timeline_source("inbox", customer_activity.timeline_entries)
        for event in (ConversationCreated, MessageReceived, MessageSent, ConversationStateChanged):
            subscribe(event, customer_activity.on_customer_event, name="customers.activity", in_transaction=True)
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
