"""The organization's colour in the shell, and the "availability on login" setting."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from core.actions import check_update_site_settings
from core.context_processors import AA_TEXT, WHITE, brand_style, contrast
from core.errors import ActionError
from core.models import AuditLog, AvailabilityOnLogin, SiteSettings


@pytest.mark.parametrize("value", ["", "   ", "red", "#fff", "#12345g", "#0b5cad; color: red"])
def test_missing_or_malformed_colour_keeps_the_stylesheet_defaults(value):
    # `--brand: ;` invalidated the variable and the primary button went white on white
    assert brand_style(value) == ""


def test_dark_brand_gets_white_text():
    assert brand_style("#0B5CAD") == "--brand: #0b5cad; --brand-ink: #ffffff; --brand-text: #0b5cad;"


@pytest.mark.parametrize("colour", ["#ffcc00", "#ffffff", "#7fb2ea", "#00ff00"])
def test_light_brand_gets_dark_text_and_links_darkened_to_aa(colour):
    props = dict(p.strip().split(": ") for p in brand_style(colour).rstrip(";").split(";"))
    assert props["--brand-ink"] == "#1b1f24"
    assert contrast(props["--brand-ink"], colour) >= AA_TEXT
    assert contrast(props["--brand-text"], WHITE) >= AA_TEXT


@pytest.mark.django_db
def test_login_page_button_is_not_left_without_a_colour():
    # LoginView puts Django's RequestSite (no brand_color) in the context as `site`; base.html must not use it
    html = Client().get(reverse("accounts:login")).content.decode()
    assert "--brand: ;" not in html and "--brand:  " not in html
    assert 'class="btn btn-primary"' in html


@pytest.mark.django_db
def test_shell_uses_the_saved_colour(admin_user, client_for):
    check_update_site_settings(admin_user, company_name="Andina", default_language="es", brand_color="#aa3300")
    html = client_for(admin_user).get("/").content.decode()
    assert 'body { --brand: #aa3300; --brand-ink: #ffffff;' in html  # in base.html's nonce'd <style>


@pytest.mark.django_db
def test_availability_on_login_defaults_to_available_and_is_saved_from_the_settings_page(admin_user, client_for):
    assert SiteSettings.load().availability_on_login == AvailabilityOnLogin.AVAILABLE
    client = client_for(admin_user)
    page = client.get(reverse("core:settings")).content.decode()
    assert 'name="availability_on_login"' in page and "Mantener el estado anterior" in page
    response = client.post(reverse("core:settings"), {
        "company_name": "Centralita", "default_language": "es", "brand_color": "#0b5cad",
        "availability_on_login": "mantener"})
    assert response.status_code == 302
    assert SiteSettings.load().availability_on_login == AvailabilityOnLogin.KEEP
    assert AuditLog.objects.get(action="settings.updated").changes == {
        "availability_on_login": ["disponible", "mantener"]}


@pytest.mark.django_db
def test_availability_on_login_is_left_alone_when_not_given_and_refused_when_unknown(admin_user):
    check_update_site_settings(admin_user, company_name="X", default_language="es", brand_color="#000000",
                               availability_on_login="mantener")
    check_update_site_settings(admin_user, company_name="Y", default_language="es", brand_color="#000000")
    assert SiteSettings.load().availability_on_login == "mantener"
    with pytest.raises(ActionError) as exc:
        check_update_site_settings(admin_user, company_name="X", default_language="es", brand_color="#000000",
                                   availability_on_login="siempre")
    assert exc.value.code == "invalid_availability_on_login"
