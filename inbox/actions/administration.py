"""Inboxes and their categories (administration)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import Skill, Team, User
from accounts.roles import Perm
from core import audit
from core.errors import ActionError, ConflictError, NotFoundError
from inbox.actions.base import (
    _clean_name,
    _same_name,
)
from inbox.models import Conversation, Inbox, InboxCategory

# --- inbox administration ------------------------------------------------------------------------------


def access_inbox(acting_user: User, inbox_id: int, *, lock: bool = False) -> Inbox:
    require_perm(acting_user, Perm.INBOX_MANAGE)
    qs = Inbox.objects.select_for_update() if lock else Inbox.objects.all()
    inbox = qs.filter(pk=inbox_id).first()
    if inbox is None:
        raise NotFoundError("inbox_not_found", _("La bandeja no existe."))
    return inbox


@transaction.atomic
def check_save_inbox(acting_user: User, *, inbox_id: int | None = None, name: str, code: str = "",
                     auto_assign: bool, skill_id: int | None = None, team_ids: Iterable[int] = ()) -> Inbox:
    """Creates an inbox (`inbox_id` None) or edits one: name, automatic assignment, required skill and member
    teams. The code is fixed once created (channels and the API route by it), and no inbox becomes or stops
    being Global here: Global is the common entry point and never assigns automatically."""


    require_perm(acting_user, Perm.INBOX_MANAGE)
    inbox = access_inbox(acting_user, inbox_id, lock=True) if inbox_id is not None else None
    name = _clean_name(name, max_length=100)
    if _same_name(Inbox.objects.exclude(pk=inbox.pk) if inbox else Inbox.objects.all(), name) is not None:
        raise ConflictError("inbox_exists", _("Ya existe una bandeja con ese nombre."), field="name")
    skill = None
    if skill_id is not None:
        skill = Skill.objects.filter(pk=skill_id).first()
        if skill is None:
            raise ActionError("invalid_skill", _("La habilidad no existe."), field="skill")
    wanted = sorted(set(team_ids))
    teams = list(Team.objects.filter(pk__in=wanted))
    if len(teams) != len(wanted):
        raise ActionError("invalid_team", _("Algún equipo no existe."), field="teams")
    if inbox is not None and inbox.is_global and auto_assign:
        raise ActionError("global_no_auto_assign", _("La bandeja Global es la entrada común: no asigna "
                                                     "automáticamente."), field="auto_assign")
    if inbox is None:
        code = slugify(code or name)[:50]
        if not code:
            raise ActionError("code_required", _("Indique un código (letras, números y guiones)."), field="code")
        if Inbox.objects.filter(code=code).exists():
            raise ConflictError("inbox_code_exists", _("Ya existe una bandeja con ese código."), field="code")
        sort = (Inbox.objects.aggregate(m=Max("sort"))["m"] or 0) + 1
        try:
            with transaction.atomic():
                inbox = Inbox.objects.create(name=name, code=code, auto_assign=auto_assign, skill=skill, sort=sort)
        except IntegrityError as exc:  # created at the same moment by someone else
            raise ConflictError("inbox_exists", _("Ya existe una bandeja con ese nombre o código."),
                                field="name") from exc
        inbox.teams.set(teams)
        audit.record(actor=acting_user, action="inbox.created", target=inbox, changes={
            "name": name, "code": code, "auto_assign": auto_assign, "skill": skill.code if skill else None,
            "teams": wanted})
        return inbox
    changes: dict[str, list[Any]] = {}
    if name != inbox.name:
        changes["name"], inbox.name = [inbox.name, name], name
    if auto_assign != inbox.auto_assign:
        changes["auto_assign"], inbox.auto_assign = [inbox.auto_assign, auto_assign], auto_assign
    if (skill.pk if skill else None) != inbox.skill_id:
        changes["skill"] = [inbox.skill.code if inbox.skill else None, skill.code if skill else None]
        inbox.skill = skill
    if changes:
        try:
            with transaction.atomic():
                inbox.save()
        except IntegrityError as exc:
            raise ConflictError("inbox_exists", _("Ya existe una bandeja con ese nombre."), field="name") from exc
    current = sorted(inbox.teams.values_list("pk", flat=True))
    if current != wanted:
        inbox.teams.set(teams)
        changes["teams"] = [current, wanted]
    if changes:
        audit.record(actor=acting_user, action="inbox.updated", target=inbox, changes=changes)
    return inbox


@transaction.atomic
def check_save_category(acting_user: User, *, inbox_id: int, name: str,
                        category_id: int | None = None) -> InboxCategory:
    """Adds a category to an inbox (`category_id` None) or renames one of its categories. Names are unique per
    inbox, ignoring case."""

    inbox = access_inbox(acting_user, inbox_id, lock=True)  # serializes category edits of one inbox
    name = _clean_name(name, max_length=100)
    category = None
    if category_id is not None:
        category = InboxCategory.objects.filter(pk=category_id, inbox=inbox).first()
        if category is None:
            raise NotFoundError("category_not_found", _("La categoría no existe."))
    siblings = InboxCategory.objects.filter(inbox=inbox)
    if _same_name(siblings.exclude(pk=category.pk) if category else siblings, name) is not None:
        raise ConflictError("category_exists", _("Esta bandeja ya tiene una categoría con ese nombre."),
                            field="name")
    if category is None:
        sort = (inbox.categories.aggregate(m=Max("sort"))["m"] or 0) + 1
        category = InboxCategory.objects.create(inbox=inbox, name=name, sort=sort)
        audit.record(actor=acting_user, action="inbox.category_created", target=inbox,
                     changes={"category": [None, name]})
    elif category.name != name:
        old = category.name
        category.name = name
        category.save(update_fields=["name"])
        audit.record(actor=acting_user, action="inbox.category_renamed", target=inbox,
                     changes={"category": [old, name]})
    return category


@transaction.atomic
def check_delete_category(acting_user: User, *, inbox_id: int, category_id: int) -> None:
    """Deletes a category no conversation uses. (A conversation filed under it in the same instant keeps working:
    the foreign key is SET_NULL, so the worst case is an uncategorized conversation, never a broken one.)"""
    inbox = access_inbox(acting_user, inbox_id, lock=True)
    category = InboxCategory.objects.filter(pk=category_id, inbox=inbox).first()
    if category is None:
        raise NotFoundError("category_not_found", _("La categoría no existe."))
    used = Conversation.objects.filter(category=category).count()
    if used:
        raise ConflictError("category_in_use", _("No se puede borrar «%(name)s»: la usan %(n)d conversaciones.")
                            % {"name": category.name, "n": used}, conversations=used)
    name = category.name
    category.delete()
    audit.record(actor=acting_user, action="inbox.category_deleted", target=inbox, changes={"category": [name, None]})
