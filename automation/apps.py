from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = _("Automatización")

    def ready(self) -> None:
        from accounts.management.commands.seed_demo import SEEDERS
        from automation.demo import seed_quick_replies, seed_sequences, seed_sla_breaches

        for seeder in (seed_quick_replies, seed_sla_breaches, seed_sequences):
            if seeder not in SEEDERS:
                SEEDERS.append(seeder)
        from automation.composer import composer_panel, refuse_unfilled_variables, scheduled_panel, sla_panel
        from core import assets
        from inbox import outbound
        from inbox.panels import composer, conversation_side

        # The quick-reply picker under the composer, without the inbox importing automation.
        composer.register("quick_replies", context=composer_panel, template="automation/_composer.html")
        conversation_side.register("sla", context=sla_panel, template="automation/_sla_panel.html")
        conversation_side.register("scheduled", context=scheduled_panel, template="automation/_scheduled_panel.html")
        assets.register("inbox.workspace", css=("automation/automation.css",), js=("automation/quick_replies.js",))
        outbound.register_body_check(refuse_unfilled_variables)
        from automation import events  # noqa: F401 - registers the domain event types
        from automation.describe import KINDS, USER_KEYS
        from inbox.describe import register_kind

        for kind, describe in KINDS.items():
            register_kind(kind, describe, user_keys=USER_KEYS.get(kind, ()))
        from automation.actions import do_follow_merge, quick_reply_file
        from inbox.actions import register_merge_hook
        from inbox.attachments import register_source

        register_merge_hook(do_follow_merge)
        register_source("quick_reply", quick_reply_file)  # a quick reply's file chosen in the composer
        from automation import sla
        from core.events import subscribe
        from inbox.events import ConversationAssigned, ConversationStateChanged, MessageReceived, MessageSent

        # In the emitting transaction: a conversation is never stored without its clocks (automation.sla).
        for event, handler in ((MessageReceived, sla.on_message_received), (MessageSent, sla.on_message_sent),
                               (ConversationStateChanged, sla.on_state_changed),
                               (ConversationAssigned, sla.on_assigned)):
            subscribe(event, handler, name=f"automation.sla.{handler.__name__}", in_transaction=True)
        from automation import rules
        from automation.choices import DOMAIN_RULE_EVENTS
        from core.events import EVENT_TYPES

        # In the emitting transaction: the event is kept for the rules with the change that caused it (the rules'
        # outbox, automation.rules); evaluated by the worker after commit.
        for code in DOMAIN_RULE_EVENTS:
            subscribe(EVENT_TYPES[code], rules.on_event, name="automation.rules", in_transaction=True)
        from automation import sequences
        from automation.events import ScheduledMessageCancelled, ScheduledMessageFailed, ScheduledMessageSent

        # A customer's reply and a resolution stop sequences in their own transaction: no step goes out after them.
        subscribe(MessageReceived, sequences.on_message_received, name="automation.sequences.reply",
                  in_transaction=True)
        subscribe(ConversationStateChanged, sequences.on_state_changed, name="automation.sequences.state",
                  in_transaction=True)
        for step_event in (ScheduledMessageSent, ScheduledMessageFailed, ScheduledMessageCancelled):
            subscribe(step_event, sequences.on_step_done, name="automation.sequences.step", in_transaction=True)
        from inbox.api import register_item_field

        register_item_field("sla", sla.api_items)
