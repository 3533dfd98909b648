"""The knowledge base's pages: the list with search as you type, an article, the editor with its live preview,
publish / unpublish / delete, categories; the composer's picker; the public help pages (knowledge.public_urls).
Each view parses, calls an action or a selector and renders."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError
from core.forms import show_action_errors
from core.markdown import markdown_to_text, render_markdown
from core.permissions import perm_required
from customers.choices import Language
from knowledge import actions, search
from knowledge.choices import ArticleState
from knowledge.forms import ArticleFilterForm, ArticleForm, CategoryForm
from knowledge.models import BODY_MAX, Article, Category

LIST_LIMIT = 100
PICKER_LIMIT = 6


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


@perm_required(Perm.KNOWLEDGE_VIEW)
def article_list(request: HttpRequest) -> HttpResponse:
    """Every article (those who edit them) or the published ones, newest change first; a search orders by relevance
    (knowledge.search). htmx swaps only the results."""
    user = _user(request)
    categories = list(Category.objects.all())
    form = ArticleFilterForm(request.GET or None, categories=categories)
    manage = actions.can_manage(user)
    q, category_id, language, state = "", None, "", ""
    if form.is_valid():
        q = form.cleaned_data["q"].strip()
        category_id = form.cleaned_data["category"]
        language = form.cleaned_data["language"]
        state = form.cleaned_data["state"] if manage else ""
    elif form.is_bound:  # a stale filter (a deleted category) drops the filters, never the words typed
        q = request.GET.get("q", "")[:200].strip()
    articles = list(actions.matching_articles(user, q=q, category_id=category_id, language=language, state=state,
                                              limit=LIST_LIMIT)[:LIST_LIMIT])
    context = {"articles": articles, "form": form, "q": q, "can_manage": manage,
               "filtered": bool(q or category_id is not None or language or state), "limit": LIST_LIMIT}
    # htmx sends `HX-Target: tag#id`; history restores and full navigations get the whole page
    if _is_htmx(request) and request.headers.get("HX-Target", "").endswith("#kb-results"):
        return render(request, "knowledge/_results.html", context)
    return render(request, "knowledge/list.html", context)


@perm_required(Perm.KNOWLEDGE_VIEW)
def article_detail(request: HttpRequest, article_id: int) -> HttpResponse:
    user = _user(request)
    try:
        article = actions.access_article(user, article_id=article_id)
    except ActionError as exc:
        raise Http404(exc.message) from exc
    return render(request, "knowledge/detail.html", {
        "article": article, "html": render_markdown(article.body), "can_manage": actions.can_manage(user),
        "public_url": search.public_url(article),
        "transitions": list(article.transitions.select_related("actor").order_by("-at", "-pk")[:10])})


def _categories() -> list[Category]:
    return list(Category.objects.all())


def _edit(request: HttpRequest, article: Article | None) -> HttpResponse:
    user = _user(request)
    categories = _categories()
    initial: dict[str, Any] = {"language": Language.SPANISH}
    if article is not None:
        initial = {"title": article.title, "body": article.body, "category": article.category_id or "",
                   "language": article.language, "tags": ", ".join(article.tag_list), "slug": article.slug}
    form = ArticleForm(request.POST or None, initial=initial, categories=categories)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            d = form.cleaned_data
            data = actions.ArticleInput(title=d["title"], body=d["body"], category_id=d["category"] or 0,
                                        tags=d["tags"], language=d["language"], slug=d["slug"])
            try:
                saved = actions.check_save_article(user, article_id=article.pk if article else None, data=data)
            except ActionError as exc:
                show_action_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Artículo «%s» guardado.") % saved.title)
                return redirect("knowledge:detail", article_id=saved.pk)
        else:
            status = 400
    body = form.data.get("body", "") if form.is_bound else initial.get("body", "")
    return render(request, "knowledge/edit.html", {
        "form": form, "article": article, "preview": render_markdown(str(body)[:BODY_MAX])}, status=status)


@perm_required(Perm.KNOWLEDGE_VIEW, Perm.KNOWLEDGE_MANAGE)
def article_create(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@perm_required(Perm.KNOWLEDGE_VIEW, Perm.KNOWLEDGE_MANAGE)
def article_edit(request: HttpRequest, article_id: int) -> HttpResponse:
    try:
        article = actions.access_article(_user(request), article_id=article_id)
    except ActionError as exc:
        raise Http404(exc.message) from exc
    return _edit(request, article)


@require_POST
@perm_required(Perm.KNOWLEDGE_VIEW, Perm.KNOWLEDGE_MANAGE)
def preview(request: HttpRequest) -> HttpResponse:
    """The editor's live preview: the Markdown posted, as the sanitized HTML fragment the article page shows."""
    body = request.POST.get("body", "")[:BODY_MAX]
    return render(request, "knowledge/_preview.html", {"preview": render_markdown(body)})


def _transition(request: HttpRequest, article_id: int, action: Any, done: str) -> HttpResponse:
    try:
        article = action(_user(request), article_id=article_id)
    except ActionError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from exc
        messages.error(request, exc.message)
    else:
        messages.success(request, done % article.title)
    return redirect("knowledge:detail", article_id=article_id)


@require_POST
@perm_required(Perm.KNOWLEDGE_VIEW, Perm.KNOWLEDGE_MANAGE)
def publish(request: HttpRequest, article_id: int) -> HttpResponse:
    return _transition(request, article_id, actions.check_publish, _("Artículo «%s» publicado."))


@require_POST
@perm_required(Perm.KNOWLEDGE_VIEW, Perm.KNOWLEDGE_MANAGE)
def unpublish(request: HttpRequest, article_id: int) -> HttpResponse:
    return _transition(request, article_id, actions.check_unpublish, _("Artículo «%s» devuelto a borrador."))


@require_POST
@perm_required(Perm.KNOWLEDGE_VIEW, Perm.KNOWLEDGE_MANAGE)
def delete(request: HttpRequest, article_id: int) -> HttpResponse:
    try:
        actions.check_delete(_user(request), article_id=article_id)
    except ActionError as exc:
        raise Http404(exc.message) from exc
    messages.success(request, _("Artículo borrado."))
    return redirect("knowledge:list")


@perm_required(Perm.KNOWLEDGE_VIEW, Perm.KNOWLEDGE_MANAGE)
def categories(request: HttpRequest) -> HttpResponse:
    """The categories, with their number of articles; a form adds one, each row renames or moves one."""
    user = _user(request)
    form = CategoryForm(request.POST or None)
    status = 200
    if request.method == "POST":
        raw_id = request.POST.get("category_id", "")
        category_id = int(raw_id) if raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 18 else None
        if form.is_valid():
            try:
                saved = actions.check_save_category(user, category_id=category_id, name=form.cleaned_data["name"],
                                                    position=form.cleaned_data["position"])
            except ActionError as exc:
                if category_id is not None:  # a row's rename: said above the table, never in the "new" form
                    messages.error(request, exc.message)
                    return redirect("knowledge:categories")
                show_action_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Categoría «%s» guardada.") % saved.name)
                return redirect("knowledge:categories")
        elif category_id is not None:
            messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
            return redirect("knowledge:categories")
        else:
            status = 400
    rows = list(Category.objects.annotate(n=Count("articles")).order_by("position", "name"))
    return render(request, "knowledge/categories.html", {"categories": rows, "form": form}, status=status)


@require_POST
@perm_required(Perm.KNOWLEDGE_VIEW, Perm.KNOWLEDGE_MANAGE)
def category_delete(request: HttpRequest, category_id: int) -> HttpResponse:
    try:
        actions.check_delete_category(_user(request), category_id=category_id)
    except ActionError as exc:
        raise Http404(exc.message) from exc
    messages.success(request, _("Categoría borrada; sus artículos quedaron sin categoría."))
    return redirect("knowledge:categories")


# --- the composer's picker --------------------------------------------------------------------------------------

@perm_required(Perm.KNOWLEDGE_VIEW, Perm.INBOX_WORK)
def picker(request: HttpRequest) -> HttpResponse:
    """The composer's search as you type: published articles, in the customer's language first when it is known."""
    q = request.GET.get("q", "")[:200]
    language = request.GET.get("language", "")
    language = language if language in Language.values else ""
    found = search.search_articles(q, language=language or None, limit=PICKER_LIMIT) if q.strip() else []
    if language and len(found) < PICKER_LIMIT and q.strip():  # then the other language's
        seen = {hit.id for hit in found}
        found += [h for h in search.search_articles(q, limit=PICKER_LIMIT) if h.id not in seen][
            :PICKER_LIMIT - len(found)]
    return render(request, "knowledge/_picker.html", {"hits": found, "q": q.strip()})


@perm_required(Perm.KNOWLEDGE_VIEW, Perm.INBOX_WORK)
def for_reply(request: HttpRequest, article_id: int) -> JsonResponse:
    """What the composer inserts: the article's text as plain text (Markdown marks removed) and its public link
    ("" when the public help pages are off). Published articles only: a customer never gets a draft."""
    try:
        article = actions.access_article(_user(request), article_id=article_id)
    except ActionError as exc:
        raise Http404(exc.message) from exc
    if article.state != ArticleState.PUBLISHED:
        raise Http404(_("El artículo no está publicado."))
    return JsonResponse({"id": article.pk, "title": article.title, "text": markdown_to_text(article.body),
                         "url": search.public_url(article)})


# --- the public help pages ----------------------------------------------------------------------------------------

def _public_language(lang: str) -> str:
    if not settings.KNOWLEDGE_PUBLIC_HELP or lang not in Language.values:
        raise Http404
    return lang


def help_index(request: HttpRequest, lang: str) -> HttpResponse:
    """The published articles of one language, by category (no login; off unless KNOWLEDGE_PUBLIC_HELP)."""
    lang = _public_language(lang)
    articles = list(Article.objects.filter(state=ArticleState.PUBLISHED, language=lang).select_related("category")
                    .order_by("category__position", "category__name", "title"))
    groups: dict[str, list[Article]] = {}
    for article in articles:
        groups.setdefault(article.category.name if article.category else "", []).append(article)
    with translation.override(lang):
        return render(request, "knowledge/public_index.html", {
            "groups": list(groups.items()), "lang": lang, "other": [c for c in Language.values if c != lang]})


def help_article(request: HttpRequest, lang: str, slug: str) -> HttpResponse:
    lang = _public_language(lang)
    article = Article.objects.filter(state=ArticleState.PUBLISHED, language=lang, slug=slug) \
        .select_related("category").first()
    if article is None:
        raise Http404
    with translation.override(lang):
        return render(request, "knowledge/public_article.html", {
            "article": article, "html": render_markdown(article.body), "lang": lang})
