"""Demo articles: the questions a store's customers ask every day, five in Spanish and two in English, published,
in three categories (seed_demo's SEEDERS, from KnowledgeConfig.ready())."""

from __future__ import annotations

import random

from django.core.management.base import OutputWrapper

from accounts.models import User
from knowledge.actions import ArticleInput, check_publish, check_save_article, check_save_category
from knowledge.models import Article

CATEGORIES = ["Envíos y devoluciones", "Pagos", "Atención al cliente"]

ARTICLES: list[tuple[str, str, str, str, str]] = [  # (category, language, title, tags, body)
    ("Envíos y devoluciones", "es", "Devoluciones y cambios", "devoluciones, cambios, reembolso", """\
Puede **devolver o cambiar** un producto dentro de los **30 días** siguientes a la entrega.

## Cómo hacerlo
1. Escríbanos por WhatsApp o por correo con el número de su pedido.
2. Empaque el producto con sus accesorios y, si lo tiene, en su caja original.
3. Le enviamos una guía para que la transportadora lo recoja **sin costo** en su dirección.

## Cuándo recibe su dinero
El reembolso se hace al mismo medio de pago en un plazo de **5 a 10 días hábiles** después de recibir el producto.
Si prefiere un cambio por otra talla, color o referencia, lo despachamos apenas llegue la devolución.

> Los productos de higiene personal y las tarjetas de regalo no tienen devolución, salvo defecto de fábrica.
"""),
    ("Envíos y devoluciones", "es", "Costos y tiempos de envío", "envíos, domicilios, transportadora", """\
Enviamos a **todo el país** con transportadoras aliadas.

| Destino | Tiempo | Costo |
|---|---|---|
| Ciudades principales | 1 a 3 días hábiles | $9.900 |
| Otros municipios | 3 a 6 días hábiles | $14.900 |
| Compras desde $150.000 | — | **Gratis** |

Apenas despachamos su pedido le enviamos el **número de guía** para que siga el envío en línea.
Los pedidos confirmados antes de las 2:00 p. m. salen el mismo día hábil.
"""),
    ("Pagos", "es", "Métodos de pago", "pagos, tarjeta, transferencia, contraentrega", """\
Aceptamos:

- **Tarjetas** de crédito y débito (Visa, Mastercard, American Express), hasta 36 cuotas.
- **PSE** y transferencia bancaria: el pedido se confirma al recibir el pago.
- **Pago contraentrega** en efectivo en las ciudades principales, para compras hasta $500.000.
- **Nequi** y **Daviplata**.

Nunca le pediremos la clave de su tarjeta ni códigos de verificación por chat o por teléfono.
"""),
    ("Envíos y devoluciones", "es", "Garantía de los productos", "garantía, defectos, reparación", """\
Todos nuestros productos tienen **garantía de 12 meses** por defectos de fábrica, contados desde la entrega.

Para hacerla efectiva, escríbanos con el número de pedido, una foto o un video del problema y una breve descripción.
Revisamos el caso en un máximo de **3 días hábiles** y, si procede, reparamos, cambiamos el producto o le devolvemos el
dinero.

La garantía no cubre golpes, humedad, mal uso ni reparaciones hechas por terceros.
"""),
    ("Atención al cliente", "es", "Horarios de atención", "horarios, atención, contacto", """\
Nuestro equipo le atiende:

- **Lunes a viernes:** 8:00 a. m. a 6:00 p. m.
- **Sábados:** 9:00 a. m. a 1:00 p. m.
- **Domingos y festivos:** sin atención; los mensajes se responden el siguiente día hábil.

Puede escribirnos a cualquier hora por WhatsApp o por el chat de la tienda: registramos su mensaje y le respondemos
en cuanto abramos.
"""),
    ("Envíos y devoluciones", "en", "Returns and exchanges", "returns, refunds", """\
You can **return or exchange** a product within **30 days** of delivery.

1. Message us on WhatsApp or by email with your order number.
2. Pack the product with its accessories.
3. We send you a shipping label and the carrier picks it up **free of charge**.

Refunds go back to the original payment method within **5 to 10 business days** after we receive the product.
"""),
    ("Envíos y devoluciones", "en", "Shipping costs and delivery times", "shipping, delivery", """\
We ship **nationwide**. Main cities: 1 to 3 business days; other towns: 3 to 6 business days.
Shipping is **free** on orders over $150,000. You get a **tracking number** as soon as your order ships.
"""),
]


def seed_articles(rng: random.Random, scale: str, stdout: OutputWrapper) -> None:
    author = User.objects.filter(role="supervisor").order_by("id").first()
    if author is None or Article.objects.exists():
        return
    categories = {name: check_save_category(author, category_id=None, name=name, position=i + 1).pk
                  for i, name in enumerate(CATEGORIES)}
    for category, language, title, tags, body in ARTICLES:
        article = check_save_article(author, article_id=None, data=ArticleInput(
            title=title, body=body, category_id=categories[category], tags=tags, language=language))
        check_publish(author, article_id=article.pk)
    stdout.write(f"knowledge: {len(ARTICLES)} articles in {len(CATEGORIES)} categories")
