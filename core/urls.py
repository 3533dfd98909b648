from django.urls import path

from core import views

app_name = "core"
urlpatterns = [
    path("system/", views.system, name="system"),
    path("system/processes/<int:heartbeat_id>/dismiss/", views.dismiss_process, name="dismiss_process"),
    path("settings/organization/", views.site_settings, name="settings"),
]
