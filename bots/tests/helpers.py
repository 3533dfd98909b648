"""Shared givens of the bot's tests: a supervisor who authors flows, the demo flow, a customer writing."""

from __future__ import annotations

from itertools import count
from typing import Any

from django.test import TestCase

from accounts.models import User
from accounts.roles import Role
from accounts.tests.factories import UserFactory
from bots.actions import check_create_flow, check_publish_flow, check_save_flow
from bots.demo import GRAPH
from bots.models import BotFlow, BotRun
from connectors.mail.tests.helpers import run_queued
from inbox import actions as inbox
from inbox.choices import MessageKind
from inbox.models import Conversation, Inbox, Message

_phones = count(1)


def author() -> User:
    return UserFactory(role=Role.SUPERVISOR)


def published(graph: dict[str, Any] | None = None, *, name: str = "Pedidos", inbox_code: str | None = None,
              by: User | None = None, **settings: Any) -> BotFlow:
    by = by or author()
    with TestCase.captureOnCommitCallbacks(execute=True):  # publishing makes the flow live in this process
        flow = check_create_flow(by, name=name, graph=graph or GRAPH)
        check_save_flow(by, flow.pk, inbox_code=inbox_code, **settings)
        check_publish_flow(by, flow.pk)
    flow.refresh_from_db()
    return flow


def global_inbox() -> Inbox:
    """The Global inbox (a transactional test before this one may have flushed the migration's row)."""
    inbox = Inbox.objects.filter(is_global=True).first()
    return inbox or Inbox.objects.create(name="Global", code="global", is_global=True, auto_assign=False)


def write(body: str, *, channel: str = "webchat", phone: str | None = None, reply_id: str = "",
          name: str = "Ana Peña") -> Conversation:
    """A customer's message, committed; then the bot's queued work runs (as the worker would)."""
    phone = phone or f"301{next(_phones):07d}"
    kwargs: dict[str, Any] = {"emails": [f"{phone}@example.com"]} if channel == "email" else {"phones": [phone]}
    meta = {"reply": {"kind": "button_reply", "id": reply_id, "title": body}} if reply_id else None
    with TestCase.captureOnCommitCallbacks(execute=True):
        c, _m, _new = inbox.do_receive_inbound(channel=channel, body=body, customer_name=name, meta=meta, **kwargs)
    run_queued("handle_message", "run_rules")
    c.refresh_from_db()
    return c


def bot_said(c: Conversation) -> list[str]:
    return list(Message.objects.filter(conversation=c, kind=MessageKind.OUTBOUND, author=None)
                .order_by("pk").values_list("body", flat=True))


def last_bot_message(c: Conversation) -> Message:
    found = Message.objects.filter(conversation=c, kind=MessageKind.OUTBOUND, author=None).order_by("-pk").first()
    assert found is not None
    return found


def notes(c: Conversation) -> list[str]:
    return list(Message.objects.filter(conversation=c, kind=MessageKind.NOTE).order_by("pk")
                .values_list("body", flat=True))


def run_of(c: Conversation) -> BotRun:
    run = BotRun.objects.filter(conversation=c).order_by("-pk").first()
    assert run is not None
    return run
