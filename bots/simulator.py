"""The editor's simulator: the engine on a draft, with effects that write nothing. Lookups read the real orders,
stock and articles (what the customer would get); writes and handoffs become notes saying what would happen."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.utils.translation import gettext as _

from accounts.models import User
from bots import engine
from bots.actions import BotLine, SimTurn, SimulationResult, keywords_of
from bots.choices import HandoffReason
from bots.engine import Article, OrderInfo, ProductInfo, Said
from bots.models import BotFlow
from bots.runtime import (
    HTTP_CALLS_PER_TURN,
    HttpRefused,
    call_http,
    find_articles,
    find_product,
    order_by_number,
    order_info,
)
from core.perms import Perm


class SimEffects:
    def __init__(self, *, may_call: bool) -> None:
        self.lines: list[BotLine] = []
        self.last_choices: list[dict[str, str]] = []
        self.may_call = may_call  # people who edit flows call their services; viewers do not make the server call
        self.http_calls = 0

    def note(self, text: str) -> None:
        self.lines.append(BotLine(text="", note=text))

    def say(self, said: Said) -> None:
        text = f"{said.text}\n{said.media_url}".strip() if said.media_url else said.text
        self.lines.append(BotLine(text=text, choices=[c["title"] for c in said.choices]))
        self.last_choices = said.choices

    def render(self, text: str) -> str:
        return text  # the conversation's variables ({{cliente.nombre}}) stay as written: there is no customer

    def subject(self, subject: str) -> str:
        if subject == "horario":
            self.note(_("En el simulador el horario de atención se considera abierto."))
            return "abierto"
        return ""

    def in_segment(self, code: str) -> bool:
        return False

    def has_tag(self, name: str) -> bool:
        return False

    def order(self, query: str) -> OrderInfo | None:
        if not query.strip():
            self.note(_("En el simulador no hay cliente: no se busca su último pedido por teléfono."))
            return None
        found = order_by_number(query, customer_id=None)
        self.note(_("Con un cliente real solo se muestran sus propios pedidos."))
        return order_info(found) if found is not None else None

    def last_order(self) -> OrderInfo | None:
        self.note(_("En el simulador no hay cliente: no hay último pedido."))
        return None

    def product(self, query: str) -> ProductInfo | None:
        return find_product(query)

    def articles(self, query: str, limit: int) -> list[Article]:
        return find_articles(query, limit, "")

    def http(self, method: str, url: str, body: str, timeout: int) -> Any:
        shown = urlsplit(url)._replace(query="", fragment="").geturl()
        if not self.may_call:
            self.note(_("Petición %(method)s a %(url)s: solo quien edita flujos la hace en el simulador; sigue por "
                        "«error».") % {"method": method, "url": shown})
            raise HttpRefused("viewer")
        self.http_calls += 1
        if self.http_calls > HTTP_CALLS_PER_TURN * 5:
            raise HttpRefused("too many calls in one simulation")
        self.note(_("Petición %(method)s a %(url)s") % {"method": method, "url": shown})
        return call_http(method, url, body, timeout)

    def set_customer(self, name: str, value: str) -> None:
        self.note(_("Guardaría en el cliente %(field)s = «%(value)s».") % {"field": name, "value": value})

    def tag(self, target: str, value: str) -> None:
        self.note(_("Etiquetaría %(target)s con «%(value)s».")
                  % {"target": _("la conversación") if target == "conversation" else _("al cliente"),
                     "value": value})

    def create(self, what: str, title: str, variables: dict[str, str]) -> None:
        labels = {"lead": _("una oportunidad de venta"), "task": _("una tarea"),
                  "order_draft": _("un pedido en borrador")}
        self.note(_("Crearía %(what)s: «%(title)s».") % {"what": labels[what], "title": title})

    def handoff(self, step: dict[str, Any], *, reason: str, variables: dict[str, str]) -> None:
        where = _(" a la bandeja «%s»") % step["inbox"] if step.get("inbox") else ""
        self.note(_("Derivaría la conversación a una persona%(where)s (%(reason)s).")
                  % {"where": where, "reason": str(HandoffReason(reason).label).lower()})


def simulate(flow: BotFlow, graph: dict[str, Any], messages: list[str], *, acting_user: User) -> SimulationResult:
    effects = SimEffects(may_call=acting_user.has_perm_code(Perm.BOTS_MANAGE))
    bot = engine.Engine(graph, effects, max_retries=flow.max_retries, keywords=keywords_of(flow))
    turns: list[SimTurn] = []
    turn = bot.begin(engine.Inbound(messages[0]) if messages else None)
    turns.append(SimTurn(customer=messages[0] if messages else None, bot=effects.lines))
    for text in messages[1:]:
        effects.lines = []
        if turn.status == "paused":
            effects.note(_("Pausa de %d segundos (en el simulador sigue de inmediato).") % turn.pause)
            turn = bot.resume(turn.state)
        if turn.status != "waiting":
            effects.note(_("La conversación con el bot ya terminó."))
            turns.append(SimTurn(customer=text, bot=effects.lines))
            continue
        turn = bot.advance(turn.state, engine.Inbound(text))
        turns.append(SimTurn(customer=text, bot=effects.lines))
    labels = {"waiting": _("Esperando la respuesta del cliente"), "paused": _("En pausa"),
              "completed": _("Terminado"), "handed_over": _("Derivado a una persona")}
    variables = {k: v for k, v in turn.state.variables.items() if k != engine.LAST_ANSWER}
    return SimulationResult(turns=turns, variables=variables, step=turn.state.step,
                            state=str(labels.get(turn.status, turn.status)), finished=turn.status != "waiting",
                            choices=effects.last_choices if turn.status == "waiting" else [])
