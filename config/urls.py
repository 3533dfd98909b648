from django.contrib import admin
from django.urls import include, path

from config.api import api
from core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("django-admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("leads.urls")),
    path("", include("crm.urls")),
    path("", include("customers.urls")),
    path("", include("catalog.urls")),
    path("", include("orders.urls")),
    path("", include("inbox.urls")),
    path("automatizacion/", include("automation.urls")),
    path("campanas/", include("campaigns.urls")),
    path("conocimiento/", include("knowledge.urls")),
    path("ayuda/", include("knowledge.public_urls")),
    path("bots/", include("bots.urls")),
    path("chat/", include("teamchat.urls")),
    path("anuncios/", include("announcements.urls")),
    path("", include("webhooks.urls")),
    path("", include("connectors.whatsapp.urls")),
    path("", include("connectors.mail.urls")),
    path("", include("connectors.webchat.urls")),
    path("", include("connectors.sms.urls")),
    path("", include("reports.urls")),
    path("", include("auditlog.urls")),
    path("", include("crm.sync_urls")),
    path("", include("core.urls")),
]
