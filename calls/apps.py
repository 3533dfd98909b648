from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallsConfig(AppConfig):
    """Calls worked on the call screen, recorded as phone conversations (issue 15): a lead's note ends a call, an
    order confirmed on the call screen is sold in one. Sits above leads and inbox, which do not know each other."""

    name = "calls"
    verbose_name = _("Llamadas")

    def ready(self) -> None:
        from calls.subscribers import on_lead_noted
        from core.events import subscribe
        from leads.events import LeadNoted

        # In the note's transaction: the call and its note commit together or not at all.
        subscribe(LeadNoted, on_lead_noted, name="calls.record", in_transaction=True)
