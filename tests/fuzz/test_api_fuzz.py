"""Property-based fuzzing of every operation in /api/v1/openapi.json (Schemathesis on Hypothesis).

Each operation gets requests generated from its schema, valid ones (positive) and invalid ones (negative), as an
administrator; then valid ones as an agent, whose role lacks most permissions (403s). Every answer must pass all of
Schemathesis's default checks: no 5xx, a documented status code, content type and headers, a body matching the
schema (the error envelope for errors), valid requests accepted and invalid ones refused with a 4xx.

Half the requests name the objects of a small seeded world (a user, a team, a conversation with a task and its
customer, a lead, a predefined note, a product, a draft order, a webhook endpoint) so they reach the actions' rules
instead of a 404; each request runs in a savepoint that is rolled back, so every request sees that same world.

`make test` runs FUZZ_EXAMPLES (default 8) examples per operation and mode; `make fuzz` runs 200. Requests go
in-process through Django's WSGI handler against the test database (SQLite or PostgreSQL, whichever the run uses).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from accounts.actions import do_create_api_token
from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from announcements.actions import AnnouncementInput, check_save_announcement
from automation.actions import check_save_quick_reply
from automation.models import ScheduledMessage, SequenceEnrollment
from automation.rules import RuleInput, check_save_rule
from automation.sequences import SequenceInput, check_save_sequence
from bots.actions import check_create_flow, check_publish_flow
from bots.demo import GRAPH as BOT_GRAPH
from campaigns.actions import CampaignInput, check_save_campaign
from catalog.actions import check_save_product
from config.api import api
from inbox import actions as inbox_actions
from inbox.attachments import Upload
from inbox.models import Inbox, Task
from knowledge.actions import ArticleInput, check_publish, check_save_article, check_save_category
from leads.models import NoteTemplate
from orders.actions import check_create_order
from orders.tests.factories import ready_lead
from teamchat import actions as chat_actions
from webhooks.models import WebhookEndpoint

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
# The agent's run looks for a wrong status or body where permissions refuse; fewer examples find those.
AGENT_EXAMPLES = max(2, EXAMPLES // 4)

# A rule's conditions and actions are a small language of their own (automation.rule_spec): which operators go
# with which field and what each action takes are rules between a list's items, beyond JSON Schema's reach.
RULE_RULES = {
    "invalid_condition": "each condition's operator and value depend on its field (automation.rule_spec)",
    "invalid_action": "each action's keys depend on its type (automation.rule_spec)",
    "invalid_text": "depends on the text: characters a database cannot store",
    "text_too_long": "depends on the text's field",
    "invalid_schedule": "a rule between two fields: the event `schedule` needs `schedule` (days and time)",
}

SEQUENCE_RULES = {
    "invalid_steps": "each step's delay must be later than the one before it, and have a text or a template",
    "invalid_text": "depends on the text: characters a database cannot store",
}

# `allow-x00: false`: the API refuses a NUL character (U+0000) in any string, at any depth (PostgreSQL cannot store
# it; docs/api.md, Limits), and JSON Schema has no way to say so once for every string. The refusal is pinned by
# core/tests/test_api_bad_input.py instead.
CONFIG = SchemathesisConfig.from_dict({"generation": {"allow-x00": False}})
SCHEMA = schemathesis.openapi.from_dict(api.get_openapi_schema(), config=CONFIG)
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}

# Refusals of schema-valid requests that depend on data or state no JSON Schema can describe: a 400 with one of
# these codes is the documented answer, not a schema that promises too much. Keyed by operation, then error code;
# each says why the schema cannot state the rule. Any other 400 to a valid request fails the run.
CUSTOMER_RULES = {
    "invalid_customer": "depends on the data: a phone's validity depends on numbering plans, and a phone or email "
                        "may belong to another customer; contact hours are a rule between two fields (both or "
                        "neither, the start before the end)",
    "unknown_marketing_list": "`marketing_lists` must name existing lists",
}
WINDOW_RULES = {
    "invalid_window": "`start` ≤ `end` is a rule between two parameters (and an omitted end is today)",
    "window_too_long": "the window's length is a rule between two parameters (and an omitted end is today)",
}
CAMPAIGN_RULES = {
    "invalid_campaign": "depends on the data: the audience's segments, tags and lists, the number, template, mailbox "
                        "and SMS account must exist; URLs must be complete; texts must be storable",
}
ARTICLE_RULES = {
    "invalid_article": "depends on the data: `category` must name an existing category; texts must be storable, and "
                       "a tag's length is counted once it is in lower case",
}
FLOW_RULES = {
    "invalid_flow": "depends on the data: a graph's steps, fields and links are checked against their type "
                    "(docs/bots.md), which a JSON schema of a free-form object cannot express",
    "inbox_not_found": "depends on the data: the inbox code must exist",
}
DATA_RULES: dict[str, dict[str, str]] = {
    "POST /api/v1/bot-flows": FLOW_RULES,
    "PUT /api/v1/bot-flows/{flow_id}": {**FLOW_RULES, "invalid_text": "texts must be storable"},
    "POST /api/v1/bot-flows/{flow_id}/publish": {
        "flow_has_problems": "depends on the draft: a flow with dead ends or no start cannot be published",
    },
    "POST /api/v1/bot-flows/{flow_id}/simulate": {
        **FLOW_RULES, "flow_without_start": "depends on the draft: it needs a start step",
    },
    "POST /api/v1/announcements": {
        "invalid_announcement": "depends on the data and the clock: `teams` must name existing active teams, "
                                "`pinned_until` falls from today to a year ahead and `publish_at` within a year, "
                                "texts must be storable, and `image.data` must be a base64 PNG, JPEG, GIF or WebP",
        "empty_audience": "depends on the data: somebody active must belong to the chosen teams",
    },
    "POST /api/v1/kb/articles": ARTICLE_RULES,
    "PATCH /api/v1/kb/articles/{article_id}": ARTICLE_RULES,
    "POST /api/v1/kb/articles/{article_id}/publish": {
        "empty_article": "depends on the article: one without text cannot be published",
    },
    "POST /api/v1/campaigns": CAMPAIGN_RULES,
    "PATCH /api/v1/campaigns/{campaign_id}": CAMPAIGN_RULES,
    "POST /api/v1/campaigns/{campaign_id}/launch": {
        "campaign_incomplete": "depends on the draft: its content must be complete for its channel",
        "empty_audience": "depends on the data: somebody in the audience must be reachable",
    },
    "GET /api/v1/campaigns/{campaign_id}/recipients": {
        "invalid_cursor": "`cursor` must be a `next_cursor` the endpoint gave, which no pattern can describe",
    },
    "POST /api/v1/users": {
        "invalid_password": "Django's password validators also refuse common passwords and ones like the username",
        "unknown_team": "`teams` must name existing teams",
    },
    "PATCH /api/v1/users/{user_id}": {
        "invalid_password": "Django's password validators also refuse common passwords and ones like the username",
        "unknown_team": "`teams` must name existing teams",
        "cannot_demote_self": "depends on who calls: an administrator cannot remove their own admin role",
        "cannot_deactivate_self": "depends on who calls: nobody can deactivate their own account",
    },
    "POST /api/v1/conversations": {
        "invalid_message@customer.phone": "a phone's validity depends on numbering plans, not a pattern",
        "unknown_inbox": "`inbox` must name an existing inbox",
    },
    "POST /api/v1/conversations/{conversation_id}/messages": {
        "text_too_long": "the limit depends on the conversation's channel (and notes have their own); the schema "
                         "states the largest",
        "empty_message": "a rule between two fields: a `body` or `attachments`",
        "invalid_attachment": "each file's `data` must be base64, which the schema states in words",
    },
    "POST /api/v1/conversations/{conversation_id}/assign": {
        "invalid_assignee": "`assignee` must name a user who works conversations",
        "assignee_cannot_take": "depends on the inbox: the assignee must work it",
        "owner_required": "depends on the inbox: outside Global an open conversation keeps an owner",
    },
    "POST /api/v1/conversations/{conversation_id}/transfer": {
        "invalid_assignee": "`to_user` must name a user who works conversations",
        "assignee_cannot_take": "depends on the inbox: the new owner must work it",
        "unknown_inbox": "`to_inbox` must name an existing inbox",
        "owner_required": "depends on the inbox: outside Global a conversation keeps an owner",
    },
    "POST /api/v1/tasks/{task_id}/reassign": {
        "invalid_responsible": "`responsible` must name an active user who works the conversation's inbox",
    },
    "POST /api/v1/leads/{lead_id}/close": {
        "close_needs_note": "depends on the lead: one without notes needs a final `text` to be closed",
    },
    "POST /api/v1/leads/{lead_id}/reassign": {
        "invalid_operator": "`to_user` must name an active user who works leads",
    },
    "GET /api/v1/reports/lead-flow": {
        **WINDOW_RULES,
        "unknown_operator": "`operator` must name an existing operator",
        "missing_table": "`format=csv` needs `table`: a rule between two parameters",
    },
    "GET /api/v1/reports/dashboard": {
        **WINDOW_RULES,
        "invalid_chart": "`format=csv` needs a `chart` the caller's role may see: a rule between two parameters",
    },
    "GET /api/v1/reports/dashboard/conversations": {
        **WINDOW_RULES,
        "invalid_chart": "depends on the role: the chart must be one the caller may see",
        "invalid_series": "the series depend on the chart: a rule between two parameters",
        "missing_agent": "the per-agent charts need `agent_id`: a rule between two parameters",
        "missing_bucket": "the charts over time need `bucket`: a rule between two parameters",
        "invalid_bucket": "`bucket` must fall in the window",
    },
    "GET /api/v1/reports/conversations.csv": WINDOW_RULES,
    "GET /api/v1/reports/sales.csv": WINDOW_RULES,
    "GET /api/v1/reports/assignment-health": WINDOW_RULES,
    "GET /api/v1/customers": {
        "invalid_cursor": "`cursor` must be a `next_cursor` the endpoint gave, which no pattern can describe",
    },
    "POST /api/v1/customers": CUSTOMER_RULES,
    "PATCH /api/v1/customers/{customer_id}": CUSTOMER_RULES,
    "POST /api/v1/orders": {
        "unknown_product": "each line's `sku` must name an existing product",
        "inactive_product": "depends on the product: an inactive one cannot be sold",
        "lead_without_customer": "depends on the lead: an order needs the lead's customer",
        "order_subject_required": "the schema cannot say 'exactly one of lead_id and conversation_id'",
        "phone_conversation": "depends on the conversation: a call's orders are the call screen's",
    },
    "POST /api/v1/quick-replies": {
        "invalid_quick_reply": "the text's {{variables}} must name known fields, and scope `bandeja` an inbox",
        "invalid_attachment": "the file's `data` must be base64, which the schema states in words",
    },
    "PUT /api/v1/quick-replies/{quick_reply_id}": {
        "invalid_quick_reply": "the text's {{variables}} must name known fields, and scope `bandeja` an inbox",
        "invalid_attachment": "the file's `data` must be base64, which the schema states in words",
    },
    "POST /api/v1/automation-rules": RULE_RULES,
    "PUT /api/v1/automation-rules/{rule_id}": RULE_RULES,
    "POST /api/v1/sequences": SEQUENCE_RULES,
    "PUT /api/v1/sequences/{sequence_id}": SEQUENCE_RULES,
    "PUT /api/v1/sla-policies": {
        "invalid_sla_policy": "`inbox` must name an existing inbox, and one policy per channel and inbox",
    },
    "POST /api/v1/conversations/{conversation_id}/scheduled-messages": {
        "send_at_past": "depends on the clock: from the next minute on",
        "send_at_too_far": "depends on the clock: at most a year ahead",
        "empty_message": "a rule between two fields: `body`, or a `template`",
        "body_and_template": "a rule between two fields: `body` or `template`, not both",
        "unfilled_variable": "the text's {{variables}} must be filled in before scheduling",
        "not_whatsapp": "depends on the conversation: templates are WhatsApp's",
        "whatsapp_not_connected": "depends on the setup: templates need a connected number",
        "template_not_approved": "depends on the template: it must exist and be approved",
        "invalid_text": "depends on the text: characters a database cannot store",
        "text_too_long": "depends on the conversation: its channel's maximum length",
    },
    "PUT /api/v1/orders/{order_id}/lines": {
        "unknown_product": "each line's `sku` must name an existing product",
        "inactive_product": "depends on the product: an inactive one cannot be sold",
    },
    "POST /api/v1/orders/{order_id}/confirm": {
        "empty_order": "depends on the order: a draft without lines cannot be confirmed",
        "delivery_incomplete": "depends on the customer: confirming needs their complete delivery data",
        "invalid_customer": "depends on the data: a delivery phone must be a phone, a document within its length",
        "delivery_not_here": "depends on the order: delivery data comes with orders taken in a conversation",
    },
    "POST /api/v1/products/{sku}/adjustments": {
        "stock_too_large": "depends on the product: the stock after the adjustment stays within the maximum",
    },
    "POST /api/v1/integrations/kommo-sync/retry": {
        "nothing_to_retry": "depends on the outbox: the given ids must include a failed row",
    },
    "POST /api/v1/chat/channels": {
        "user_not_found": "`members` must name existing people who use the chat",
        "too_many_people": "a direct message counts its caller, whom `members` may or may not list",
    },
    "GET /api/v1/chat/channels/{channel_id}/messages": {
        "invalid_paging": "`before` goes without `after` and without `thread`: a rule between two parameters",
    },
    "POST /api/v1/chat/channels/{channel_id}/messages": {
        "invalid_attachment": "each file's `data` must be base64, which the schema states in words",
    },
    "POST /api/v1/chat/messages/{chat_message_id}/reactions": {
        "emoji_invalid": "an emoji has no letters or digits of any script, and regex engines disagree on which "
                         "characters those are beyond ASCII (the pattern states the ASCII ones)",
    },
    "PATCH /api/v1/chat/messages/{chat_message_id}": {
        "body_required": "depends on the message: only one with files may lose its text",
    },
}


def _error_keys(response: Response) -> set[str]:
    """The error's `code`, and `code@field` for the field it names."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return set()
    if not isinstance(body, dict):
        return set()
    code = str(body.get("code"))
    return {code, f"{code}@{body.get('field')}"}


def positive_data_acceptance_but_data_rules(ctx: Any, response: Response, case: Any) -> bool | None:
    """Schemathesis's positive_data_acceptance, except for the refusals listed in DATA_RULES (`code`, or
    `code@field` when only that field's refusal is data-dependent)."""
    rules = DATA_RULES.get(case.operation.label, {})
    if response.status_code == 400 and any(key in rules for key in _error_keys(response)):
        return None
    return positive_data_acceptance(ctx, response, case)


@dataclass(frozen=True)
class World:
    admin_token: str
    agent_token: str
    path_parameters: dict[str, Any]


@pytest.fixture
def wsgi_app(db: Any) -> Iterator[Any]:
    # As Django's test client does: the handler must not close the test transaction's connection after each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world(db: Any) -> World:
    admin = UserFactory(role=Role.ADMIN, username="fuzz-admin")
    team = TeamFactory(code="ventas", name="Ventas")
    agent = UserFactory(role=Role.AGENTE, username="fuzz-agente")
    colleague = UserFactory(role=Role.AGENTE, username="fuzz-colega")
    for user in (agent, colleague):
        user.teams.set([team])
    inbox, _created = Inbox.objects.update_or_create(code="ventas", defaults={"name": "Ventas", "auto_assign": False})
    inbox.teams.set([team])
    conversation, _message, _new = inbox_actions.do_receive_inbound(
        channel="api", body="¿Cuándo llega mi pedido?", customer_name="Ana Peña", phones=["3001234567"],
        inbox_code="ventas")
    conversation.assignee_id = agent.pk
    conversation.save(update_fields=["assignee"])
    failed = conversation.messages.create(cycle=conversation.cycle, kind="outbound", author=agent, body="Ya sale",
                                          delivery_status="failed", delivery_error="5.1.1 Usuario desconocido")
    task = Task.objects.create(conversation=conversation, cycle=conversation.cycle, title="Llamar a Ana",
                               responsible=agent, created_by=agent)
    lead = ready_lead()
    template = NoteTemplate.objects.create(title="Volver a llamar", text="Pidió que la llamen mañana.")
    product = check_save_product(None, sku="FUZZ-1", name="Plan Hogar", price="12500.50", initial_stock=10)
    order = check_create_order(admin, lead_id=lead.pk, lines=[(product.sku, 1)])
    endpoint = WebhookEndpoint.objects.create(url="https://erp.example.com/hooks", events=["order.confirmed"])
    scheduled = ScheduledMessage.objects.create(conversation=conversation, author=agent, body="Recordatorio",
                                                send_at=timezone.now() + timedelta(days=1))
    quick_reply = check_save_quick_reply(admin, title="Horario", shortcut="horario", scope="todos",
                                         body="Hola {{cliente.primer_nombre}}, atendemos de 8 a 18 h.")
    sequence = check_save_sequence(admin, SequenceInput(name="Posventa", steps=[
        {"delay_minutes": 1440, "body": "¿Cómo le fue con su pedido?"}]))
    enrollment = SequenceEnrollment.objects.create(sequence=sequence, conversation=conversation,
                                                   customer_id=conversation.customer_id)
    rule = check_save_rule(admin, RuleInput(name="Envíos", event="message.received", conditions=[
        {"field": "text", "op": "contains", "value": ["envío"]}], actions=[{"type": "add_tag", "tag": "envio"}]))
    campaign = check_save_campaign(admin, None, CampaignInput(name="Reactivación", channel="sms"))
    category = check_save_category(admin, category_id=None, name="Envíos")
    article = check_save_article(admin, article_id=None, data=ArticleInput(
        title="Costos de envío", body="Enviamos a todo el país.", category_id=category.pk))
    check_publish(admin, article_id=article.pk)
    flow = check_create_flow(admin, name="Pedidos", graph=BOT_GRAPH)
    check_publish_flow(admin, flow.pk)
    announcement = check_save_announcement(admin, announcement_id=None, publish=True, data=AnnouncementInput(
        title="Nueva política de devoluciones", body="Desde el lunes, **45 días**.", requires_ack=True))
    chat_channel = chat_actions.check_create_channel(admin, name="General", member_ids=[agent.pk])
    chat_message = chat_actions.check_post_message(admin, chat_channel.pk, body="Hola @fuzz-agente", uploads=[
        Upload(name="nota.txt", content_type="text/plain", data=b"Lista de precios")])
    chat_actions.check_post_message(agent, chat_channel.pk, body="Recibido", parent_id=chat_message.pk)
    return World(
        admin_token=do_create_api_token(admin, name="fuzz", acting_user=None)[1],
        agent_token=do_create_api_token(agent, name="fuzz", acting_user=None)[1],
        path_parameters={"user_id": colleague.pk, "team_id": team.pk, "conversation_id": conversation.pk,
                         "task_id": task.pk, "lead_id": lead.pk, "template_id": template.pk, "sku": product.sku,
                         "order_id": order.pk, "endpoint_id": endpoint.pk, "customer_id": conversation.customer_id,
                         "message_id": failed.pk, "quick_reply_id": quick_reply.pk,
                         "scheduled_id": scheduled.pk, "rule_id": rule.pk,
                         "sequence_id": sequence.pk, "enrollment_id": enrollment.pk, "campaign_id": campaign.pk,
                         "announcement_id": announcement.pk,
                         "article_id": article.pk, "flow_id": flow.pk, "channel_id": chat_channel.pk,
                         "chat_message_id": chat_message.pk, "file_index": 0})


def cases(operation: Any, mode: GenerationMode, known: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Requests for `operation`: with generated path parameters, or (half of them) naming the seeded objects."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [parameter.name for parameter in operation.path_parameters]
    # A negative request needs something left to make invalid once the path is fixed.
    if not names or (mode.is_negative and not operation.body and not operation.query):
        return generated
    seeded = operation.as_strategy(generation_mode=mode, path_parameters={name: known[name] for name in names})
    return st.one_of(generated, seeded)


def fuzz(label: str, wsgi_app: Any, token: str, known: dict[str, Any], *, modes: list[GenerationMode],
         examples: int) -> None:
    operation = OPERATIONS[label]
    operation.schema.app = wsgi_app
    headers = {"Authorization": f"Bearer {token}"}

    @given(case=st.one_of([cases(operation, mode, known) for mode in modes]))
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        # Each request in a savepoint rolled back afterwards: every request sees the seeded world as it was.
        with transaction.atomic():
            try:
                case.call_and_validate(app=wsgi_app, headers=headers, excluded_checks=[positive_data_acceptance],
                                       additional_checks=[positive_data_acceptance_but_data_rules])
            finally:
                transaction.set_rollback(True)

    check()


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_api_operation_as_admin_answers_valid_and_invalid_requests_as_its_schema_says(
        label: str, wsgi_app: Any, world: World) -> None:
    # Given an administrator's API token and requests generated from the operation's schema, valid and invalid
    # When they are sent
    # Then no answer is a server error; statuses, content types and bodies match the schema; valid requests are
    # accepted (or refused for a documented reason) and invalid ones refused with a 4xx
    fuzz(label, wsgi_app, world.admin_token, world.path_parameters,
         modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], examples=EXAMPLES)


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_api_operation_as_agent_answers_as_its_schema_says(label: str, wsgi_app: Any, world: World) -> None:
    # Given an agent's API token (a role without most permissions) and valid requests from the operation's schema
    # When they are sent
    # Then every answer, a 403 included, is documented and matches the schema
    fuzz(label, wsgi_app, world.agent_token, world.path_parameters, modes=[GenerationMode.POSITIVE],
         examples=AGENT_EXAMPLES)


def test_data_rules_name_operations_of_the_schema() -> None:
    # Given the refusals listed as data-dependent / Then each belongs to an operation that exists (none left behind
    # by a renamed path)
    assert set(DATA_RULES) <= set(OPERATIONS)
