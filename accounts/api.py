"""/api/v1/ users, teams, roles and the caller's own availability: parse, call an action, serialize."""


from datetime import datetime
from typing import Any, Literal, cast
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from accounts import actions
from accounts.choices import Availability, Language
from accounts.models import Team, User
from accounts.roles import ROLE_PERMISSIONS, Perm, Role
from core.api import (
    END,
    NOT_BLANK,
    DbId,
    EmailOrBlank,
    ErrorOut,
    InputSchema,
    PageNumberPagination,
    api_require,
    api_user,
    explained,
)

router = Router(tags=["accounts"])


class TeamRef(Schema):
    id: int
    code: str
    name: str


class UserOut(Schema):
    id: int
    uuid: UUID = Field(..., description="Stable public identifier (the one exports use)")
    username: str
    full_name: str
    email: str
    role: str
    language: str
    availability: str
    availability_changed_at: datetime | None
    is_active: bool
    capacity: int
    teams: list[TeamRef]
    skills: list[str]

    @staticmethod
    def resolve_teams(obj: User) -> list[TeamRef]:
        return [TeamRef(id=t.pk, code=t.code, name=t.name) for t in obj.teams.all()]

    @staticmethod
    def resolve_skills(obj: User) -> list[str]:
        return [s.code for s in obj.skills.all()]


def _password_min_length() -> int:
    validators = cast(list[dict[str, Any]], settings.AUTH_PASSWORD_VALIDATORS)
    for validator in validators:
        if validator["NAME"].endswith(".MinimumLengthValidator"):
            return int(validator.get("OPTIONS", {}).get("min_length", 8))
    return 1


PASSWORD_MIN_LENGTH = _password_min_length()
# The password rules a schema can state (length, not only digits, not only spaces); the others (not a common
# password, not like the username or name) answer 400 `invalid_password`.
PASSWORD_PATTERN = explained(rf"^(?=[\s\S]*[^0-9])(?=[\s\S]*{NOT_BLANK})",
                             gettext_lazy("La contraseña no puede tener solo números ni solo espacios."))
PASSWORD_DOC = (f"At least {PASSWORD_MIN_LENGTH} characters, not only digits, not only spaces; a common password, or "
                "one too like the username or name, is refused (400 `invalid_password`)")
USERNAME_PATTERN = explained(rf"^[A-Za-z0-9_.@+-]+{END}", gettext_lazy(
    "Use solo letras sin tilde, números y . @ + - _ (sin espacios)."))
USERNAME_DOC = "ASCII letters, digits and . @ + - _ (no spaces), up to 150"


class UserCreateIn(InputSchema):
    username: str = Field(..., min_length=1, max_length=150, pattern=USERNAME_PATTERN, description=USERNAME_DOC)
    password: str = Field(..., min_length=PASSWORD_MIN_LENGTH, max_length=4096, pattern=PASSWORD_PATTERN,
                          description=PASSWORD_DOC)
    full_name: str = Field(..., min_length=1, max_length=150, pattern=NOT_BLANK)
    role: Role = Field(..., strict=False)
    teams: list[str] = Field(default_factory=list, max_length=100,
                             description="Team codes (or ids or names); an unknown one is a 400 `unknown_team`")
    email: EmailOrBlank = ""
    language: Language | None = Field(None, strict=False, description="Default: the organization's default language")


class UserPatchIn(InputSchema):
    """Absent (or null) fields keep their value."""

    full_name: str | None = Field(None, min_length=1, max_length=150, pattern=NOT_BLANK)
    email: EmailOrBlank | None = None
    role: Role | None = Field(None, strict=False,
                              description="An administrator cannot remove their own admin role (400)")
    language: Language | None = Field(None, strict=False)
    is_active: bool | None = Field(None, description="Nobody can deactivate their own account (400)")
    capacity: int | None = Field(None, ge=0, le=100, description="Open conversations the person takes at once")
    teams: list[str] | None = Field(None, max_length=100, description="Team codes (or ids or names); replaces the "
                                                                      "list; an unknown one is a 400 `unknown_team`")
    skills: list[str] | None = Field(None, max_length=100, description="Skill codes; replaces the list; unknown "
                                                                       "codes are ignored")
    password: str | None = Field(None, min_length=PASSWORD_MIN_LENGTH, max_length=4096, pattern=PASSWORD_PATTERN,
                                 description=f"{PASSWORD_DOC}. Revokes the user's API tokens.")


class AvailabilityIn(InputSchema):
    availability: Availability = Field(..., strict=False, description="A move the availability rules forbid is a 409")


class TeamOut(Schema):
    id: int
    code: str
    name: str
    description: str
    is_active: bool
    members: list[str]

    @staticmethod
    def resolve_members(obj: Team) -> list[str]:
        return [u.username for u in obj.members.all()]


TEAM_CODE_PATTERN = explained(rf"^[-a-zA-Z0-9_]+{END}", gettext_lazy(
    "Use solo letras sin tilde, números, - y _ (sin espacios)."))


class TeamIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=100, pattern=NOT_BLANK)
    code: str = Field(..., min_length=1, max_length=50, pattern=TEAM_CODE_PATTERN,
                      description="Letters, digits, - and _; stored in lower case")
    description: str = ""


class TeamPatchIn(InputSchema):
    """Absent (or null) fields keep their value; a blank name keeps it too."""

    name: str | None = Field(None, max_length=100)
    description: str | None = None
    is_active: bool | None = None
    members: list[str] | None = Field(None, max_length=1000,
                                      description="Usernames; replaces the member list (unknown ones are ignored)")


class RoleOut(Schema):
    code: str
    label: str
    permissions: list[str]


def _users_qs() -> QuerySet[User]:
    return User.objects.prefetch_related("teams", "skills").order_by("id")


@router.get("/users", response=list[UserOut], summary="List users")
@paginate(PageNumberPagination)
def list_users(  # type: ignore[no-untyped-def]
        request: HttpRequest, role: Role | Literal[""] | None = None, team: str | None = None, q: str | None = None):
    api_require(request, Perm.USERS_VIEW)
    qs = _users_qs()
    if role:
        qs = qs.filter(role=role)
    if team:
        qs = qs.filter(teams__code=team)
    if q:
        qs = qs.filter(username__icontains=q) | qs.filter(full_name__icontains=q)
    return qs


@router.post("/users", response={201: UserOut, 409: ErrorOut}, summary="Create a user (409 when the username exists)")
def create_user(request: HttpRequest, payload: UserCreateIn):  # type: ignore[no-untyped-def]
    user = actions.check_create_user(api_user(request), **payload.dict())
    return Status(201, _users_qs().get(pk=user.pk))


@router.get("/users/{user_id}", response=UserOut, summary="Get a user")
def get_user(request: HttpRequest, user_id: DbId):  # type: ignore[no-untyped-def]
    actions.access_user(api_user(request), user_id)
    return get_object_or_404(_users_qs(), pk=user_id)


@router.patch("/users/{user_id}", response=UserOut, summary="Update a user (role, teams, activation, password…)")
def patch_user(request: HttpRequest, user_id: DbId, payload: UserPatchIn):  # type: ignore[no-untyped-def]
    data = payload.dict(exclude_unset=True)
    password = data.pop("password", None)
    acting = api_user(request)
    # One transaction: a refused password (400) must not leave the other fields of the same PATCH applied.
    # A new password also revokes the user's API tokens (check_set_password), the caller's own included.
    with transaction.atomic():
        actions.check_update_user(acting, user_id, **data)
        if password is not None:
            actions.check_set_password(acting, user_id, password=password)
    return _users_qs().get(pk=user_id)


@router.get("/me", response=UserOut, summary="The authenticated user")
def me(request: HttpRequest):  # type: ignore[no-untyped-def]
    return _users_qs().get(pk=api_user(request).pk)


@router.post("/me/availability", response={200: UserOut, 409: ErrorOut},
             summary="Change my availability (409 when the availability rules forbid the move)")
def set_my_availability(request: HttpRequest, payload: AvailabilityIn):  # type: ignore[no-untyped-def]
    user = api_user(request)
    actions.check_change_availability(user, user.pk, to=payload.availability)
    return _users_qs().get(pk=user.pk)


@router.get("/teams", response=list[TeamOut], summary="List teams")
@paginate(PageNumberPagination)
def list_teams(request: HttpRequest):  # type: ignore[no-untyped-def]
    api_require(request, Perm.USERS_VIEW)
    return Team.objects.prefetch_related("members").order_by("name")


@router.post("/teams", response={201: TeamOut, 409: ErrorOut},
             summary="Create a team (409 when the name or code exists)")
def create_team(request: HttpRequest, payload: TeamIn):  # type: ignore[no-untyped-def]
    team = actions.check_create_team(api_user(request), **payload.dict())
    return Status(201, team)


@router.patch("/teams/{team_id}", response={200: TeamOut, 409: ErrorOut},
              summary="Update a team (409 when another team has the name)")
def patch_team(request: HttpRequest, team_id: DbId, payload: TeamPatchIn):  # type: ignore[no-untyped-def]
    data = payload.dict(exclude_unset=True)
    usernames = data.pop("members", None)
    members = None
    if usernames is not None:
        members = list(User.objects.filter(username__in=usernames).values_list("pk", flat=True))
    team = actions.check_update_team(api_user(request), team_id, members=members, **data)
    return Team.objects.prefetch_related("members").get(pk=team.pk)


@router.get("/roles", response=list[RoleOut], summary="Roles and their permissions")
def list_roles(request: HttpRequest):  # type: ignore[no-untyped-def]
    return [RoleOut(code=r.value, label=str(r.label), permissions=sorted(p.value for p in ROLE_PERMISSIONS[r]))
            for r in Role]
