from django.apps import AppConfig


class SmsConfig(AppConfig):
    name = "connectors.sms"
    label = "sms"
    verbose_name = "SMS (Twilio Programmable Messaging)"

    def ready(self) -> None:
        # The inbox knows nothing about SMS: it asks inbox.outbound for the channel's sender (run in the worker
        # after commit) and for its attachment check (an SMS carries text only).
        from connectors.sms.outbound import check_attachments, requeue_send, send_outbound
        from core import assets
        from inbox.outbound import register_attachment_check, register_sender

        def sender(message_id: int) -> None:
            send_outbound(message_id)

        register_sender("sms", sender, requeue=requeue_send)
        register_attachment_check("sms", check_attachments)
        assets.register("inbox.workspace", js=("sms/segments.js",))  # the composer's segment counter
