"""Inbox administration (INBOX_MANAGE): inboxes, their member teams, skill and automatic assignment, and their
categories. Thin pages: forms parse, inbox.actions validates and writes (with audit entries)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Skill, Team, User
from accounts.roles import Perm
from core.errors import ActionError
from core.permissions import perm_required
from inbox import actions
from inbox.models import Conversation, Inbox


class InboxForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Nombre"), max_length=100)
    code = forms.SlugField(label=gettext_lazy("Código"), max_length=50, required=False,
                           help_text=gettext_lazy("Para canales y API; no cambia después. Vacío: se toma del nombre."))
    auto_assign = forms.BooleanField(label=gettext_lazy("Asignación automática"), required=False)
    skill = forms.ModelChoiceField(label=gettext_lazy("Habilidad requerida para la asignación automática"),
                                   queryset=Skill.objects.all(), required=False,
                                   empty_label=gettext_lazy("Ninguna"))
    teams = forms.ModelMultipleChoiceField(label=gettext_lazy("Equipos miembros"), queryset=Team.objects.all(),
                                           required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, inbox: Inbox | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if inbox is not None:
            del self.fields["code"]  # fixed once created
            if inbox.is_global:
                self.fields["auto_assign"].disabled = True
                self.fields["auto_assign"].help_text = _("Global es la entrada común: no asigna automáticamente.")

    def action_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {"name": d["name"], "auto_assign": d["auto_assign"], "skill_id": d["skill"].pk if d["skill"] else None,
                "team_ids": [t.pk for t in d["teams"]]}


class CategoryForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Categoría"), max_length=100)
    category_id = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


def _form_error(form: forms.Form, exc: ActionError) -> None:
    field = exc.details.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


@perm_required(Perm.INBOX_MANAGE)
def inbox_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = InboxForm(request.POST or None, initial={"auto_assign": True})
    if request.method == "POST" and form.is_valid():
        try:
            inbox = actions.check_save_inbox(user, code=form.cleaned_data["code"], **form.action_kwargs())
        except ActionError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("Bandeja «%s» creada.") % inbox.name)
            return redirect("inbox:admin_inbox", inbox_id=inbox.pk)
    inboxes = Inbox.objects.select_related("skill").prefetch_related("categories", "teams")
    return render(request, "inbox/admin_inboxes.html", {"inboxes": inboxes, "form": form})


@perm_required(Perm.INBOX_MANAGE)
def inbox_edit(request: HttpRequest, inbox_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    inbox = get_object_or_404(Inbox.objects.select_related("skill"), pk=inbox_id)
    which = request.POST.get("form") if request.method == "POST" else None
    form = InboxForm(request.POST if which == "inbox" else None, inbox=inbox, initial={
        "name": inbox.name, "auto_assign": inbox.auto_assign, "skill": inbox.skill_id,
        "teams": list(inbox.teams.values_list("pk", flat=True))})
    category_form = CategoryForm(request.POST if which == "category" else None)
    try:
        if which == "inbox" and form.is_valid():
            actions.check_save_inbox(user, inbox_id=inbox.pk, **form.action_kwargs())
            messages.success(request, _("Cambios guardados."))
            return redirect("inbox:admin_inbox", inbox_id=inbox.pk)
        if which == "category" and category_form.is_valid():
            d = category_form.cleaned_data
            actions.check_save_category(user, inbox_id=inbox.pk, name=d["name"], category_id=d["category_id"])
            messages.success(request, _("Categoría renombrada.") if d["category_id"] else _("Categoría agregada."))
            return redirect("inbox:admin_inbox", inbox_id=inbox.pk)
        if which == "delete_category":
            raw = request.POST.get("category_id", "")
            actions.check_delete_category(user, inbox_id=inbox.pk, category_id=int(raw) if raw.isdigit() else 0)
            messages.success(request, _("Categoría borrada."))
            return redirect("inbox:admin_inbox", inbox_id=inbox.pk)
    except ActionError as exc:
        if which == "delete_category":
            messages.error(request, exc.message)
            return redirect("inbox:admin_inbox", inbox_id=inbox.pk)
        _form_error(form if which == "inbox" else category_form, exc)
    in_use = dict(Conversation.objects.filter(category__inbox=inbox).values_list("category")
                  .annotate(n=Count("pk")).values_list("category", "n"))
    categories = [(c, in_use.get(c.pk, 0)) for c in inbox.categories.all()]
    return render(request, "inbox/admin_inbox.html", {
        "inbox": inbox, "form": form, "category_form": category_form, "categories": categories,
    })
