"""Pages for accounts: thin adapters (form → action → render)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.contrib.auth.views import LoginView
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts import actions
from accounts.forms import (
    ApiTokenForm,
    AvailabilityForm,
    BusinessHoursForm,
    HolidayForm,
    LanguageForm,
    NotificationsForm,
    SetPasswordForm,
    SkillForm,
    TeamEditForm,
    TeamForm,
    ThrottledAuthenticationForm,
    UserCreateForm,
    UserEditForm,
)
from accounts.models import ApiToken, Holiday, Skill, Team, User
from accounts.roles import Perm, Role
from core.errors import ActionError
from core.permissions import perm_required


def _form_error(form: Any, exc: ActionError) -> None:
    field = exc.details.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


def _password_set_message(revoked_tokens: int) -> str:
    if not revoked_tokens:
        return _("Contraseña actualizada.")
    return ngettext("Contraseña actualizada. Se revocó su token de API.",
                    "Contraseña actualizada. Se revocaron sus %(count)d tokens de API.",
                    revoked_tokens) % {"count": revoked_tokens}


@perm_required()
def home(request: HttpRequest) -> HttpResponse:
    """The start page: the user's availability and teams, and for supervisors who is available now."""
    user: User = request.user  # type: ignore[assignment]
    context: dict[str, object] = {}
    if user.has_perm_code(Perm.PRESENCE_VIEW_ALL):
        agents = User.objects.filter(is_active=True, can_login=True)
        context["availability_counts"] = {
            state: agents.filter(availability=state).count()
            for state in ("disponible", "ocupado", "ausente", "desconectado")
        }
    context["my_teams"] = user.teams.all()
    return render(request, "accounts/home.html", context)


class CentralitaLoginView(LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        actions.record_login(form.get_user())
        return response


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.is_authenticated:
        actions.record_logout(user)
        if user.availability != "desconectado":
            actions.do_change_availability(user.pk, to="desconectado", acting_user=user)
    logout(request)
    return redirect("accounts:login")


@login_required
def password_change(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST or None)  # type: ignore[arg-type]
    if request.method == "POST" and form.is_valid():
        try:
            user, revoked = actions.check_set_password(request.user, request.user.pk,  # type: ignore[arg-type]
                                                       password=form.cleaned_data["new_password1"])
        except ActionError as exc:
            _form_error(form, exc)
        else:
            update_session_auth_hash(request, user)
            messages.success(request, _password_set_message(revoked))
            return redirect("accounts:profile")
    return render(request, "registration/password_change_form.html", {"form": form})


@perm_required()
def profile(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    new_token = None
    token_form = ApiTokenForm(request.POST if request.POST.get("form") == "token" else None)
    lang_form = LanguageForm(request.POST if request.POST.get("form") == "language" else None,
                             initial={"language": user.language})
    notify_form = NotificationsForm(request.POST if request.POST.get("form") == "notifications" else None,
                                    initial={"notify_sound": user.notify_sound, "notify_browser": user.notify_browser})
    if request.method == "POST":
        if request.POST.get("form") == "token" and token_form.is_valid():
            _token, new_token = actions.check_create_api_token(user, name=token_form.cleaned_data["name"])
            token_form = ApiTokenForm()
        elif request.POST.get("form") == "language" and lang_form.is_valid():
            actions.check_set_own_language(user, language=lang_form.cleaned_data["language"])
            return redirect("accounts:profile")
        elif request.POST.get("form") == "notifications" and notify_form.is_valid():
            actions.check_set_own_notifications(user, **notify_form.cleaned_data)
            messages.success(request, _("Preferencias de aviso guardadas."))
            return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {
        "token_form": token_form, "lang_form": lang_form, "notify_form": notify_form, "new_token": new_token,
        "tokens": ApiToken.objects.filter(user=user, revoked_at__isnull=True),
    })


@require_POST
@perm_required()
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = actions.check_revoke_api_token(request.user, token_id)  # type: ignore[arg-type]
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Token revocado."))
        if token.user_id != request.user.pk:  # an admin revoking from the user's edit page goes back there
            return redirect("accounts:user_edit", user_id=token.user_id)
    return redirect("accounts:profile")


@require_POST
@perm_required(Perm.PRESENCE_SET_OWN)
def set_availability(request: HttpRequest) -> HttpResponse:
    form = AvailabilityForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Estado de disponibilidad desconocido."), status=400)
    me = actions.check_change_availability(request.user, request.user.pk,  # type: ignore[arg-type]
                                           to=form.cleaned_data["availability"])
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "accounts/_availability_switch.html", {"me": me})
    return redirect(request.POST.get("next") or "accounts:home")


@perm_required(Perm.PRESENCE_VIEW_ALL)
def presence(request: HttpRequest) -> HttpResponse:
    team_code = request.GET.get("team", "")
    agents = User.objects.filter(is_active=True, can_login=True).prefetch_related("teams").order_by("full_name")
    if team_code:
        agents = agents.filter(teams__code=team_code)
    counts = dict(agents.values_list("availability").annotate(n=Count("pk")).values_list("availability", "n"))
    template = "accounts/_presence_table.html" if request.htmx else "accounts/presence.html"  # type: ignore[attr-defined]
    return render(request, template, {
        "agents": agents, "teams": Team.objects.filter(is_active=True), "team_code": team_code, "counts": counts,
    })


# --- administration: users ------------------------------------------------------------------------


@perm_required(Perm.USERS_MANAGE)
def user_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    role = request.GET.get("role", "")
    users = User.objects.prefetch_related("teams").order_by("full_name")
    if q:
        users = users.filter(Q(username__icontains=q) | Q(full_name__icontains=q) | Q(email__icontains=q))
    if role:
        users = users.filter(role=role)
    page = Paginator(users, 50).get_page(request.GET.get("page"))
    return render(request, "accounts/user_list.html", {"page": page, "q": q, "role": role, "roles": Role.choices})


@perm_required(Perm.USERS_MANAGE)
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = actions.check_create_user(
                request.user, username=data["username"], password=data["password"],  # type: ignore[arg-type]
                full_name=data["full_name"], role=data["role"], email=data["email"], language=data["language"],
                teams=[t.pk for t in data["teams"]],
            )
        except ActionError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("Usuario %s creado.") % user.username)
            return redirect("accounts:user_list")
    return render(request, "accounts/user_form.html", {"form": form, "title": _("Nuevo usuario")})


@perm_required(Perm.USERS_MANAGE)
def user_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(User, pk=user_id)
    initial = {
        "full_name": target.full_name, "email": target.email, "role": target.role, "language": target.language,
        "capacity": target.capacity, "is_active": target.is_active,
        "teams": list(target.teams.all()), "skills": list(target.skills.all()),
    }
    form = UserEditForm(request.POST or None, initial=initial)
    password_form = SetPasswordForm(request.POST if "password" in request.POST else None)
    if request.method == "POST":
        try:
            if "password" in request.POST:
                if password_form.is_valid():
                    _user, revoked = actions.check_set_password(
                        request.user, target.pk, password=password_form.cleaned_data["password"],  # type: ignore[arg-type]
                    )
                    messages.success(request, _password_set_message(revoked))
                    return redirect("accounts:user_edit", user_id=target.pk)
            elif form.is_valid():
                d = form.cleaned_data
                actions.check_update_user(
                    request.user, target.pk, full_name=d["full_name"], email=d["email"],  # type: ignore[arg-type]
                    role=d["role"], language=d["language"], capacity=d["capacity"], is_active=d["is_active"],
                    teams=[t.pk for t in d["teams"]], skills=[s.code for s in d["skills"]],
                )
                messages.success(request, _("Cambios guardados."))
                return redirect("accounts:user_list")
        except ActionError as exc:
            _form_error(password_form if "password" in request.POST else form, exc)
    return render(request, "accounts/user_form.html", {
        "form": form, "password_form": password_form, "target": target,
        "tokens": ApiToken.objects.filter(user=target, revoked_at__isnull=True),
        "title": _("Editar usuario %s") % target.username,
    })


# --- administration: teams, hours, holidays, skills ------------------------------------------------


@perm_required(Perm.TEAMS_MANAGE)
def team_list(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST if request.POST.get("form") == "team" else None)
    skill_form = SkillForm(request.POST if request.POST.get("form") == "skill" else None)
    holiday_form = HolidayForm(request.POST if request.POST.get("form") == "holiday" else None)
    if request.method == "POST":
        try:
            if request.POST.get("form") == "team" and form.is_valid():
                actions.check_create_team(request.user, **form.cleaned_data)  # type: ignore[arg-type]
                messages.success(request, _("Equipo creado."))
                return redirect("accounts:team_list")
            if request.POST.get("form") == "skill" and skill_form.is_valid():
                actions.check_create_skill(request.user, **skill_form.cleaned_data)  # type: ignore[arg-type]
                messages.success(request, _("Habilidad creada."))
                return redirect("accounts:team_list")
            if request.POST.get("form") == "holiday" and holiday_form.is_valid():
                d = holiday_form.cleaned_data
                actions.check_add_holiday(request.user, team_id=d["team"].pk if d["team"] else None,  # type: ignore[arg-type]
                                          date=d["date"], name=d["name"])
                messages.success(request, _("Feriado agregado."))
                return redirect("accounts:team_list")
        except ActionError as exc:
            target_form = {"team": form, "skill": skill_form, "holiday": holiday_form}[request.POST["form"]]
            _form_error(target_form, exc)
    teams = Team.objects.annotate(n_members=Count("members")).prefetch_related("hours")
    return render(request, "accounts/team_list.html", {
        "teams": teams, "form": form, "skill_form": skill_form, "holiday_form": holiday_form,
        "skills": Skill.objects.all(), "holidays": Holiday.objects.select_related("team"),
    })


@perm_required(Perm.TEAMS_MANAGE)
def team_edit(request: HttpRequest, team_id: int) -> HttpResponse:
    team = get_object_or_404(Team, pk=team_id)
    form = TeamEditForm(request.POST if request.POST.get("form") == "team" else None,
                        initial={"name": team.name, "description": team.description, "is_active": team.is_active})
    hours_form = BusinessHoursForm(request.POST if request.POST.get("form") == "hours" else None)
    if request.method == "POST":
        try:
            if request.POST.get("form") == "team" and form.is_valid():
                actions.check_update_team(request.user, team.pk, **form.cleaned_data)  # type: ignore[arg-type]
                messages.success(request, _("Cambios guardados."))
                return redirect("accounts:team_edit", team_id=team.pk)
            if request.POST.get("form") == "hours" and hours_form.is_valid():
                d = hours_form.cleaned_data
                current = [(h.weekday, h.opens_at, h.closes_at) for h in team.hours.all()]
                actions.check_set_business_hours(request.user, team.pk,  # type: ignore[arg-type]
                                                 intervals=[*current, (d["weekday"], d["opens_at"], d["closes_at"])])
                return redirect("accounts:team_edit", team_id=team.pk)
            if request.POST.get("form") == "clear_hours":
                actions.check_set_business_hours(request.user, team.pk, intervals=[])  # type: ignore[arg-type]
                return redirect("accounts:team_edit", team_id=team.pk)
        except ActionError as exc:
            _form_error(hours_form if request.POST.get("form") == "hours" else form, exc)
    return render(request, "accounts/team_edit.html", {
        "team": team, "form": form, "hours_form": hours_form, "members": team.members.order_by("full_name"),
    })


@require_POST
@perm_required(Perm.TEAMS_MANAGE)
def holiday_delete(request: HttpRequest, holiday_id: int) -> HttpResponse:
    try:
        actions.check_delete_holiday(request.user, holiday_id)  # type: ignore[arg-type]
    except ActionError as exc:
        messages.error(request, exc.message)
    return redirect("accounts:team_list")
