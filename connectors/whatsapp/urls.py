from django.urls import URLPattern, URLResolver, path

from connectors.whatsapp import views

app_name = "whatsapp"
urlpatterns: list[URLPattern | URLResolver] = [
    # POSTs normally take the fast ASGI route (connectors/whatsapp/intake.py) before reaching this view.
    path("integrations/whatsapp/webhook/<str:phone_number_id>/", views.webhook, name="webhook"),
    path("settings/whatsapp/", views.settings_page, name="settings"),
    path("settings/whatsapp/<int:number_id>/templates/sync", views.sync_templates, name="sync_templates"),
    path("settings/whatsapp/<int:number_id>/active", views.set_active, name="set_active"),
    path("settings/whatsapp/<int:number_id>/simulate", views.simulate, name="simulate"),
    path("settings/whatsapp/webhooks/", views.deliveries, name="deliveries"),
    path("settings/whatsapp/webhooks/<int:wa_delivery_id>/retry", views.delivery_retry, name="delivery_retry"),
    path("inbox/<int:conversation_id>/whatsapp/template", views.send_template, name="send_template"),
]
