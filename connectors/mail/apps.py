from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "connectors.mail"
    label = "mail"
    verbose_name = "Correo (IMAP/SMTP)"

    def ready(self) -> None:
        from connectors.mail.notifications import email_notifier
        from connectors.mail.outbound import guard, requeue_send, send_message
        from inbox import notifications, outbound

        outbound.register_sender("email", send_message, requeue=requeue_send)
        outbound.register_guard("email", guard)
        notifications.register_notifier(email_notifier)
