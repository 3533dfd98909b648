"""Customer pages: the list (/clientes/), the profile, creating and editing a customer, consent; and the supervisors'
possible duplicates (merge) and marketing lists."""

from __future__ import annotations

from functools import lru_cache

from django import forms
from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import Context, Template
from django.urls import reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from core import keyset
from core.errors import ActionError, NotFoundError
from core.forms import show_action_errors
from core.permissions import perm_required
from customers import selectors
from customers.actions import (
    ConsentChange,
    Preferences,
    access_customer,
    check_create_customer,
    check_create_marketing_list,
    check_merge_customers,
    check_update_customer,
)
from customers.choices import ConsentChannel
from customers.forms import ConsentForm, CustomerProfileForm
from customers.models import Customer, DuplicateCandidate, MarketingList
from customers.panels import profile_sections
from customers.segments import segments_of
from customers.timeline import MAX_OFFSET, timeline


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


# --- the customer list and profile ---------------------------------------------------------------------------

PAGE_SIZE = 50
COUNT_CAP = 10_000  # "más de 10 000": counting a large filtered set exactly costs more than the page itself


def _customer_or_404(user: User, customer_id: int) -> Customer:
    try:
        return access_customer(user, customer_id)
    except NotFoundError:
        raise Http404(_("El cliente no existe.")) from None


@perm_required(Perm.CUSTOMERS_VIEW)
def customer_list(request: HttpRequest) -> HttpResponse:
    """Search and filters (selectors.CustomerFilters) in keyset pages; htmx swaps only the results."""
    user: User = request.user  # type: ignore[assignment]
    f = selectors.CustomerFilters.from_query(request.GET)
    keys = selectors.sort_keys(f.sort)
    qs = selectors.filtered(f)
    cursor = request.GET.get("cursor", "")
    rows, nxt = keyset.page(qs.prefetch_related("phones", "emails", "tags"), keys,
                            after_values=keyset.decode(cursor, keys, Customer) if cursor else None, size=PAGE_SIZE)
    badges = segments_of([c.pk for c in rows])
    for c in rows:
        c.segment_badges = badges.get(c.pk, [])  # type: ignore[attr-defined]
    context = {"customers": rows, "filters": f, "next_query": f.query(cursor=nxt) if nxt else "",
               "first_query": f.query() if cursor else None, "export_query": f.query(),
               "count_query": f.query(), "few": not cursor and len(rows) < PAGE_SIZE,
               "channel_icons": channel_icons(),
               "can_edit": user.has_perm_code(Perm.CUSTOMERS_EDIT),
               "can_export": user.has_perm_code(Perm.CUSTOMERS_EXPORT),
               "can_import": user.has_perm_code(Perm.CUSTOMERS_IMPORT),
               **selectors.filter_choices()}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "customers/_list_results.html", context)
    return render(request, "customers/list.html", context)


@perm_required(Perm.CUSTOMERS_VIEW)
def customer_count(request: HttpRequest) -> HttpResponse:
    """How many customers the list's filters select, exact up to COUNT_CAP: loaded after the rows (a count walks
    the whole filtered set — 100 ms for a 5 % tag at 300,000 customers — while the page stops at 50 rows)."""
    qs = selectors.filtered(selectors.CustomerFilters.from_query(request.GET))
    total = qs.order_by()[:COUNT_CAP + 1].count()
    return render(request, "customers/_count.html", {"total": total, "capped": total > COUNT_CAP,
                                                      "count_cap": COUNT_CAP})


@lru_cache(maxsize=1)
def channel_icons() -> dict[str, SafeString]:
    """The channel icons of the list's rows, drawn once per process (Lucide builds each SVG from its zip: fifty rows
    drew a hundred of them per page)."""
    names = {"whatsapp": "message-circle", "email": "mail", "webchat": "message-square", "phone": "phone",
             "sms": "smartphone"}
    template = Template('{% load lucide %}{% lucide name size=16 aria_hidden="true" focusable="false" %}')
    return {key: SafeString(template.render(Context({"name": icon}))) for key, icon in names.items()}


@perm_required(Perm.CUSTOMERS_VIEW)
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    customer = _customer_or_404(user, customer_id)
    consents = {c.channel: c for c in customer.consents.all()}
    duplicates = []
    if user.has_perm_code(Perm.LEADS_SUPERVISE):
        pairs = DuplicateCandidate.objects.filter(Q(customer=customer) | Q(other=customer), resolved_at__isnull=True)
        duplicates = list(pairs.select_related("customer", "other"))
    return render(request, "customers/detail.html", {
        "customer": customer,
        "phones": list(customer.phones.order_by("id")), "emails": list(customer.emails.order_by("id")),
        "tags": list(customer.tags.all()), "lists": list(customer.marketing_lists.all()),
        "segments": segments_of([customer.pk]).get(customer.pk, []),
        "segment_history": list(customer.segment_memberships.select_related("segment")
                                .order_by("-entered_at", "-id")[:20]),
        "consent_rows": [(channel, label, consents.get(channel)) for channel, label in ConsentChannel.choices],
        "consent_form": ConsentForm(),
        "channels": [label for column, label in (("on_whatsapp", "WhatsApp"), ("on_email", _("Correo")),
                                                 ("on_webchat", _("Chat web")), ("on_phone", _("Teléfono")),
                                                 ("on_sms", "SMS"))
                     if getattr(customer, column)],
        "average": customer.total_spent / customer.orders_count if customer.orders_count else None,
        "sections": profile_sections.render(request, user, customer),
        "duplicates": [d.other if d.customer_id == customer.pk else d.customer for d in duplicates],
        "can_edit": user.has_perm_code(Perm.CUSTOMERS_EDIT),
    })


TIMELINE_PAGE = 25
MAX_SECTION_OFFSET = 100_000  # the deepest row a profile section's "show more" pages to


def _timeline_page(customer: Customer, user: User, offset: int) -> dict[str, object]:
    """TIMELINE_PAGE entries of the customer's timeline from `offset` on, and where the next ones are read from when
    there are more."""
    entries = timeline(customer, user=user, offset=offset, limit=TIMELINE_PAGE + 1)
    more = len(entries) > TIMELINE_PAGE and offset + TIMELINE_PAGE <= MAX_OFFSET
    more_url = (f"{reverse('customers:timeline_page', args=[customer.pk])}?desde={offset + TIMELINE_PAGE}"
                if more else "")
    return {"timeline": entries[:TIMELINE_PAGE], "timeline_more_url": more_url, "first_page": offset == 0}


def _offset(request: HttpRequest, most: int) -> int | None:
    """The `desde` parameter of a "show more" page (missing: the first page); None when it is not a row number."""
    offset = request.GET.get("desde", "0")
    ok = offset.isascii() and offset.isdecimal() and len(offset) <= len(str(most))  # "²" or 5,000 digits: a 400
    return int(offset) if ok and int(offset) <= most else None


@perm_required(Perm.CUSTOMERS_VIEW)
def customer_timeline_page(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The profile's timeline, loaded when it scrolls into view (it is read from every app: the page itself stays as
    fast with any history), and its "show earlier" button: the entries from `desde` on."""
    user: User = request.user  # type: ignore[assignment]
    customer = _customer_or_404(user, customer_id)
    offset = _offset(request, MAX_OFFSET)
    if offset is None:
        return HttpResponse(_("Falta desde qué entrada se muestra el historial."), status=400)
    return render(request, "customers/_timeline_entries.html", _timeline_page(customer, user, offset))


@perm_required(Perm.CUSTOMERS_VIEW)
def customer_section_page(request: HttpRequest, customer_id: int, name: str) -> HttpResponse:
    """A profile section's "show more" button: its rows from `desde` on (404 when the section does not page or the
    user may not see it)."""
    user: User = request.user  # type: ignore[assignment]
    customer = _customer_or_404(user, customer_id)
    offset = _offset(request, MAX_SECTION_OFFSET)
    if offset is None:
        return HttpResponse(_("Falta desde qué fila se muestra la sección."), status=400)
    rows = profile_sections.render_page(name, request, user, customer, offset)
    if rows is None:
        raise Http404
    return HttpResponse(rows)


def _initial(customer: Customer) -> dict[str, object]:
    return {
        "name": customer.name, "document_id": customer.document_id, "address": customer.address,
        "city": customer.city, "department": customer.department, "notes": customer.notes,
        "phones": "\n".join(customer.phones.order_by("id").values_list("e164", flat=True)),
        "emails": "\n".join(customer.emails.order_by("id").values_list("email", flat=True)),
        "marketing_lists": list(customer.marketing_lists.all()),
        "tags": ", ".join(customer.tags.values_list("name", flat=True)),
        "language": customer.language, "preferred_channel": customer.preferred_channel,
        "contact_from": customer.contact_from, "contact_to": customer.contact_to,
    }


def _edit_values(form: CustomerProfileForm) -> dict[str, object]:
    d = form.cleaned_data
    return {
        "name": d["name"], "phones": d["phones"].splitlines(), "emails": d["emails"].splitlines(),
        "document_id": d["document_id"], "address": d["address"], "city": d["city"],
        "department": d["department"], "notes": d["notes"], "tags": form.tag_names(),
        "marketing_list_ids": [m.pk for m in d["marketing_lists"]],
        "preferences": Preferences(language=d["language"], preferred_channel=d["preferred_channel"],
                                   contact_from=d["contact_from"], contact_to=d["contact_to"]),
    }


@perm_required(Perm.CUSTOMERS_EDIT)
def customer_edit(request: HttpRequest, customer_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    customer = _customer_or_404(user, customer_id)
    form = CustomerProfileForm(request.POST or None, initial=_initial(customer))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                check_update_customer(user, customer.pk, **_edit_values(form))  # type: ignore[arg-type]
            except ActionError as exc:
                show_action_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Datos del cliente actualizados."))
                return redirect("customers:detail", customer_id=customer.pk)
    return render(request, "customers/edit.html", {"form": form, "customer": customer}, status=status)


@perm_required(Perm.CUSTOMERS_EDIT)
def customer_create(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = CustomerProfileForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                customer = check_create_customer(user, **_edit_values(form))  # type: ignore[arg-type]
            except ActionError as exc:
                show_action_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Cliente «%s» creado.") % customer.name)
                return redirect("customers:detail", customer_id=customer.pk)
    return render(request, "customers/edit.html", {"form": form, "customer": None}, status=status)


@require_POST
@perm_required(Perm.CUSTOMERS_EDIT)
def consent(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Records a customer's opt-in (with where it came from) or opt-out on one channel, as the agent heard it."""
    user: User = request.user  # type: ignore[assignment]
    customer = _customer_or_404(user, customer_id)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Elija el canal y si el cliente acepta o no."))
        return redirect("customers:detail", customer_id=customer.pk)
    d = form.cleaned_data
    try:
        check_update_customer(user, customer.pk, consent={d["channel"]: ConsentChange(status=d["status"],
                                                                                      source=d["source"])})
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Consentimiento registrado."))
    return redirect("customers:detail", customer_id=customer.pk)
