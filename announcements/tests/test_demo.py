"""The demo seeder: a policy to confirm, a celebration and a scheduled procedure, once."""

from __future__ import annotations

import io
import random

import pytest
from django.core.management.base import OutputWrapper

from announcements.choices import AnnouncementState
from announcements.demo import seed_announcements
from announcements.models import Announcement

pytestmark = pytest.mark.django_db


def test_the_demo_announcements(supervisor, agent):
    out = OutputWrapper(io.StringIO())
    seed_announcements(random.Random(1), "small", out)
    seed_announcements(random.Random(1), "small", out)  # a second run adds nothing
    states = sorted(Announcement.objects.values_list("state", "requires_ack"))
    assert states == sorted([(AnnouncementState.PUBLISHED, True), (AnnouncementState.PUBLISHED, False),
                             (AnnouncementState.SCHEDULED, True)])
    assert Announcement.objects.get(requires_ack=True, state=AnnouncementState.PUBLISHED).recipients.count() == 1
