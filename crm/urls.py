from django.urls import path

from crm import views

app_name = "crm"
urlpatterns = [
    path("integrations/kommo/webhook/<str:secret>/", views.kommo_webhook, name="webhook"),
    path("settings/kommo/", views.kommo_settings, name="settings"),
    path("integrations/kommo/oauth/callback/", views.kommo_oauth_callback, name="oauth_callback"),
    path("settings/kommo/webhook-secret/rotate/", views.rotate_webhook_secret, name="rotate_webhook_secret"),
    path("settings/kommo/webhooks/", views.deliveries, name="deliveries"),
    path("settings/kommo/webhooks/<int:delivery_id>/retry/", views.delivery_retry, name="delivery_retry"),
    path("settings/kommo/simulate/", views.simulate_lead, name="simulate"),
]
