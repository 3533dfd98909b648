from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BotsConfig(AppConfig):
    name = "bots"
    verbose_name = _("Bot")

    def ready(self) -> None:
        from bots import events  # noqa: F401 - registers the domain event types
        from bots.actions import on_agent_acted, on_message_received, on_state_changed
        from core.events import subscribe
        from inbox.events import ConversationAssigned, ConversationStateChanged, MessageReceived, MessageSent

        # After commit: the worker reads the customer's message; a person acting on the conversation stops the bot.
        subscribe(MessageReceived, on_message_received, name="bots.message_received")
        subscribe(ConversationAssigned, on_agent_acted, name="bots.agent_assigned")
        subscribe(MessageSent, on_agent_acted, name="bots.agent_answered")
        subscribe(ConversationStateChanged, on_state_changed, name="bots.conversation_resolved")
        from accounts.management.commands.seed_demo import SEEDERS
        from bots.demo import seed_order_status_flow

        if seed_order_status_flow not in SEEDERS:
            SEEDERS.append(seed_order_status_flow)
        from bots.panels import bot_panel
        from inbox.panels import conversation_side

        conversation_side.register("bot", context=bot_panel, template="bots/_conversation_panel.html")
        from core import assets

        assets.register("inbox.workspace", css=("bots/panel.css",))
        from automation.rule_spec import register_action
        from bots.rule_action import HINT, SPEC, VALUE, start_flow

        register_action("start_bot_flow", SPEC, start_flow, value=VALUE, hint=HINT)
