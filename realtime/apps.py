from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime"

    def ready(self) -> None:
        from accounts.events import AccessChanged, AvailabilityChanged
        from core.events import subscribe
        from realtime.subscribers import on_access_changed, on_availability_changed

        subscribe(AvailabilityChanged, on_availability_changed, name="realtime.presence")
        subscribe(AccessChanged, on_access_changed, name="realtime.access")
