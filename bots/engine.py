"""The bot's interpreter: walks a flow's (clean) graph from where a run stands, with the customer's answer, until it
needs the next answer, a pause, a person or the end.

It decides; it does not write. Everything that touches the world — sending, looking an order up, tagging, handing
over — goes through an `Effects` object: bots.runtime's writes to the conversation for a live run, bots.simulator's
records what would happen for the editor's simulator. Both walk exactly this code, so the simulator cannot drift
from what customers get."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Protocol
from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.translation import gettext as _

from bots.choices import HandoffReason, VisitOutcome
from core.text import fold

MAX_STEPS_PER_TURN: Final = 50  # a loop in a draft (condition → set → condition…) ends instead of spinning
VAR_RE: Final = re.compile(r"\{\{\s*var\.([a-z][a-z0-9_]{0,39})\s*\}\}")
YES: Final = frozenset({"si", "sí", "s", "yes", "y", "claro", "correcto", "ok", "gracias", "si gracias", "1"})
NO: Final = frozenset({"no", "n", "nop", "para nada", "2"})
VALUE_MAX: Final = 500
KEYWORD_WORDS_MAX: Final = 6
WORD: Final = re.compile(r"\w+")
SAYS_PER_TURN_MAX: Final = 10  # messages the bot sends for one answer; more is a loop in the flow
LAST_ANSWER: Final = "ultima_respuesta"  # the customer's latest message, as {{var.ultima_respuesta}}


@dataclass
class Said:
    """One message of the bot: text, optional choices (id, title) and a file by URL."""

    text: str
    choices: list[dict[str, str]] = field(default_factory=list)
    media_url: str = ""
    media_kind: str = ""
    step: str = ""  # the step that says it (set by the engine)


@dataclass
class Inbound:
    text: str
    reply_id: str = ""  # a WhatsApp button or list row, a web chat button


@dataclass
class State:
    step: str
    variables: dict[str, str]
    retries: int = 0
    awaiting: bool = False  # `step` asked and waits for the answer (ask, knowledge's "did it help?")


@dataclass
class Turn:
    """What one call to `advance` did."""

    state: State
    status: str  # "waiting" (an answer), "paused" (a wait step; `pause` seconds), "completed", "handed_over",
    # "ignored" (a message while paused: nothing to answer)
    pause: int = 0
    handoff_reason: str = ""
    visits: list[tuple[str, str]] = field(default_factory=list)  # (step, VisitOutcome) in order
    unrecognised: list[tuple[str, str]] = field(default_factory=list)  # (step, the answer)


@dataclass(frozen=True)
class OrderInfo:
    number: str
    state: str  # its label
    total: str  # formatted
    date: str  # formatted
    lines: str


@dataclass(frozen=True)
class ProductInfo:
    name: str
    price: str
    stock: int
    sku: str


@dataclass(frozen=True)
class Article:
    title: str
    snippet: str
    url: str


class Effects(Protocol):
    """The world as the engine sees it."""

    def say(self, said: Said) -> None: ...
    def render(self, text: str) -> str: ...  # the quick replies' variables ({{cliente.nombre}}…)
    def subject(self, subject: str) -> str: ...  # cliente.<campo>; "horario" → "abierto"/"cerrado"
    def in_segment(self, code: str) -> bool: ...
    def has_tag(self, name: str) -> bool: ...
    def order(self, query: str) -> OrderInfo | None: ...  # by number, or "" = by the customer's phone
    def last_order(self) -> OrderInfo | None: ...
    def product(self, query: str) -> ProductInfo | None: ...
    def articles(self, query: str, limit: int) -> list[Article]: ...
    def http(self, method: str, url: str, body: str, timeout: int) -> Any: ...  # the JSON; raises on failure
    def set_customer(self, name: str, value: str) -> None: ...
    def tag(self, target: str, value: str) -> None: ...
    def create(self, what: str, title: str, variables: dict[str, str]) -> None: ...
    def handoff(self, step: dict[str, Any], *, reason: str, variables: dict[str, str]) -> None: ...


# --- answers ---------------------------------------------------------------------------------------------------


# A number as written in Latin America: "1.234.567" or "1 234" (thousands), "12,5" (decimal comma), or plain.
# A minus sign only when it is not a hyphen inside a code ("P-000042" is 42).
THOUSANDS: Final = re.compile(r"(?:(?<!\w)-)?(?<![\w.,])\d{1,3}(?:[. ]\d{3})+(?:,\d+)?(?!\d)")
PLAIN_NUMBER: Final = re.compile(r"(?:(?<!\w)-)?(?<![\w.,])\d{1,30}(?:[.,]\d{1,10})?")
PHONE: Final = re.compile(r"\+?\d[\d\s().-]{5,22}\d")


def _number(text: str) -> str | None:
    grouped = THOUSANDS.search(text)
    plain = PLAIN_NUMBER.search(text)
    if grouped is not None and (plain is None or grouped.start() <= plain.start()):
        written = grouped.group(0).replace(".", "").replace(" ", "").replace(",", ".")
    elif plain is not None:
        written = plain.group(0).replace(",", ".")
    else:
        return None
    try:
        return str(Decimal(written))
    except InvalidOperation:  # pragma: no cover - the patterns only match numbers
        return None


def _date(text: str) -> str | None:
    folded = fold(text)
    today = timezone.localdate()
    if folded in ("hoy", "today"):
        return today.isoformat()
    if folded in ("manana", "tomorrow"):
        return (today + timedelta(days=1)).isoformat()
    match = re.search(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    parts = (match.group(1), match.group(2), match.group(3)) if match else None
    if parts is None:
        match = re.search(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})", text)
        if match:
            year = match.group(3) if len(match.group(3)) == 4 else f"20{match.group(3)}"
            parts = (year, match.group(2), match.group(1))  # day first, as written in Latin America
    if parts is None:
        return None
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2])).isoformat()
    except ValueError:
        return None


def parse_answer(kind: str, text: str) -> str | None:  # noqa: PLR0911 - one answer per kind
    """The value of a free answer, or None when it does not look like one."""
    text = text.strip()
    if not text:
        return None
    if kind == "text":
        return text[:VALUE_MAX]
    if kind == "name":
        letters = sum(ch.isalpha() for ch in text)
        return " ".join(text.split())[:100] if letters >= 2 and not any(ch.isdigit() for ch in text) else None
    if kind == "email":
        candidate = text.split()[0] if len(text.split()) == 1 else next(
            (w for w in text.split() if "@" in w), "")
        try:
            validate_email(candidate.strip(".,;"))
        except ValidationError:
            return None
        return candidate.strip(".,;").lower()
    if kind == "phone":  # the first phone-shaped run: "llámame al 300 123 4567 después de las 5"
        for found in PHONE.finditer(text):
            digits = re.sub(r"\D", "", found.group(0))
            if 7 <= len(digits) <= 15:
                return ("+" if found.group(0).startswith("+") else "") + digits
        return None
    if kind == "document":
        compact = re.sub(r"[\s.\-]", "", text)
        return compact.upper() if re.fullmatch(r"[A-Za-z0-9]{5,20}", compact) else None
    if kind == "number":
        return _number(text)
    if kind == "date":
        return _date(text)
    return None


def match_choice(choices: list[dict[str, str]], answer: Inbound) -> str | None:
    """The choice an answer picks: its id (a button), its number ("2", as email lists them), or its title — whole,
    or the one title the answer is part of or contains."""
    ids = [c["id"] for c in choices]
    if answer.reply_id in ids:
        return answer.reply_id
    folded = fold(answer.text).strip(" .!¡?¿")
    if not folded:
        return None
    if folded.isdigit() and len(folded) <= 2 and 1 <= int(folded) <= len(choices):
        return ids[int(folded) - 1]
    titles = [(c["id"], fold(c["title"])) for c in choices]
    for choice_id, title in titles:
        if folded == title.strip(" .!¡?¿") or folded == fold(choice_id):
            return choice_id
    # Whole words: the answer's words are all in one title ("pedido" → "Estado de mi pedido"), or a title's words
    # are all in the answer ("quiero el estado de mi pedido"); a word inside another never counts ("bueno" ≠ "No").
    said = set(WORD.findall(folded))
    if not any(len(w) >= 4 for w in said):
        return None
    near = [cid for cid, title in titles if (words := set(WORD.findall(title))) and (said <= words or words <= said)]
    return near[0] if len(near) == 1 else None


# --- conditions --------------------------------------------------------------------------------------------------


def _compare(actual: str, op: str, expected: str) -> bool:  # noqa: PLR0911 - one answer per operator
    a, e = fold(actual).strip(), fold(expected).strip()
    if op == "empty":
        return not a
    if op == "not_empty":
        return bool(a)
    if op == "eq":
        return a == e
    if op == "neq":
        return a != e
    if op == "contains":
        return bool(e) and e in a
    try:
        x, y = Decimal(a.replace(",", ".")), Decimal(e.replace(",", "."))
    except InvalidOperation:
        return False
    if not (x.is_finite() and y.is_finite()):  # "nan", "Infinity": not numbers a flow compares
        return False
    return x > y if op == "gt" else x < y


def branch_holds(branch: dict[str, Any], variables: dict[str, str], effects: Effects) -> bool:
    subject, op, value = branch["subject"], branch["op"], branch["value"]
    if subject == "segmento":
        inside = effects.in_segment(value)
        return not inside if op in ("neq", "empty") else inside
    if subject == "etiqueta":
        tagged = effects.has_tag(value)
        return not tagged if op in ("neq", "empty") else tagged
    if subject == "horario":
        actual = effects.subject("horario")
        return _compare(actual, op, value or "abierto")
    namespace, name = subject.split(".", 1)
    actual = variables.get(name, "") if namespace == "var" else effects.subject(subject)
    return _compare(actual, op, value)


# --- the walk ------------------------------------------------------------------------------------------------


def fill(text: str, variables: dict[str, str], effects: Effects) -> str:
    """`{{var.x}}` from the run, then the quick replies' variables from the conversation."""
    return effects.render(VAR_RE.sub(lambda m: variables.get(m.group(1), ""), text)).strip()


def dig(data: Any, path: str) -> str:
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return ""
    if data is None or isinstance(data, dict | list):
        return ""
    return str(data)[:VALUE_MAX]


def _order_vars(info: OrderInfo) -> dict[str, str]:
    return {"pedido_numero": info.number, "pedido_estado": info.state, "pedido_total": info.total,
            "pedido_fecha": info.date, "pedido_productos": info.lines}


def helped_choices() -> list[dict[str, str]]:
    return [{"id": "si", "title": _("Sí, me sirvió")}, {"id": "no", "title": _("No, necesito ayuda")}]


class Engine:
    def __init__(self, graph: dict[str, Any], effects: Effects, *, max_retries: int = 2,
                 keywords: frozenset[str] = frozenset()) -> None:
        self.steps: dict[str, dict[str, Any]] = graph["steps"]
        self.start = graph.get("start") or ""
        self.effects = effects
        self.max_retries = max_retries
        self.keywords = keywords
        self._said = 0
        self._current = ""

    def _say(self, said: Said, step: str) -> None:
        self._said += 1
        said.step = step
        self.effects.say(said)

    def begin(self, first: Inbound | None = None) -> Turn:
        """A new run; `first` is the customer's message that started it (a knowledge step without a query of its
        own searches it)."""
        variables = {LAST_ANSWER: first.text[:VALUE_MAX]} if first is not None and first.text.strip() else {}
        turn = Turn(state=State(step=self.start, variables=variables), status="completed")
        self._said = 0
        return self._walk(turn, self.start)

    def resume(self, state: State) -> Turn:
        """After a wait step: on from the step it paused before."""
        turn = Turn(state=state, status="completed")
        self._said = 0
        return self._walk(turn, state.step)

    def wants_person(self, text: str) -> bool:
        """A keyword alone or as a word of a short message ("quiero un agente"); a long message that mentions
        one in passing is an answer like any other."""
        folded = fold(text).strip(" .!¡?¿")
        if not folded or len(folded.split()) > KEYWORD_WORDS_MAX:
            return False
        return folded in self.keywords or any(re.search(rf"\b{re.escape(k)}\b", folded) for k in self.keywords)

    def advance(self, state: State, answer: Inbound) -> Turn:
        turn = Turn(state=state, status="waiting")
        self._said = 0
        step = self.steps.get(state.step)
        state.variables[LAST_ANSWER] = answer.text[:VALUE_MAX]
        waiting = step is not None and state.awaiting
        port, value = self._interpret(step, answer) if waiting and step is not None else (None, "")
        # A pressed button or a picked option is an answer even when it reads like a keyword ("Persona natural");
        # otherwise "agente" / "humano" hand over wherever the customer is.
        chose = port is not None and step is not None and (step["type"] == "knowledge" or step.get("input") == "choice")
        if self.keywords and not chose and self.wants_person(answer.text):
            return self._handoff(turn, state.step, None, HandoffReason.KEYWORD)
        if step is None or not state.awaiting:
            turn.status = "ignored"  # not waiting for an answer (a pause): the message is for whoever reads it
            return turn
        if port is None:
            turn.unrecognised.append((state.step, answer.text[:VALUE_MAX]))
            state.retries += 1
            if state.retries > self.max_retries:
                return self._handoff(turn, state.step, None, HandoffReason.RETRIES)
            retry = fill(step.get("retry_text") or "", state.variables, self.effects) or self._retry_text(step)
            self._say(Said(retry), state.step)
            self._ask(step, state.variables, state.step)
            return turn
        if step["type"] == "ask" and step.get("var"):
            state.variables[step["var"]] = value
        state.retries, state.awaiting = 0, False
        turn.visits.append((state.step, VisitOutcome.ANSWERED))
        target = step["next"].get(port, "")
        return self._walk(turn, target)

    # -- internals

    def _retry_text(self, step: dict[str, Any]) -> str:
        if step["type"] == "knowledge":
            return _("Responda con una de las opciones, por favor.")
        messages = {
            "choice": _("No entendí su respuesta. Elija una de las opciones, por favor."),
            "email": _("Eso no parece un correo electrónico. Escríbalo así: nombre@ejemplo.com"),
            "phone": _("Eso no parece un número de teléfono. Escríbalo con el indicativo, solo números."),
            "number": _("Necesito un número. Escríbalo solo con cifras, por favor."),
            "date": _("No entendí la fecha. Escríbala así: 31/12/2026."),
            "document": _("Ese documento no parece válido. Escríbalo sin puntos ni espacios."),
            "name": _("Escriba su nombre, por favor."),
        }
        return messages.get(step.get("input", ""), _("No entendí su respuesta. ¿Puede escribirla de nuevo?"))

    def _interpret(self, step: dict[str, Any], answer: Inbound) -> tuple[str | None, str]:
        if step["type"] == "knowledge":
            choice = match_choice(helped_choices(), answer)
            folded = fold(answer.text).strip(" .!¡?¿")
            if choice is None and folded in {fold(w) for w in YES}:
                choice = "si"
            elif choice is None and folded in NO:
                choice = "no"
            return ({"si": "helped", "no": "not_helped"}.get(choice or ""), answer.text)
        if step.get("input") == "choice":
            choice = match_choice(step["choices"], answer)
            title = next((c["title"] for c in step["choices"] if c["id"] == choice), "")
            return choice, title
        value = parse_answer(step.get("input", "text"), answer.text)
        return ("next", value) if value is not None else (None, "")

    def _ask(self, step: dict[str, Any], variables: dict[str, str], step_id: str) -> None:
        if step["type"] == "knowledge":
            self._say(Said(_("¿Le sirvió esta información?"), choices=helped_choices()), step_id)
            return
        choices = ([{"id": c["id"], "title": fill(c["title"], variables, self.effects) or c["id"]}
                    for c in step["choices"]] if step.get("input") == "choice" else [])
        text = fill(step["text"], variables, self.effects) or (_("Elija una opción:") if choices else "")
        self._say(Said(text, choices=choices), step_id)

    def _handoff(self, turn: Turn, step_id: str, step: dict[str, Any] | None, reason: str) -> Turn:
        turn.visits.append((step_id, VisitOutcome.HANDED_OVER))
        target = step or {"type": "handoff", "text": "", "inbox": "", "priority": ""}
        text = fill(target["text"], turn.state.variables, self.effects) if target.get("text") else ""
        if not text and reason != HandoffReason.STEP:
            text = _("Le comunico con una persona del equipo; en un momento le atienden.")
        if text:
            self._say(Said(text), step_id)
        self.effects.handoff(target, reason=reason, variables=dict(turn.state.variables))
        turn.state.step, turn.state.awaiting = step_id, False
        turn.status, turn.handoff_reason = "handed_over", reason
        return turn

    def _walk(self, turn: Turn, step_id: str) -> Turn:
        state, effects = turn.state, self.effects
        for _hop in range(MAX_STEPS_PER_TURN):
            if self._said >= SAYS_PER_TURN_MAX:
                break  # a loop that keeps writing: a person takes it from here
            step = self.steps.get(step_id)
            if step is None:  # an unlinked port (a draft in the simulator): the conversation with the bot ends
                turn.status = "completed"
                return turn
            state.step = self._current = step_id
            kind, nxt = step["type"], step["next"]
            variables = state.variables
            if kind == "send":
                self._say(Said(fill(step["text"], variables, effects), media_url=step.get("media_url", ""),
                               media_kind=step.get("media_kind", "")), step_id)
                port = "next"
            elif kind in ("ask", "knowledge") and not (kind == "knowledge" and not self._offer(step, variables)):
                if kind == "ask":
                    self._ask(step, variables, step_id)
                state.awaiting, state.retries = True, 0
                turn.visits.append((step_id, VisitOutcome.WAITING))
                turn.status = "waiting"
                return turn
            elif kind == "knowledge":  # nothing found
                port = "none"
            elif kind == "condition":
                port = next((b["id"] for b in step["branches"] if branch_holds(b, variables, effects)), "else")
            elif kind == "set":
                value = fill(step["value"], variables, effects)[:VALUE_MAX]
                if step["target"] == "var":
                    variables[step["name"]] = value
                elif step["target"] == "customer":
                    effects.set_customer(step["name"], value)
                else:
                    effects.tag(step["name"], value)
                port = "next"
            elif kind == "lookup":
                port = self._lookup(step, variables)
            elif kind == "create":
                effects.create(step["what"], fill(step["title"], variables, effects), dict(variables))
                port = "next"
            elif kind == "http":
                port = self._http(step, variables)
            elif kind == "wait":
                turn.visits.append((step_id, VisitOutcome.PASSED))
                state.step, state.awaiting = nxt.get("next", ""), False
                turn.status, turn.pause = "paused", int(step["seconds"])
                return turn
            elif kind == "handoff":
                return self._handoff(turn, step_id, step, HandoffReason.STEP)
            else:  # end
                if step.get("text"):
                    self._say(Said(fill(step["text"], variables, effects)), step_id)
                turn.visits.append((step_id, VisitOutcome.PASSED))
                turn.status = "completed"
                return turn
            turn.visits.append((step_id, VisitOutcome.PASSED))
            step_id = nxt.get(port, "")
        return self._handoff(turn, step_id, None, HandoffReason.ERROR)  # a loop: a person takes it from here

    def _offer(self, step: dict[str, Any], variables: dict[str, str]) -> bool:
        """The knowledge step's answer: the best articles, then "did it help?". False when nothing was found."""
        query = fill(step["query"], variables, self.effects) if step["query"] else variables.get(LAST_ANSWER, "")
        found = self.effects.articles(query, step["limit"]) if query.strip() else []
        if not found:
            return False
        intro = fill(step.get("text") or "", variables, self.effects) or _("Esto puede ayudarle:")
        lines = [intro, *(f"• {a.title}\n  {a.url or a.snippet}" for a in found)]
        self._say(Said("\n".join(lines)), self._current)
        self._ask(step, variables, self._current)
        return True

    def _lookup(self, step: dict[str, Any], variables: dict[str, str]) -> str:
        query = fill(step["query"], variables, self.effects) if step["query"] else ""
        if step["what"] == "product":
            product = self.effects.product(query) if query else None
            if product is None:
                return "not_found"
            variables.update({"producto_nombre": product.name, "producto_precio": product.price,
                              "producto_stock": str(product.stock), "producto_sku": product.sku})
            return "found"
        info = self.effects.last_order() if step["what"] == "last_order" else self.effects.order(query)
        if info is None:
            return "not_found"
        variables.update(_order_vars(info))
        return "found"

    def _http(self, step: dict[str, Any], variables: dict[str, str]) -> str:
        """Only `{{var.…}}` is filled in the URL and body, encoded for where it goes: what a customer typed can
        never add a path, a query parameter or a JSON field of its own."""
        url = VAR_RE.sub(lambda m: quote(variables.get(m.group(1), ""), safe=""), step["url"])
        body = VAR_RE.sub(lambda m: json.dumps(variables.get(m.group(1), ""))[1:-1], step["body"])
        try:
            data = self.effects.http(step["method"], url, body, step["timeout"])
        except Exception:
            return "error"
        for name, path in step["map"].items():
            variables[name] = dig(data, path)
        return "ok"
