from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("Tablero y reportes")

    def ready(self) -> None:
        from customers.merge import register_merge_participant
        from reports.rollups import merged_customer

        register_merge_participant("reports", merged_customer)
        from reports import signals

        signals.connect()
