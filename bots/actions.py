"""The chatbot's writes: flows (create, edit, publish, import, delete), runs (start, answer, pause, hand over,
expire, stop) and the reads the editor shows beside them (problems, simulation, per-step analytics).

How a customer's message reaches the bot: `on_message_received` (after commit) enqueues `bots.tasks.handle_message`
when some flow is live; `do_handle_message` locks the conversation, then either advances its open run or — the
inbox's default entry — starts one. A rule starts one with `do_start_run` (automation's "start_bot_flow" action).
An agent taking or answering the conversation stops the bot (`on_agent_acted`). Each run is pinned to the version
it started on (BotRun.version)."""

from __future__ import annotations

import difflib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User
from bots import engine, spec, tasks
from bots.choices import OPEN_STATES, RUN_TRANSITIONS, HandoffReason, RunState, VisitOutcome
from bots.events import BotFlowPublished, BotRunStarted, BotRunStateChanged
from bots.models import (
    KEYWORDS_MAX,
    NAME_MAX,
    BotFlow,
    BotFlowVersion,
    BotRun,
    BotRunTransition,
    BotStepVisit,
    BotUnrecognised,
)
from bots.runtime import LiveEffects
from core import audit
from core.errors import ActionError, ConflictError, InvalidTransition, NotFoundError
from core.events import DomainEvent, emit
from core.perms import Perm, require_perm
from core.tasks import enqueue_on_commit
from core.text import fold
from core.validators import check_text
from customers.models import Customer
from inbox.actions import can_reply, do_add_system_note
from inbox.choices import ConversationState, MessageKind
from inbox.models import Conversation, Inbox, Message

logger = logging.getLogger(__name__)
ACTIVE_TTL: Final = 5.0
EXPORT_FORMAT: Final = "centralita.bot-flow"
_live: dict[str, Any] = {"until": 0.0, "any": False}


# --- flows --------------------------------------------------------------------------------------------------


def bots_live() -> bool:
    """Some flow is published and on (a per-process answer trusted for ACTIVE_TTL seconds): without one, a
    customer's message costs the bot nothing."""
    now = time.monotonic()
    if now >= _live["until"]:
        _live["any"] = (BotFlow.objects.filter(enabled=True, published__isnull=False).exists()
                        or BotRun.objects.filter(state__in=OPEN_STATES).exists())  # a switched-off flow's runs
        _live["until"] = now + ACTIVE_TTL
    return bool(_live["any"])


def forget_live() -> None:
    _live["until"] = 0.0


def access_flow(acting_user: User, flow_id: int, *, lock: bool = False) -> BotFlow:
    require_perm(acting_user, Perm.BOTS_VIEW)
    qs = BotFlow.objects.select_for_update() if lock else BotFlow.objects.select_related("published", "inbox")
    flow = qs.filter(pk=flow_id).first()
    if flow is None:
        raise NotFoundError("flow_not_found", _("El flujo no existe."))
    return flow


@dataclass
class FlowRow:
    flow: BotFlow
    published_number: int | None
    draft_changed: bool
    runs_open: int
    runs_total: int
    completion_rate: float | None
    handoff_rate: float | None


def flows_for(acting_user: User, *, flow_id: int | None = None) -> list[FlowRow]:
    """The list's rows (or only `flow_id`'s: its statistics page), with their runs counted in one grouped query."""
    require_perm(acting_user, Perm.BOTS_VIEW)
    flows = BotFlow.objects.select_related("published", "inbox").order_by("name")
    runs = BotRun.objects.all()
    if flow_id is not None:
        flows, runs = flows.filter(pk=flow_id), runs.filter(flow_id=flow_id)
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for row in runs.values("flow_id", "state").annotate(n=Count("id")):
        counts[row["flow_id"]][row["state"]] = row["n"]
    rows = []
    for flow in flows:
        c = counts[flow.pk]
        total = sum(c.values())
        ended = total - sum(c[s] for s in OPEN_STATES)
        rows.append(FlowRow(
            flow=flow, published_number=flow.published.number if flow.published else None,
            draft_changed=flow.published is None or flow.published.graph != flow.graph,
            runs_open=total - ended, runs_total=total,
            completion_rate=c[RunState.COMPLETED] / ended if ended else None,
            handoff_rate=c[RunState.HANDED_OVER] / ended if ended else None))
    return rows


def _name(name: str) -> str:
    name = " ".join(name.split())
    check_text(name, field="name", label=_("El nombre"), max_length=NAME_MAX)
    if not name:
        raise ActionError("name_required", _("Escriba el nombre del flujo."), field="name")
    return name


def _keywords(raw: str) -> str:
    words = [fold(w).strip() for w in raw.replace(";", ",").split(",")]
    text = ", ".join(dict.fromkeys(w for w in words if w))
    check_text(text, field="handoff_keywords", label=_("Las palabras clave"), max_length=KEYWORDS_MAX)
    return text


def keywords_of(flow: BotFlow) -> frozenset[str]:
    return frozenset(w.strip() for w in flow.handoff_keywords.split(",") if w.strip())


@transaction.atomic
def check_create_flow(acting_user: User, *, name: str, description: str = "", graph: Any = None) -> BotFlow:
    require_perm(acting_user, Perm.BOTS_MANAGE)
    name = _name(name)
    check_text(description, field="description", label=_("La descripción"), max_length=500)
    clean = spec.clean_graph(graph) if graph is not None else {"start": "", "steps": {}}
    if BotFlow.objects.filter(name__iexact=name).exists():
        raise ConflictError("flow_name_taken", _("Ya hay un flujo con ese nombre."), field="name")
    try:
        with transaction.atomic():
            flow = BotFlow.objects.create(name=name, description=description.strip(), graph=clean,
                                          created_by=acting_user)
    except IntegrityError:  # created by someone else a moment ago
        raise ConflictError("flow_name_taken", _("Ya hay un flujo con ese nombre."), field="name") from None
    audit.record(actor=acting_user, action="bot_flow.created", target=flow)
    return flow


UNSET: Final[Any] = object()


@transaction.atomic
def check_save_flow(acting_user: User, flow_id: int, *, name: Any = None, description: Any = None,
                    graph: Any = None, inbox_code: Any = None, handoff_keywords: Any = None,
                    expire_minutes: Any = None, expire_text: Any = None, max_retries: Any = None,
                    enabled: Any = None) -> BotFlow:
    """Edits the draft and the settings (None leaves a field alone). The graph is validated in full
    (bots.spec.clean_graph); settings apply at once to new and running conversations alike."""
    require_perm(acting_user, Perm.BOTS_MANAGE)
    flow = access_flow(acting_user, flow_id, lock=True)
    changes: dict[str, Any] = {}
    if name is not None:
        name = _name(name)
        if name != flow.name and BotFlow.objects.filter(name__iexact=name).exclude(pk=flow.pk).exists():
            raise ConflictError("flow_name_taken", _("Ya hay un flujo con ese nombre."), field="name")
        changes["name"] = name
    if description is not None:
        changes["description"] = check_text(str(description).strip(), field="description",
                                            label=_("La descripción"), max_length=500)
    if graph is not None:
        changes["graph"] = spec.clean_graph(graph)
    if inbox_code is not None:
        inbox = Inbox.objects.filter(code=inbox_code).first() if inbox_code else None
        if inbox_code and inbox is None:
            raise ActionError("inbox_not_found", _("La bandeja «%s» no existe.") % str(inbox_code)[:50],
                              field="inbox")
        other = BotFlow.objects.filter(inbox=inbox).exclude(pk=flow.pk).first() if inbox else None
        if other is not None:
            raise ConflictError("inbox_has_flow", _("La bandeja «%(inbox)s» ya empieza con el flujo «%(flow)s».")
                                % {"inbox": inbox.name if inbox else "", "flow": other.name}, field="inbox")
        changes["inbox"] = inbox
    if handoff_keywords is not None:
        changes["handoff_keywords"] = _keywords(str(handoff_keywords))
    if expire_minutes is not None:
        if isinstance(expire_minutes, bool) or not isinstance(expire_minutes, int) or not (
                1 <= expire_minutes <= 7 * 24 * 60):
            raise ActionError("invalid_expiry", _("La expiración va de 1 minuto a 7 días (10080 minutos)."),
                              field="expire_minutes")
        changes["expire_minutes"] = expire_minutes
    if expire_text is not None:
        changes["expire_text"] = check_text(str(expire_text).strip(), field="expire_text",
                                            label=_("El mensaje al expirar"), max_length=1000)
    if max_retries is not None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or not 0 <= max_retries <= 10:
            raise ActionError("invalid_retries", _("Los reintentos van de 0 a 10."), field="max_retries")
        changes["max_retries"] = max_retries
    if enabled is not None:
        changes["enabled"] = bool(enabled)
    changed = {k: v for k, v in changes.items() if getattr(flow, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(flow, key, value)
        flow.updated_at = timezone.now()
        try:
            with transaction.atomic():
                flow.save(update_fields=[*changed, "updated_at"])
        except IntegrityError:  # the name or the inbox taken by another flow a moment ago
            raise ConflictError("flow_conflict", _("Otro flujo acaba de tomar ese nombre o esa bandeja."),
                                field="name") from None
        audit.record(actor=acting_user, action="bot_flow.saved", target=flow,
                     changes={k: ["…", "…"] if k == "graph" else [None, str(v)] for k, v in changed.items()})
        transaction.on_commit(forget_live)
    return flow


def flow_problems(flow: BotFlow) -> list[spec.Problem]:
    return spec.problems(flow.graph, handoff_keywords=bool(keywords_of(flow)))


@transaction.atomic
def check_publish_flow(acting_user: User, flow_id: int) -> BotFlowVersion:
    require_perm(acting_user, Perm.BOTS_MANAGE)
    flow = access_flow(acting_user, flow_id, lock=True)
    graph = spec.clean_graph(flow.graph)  # a draft stored before a rule tightened is checked again
    blocking = [p for p in spec.problems(graph, handoff_keywords=bool(keywords_of(flow))) if p.blocking]
    if blocking:
        raise ActionError("flow_has_problems", _("El flujo no se puede publicar: %s")
                          % " ".join(f"{_('Paso «%s»:') % p.step if p.step else ''} {p.message}".strip()
                                     for p in blocking), problems=[p.message for p in blocking])
    last = flow.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = BotFlowVersion.objects.create(flow=flow, number=last + 1, graph=graph, published_by=acting_user)
    flow.published = version
    flow.graph = graph
    flow.save(update_fields=["published", "graph"])
    emit(BotFlowPublished(flow_id=flow.pk, name=flow.name, version_number=version.number), actor=acting_user)
    audit.record(actor=acting_user, action="bot_flow.published", target=flow, changes={"version": [last, last + 1]})
    transaction.on_commit(forget_live)
    return version


@transaction.atomic
def check_delete_flow(acting_user: User, flow_id: int) -> None:
    require_perm(acting_user, Perm.BOTS_MANAGE)
    flow = access_flow(acting_user, flow_id, lock=True)
    if flow.runs.exists():
        raise ConflictError("flow_has_runs", _("El flujo ya habló con clientes: desactívelo en lugar de borrarlo "
                                               "(su historial y sus estadísticas se conservan)."))
    audit.record(actor=acting_user, action="bot_flow.deleted", target=flow, changes={"name": [flow.name, None]})
    flow.delete()
    transaction.on_commit(forget_live)


def export_flow(flow: BotFlow) -> dict[str, Any]:
    return {"format": EXPORT_FORMAT, "version": 1, "name": flow.name, "description": flow.description,
            "settings": {"handoff_keywords": flow.handoff_keywords, "expire_minutes": flow.expire_minutes,
                         "expire_text": flow.expire_text, "max_retries": flow.max_retries},
            "graph": flow.graph}


@transaction.atomic
def check_import_flow(acting_user: User, data: Any) -> BotFlow:
    """A new flow (a draft) from an export; a name in use gets " (2)", " (3)"…"""
    require_perm(acting_user, Perm.BOTS_MANAGE)
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT or data.get("version") != 1:
        raise ActionError("invalid_export", _("El archivo no es un flujo exportado de Centralita."), field="file")
    base = _name(str(data.get("name") or _("Flujo importado")))
    name, n = base, 2
    while BotFlow.objects.filter(name__iexact=name).exists():
        name, n = f"{base[:NAME_MAX - 6]} ({n})", n + 1
    found = data.get("settings")
    settings_: dict[str, Any] = found if isinstance(found, dict) else {}
    flow = check_create_flow(acting_user, name=name, description=str(data.get("description") or "")[:500],
                             graph=data.get("graph"))
    return check_save_flow(acting_user, flow.pk, handoff_keywords=settings_.get("handoff_keywords"),
                           expire_minutes=settings_.get("expire_minutes"), expire_text=settings_.get("expire_text"),
                           max_retries=settings_.get("max_retries"))


# --- the run's state machine --------------------------------------------------------------------------------


def do_transition_run(run: BotRun, *, to: RunState, reason: str = "", at: datetime | None = None) -> bool:
    """The one way a run's state moves (locked run): the table, a history row, the event after commit."""
    current = RunState(run.state)
    if current == to:
        return False
    if to not in RUN_TRANSITIONS[current]:
        raise InvalidTransition("invalid_run_transition", _("Transición no permitida: %(a)s → %(b)s.")
                                % {"a": current.label, "b": to.label})
    at = at or timezone.now()
    run.state = to
    fields = ["state"]
    if to not in OPEN_STATES:
        run.finished_at, run.resume_at = at, None
        fields += ["finished_at", "resume_at"]
    run.save(update_fields=fields)
    BotRunTransition.objects.create(run=run, from_state=current, to_state=to, reason=reason, at=at)
    emit(BotRunStateChanged(run_id=run.pk, flow_id=run.flow_id, conversation_id=run.conversation_id,
                            from_state=current.value, to_state=to.value, reason=reason,
                            variables={k: str(v) for k, v in run.variables.items()}))
    return True


def _engine(run: BotRun, effects: engine.Effects) -> engine.Engine:
    """The run's own version (loaded with the run): publishing meanwhile never changes it."""
    return engine.Engine(run.version.graph, effects, max_retries=run.flow.max_retries,
                         keywords=keywords_of(run.flow))


def _record(run: BotRun, turn: engine.Turn, at: datetime) -> None:
    """The turn's visits (per-step analytics) and unrecognised answers. A question's visit is written once, when
    it ends (answered, handed over, dropped, stopped): a run waiting at a question is counted from the run itself
    (step_stats), which saves the bot step an UPDATE."""
    new = [BotStepVisit(run=run, flow_id=run.flow_id, version_id=run.version_id, step=step, outcome=outcome, at=at)
           for step, outcome in turn.visits if outcome != VisitOutcome.WAITING]
    if new:
        BotStepVisit.objects.bulk_create(new)
    if turn.unrecognised:
        BotUnrecognised.objects.bulk_create([
            BotUnrecognised(flow_id=run.flow_id, version_id=run.version_id, run=run, step=step, text=text[:500],
                            at=at) for step, text in turn.unrecognised])


def _apply(run: BotRun, turn: engine.Turn, *, at: datetime) -> None:
    run.step = turn.state.step
    run.variables = turn.state.variables
    run.retries = turn.state.retries
    run.last_activity_at = at
    run.save(update_fields=["step", "variables", "retries", "last_activity_at", "last_message_id"])
    _record(run, turn, at)
    if turn.status == "paused":
        run.resume_at = at + timedelta(seconds=turn.pause)
        run.save(update_fields=["resume_at"])
        do_transition_run(run, to=RunState.WAITING, reason="wait", at=at)
    elif turn.status == "waiting" and run.state == RunState.WAITING:
        do_transition_run(run, to=RunState.ACTIVE, reason="resumed", at=at)
    elif turn.status == "completed":
        do_transition_run(run, to=RunState.COMPLETED, reason="end", at=at)
    elif turn.status == "handed_over":
        run.handoff_reason = turn.handoff_reason
        run.save(update_fields=["handoff_reason"])
        do_transition_run(run, to=RunState.HANDED_OVER, reason=turn.handoff_reason, at=at)


def _customer_said(c: Conversation, run: BotRun | None) -> list[str]:
    since = run.started_at if run is not None else c.created_at
    return list(reversed(Message.objects.filter(conversation=c, kind=MessageKind.INBOUND, created_at__gte=since)
                         .order_by("-created_at", "-pk").values_list("body", flat=True)[:8]))


def _inbound(message: Message | None) -> engine.Inbound | None:
    if message is None:
        return None
    reply = message.meta.get("reply") if isinstance(message.meta, dict) else None
    reply_id = str(reply.get("id") or "") if isinstance(reply, dict) else ""
    return engine.Inbound(text=message.body or "", reply_id=reply_id)


def open_run(conversation_id: int) -> BotRun | None:
    return (BotRun.objects.select_related("flow").filter(conversation_id=conversation_id, state__in=OPEN_STATES)
            .first())


def do_start_run(flow: BotFlow, c: Conversation, *, started_by: str, message: Message | None = None,
                 at: datetime | None = None) -> BotRun | None:
    """Starts `flow`'s published version in the locked conversation `c` (None when the flow is off or
    unpublished, the conversation cannot be written to, or the bot already talks there). `message`: the
    customer's message that started it (read by the first step; never handled again)."""
    if not flow.enabled or flow.published_id is None or not can_reply(c) or open_run(c.pk) is not None:
        return None
    at = at or timezone.now()
    try:
        with transaction.atomic():
            run = BotRun.objects.create(flow=flow, version_id=flow.published_id, conversation=c,
                                        customer_id=c.customer_id, started_by=started_by, started_at=at,
                                        last_activity_at=at, last_message_id=message.pk if message else 0,
                                        cycle=c.cycle)
    except IntegrityError:  # another worker started one a moment ago
        return None
    version = BotFlowVersion.objects.get(pk=flow.published_id)
    emit(BotRunStarted(run_id=run.pk, flow_id=flow.pk, version_number=version.number, conversation_id=c.pk,
                       customer_id=c.customer_id, started_by=started_by))
    run.flow, run.version = flow, version
    first = _inbound(message)
    try:
        with transaction.atomic():  # a savepoint: a refused first turn keeps the run, failed (rare: not the hot path)
            _turn(run, c, at, lambda bot: bot.begin(first))
    except ActionError as exc:
        run.refresh_from_db()
        _note_failure(run, c, exc, at)
    return run


def _default_flow(c: Conversation) -> BotFlow | None:
    """The inbox's default entry: its flow, for a conversation nobody attends whose current cycle the bot has not
    talked in yet (after a handoff the bot does not come back until the conversation is resolved and reopened)."""
    if c.assignee_id is not None:
        return None
    flow = BotFlow.objects.filter(inbox_id=c.inbox_id, enabled=True, published__isnull=False).first()
    if flow is None or BotRun.objects.filter(conversation=c, cycle=c.cycle).exists():
        return None
    return flow


def _lock_customer_then(conversation_id: int) -> Conversation | None:
    """The customer's row, then the conversation's: the intake's and the rules' order (the other order could
    deadlock with a second message of the same customer being taken in)."""
    (Customer.objects.select_for_update(of=("self",)).filter(conversations__id=conversation_id)
     .values_list("pk", flat=True).first())  # the lock only: no customer row built
    return (Conversation.objects.select_for_update(of=("self",)).select_related("customer", "inbox", "assignee")
            .filter(pk=conversation_id).first())


def _stopped_by_state(run: BotRun, c: Conversation, at: datetime) -> bool:
    """A run that must not talk any more although no event stopped it yet: a person holds the conversation (the
    stop after commit may still be on its way), it was resolved, or a new cycle began."""
    reason = ("agent" if c.assignee_id is not None else "resolved" if c.state == ConversationState.RESOLVED
              else "new_cycle" if run.cycle != c.cycle else "")
    if not reason:
        return False
    _record(run, engine.Turn(state=engine.State(run.step, run.variables), status="stopped",
                             visits=[(run.step, VisitOutcome.STOPPED)]), at)
    do_transition_run(run, to=RunState.STOPPED, reason=reason, at=at)
    return True


def _turn(run: BotRun, c: Conversation, at: datetime, go: Callable[[engine.Engine], engine.Turn]) -> str:
    """One turn of a run, in the caller's transaction. A refusal half-way (ActionError) propagates: the caller's
    transaction rolls back — nothing of the turn stays — and the caller fails the run in a new one (_fail)."""
    # The bot's own sentences (a retry, "did it help?") in the customer's language; the flow's texts are the
    # author's.
    with translation.override(c.customer.language or settings.LANGUAGE_CODE):
        effects = LiveEffects(run, c, said_by_customer=partial(_customer_said, c, run))
        turn = go(_engine(run, effects))
    if turn.status == "ignored":  # paused: the message waits for the person who reads the conversation
        run.save(update_fields=["last_message_id"])
        return turn.status
    _apply(run, turn, at=at)
    return turn.status


def _note_failure(run: BotRun, c: Conversation, exc: ActionError, at: datetime) -> None:
    do_transition_run(run, to=RunState.FAILED, reason="error", at=at)
    try:
        with transaction.atomic():
            do_add_system_note(c, body=_("El bot «%(flow)s» no pudo continuar: %(error)s La conversación queda "
                                         "para una persona.") % {"flow": run.flow.name, "error": exc.message},
                               meta={"bot": {"flow": run.flow_id, "name": run.flow.name, "step": run.step,
                                             "run": run.pk}})
    except ActionError:
        logger.warning("bot run %s failed and its note was refused", run.pk)


def _fail(run_id: int, exc: ActionError, *, message_id: int = 0) -> str:
    """A turn the channel refused (the WhatsApp window closed, no mailbox, a text too long), rolled back: the run
    fails — its message read — and the conversation is left to a person with a note saying why."""
    at = timezone.now()
    with transaction.atomic():
        found = _locked(run_id, RunState.ACTIVE) or _locked(run_id, RunState.WAITING)
        if found is None:
            return "failed"
        run, c = found
        if message_id > run.last_message_id:
            run.last_message_id = message_id
            run.save(update_fields=["last_message_id"])
        _note_failure(run, c, exc, at)
    return "failed"


def do_handle_message(message_id: int) -> str:
    """A customer's message, for the bot (the task; idempotent: a message is read once per run)."""
    failing: list[int] = []
    try:
        return _handle_message(message_id, failing)
    except ActionError as exc:
        if not failing:
            raise
        return _fail(failing[0], exc, message_id=message_id)


def _handle_message(message_id: int, failing: list[int]) -> str:
    now = timezone.now()
    with transaction.atomic():
        message = (Message.objects.only("id", "conversation_id", "kind", "body", "meta")
                   .filter(pk=message_id, kind=MessageKind.INBOUND).first())
        if message is None:
            return "gone"
        c = _lock_customer_then(message.conversation_id)
        if c is None:
            return "gone"
        run = (BotRun.objects.select_for_update(of=("self",)).select_related("flow", "version")
               .filter(conversation_id=c.pk, state__in=OPEN_STATES).first())
        if run is not None and _stopped_by_state(run, c, now):
            run = None
        if run is None:
            flow = _default_flow(c)
            if flow is None:
                return "no_bot"
            return "started" if do_start_run(flow, c, started_by="inbox", message=message, at=now) else "no_bot"
        if message.pk <= run.last_message_id:
            return "seen"
        run.last_message_id = message.pk
        inbound = _inbound(message)
        assert inbound is not None
        state = engine.State(step=run.step, variables=dict(run.variables), retries=run.retries,
                             awaiting=run.state == RunState.ACTIVE)
        failing.append(run.pk)
        return _turn(run, c, now, lambda bot: bot.advance(state, inbound))


def do_stop_runs(conversation_id: int, *, reason: str) -> int:
    """An agent took or answered the conversation: the bot stops talking there."""
    with transaction.atomic():
        _lock_customer_then(conversation_id)
        run = (BotRun.objects.select_for_update(of=("self",))
               .filter(conversation_id=conversation_id, state__in=OPEN_STATES).first())
        if run is None:
            return 0
        now = timezone.now()
        _record(run, engine.Turn(state=engine.State(run.step, run.variables), status="stopped",
                                 visits=[(run.step, VisitOutcome.STOPPED)]), now)
        do_transition_run(run, to=RunState.STOPPED, reason=reason, at=now)
        return 1


def do_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Expires runs whose customer stopped answering (the flow's `expire_minutes`, with its message) and resumes
    paused runs whose time came. Bounded; each run in its own transaction."""
    now = now or timezone.now()
    done = 0
    due = list(BotRun.objects.filter(state=RunState.WAITING, resume_at__lte=now).values_list("pk", flat=True)[:limit])
    for run_id in due:
        done += _safely(_resume, run_id, now)
    for flow_id, minutes in BotFlow.objects.filter(runs__state=RunState.ACTIVE).distinct().values_list(
            "pk", "expire_minutes"):  # per flow: a flow that waits days never holds back one that waits minutes
        idle = (BotRun.objects.filter(flow_id=flow_id, state=RunState.ACTIVE,
                                      last_activity_at__lte=now - timedelta(minutes=minutes))
                .order_by("last_activity_at").values_list("pk", flat=True)[:limit])
        for run_id in idle:
            done += _safely(_expire, run_id, now)
    return done


def _locked(run_id: int, state: RunState) -> tuple[BotRun, Conversation] | None:
    conversation_id = BotRun.objects.filter(pk=run_id).values_list("conversation_id", flat=True).first()
    if conversation_id is None:
        return None
    c = _lock_customer_then(conversation_id)
    run = (BotRun.objects.select_for_update(of=("self",)).select_related("flow", "version")
           .filter(pk=run_id, state=state).first())
    return (run, c) if run is not None and c is not None else None


def _resume(run_id: int, now: datetime) -> int:
    try:
        return _resume_turn(run_id, now)
    except ActionError as exc:
        _fail(run_id, exc)
        return 1


def _resume_turn(run_id: int, now: datetime) -> int:
    with transaction.atomic():
        found = _locked(run_id, RunState.WAITING)
        if found is None or found[0].resume_at is None or found[0].resume_at > now:
            return 0
        run, c = found
        if _stopped_by_state(run, c, now):
            return 1
        state = engine.State(step=run.step, variables=dict(run.variables))
        _turn(run, c, now, lambda bot: bot.resume(state))
        return 1


def _expire(run_id: int, now: datetime) -> int:
    with transaction.atomic():
        found = _locked(run_id, RunState.ACTIVE)
        if found is None:
            return 0
        run, c = found
        if run.last_activity_at > now - timedelta(minutes=run.flow.expire_minutes):
            return 0
        if _stopped_by_state(run, c, now):
            return 1
        if run.flow.expire_text:
            effects = LiveEffects(run, c, said_by_customer=list)
            try:
                with transaction.atomic():
                    effects.say(engine.Said(engine.fill(run.flow.expire_text, run.variables, effects)))
            except ActionError:
                pass  # the channel refuses it now (WhatsApp's 24-hour window closed): the run ends all the same
        _record(run, engine.Turn(state=engine.State(run.step, run.variables), status="expired",
                                 visits=[(run.step, VisitOutcome.DROPPED)]), now)
        do_transition_run(run, to=RunState.EXPIRED, reason="inactivity", at=now)
        return 1


def _safely(step: Callable[[int, datetime], int], run_id: int, now: datetime) -> int:
    """One run of the sweep: whatever goes wrong with it is logged and never stops the others."""
    try:
        return step(run_id, now)
    except Exception:
        logger.exception("bot sweep: run %s", run_id)
        return 0


# --- subscribers (bots.apps) --------------------------------------------------------------------------------


def on_message_received(event: DomainEvent) -> None:
    """After commit: the bot reads the customer's message in the worker (when some flow is live)."""
    if bots_live():
        enqueue_on_commit(tasks.handle_message, message_id=event.payload()["message_id"])


def on_state_changed(event: DomainEvent) -> None:
    """After commit: a resolved conversation ends the bot's run there."""
    payload = event.payload()
    if payload.get("to_state") == ConversationState.RESOLVED and BotRun.objects.filter(
            conversation_id=payload["conversation_id"], state__in=OPEN_STATES).exists():
        do_stop_runs(payload["conversation_id"], reason="resolved")


def on_agent_acted(event: DomainEvent) -> None:
    """After commit: a person took the conversation (assigned, transferred, taken) or answered it — the bot steps
    aside. The bot's own handoff assigns too, but its run has already ended by then."""
    payload = event.payload()
    if payload.get("to_user_id") is None and payload.get("author_id") is None:
        return
    if BotRun.objects.filter(conversation_id=payload["conversation_id"], state__in=OPEN_STATES).exists():
        do_stop_runs(payload["conversation_id"], reason="agent")


# --- the simulator --------------------------------------------------------------------------------------------


@dataclass
class BotLine:
    text: str
    choices: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class SimTurn:
    customer: str | None
    bot: list[BotLine] = field(default_factory=list)


@dataclass
class SimulationResult:
    turns: list[SimTurn]
    variables: dict[str, str]
    step: str
    state: str
    finished: bool
    choices: list[dict[str, str]] = field(default_factory=list)  # the last question's, for buttons


SIM_MESSAGES_MAX: Final = 50


def check_simulate(acting_user: User, flow_id: int, *, messages: list[str], graph: Any = None) -> SimulationResult:
    """Runs the draft (or `graph`) against the customer's `messages`, writing nothing (bots.simulator)."""
    from bots.simulator import simulate  # noqa: PLC0415 - the simulator imports this module's dataclasses

    flow = access_flow(acting_user, flow_id)
    if graph is not None and not acting_user.has_perm_code(Perm.BOTS_MANAGE):
        graph = None  # trying a diagram of one's own is editing: viewers try the stored draft
    if not isinstance(messages, list) or len(messages) > SIM_MESSAGES_MAX or not all(
            isinstance(m, str) and len(m) <= 1000 for m in messages):
        raise ActionError("invalid_messages", _("Envíe hasta 50 mensajes de hasta 1000 caracteres."),
                          field="messages")
    clean = spec.clean_graph(graph if graph is not None else flow.graph)
    if not clean["start"]:
        raise ActionError("flow_without_start", _("Elija el paso inicial del flujo para probarlo."), field="graph")
    return simulate(flow, clean, messages, acting_user=acting_user)


# --- analytics ------------------------------------------------------------------------------------------------


@dataclass
class StepStats:
    reached: int = 0
    answered: int = 0
    dropped: int = 0
    handed_over: int = 0


def step_stats(flow: BotFlow, version_id: int | None = None) -> dict[str, StepStats]:
    visits = BotStepVisit.objects.filter(flow=flow)
    if version_id is not None:
        visits = visits.filter(version_id=version_id)
    stats: dict[str, StepStats] = defaultdict(StepStats)
    for row in visits.values("step", "outcome").annotate(n=Count("id")):
        s = stats[row["step"]]
        s.reached += row["n"]
        if row["outcome"] == VisitOutcome.ANSWERED:
            s.answered += row["n"]
        elif row["outcome"] == VisitOutcome.DROPPED:
            s.dropped += row["n"]
        elif row["outcome"] == VisitOutcome.HANDED_OVER:
            s.handed_over += row["n"]
    waiting = BotRun.objects.filter(flow=flow, state=RunState.ACTIVE)  # at a question now: reached, not yet answered
    if version_id is not None:
        waiting = waiting.filter(version_id=version_id)
    for step, n in waiting.values("step").annotate(n=Count("id")).values_list("step", "n"):
        stats[step].reached += n
    return dict(stats)


@dataclass
class AnswerGroup:
    step: str
    step_label: str
    example: str
    count: int
    samples: list[str]


SIMILARITY: Final = 0.75
GROUPS_COMPARED: Final = 150


def unrecognised_groups(flow: BotFlow, limit: int = 50, *, recent: int = 1000, version_id: int | None = None
                        ) -> list[AnswerGroup]:
    """The latest unrecognised answers (of one version, or all), grouped per step by similarity (the same words up
    to typos and order), most frequent first — what the author reads to add choices or articles."""
    answers = BotUnrecognised.objects.filter(flow=flow)
    if version_id is not None:
        answers = answers.filter(version_id=version_id)
    rows = list(answers.order_by("-at", "-pk").values_list("step", "text")[:recent])
    groups: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)  # step → [(key, texts)]
    exact: dict[tuple[str, str], list[str]] = {}
    for step, text in rows:
        key = " ".join(sorted(fold(text).split()))[:120]
        if (step, key) in exact:  # the same words: no comparison needed
            exact[(step, key)].append(text)
            continue
        bucket = groups[step]
        for existing, texts in bucket[:GROUPS_COMPARED]:  # bounded: the page stays fast with thousands of answers
            matcher = difflib.SequenceMatcher(None, existing, key)
            if matcher.real_quick_ratio() >= SIMILARITY and matcher.quick_ratio() >= SIMILARITY \
                    and matcher.ratio() >= SIMILARITY:
                texts.append(text)
                exact[(step, key)] = texts
                break
        else:
            bucket.append((key, [text]))
            exact[(step, key)] = bucket[-1][1]
    steps = flow.graph.get("steps", {}) if isinstance(flow.graph, dict) else {}
    out = []
    for step, bucket in groups.items():
        label = step_label(steps.get(step), step)
        for _key, texts in bucket:
            example = Counter(texts).most_common(1)[0][0]
            out.append(AnswerGroup(step=step, step_label=label, example=example, count=len(texts),
                                   samples=list(dict.fromkeys(texts))[:5]))
    out.sort(key=lambda g: (-g.count, g.step, g.example))
    return out[:limit]


def step_label(step: dict[str, Any] | None, step_id: str) -> str:
    if not step:
        return step_id
    text = str(step.get("text") or "").strip()
    kind = str(spec.TYPE_LABELS.get(step.get("type", ""), step.get("type", "")))
    return f"{kind}: {text[:60]}" if text else f"{kind} ({step_id})"


def run_summary(run: BotRun) -> dict[str, Any]:
    """`GET /conversations/{id}/bot` and the conversation's side panel."""
    return {"id": run.pk, "flow": {"id": run.flow_id, "name": run.flow.name}, "version": run.version.number,
            "state": run.state, "state_label": str(RunState(run.state).label), "step": run.step,
            "variables": dict(run.variables), "retries": run.retries,
            "started_by": run.started_by, "handoff_reason": run.handoff_reason,
            "handoff_reason_label": str(HandoffReason(run.handoff_reason).label) if run.handoff_reason else "",
            "started_at": run.started_at, "last_activity_at": run.last_activity_at, "resume_at": run.resume_at,
            "finished_at": run.finished_at}


def flow_rates(since: datetime | None = None) -> list[dict[str, Any]]:
    """Completion and handoff rates per flow over ended runs (the reports)."""
    runs = BotRun.objects.exclude(state__in=OPEN_STATES)
    if since is not None:
        runs = runs.filter(started_at__gte=since)
    rows = runs.values("flow_id", "flow__name").annotate(
        total=Count("id"), completed=Count("id", filter=Q(state=RunState.COMPLETED)),
        handed=Count("id", filter=Q(state=RunState.HANDED_OVER)),
        expired=Count("id", filter=Q(state=RunState.EXPIRED))).order_by("flow__name")
    return [{**r, "completion_rate": r["completed"] / r["total"], "handoff_rate": r["handed"] / r["total"]}
            for r in rows]
