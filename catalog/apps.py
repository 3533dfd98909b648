from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = _("Catálogo y stock")

    def ready(self) -> None:
        from accounts.management.commands.seed_demo import SEEDERS
        from catalog import checks  # noqa: F401 - registers the data check on SKUs
        from catalog.demo import seed_catalog

        if seed_catalog not in SEEDERS:
            SEEDERS.append(seed_catalog)
