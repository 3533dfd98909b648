from django.apps import AppConfig


class WhatsappConfig(AppConfig):
    name = "connectors.whatsapp"
    label = "whatsapp"
    verbose_name = "WhatsApp Business Cloud API"

    def ready(self) -> None:
        from connectors.whatsapp.models import WhatsappContact
        from customers.merge import move_rows, register_merge_participant

        register_merge_participant("whatsapp", move_rows(WhatsappContact))
        # The inbox knows nothing about WhatsApp: it asks inbox.outbound for the channel's sender (runs in the
        # worker after commit) and guard (the 24-hour window, checked before a reply is stored).
        from connectors.whatsapp.outbound import check_attachments, requeue_send, send_outbound
        from connectors.whatsapp.window import window_guard
        from inbox.outbound import register_attachment_check, register_guard, register_sender

        def sender(message_id: int) -> None:
            send_outbound(message_id)

        register_sender("whatsapp", sender, requeue=requeue_send)
        register_guard("whatsapp", window_guard)
        register_attachment_check("whatsapp", check_attachments)  # the media types and sizes Meta delivers
