"""Supervisors' customer pages: possible duplicates (merge) and marketing lists."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.roles import Perm
from core.errors import ActionError
from core.permissions import perm_required
from customers.actions import check_create_marketing_list, check_merge_customers
from customers.models import DuplicateCandidate, MarketingList


class MarketingListForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Nombre"), max_length=100)
    code = forms.SlugField(label=gettext_lazy("Código"), max_length=50)
    description = forms.CharField(label=gettext_lazy("Descripción"), required=False)


@perm_required(Perm.LEADS_SUPERVISE)
def duplicates(request: HttpRequest) -> HttpResponse:
    pairs = (DuplicateCandidate.objects.filter(resolved_at__isnull=True)
             .select_related("customer", "other").prefetch_related("customer__phones", "customer__emails",
                                                                   "other__phones", "other__emails")[:200])
    return render(request, "customers/duplicates.html", {"pairs": pairs})


@require_POST
@perm_required(Perm.LEADS_SUPERVISE)
def merge(request: HttpRequest) -> HttpResponse:
    keep_id, merge_id = (request.POST.get(name, "") for name in ("keep", "merge"))
    if not (keep_id.isdecimal() and merge_id.isdecimal()):  # a tampered form: say so, never a Python message
        messages.error(request, _("Elija el cliente que se conserva y el que se fusiona."))
        return redirect("customers:duplicates")
    try:
        keep = check_merge_customers(request.user, keep_id=int(keep_id), merge_id=int(merge_id))  # type: ignore[arg-type]
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Clientes fusionados en «%s».") % keep.name)
    return redirect("customers:duplicates")


@perm_required(Perm.LEADS_SUPERVISE)
def lists(request: HttpRequest) -> HttpResponse:
    form = MarketingListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            check_create_marketing_list(request.user, **form.cleaned_data)  # type: ignore[arg-type]
        except ActionError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Lista creada."))
            return redirect("customers:lists")
    return render(request, "customers/lists.html", {
        "form": form, "lists": MarketingList.objects.annotate(n=Count("customers"))})
