"""Every write to accounts goes through here: access_* fetches with a permission check, check_* validates,
do_* writes, records history/audit and schedules effects after commit (STYLE §2)."""

from __future__ import annotations

import datetime
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import time, timedelta
from typing import Literal

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.choices import AVAILABILITY_TRANSITIONS, Availability, Language
from accounts.events import AccessChanged, AvailabilityChanged
from accounts.models import (
    ApiToken,
    AvailabilityEvent,
    BusinessHours,
    Holiday,
    LoginFailure,
    Skill,
    Team,
    User,
    hash_token,
)
from accounts.roles import Perm, Role
from core import audit
from core.errors import ActionError, ConflictError, InvalidTransition, NotFoundError
from core.events import emit
from core.models import AvailabilityOnLogin, SiteSettings
from core.perms import require_perm as require_perm  # noqa: PLC0414 - re-exported for the apps using it
from core.text import fold

# --- permission helpers -------------------------------------------------------------------------


def access_user(acting_user: User, user_id: int, *, perm: Perm = Perm.USERS_VIEW, lock: bool = False) -> User:
    if acting_user.pk != user_id:
        require_perm(acting_user, perm)
    qs = User.objects.select_for_update() if lock else User.objects.all()
    try:
        return qs.get(pk=user_id)
    except User.DoesNotExist as exc:
        raise NotFoundError("user_not_found", _("El usuario no existe.")) from exc


def access_team(acting_user: User, team_id: int, *, lock: bool = False) -> Team:
    require_perm(acting_user, Perm.TEAMS_MANAGE)
    qs = Team.objects.select_for_update() if lock else Team.objects.all()
    try:
        return qs.get(pk=team_id)
    except Team.DoesNotExist as exc:
        raise NotFoundError("team_not_found", _("El equipo no existe.")) from exc


# --- users ----------------------------------------------------------------------------------------


def _validate_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError as exc:
        raise ActionError(
            "invalid_role", _("Rol desconocido: %(role)s. Use uno de: %(roles)s.")
            % {"role": role, "roles": ", ".join(Role.values)}, field="role",
        ) from exc


def _resolve_teams(codes_or_ids: Iterable[str | int]) -> list[Team]:
    wanted = [str(v) for v in codes_or_ids]
    if not wanted:
        return []
    ids = [int(v) for v in wanted if v.isdigit()]
    teams = list(Team.objects.filter(Q(code__in=wanted) | Q(pk__in=ids) | Q(name__in=wanted)))
    found = {t.code for t in teams} | {str(t.pk) for t in teams} | {t.name for t in teams}
    missing = [v for v in wanted if v not in found]
    if missing:
        raise ActionError("unknown_team", _("Equipos desconocidos: %s") % ", ".join(missing), field="teams")
    return teams


class NotOnlyWhitespacePasswordValidator:
    """Django's validators accept "          " (long enough, not common, not numeric). Listed in
    AUTH_PASSWORD_VALIDATORS so every path that validates (our actions, PasswordChangeForm, createsuperuser,
    changepassword, the Django admin) refuses it too."""

    def validate(self, password: str, user: object = None) -> None:
        if not password.strip():
            raise ValidationError(_("La contraseña no puede estar formada solo por espacios."),
                                  code="password_only_whitespace")

    def get_help_text(self) -> str:
        return _("Su contraseña no puede estar formada solo por espacios.")


def _validate_password(password: str, user: User | None = None) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ActionError("invalid_password", " ".join(exc.messages), field="password") from exc


@transaction.atomic
def check_create_user(
    acting_user: User | None,
    *,
    username: str,
    password: str,
    full_name: str,
    role: str,
    teams: Iterable[str | int] = (),
    email: str = "",
    language: str | None = None,
) -> User:
    """Creates a login-capable user. `language` defaults to the organization's default language."""

    language = language or SiteSettings.load().default_language
    if acting_user is not None:
        require_perm(acting_user, Perm.USERS_MANAGE)
    username = username.strip()
    if not username or not full_name.strip():
        raise ActionError("missing_fields", _("El usuario y el nombre completo son obligatorios."))
    if User.objects.filter(username__iexact=username).exists():
        raise ConflictError("username_taken", _("El nombre de usuario «%s» ya existe.") % username, field="username")
    role_value = _validate_role(role)
    if language not in Language.values:
        raise ActionError("invalid_language", _("Idioma no soportado."), field="language")
    team_objs = _resolve_teams(teams)
    candidate = User(username=username, full_name=full_name.strip(), email=email.strip())
    _validate_password(password, candidate)
    return do_create_user(
        username=username, password=password, full_name=full_name.strip(), role=role_value,
        teams=team_objs, email=email.strip(), language=language, acting_user=acting_user,
    )


def do_create_user(
    *,
    username: str,
    password: str | None,
    full_name: str,
    role: Role,
    teams: Iterable[Team] = (),
    email: str = "",
    language: str = Language.ES,
    acting_user: User | None,
    can_login: bool = True,
) -> User:
    user = User(username=username, full_name=full_name, email=email, role=role, language=language,
                can_login=can_login, is_staff=False)
    if password and can_login:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    user.teams.set(list(teams))
    audit.record(actor=acting_user, action="user.created", target=user,
                 changes={"role": role.value, "teams": sorted(t.code for t in teams)})
    return user


USER_EDITABLE = ("full_name", "email", "role", "language", "is_active", "capacity")


@transaction.atomic
def check_update_user(
    acting_user: User,
    user_id: int,
    *,
    full_name: str | None = None,
    email: str | None = None,
    role: str | None = None,
    language: str | None = None,
    is_active: bool | None = None,
    capacity: int | None = None,
    teams: Iterable[str | int] | None = None,
    skills: Iterable[str] | None = None,
) -> User:
    user = access_user(acting_user, user_id, perm=Perm.USERS_MANAGE, lock=True)
    require_perm(acting_user, Perm.USERS_MANAGE)
    changes: dict[str, list[object]] = {}

    def change(field: str, new: object) -> None:
        old = getattr(user, field)
        if new is not None and new != old:
            changes[field] = [old, new]
            setattr(user, field, new)

    if role is not None:
        new_role = _validate_role(role)
        if user.pk == acting_user.pk and new_role != Role.ADMIN and user.role == Role.ADMIN:
            raise ActionError("cannot_demote_self", _("No puede quitarse a sí mismo el rol de administrador."))
        change("role", new_role.value)
    if language is not None and language not in Language.values:
        raise ActionError("invalid_language", _("Idioma no soportado."), field="language")
    if is_active is False and user.pk == acting_user.pk:
        raise ActionError("cannot_deactivate_self", _("No puede desactivar su propia cuenta."))
    if full_name is not None and not full_name.strip():
        raise ActionError("missing_fields", _("El nombre completo es obligatorio."), field="full_name")
    if capacity is not None and not 0 <= capacity <= 100:
        raise ActionError("invalid_capacity", _("La capacidad debe estar entre 0 y 100."), field="capacity")
    change("full_name", full_name.strip() if full_name is not None else None)
    change("email", email.strip() if email is not None else None)
    change("language", language)
    change("is_active", is_active)
    change("capacity", capacity)
    user.save()
    if teams is not None:
        team_objs = _resolve_teams(teams)
        old = sorted(user.teams.values_list("code", flat=True))
        new = sorted(t.code for t in team_objs)
        if old != new:
            user.teams.set(team_objs)
            changes["teams"] = [old, new]
    if skills is not None:
        skill_objs = list(Skill.objects.filter(code__in=list(skills)))
        old_s = sorted(user.skills.values_list("code", flat=True))
        new_s = sorted(s.code for s in skill_objs)
        if old_s != new_s:
            user.skills.set(skill_objs)
            changes["skills"] = [old_s, new_s]
    if "role" in changes or "is_active" in changes:
        emit(AccessChanged(user_id=user.pk, username=user.username, is_active=user.is_active, role=user.role),
             actor=acting_user)
    if "role" in changes:
        audit.record(actor=acting_user, action="user.role_changed", target=user,
                     changes={"role": changes.pop("role")})
    if changes:
        audit.record(actor=acting_user, action="user.updated", target=user, changes=changes)
    return user


@transaction.atomic
def check_set_password(acting_user: User, user_id: int, *, password: str) -> tuple[User, int]:
    """Sets a password (the user's own change or an admin's reset) and revokes every live API token of that
    user: a token must not outlive the password that was current when it was issued (someone who learned the
    old password may have minted one). Returns the user and how many tokens were revoked, for the message."""
    user = access_user(acting_user, user_id, perm=Perm.USERS_MANAGE, lock=True)
    if user.pk != acting_user.pk:
        require_perm(acting_user, Perm.USERS_MANAGE)
    _validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.record(actor=acting_user, action="user.password_set", target=user)
    tokens = ApiToken.objects.select_for_update().filter(user=user, revoked_at__isnull=True).order_by("pk")
    revoked = [do_revoke_api_token(token, acting_user=acting_user, reason="password_changed") for token in tokens]
    return user, len(revoked)


@transaction.atomic
def check_set_own_language(acting_user: User, *, language: str) -> User:
    if language not in Language.values:
        raise ActionError("invalid_language", _("Idioma no soportado."), field="language")
    user = User.objects.select_for_update().get(pk=acting_user.pk)
    if user.language != language:
        audit.record(actor=acting_user, action="user.language_changed", target=user,
                     changes={"language": [user.language, language]})
        user.language = language
        user.save(update_fields=["language"])
    return user


@transaction.atomic
def check_set_own_notifications(acting_user: User, *, notify_browser: bool, notify_sound: bool) -> User:
    user = User.objects.select_for_update().get(pk=acting_user.pk)
    changes = {field: [getattr(user, field), value]
               for field, value in (("notify_browser", notify_browser), ("notify_sound", notify_sound))
               if getattr(user, field) != value}
    if changes:
        for field, (_old, new) in changes.items():
            setattr(user, field, new)
        user.save(update_fields=list(changes))
        audit.record(actor=acting_user, action="user.notifications_changed", target=user, changes=changes)
    return user


# --- availability (state machine) ----------------------------------------------------------------


def presence_payload(user: User) -> dict[str, object]:
    changed = user.availability_changed_at
    return {
        "type": "presence",
        "op": "update",
        "user_id": user.pk,
        "availability": user.availability,
        "label": str(Availability(user.availability).label),
        "changed_at": changed.isoformat() if changed else None,
    }


def do_change_availability(user_id: int, *, to: str, acting_user: User | None) -> User:
    """The one transition function of the availability state machine.

    Locks the user row, returns early when nothing changes, refuses moves the table forbids, writes the
    history row and the audit entry, and sends the presence event after commit.
    """
    try:
        target = Availability(to)
    except ValueError as exc:
        raise ActionError("invalid_availability", _("Estado de disponibilidad desconocido: %s") % to,
                          field="availability") from exc
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        current = Availability(user.availability)
        if current == target:
            return user
        if target not in AVAILABILITY_TRANSITIONS[current]:
            raise InvalidTransition("invalid_transition", _("No se puede pasar de %(a)s a %(b)s.")
                                    % {"a": current.label, "b": target.label})
        now = timezone.now()
        user.availability = target.value
        user.availability_changed_at = now
        user.save(update_fields=["availability", "availability_changed_at"])
        AvailabilityEvent.objects.create(user=user, from_state=current.value, to_state=target.value,
                                         acting_user=acting_user, created_at=now)
        audit.record(actor=acting_user, action="user.availability_changed", target=user,
                     changes={"availability": [current.value, target.value]})
        # realtime subscribes and shows it live to the user and to those who watch the team
        emit(AvailabilityChanged(user_id=user.pk, username=user.username, from_state=current.value,
                                 to_state=target.value, changed_at=now.isoformat()), actor=acting_user)
    return user


def do_apply_availability_on_login(user: User) -> User:
    """A person signed in: make them Disponible unless the organization keeps the previous state.

    Without this agents came back "Desconectado" (logout and the idle timeout set it) and silently got no work.
    Goes through the transition function, so the presence event, history row and audit entry are the usual ones.
    """
    if not user.has_perm_code(Perm.PRESENCE_SET_OWN):
        return user
    if SiteSettings.load().availability_on_login != AvailabilityOnLogin.AVAILABLE:
        return user
    return do_change_availability(user.pk, to=Availability.AVAILABLE, acting_user=user)


def check_change_availability(acting_user: User, user_id: int, *, to: str) -> User:
    if user_id == acting_user.pk:
        require_perm(acting_user, Perm.PRESENCE_SET_OWN)
    else:
        require_perm(acting_user, Perm.USERS_MANAGE)
    if not User.objects.filter(pk=user_id).exists():
        raise NotFoundError("user_not_found", _("El usuario no existe."))
    return do_change_availability(user_id, to=to, acting_user=acting_user)


# --- teams, skills, hours, holidays ------------------------------------------------------------


@transaction.atomic
def check_create_team(acting_user: User, *, name: str, code: str, description: str = "") -> Team:
    require_perm(acting_user, Perm.TEAMS_MANAGE)
    name, code = name.strip(), code.strip().lower()
    if not name or not code:
        raise ActionError("missing_fields", _("El nombre y el código son obligatorios."))
    if Team.objects.filter(Q(name__iexact=name) | Q(code=code)).exists():
        raise ConflictError("team_exists", _("Ya existe un equipo con ese nombre o código."))
    team = Team.objects.create(name=name, code=code, description=description)
    audit.record(actor=acting_user, action="team.created", target=team)
    return team


@transaction.atomic
def check_update_team(
    acting_user: User, team_id: int, *, name: str | None = None, description: str | None = None,
    is_active: bool | None = None, members: Iterable[int] | None = None,
) -> Team:
    team = access_team(acting_user, team_id, lock=True)
    changes: dict[str, list[object]] = {}
    if name is not None and name.strip() and name.strip() != team.name:
        if Team.objects.filter(name__iexact=name.strip()).exclude(pk=team.pk).exists():
            raise ConflictError("team_exists", _("Ya existe un equipo con ese nombre."))
        changes["name"] = [team.name, name.strip()]
        team.name = name.strip()
    if description is not None and description != team.description:
        changes["description"] = [team.description, description]
        team.description = description
    if is_active is not None and is_active != team.is_active:
        changes["is_active"] = [team.is_active, is_active]
        team.is_active = is_active
    team.save()
    if members is not None:
        old = sorted(team.members.values_list("pk", flat=True))
        new = sorted(set(members))
        if old != new:
            team.members.set(User.objects.filter(pk__in=new))
            changes["members"] = [old, new]
    if changes:
        audit.record(actor=acting_user, action="team.updated", target=team, changes=changes)
    return team


@transaction.atomic
def check_set_business_hours(
    acting_user: User, team_id: int, *, intervals: Iterable[tuple[int, time, time]]
) -> list[BusinessHours]:
    team = access_team(acting_user, team_id, lock=True)
    rows = []
    for weekday, opens, closes in intervals:
        if not 0 <= weekday <= 6:
            raise ActionError("invalid_weekday", _("Día de la semana inválido."))
        if opens >= closes:
            raise ActionError("invalid_hours", _("La hora de apertura debe ser anterior a la de cierre."))
        rows.append(BusinessHours(team=team, weekday=weekday, opens_at=opens, closes_at=closes))
    old = [f"{h.weekday}:{h.opens_at:%H:%M}-{h.closes_at:%H:%M}" for h in team.hours.all()]
    team.hours.all().delete()
    BusinessHours.objects.bulk_create(rows)
    audit.record(actor=acting_user, action="team.hours_set", target=team, changes={
        "hours": [old, [f"{h.weekday}:{h.opens_at:%H:%M}-{h.closes_at:%H:%M}" for h in rows]]})
    return rows


@transaction.atomic
def check_add_holiday(acting_user: User, *, team_id: int | None, date: datetime.date, name: str) -> Holiday:
    require_perm(acting_user, Perm.TEAMS_MANAGE)
    team = access_team(acting_user, team_id) if team_id else None
    if not name.strip():
        raise ActionError("missing_fields", _("El nombre del feriado es obligatorio."))
    if Holiday.objects.filter(team=team, date=date).exists():
        raise ConflictError("holiday_exists", _("Ya hay un feriado en esa fecha."))
    holiday = Holiday.objects.create(team=team, date=date, name=name.strip())
    audit.record(actor=acting_user, action="holiday.created", target=holiday)
    return holiday


@transaction.atomic
def check_delete_holiday(acting_user: User, holiday_id: int) -> None:
    require_perm(acting_user, Perm.TEAMS_MANAGE)
    holiday = Holiday.objects.filter(pk=holiday_id).first()
    if holiday is None:
        raise NotFoundError("holiday_not_found", _("El feriado no existe."))
    audit.record(actor=acting_user, action="holiday.deleted", target=holiday)
    holiday.delete()


@transaction.atomic
def check_create_skill(acting_user: User, *, code: str, name: str) -> Skill:
    require_perm(acting_user, Perm.TEAMS_MANAGE)
    code = code.strip().lower()
    if not code or not name.strip():
        raise ActionError("missing_fields", _("El nombre y el código son obligatorios."))
    if Skill.objects.filter(code=code).exists():
        raise ConflictError("skill_exists", _("Ya existe una habilidad con ese código."))
    skill = Skill.objects.create(code=code, name=name.strip())
    audit.record(actor=acting_user, action="skill.created", target=skill)
    return skill


# --- API tokens -----------------------------------------------------------------------------------

TOKEN_PREFIX = "ctl_"  # noqa: S105 - a public, recognisable prefix (for secret scanners), not a secret


@transaction.atomic
def do_create_api_token(user: User, *, name: str, acting_user: User | None) -> tuple[ApiToken, str]:
    """Returns the token row and the raw token; the raw value is never stored and cannot be shown again."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name.strip() or "API", prefix=raw[4:12],
                                    key_hash=hash_token(raw))
    audit.record(actor=acting_user, action="api_token.created", target=token,
                 changes={"user": user.username}, actor_username="manage.py")
    return token, raw


def check_create_api_token(acting_user: User, *, name: str) -> tuple[ApiToken, str]:
    require_perm(acting_user, Perm.API_TOKENS_OWN)
    return do_create_api_token(acting_user, name=name, acting_user=acting_user)


@transaction.atomic
def check_revoke_api_token(acting_user: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
    if token is None or (token.user_id != acting_user.pk and not acting_user.has_perm_code(Perm.USERS_MANAGE)):
        raise NotFoundError("token_not_found", _("El token no existe."))
    return do_revoke_api_token(token, acting_user=acting_user)


def do_revoke_api_token(token: ApiToken, *, acting_user: User | None, reason: str = "") -> ApiToken:
    """Revokes one token (the caller holds its row lock); revoking twice changes nothing and audits once."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(actor=acting_user, action="api_token.revoked", target=token,
                     changes={"reason": reason} if reason else None)
    return token


def authenticate_api_token(raw: str) -> User | None:
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_token(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active or not token.user.can_login:
        return None
    now = timezone.now()
    # Bounded write: last_used_at is refreshed at most once a minute per token, not on every call.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


# --- login throttling and audit ------------------------------------------------------------------


LoginThrottle = Literal["username_ip", "ip", "username"]


def login_throttled(username: str, ip: str | None) -> LoginThrottle | None:
    """Which limit refuses a login attempt now, if any (counted over the last LOGIN_LOCKOUT_SECONDS).

    The tight limit is per (username, address): a stranger typing a colleague's name five times locks only
    themselves out, never the colleague at their own desk. An address gets room for a shared office NAT across
    usernames; a username gets a high backstop across all addresses against a spread-out guessing run.
    Nothing here touches sessions: a user already logged in elsewhere stays logged in.
    """
    since = timezone.now() - timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    same_ip = Q(ip=ip) if ip else Q(ip__isnull=True)
    same_user = Q(username__iexact=username)
    counts = LoginFailure.objects.filter(same_ip | same_user, created_at__gte=since).aggregate(
        pair=Count("pk", filter=same_ip & same_user),
        ip=Count("pk", filter=same_ip),
        username=Count("pk", filter=same_user),
    )
    if counts["pair"] >= settings.LOGIN_FAILURE_LIMIT:
        return "username_ip"
    if counts["ip"] >= settings.LOGIN_IP_FAILURE_LIMIT:
        return "ip"
    if counts["username"] >= settings.LOGIN_USERNAME_FAILURE_LIMIT:
        return "username"
    return None


def record_login_failure(username: str, ip: str | None) -> None:
    LoginFailure.objects.create(username=username[:150], ip=ip)
    audit.record(actor=None, action="auth.login_failed", actor_username=username, changes={"username": username})


def record_login(user: User) -> None:
    audit.record(actor=user, action="auth.login", target=user)


def record_logout(user: User) -> None:
    audit.record(actor=user, action="auth.logout", target=user)


# --- imported history ----------------------------------------------------------------------------------------


def _history_username(ref: str, taken: set[str]) -> str:
    """`hist-<ref as a slug>`, with -2, -3… when taken (deterministic: the same refs in the same order give the same
    names, whether created together or one by one)."""
    base = f"hist-{re.sub(r'[^a-z0-9]+', '-', fold(ref))[:40].strip('-') or 'agente'}"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def _history_profile(ref: str, name: str, taken: set[str]) -> User:
    return User(username=_history_username(ref, taken), full_name=name or ref, role=Role.AGENTE, can_login=False,
                is_active=True, password=make_password(None), import_ref=ref)


def do_import_agent_profiles(names: Mapping[str, str]) -> tuple[dict[str, int], int]:
    """The agents of imported history (reports.importer), found by `import_ref`; unknown ones become profiles
    without login (they cannot sign in). Returns ({ref: user id}, how many were created). One bulk insert, the same
    rows `do_import_agent_profile` writes one by one (pinned by a test)."""
    found = dict(User.objects.filter(import_ref__in=list(names)).values_list("import_ref", "pk"))
    taken = set(User.objects.filter(username__startswith="hist-").values_list("username", flat=True))
    created = [_history_profile(ref, names[ref], taken) for ref in sorted(names) if ref not in found]
    User.objects.bulk_create(created)
    found.update(User.objects.filter(import_ref__in=[u.import_ref for u in created]).values_list("import_ref", "pk"))
    return found, len(created)


def do_import_agent_profile(ref: str, name: str) -> int:
    """One agent of imported history (see do_import_agent_profiles)."""
    existing = User.objects.filter(import_ref=ref).values_list("pk", flat=True).first()
    if existing is not None:
        return existing
    taken = set(User.objects.filter(username__startswith="hist-").values_list("username", flat=True))
    user = _history_profile(ref, name, taken)
    user.save()
    return user.pk
