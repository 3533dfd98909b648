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
