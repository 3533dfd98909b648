from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Clientes")

    def ready(self) -> None:
        from accounts.management.commands.seed_demo import AFTER_SEED
        from customers.demo import seed_customer_profiles

        if seed_customer_profiles not in AFTER_SEED:
            AFTER_SEED.append(seed_customer_profiles)
