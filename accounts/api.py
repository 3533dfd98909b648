"""/api/v1/ users, teams, roles and the caller's own availability: parse, call an action, serialize."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from accounts import actions
from accounts.models import Team, User
from accounts.roles import ROLE_PERMISSIONS, Perm, Role
from core.api import ErrorOut, PageNumberPagination, api_require, api_user

router = Router(tags=["accounts"])


class TeamRef(Schema):
    id: int
    code: str
    name: str


class UserOut(Schema):
    id: int
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


class UserCreateIn(Schema):
    username: str = Field(..., min_length=1, max_length=150)
    password: str
    full_name: str = Field(..., min_length=1, max_length=150)
    role: str = Field(..., description="admin | gerente | supervisor | director_ventas | analista | agente")
    teams: list[str] = Field(default_factory=list, description="Team codes (or ids)")
    email: str = ""
    language: str | None = Field(None, description="es | en; default: the organization's default language")


class UserPatchIn(Schema):
    full_name: str | None = None
    email: str | None = None
    role: str | None = None
    language: str | None = None
    is_active: bool | None = None
    capacity: int | None = None
    teams: list[str] | None = None
    skills: list[str] | None = None
    password: str | None = None


class AvailabilityIn(Schema):
    availability: str = Field(..., description="disponible | ocupado | ausente | desconectado")


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


class TeamIn(Schema):
    name: str
    code: str
    description: str = ""


class TeamPatchIn(Schema):
    name: str | None = None
    description: str | None = None
    is_active: bool | None = None
    members: list[str] | None = Field(None, description="Usernames; replaces the member list")


class RoleOut(Schema):
    code: str
    label: str
    permissions: list[str]


def _users_qs() -> QuerySet[User]:
    return User.objects.prefetch_related("teams", "skills").order_by("id")


@router.get("/users", response=list[UserOut], summary="List users")
@paginate(PageNumberPagination)
def list_users(request: HttpRequest, role: str | None = None, team: str | None = None, q: str | None = None):  # type: ignore[no-untyped-def]
    api_require(request, Perm.USERS_VIEW)
    qs = _users_qs()
    if role:
        qs = qs.filter(role=role)
    if team:
        qs = qs.filter(teams__code=team)
    if q:
        qs = qs.filter(username__icontains=q) | qs.filter(full_name__icontains=q)
    return qs


@router.post("/users", response={201: UserOut, 400: ErrorOut, 403: ErrorOut, 409: ErrorOut}, summary="Create a user")
def create_user(request: HttpRequest, payload: UserCreateIn):  # type: ignore[no-untyped-def]
    user = actions.check_create_user(api_user(request), **payload.dict())
    return Status(201, _users_qs().get(pk=user.pk))


@router.get("/users/{user_id}", response={200: UserOut, 403: ErrorOut, 404: ErrorOut}, summary="Get a user")
def get_user(request: HttpRequest, user_id: int):  # type: ignore[no-untyped-def]
    actions.access_user(api_user(request), user_id)
    return get_object_or_404(_users_qs(), pk=user_id)


@router.patch("/users/{user_id}", response={200: UserOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
              summary="Update a user (role, teams, activation, password…)")
def patch_user(request: HttpRequest, user_id: int, payload: UserPatchIn):  # type: ignore[no-untyped-def]
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


@router.post("/me/availability", response={200: UserOut, 400: ErrorOut}, summary="Change my availability")
def set_my_availability(request: HttpRequest, payload: AvailabilityIn):  # type: ignore[no-untyped-def]
    user = api_user(request)
    actions.check_change_availability(user, user.pk, to=payload.availability)
    return _users_qs().get(pk=user.pk)


@router.get("/teams", response=list[TeamOut], summary="List teams")
@paginate(PageNumberPagination)
def list_teams(request: HttpRequest):  # type: ignore[no-untyped-def]
    api_require(request, Perm.USERS_VIEW)
    return Team.objects.prefetch_related("members").order_by("name")


@router.post("/teams", response={201: TeamOut, 400: ErrorOut, 403: ErrorOut, 409: ErrorOut}, summary="Create a team")
def create_team(request: HttpRequest, payload: TeamIn):  # type: ignore[no-untyped-def]
    team = actions.check_create_team(api_user(request), **payload.dict())
    return Status(201, team)


@router.patch("/teams/{team_id}", response={200: TeamOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
              summary="Update a team")
def patch_team(request: HttpRequest, team_id: int, payload: TeamPatchIn):  # type: ignore[no-untyped-def]
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
