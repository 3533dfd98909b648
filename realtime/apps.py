from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime"

    def ready(self) -> None:
        from accounts.events import AvailabilityChanged
        from core.events import subscribe
        from realtime.subscribers import on_availability_changed

        subscribe(AvailabilityChanged, on_availability_changed, name="realtime.presence")
