"""Knowledge base (issue 18): search over 10,000 articles — the bot's and the API's `GET /api/v1/kb/search`, the
knowledge page's search as you type, and the composer's picker. Target: p95 < 50 ms.

Data set: SIZE articles in Spanish (one in ten in English), generated deterministically from a bank of topics,
products and sentences (accents included): titles such as "Devoluciones de neveras (caso 412)", bodies of 4 to 9
sentences (≈ 600 characters), nine in ten published, in 12 categories. Queries rotate over common words ("envio"
matches thousands of bodies), exact titles, a last word being typed, and typos that only the title trigrams find.
"""

from __future__ import annotations

import random
from itertools import cycle
from typing import Any

from bench.harness import Sample, Scenario, timed_requests

SIZE = 10_000
_state: dict[str, Any] = {}

TOPICS = ["Devoluciones", "Costos de envío", "Tiempos de envío", "Garantía", "Métodos de pago", "Facturación",
          "Cambios de talla", "Seguimiento del pedido", "Cuenta y contraseña", "Promociones", "Tarjetas de regalo",
          "Instalación", "Mantenimiento", "Horarios de atención", "Cancelación de pedidos", "Reembolsos"]
PRODUCTS = ["neveras", "celulares", "televisores", "muebles", "colchones", "computadores", "lavadoras", "bicicletas",
            "zapatos", "ropa deportiva", "juguetes", "audífonos", "cafeteras", "herramientas", "relojes"]
SENTENCES = [
    "Puede solicitarlo desde su cuenta o escribiéndonos por WhatsApp con el número de pedido.",
    "El envío a ciudades principales tarda de uno a tres días hábiles.",
    "Los pedidos confirmados antes de las dos de la tarde salen el mismo día.",
    "La garantía cubre defectos de fábrica durante doce meses desde la entrega.",
    "Aceptamos tarjeta de crédito, PSE, Nequi y pago contraentrega.",
    "Le enviamos la factura electrónica al correo registrado en su compra.",
    "El reembolso se hace al mismo medio de pago en cinco a diez días hábiles.",
    "Si el producto llegó con daños, tómele una foto antes de abrir la caja.",
    "La transportadora recoge la devolución sin costo en su dirección.",
    "Nuestro equipo atiende de lunes a viernes de ocho a seis y los sábados en la mañana.",
    "Nunca le pediremos la clave de su tarjeta por chat ni por teléfono.",
    "Para cambiar la talla, el producto debe estar sin uso y con sus etiquetas.",
    "El técnico agenda la instalación en un plazo de dos días después de la entrega.",
    "Las promociones no son acumulables con otros descuentos ni con tarjetas de regalo.",
    "Puede seguir su envío en línea con el número de guía que le enviamos.",
    "Los productos de higiene personal no tienen devolución salvo defecto de fábrica.",
    "La limpieza periódica alarga la vida útil y conserva la garantía.",
    "Si olvidó su contraseña, use la opción «¿Olvidó su contraseña?» en la página de ingreso.",
]
ENGLISH = ["Returns", "Shipping costs", "Warranty", "Payment methods", "Order tracking", "Opening hours"]
QUERIES = ["envio", "devolucion", "garantia de neveras", "metodos de pago", "costos de env", "factura electronica",
           "reembolso tarjeta", "cambios de talla zapatos", "devolusion", "garantya", "instalasion", "horarios"]


def ensure_articles(size: int) -> None:
    if _state.get("size") == size:
        return
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.actions import do_create_api_token, do_create_user
    from accounts.roles import Role
    from core.text import fold
    from knowledge.models import Article, Category

    rng = random.Random(18)  # a reproducible data set
    now = timezone.now()
    with transaction.atomic():
        categories = Category.objects.bulk_create(
            Category(name=f"Categoría {i}", slug=f"categoria-{i}", position=i) for i in range(12))
        rows = []
        for i in range(size):
            english = i % 10 == 9
            if english:
                title = f"{ENGLISH[i % len(ENGLISH)]} for {PRODUCTS[i % len(PRODUCTS)]} (case {i})"
                body = "Message us on WhatsApp with your order number. Refunds take five to ten business days."
            else:
                title = f"{TOPICS[i % len(TOPICS)]} de {PRODUCTS[(i // len(TOPICS)) % len(PRODUCTS)]} (caso {i})"
                body = " ".join(rng.sample(SENTENCES, rng.randint(4, 9)))
            published = i % 10 != 5
            rows.append(Article(title=title, search_title=fold(title)[:200], slug=f"articulo-{i}", body=body,
                                category=categories[i % len(categories)], tags="bench",
                                language="en" if english else "es", state="publicado" if published else "borrador",
                                created_at=now, updated_at=now, published_at=now if published else None))
        Article.objects.bulk_create(rows, batch_size=1000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE knowledge_article")
    agent = do_create_user(username="bench-kb-agente", password=None, full_name="Agente KB", role=Role.AGENTE,
                           acting_user=None)
    supervisor = do_create_user(username="bench-kb-supervisor", password=None, full_name="Supervisor KB",
                                role=Role.SUPERVISOR, acting_user=None)
    _token, raw = do_create_api_token(agent, name="bench", acting_user=None)
    _state.update(size=size, token=raw, agent_id=agent.pk, supervisor_id=supervisor.pk)


def _api_client() -> Any:
    from django.test import Client

    return Client(headers={"Authorization": f"Bearer {_state['token']}"})


def _session_client(user_id: int) -> Any:
    from django.test import Client

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(pk=user_id))
    return client


def _rotating(client: Any, paths: list[str], *, marker: bytes, **headers: str) -> Any:
    for path in paths:  # every query answers something: a broken index fails the run instead of measuring it
        response = client.get(path, **headers)
        if response.status_code != 200 or marker not in response.content:
            raise RuntimeError(f"{path}: HTTP {response.status_code}, no result")
    paths_cycle = cycle(paths)
    return lambda: client.get(next(paths_cycle), **headers)


def run_api_search(n: int) -> list[Sample]:
    from urllib.parse import quote

    call = _rotating(_api_client(), [f"/api/v1/kb/search?q={quote(q)}&limit=5" for q in QUERIES], marker=b'"id"')
    return timed_requests(call, n)


def run_api_typos(n: int) -> list[Sample]:
    from urllib.parse import quote

    call = _rotating(_api_client(), [f"/api/v1/kb/search?q={quote(q)}&limit=5"
                                     for q in ("devolusion", "garantya", "instalasion", "facturasion")],
                     marker=b'"id"')
    return timed_requests(call, n)


def run_page_search(n: int) -> list[Sample]:
    """The knowledge page's search as you type (its results fragment, as htmx asks), a supervisor: drafts too."""
    from urllib.parse import quote

    call = _rotating(_session_client(_state["supervisor_id"]), [f"/conocimiento/?q={quote(q)}" for q in QUERIES],
                     marker=b"data-article-id", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="div#kb-results")
    return timed_requests(call, n)


def run_picker(n: int) -> list[Sample]:
    """The composer's picker, an agent typing a word."""
    from urllib.parse import quote

    call = _rotating(_session_client(_state["agent_id"]),
                     [f"/conocimiento/para-respuesta/?q={quote(q)}" for q in QUERIES], marker=b"data-kb-article")
    return timed_requests(call, n)


SCENARIOS = [
    Scenario(name="knowledge.search_api", description="GET /api/v1/kb/search?q=… (rotating queries), 10,000 articles",
             setup=ensure_articles, run=run_api_search, size=SIZE),
    Scenario(name="knowledge.search_api_typos",
             description="GET /api/v1/kb/search with a typo only the title trigrams find, 10,000 articles",
             setup=ensure_articles, run=run_api_typos, size=SIZE),
    Scenario(name="knowledge.search_page",
             description="GET /conocimiento/?q=… (the results fragment, supervisor), 10,000 articles",
             setup=ensure_articles, run=run_page_search, size=SIZE),
    Scenario(name="knowledge.picker", description="GET /conocimiento/para-respuesta/?q=… (composer), 10,000 articles",
             setup=ensure_articles, run=run_picker, size=SIZE),
]
