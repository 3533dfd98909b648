from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnnouncementsConfig(AppConfig):
    name = "announcements"
    verbose_name = _("Anuncios")

    def ready(self) -> None:
        from accounts.management.commands.seed_demo import SEEDERS
        from announcements import events  # noqa: F401 - registers the domain event types
        from announcements.demo import seed_announcements
        from announcements.views import banner_context
        from core import assets
        from core.panels import PAGE_TOP

        # The banner above every signed-in page (one query), and its stylesheet and script on every page.
        PAGE_TOP.register("announcements", context=banner_context, template="announcements/_banner.html",
                          position=10)
        assets.register("base", css=("announcements/announcements.css",),
                        js=("announcements/announcements.js",))
        if seed_announcements not in SEEDERS:
            SEEDERS.append(seed_announcements)
