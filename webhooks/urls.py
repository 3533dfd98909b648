from django.urls import path

from webhooks import views

app_name = "webhooks"
urlpatterns = [
    path("integrations/webhooks/", views.endpoints, name="endpoints"),
    path("integrations/webhooks/<int:endpoint_id>/", views.endpoint, name="endpoint"),
    path("integrations/webhooks/<int:endpoint_id>/retry-failed/", views.endpoint_retry_failed,
         name="endpoint_retry_failed"),
    path("integrations/webhooks/<int:endpoint_id>/messages/<int:message_id>/retry/", views.message_retry,
         name="message_retry"),
]
