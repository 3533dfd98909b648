"""The engine's world for a live run (bots.engine.Effects): the conversation it talks in, the customer's orders and
tags, the catalogue's live stock, the knowledge base, an external HTTP service, the handoff to a person.
It is called inside the run's transaction with the conversation locked."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.hours import next_opening
from automation.variables import VARIABLE, render, variables_in
from bots import engine
from bots.choices import HandoffReason
from bots.engine import Article, OrderInfo, ProductInfo, Said
from bots.models import BotRun
from catalog.models import Product
from core.money import format_money
from core.text import fold
from customers.actions import apply_tags, do_set_customer_fields
from customers.segments import segments_of
from inbox.actions import (
    do_add_system_note,
    do_assign,
    do_create_task,
    do_move_to_inbox,
    do_send_automatic,
    do_set_associations,
    pick_agent,
)
from inbox.choices import Channel
from inbox.models import Conversation, Inbox
from inbox.people import hours_team, supervisors_of
from knowledge.search import search_articles
from orders.actions import do_create_bot_draft
from orders.choices import OrderState
from orders.models import Order

HTTP_BODY_MAX: Final = 256 * 1024
HTTP_CALLS_PER_TURN: Final = 3
ORDER_NUMBER: Final = "P-"


def order_info(order: Order) -> OrderInfo:
    lines = ", ".join(f"{line.quantity} × {line.name}" for line in order.lines.all()[:10])
    return OrderInfo(number=order.number, state=str(order.get_state_display()),
                     total=format_money(order.total, order.currency),
                     date=date_format(timezone.localtime(order.created_at), "SHORT_DATE_FORMAT"), lines=lines)


def order_by_number(query: str, *, customer_id: int | None) -> Order | None:
    """"P-000123", "123" or "pedido 123" → that order. With `customer_id`, only that customer's: the bot never
    tells one customer about another's order."""
    found = re.search(r"[0-9]{1,12}", query.upper().replace(ORDER_NUMBER, ""))
    if found is None:
        return None
    digits = found.group(0)
    orders = Order.objects.filter(pk=int(digits))
    if customer_id is not None:
        orders = orders.filter(customer_id=customer_id)
    return orders.first()


def latest_order(customer_id: int) -> Order | None:
    return (Order.objects.filter(customer_id=customer_id).exclude(state=OrderState.DRAFT)
            .order_by("-created_at", "-pk").first())


def find_product(query: str) -> ProductInfo | None:
    """An active product by SKU, else by name (every word of the query in it; the shortest name first)."""
    query = query.strip()[:100]
    product = Product.objects.filter(is_active=True, sku__iexact=query).first()
    if product is None:
        words = fold(query).split()[:6]
        if not words:
            return None
        match = Q()
        for word in words:
            match &= Q(search_name__contains=word)
        product = Product.objects.filter(match, is_active=True).order_by("search_name", "pk").first()
    if product is None:
        return None
    return ProductInfo(name=product.name, price=format_money(product.price, settings.CURRENCY),
                       stock=product.stock_available, sku=product.sku)


# Words a customer's question is made of that say nothing about its subject ("¿cómo hago una devolución?"): the
# knowledge search wants every word, so they are dropped before searching.
FILLER: Final = frozenset(fold(w) for w in (
    "a", "al", "algo", "como", "cómo", "con", "cual", "cuál", "cuales", "cuando", "cuándo", "de", "del", "donde",
    "dónde", "el", "ella", "en", "es", "esta", "está", "estoy", "hacer", "hago", "hay", "hola", "buenas", "buenos",
    "dias", "días", "tardes", "noches", "la", "las", "lo", "los", "me", "mi", "mis", "necesito", "o", "para", "pero",
    "por", "porfa", "favor", "puedo", "puede", "qué", "que", "quiero", "quisiera", "saber", "se", "si", "sí",
    "sobre", "su", "sus", "tengo", "un", "una", "unos", "unas", "y", "ya", "yo", "gracias", "ayuda", "consulta",
    "pregunta", "the", "an", "and", "how", "do", "does", "i", "my", "me", "to", "of", "is", "are", "what", "can",
    "want", "please", "about", "hi", "hello",
))


def find_articles(query: str, limit: int, language: str) -> list[Article]:
    """The best articles for a customer's question: its meaningful words all found first; when no article has
    them all, the articles found by most of its words (a question rarely uses an article's exact words)."""
    words = [w for w in fold(query).split() if w.strip("¿?¡!.,;:") not in FILLER]
    words = [w.strip("¿?¡!.,;:") for w in words if len(w.strip("¿?¡!.,;:")) > 1][:8]
    found = search_articles(" ".join(words) or query, language=language or None, limit=limit)
    if not found and len(words) > 1:
        votes: dict[int, tuple[int, float, Any]] = {}
        for word in words:
            for hit in search_articles(word, language=language or None, limit=limit):
                count, score, _hit = votes.get(hit.id, (0, 0.0, hit))
                votes[hit.id] = (count + 1, score + hit.score, hit)
        found = [hit for _c, _s, hit in sorted(votes.values(), key=lambda v: (-v[0], -v[1]))][:limit]
    return [Article(title=hit.title, snippet=hit.snippet, url=hit.url) for hit in found]


class HttpRefused(Exception):
    pass


NAT64: Final = ipaddress.ip_network("64:ff9b::/96")


def _public_ip(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 or int(ip) >> 32 == 0 else None)
        if embedded is not None and not embedded.is_global:
            return False
    return ip.is_global


class _PublicOnly(httpcore.SyncBackend):
    """Connects only to public addresses, checked on the very address it connects to (a name that resolves to a
    public address for the check and to a private one for the request — DNS rebinding — gets nowhere). TLS still
    verifies the certificate against the host name: httpcore starts TLS with the request's host."""

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        allow_private = getattr(settings, "BOT_HTTP_ALLOW_PRIVATE", False)
        addresses = [str(info[4][0]) for info in infos]
        if not addresses or (not allow_private and not all(_public_ip(a) for a in addresses)):
            raise httpcore.ConnectError(f"{host} is not a public address")
        return super().connect_tcp(addresses[0], port, timeout=timeout, local_address=local_address,
                                   socket_options=socket_options)


def _client(timeout: float) -> httpx.Client:
    transport = httpx.HTTPTransport(retries=0)
    # httpx builds its pool without a way to pass a network backend; the pool keeps it in this attribute.
    transport._pool._network_backend = _PublicOnly()
    return httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)


def call_http(method: str, url: str, body: str, timeout: int) -> Any:
    """The flow's HTTP step: a public address only (unless BOT_HTTP_ALLOW_PRIVATE), no redirects, no proxy from
    the environment, a JSON answer of at most 256 KB within `timeout` seconds in all. Raises on anything else (the
    step's "error" port)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise HttpRefused("not an http(s) address")
    content = body.encode() if body else None
    headers = {"User-Agent": "Centralita-Bot/1.0", "Accept": "application/json"}
    if content is not None:
        headers["Content-Type"] = "application/json"
    deadline = time.monotonic() + timeout
    data = b""
    with _client(timeout) as client, client.stream(method, url, content=content, headers=headers) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > HTTP_BODY_MAX:
                raise HttpRefused("answer too large")
            if time.monotonic() > deadline:
                raise HttpRefused("answer too slow")
    return json.loads(data or b"null", parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON a flow reads")


def summary(flow_name: str, variables: dict[str, str], said: list[str], reason: str) -> str:
    """The internal note a person reads when the bot hands over: why, what the customer wrote, what it collected —
    within the note's limit (the oldest messages, then the longest values, give way)."""
    head = _("El bot «%(flow)s» deriva la conversación: %(reason)s.") % {"flow": flow_name, "reason": reason}
    shown = {k: v for k, v in variables.items() if k != engine.LAST_ANSWER and v}
    limit = settings.NOTE_MAX_LENGTH
    for said_max, value_max, recent in ((300, 200, 8), (200, 120, 5), (120, 80, 3), (80, 40, 2)):
        lines = [head]
        if said:
            lines.append(_("El cliente escribió:"))
            lines.extend(f"• {text[:said_max]}" for text in said[-recent:])
        if shown:
            lines.append(_("Datos recogidos:"))
            lines.extend(f"• {name}: {value[:value_max]}" for name, value in sorted(shown.items()))
        note = "\n".join(lines)
        if len(note) <= limit:
            return note
    return note[:limit - 1] + "…"


class LiveEffects:
    def __init__(self, run: BotRun, conversation: Conversation, *, said_by_customer: Callable[[], list[str]]
                 ) -> None:
        """`said_by_customer` reads the customer's latest messages, only for a handoff's note."""
        self.run, self.c = run, conversation
        self.customer = conversation.customer
        self.said_by_customer = said_by_customer
        self.sent = 0
        self.http_calls = 0
        self.handoff_done = False
        # The web chat's visitor says who they are without proof (an email or phone typed in the widget): the bot
        # does not read that customer's orders or stored data for them — a person does (docs/bots.md).
        self.unverified = conversation.channel == Channel.WEBCHAT

    def _meta(self, step: str = "") -> dict[str, Any]:
        return {"bot": {"flow": self.run.flow_id, "name": self.run.flow.name, "step": step or self.run.step,
                        "run": self.run.pk}}

    def say(self, said: Said) -> None:
        meta = self._meta(said.step)
        body = said.text
        if said.choices:
            if self.c.channel == Channel.EMAIL:  # no buttons in a mail: numbered options, answered by number
                body += "\n\n" + "\n".join(f"{i}. {c['title']}" for i, c in enumerate(said.choices, start=1))
            else:
                meta["choices"] = {"options": said.choices, "button": _("Ver opciones")}
        if said.media_url:
            body = f"{body}\n{said.media_url}".strip()
        if body.strip():
            do_send_automatic(self.c, body=body, meta=meta)
            self.sent += 1

    def render(self, text: str) -> str:
        if "{{" not in text:
            return text
        if self.unverified:  # only the name the visitor gave; their orders and stored data are not read for them
            text = VARIABLE.sub(lambda m: m.group(0) if fold(m.group(1)) in ("cliente", "customer") and fold(
                m.group(2)) in ("nombre", "primer_nombre", "name", "first_name") else "", text)
        result = render(text, conversation=self.c, agent=None)
        out = result.body
        # A value the customer has not given is left out; so is one that itself reads like a variable (a profile
        # name "{{pedido.numero}}"): nothing reaches a customer as {{…}}.
        for leftover in {*result.missing, *variables_in(out)}:
            out = out.replace(leftover, "")
        return out

    def subject(self, subject: str) -> str:
        if subject == "horario":
            now = timezone.now()
            opening = next_opening(hours_team(self.c.inbox), now)
            return "abierto" if opening is not None and opening <= now else "cerrado"
        name = subject.split(".", 1)[1]
        customer = self.customer
        values = {"nombre": customer.name, "name": customer.name, "ciudad": customer.city, "city": customer.city,
                  "documento": customer.document_id, "document": customer.document_id,
                  "idioma": customer.language, "language": customer.language,
                  "departamento": customer.department}
        return str(values.get(name, (customer.extra or {}).get(name, "")) or "")

    def in_segment(self, code: str) -> bool:
        return fold(code) in {fold(s.code) for s in segments_of([self.customer.pk]).get(self.customer.pk, [])}

    def has_tag(self, name: str) -> bool:
        return self.customer.tags.filter(name__iexact=name.strip()).exists()

    def order(self, query: str) -> OrderInfo | None:
        if self.unverified:
            return None
        found = (order_by_number(query, customer_id=self.customer.pk) if query.strip()
                 else latest_order(self.customer.pk))
        return order_info(found) if found is not None else None

    def last_order(self) -> OrderInfo | None:
        if self.unverified:
            return None
        found = latest_order(self.customer.pk)
        return order_info(found) if found is not None else None

    def product(self, query: str) -> ProductInfo | None:
        return find_product(query)

    def articles(self, query: str, limit: int) -> list[Article]:
        return find_articles(query, limit, self.customer.language or "")

    def http(self, method: str, url: str, body: str, timeout: int) -> Any:
        """At most HTTP_CALLS_PER_TURN calls for one answer: the conversation stays locked while they run."""
        self.http_calls += 1
        if self.http_calls > HTTP_CALLS_PER_TURN:
            raise HttpRefused("too many calls in one turn")
        return call_http(method, url, body, timeout)

    def set_customer(self, name: str, value: str) -> None:
        do_set_customer_fields(self.customer, fields={name: value}, source=f"bot:{self.run.flow_id}")

    def tag(self, target: str, value: str) -> None:
        if target == "conversation":
            current = list(self.c.tags.values_list("name", flat=True))
            do_set_associations(self.c, tags=[*current, value], acting_user=None)
        else:
            apply_tags(self.customer, [value])

    def _responsible(self) -> Any:
        if self.c.assignee is not None:
            return self.c.assignee
        agent = pick_agent(self.c.inbox) if not self.c.inbox.is_global else None
        return agent or next(iter(supervisors_of(self.c.inbox)), None)

    def create(self, what: str, title: str, variables: dict[str, str]) -> None:
        with translation.override(settings.LANGUAGE_CODE):  # for the team, whatever the customer's language
            self._create(what, title, variables)

    def _create(self, what: str, title: str, variables: dict[str, str]) -> None:
        responsible = self._responsible()
        name = self.run.flow.name
        if what == "order_draft" and responsible is not None:
            sku, quantity = variables.get("producto_sku", ""), variables.get("cantidad", "1")
            order = do_create_bot_draft(self.c, agent=responsible, sku=sku,
                                        quantity=int(quantity) if re.fullmatch(r"[0-9]{1,4}", quantity) else 1)
            do_add_system_note(self.c, body=_("El bot «%(flow)s» preparó el pedido %(number)s en borrador para que "
                                              "%(agent)s lo confirme.") % {"flow": name, "number": order.number,
                                                                         "agent": responsible.display_name},
                               meta=self._meta())
            return
        if responsible is None:
            do_add_system_note(self.c, body=_("El bot «%(flow)s» no pudo crear «%(title)s»: no hay nadie responsable "
                                              "en la bandeja.") % {"flow": name, "title": title}, meta=self._meta())
            return
        prefix = {"lead": _("Oportunidad de venta"), "task": _("Tarea"), "order_draft": _("Preparar pedido")}[what]
        do_create_task(self.c, title=f"{prefix}: {title or name}"[:250], responsible=responsible, acting_user=None)
        if what == "lead":
            current = list(self.c.tags.values_list("name", flat=True))
            do_set_associations(self.c, tags=[*current, _("oportunidad")], acting_user=None)

    def handoff(self, step: dict[str, Any], *, reason: str, variables: dict[str, str]) -> None:
        with translation.override(settings.LANGUAGE_CODE):  # the note is for the team, whatever the customer speaks
            self._handoff(step, reason=reason, variables=variables)

    def _handoff(self, step: dict[str, Any], *, reason: str, variables: dict[str, str]) -> None:
        c = self.c
        reason_text = str(HandoffReason(reason).label).lower() if reason in HandoffReason.values else reason
        do_add_system_note(c, body=summary(self.run.flow.name, variables, self.said_by_customer(), reason_text),
                           meta=self._meta())
        if step.get("priority") and step["priority"] != c.priority:
            do_set_associations(c, priority=step["priority"], acting_user=None)
        target = Inbox.objects.filter(code=step["inbox"]).first() if step.get("inbox") else None
        if target is not None and target.pk != c.inbox_id:
            owner = pick_agent(target) if not target.is_global and target.auto_assign else None
            if owner is not None or target.is_global:
                do_move_to_inbox(c, target, assignee=owner, acting_user=None, comment=self.run.flow.name)
                return
            do_add_system_note(c, body=_("Nadie de la bandeja «%s» puede recibirla ahora; queda en esta bandeja.")
                               % target.name, meta=self._meta())
        if c.assignee is None and not c.inbox.is_global and c.inbox.auto_assign:
            agent = pick_agent(c.inbox)
            if agent is not None:
                do_assign(c, agent, acting_user=None)
        self.handoff_done = True
