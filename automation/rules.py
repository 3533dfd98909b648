"""Automation rules (issue 16): when an event happens and the rule's conditions hold, its actions run.

How an event reaches the rules, without costing the inbox's hot path more than an INSERT:

1. `on_event` is subscribed *in the emitting transaction* to every event a rule may listen to (RuleEvent). When
   some active rule listens to that type (a per-process answer trusted for ACTIVE_TTL seconds) it stores the event
   as a RuleTrigger — committed or rolled back with the action that emitted it — and enqueues its evaluation after
   commit. Installations without rules pay one dictionary lookup.
2. The worker (`do_process_trigger`) claims the trigger with a compare-and-set on `processed_at` and, in that same
   transaction, evaluates the event's rules in order and runs the actions of those that apply: a worker killed
   half-way leaves the trigger unclaimed, nothing done; a second worker finds it claimed. The periodic sweep takes
   triggers whose task was lost (`do_process_waiting`).
3. Each applied or held-back rule writes an AutomationRun (what each action did, or why not) and a translated
   line on the conversation's history.

Loop protection: while a rule's actions run, `_chain` names the rules on the way; events those actions emit are
stored with that chain. A rule already on the chain never runs again for it, a rule that writes to the customer
never runs for an event a rule caused (a message sent by a rule never triggers rules that send messages), and a
chain is cut at MAX_CHAIN rules.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property, partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.hours import next_opening
from accounts.models import Team, User
from accounts.roles import Perm
from automation import actions as automation_actions
from automation import schedules, sequences, tasks
from automation.choices import AUTOMATIC_PER_HOUR, RuleEvent, RuleFrequency, RuleMatch, RunOutcome
from automation.models import (
    AutomationRule,
    AutomationRun,
    RuleTrigger,
    ScheduledMessage,
    ScheduledMessageEvent,
    Sequence,
)
from automation.rule_spec import (
    ACTIONS,
    CONDITIONS,
    EXTRA_PERFORM,
    action_text,
    clean_rule_parts,
    clean_schedule,
    condition_text,
    detail_text,
    keyword_pattern,
)
from automation.variables import Values, render
from connectors.whatsapp.actions import prepare_template
from connectors.whatsapp.models import MessageTemplate
from connectors.whatsapp.window import free_text_allowed, number_for
from core import audit
from core.errors import ActionError, NotFoundError
from core.events import DomainEvent
from core.perms import require_perm
from core.tasks import enqueue_on_commit
from core.text import fold
from core.validators import check_text
from customers.actions import apply_tags
from customers.models import Customer
from customers.segments import segments_of
from inbox.actions import (
    can_reply,
    do_add_system_note,
    do_assign,
    do_create_task,
    do_escalate,
    do_move_to_inbox,
    do_record_event,
    do_send_automatic,
    do_set_associations,
    pick_agent,
)
from inbox.choices import Channel, ConversationState, MessageKind
from inbox.models import Conversation, Inbox, Message
from inbox.people import can_take, hours_team
from leads.models import Lead
from orders.models import Order
from webhooks.actions import do_queue_message

logger = logging.getLogger(__name__)

ACTIVE_TTL = 5.0  # seconds a process trusts its answer to "which events have active rules?"
MAX_CHAIN = 3
TEXT_SCAN_MAX = 4096  # characters of a message the text conditions read
SWEEP_AFTER = timedelta(seconds=30)  # a trigger still waiting this long lost its task: the sweep takes it
_active: dict[str, Any] = {"until": 0.0, "events": frozenset()}
_chain: ContextVar[tuple[int, ...]] = ContextVar("automation_rule_chain", default=())


# --- from the event to a trigger -------------------------------------------------------------------------------


def active_events() -> frozenset[str]:
    now = time.monotonic()
    if now >= _active["until"]:
        _active["events"] = frozenset(AutomationRule.objects.filter(active=True).values_list("event", flat=True))
        _active["until"] = now + ACTIVE_TTL
    events: frozenset[str] = _active["events"]
    return events


def forget_rules() -> None:
    """Saving a rule forgets the answer in its own process (the others ask again within ACTIVE_TTL)."""
    _active["until"] = 0.0


def on_event(event: DomainEvent) -> None:
    """Subscriber of every RuleEvent type, in the emitting transaction (core.events)."""
    if event.type not in active_events():
        return
    # No savepoint of its own (two more round trips on the intake's path): this row can fail only where the event
    # log's own row, with the same payload, a moment earlier in the same transaction, would have failed first.
    trigger = RuleTrigger.objects.create(event=event.type, payload=event.payload(), chain=list(_chain.get()))
    enqueue_on_commit(tasks.run_rules, trigger.pk)


# --- what a rule looks at ----------------------------------------------------------------------------------


@dataclass
class Context:
    """The event as the rules see it: the conversation it concerns (or the customer's latest one), the customer,
    the message's text, the order. Lookups are lazy: a rule without a tag condition never reads tags."""

    event: str
    payload: dict[str, Any]
    conversation: Conversation | None = None
    customer: Customer | None = None
    body: str = ""
    order: Order | None = None
    now: datetime = field(default_factory=timezone.now)
    sample: bool = False  # the test box: nothing about a customer or conversation is known
    channel_override: str = ""
    inbox_override: str = ""

    @property
    def channel(self) -> str:
        return self.channel_override or (self.conversation.channel if self.conversation else "")

    @property
    def inbox_code(self) -> str:
        return self.inbox_override or (self.conversation.inbox.code if self.conversation else "")

    @cached_property
    def folded(self) -> str:
        return fold(self.body[:TEXT_SCAN_MAX])

    @cached_property
    def team(self) -> Team | None:
        if self.conversation is not None:
            return hours_team(self.conversation.inbox)
        inbox = Inbox.objects.filter(code=self.inbox_override).first() if self.inbox_override else None
        return hours_team(inbox) if inbox else None

    @cached_property
    def open_now(self) -> bool:
        opening = next_opening(self.team, self.now)
        return opening is not None and opening <= self.now

    @cached_property
    def customer_tags(self) -> set[str]:
        return {fold(n) for n in self.customer.tags.values_list("name", flat=True)} if self.customer else set()

    @cached_property
    def customer_segments(self) -> set[str]:
        if self.customer is None:
            return set()
        return {fold(s.code) for s in segments_of([self.customer.pk]).get(self.customer.pk, [])}

    @cached_property
    def conversation_tags(self) -> set[str]:
        return ({fold(n) for n in self.conversation.tags.values_list("name", flat=True)}
                if self.conversation else set())

    @cached_property
    def first_message(self) -> bool:
        """The customer wrote to us for the first time (this is their only message on any channel)."""
        if self.customer is None:
            return False
        inbound = Message.objects.filter(conversation__customer=self.customer, kind=MessageKind.INBOUND)
        message_id = _int(self.payload.get("message_id")) if self.event == RuleEvent.MESSAGE_RECEIVED else None
        if message_id is not None:  # none before this one (later ones may exist by the time the worker looks)
            return not inbound.filter(pk__lt=message_id).exists()
        first = inbound.order_by("pk").values_list("conversation_id", flat=True).first()
        return first is not None and self.conversation is not None and first == self.conversation.pk

    @cached_property
    def started_by_customer(self) -> bool:
        if self.conversation is None:
            return True
        kind = (Message.objects.filter(conversation=self.conversation).exclude(kind=MessageKind.NOTE)
                .order_by("created_at", "pk").values_list("kind", flat=True).first())
        return kind != MessageKind.OUTBOUND


def _latest_conversation(customer_id: int | None) -> Conversation | None:
    """Where a rule about a customer (tagged, an order, a call note) writes: their latest written conversation."""
    if customer_id is None:
        return None
    return (Conversation.objects.select_related("customer", "inbox", "assignee")
            .filter(customer_id=customer_id, import_ref="").exclude(channel=Channel.PHONE)
            .order_by("-last_activity_at", "-pk").first())


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def build_context(event: str, payload: dict[str, Any]) -> Context:
    ctx = Context(event=event, payload=payload, body=str(payload.get("body") or ""))
    conversation_id = _int(payload.get("conversation_id"))
    if isinstance(conversation_id, int):
        ctx.conversation = (Conversation.objects.select_related("customer", "inbox", "assignee")
                            .filter(pk=conversation_id).first())
    customer_id = _int(payload.get("customer_id"))
    if event == RuleEvent.LEAD_NOTED:
        customer_id = Lead.objects.filter(pk=_int(payload.get("lead_id")) or 0).values_list(
            "customer_id", flat=True).first()
    if event == RuleEvent.ORDER_CONFIRMED:
        ctx.order = Order.objects.select_related("conversation").filter(pk=_int(payload.get("order_id")) or 0).first()
        order_conversation = ctx.order.conversation if ctx.order is not None else None
        if order_conversation is not None and order_conversation.channel != Channel.PHONE:
            ctx.conversation = (Conversation.objects.select_related("customer", "inbox", "assignee")
                                .filter(pk=order_conversation.pk).first())
    if ctx.conversation is None and isinstance(customer_id, int):
        ctx.conversation = _latest_conversation(customer_id)
    if ctx.conversation is not None:
        ctx.customer = ctx.conversation.customer
    elif isinstance(customer_id, int):
        ctx.customer = Customer.objects.filter(pk=customer_id).first()
    return ctx


# --- conditions ------------------------------------------------------------------------------------------------

# Conditions the test box cannot know for a sample message (no customer, no conversation): counted as met there.
SAMPLE_UNKNOWN = frozenset({"customer_tag", "conversation_tag", "priority", "state", "first_message", "started_by",
                            "idle_hours", "customer_segment", "customer_language"})


def _in(values: list[str], actual: str) -> bool:
    return fold(actual) in {fold(v) for v in values}


def _text(ctx: Context, op: str, value: Any) -> bool:
    if op == "matches":
        pattern = re.compile(str(value), re.IGNORECASE)
        return bool(pattern.search(ctx.body[:TEXT_SCAN_MAX]) or pattern.search(ctx.folded))
    found = bool(keyword_pattern(list(value)).search(ctx.folded))
    return found if op == "contains" else not found


def _idle(ctx: Context, op: str, hours: Any) -> bool:
    """Hours since the conversation's last activity (a message either way, a change): at least / less than."""
    if ctx.conversation is None or not isinstance(hours, int):
        return False
    idle = ctx.now - ctx.conversation.last_activity_at >= timedelta(hours=hours)
    return idle if op == "at_least" else not idle


def _tags(tags: set[str], op: str, value: Any) -> bool:
    found = bool(tags & {fold(v) for v in value})
    return found if op == "has" else not found


CHECKS: dict[str, Callable[[Context, str, Any], bool]] = {
    "channel": lambda ctx, op, value: _in(value, ctx.channel) == (op == "is"),
    "inbox": lambda ctx, op, value: _in(value, ctx.inbox_code) == (op == "is"),
    "text": _text,
    "business_hours": lambda ctx, op, value: ctx.open_now == (op == "inside"),
    "customer_tag": lambda ctx, op, value: _tags(ctx.customer_tags, op, value),
    "conversation_tag": lambda ctx, op, value: _tags(ctx.conversation_tags, op, value),
    "priority": lambda ctx, op, value: (ctx.conversation is not None
                                        and _in(value, ctx.conversation.priority) == (op == "is")),
    "state": lambda ctx, op, value: (ctx.conversation is not None
                                     and _in(value, ctx.conversation.state) == (op == "is")),
    "first_message": lambda ctx, op, value: ctx.first_message == (op == "yes"),
    "started_by": lambda ctx, op, value: ctx.started_by_customer == (op == "customer"),
    "idle_hours": _idle,
    "customer_segment": lambda ctx, op, value: _tags(ctx.customer_segments, op, value),
    "customer_language": lambda ctx, op, value: (ctx.customer is not None
                                                 and _in(value, ctx.customer.language) == (op == "is")),
}
assert set(CHECKS) == set(CONDITIONS)


@dataclass
class Verdict:
    matched: bool
    failed: list[dict[str, Any]] = field(default_factory=list)  # the conditions that did not hold
    unchecked: list[dict[str, Any]] = field(default_factory=list)  # the test box's unknowns


def evaluate(rule: AutomationRule, ctx: Context, *, explain: bool = False) -> Verdict:
    """Whether the rule's conditions hold for `ctx`. The worker stops at the first condition that decides (all: one
    that fails; any: one that holds); `explain` (the test box) checks every one, to list what failed."""
    results: list[bool] = []
    verdict = Verdict(matched=False)
    decisive = rule.match != RuleMatch.ALL
    for condition in rule.conditions:
        if ctx.sample and (condition["field"] in SAMPLE_UNKNOWN
                           or (condition["field"] == "business_hours" and not ctx.inbox_override)):
            verdict.unchecked.append(condition)
            results.append(True)
            continue
        try:
            held = CHECKS[condition["field"]](ctx, condition["op"], condition["value"])
        except (KeyError, re.error, TypeError):  # a rule stored before a change of the vocabulary
            held = False
        results.append(held)
        if not held:
            verdict.failed.append(condition)
        if not explain and held == decisive:
            break
    verdict.matched = (all(results) if rule.match == RuleMatch.ALL else any(results)) if results else True
    return verdict


# --- held back ---------------------------------------------------------------------------------------------


def sends(rule: AutomationRule) -> bool:
    return any(ACTIONS[a["type"]].sends for a in rule.actions if a.get("type") in ACTIONS)


def held_reason(rule: AutomationRule, ctx: Context, chain: tuple[int, ...]) -> str:
    """Why a rule whose conditions hold does not act now ("" when it does): loop protection, its frequency, its
    cooldown."""
    if rule.pk in chain or len(chain) >= MAX_CHAIN or (chain and sends(rule)):
        return "loop"
    applied = AutomationRun.objects.filter(rule=rule, outcome=RunOutcome.APPLIED)
    if rule.frequency == RuleFrequency.CONVERSATION and ctx.conversation is not None and applied.filter(
            conversation=ctx.conversation).exists():
        return "frequency"
    if rule.frequency == RuleFrequency.CUSTOMER and ctx.customer is not None and applied.filter(
            customer=ctx.customer).exists():  # (the customer's row is locked: do_process_trigger)
        return "frequency"
    if rule.cooldown_seconds:
        scope = ({"conversation": ctx.conversation} if ctx.conversation is not None
                 else {"customer": ctx.customer} if ctx.customer is not None else {})
        if applied.filter(created_at__gt=ctx.now - timedelta(seconds=rule.cooldown_seconds), **scope).exists():
            return "cooldown"
    return ""


def held_text(reason: str) -> str:
    return {"loop": _("Protección contra bucles: el evento lo causó una regla"),
            "frequency": _("Ya se aplicó antes (frecuencia de la regla)"),
            "cooldown": _("Se aplicó hace poco (espera entre ejecuciones)")}.get(reason, reason)


# --- actions -------------------------------------------------------------------------------------------------


class Skip(Exception):
    """Why an action did not run, kept in every language (a run is read by people in either)."""

    def __init__(self, reason: Any, arg: Any = None) -> None:
        super().__init__(str(reason))
        self.reason, self.arg = reason, arg

    def texts(self) -> dict[str, str]:
        found = {}
        for code, _name in settings.LANGUAGES:
            with translation.override(code):
                found[code] = (str(self.reason) % self.arg if self.arg is not None else str(self.reason))[:300]
        return found


def _rendered(ctx: Context, text: str) -> str:
    result = render(text, conversation=ctx.conversation, agent=None,
                    values=Values(ctx.conversation, None, order=ctx.order, customer=ctx.customer))
    if result.missing:
        raise Skip(gettext_lazy("Faltan datos para %s"), ", ".join(result.missing))
    return result.body


def _template(ctx: Context, action: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The WhatsApp template the action names, filled with its variables (themselves rendered)."""
    assert ctx.conversation is not None
    template = _approved_template(ctx.conversation, action["template"])
    if template is None:
        raise Skip(gettext_lazy("La plantilla «%s» no existe o no está aprobada"), action["template"])
    values = {key: _rendered(ctx, value) for key, value in (action.get("variables") or {}).items()}
    return prepare_template(ctx.conversation, template_id=template.pk, values=values)


def _content(ctx: Context, action: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What a sending action writes: its text, or its template when it has no text or WhatsApp's 24-hour window
    is closed — never free text outside the window (Chatwoot's rules fail there: #9224)."""
    c = ctx.conversation
    assert c is not None
    if not can_reply(c):
        raise Skip(gettext_lazy("Una llamada no se responde por escrito"))
    whatsapp_closed = c.channel == Channel.WHATSAPP and not free_text_allowed(c)
    if action.get("template") and (whatsapp_closed or not action.get("body")):
        if c.channel != Channel.WHATSAPP:
            if not action.get("body"):
                raise Skip(gettext_lazy("Las plantillas son de WhatsApp y esta conversación es de otro canal"))
        else:
            return _template(ctx, action)
    if whatsapp_closed:
        raise Skip(gettext_lazy("La ventana de 24 horas de WhatsApp está cerrada y la regla no tiene plantilla"))
    return _rendered(ctx, action["body"]), {}


def _meta(rule: AutomationRule) -> dict[str, Any]:
    return {"automation": {"rule": rule.pk, "name": rule.name}}


def _send_message(rule: AutomationRule, ctx: Context, action: dict[str, Any]) -> str:
    assert ctx.conversation is not None
    if automation_actions.automatic_cap_reached(ctx.conversation, ctx.now):
        raise Skip(gettext_lazy("Ya se enviaron %s mensajes automáticos en la última hora a esta conversación"),
                   AUTOMATIC_PER_HOUR)
    body, meta = _content(ctx, action)
    do_send_automatic(ctx.conversation, body=body, meta={**meta, **_meta(rule)})
    return ""


def _approved_template(c: Conversation, name: str) -> MessageTemplate | None:
    number = number_for(c)
    return (MessageTemplate.objects.filter(name=name, waba_id=number.waba_id if number else "",
                                           status__iexact="APPROVED").order_by("pk").first())


def schedule_automatic(ctx: Context, rule: AutomationRule | None, name: str, part: dict[str, Any], *,
                       send_at: datetime, enrollment: Any = None, step: int | None = None) -> ScheduledMessage:
    """A message the system sends later (a rule's "schedule a message", a sequence's step): its text rendered now
    (a missing value skips it: never "{{…}}"), and on WhatsApp its template too, so the worker sends the text
    while the customer's window is open and the template after (automation.actions.do_send_scheduled)."""
    c = ctx.conversation
    assert c is not None
    if not can_reply(c):
        raise Skip(gettext_lazy("Una llamada no se responde por escrito"))
    body = _rendered(ctx, part["body"]) if part.get("body") else ""
    template = _approved_template(c, part["template"]) if part.get("template") and c.channel == Channel.WHATSAPP \
        else None
    if part.get("template") and c.channel == Channel.WHATSAPP and template is None and not body:
        raise Skip(gettext_lazy("La plantilla «%s» no existe o no está aprobada"), part["template"])
    values = ({key: _rendered(ctx, value) for key, value in (part.get("variables") or {}).items()}
              if template is not None else {})
    if not body and template is None:
        raise Skip(gettext_lazy("Las plantillas son de WhatsApp y esta conversación es de otro canal"))
    scheduled = ScheduledMessage.objects.create(
        conversation=c, author=None, rule=rule, rule_name=name[:100], body=body, template=template,
        template_name=template.name if template else "", variables=values, send_at=send_at, enrollment=enrollment,
        step=step)
    ScheduledMessageEvent.objects.create(scheduled=scheduled, kind="scheduled", actor=None,
                                         data={"send_at": send_at.isoformat(), "rule": rule.pk if rule else None})
    automation_actions.enqueue_scheduled(scheduled)
    return scheduled


def _schedule_message(rule: AutomationRule, ctx: Context, action: dict[str, Any]) -> str:
    send_at = ctx.now + timedelta(minutes=int(action["delay_minutes"]))
    return schedule_automatic(ctx, rule, rule.name, action, send_at=send_at).send_at.isoformat()


def _add_note(rule: AutomationRule, ctx: Context, action: dict[str, Any]) -> str:
    assert ctx.conversation is not None
    do_add_system_note(ctx.conversation, body=_rendered(ctx, action["body"]), meta=_meta(rule))
    return ""


def _tag(rule: AutomationRule, ctx: Context, action: dict[str, Any]) -> str:
    c = ctx.conversation
    assert c is not None
    names = list(c.tags.values_list("name", flat=True))
    wanted = action["tag"]
    if action["type"] == "add_tag":
        if fold(wanted) in {fold(n) for n in names}:
            raise Skip(gettext_lazy("Ya tenía la etiqueta"))
        names.append(wanted)
    else:
        kept = [n for n in names if fold(n) != fold(wanted)]
        if len(kept) == len(names):
            raise Skip(gettext_lazy("No tenía la etiqueta"))
        names = kept
    do_set_associations(c, tags=names, acting_user=None)
    return ""


def _tag_customer(rule: AutomationRule, ctx: Context, action: dict[str, Any]) -> str:
    if ctx.customer is None:
        raise Skip(gettext_lazy("El evento no tiene cliente"))
    apply_tags(ctx.customer, [action["tag"]], acting_user=None)
    return ""


def _priority(rule: AutomationRule, ctx: Context, action: dict[str, Any]) -> str:
    assert ctx.conversation is not None
    if fold(action["priority"]) == ctx.conversation.priority:
        raise Skip(gettext_lazy("Ya tenía esa prioridad"))
    do_set_associations(ctx.conversation, priority=fold(action["priority"]), acting_user=None)
    return ""


def _assign(rule: AutomationRule, ctx: Context, action: dict[str, Any]) -> str:
    c = ctx.conversation
    assert c is not None
    if c.inbox.is_global and action["agent"] == "auto":
        raise Skip(gettext_lazy("La bandeja Global no reparte conversaciones"))
    if action["agent"] == "auto":
        agent = pick_agent(c.inbox)
        if agent is None:
            raise Skip(gettext_lazy("No hay agentes disponibles con capacidad en la bandeja"))
    else:
        agent = User.objects.filter(username=action["agent"], is_active=True).first()
        if agent is None or not can_take(agent, c.inbox):
            raise Skip(gettext_lazy("«%s» no existe o no atiende esta bandeja"), action["agent"])
    if agent.pk == c.assignee_id:
        raise Skip(gettext_lazy("Ya estaba asignada a %s"), agent.display_name)
    do_assign(c, agent, acting_user=None)
    return str(agent.pk)


def _move(rule: AutomationRule, ctx: Context, action: dict[str, Any]) -> str:
    c = ctx.conversation
    assert c is not None
    inbox = Inbox.objects.filter(code=action["inbox"]).first()
    if inbox is None:
        raise Skip(gettext_lazy("La bandeja «%s» no existe"), action["inbox"])
    if inbox.pk == c.inbox_id:
        raise Skip(gettext_lazy("Ya estaba en esa bandeja"))
    owner = c.assignee if c.assignee is not None and can_take(c.assignee, inbox) else None
    if owner is None and not inbox.is_global:
        owner = pick_agent(inbox) if inbox.auto_assign else None
        if owner is None:  # outside Global a conversation always has someone responsible (as a transfer requires)
            raise Skip(gettext_lazy("Nadie de la bandeja «%s» puede recibirla ahora"), inbox.name)
    do_move_to_inbox(c, inbox, assignee=owner, acting_user=None, comment=rule.name)
    return ""


def _escalate(rule: AutomationRule, ctx: Context, action: dict[str, Any]) -> str:
    c = ctx.conversation
    assert c is not None
    if c.state in (ConversationState.ESCALATED, ConversationState.RESOLVED):
        raise Skip(gettext_lazy("La conversación ya está escalada o resuelta"))
    supervisor = do_escalate(c, acting_user=None, comment=action.get("comment") or rule.name, reason="automation")
    return str(supervisor.pk) if supervisor else ""


def _task(rule: AutomationRule, ctx: Context, action: dict[str, Any]) -> str:
    c = ctx.conversation
    assert c is not None
    if c.assignee is None:
        raise Skip(gettext_lazy("La conversación no tiene responsable para la tarea"))
    do_create_task(c, title=_rendered(ctx, action["title"]), responsible=c.assignee, acting_user=None)
    return ""


def _webhook(rule: AutomationRule, ctx: Context, action: dict[str, Any]) -> str:
    message = do_queue_message(int(action["endpoint"]), event=ctx.event,
                               payload={**ctx.payload, "rule": {"id": rule.pk, "name": rule.name}})
    if message is None:
        raise Skip(gettext_lazy("El webhook saliente %s no existe o está inactivo"), action["endpoint"])
    return ""


def _start_sequence(rule: AutomationRule, ctx: Context, action: dict[str, Any]) -> str:
    c = ctx.conversation
    assert c is not None
    sequence = Sequence.objects.filter(pk=int(action["sequence"]), active=True).first()
    if sequence is None:
        raise Skip(gettext_lazy("La secuencia ya no existe o está inactiva"))
    if sequence.stop_on_close and c.state == ConversationState.RESOLVED:
        raise Skip(gettext_lazy("La conversación está resuelta y la secuencia «%s» se detiene al resolverse"),
                   sequence.name)
    enrollment = sequences.do_enroll(sequence, c, rule=rule)
    if enrollment is None:
        raise Skip(gettext_lazy("La conversación ya está en la secuencia «%s»"), sequence.name)
    for index, step in enumerate(sequence.steps, start=1):  # a step that cannot be written undoes them all
        schedule_automatic(ctx, rule, sequence.name, step, send_at=ctx.now + timedelta(minutes=step["delay_minutes"]),
                           enrollment=enrollment, step=index)
    sequences.started(enrollment, steps=len(sequence.steps))
    return str(enrollment.pk)


PERFORM: dict[str, Callable[[AutomationRule, Context, dict[str, Any]], str]] = {
    "send_message": _send_message, "schedule_message": _schedule_message, "add_note": _add_note,
    "add_tag": _tag, "remove_tag": _tag, "tag_customer": _tag_customer, "set_priority": _priority,
    "assign": _assign, "move_inbox": _move, "escalate": _escalate, "create_task": _task, "webhook": _webhook,
    "start_sequence": _start_sequence,
}
assert set(PERFORM) <= set(ACTIONS)  # the rest: actions of apps above automation (rule_spec.register_action)


def _perform(rule: AutomationRule, ctx: Context, action: dict[str, Any]) -> dict[str, Any]:
    """One action in its own savepoint: a refused or failed action leaves nothing half-written and never stops
    the rule's other actions."""
    kind = action.get("type", "")
    spec = ACTIONS.get(kind)
    if spec is None:
        return {"type": kind, "result": "failed", "detail": Skip(gettext_lazy("Acción desconocida")).texts()}
    if spec.needs_conversation and ctx.conversation is None:
        return {"type": kind, "result": "skipped",
                "detail": Skip(gettext_lazy("El cliente no tiene una conversación escrita")).texts()}
    try:
        with transaction.atomic():
            detail = (PERFORM.get(kind) or EXTRA_PERFORM[kind])(rule, ctx, action)
        return {"type": kind, "result": "done", "detail": detail}
    except Skip as skip:
        return {"type": kind, "result": "skipped", "detail": skip.texts()}
    except ActionError as exc:
        return {"type": kind, "result": "skipped", "detail": str(exc.message)[:300]}
    except Exception:
        logger.exception("automation rule %s: action %s failed", rule.pk, kind)
        return {"type": kind, "result": "failed",
                "detail": Skip(gettext_lazy("Error interno; quedó en el registro del servidor")).texts()}


# --- running the rules of an event -------------------------------------------------------------------------


def rules_for(event: str) -> list[AutomationRule]:
    return list(AutomationRule.objects.filter(active=True, event=event).order_by("position", "pk"))


def _count_run(rule_id: int, at: datetime) -> None:
    AutomationRule.objects.filter(pk=rule_id).update(run_count=F("run_count") + 1, last_run_at=at)


def _apply(rule: AutomationRule, ctx: Context, trigger: RuleTrigger | None, chain: tuple[int, ...]) -> AutomationRun:
    reason = held_reason(rule, ctx, chain)
    results: list[dict[str, Any]] = []
    if not reason:
        token = _chain.set((*chain, rule.pk))
        try:
            with translation.override(settings.LANGUAGE_CODE):
                results = [_perform(rule, ctx, action) for action in rule.actions]
        finally:
            _chain.reset(token)
    outcome = (RunOutcome.HELD if reason else RunOutcome.FAILED if any(r["result"] == "failed" for r in results)
               else RunOutcome.APPLIED if any(r["result"] == "done" for r in results) else RunOutcome.SKIPPED)
    run = AutomationRun.objects.create(rule=rule, event=ctx.event, trigger=trigger, conversation=ctx.conversation,
                                       customer=ctx.customer, outcome=outcome, reason=reason, actions=results,
                                       created_at=ctx.now)
    if outcome == RunOutcome.APPLIED:
        # After commit, in a statement of its own: the rule's row is not held locked for the rest of the evaluation
        # (every worker applying a popular rule would queue on it). A lost count is a statistic, not a run.
        transaction.on_commit(partial(_count_run, rule.pk, ctx.now))
    if ctx.conversation is not None and (not reason or reason == "loop"):
        do_record_event(ctx.conversation, "rule_applied", actor=None, rule=rule.pk, name=rule.name,
                        outcome=outcome.value, reason=reason, actions=results)
    return run


def do_process_trigger(trigger_id: int) -> int:
    """Evaluates one stored event against the active rules of its type, once (see the module's docstring).
    Returns how many rules acted or were held back."""
    now = timezone.now()
    with transaction.atomic():
        if not RuleTrigger.objects.filter(pk=trigger_id, processed_at__isnull=True).update(processed_at=now):
            return 0  # processed already (the task and the sweep both ran), or gone
        trigger = RuleTrigger.objects.get(pk=trigger_id)
        rules = rules_for(trigger.event)
        if trigger.event == RuleEvent.SCHEDULE:  # one rule's time came: only that rule, only while still current
            rules = [rule for rule in rules if rule.pk == trigger.payload.get("rule_id")
                     and schedules.is_current(rule, trigger.payload.get("slot"), now)]
        if not rules:
            return 0
        ctx = build_context(trigger.event, trigger.payload)
        # Conditions first, on what was read (a slow expression holds no lock); then one lock on the conversation
        # for every action of every rule that matched.
        matched = [rule for rule in rules if evaluate(rule, ctx).matched]
        if matched and ctx.customer is not None:
            # The customer, then the conversation: the intake's order (a second message of the same customer
            # arriving meanwhile waits instead of deadlocking), and two conversations of one customer evaluated at
            # once (WhatsApp and email) take turns for "once per customer".
            Customer.objects.select_for_update().filter(pk=ctx.customer.pk).first()
        if matched and ctx.conversation is not None:
            if Conversation.objects.select_for_update().filter(pk=ctx.conversation.pk).first() is None:
                return 0  # deleted meanwhile: nothing to act on
            ctx.conversation.refresh_from_db()
        chain = tuple(int(r) for r in trigger.chain if isinstance(r, int))
        count = 0
        for rule in matched:
            run = _apply(rule, ctx, trigger, chain)
            count += 1
            if rule.stop_after and run.outcome != RunOutcome.HELD:
                break
    return count


MAX_ATTEMPTS = 5


def do_process_waiting(*, now: datetime | None = None, limit: int = 500) -> int:
    """The safety net (every 30 s): triggers whose task was lost (the queue was down, the process died). One that
    keeps failing is tried MAX_ATTEMPTS times by the sweep, then set aside with its error (logged), so it never
    holds back the others."""
    now = now or timezone.now()
    waiting = list(RuleTrigger.objects.filter(processed_at__isnull=True, created_at__lt=now - SWEEP_AFTER)
                   .order_by("pk").values_list("pk", "attempts")[:limit])
    done = 0
    for pk, attempts in waiting:
        RuleTrigger.objects.filter(pk=pk).update(attempts=attempts + 1)
        try:
            done += do_process_trigger(pk)
        except Exception as exc:
            logger.exception("automation trigger %s failed (attempt %s)", pk, attempts + 1)
            gave_up = {"processed_at": timezone.now()} if attempts + 1 >= MAX_ATTEMPTS else {}
            RuleTrigger.objects.filter(pk=pk, processed_at__isnull=True).update(
                error=f"{type(exc).__name__}: {exc}"[:300], **gave_up)
    return done


PROCESSED_KEEP = timedelta(days=7)
RUNS_KEEP = timedelta(days=180)


def do_prune(*, now: datetime | None = None) -> int:
    """Forgets processed triggers after a week and runs after six months (daily)."""
    now = now or timezone.now()
    triggers, _rows = RuleTrigger.objects.filter(processed_at__lt=now - PROCESSED_KEEP).delete()
    runs, _rows = AutomationRun.objects.filter(created_at__lt=now - RUNS_KEEP).delete()
    return triggers + runs


# --- the test box --------------------------------------------------------------------------------------------


@dataclass
class Simulation:
    rule: AutomationRule
    verdict: Verdict
    actions: list[str]

    @property
    def failed_texts(self) -> list[str]:
        return [condition_text(c) for c in self.verdict.failed]

    @property
    def unchecked_texts(self) -> list[str]:
        return [condition_text(c) for c in self.verdict.unchecked]


def simulate(*, event: str, message: str, channel: str, inbox: str = "", at: datetime | None = None
             ) -> list[Simulation]:
    """Which rules of `event` would fire for a sample message (inactive ones too, marked: a preset is tried before
    it is turned on), in order and with their actions — without doing anything. What the sample cannot tell (the
    customer's tags, a first message…) counts as met and is listed. Evaluation stops after a "stop" rule, as the
    worker's would."""
    ctx = Context(event=event, payload={}, body=message, now=at or timezone.now(), sample=True,
                  channel_override=channel, inbox_override=inbox)
    results = []
    for rule in AutomationRule.objects.filter(event=event).order_by("position", "pk"):
        verdict = evaluate(rule, ctx, explain=True)
        results.append(Simulation(rule, verdict, [action_text(a) for a in rule.actions]))
        if verdict.matched and rule.stop_after and rule.active:
            break
    return results


def run_action_texts(results: list[dict[str, Any]]) -> list[dict[str, str]]:
    """A run's actions as sentences (the rule's page and the conversation's history)."""
    labels = {"done": _("hecho"), "skipped": _("omitido"), "failed": _("error")}
    return [{"action": str(ACTIONS[r["type"]].label) if r.get("type") in ACTIONS else str(r.get("type")),
             "result": r.get("result", ""), "result_label": str(labels.get(r.get("result", ""), "")),
             "detail": detail_text(r.get("detail")) if r.get("result") != "done" else ""}
            for r in results if isinstance(r, dict)]



# --- keeping rules (supervisors) -----------------------------------------------------------------------------


@dataclass
class RuleInput:
    name: str
    event: str
    actions: list[Any]
    conditions: list[Any] = field(default_factory=list)
    match: str = RuleMatch.ALL
    active: bool = False
    position: int | None = None
    stop_after: bool = False
    frequency: str = RuleFrequency.EVERY_TIME
    cooldown_seconds: int | None = None
    description: str = ""
    schedule: dict[str, Any] = field(default_factory=dict)  # the event "schedule": {"days", "time"}


RULE_FIELDS = ("name", "description", "event", "match", "conditions", "actions", "active", "position", "stop_after",
               "frequency", "cooldown_seconds", "schedule")
COOLDOWN_MAX = 30 * 24 * 3600


def access_rule(acting_user: User, rule_id: int, *, lock: bool = False) -> AutomationRule:
    require_perm(acting_user, Perm.INBOX_SUPERVISE)
    qs = AutomationRule.objects.select_for_update() if lock else AutomationRule.objects.all()
    rule = qs.filter(pk=rule_id).first()
    if rule is None:
        raise NotFoundError("rule_not_found", _("La regla no existe."))
    return rule


def _clean(data: RuleInput) -> dict[str, Any]:
    name = check_text(data.name.strip(), field="name", label=_("El nombre"), max_length=100)
    if not name:
        raise ActionError("missing_fields", _("Escriba un nombre para la regla."), field="name")
    description = check_text(data.description.strip(), field="description", label=_("La descripción"),
                             max_length=300)
    if data.event not in RuleEvent.values:
        raise ActionError("invalid_event", _("Evento desconocido: %s") % str(data.event)[:40], field="event")
    if data.match not in RuleMatch.values:
        raise ActionError("invalid_match", _("Elija todas o cualquiera de las condiciones."), field="match")
    if data.frequency not in RuleFrequency.values:
        raise ActionError("invalid_frequency", _("Frecuencia desconocida."), field="frequency")
    if data.cooldown_seconds is not None and not 0 <= data.cooldown_seconds <= COOLDOWN_MAX:
        raise ActionError("invalid_cooldown", _("La espera entre ejecuciones va de 0 a 30 días."),
                          field="cooldown_seconds")
    if data.position is not None and not 0 <= data.position <= 100_000:
        raise ActionError("invalid_position", _("El orden va de 0 a 100000."), field="position")
    conditions, actions = clean_rule_parts(data.conditions, data.actions)
    return {"name": name, "description": description, "event": data.event, "match": data.match,
            "conditions": conditions, "actions": actions, "active": bool(data.active),
            "stop_after": bool(data.stop_after), "frequency": data.frequency,
            "cooldown_seconds": data.cooldown_seconds or None, "schedule": clean_schedule(data.schedule, data.event)}


def check_save_rule(acting_user: User, data: RuleInput, *, rule_id: int | None = None) -> AutomationRule:
    """Creates or replaces a rule (supervisors and administrators). A new rule goes last among its event's unless
    a position is given; the audit log keeps what changed."""
    require_perm(acting_user, Perm.INBOX_SUPERVISE)
    values = _clean(data)
    with transaction.atomic():
        if rule_id is None:
            last = (AutomationRule.objects.filter(event=values["event"]).order_by("-position")
                    .values_list("position", flat=True).first())
            position = data.position if data.position is not None else (last + 10 if last is not None else 10)
            rule = AutomationRule.objects.create(**values, position=position, created_by=acting_user,
                                                 **schedules.past_slot_values(values["event"], values["schedule"]))
            audit.record(actor=acting_user, action="automation_rule.created", target=rule,
                         changes={"event": rule.event, "active": rule.active})
        else:
            rule = access_rule(acting_user, rule_id, lock=True)
            if data.position is not None:
                values["position"] = data.position
            changes = {key: [getattr(rule, key), value] for key, value in values.items()
                       if getattr(rule, key) != value}
            if {"event", "schedule", "active"} & set(changes):  # a time already past is not run now
                past = schedules.past_slot_values(values["event"], values["schedule"])
                if past["schedule_slot"] != rule.schedule_slot:  # (same time: a run under way goes on)
                    values.update(past)
            for key, value in values.items():
                setattr(rule, key, value)
            rule.updated_at = timezone.now()
            rule.save()
            if changes:
                audit.record(actor=acting_user, action="automation_rule.updated", target=rule,
                             changes={k: v if k not in ("conditions", "actions") else True
                                      for k, v in changes.items()})
    forget_rules()
    return rule


def check_delete_rule(acting_user: User, rule_id: int) -> None:
    with transaction.atomic():
        rule = access_rule(acting_user, rule_id, lock=True)
        audit.record(actor=acting_user, action="automation_rule.deleted", target=rule,
                     changes={"name": rule.name, "event": rule.event})
        rule.delete()
    forget_rules()


def check_test_rules(acting_user: User, *, event: str, message: str, channel: str, inbox: str = ""
                     ) -> list[Simulation]:
    """The test box: which rules would fire for a sample (see `simulate`); nothing is done or stored."""
    require_perm(acting_user, Perm.INBOX_SUPERVISE)
    if event not in RuleEvent.values:
        raise ActionError("invalid_event", _("Evento desconocido: %s") % str(event)[:40], field="event")
    if channel and channel not in Channel.values:
        raise ActionError("invalid_channel", _("Canal desconocido: %s") % str(channel)[:40], field="channel")
    check_text(message, field="message", label=_("El mensaje"), max_length=TEXT_SCAN_MAX)
    return simulate(event=event, message=message, channel=channel, inbox=inbox[:30])


def check_set_rule_active(acting_user: User, rule_id: int, *, active: bool) -> AutomationRule:
    """Turns a rule on or off (the list's switch)."""
    with transaction.atomic():
        rule = access_rule(acting_user, rule_id, lock=True)
        if rule.active != active:
            rule.active, rule.updated_at = active, timezone.now()
            for key, value in schedules.past_slot_values(rule.event, rule.schedule).items():
                setattr(rule, key, value)  # switched on: its next time, not one that passed while it was off
            rule.save(update_fields=["active", "updated_at", "schedule_slot", "schedule_cursor"])
            audit.record(actor=acting_user, action="automation_rule.updated", target=rule,
                         changes={"active": [not active, active]})
    forget_rules()
    return rule
