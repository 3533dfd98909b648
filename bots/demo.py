"""The demo's flow "Estado de mi pedido" (seed_demo's SEEDERS, from BotsConfig.ready()): it asks for the order
number or uses the customer's phone, answers the order's real state, prices a product from live stock, answers
from the knowledge base, and offers a person at every turn. Published, not attached to an inbox: attach it in the
flow's settings (or start it from a rule) to try it."""

from __future__ import annotations

import random
from typing import Any

from django.core.management.base import OutputWrapper

from accounts.models import User
from bots.actions import check_create_flow, check_publish_flow, check_save_flow
from bots.models import BotFlow

NAME = "Estado de mi pedido"
HUMAN = {"id": "humano", "title": "Hablar con alguien"}


def _step(kind: str, x: int, y: int, next_: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "x": x, "y": y, "next": next_ or {}, **fields}


GRAPH: dict[str, Any] = {"start": "saludo", "steps": {
    "saludo": _step("send", 40, 200, {"next": "menu"},
                    text="¡Hola {{cliente.primer_nombre}}! Soy el asistente virtual de la tienda."),
    "menu": _step("ask", 300, 200, {"pedido": "como", "producto": "cual_producto", "consulta": "pregunta",
                                    "humano": "agente"},
                  text="¿En qué te ayudo?", input="choice", var="opcion",
                  choices=[{"id": "pedido", "title": "Estado de mi pedido"},
                           {"id": "producto", "title": "Precio y disponibilidad"},
                           {"id": "consulta", "title": "Otra consulta"}, HUMAN]),
    "como": _step("ask", 580, 40, {"numero": "pedir_numero", "telefono": "por_telefono"},
                  text="¿Cómo busco tu pedido?", input="choice", var="busqueda",
                  choices=[{"id": "numero", "title": "Tengo el número"},
                           {"id": "telefono", "title": "Con mi teléfono"}]),
    "pedir_numero": _step("ask", 860, -40, {"next": "buscar_numero"},
                          text="Escribe el número de tu pedido (por ejemplo P-000123).", input="number",
                          var="numero", retry_text="Necesito el número del pedido, solo las cifras (por ejemplo 123)."),
    "buscar_numero": _step("lookup", 1140, -40, {"found": "estado", "not_found": "no_encontrado"},
                           what="order", query="{{var.numero}}"),
    "por_telefono": _step("lookup", 1140, 120, {"found": "estado", "not_found": "no_encontrado"},
                          what="order", query=""),
    "estado": _step("send", 1420, 40, {"next": "mas"},
                    text="Tu pedido {{var.pedido_numero}} del {{var.pedido_fecha}} está *{{var.pedido_estado}}*. "
                         "Total: {{var.pedido_total}}.\nProductos: {{var.pedido_productos}}"),
    "no_encontrado": _step("ask", 1420, 220, {"otra": "como", "humano": "agente"},
                           text="No encontré un pedido tuyo con esos datos. ¿Qué hacemos?", input="choice",
                           var="reintento", choices=[{"id": "otra", "title": "Intentar de nuevo"}, HUMAN]),
    "cual_producto": _step("ask", 580, 300, {"next": "buscar_producto"},
                           text="¿Qué producto buscas? Escribe su nombre o su código.", input="text", var="producto"),
    "buscar_producto": _step("lookup", 860, 300, {"found": "precio", "not_found": "no_producto"},
                             what="product", query="{{var.producto}}"),
    "precio": _step("send", 1140, 300, {"next": "mas"},
                    text="{{var.producto_nombre}}: {{var.producto_precio}}. Disponibles hoy: "
                         "{{var.producto_stock}} unidades."),
    "no_producto": _step("send", 1140, 420, {"next": "mas"}, text="No encontré ese producto en el catálogo."),
    "pregunta": _step("ask", 580, 480, {"next": "kb"}, text="Cuéntame tu consulta en pocas palabras.",
                      input="text", var="consulta"),
    "kb": _step("knowledge", 860, 540, {"helped": "mas", "not_helped": "agente", "none": "agente"},
                query="{{var.consulta}}", limit=2, text="Esto puede ayudarte:"),
    "mas": _step("ask", 1700, 200, {"si": "menu", "no": "fin", "humano": "agente"},
                 text="¿Te ayudo con algo más?", input="choice", var="algo_mas",
                 choices=[{"id": "si", "title": "Sí, otra cosa"}, {"id": "no", "title": "No, gracias"}, HUMAN]),
    "agente": _step("handoff", 1980, 420, text="Te comunico con una persona del equipo; ya le dejé tu consulta.",
                    priority="normal"),
    "fin": _step("end", 1980, 160, text="¡Gracias por escribirnos! 👋"),
}}


def seed_order_status_flow(rng: random.Random, scale: str, stdout: OutputWrapper) -> None:
    author = User.objects.filter(role="supervisor").order_by("id").first()
    if author is None or BotFlow.objects.filter(name=NAME).exists():
        return
    flow = check_create_flow(author, name=NAME, graph=GRAPH,
                             description="Consulta el estado de un pedido, precios y stock, y deriva a una persona.")
    check_save_flow(author, flow.pk, expire_minutes=30,
                    expire_text="Cerramos esta conversación por falta de respuesta. Escríbenos cuando quieras.")
    check_publish_flow(author, flow.pk)
    stdout.write(f"bots: flow «{NAME}» published (attach it to an inbox in its settings)")
