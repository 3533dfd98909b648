from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = _("Base de conocimiento")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from accounts.management.commands.seed_demo import SEEDERS
        from core import assets
        from inbox.panels import composer
        from knowledge import events, search  # noqa: F401 - events registers the domain event types
        from knowledge.composer import composer_panel
        from knowledge.demo import seed_articles

        # Re-creates the SQLite search triggers a later migration's table rebuild would drop (knowledge/search.py).
        post_migrate.connect(search.post_migrate_handler, sender=self, dispatch_uid="knowledge_search_schema")
        # The article picker under the composer, without the inbox importing knowledge.
        composer.register("knowledge", context=composer_panel, template="knowledge/_composer.html", position=110)
        assets.register("inbox.workspace", css=("knowledge/knowledge.css",), js=("knowledge/composer.js",))
        if seed_articles not in SEEDERS:
            SEEDERS.append(seed_articles)
