from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save, pre_save

        from accounts.events import AvailabilityChanged
        from accounts.models import User
        from core.events import subscribe
        from realtime.subscribers import close_on_access_change, on_availability_changed, remember_access

        subscribe(AvailabilityChanged, on_availability_changed, name="realtime.presence")
        pre_save.connect(remember_access, sender=User, dispatch_uid="realtime.remember_access")
        post_save.connect(close_on_access_change, sender=User, dispatch_uid="realtime.close_on_save")
        post_delete.connect(close_on_access_change, sender=User, dispatch_uid="realtime.close_on_delete")
