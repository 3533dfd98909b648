"""Web chat pages: sites administration (CHANNELS_MANAGE), the agent's typing signal, and the public demo page."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from connectors.webchat import actions
from connectors.webchat.forms import ChatSiteForm, WhatsAppTemplateForm
from connectors.webchat.models import ChatSite, Visitor, WhatsAppLinkSettings
from connectors.webchat.selectors import sent_attachments
from connectors.webchat.tokens import read_attachment_token
from connectors.webchat.whatsapp_link import default_template
from core.errors import ActionError
from core.permissions import perm_required
from inbox.attachments import file_response


def _form_error(form: ChatSiteForm | WhatsAppTemplateForm, exc: ActionError) -> None:
    field = exc.details.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


def embed_snippet(site: ChatSite) -> str:
    """The one line to paste before </body>. SITE_URL is the address visitors' browsers reach Centralita at."""
    src = settings.SITE_URL.rstrip("/") + static("webchat/widget.js")
    return f'<script src="{src}" data-site="{site.token}" async></script>'


@perm_required(Perm.CHANNELS_MANAGE)
def site_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    which = request.POST.get("form") if request.method == "POST" else None
    form = ChatSiteForm(request.POST if which == "site" else None, initial=ChatSiteForm.initial_for(None))
    template_form = WhatsAppTemplateForm(request.POST if which == "whatsapp" else None,
                                         initial={"template": WhatsAppLinkSettings.load().message_template})
    try:
        if which == "site" and form.is_valid():
            site = actions.check_save_site(user, **form.action_kwargs())
            messages.success(request, _("Sitio «%s» creado: copie el código para su página.") % site.name)
            return redirect("webchat:site", site_id=site.pk)
        if which == "whatsapp" and template_form.is_valid():
            actions.check_save_whatsapp_template(user, template=template_form.cleaned_data["template"])
            messages.success(request, _("Mensaje de WhatsApp guardado."))
            return redirect("webchat:sites")
    except ActionError as exc:
        _form_error(form if which == "site" else template_form, exc)
    sites = ChatSite.objects.select_related("inbox").order_by("name")
    return render(request, "webchat/sites.html", {
        "sites": sites, "form": form, "template_form": template_form, "default_template": default_template()})


@perm_required(Perm.CHANNELS_MANAGE)
def site_edit(request: HttpRequest, site_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    site = ChatSite.objects.select_related("inbox").filter(pk=site_id).first()
    if site is None:
        raise Http404
    which = request.POST.get("form") if request.method == "POST" else None
    form = ChatSiteForm(request.POST if which == "site" else None, initial=ChatSiteForm.initial_for(site))
    try:
        if which == "site" and form.is_valid():
            actions.check_save_site(user, site_id=site.pk, **form.action_kwargs())
            messages.success(request, _("Cambios guardados."))
            return redirect("webchat:site", site_id=site.pk)
        if which == "rotate":
            actions.check_rotate_site_token(user, site.pk)
            messages.warning(request, _("Token nuevo: reemplace el código en su página; el anterior ya no funciona."))
            return redirect("webchat:site", site_id=site.pk)
    except ActionError as exc:
        _form_error(form, exc)
    return render(request, "webchat/site.html", {
        "site": site, "form": form, "snippet": embed_snippet(site),
        "visitors": Visitor.objects.filter(site=site).count(),
        "conversations": Visitor.objects.filter(site=site, conversation__isnull=False).count()})


@require_POST
@perm_required(Perm.INBOX_WORK)
def agent_typing(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """The conversation page reports that the agent is typing a reply (never a note) to the visitor's widget."""
    user: User = request.user  # type: ignore[assignment]
    try:
        told = actions.check_agent_typing(user, conversation_id, typing=request.POST.get("typing") != "0")
    except ActionError as exc:
        return JsonResponse({"code": exc.code, "message": exc.message}, status=exc.status)
    return JsonResponse({"visitors": told})


def demo(request: HttpRequest) -> HttpResponse:
    """A page that embeds the demo site's widget, so one person can be visitor (here) and agent (in the inbox)."""
    site = ChatSite.objects.filter(is_demo=True).first()
    if site is None and settings.DEBUG:
        site = actions.do_ensure_demo_site()  # `make run` on a database seeded before this page existed
    if site is None or not site.enabled:
        raise Http404
    return render(request, "webchat/demo.html", {"site": site})


def attachment(request: HttpRequest, token: str) -> HttpResponseBase:
    """A file an agent sent in a web chat conversation, for the visitor holding the signed link the widget shows
    (connectors.webchat.selectors.attachment_links). Public like the widget: the signature is the permission."""
    found = read_attachment_token(token)
    if found is None:
        raise Http404
    message_id, index = found
    attachments = sent_attachments(message_id)
    if index >= len(attachments):
        raise Http404
    return file_response(attachments[index])
