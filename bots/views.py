"""The bot's pages: the list of flows, the flow editor (a Drawflow diagram, bots/static/bots/editor.js, beside the
step's form, the simulator and the flow's settings) and the per-step statistics. Each view parses, calls one of
bots.actions and renders; the editor's actions answer htmx fragments (the changed region plus out-of-band
swaps of the flow's status and its problems), never the whole page."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from bots import actions, spec
from bots.forms import FlowSettingsForm, ImportForm, NewFlowForm, StatsFilterForm, example_graph
from bots.models import BotFlow
from core.api import strict_json_loads
from core.errors import ActionError
from core.forms import show_action_errors
from core.permissions import perm_required
from core.perms import Perm
from inbox.choices import Priority
from inbox.models import Inbox


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _flow(request: HttpRequest, flow_id: int) -> BotFlow:
    try:
        return actions.access_flow(_user(request), flow_id)
    except ActionError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from exc
        raise


def _can_manage(user: User) -> bool:
    return bool(user.has_perm_code(Perm.BOTS_MANAGE))


def _inboxes() -> list[Inbox]:
    return list(Inbox.objects.order_by("sort", "name"))


# --- the list --------------------------------------------------------------------------------------------------

def _list(request: HttpRequest, *, import_form: ImportForm | None = None, status: int = 200) -> HttpResponse:
    user = _user(request)
    return render(request, "bots/list.html", {
        "rows": actions.flows_for(user), "can_manage": _can_manage(user),
        "import_form": import_form or ImportForm(), "import_open": import_form is not None}, status=status)


@perm_required(Perm.BOTS_VIEW)
def flow_list(request: HttpRequest) -> HttpResponse:
    return _list(request)


@perm_required(Perm.BOTS_VIEW, Perm.BOTS_MANAGE)
def flow_create(request: HttpRequest) -> HttpResponse:
    form = NewFlowForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            d = form.cleaned_data
            try:
                flow = actions.check_create_flow(_user(request), name=d["name"], description=d["description"],
                                                 graph=example_graph() if d["start_with"] == "example" else None)
            except ActionError as exc:
                show_action_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Flujo «%s» creado: añada pasos, pruébelo y publíquelo.") % flow.name)
                return redirect("bots:editor", flow_id=flow.pk)
        else:
            status = 400
    return render(request, "bots/new.html", {"form": form}, status=status)


@require_POST
@perm_required(Perm.BOTS_VIEW, Perm.BOTS_MANAGE)
def flow_import(request: HttpRequest) -> HttpResponse:
    """A flow exported from this or another Centralita becomes a new draft; a refusal is said above the list."""
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _list(request, import_form=form, status=400)
    try:
        data = strict_json_loads(form.cleaned_data["file"].read().decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        form.add_error("file", _("El archivo no es JSON: elija el archivo que descargó con «Exportar»."))
        return _list(request, import_form=form, status=400)
    try:
        flow = actions.check_import_flow(_user(request), data)
    except ActionError as exc:
        form.add_error("file", exc.message)
        return _list(request, import_form=form, status=exc.status)
    messages.success(request, _("Flujo «%s» importado como borrador: revíselo y publíquelo.") % flow.name)
    return redirect("bots:editor", flow_id=flow.pk)


# --- the editor ------------------------------------------------------------------------------------------------

def _status(flow: BotFlow) -> dict[str, Any]:
    published = flow.published
    return {"flow": flow, "published_number": published.number if published else None,
            "draft_changed": published is not None and published.graph != flow.graph}


def _problems(flow: BotFlow) -> dict[str, Any]:
    """The list "Antes de publicar": what blocks publishing first, then the warnings, each naming its step."""
    steps = flow.graph.get("steps", {}) if isinstance(flow.graph, dict) else {}
    rows = [{"step": p.step, "label": actions.step_label(steps.get(p.step), p.step) if p.step else "",
             "message": p.message, "blocking": p.blocking} for p in actions.flow_problems(flow)]
    rows.sort(key=lambda r: not r["blocking"])
    return {"problems": rows, "publishable": not any(r["blocking"] for r in rows)}


def _settings_form(flow: BotFlow, data: QueryDict | None = None) -> FlowSettingsForm:
    initial = {"name": flow.name, "description": flow.description, "inbox": flow.inbox.code if flow.inbox else "",
               "handoff_keywords": flow.handoff_keywords, "expire_minutes": flow.expire_minutes,
               "expire_text": flow.expire_text, "max_retries": flow.max_retries, "enabled": flow.enabled}
    return FlowSettingsForm(data, initial=initial, inboxes=_inboxes())


def editor_config(flow: BotFlow, *, can_manage: bool) -> dict[str, Any]:
    """What editor.js needs in the reader's language (json_script): the step types, their ports and fields'
    labels, the limits bots.spec enforces, and the inboxes a handoff may name."""
    def opts(pairs: Iterable[tuple[str, Any]]) -> list[list[str]]:
        return [[k, str(v)] for k, v in pairs]

    return {
        "canManage": can_manage,
        "types": {k: str(v) for k, v in spec.TYPE_LABELS.items()},
        "ports": {k: str(v) for k, v in spec.PORT_LABELS.items()},
        "fixedPorts": {k: list(v) for k, v in spec.FIXED_PORTS.items()},
        "limits": {"text": spec.TEXT_MAX, "choices": spec.CHOICES_MAX, "branches": spec.BRANCHES_MAX,
                   "choiceTitle": spec.CHOICE_TITLE_MAX, "var": spec.VAR_MAX, "wait": spec.WAIT_MAX,
                   "httpTimeout": spec.HTTP_TIMEOUT_MAX, "map": spec.MAP_MAX, "steps": spec.STEPS_MAX},
        "inboxes": [[i.code, i.name] for i in _inboxes()],
        "options": {
            "input": opts([("text", _("Texto libre")), ("name", _("Nombre")), ("email", _("Correo electrónico")),
                           ("phone", _("Teléfono")), ("document", _("Documento de identidad")),
                           ("number", _("Número")), ("date", _("Fecha")), ("choice", _("Una de varias opciones"))]),
            "op": opts([("eq", _("es igual a")), ("neq", _("es distinto de")), ("contains", _("contiene")),
                        ("gt", _("es mayor que")), ("lt", _("es menor que")), ("empty", _("está vacío")),
                        ("not_empty", _("tiene un valor"))]),
            "target": opts([("var", _("Una variable del flujo")), ("customer", _("Un dato del cliente")),
                            ("tag", _("Una etiqueta"))]),
            "customerField": opts([("name", _("Nombre")), ("email", _("Correo electrónico")), ("city", _("Ciudad")),
                                   ("document", _("Documento")), ("language", _("Idioma"))]),
            "tagTarget": opts([("customer", _("Al cliente")), ("conversation", _("A la conversación"))]),
            "lookup": opts([("order", _("Un pedido por su número")), ("last_order", _("El último pedido del cliente")),
                            ("product", _("Un producto: precio y stock"))]),
            "create": opts([("lead", _("Una oportunidad de venta")), ("task", _("Una tarea para el equipo")),
                            ("order_draft", _("Un pedido en borrador"))]),
            "mediaKind": opts([("image", _("Imagen")), ("document", _("Documento"))]),
            "method": [["GET", "GET"], ["POST", "POST"]],
            "priority": [["", _("Sin cambiar")], *opts(Priority.choices)],
            "unit": opts([("1", _("segundos")), ("60", _("minutos")), ("3600", _("horas")), ("86400", _("días"))]),
            "subjects": ["segmento", "etiqueta", "horario", "cliente.nombre", "cliente.ciudad", "cliente.email",
                         "cliente.idioma"],
        },
        "fields": {
            "id": _("Identificador del paso"),
            "idHelp": _("Minúsculas, números, «_» o «-». Las estadísticas usan este nombre."),
            "idTaken": _("Ya hay un paso con ese identificador."),
            "text": _("Mensaje"), "askText": _("Pregunta"), "endText": _("Mensaje de despedida"),
            "handoffText": _("Mensaje al cliente antes de derivar"),
            "knowledgeText": _("Mensaje antes de los artículos"),
            "textHelp": _("Puede usar variables: {{var.nombre}}, {{cliente.primer_nombre}}, {{pedido.numero}}…"),
            "mediaUrl": _("Imagen o documento (dirección https://, opcional)"), "mediaKind": _("Tipo de archivo"),
            "input": _("Respuesta esperada"), "var": _("Guardar la respuesta en la variable"),
            "varHelp": _("Minúsculas, números y «_», empezando por letra; después se usa como {{var.nombre}}."),
            "retryText": _("Mensaje si no entiende la respuesta"),
            "retryHelp": _("Vacío: el bot repite la pregunta."),
            "choices": _("Opciones"), "choiceTitle": _("Texto de la opción"),
            "addChoice": _("Añadir opción"),
            "branches": _("Condiciones"),
            "branchesHelp": _("El bot sigue la primera que se cumple; si ninguna, la salida «si no»."),
            "subject": _("Dato"), "subjectHelp": _("var.<nombre>, cliente.<campo>, segmento, etiqueta u horario"),
            "op": _("Comparación"), "value": _("Valor"), "addBranch": _("Añadir condición"),
            "target": _("Qué guardar"), "varName": _("Nombre de la variable"), "customerField": _("Dato del cliente"),
            "tagTarget": _("Etiquetar"), "setValue": _("Valor"), "tagValue": _("Etiqueta"),
            "what": _("Qué buscar"), "query": _("Búsqueda"),
            "queryHelp": _("Texto con variables, p. ej. {{var.numero}}. Un pedido sin búsqueda se busca por el "
                           "teléfono del cliente."),
            "createWhat": _("Qué crear"), "title": _("Título"),
            "knowledgeQuery": _("Buscar"), "knowledgeQueryHelp": _("Vacío: busca con la última respuesta del cliente."),
            "limit": _("Artículos a ofrecer"),
            "method": _("Método"), "url": _("Dirección"), "body": _("Cuerpo (JSON, admite variables)"),
            "timeout": _("Tiempo máximo (segundos)"), "map": _("Guardar de la respuesta"),
            "mapHelp": _("Variable ← ruta en la respuesta, p. ej. estado ← datos.estado"),
            "mapVar": _("Variable"), "mapPath": _("Ruta"), "addMap": _("Añadir dato"),
            "wait": _("Esperar"), "unit": _("Unidad"),
            "inbox": _("Bandeja"), "inboxSame": _("La de la conversación"), "priority": _("Prioridad"),
            "remove": _("Quitar"), "links": _("Sigue con"),
        },
        "text": {
            "start": pgettext("el paso con el que empieza un flujo del bot", "Inicio"), "noStart": _("Sin elegir"),
            "deleteStep": _("Borrar paso"), "duplicateStep": _("Duplicar"),
            "noSelection": _("Elija un paso del diagrama para ver y cambiar lo que hace, o añada uno con los botones "
                             "de arriba."),
            "noSelectionReadOnly": _("Elija un paso del diagrama para ver lo que hace."),
            "empty": _("El diagrama está vacío: añada el primer paso con los botones de arriba."),
            "emptyReadOnly": _("El diagrama está vacío."),
            "leave": _("Hay cambios sin guardar en el diagrama."),
            "exportDirty": _("Hay cambios sin guardar: se exportará la última versión guardada. ¿Continuar?"),
            "tooMany": _("Un flujo tiene como máximo %d pasos."),
            "media": _("Archivo: %s"),
            "waitFor": _("Espera %s"), "lastAnswer": _("la última respuesta del cliente"),
            "setVar": _("var.%(name)s = %(value)s"), "setCustomer": _("cliente.%(name)s = %(value)s"),
            "setTag": _("Etiqueta «%s»"),
            "toInbox": _("a la bandeja «%s»"),
            "stepOf": _("Paso «%s»"),
            "missing": _("Paso «%(step)s»: complete «%(field)s» antes de guardar."),
            "fill": _("Falta: %s"),
            "unitOne": {"1": _("segundo"), "60": _("minuto"), "3600": _("hora"), "86400": _("día")},
        },
    }


@perm_required(Perm.BOTS_VIEW)
def flow_editor(request: HttpRequest, flow_id: int) -> HttpResponse:
    flow = _flow(request, flow_id)
    can_manage = _can_manage(_user(request))
    return render(request, "bots/editor.html", {
        **_status(flow), "graph": flow.graph, "config": editor_config(flow, can_manage=can_manage),
        **_problems(flow), "can_manage": can_manage, "settings_form": _settings_form(flow),
        "types": [(k, str(v)) for k, v in spec.TYPE_LABELS.items()]})


def _posted_graph(request: HttpRequest) -> Any:
    """The diagram a request carries: a JSON body (the graph itself or {"graph": …}, for scripts), or the form
    field `graph` holding it as JSON text (the editor's htmx requests). None when there is none."""
    if request.content_type == "application/json":
        try:
            data = strict_json_loads(request.body or b"null")
        except (ValueError, RecursionError) as exc:
            raise ActionError("invalid_flow", _("El diagrama enviado no es JSON válido."), field="graph") from exc
        return data.get("graph") if isinstance(data, dict) and "graph" in data and "steps" not in data else data
    fields = request.POST if request.method == "POST" else QueryDict(request.body)
    raw = fields.get("graph", "")
    if not raw:
        return None
    try:
        return strict_json_loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ActionError("invalid_flow", _("El diagrama enviado no es JSON válido."), field="graph") from exc


def _feedback(request: HttpRequest, flow: BotFlow, *, message: str, ok: bool, saved: bool, status: int = 200,
              refresh: bool = True) -> HttpResponse:
    return render(request, "bots/_feedback.html", {
        **_status(flow), **_problems(flow), "message": message, "ok": ok, "saved": saved, "refresh": refresh},
        status=status)


@require_http_methods(["PUT", "POST"])
@perm_required(Perm.BOTS_VIEW, Perm.BOTS_MANAGE)
def flow_save(request: HttpRequest, flow_id: int) -> HttpResponse:
    """Saves the draft diagram (PUT, no reload): a sentence in the editor's feedback line, and the flow's status
    and problems swapped out of band."""
    flow = _flow(request, flow_id)
    try:
        graph = _posted_graph(request)
        if graph is None:
            raise ActionError("invalid_flow", _("No llegó ningún diagrama para guardar."), field="graph")
        flow = actions.check_save_flow(_user(request), flow_id, graph=graph)
    except ActionError as exc:
        return _feedback(request, flow, message=exc.message, ok=False, saved=False, status=exc.status,
                         refresh=False)
    blocking = sum(1 for p in actions.flow_problems(flow) if p.blocking)
    message = _("Diagrama guardado.") if not blocking else _(
        "Diagrama guardado. Antes de publicarlo resuelva lo que se indica en «Antes de publicar».")
    return _feedback(request, flow, message=message, ok=True, saved=True)


@require_POST
@perm_required(Perm.BOTS_VIEW, Perm.BOTS_MANAGE)
def flow_publish(request: HttpRequest, flow_id: int) -> HttpResponse:
    """Saves the diagram the editor sends (if any), then publishes the draft as the next version."""
    flow = _flow(request, flow_id)
    saved = False
    try:
        graph = _posted_graph(request)
        if graph is not None:
            flow = actions.check_save_flow(_user(request), flow_id, graph=graph)
            saved = True
        version = actions.check_publish_flow(_user(request), flow_id)
    except ActionError as exc:
        flow = _flow(request, flow_id)
        return _feedback(request, flow, message=exc.message, ok=False, saved=saved, status=exc.status,
                         refresh=saved or exc.code == "flow_has_problems")
    flow = _flow(request, flow_id)
    return _feedback(request, flow, ok=True, saved=True, message=_(
        "Versión %d publicada: las conversaciones nuevas la usan desde ahora; las que están en curso terminan con "
        "la versión en la que empezaron.") % version.number)


@require_POST
@perm_required(Perm.BOTS_VIEW, Perm.BOTS_MANAGE)
def flow_settings(request: HttpRequest, flow_id: int) -> HttpResponse:
    flow = _flow(request, flow_id)
    form = _settings_form(flow, request.POST)
    status, done = 200, ""
    if form.is_valid():
        d = form.cleaned_data
        try:
            flow = actions.check_save_flow(
                _user(request), flow_id, name=d["name"], description=d["description"], inbox_code=d["inbox"],
                handoff_keywords=d["handoff_keywords"], expire_minutes=d["expire_minutes"],
                expire_text=d["expire_text"], max_retries=d["max_retries"], enabled=d["enabled"])
        except ActionError as exc:
            show_action_errors(form, exc)
            status = exc.status
        else:
            done = _("Ajustes guardados.")
            form = _settings_form(flow)
    else:
        status = 400
    return render(request, "bots/_settings.html", {
        **_status(flow), **_problems(flow), "settings_form": form, "done": done, "can_manage": True,
        "oob": bool(done)}, status=status)


@require_POST
@perm_required(Perm.BOTS_VIEW, Perm.BOTS_MANAGE)
def flow_delete(request: HttpRequest, flow_id: int) -> HttpResponse:
    flow = _flow(request, flow_id)
    try:
        actions.check_delete_flow(_user(request), flow_id)
    except ActionError as exc:
        messages.error(request, exc.message)
        return redirect("bots:editor", flow_id=flow_id)
    messages.success(request, _("Flujo «%s» borrado.") % flow.name)
    return redirect("bots:list")


@perm_required(Perm.BOTS_VIEW)
def flow_export(request: HttpRequest, flow_id: int) -> HttpResponse:
    """The saved draft and settings as a JSON file another Centralita imports (bots.actions.export_flow)."""
    flow = _flow(request, flow_id)
    response = JsonResponse(actions.export_flow(flow), json_dumps_params={"ensure_ascii": False, "indent": 2})
    name = slugify(flow.name) or "flujo"
    response["Content-Disposition"] = f'attachment; filename="bot-{name}.json"'
    return response


@require_POST
@perm_required(Perm.BOTS_VIEW)
def flow_simulate(request: HttpRequest, flow_id: int) -> HttpResponse:
    """One turn of the simulator, stateless: the form carries every message the tester wrote so far and the
    diagram on screen (saved or not); the whole conversation is run again and rendered."""
    _flow(request, flow_id)
    said = request.POST.getlist("messages")
    if request.POST.get("reset"):
        return render(request, "bots/_sim.html", {"flow_id": flow_id, "said": []})
    new = (request.POST.get("choice") or request.POST.get("message") or "").strip()
    conversation = [*said, new] if new else said
    if not conversation:
        return render(request, "bots/_sim.html", {"flow_id": flow_id, "said": [],
                                                  "error": _("Escriba un mensaje como lo haría un cliente.")})
    try:
        result = actions.check_simulate(_user(request), flow_id, messages=conversation, graph=_posted_graph(request))
    except ActionError as exc:
        return render(request, "bots/_sim.html", {"flow_id": flow_id, "said": said, "error": exc.message,
                                                  "typed": new}, status=exc.status)
    return render(request, "bots/_sim.html", {"flow_id": flow_id, "said": conversation, "result": result})


# --- statistics ------------------------------------------------------------------------------------------------

def _flow_order(graph: dict[str, Any]) -> list[str]:
    """Steps as a reader follows the diagram: from the start, depth first, each step's exits in the order drawn
    (a branch is read to its end before the next one); the steps no path reaches at the end."""
    steps: dict[str, Any] = graph.get("steps", {}) if isinstance(graph, dict) else {}
    seen: list[str] = []
    todo = [graph["start"]] if graph.get("start") in steps else []
    while todo:
        step_id = todo.pop()
        if step_id in seen or step_id not in steps:
            continue
        seen.append(step_id)
        step = steps[step_id]
        links = step.get("next", {})
        todo.extend(reversed([links[p] for p in spec.ports(step) if links.get(p)]))
    return seen + sorted(s for s in steps if s not in seen)


@perm_required(Perm.BOTS_VIEW)
def flow_stats(request: HttpRequest, flow_id: int) -> HttpResponse:
    flow = _flow(request, flow_id)
    versions = list(flow.versions.order_by("-number").values_list("pk", "number", "graph"))
    form = StatsFilterForm(request.GET or None, versions=[n for _pk, n, _g in versions])
    number = form.cleaned_data["version"] if form.is_valid() else None
    chosen = next(((pk, graph) for pk, n, graph in versions if n == number), None)
    graph = chosen[1] if chosen is not None else flow.published.graph if flow.published else flow.graph
    stats = actions.step_stats(flow, chosen[0] if chosen else None)
    steps = graph.get("steps", {})
    rows: list[dict[str, Any]] = []
    for step_id in [*_flow_order(graph), *sorted(k for k in stats if k not in steps)]:
        counts = stats.get(step_id) or actions.StepStats()
        step = steps.get(step_id)
        rows.append({"id": step_id, "type": str(spec.TYPE_LABELS.get(step["type"], "")) if step else "",
                     "text": str(step.get("text") or "") if step else "", "gone": step is None, "stats": counts,
                     "drop_rate": counts.dropped / counts.reached if counts.reached else None})
    summary = next(iter(actions.flows_for(_user(request), flow_id=flow.pk)), None)
    return render(request, "bots/stats.html", {
        "flow": flow, "form": form, "rows": rows, "summary": summary, "version": number,
        "groups": actions.unrecognised_groups(flow, version_id=chosen[0] if chosen else None),
        "any_visits": any(stats.values())})
