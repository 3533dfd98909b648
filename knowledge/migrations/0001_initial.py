import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Category",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=80, unique=True, verbose_name="nombre")),
                ("slug", models.SlugField(max_length=80, unique=True, verbose_name="identificador")),
                ("position", models.PositiveIntegerField(default=0, verbose_name="posición")),
            ],
            options={
                "verbose_name": "categoría de artículos",
                "verbose_name_plural": "categorías de artículos",
                "ordering": ["position", "name"],
            },
        ),
        migrations.CreateModel(
            name="Article",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("title", models.CharField(max_length=200, verbose_name="título")),
                ("search_title", models.CharField(blank=True, editable=False, max_length=200)),
                ("slug", models.SlugField(max_length=120, verbose_name="identificador en la dirección")),
                ("body", models.TextField(blank=True, verbose_name="texto (Markdown)")),
                ("tags", models.CharField(blank=True, max_length=820, verbose_name="etiquetas")),
                ("language", models.CharField(choices=[("es", "Español"), ("en", "Inglés")], default="es",
                                              max_length=5, verbose_name="idioma")),
                ("state", models.CharField(choices=[("borrador", "Borrador"), ("publicado", "Publicado")],
                                           default="borrador", max_length=10, verbose_name="estado")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("published_at", models.DateTimeField(blank=True, null=True, verbose_name="publicado")),
                ("author", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                             related_name="+", to=settings.AUTH_USER_MODEL, verbose_name="autor")),
                ("category", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                               related_name="articles", to="knowledge.category",
                                               verbose_name="categoría")),
            ],
            options={
                "verbose_name": "artículo",
                "verbose_name_plural": "artículos",
                "indexes": [
                    models.Index(fields=["-updated_at", "-id"], name="kb_article_updated_idx"),
                    models.Index(fields=["language", "state", "category"], name="kb_article_language_state_idx"),
                ],
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("state__in", ["borrador", "publicado"])),
                                           name="kb_article_state_valid"),
                    models.CheckConstraint(condition=models.Q(("language__in", ["es", "en"])),
                                           name="kb_article_language_valid"),
                    models.UniqueConstraint(fields=("language", "slug"), name="kb_article_slug_unique"),
                ],
            },
        ),
        migrations.CreateModel(
            name="ArticleTransition",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("from_state", models.CharField(choices=[("borrador", "Borrador"), ("publicado", "Publicado")],
                                                max_length=10)),
                ("to_state", models.CharField(choices=[("borrador", "Borrador"), ("publicado", "Publicado")],
                                              max_length=10)),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
                ("actor", models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                                            to=settings.AUTH_USER_MODEL)),
                ("article", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="transitions",
                                              to="knowledge.article")),
            ],
            options={
                "ordering": ["at", "pk"],
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("from_state__in", ["borrador", "publicado"])),
                                           name="kb_transition_from_valid"),
                    models.CheckConstraint(condition=models.Q(("to_state__in", ["borrador", "publicado"])),
                                           name="kb_transition_to_valid"),
                ],
            },
        ),
    ]
