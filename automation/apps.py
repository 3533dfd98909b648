from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = _("Automatización")

    def ready(self) -> None:
        from accounts.management.commands.seed_demo import SEEDERS
        from automation.demo import seed_quick_replies

        if seed_quick_replies not in SEEDERS:
            SEEDERS.append(seed_quick_replies)
        from automation.composer import composer_panel, refuse_unfilled_variables
        from core import assets
        from inbox import outbound
        from inbox.panels import composer

        # The quick-reply picker under the composer, without the inbox importing automation.
        composer.register("quick_replies", context=composer_panel, template="automation/_composer.html")
        assets.register("inbox.workspace", css=("automation/automation.css",), js=("automation/quick_replies.js",))
        outbound.register_body_check(refuse_unfilled_variables)
