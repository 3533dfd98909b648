"""Issue 13: while Redis is unreachable the cache degrades to "no cache" — pages and the API answer, nothing 500s."""

from __future__ import annotations

import logging

import pytest
from django.core.cache import caches
from django.test import override_settings
from django.urls import reverse

from accounts.roles import Role
from core.cache import TolerantRedisCache
from tests.ops.helpers import free_port


def unreachable() -> dict[str, object]:
    return {"default": {"BACKEND": "core.cache.TolerantRedisCache", "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
                        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}


def test_every_cache_operation_answers_as_a_miss_while_redis_is_unreachable():
    # given the cache's Redis is down
    TolerantRedisCache._down_until = 0.0
    cache = TolerantRedisCache(str(unreachable()["default"]["LOCATION"]),  # type: ignore[index]
                               {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}})
    # when the app uses it, then it behaves as an empty cache that keeps nothing (and raises nothing)
    assert cache.add("k", 1) is False
    cache.set("k", 1)
    assert cache.get("k", "miss") == "miss"
    assert cache.get_many(["k"]) == {} and cache.has_key("k") is False
    assert cache.incr("rate", 1) == 1  # a rate limit counts from zero: it fails open
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert cache.delete("k") is False and cache.touch("k") is False
    cache.delete_many(["a"])
    cache.clear()


@pytest.mark.django_db
def test_the_dashboard_and_the_inbox_answer_while_the_cache_is_down(make_user, client_for, caplog):
    supervisor = make_user(Role.SUPERVISOR)
    TolerantRedisCache._last_warning = TolerantRedisCache._down_until = 0.0
    with override_settings(CACHES=unreachable()), caplog.at_level(logging.WARNING, logger="core.cache"):
        caches["default"].close()
        # when a supervisor opens pages that cache their numbers
        client = client_for(supervisor)
        # then they are served (computed without the cache)
        assert client.get(reverse("reports:dashboard")).status_code == 200
        assert client.get(reverse("inbox:list")).status_code == 200
    # and the cache was asked, failed, and said so once
    warnings = [r.getMessage() for r in caplog.records if r.name == "core.cache"]
    assert len(warnings) == 1 and warnings[0].startswith("cache unavailable")
