from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.roles import Role
from accounts.tests.factories import SkillFactory, TeamFactory
from core.errors import ActionError, ConflictError, NotFoundError, PermissionDeniedError
from core.models import AuditLog
from customers.models import Customer
from inbox import actions
from inbox.models import Conversation, Inbox, InboxCategory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ventas():
    inbox, _ = Inbox.objects.get_or_create(code="ventas", defaults={"name": "Ventas", "auto_assign": True})
    return inbox


@pytest.fixture
def global_inbox():
    inbox, _ = Inbox.objects.get_or_create(code="global", defaults={"name": "Global", "is_global": True,
                                                                   "auto_assign": False})
    return inbox


def conversation_in(inbox, category=None):
    return Conversation.objects.create(customer=Customer.objects.create(name="Ana"), channel="whatsapp",
                                       inbox=inbox, category=category)


# --- actions: inboxes -------------------------------------------------------------------------------------


def test_create_inbox_with_teams_skill_and_audit(admin_user):
    # given two teams and a skill
    a, b = TeamFactory(code="norte"), TeamFactory(code="sur")
    skill = SkillFactory(code="ingles")
    # when an admin creates an inbox without a code
    inbox = actions.check_save_inbox(admin_user, name="  Cobranza  Norte ", auto_assign=True, skill_id=skill.pk,
                                     team_ids=[b.pk, a.pk])
    # then the code comes from the name, it is never Global, and the creation is audited
    assert (inbox.name, inbox.code, inbox.is_global, inbox.auto_assign, inbox.skill) == (
        "Cobranza Norte", "cobranza-norte", False, True, skill)
    assert set(inbox.teams.all()) == {a, b}
    entry = AuditLog.objects.get(action="inbox.created")
    assert entry.target_id == str(inbox.pk) and entry.changes["teams"] == sorted([a.pk, b.pk])


def test_edit_inbox_records_only_what_changed(admin_user, ventas):
    # given Ventas with one team
    old, new = TeamFactory(code="ventas-a"), TeamFactory(code="ventas-b")
    ventas.teams.set([old])
    skill = SkillFactory(code="credito")
    # when the admin renames it, turns automatic assignment off, requires a skill and swaps the team
    actions.check_save_inbox(admin_user, inbox_id=ventas.pk, name="Ventas Hogar", auto_assign=False,
                             skill_id=skill.pk, team_ids=[new.pk])
    # then
    ventas.refresh_from_db()
    assert (ventas.name, ventas.code, ventas.auto_assign, ventas.skill) == ("Ventas Hogar", "ventas", False, skill)
    assert list(ventas.teams.all()) == [new]
    entry = AuditLog.objects.get(action="inbox.updated")
    assert entry.changes == {"name": ["Ventas", "Ventas Hogar"], "auto_assign": [True, False],
                             "skill": [None, "credito"], "teams": [[old.pk], [new.pk]]}
    # and saving the same values again writes no audit entry
    actions.check_save_inbox(admin_user, inbox_id=ventas.pk, name="Ventas Hogar", auto_assign=False,
                             skill_id=skill.pk, team_ids=[new.pk])
    assert AuditLog.objects.filter(action="inbox.updated").count() == 1


def test_global_never_assigns_automatically_and_stays_global(admin_user, global_inbox):
    with pytest.raises(ActionError) as exc:
        actions.check_save_inbox(admin_user, inbox_id=global_inbox.pk, name="Global", auto_assign=True)
    assert exc.value.code == "global_no_auto_assign"
    actions.check_save_inbox(admin_user, inbox_id=global_inbox.pk, name="Entrada", auto_assign=False)
    global_inbox.refresh_from_db()
    assert global_inbox.name == "Entrada" and global_inbox.is_global


@pytest.mark.parametrize(("kwargs", "error", "code"), [
    ({"name": " "}, ActionError, "name_required"),
    ({"name": "ventas"}, ConflictError, "inbox_exists"),
    ({"name": "Otra", "code": "ventas"}, ConflictError, "inbox_code_exists"),
    ({"name": "Otra", "skill_id": 999999}, ActionError, "invalid_skill"),
    ({"name": "Otra", "team_ids": [999999]}, ActionError, "invalid_team"),
    ({"name": "¡¡!!"}, ActionError, "code_required"),
])
def test_create_inbox_validation(admin_user, ventas, kwargs, error, code):
    with pytest.raises(error) as exc:
        actions.check_save_inbox(admin_user, auto_assign=False, **kwargs)
    assert exc.value.code == code
    assert Inbox.objects.filter(pk=ventas.pk).exists() and not AuditLog.objects.exists()


def test_only_inbox_managers_edit_inboxes(supervisor, ventas):
    with pytest.raises(PermissionDeniedError):
        actions.check_save_inbox(supervisor, name="Nueva", auto_assign=False)
    with pytest.raises(PermissionDeniedError):
        actions.check_save_category(supervisor, inbox_id=ventas.pk, name="X")
    with pytest.raises(PermissionDeniedError):
        actions.check_delete_category(supervisor, inbox_id=ventas.pk, category_id=1)


# --- actions: categories ----------------------------------------------------------------------------------


def test_add_and_rename_categories_unique_per_inbox(admin_user, ventas, global_inbox):
    # given a category in another inbox with the same name
    InboxCategory.objects.create(inbox=global_inbox, name="Cotizaciones")
    ventas.categories.all().delete()
    # when categories are added and one renamed
    first = actions.check_save_category(admin_user, inbox_id=ventas.pk, name="Cotizaciones")
    second = actions.check_save_category(admin_user, inbox_id=ventas.pk, name="Garantías")
    renamed = actions.check_save_category(admin_user, inbox_id=ventas.pk, name="Cotizaciones web",
                                          category_id=first.pk)
    # then names are unique inside the inbox only, new ones go last, and every change is audited on the inbox
    assert renamed.pk == first.pk
    assert [c.name for c in ventas.categories.all()] == ["Cotizaciones web", "Garantías"]
    assert second.sort > first.sort
    with pytest.raises(ConflictError):
        actions.check_save_category(admin_user, inbox_id=ventas.pk, name="garantías")
    with pytest.raises(ConflictError):
        actions.check_save_category(admin_user, inbox_id=ventas.pk, name="GARANTÍAS", category_id=first.pk)
    assert list(AuditLog.objects.filter(target_type="inbox.inbox", target_id=str(ventas.pk)).order_by("id")
                .values_list("action", flat=True)) == [
        "inbox.category_created", "inbox.category_created", "inbox.category_renamed"]


def test_category_of_another_inbox_is_not_found(admin_user, ventas, global_inbox):
    other = InboxCategory.objects.create(inbox=global_inbox, name="Ajena")
    with pytest.raises(NotFoundError):
        actions.check_save_category(admin_user, inbox_id=ventas.pk, name="Mía", category_id=other.pk)
    with pytest.raises(NotFoundError):
        actions.check_delete_category(admin_user, inbox_id=ventas.pk, category_id=other.pk)
    assert InboxCategory.objects.filter(pk=other.pk, name="Ajena").exists()


def test_delete_category_only_when_no_conversation_uses_it(admin_user, ventas):
    # given a used and an unused category
    used = InboxCategory.objects.create(inbox=ventas, name="Usada")
    unused = InboxCategory.objects.create(inbox=ventas, name="Libre")
    conversation_in(ventas, category=used)
    # when / then the used one is refused, naming how many conversations use it
    with pytest.raises(ConflictError) as exc:
        actions.check_delete_category(admin_user, inbox_id=ventas.pk, category_id=used.pk)
    assert exc.value.code == "category_in_use" and exc.value.details["conversations"] == 1
    # and the unused one is deleted and audited
    actions.check_delete_category(admin_user, inbox_id=ventas.pk, category_id=unused.pk)
    assert set(ventas.categories.values_list("name", flat=True)) >= {"Usada"}
    assert not InboxCategory.objects.filter(pk=unused.pk).exists()
    assert AuditLog.objects.get(action="inbox.category_deleted").changes == {"category": ["Libre", None]}


# --- pages ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [(Role.ADMIN, 200), (Role.SUPERVISOR, 403), (Role.AGENTE, 403),
                                              (Role.GERENTE, 403)])
def test_admin_pages_access(role, status, make_user, client_for, ventas):
    client = client_for(make_user(role))
    assert client.get(reverse("inbox:admin_inboxes")).status_code == status
    assert client.get(reverse("inbox:admin_inbox", args=[ventas.pk])).status_code == status
    assert client.post(reverse("inbox:admin_inboxes"), {"name": "Nueva"}).status_code in {status, 302}
    if status == 403:
        assert not Inbox.objects.filter(name="Nueva").exists()


def test_list_page_shows_inboxes_with_categories_and_teams(admin_user, client_for, ventas):
    ventas.teams.set([TeamFactory(code="ventas", name="Equipo Ventas")])
    InboxCategory.objects.get_or_create(inbox=ventas, name="Cotizaciones")
    html = client_for(admin_user).get(reverse("inbox:admin_inboxes")).content.decode()
    assert "Ventas" in html and "Equipo Ventas" in html and "Cotizaciones" in html


def test_create_inbox_page(admin_user, client_for):
    team = TeamFactory(code="soporte-n2")
    response = client_for(admin_user).post(reverse("inbox:admin_inboxes"), {
        "name": "Soporte nivel 2", "code": "", "auto_assign": "on", "teams": [team.pk]})
    inbox = Inbox.objects.get(code="soporte-nivel-2")
    assert response.status_code == 302 and response["Location"] == reverse("inbox:admin_inbox", args=[inbox.pk])
    assert inbox.auto_assign and list(inbox.teams.all()) == [team]


def test_create_inbox_page_shows_action_errors_on_the_form(admin_user, client_for, ventas):
    response = client_for(admin_user).post(reverse("inbox:admin_inboxes"), {"name": "VENTAS"})
    assert response.status_code == 200
    assert "Ya existe una bandeja con ese nombre" in response.content.decode()


def test_edit_inbox_page_with_team_checkboxes(admin_user, client_for, ventas):
    # given two teams, one a member
    a, b = TeamFactory(code="t-a", name="Equipo A"), TeamFactory(code="t-b", name="Equipo B")
    ventas.teams.set([a])
    client = client_for(admin_user)
    url = reverse("inbox:admin_inbox", args=[ventas.pk])
    page = client.get(url).content.decode()
    assert 'type="checkbox" name="teams"' in page and "Equipo B" in page
    # when the form is sent with the other team ticked and automatic assignment unticked
    response = client.post(url, {"form": "inbox", "name": "Ventas", "teams": [b.pk]})
    # then
    assert response.status_code == 302
    ventas.refresh_from_db()
    assert list(ventas.teams.all()) == [b] and not ventas.auto_assign


def test_global_edit_page_cannot_turn_on_auto_assign(admin_user, client_for, global_inbox):
    url = reverse("inbox:admin_inbox", args=[global_inbox.pk])
    client = client_for(admin_user)
    assert "disabled" in client.get(url).content.decode()
    response = client.post(url, {"form": "inbox", "name": "Global", "auto_assign": "on", "is_global": ""})
    assert response.status_code == 302
    global_inbox.refresh_from_db()
    assert global_inbox.is_global and not global_inbox.auto_assign


def test_category_pages_add_rename_and_delete(admin_user, client_for, ventas):
    ventas.categories.all().delete()
    client = client_for(admin_user)
    url = reverse("inbox:admin_inbox", args=[ventas.pk])
    # add
    assert client.post(url, {"form": "category", "name": "Cotizaciones"}).status_code == 302
    category = ventas.categories.get()
    # rename
    client.post(url, {"form": "category", "name": "Cotizaciones B2B", "category_id": category.pk})
    category.refresh_from_db()
    assert category.name == "Cotizaciones B2B"
    # a duplicate is refused on the form
    client.post(url, {"form": "category", "name": "Otra"})
    response = client.post(url, {"form": "category", "name": "otra"})
    assert response.status_code == 200 and "ya tiene una categoría con ese nombre" in response.content.decode()
    # a used category has no delete button and cannot be deleted
    conversation_in(ventas, category=category)
    page = client.get(url).content.decode()
    assert "1 conversación" in page
    response = client.post(url, {"form": "delete_category", "category_id": category.pk}, follow=True)
    assert "la usan 1 conversaciones" in response.content.decode()
    assert InboxCategory.objects.filter(pk=category.pk).exists()
    # an unused one is deleted
    other = ventas.categories.get(name="Otra")
    assert client.post(url, {"form": "delete_category", "category_id": other.pk}).status_code == 302
    assert not InboxCategory.objects.filter(pk=other.pk).exists()


def test_unknown_inbox_is_404(admin_user, client_for):
    assert client_for(admin_user).get(reverse("inbox:admin_inbox", args=[999999])).status_code == 404
