"""CSV export of the filtered customer list and CSV import with every bad row reported with its line (issue 17)."""

from __future__ import annotations

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError
from core.exports import CsvOptions, streaming_csv_response
from core.permissions import perm_required
from customers.exports import acustomer_rows, customer_rows, export_columns
from customers.imports import EXAMPLE_HEADER, MAX_IMPORT_BYTES, MAX_IMPORT_ROWS, check_import_customers
from customers.selectors import CustomerFilters


# perm_required is typed for HttpResponse; a StreamingHttpResponse is served just the same.
@perm_required(Perm.CUSTOMERS_EXPORT)
def export_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The customers the list's filters select, in the list's order, as CSV, streamed (customers.exports), with the
    export options of core.exports (dialect, headers)."""
    try:
        options = CsvOptions.from_query(request.GET)
    except ActionError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    filters = CustomerFilters.from_query(request.GET)
    now = timezone.now()  # one moment for every chunk's "contacted in the last N days"
    asgi = isinstance(request, ASGIRequest)
    stamp = timezone.localdate().strftime("%Y%m%d")
    return streaming_csv_response(columns=export_columns(), rows=customer_rows(filters, now=now),
                                  arows=acustomer_rows(filters, now=now) if asgi else None, options=options,
                                  filename=f"clientes-{stamp}.csv")


class CustomerImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Archivo CSV"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}))

    def clean_file(self) -> UploadedFile[bytes]:
        upload: UploadedFile[bytes] = self.cleaned_data["file"]
        if (upload.size or 0) > MAX_IMPORT_BYTES:
            raise forms.ValidationError(_("El archivo supera los %d MB. Divídalo en varios archivos más pequeños.")
                                        % (MAX_IMPORT_BYTES // (1024 * 1024)))
        return upload


@perm_required(Perm.CUSTOMERS_IMPORT)
def import_customers(request: HttpRequest) -> HttpResponse:
    """GET: the upload form and the file's format. POST: runs the import while the person waits (files up to
    MAX_IMPORT_BYTES / MAX_IMPORT_ROWS rows) and shows the counts and every bad row with its line."""
    user: User = request.user  # type: ignore[assignment]
    form = CustomerImportForm(request.POST or None, request.FILES or None)
    report = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                report = check_import_customers(user, form.cleaned_data["file"])
            except ActionError as exc:
                form.add_error("file", exc.message)
        if report is None:
            status = 400
    return render(request, "customers/import.html", {
        "form": form, "report": report, "example_header": EXAMPLE_HEADER,
        "max_mb": MAX_IMPORT_BYTES // (1024 * 1024), "max_rows": number_format(MAX_IMPORT_ROWS, force_grouping=True),
    }, status=status)
