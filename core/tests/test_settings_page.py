from __future__ import annotations

import pytest
from django.urls import reverse

from accounts import actions
from core.actions import check_update_site_settings
from core.errors import ActionError, PermissionDeniedError
from core.models import AuditLog, SiteSettings

pytestmark = pytest.mark.django_db


def test_admin_updates_settings_in_the_browser_and_it_is_audited(admin_user, client_for):
    # when the admin saves new organization settings
    response = client_for(admin_user).post(reverse("core:settings"), {
        "company_name": "Distribuidora Andina", "default_language": "en", "brand_color": "#AA3300"})
    # then they are stored, shown in the shell, and audited with old and new values
    assert response.status_code == 302
    site = SiteSettings.load()
    assert (site.company_name, site.default_language, site.brand_color) == ("Distribuidora Andina", "en", "#aa3300")
    assert "Distribuidora Andina" in client_for(admin_user).get("/").content.decode()
    assert AuditLog.objects.get(action="settings.updated").changes["company_name"] == ["Centralita",
                                                                                       "Distribuidora Andina"]


def test_new_users_get_the_default_language(admin_user):
    check_update_site_settings(admin_user, company_name="X", default_language="en", brand_color="#000000")
    user = actions.check_create_user(admin_user, username="nuevo", password="Clave-segura-2026",
                                     full_name="Nuevo", role="agente")
    assert user.language == "en"


def test_bad_color_is_refused(admin_user):
    with pytest.raises(ActionError) as exc:
        check_update_site_settings(admin_user, company_name="X", default_language="es", brand_color="red")
    assert exc.value.code == "invalid_color"


def test_only_admin_may_change_settings(supervisor):
    with pytest.raises(PermissionDeniedError):
        check_update_site_settings(supervisor, company_name="X", default_language="es", brand_color="#000000")
