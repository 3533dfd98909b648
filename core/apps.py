from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Núcleo")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.utils.module_loading import autodiscover_modules

        from core import checks  # noqa: F401 - registers the system checks

        autodiscover_modules("events")  # every app's domain events, so the catalogue is whole before anyone subscribes
        from core.fileperms import secure_sqlite_on_connect

        connection_created.connect(secure_sqlite_on_connect, dispatch_uid="core.secure_sqlite_on_connect")
        _cache_icons()


def _cache_icons() -> None:
    """Lucide draws an icon by copying its SVG tree and serialising it on every `{% lucide %}` (0.06 ms each; the
    menu alone draws a dozen per page, a customer profile twenty). The drawing depends only on the name and the
    attributes, so each is kept once per process; the template tag reads `lucide._render_icon` at each call."""
    import functools

    import lucide

    if not hasattr(lucide._render_icon, "cache_info"):
        lucide._render_icon = functools.lru_cache(maxsize=1024)(lucide._render_icon)
