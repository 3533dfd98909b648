from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from connectors.mail import views

app_name = "mail"
urlpatterns: list[URLPattern | URLResolver] = [
    path("integrations/mail/<str:provider>/<str:token>/", views.inbound_webhook, name="webhook"),
    path("settings/mail/", views.mailbox_list, name="mailboxes"),
    path("settings/mail/<int:mailbox_id>/", views.mailbox_edit, name="mailbox"),
    path("settings/mail/<int:mailbox_id>/test/", views.mailbox_test, name="mailbox_test"),
    path("settings/mail/<int:mailbox_id>/poll/", views.mailbox_poll, name="mailbox_poll"),
    path("settings/mail/<int:mailbox_id>/rotate/", views.mailbox_rotate, name="mailbox_rotate"),
    path("profile/mail/", views.my_mail, name="profile"),
]
