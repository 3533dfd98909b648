"""/api/v1/kb/…: the knowledge base's articles (list, create, read, edit, publish, unpublish, delete), its
categories, and its search — the same actions and search as the knowledge pages and the composer."""

from datetime import datetime
from typing import Annotated, Any, Final

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Strict

from accounts.roles import Perm
from core.api import (
    END,
    NOT_BLANK,
    DbId,
    ErrorOut,
    InputSchema,
    PageNumberPagination,
    QuerySchema,
    api_require,
    api_user,
)
from customers.choices import Language
from knowledge import actions, search
from knowledge.choices import ArticleState
from knowledge.models import BODY_MAX, SLUG_MAX, TAG_MAX, TAGS_MAX, TITLE_MAX, Article, Category

router = Router(tags=["knowledge"])

SEARCH_MAX: Final = 20
SLUG_PATTERN: Final = rf"^(?:[a-z0-9]+(?:-[a-z0-9]+)*)?{END}"  # or "": one made from the title
ArticleLanguage = Annotated[Language, Strict(False)]
Tag = Annotated[str, Field(max_length=TAG_MAX)]


class ArticleIn(InputSchema):
    """A new article (a draft). Publish it with POST /kb/articles/{id}/publish."""

    title: str = Field(..., min_length=1, max_length=TITLE_MAX, pattern=NOT_BLANK)
    body: str = Field("", max_length=BODY_MAX, description="Markdown; rendered with an allow list (no script, "
                                                             "style, iframe, event handler or javascript: URL)")
    category: DbId | None = Field(None, description="A category's id (GET /kb/categories), or null for none (400 "
                                                    "`invalid_article` when it does not exist)")
    tags: list[Tag] = Field(default_factory=list, max_length=TAGS_MAX,
                            description="Stored in lower case, without duplicates; a comma inside one becomes a space")
    language: ArticleLanguage = Field(Language.SPANISH, description="es | en")
    slug: str = Field("", max_length=SLUG_MAX, pattern=SLUG_PATTERN,
                      description="Its address on the public help pages; \"\" makes one from the title (409 "
                                  "`slug_taken` when another article of the language has it)")


class ArticlePatchIn(InputSchema):
    """Absent fields keep their value; `category: null` removes the category."""

    title: str | None = Field(None, min_length=1, max_length=TITLE_MAX, pattern=NOT_BLANK)
    body: str | None = Field(None, max_length=BODY_MAX)
    category: DbId | None = None
    tags: list[Tag] | None = Field(None, max_length=TAGS_MAX)
    language: ArticleLanguage | None = None
    slug: str | None = Field(None, max_length=SLUG_MAX, pattern=SLUG_PATTERN)


class CategoryOut(Schema):
    id: int
    name: str
    slug: str
    position: int


class ArticleOut(Schema):
    id: int
    title: str
    slug: str
    body: str = Field(..., description="Markdown")
    category: CategoryOut | None
    tags: list[str]
    language: str
    state: str = Field(..., description="borrador | publicado")
    author: str | None = Field(..., description="The author's username")
    url: str = Field(..., description="The public help page's address; \"\" when those pages are off or the "
                                      "article is a draft")
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None

    @staticmethod
    def resolve_tags(obj: Article) -> list[str]:
        return obj.tag_list

    @staticmethod
    def resolve_author(obj: Article) -> str | None:
        return obj.author.username if obj.author else None

    @staticmethod
    def resolve_url(obj: Article) -> str:
        return search.public_url(obj)


class ArticleListQuery(QuerySchema):
    q: str = Field("", max_length=200, description="Words of the title or text (accents and case ignored, the last "
                                                   "word as a prefix, typos in the title tolerated): the best 100 by "
                                                   "relevance; without it, the newest changes first")
    category: DbId | None = None
    language: ArticleLanguage | None = None
    state: Annotated[ArticleState, Strict(False)] | None = Field(None, description="borrador | publicado (drafts: "
                                                                                   "knowledge.manage only)")


class SearchQuery(QuerySchema):
    q: str = Field("", max_length=200, description="What the customer asked, in their words")
    language: ArticleLanguage | None = None
    limit: int = Field(5, ge=1, le=SEARCH_MAX)


class ArticleHitOut(Schema):
    id: int
    title: str
    snippet: str = Field(..., description="Plain text around the first word found")
    url: str = Field(..., description="The public help page's address, or \"\"")
    score: float = Field(..., description="Higher is better; comparable within one answer only")
    language: str
    category: str


def _input(payload: ArticleIn | ArticlePatchIn) -> actions.ArticleInput:
    given = payload.model_fields_set
    category = payload.category
    return actions.ArticleInput(
        title=payload.title, body=payload.body,
        category_id=(category or 0) if "category" in given else None,
        tags=list(payload.tags) if payload.tags is not None else None,
        language=str(payload.language.value) if payload.language is not None else None,
        slug=payload.slug)


def _detail(article: Article) -> Article:
    return Article.objects.select_related("category", "author").get(pk=article.pk)


@router.get("/kb/articles", response=list[ArticleOut], summary="Articles, filtered (drafts: knowledge.manage)")
@paginate(PageNumberPagination)
def list_articles(request: HttpRequest, query: Query[ArticleListQuery]) -> Any:
    user = api_require(request, Perm.KNOWLEDGE_VIEW)
    return actions.matching_articles(
        user, q=query.q, category_id=query.category, limit=search.MAX_LIMIT,
        language=query.language.value if query.language is not None else None,
        state=query.state.value if query.state is not None else None)


@router.post("/kb/articles", response={201: ArticleOut, 409: ErrorOut},
             summary="Write an article (a draft; 400 `invalid_article` with `errors` per field)",
             description="Needs `knowledge.manage`.")
def create_article(request: HttpRequest, payload: ArticleIn) -> Any:
    article = actions.check_save_article(api_user(request), article_id=None, data=_input(payload))
    return Status(201, _detail(article))


@router.get("/kb/articles/{article_id}", response={200: ArticleOut, 404: ErrorOut},
            summary="One article (404 `article_not_found`; a draft only for knowledge.manage)")
def get_article(request: HttpRequest, article_id: DbId) -> Any:
    return actions.access_article(api_user(request), article_id=article_id)


@router.patch("/kb/articles/{article_id}", response={200: ArticleOut, 404: ErrorOut, 409: ErrorOut},
              summary="Edit an article; absent fields keep their value (a published one changes at once)")
def update_article(request: HttpRequest, article_id: DbId, payload: ArticlePatchIn) -> Any:
    return _detail(actions.check_save_article(api_user(request), article_id=article_id, data=_input(payload)))


@router.post("/kb/articles/{article_id}/publish", response={200: ArticleOut, 404: ErrorOut, 409: ErrorOut},
             summary="Publish a draft (409 `already_published`; 400 `empty_article` without text)")
def publish_article(request: HttpRequest, article_id: DbId) -> Any:
    return _detail(actions.check_publish(api_user(request), article_id=article_id))


@router.post("/kb/articles/{article_id}/unpublish", response={200: ArticleOut, 404: ErrorOut, 409: ErrorOut},
             summary="Take a published article back to draft (409 `already_draft`)")
def unpublish_article(request: HttpRequest, article_id: DbId) -> Any:
    return _detail(actions.check_unpublish(api_user(request), article_id=article_id))


@router.delete("/kb/articles/{article_id}", response={204: None, 404: ErrorOut}, summary="Delete an article")
def delete_article(request: HttpRequest, article_id: DbId) -> HttpResponse:
    actions.check_delete(api_user(request), article_id=article_id)
    return HttpResponse(status=204)


@router.get("/kb/categories", response=list[CategoryOut], summary="The categories, in their order")
def list_categories(request: HttpRequest) -> Any:
    api_require(request, Perm.KNOWLEDGE_VIEW)
    return list(Category.objects.order_by("position", "name"))


@router.get("/kb/search", response=list[ArticleHitOut],
            summary="The best published articles for a question (what the bot offers), best first")
def search_articles(request: HttpRequest, query: Query[SearchQuery]) -> Any:
    api_require(request, Perm.KNOWLEDGE_VIEW)
    language = query.language.value if query.language is not None else None
    return search.search_articles(query.q, language=language, limit=query.limit)
