"""The history row drawn in Python (teamchat.rowhtml): every value escaped, every part a row can have."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import RequestFactory
from django.utils import translation

from accounts.tests.factories import UserFactory
from teamchat.rowhtml import row_html
from teamchat.tests.factories import MessageFactory

pytestmark = pytest.mark.django_db
EVIL = '<script>alert("x")</script>'


def _row(m, **extra):
    return {"m": m, "html": "<p>hola</p>", "cards": [], "reactions": [], "own": False, "can_edit": False,
            "can_delete": False, "mentions_me": False, "images": [], "files": [], **extra}


def test_a_row_with_everything_escapes_what_people_wrote():
    # given a message with a picture and a file whose names carry markup, a card, reactions and replies
    ana = UserFactory(full_name=f"Ana {EVIL}")
    m = MessageFactory(author=ana, body="hola", reply_count=2, edited_at=datetime(2026, 12, 1, 15, 0, tzinfo=UTC),
                       last_reply_at=datetime(2026, 12, 1, 16, 0, tzinfo=UTC))
    files = [{"name": f"foto{EVIL}.png", "content_type": "image/png", "size": 10},
             {"name": f"hoja{EVIL}.csv", "content_type": "text/csv", "size": 2048}]
    r = _row(m, images=[(0, files[0])], files=[(1, files[1])], mentions_me=True, own=True, can_edit=True,
             can_delete=True,
             cards=[{"kind": "order", "icon": "receipt", "kind_label": "Pedido", "title": f"P-1 {EVIL}",
                     "url": "/pedidos/1/", "state": "Confirmado", "detail": EVIL}],
             reactions=[{"emoji": "👍", "count": 2, "mine": True, "names": [f"Beto {EVIL}", "Ana"]}])
    request = RequestFactory().get("/")
    # when it is drawn in Spanish, in the channel and in a thread
    with translation.override("es"):
        html = str(row_html(r, in_thread=False, request=request))
        thread = str(row_html(r, in_thread=True, request=request))
    # then nothing written by a person reaches the page as markup
    assert "<script>" not in html and html.count("&lt;script&gt;") >= 6
    # and every part is there, with the thread's variants
    assert 'class="chat-row chat-row-mention"' in html and f'id="m-{m.pk}"' in html and f'id="t-{m.pk}"' in thread
    assert f'src="/chat/m/{m.pk}/archivo/0"' in html and f'href="/chat/m/{m.pk}/archivo/1" download' in html
    assert "2,0\xa0KB" in html  # filesizeformat, in Spanish
    assert 'aria-pressed="true"' in html and "chat-reaction-mine" in html
    assert "2 respuestas" in html and "data-testid=\"chat-replies\"" not in thread
    assert "(editado)" in html and f'hx-target="#hist-{m.pk}"' in html and f'hx-target="#hist-{m.pk}-t"' in thread
    assert 'data-testid="chat-edit"' in html and f'/chat/m/{m.pk}/editar?hilo=1' in thread
    assert 'name="csrfmiddlewaretoken"' in html and 'name="hilo" value="1"' in thread
    assert "Marcar como no leído" not in html  # one's own message


def test_a_deleted_message_and_an_author_who_is_gone():
    m = MessageFactory(author=None, body="", deleted_at=datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    with translation.override("en"):
        html = str(row_html(_row(m, html=""), in_thread=False, request=RequestFactory().get("/")))
    assert "Message deleted" in html and "Deleted person" in html and "chat-row-deleted" in html
    assert "chat-tools" not in html and '<span class="chat-avatar" aria-hidden="true">?' in html
