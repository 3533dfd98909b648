from django.urls import path

from realtime.consumers import UserEventsConsumer

websocket_urlpatterns = [path("ws/events/", UserEventsConsumer.as_asgi())]  # type: ignore[arg-type]
