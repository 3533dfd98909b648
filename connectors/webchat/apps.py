from django.apps import AppConfig


class WebchatConfig(AppConfig):
    name = "connectors.webchat"
    label = "webchat"
    verbose_name = "Chat web"
