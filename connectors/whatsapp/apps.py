from django.apps import AppConfig


class WhatsappConfig(AppConfig):
    name = "connectors.whatsapp"
    label = "whatsapp"
    verbose_name = "WhatsApp Business Cloud API"
