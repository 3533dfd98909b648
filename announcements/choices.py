"""Choices of announcements: their categories and their state machine
(announcements.actions.do_transition_announcement)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from django.db import models
from django.utils.translation import gettext_lazy as _


class AnnouncementCategory(models.TextChoices):
    NEWS = "novedad", _("Novedad")
    POLICY = "politica", _("Política")
    PROCEDURE = "procedimiento", _("Procedimiento")
    CELEBRATION = "celebracion", _("Celebración")
    RECOGNITION = "reconocimiento", _("Reconocimiento")


class AnnouncementState(models.TextChoices):
    DRAFT = "borrador", _("Borrador")
    SCHEDULED = "programado", _("Programado")
    PUBLISHED = "publicado", _("Publicado")
    ARCHIVED = "archivado", _("Archivado")


_S = AnnouncementState
# The one state machine of an announcement. A draft is published at once or scheduled (the periodic task
# `publish_due_announcements` publishes it at its time); a scheduled one can go back to draft to be changed. Publishing
# takes the audience's snapshot (one recipient row per person), so a published announcement is never edited back into
# a draft: it is archived (out of everybody's banner and list; its acknowledgements stay for the publishers).
# Archiving is final: publishing again would ask people to confirm something they already confirmed.
ANNOUNCEMENT_TRANSITIONS: Final[Mapping[AnnouncementState, frozenset[AnnouncementState]]] = {
    _S.DRAFT: frozenset({_S.SCHEDULED, _S.PUBLISHED}),
    _S.SCHEDULED: frozenset({_S.DRAFT, _S.PUBLISHED}),
    _S.PUBLISHED: frozenset({_S.ARCHIVED}),
    _S.ARCHIVED: frozenset(),
}

# Before publication an announcement may be written, changed and deleted; from publication on only its pin date
# changes, and it is never deleted (who confirmed a policy is the record the feature exists for).
EDITABLE_STATES: Final = frozenset({_S.DRAFT, _S.SCHEDULED})
