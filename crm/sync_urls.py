from django.urls import path

from crm import sync_views

app_name = "sync"
urlpatterns = [
    path("integrations/kommo-sync/", sync_views.sync_list, name="list"),
    path("integrations/kommo-sync/retry-failed/", sync_views.sync_retry_all, name="retry_all"),
    path("integrations/kommo-sync/<int:sync_id>/retry/", sync_views.sync_retry, name="retry"),
]
