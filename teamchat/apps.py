from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TeamchatConfig(AppConfig):
    name = "teamchat"
    verbose_name = _("Chat del equipo")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from accounts.management.commands.seed_demo import SEEDERS
        from core import assets
        from core.context_processors import NAV_BADGES, NavBadge
        from realtime.consumers import on_client_message
        from realtime.rooms import provide_rooms
        from teamchat import actions, events, search, selectors  # noqa: F401 - events registers the domain event types
        from teamchat.demo import seed_chat

        # Re-creates the SQLite search triggers a later migration's table rebuild would drop (teamchat/search.py).
        post_migrate.connect(search.post_migrate_handler, sender=self, dispatch_uid="teamchat_search_schema")
        # The unread count beside "Chat del equipo" on every page, kept live by chat-global.js.
        NAV_BADGES["teamchat:home"] = NavBadge(count=selectors.total_unread, attr="data-chat-unread")
        assets.register("base", js=("teamchat/chat-global.js",))
        on_client_message("chat_typing", actions.on_typing)
        provide_rooms(actions.rooms_of)
        if seed_chat not in SEEDERS:
            SEEDERS.append(seed_chat)
