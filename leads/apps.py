from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = _("Cola de llamadas")

    def ready(self) -> None:
        from customers.merge import move_rows, register_merge_participant
        from leads.models import Lead

        register_merge_participant("leads", move_rows(Lead))
        from customers.activity import register_activity_source
        from leads import customer_activity

        register_activity_source("leads", customer_activity.activity)
        from customers.panels import profile_sections
        from customers.timeline import register_timeline_source

        profile_sections.register("leads", context=customer_activity.profile_section,
                                  template="leads/_customer_leads.html", position=30)
        register_timeline_source("leads", customer_activity.timeline_entries)
        from accounts.management.commands.seed_demo import SEEDERS
        from leads.demo import seed_call_center

        if seed_call_center not in SEEDERS:
            SEEDERS.append(seed_call_center)
