from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from accounts.roles import Role
from core.errors import ActionError, ConflictError, NotFoundError, PermissionDeniedError
from inbox import actions
from inbox.models import SavedView
from inbox.saved_views import saved_views_context

pytestmark = pytest.mark.django_db


# --- actions ----------------------------------------------------------------------------------------------


def test_save_view_keeps_only_the_list_filters(agent):
    # when an agent saves the list's query string, with a page cursor and an unknown parameter in it
    view = actions.check_save_view(agent, name="  Mis  urgentes ",
                                   query="?priority=urgente&after=abc&agent=me&evil=1&state=")
    # then the name is tidied and only the filters stay (an empty state, "all states", is kept)
    assert view.name == "Mis urgentes"
    assert view.query == "state=&agent=me&priority=urgente"
    assert list(SavedView.objects.filter(user=agent)) == [view]


def test_saving_under_an_existing_name_replaces_its_filters(agent):
    first = actions.check_save_view(agent, name="Ventas", query="inbox=ventas")
    again = actions.check_save_view(agent, name="ventas", query="inbox=ventas&unowned=on")
    assert again.pk == first.pk and again.name == "ventas" and again.query == "inbox=ventas&unowned=on"
    assert SavedView.objects.count() == 1


def test_two_users_may_use_the_same_name(agent, supervisor):
    actions.check_save_view(agent, name="Hoy", query="state=open")
    actions.check_save_view(supervisor, name="Hoy", query="state=")
    assert SavedView.objects.filter(name="Hoy").count() == 2


@pytest.mark.parametrize(("name", "query", "code"), [
    ("", "state=open", "name_required"),
    ("   ", "state=open", "name_required"),
    ("x" * 81, "state=open", "name_too_long"),
    ("Larga", "q=" + "a" * 600, "query_too_long"),
])
def test_save_view_validation(agent, name, query, code):
    with pytest.raises(ActionError) as exc:
        actions.check_save_view(agent, name=name, query=query)
    assert exc.value.code == code and not SavedView.objects.exists()


def test_saved_views_are_bounded_per_user(agent):
    SavedView.objects.bulk_create(SavedView(user=agent, name=f"v{i}", query="") for i in range(
        actions.SAVED_VIEWS_MAX))
    with pytest.raises(ActionError) as exc:
        actions.check_save_view(agent, name="una más", query="")
    assert exc.value.code == "too_many_views"
    # replacing an existing one is still possible
    actions.check_save_view(agent, name="v0", query="state=")


def test_only_inbox_users_save_views(make_user):
    with pytest.raises(PermissionDeniedError):
        actions.check_save_view(make_user(Role.ANALISTA), name="x", query="")


def test_delete_own_view_only(agent, supervisor):
    # given a view of each user
    mine = actions.check_save_view(agent, name="Mía", query="")
    theirs = actions.check_save_view(supervisor, name="Suya", query="")
    # when the agent deletes someone else's view, it is as if it did not exist
    with pytest.raises(NotFoundError):
        actions.check_delete_view(agent, theirs.pk)
    # and their own goes away
    actions.check_delete_view(agent, mine.pk)
    assert list(SavedView.objects.all()) == [theirs]
    with pytest.raises(NotFoundError):
        actions.check_delete_view(agent, mine.pk)


def test_a_duplicate_name_race_is_a_conflict(agent, monkeypatch):
    # given the name check misses a row saved at the same moment (simulated by hiding it from the lookup)
    SavedView.objects.create(user=agent, name="Hoy", query="")
    monkeypatch.setattr(SavedView.objects, "select_for_update", SavedView.objects.none)
    # when / then the unique constraint answers with a conflict, not a server error
    with pytest.raises(ConflictError):
        actions.check_save_view(agent, name="Hoy", query="state=")


# --- context, fragment and pages --------------------------------------------------------------------------


def test_context_and_fragment_list_the_users_views_with_links_and_delete_buttons(agent, supervisor):
    # given views of two users
    b = actions.check_save_view(agent, name="B sin dueño", query="unowned=on")
    a = actions.check_save_view(agent, name="A urgentes", query="priority=urgente&q=caf%C3%A9")
    actions.check_save_view(supervisor, name="De otra persona", query="")
    # when the fragment is rendered for the agent
    context = saved_views_context(agent)
    request = RequestFactory().get("/inbox/")
    request.user = agent
    html = render_to_string("inbox/_saved_views.html", {**context, "query": "state=open"}, request=request)
    # then only their views appear, by name, linking to the list with their filters, each with a delete form
    assert context == {"saved_views": [a, b]}
    assert 'href="/inbox/?q=caf%C3%A9&amp;priority=urgente"' in html
    assert f'action="{reverse("inbox:delete_view", args=[b.pk])}"' in html
    assert "De otra persona" not in html
    assert 'name="query" value="state=open"' in html


def test_fragment_without_views_says_so(agent):
    html = render_to_string("inbox/_saved_views.html", saved_views_context(agent))
    assert "Aún no tiene vistas guardadas" in html


def test_save_view_page_saves_and_returns_to_the_filtered_list(agent, client_for):
    response = client_for(agent).post(reverse("inbox:save_view"), {"name": "Mis abiertas",
                                                                   "query": "agent=me&state=open&after=xyz"})
    assert response.status_code == 302 and response["Location"] == "/inbox/?state=open&agent=me"
    assert SavedView.objects.get(user=agent).name == "Mis abiertas"


def test_save_view_page_without_a_name_explains(agent, client_for):
    response = client_for(agent).post(reverse("inbox:save_view"), {"name": "", "query": "state=open"}, follow=True)
    assert not SavedView.objects.exists()
    assert "Escriba un nombre para la vista" in response.content.decode()


def test_delete_view_page_and_ownership(agent, supervisor, client_for):
    mine = actions.check_save_view(agent, name="Mía", query="")
    theirs = actions.check_save_view(supervisor, name="Suya", query="")
    client = client_for(agent)
    response = client.post(reverse("inbox:delete_view", args=[theirs.pk]), follow=True)
    assert "La vista guardada no existe" in response.content.decode()
    assert SavedView.objects.filter(pk=theirs.pk).exists()
    assert client.post(reverse("inbox:delete_view", args=[mine.pk])).status_code == 302
    assert not SavedView.objects.filter(pk=mine.pk).exists()


@pytest.mark.parametrize(("role", "status"), [(Role.AGENTE, 302), (Role.SUPERVISOR, 302), (Role.ANALISTA, 403),
                                              (Role.GERENTE, 403)])
def test_save_view_page_access(role, status, make_user, client_for):
    response = client_for(make_user(role)).post(reverse("inbox:save_view"), {"name": "Hoy", "query": ""})
    assert response.status_code == status


def test_save_and_delete_only_accept_post(agent, client_for):
    client = client_for(agent)
    assert client.get(reverse("inbox:save_view")).status_code == 405
    assert client.get(reverse("inbox:delete_view", args=[1])).status_code == 405
