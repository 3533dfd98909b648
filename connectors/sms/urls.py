from django.urls import URLPattern, URLResolver, path

from connectors.sms import views

app_name = "sms"
urlpatterns: list[URLPattern | URLResolver] = [
    # Twilio's webhooks (public, signed): the URLs to paste into Twilio are on the admin page.
    path("integrations/sms/<int:account_id>/inbound/", views.inbound_webhook, name="inbound"),
    path("integrations/sms/<int:account_id>/status/", views.status_webhook, name="status"),
    path("settings/sms/", views.settings_page, name="settings"),
    path("settings/sms/<int:sms_account_id>/", views.edit_account, name="edit"),
    path("settings/sms/<int:sms_account_id>/active", views.set_active, name="set_active"),
    path("settings/sms/<int:sms_account_id>/simulate", views.simulate, name="simulate"),
    path("settings/sms/webhooks/", views.deliveries, name="deliveries"),
    path("settings/sms/webhooks/<int:sms_delivery_id>/retry", views.delivery_retry, name="delivery_retry"),
]
