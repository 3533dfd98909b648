from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "connectors.mail"
    label = "mail"
    verbose_name = "Correo (IMAP/SMTP)"

    def ready(self) -> None:
        from connectors.mail.notifications import email_notifier
        from connectors.mail.outbound import check_attachments, guard, requeue_send, send_message
        from inbox import notifications, outbound

        outbound.register_sender("email", send_message, requeue=requeue_send)
        outbound.register_guard("email", guard)
        outbound.register_attachment_check("email", check_attachments)  # the files fit in one mail once encoded
        notifications.register_notifier(email_notifier)
