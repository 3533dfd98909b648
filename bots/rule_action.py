"""Automation's "start a bot flow" action (registered from bots.apps with automation.rule_spec.register_action):
a rule — out of hours, the keyword "pedido", the first message in an inbox — hands the conversation to a flow."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from automation.rule_spec import ActionSpec, NumberedValue
from automation.rules import Context, Skip
from bots.actions import do_start_run, open_run
from bots.models import BotFlow
from inbox.models import Message

SPEC = ActionSpec(gettext_lazy("Iniciar un flujo del bot"), value="flow", sends=True)
HINT = gettext_lazy("el flujo del bot (menú Bot)")


def _options() -> list[tuple[int, str]]:
    return list(BotFlow.objects.filter(published__isnull=False).order_by("name").values_list("pk", "name")[:200])


def _name_of(flow_id: int) -> str:
    name = BotFlow.objects.filter(pk=flow_id).values_list("name", flat=True).first()
    return f"«{name}»" if name else _("(el flujo ya no existe)")


VALUE = NumberedValue(options=_options, name_of=_name_of)


def start_flow(rule: Any, ctx: Context, action: dict[str, Any]) -> str:
    c = ctx.conversation
    assert c is not None
    flow = BotFlow.objects.filter(pk=int(action["flow"])).first()
    if flow is None or flow.published_id is None or not flow.enabled:
        raise Skip(gettext_lazy("El flujo del bot no existe, no está publicado o está desactivado"))
    if c.assignee_id is not None:
        raise Skip(gettext_lazy("La conversación ya la atiende %s"), c.assignee.display_name if c.assignee else "")
    if open_run(c.pk) is not None:
        raise Skip(gettext_lazy("El bot ya está hablando en esta conversación"))
    message_id = ctx.payload.get("message_id")
    message = (Message.objects.filter(pk=message_id, conversation=c).first()
               if isinstance(message_id, int) and not isinstance(message_id, bool) else None)
    run = do_start_run(flow, c, started_by=f"rule:{rule.pk}", message=message, at=ctx.now)
    if run is None:
        raise Skip(gettext_lazy("El bot no puede escribir en esta conversación"))
    return str(run.pk)
