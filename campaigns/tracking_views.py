"""The public links inside campaign messages (no session): the tracked redirect, the email's open pixel and the
unsubscribe page (GET shows one button; POST — that button, or the mail client's RFC 8058 one-click — unsubscribes).
A malformed or forged token is a 404; nothing here can be used to learn anything about a customer."""

from __future__ import annotations

import base64

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns import results, tracking
from campaigns.choices import CampaignChannel, ClickTarget
from campaigns.models import CampaignRecipient

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _recipient(token: str) -> CampaignRecipient:
    pk = tracking.recipient_id(token)
    recipient = (CampaignRecipient.objects.select_related("campaign", "customer").filter(pk=pk).first()
                 if pk is not None else None)
    if recipient is None:
        raise Http404
    return recipient


def _redirect(request: HttpRequest, token: str, index: int) -> HttpResponse:
    recipient = _recipient(token)
    links = tracking.tracked_urls(recipient.campaign)
    if not 0 <= index < len(links):
        raise Http404
    if request.method == "GET":  # a HEAD (a link checker) follows the link without counting a click
        results.record_click(recipient.pk, target=ClickTarget.BUTTON if index == 0 else ClickTarget.LINK)
    response = HttpResponseRedirect(links[index])
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_http_methods(["GET", "HEAD"])
def click(request: HttpRequest, token: str) -> HttpResponse:
    return _redirect(request, token, 0)


@never_cache
@require_http_methods(["GET", "HEAD"])
def click_n(request: HttpRequest, token: str, n: int) -> HttpResponse:
    return _redirect(request, token, n)


@never_cache
@require_http_methods(["GET", "HEAD"])
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    pk = tracking.recipient_id(token)
    if pk is not None:
        results.record_open(pk)
    return HttpResponse(PIXEL, content_type="image/gif")


@csrf_exempt  # RFC 8058: the mail provider POSTs "List-Unsubscribe=One-Click" without any session or token
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    recipient = _recipient(token)
    if recipient.channel != CampaignChannel.EMAIL:  # WhatsApp and SMS opt out by replying (a forwarded link must not)
        raise Http404
    done = False
    if request.method == "POST":
        results.unsubscribe(recipient.pk)
        done = True
    # in the customer's language when we know it (the page has no session to tell)
    with translation.override(recipient.customer.language or translation.get_language()):
        return render(request, "campaigns/unsubscribe.html", {
            "done": done or recipient.unsubscribed_at is not None, "token": token,
            "channel": recipient.get_channel_display()})
