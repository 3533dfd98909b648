"""The campaign email (campaigns/emailing.py): customer values inert in the HTML, Markdown rendered and sanitized,
links tracked but never the unsubscribe link, RFC 8058 headers, the footer in both languages, a valid MIME message,
and the per-recipient cost once the layout is compiled. Pure functions: no database."""

from __future__ import annotations

import email
import re
import time
from email import policy
from html.parser import HTMLParser

import pytest
from django.core.mail import EmailMultiAlternatives
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from campaigns.emailing import EmailContent, RenderedEmail, _compile, render_email, variables_in

UNSUBSCRIBE = "https://centralita.example.com/u/k3-Zx9Qa1b2c"
PIXEL = "https://centralita.example.com/o/k3-Zx9Qa1b2c"
SCRIPT_NAME = "<script>alert(1)</script>"
ATTRIBUTE_BREAKER = '"onmouseover=alert(2) x="'

BODY = """# Hola, {{nombre}}

Tenemos **descuentos** y *envío gratis* a {{ciudad}}.

## Lo más vendido

- Cafetera italiana
- [Filtros de papel](https://tienda.example.com/filtros)

1. Elige
2. Paga

Escríbenos a <hola@tienda.example.com> o visita <https://tienda.example.com/ayuda>.
"""


def content(**overrides: str) -> EmailContent:
    fields = {
        "subject": "{{nombre}}, tu descuento te espera", "preheader": "Hasta 40 % solo esta semana",
        "body_markdown": BODY, "image_url": "https://cdn.example.com/verano.jpg", "button_label": "Ver ofertas",
        "button_url": "https://tienda.example.com/ofertas", "brand_name": "Café del Valle",
        "footer_address": "Calle 10 # 43-25, Medellín",
    }
    return EmailContent(**{**fields, **overrides})


def render(c: EmailContent | None = None, **kwargs) -> RenderedEmail:
    kwargs.setdefault("variables", {"nombre": "Ana", "ciudad": "Bogotá"})
    kwargs.setdefault("unsubscribe_url", UNSUBSCRIBE)
    return render_email(c or content(), **kwargs)


class Elements(HTMLParser):
    """Every start tag of a document, with its attributes and whether it is in <body>; and the body's text."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None], bool]] = []
        self.in_body = False
        self.text: list[str] = []
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_body = self.in_body or tag == "body"
        self.tags.append((tag, dict(attrs), self.in_body))

    def handle_data(self, data: str) -> None:
        if self.in_body:
            self.text.append(data)

    def body(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs, in_body in self.tags if name == tag and in_body]

    def hrefs(self) -> list[str]:
        return [a["href"] or "" for a in self.body("a") if "href" in a]

    def body_text(self) -> str:
        return " ".join("".join(self.text).split())


def assert_inert(document: str) -> None:
    """No element or attribute of the document can run code or send a form."""
    parsed = Elements(document)
    assert not {name for name, _, _ in parsed.tags} & {"script", "iframe", "object", "embed", "form", "input", "svg",
                                                       "math", "base"}
    assert not parsed.body("style")  # mrml's own <style> blocks are in <head>
    for name, attrs, _ in parsed.tags:
        assert not [a for a in attrs if a.startswith("on")], (name, attrs)
        for attribute in ("href", "src"):
            value = (attrs.get(attribute) or "").strip().lower()
            assert not value.startswith(("javascript:", "data:", "vbscript:")), (name, attrs)


# --- variables ----------------------------------------------------------------------------------------------------


def test_customer_values_are_escaped_in_the_html_and_raw_in_the_text():
    # given a customer whose name is a script and whose city breaks out of an attribute
    c = content(button_label="Para {{nombre}}", preheader="{{nombre}}: {{ciudad}}")
    values = {"nombre": SCRIPT_NAME, "ciudad": ATTRIBUTE_BREAKER}
    # when their email is rendered
    rendered = render(c, variables=values)
    # then the HTML shows the values as text, inert everywhere they appear (title, preheader, body, button)
    assert_inert(rendered.html)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert '"onmouseover' not in rendered.html
    parsed = Elements(rendered.html)
    assert f"Hola, {SCRIPT_NAME}" in parsed.body_text()
    assert f"envío gratis a {ATTRIBUTE_BREAKER}" in parsed.body_text()
    assert f"Para {SCRIPT_NAME}" in parsed.body_text()
    # and the text part and the subject carry them as they are (text/plain: nothing there is markup)
    assert f"Hola, {SCRIPT_NAME}" in rendered.text
    assert f"envío gratis a {ATTRIBUTE_BREAKER}." in rendered.text
    assert rendered.subject == f"{SCRIPT_NAME}, tu descuento te espera"


def test_variables_are_substituted_everywhere_and_unknown_ones_render_empty():
    # given placeholders with spaces and dots in the subject, preheader, body and button, one of them unknown
    c = content(subject="{{ nombre }} de {{cliente.ciudad}}", preheader="Para {{nombre}}",
                body_markdown="Hola {{nombre}}{{desconocida}}, {{cliente.ciudad}}.", button_label="Ir, {{nombre}}")
    # when rendered
    rendered = render(c, variables={"nombre": "Ana", "cliente.ciudad": "Cali"})
    # then each is filled, the unknown one with nothing, and no placeholder is left
    assert rendered.subject == "Ana de Cali"
    assert "Hola Ana, Cali." in rendered.text
    assert "Ir, Ana: https://tienda.example.com/ofertas" in rendered.text
    assert "Para Ana" in rendered.html and "Ir, Ana" in Elements(rendered.html).body_text()
    assert "{{" not in rendered.html + rendered.text


def test_a_line_break_in_a_value_cannot_inject_a_header_through_the_subject():
    # given a name carrying a header
    rendered = render(variables={"nombre": "Ana\r\nBcc: victim@example.com"})
    # then the subject stays one line
    assert rendered.subject == "Ana Bcc: victim@example.com, tu descuento te espera"
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


def test_variables_in_lists_each_placeholder_once_in_order():
    assert variables_in("{{b}} {{ a }}", "{{b}}{{cliente.nombre}}", "") == ["b", "a", "cliente.nombre"]
    assert variables_in("sin variables {nombre} {{ }}") == []


def test_a_value_inside_a_link_is_percent_encoded_and_cannot_change_its_scheme_or_host():
    # given links built from customer values: a query part, and links that are one variable alone
    c = content(body_markdown="[Tu pedido](https://tienda.example.com/p?c={{codigo}}) "
                              "[Enlace]({{enlace}}) [Otro]({{malo}}) [Roto]({{codigo}}:alert(1))")
    # when the values try to break out
    rendered = render(c, variables={"codigo": 'a&b "c" <d>/../x?', "enlace": "https://centralita.example.com/c/1",
                                    "malo": "javascript:alert(1)"})
    # then the query value is encoded, a whole-URL value is taken only when it is http(s), and nothing can run
    hrefs = Elements(rendered.html).hrefs()
    assert "https://tienda.example.com/p?c=a%26b%20%22c%22%20%3Cd%3E%2F..%2Fx%3F" in hrefs
    assert "https://centralita.example.com/c/1" in hrefs
    assert "" in hrefs  # {{malo}}: dropped
    assert_inert(rendered.html)
    assert "javascript" not in rendered.html + rendered.text
    assert "Tu pedido (https://tienda.example.com/p?c=a%26b%20%22c%22%20%3Cd%3E%2F..%2Fx%3F)" in rendered.text
    assert "Enlace (https://centralita.example.com/c/1)" in rendered.text
    assert "Otro " in rendered.text and "Otro (" not in rendered.text


# --- Markdown and sanitizing --------------------------------------------------------------------------------------


def test_markdown_renders_headings_emphasis_lists_and_links():
    # when the sample body is rendered
    rendered = render()
    parsed = Elements(rendered.html)
    # then each Markdown feature becomes its element, styled inline for clients that drop <style>
    assert [h for h in ("h1", "h2") if parsed.body(h)] == ["h1", "h2"]
    assert parsed.body("strong") and parsed.body("em")
    assert len(parsed.body("li")) == 4 and parsed.body("ul") and parsed.body("ol")
    assert "font-size: 26px" in (parsed.body("h1")[0]["style"] or "")
    assert "https://tienda.example.com/filtros" in parsed.hrefs()
    assert "mailto:hola@tienda.example.com" in parsed.hrefs()
    # and the text part reads as text: paragraphs, bullets, numbers, links as "label (url)"
    text = rendered.text
    assert text.startswith("Hola, Ana\n\nTenemos descuentos y envío gratis a Bogotá.\n\nLo más vendido\n\n")
    assert "- Cafetera italiana\n- Filtros de papel (https://tienda.example.com/filtros)\n" in text
    assert "1. Elige\n2. Paga\n" in text
    assert "Escríbenos a hola@tienda.example.com o visita https://tienda.example.com/ayuda." in text


def test_a_malicious_body_is_sanitized():
    # given a body with script, style, iframe, event handlers and script URLs, raw and through Markdown
    body = """Hola <script>alert('x')</script>

<style>body{display:none}</style>
<iframe src="https://evil.example/"></iframe>
<img src="x" onerror="alert(3)"> <img src="data:image/png;base64,AAAA" alt="datos">
<a href="javascript:alert(4)">jugar</a> [otro](javascript:alert(5)) [mayúsculas](JaVaScRiPt:alert(6))
<p onclick="alert(7)" style="position:fixed">texto</p><svg onload="alert(8)"></svg>
<form action="https://evil.example/"><input name="clave"></form>
<a href="vbscript:msgbox(9)">vb</a> <!-- <script>alert(10)</script> -->
"""
    # when rendered
    rendered = render(content(body_markdown=body))
    # then nothing that can run survives, and the harmless text does
    assert_inert(rendered.html)
    for gone in ("alert", "evil.example", "display:none}", "position:fixed", "onerror", "onclick", "<input"):
        assert gone not in rendered.html.replace("display:none;font-size:1px", ""), gone
    for kept in ("jugar", "otro", "mayúsculas", "texto", "vb"):
        assert kept in Elements(rendered.html).body_text()
    assert "alert" not in rendered.text and "<" not in rendered.text


def test_pasted_urls_become_links_and_single_line_breaks_are_kept():
    # given a marketer who pastes a URL and breaks lines as in any text box
    c = content(body_markdown="Mira https://tienda.example.com/ofertas_verano.\nSaludos,\nEl equipo")
    # when rendered with tracking
    rendered = render(c, track_link=lambda url: "https://centralita.example.com/c/9")
    # then the URL is a tracked link, shown as itself, and the lines stay lines
    assert "https://centralita.example.com/c/9" in Elements(rendered.html).hrefs()
    assert ">https://tienda.example.com/ofertas_verano</a>." in rendered.html
    assert rendered.text.startswith("Mira https://centralita.example.com/c/9.\nSaludos,\nEl equipo\n")


FRAGMENTS = st.sampled_from([
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<a href='javascript:alert(1)'>x</a>", "{{nombre}}",
    "[l](https://a.example/{{nombre}})", "[l]({{nombre}})", "**", "_", "`", "\n", "\n\n", "- ", "1. ", "# ", "> ",
    "<", ">", "&", "&amp;", '"', "'", "</mj-text>", "<mj-include path='/etc/passwd'/>", "<!--", "-->", "]]>",
    "<style>", "<p onclick=x>", "https://b.example/x_y", "\u0000", "\u2028", "ñ", " "])


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.lists(FRAGMENTS | st.text(max_size=12), max_size=25).map("".join),
       name=st.text(max_size=20))
def test_any_body_and_any_value_render_to_an_inert_document(body, name):
    # given whatever a marketer writes and whatever a customer is called
    rendered = render(content(body_markdown=body, subject=f"{{{{nombre}}}} {body[:20]}"), variables={"nombre": name})
    # then the document renders, complete and inert, and the subject is one line
    assert_inert(rendered.html)
    assert rendered.html.rstrip().endswith("</html>")
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


# --- links, tracking, headers -------------------------------------------------------------------------------------


def test_track_link_rewrites_body_links_and_the_button_but_not_unsubscribe_or_mailto():
    # given a tracker that records what it is asked
    asked: list[str] = []

    def track(url: str) -> str:
        asked.append(url)
        return f"https://centralita.example.com/c/{len(asked)}"

    # when an email with two http(s) body links, a mailto link and a button is rendered
    rendered = render(track_link=track)
    hrefs = Elements(rendered.html).hrefs()
    # then each http(s) link and the button went through the tracker once, in the document's order
    assert asked == ["https://tienda.example.com/filtros", "https://tienda.example.com/ayuda",
                     "https://tienda.example.com/ofertas"]
    assert {"https://centralita.example.com/c/1", "https://centralita.example.com/c/2",
            "https://centralita.example.com/c/3"} <= set(hrefs)
    assert not [h for h in hrefs if h.startswith("https://tienda.example.com")]
    # and the mailto and unsubscribe links are untouched, in the HTML and in the text
    assert "mailto:hola@tienda.example.com" in hrefs and UNSUBSCRIBE in hrefs
    assert "Filtros de papel (https://centralita.example.com/c/1)" in rendered.text
    assert "Ver ofertas: https://centralita.example.com/c/3" in rendered.text
    assert f"Darse de baja: {UNSUBSCRIBE}" in rendered.text
    assert rendered.headers["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"


def test_headers_are_exactly_the_rfc_8058_one_click_pair():
    rendered = render()
    assert rendered.headers == {"List-Unsubscribe": f"<{UNSUBSCRIBE}>",
                                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


@pytest.mark.parametrize("bad", ["", "/u/abc", "mailto:baja@example.com", "javascript:alert(1)",
                                 "https://x.example/u/a b", "https://x.example/u/a>\r\nBcc: y@example.com"])
def test_an_unsubscribe_url_that_is_not_an_absolute_http_url_is_refused(bad):
    with pytest.raises(ValueError, match="unsubscribe_url"):
        render(unsubscribe_url=bad)


def test_the_button_needs_a_label_and_a_safe_url():
    # given a button without a label, and one whose URL is a script
    without_label = render(content(button_label=""))
    script_url = render(content(button_url="javascript:alert(1)"))
    # then neither email has a button, in either part
    for rendered in (without_label, script_url):
        assert not re.search(r'<td align="center" bgcolor="#0b57d0"', rendered.html)
        assert "https://tienda.example.com/ofertas" not in rendered.html + rendered.text
        assert "javascript" not in rendered.html + rendered.text
        assert_inert(rendered.html)


def test_site_relative_image_and_button_urls_become_absolute(settings):
    # given the site's public URL
    settings.SITE_URL = "https://centralita.example.com"
    # when the image and the button are site-relative
    rendered = render(content(image_url="/media/campaigns/verano.jpg", button_url="/ofertas?x=1"))
    # then the email, read far from the site, carries absolute URLs; the image's alt text is the brand
    images = Elements(rendered.html).body("img")
    assert images[0]["src"] == "https://centralita.example.com/media/campaigns/verano.jpg"
    assert images[0]["alt"] == "Café del Valle"
    assert "https://centralita.example.com/ofertas?x=1" in Elements(rendered.html).hrefs()
    assert "Ver ofertas: https://centralita.example.com/ofertas?x=1" in rendered.text


def test_an_image_url_that_is_not_http_is_left_out():
    rendered = render(content(image_url='javascript:alert(1)" onerror="alert(2)'))
    assert not Elements(rendered.html).body("img")
    assert_inert(rendered.html)


# --- the document ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "lang", "why", "unsubscribe"), [
    ("es", "es", "Recibes este correo porque aceptaste recibir novedades de Café del Valle.", "Darse de baja"),
    ("es-419", "es", "Recibes este correo porque aceptaste recibir novedades de Café del Valle.", "Darse de baja"),
    ("en", "en", "You are receiving this email because you agreed to receive news from Café del Valle.",
     "Unsubscribe"),
])
def test_the_footer_says_why_and_how_to_leave_in_the_recipients_language(language, lang, why, unsubscribe):
    # when rendered in the recipient's language
    rendered = render(language=language)
    parsed = Elements(rendered.html)
    # then the document's language, the reason and the unsubscribe link follow it, in both parts
    assert parsed.tags[0][0] == "html" and parsed.tags[0][1]["lang"] == lang
    assert why in parsed.body_text() and why in rendered.text
    assert re.search(f'<a href="{re.escape(UNSUBSCRIBE)}"[^>]*>{unsubscribe}</a>', rendered.html)
    assert f"{unsubscribe}: {UNSUBSCRIBE}" in rendered.text
    assert "Calle 10 # 43-25, Medellín" in parsed.body_text() and rendered.text.rstrip().endswith("Medellín")


def test_the_footer_without_a_brand_or_address():
    rendered = render(content(brand_name="", footer_address=""))
    assert "Recibes este correo porque aceptaste recibir nuestras novedades." in rendered.text
    assert rendered.text.rstrip().endswith(f"Darse de baja: {UNSUBSCRIBE}")


def test_the_html_is_a_complete_responsive_document_with_the_preheader_hidden():
    # when rendered with an open pixel
    rendered = render(open_pixel_url=PIXEL)
    document = rendered.html
    # then it is a whole document: doctype, lang, charset, viewport, title
    assert document.lower().startswith("<!doctype html>") and document.rstrip().endswith("</html>")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in document
    assert "<title>Ana, tu descuento te espera</title>" in document
    # single 600 px column, Outlook's fixed-width table, full width on a phone, the system font stack, no web font
    assert "max-width:600px" in document and 'width="600"' in document and "@media only screen" in document
    assert "'Segoe UI', -apple-system" in document and "fonts.googleapis" not in document
    # the preheader first in the body, hidden
    hidden = re.search(r'<body[^>]*><div style="display:none;[^"]*">([^<]*)</div>', document)
    assert hidden and hidden.group(1).startswith("Hasta 40 % solo esta semana")
    # a bulletproof button: a table cell with its own background around the link
    assert re.search(r'<td align="center" bgcolor="#0b57d0"[^>]*><a href="https://tienda.example.com/ofertas"',
                     document)
    # the open pixel is the body's last image
    assert Elements(document).body("img")[-1] == {
        "src": PIXEL, "width": "1", "height": "1", "alt": "",
        "style": "display:block;border:0;width:1px;height:1px;overflow:hidden;opacity:0"}
    assert PIXEL not in render().html


def test_no_preheader_no_hidden_preview():
    rendered = render(content(preheader=""))
    assert 'display:none;font-size:1px' not in rendered.html


def test_the_text_part_has_no_html():
    rendered = render(content(body_markdown=BODY + "\n> cita con <b>negrita</b> & más\n\n---\n\n`código`"))
    assert not re.search(r"</?[a-zA-Z][^>]*>", rendered.text)
    assert not re.search(r"&[a-zA-Z]+;|&#\d+;", rendered.text)
    assert "> cita con negrita & más" in rendered.text
    assert "\n----\n" in rendered.text and "código" in rendered.text


def test_the_result_builds_a_valid_mime_message():
    # given a rendered email sent the way campaigns.channels sends it
    rendered = render(variables={"nombre": "Ñandú Pérez", "ciudad": "Bogotá"}, open_pixel_url=PIXEL)
    message = EmailMultiAlternatives(subject=rendered.subject, body=rendered.text, from_email="tienda@example.com",
                                     to=["ana@example.com"], headers=rendered.headers)
    message.attach_alternative(rendered.html, "text/html")
    # when its bytes are parsed back by Python's email package
    parsed = email.message_from_bytes(message.message().as_bytes(), policy=policy.default)
    # then it is multipart/alternative with both parts intact, the subject decoded, and the RFC 8058 headers
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == "Ñandú Pérez, tu descuento te espera"
    assert parsed["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain, html_part = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and html_part is not None
    assert plain.get_content() == rendered.text
    assert html_part.get_content().rstrip("\n") == rendered.html  # the serializer ends the part with a newline
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


# --- cost ---------------------------------------------------------------------------------------------------------


def test_ten_thousand_recipients_render_fast_from_one_compiled_layout():
    # given a campaign's content, tracked links and an open pixel
    c = content(body_markdown=BODY + "\n\nÚnico {{nonce}}")
    _compile.cache_clear()
    # when 10,000 different recipients are rendered
    started = time.perf_counter()
    for i in range(10_000):
        rendered = render_email(c, variables={"nombre": f"Cliente {i}", "ciudad": "Bogotá", "nonce": str(i)},
                                unsubscribe_url=f"{UNSUBSCRIBE}{i}", open_pixel_url=f"{PIXEL}{i}",
                                track_link=lambda url, i=i: f"https://centralita.example.com/c/{i}?u={len(url)}")
    elapsed = time.perf_counter() - started
    # then MJML was compiled once, each email is the recipient's own, and the whole run is quick
    # (measured on the 2-core dev machine: about 0.3 s for 10,000; the bound leaves room for a busy CI host)
    assert _compile.cache_info().misses == 1 and _compile.cache_info().hits == 9_999
    assert "Cliente 9999" in rendered.html and f"{UNSUBSCRIBE}9999" in rendered.html
    assert "https://centralita.example.com/c/9999?u=" in rendered.text
    print(f"\n10,000 campaign emails rendered in {elapsed:.2f} s ({elapsed / 10_000 * 1e6:.0f} µs each)")
    assert elapsed < 10
