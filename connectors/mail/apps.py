from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "connectors.mail"
    label = "mail"
    verbose_name = "Correo (IMAP/SMTP)"
