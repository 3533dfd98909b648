"""crm.client against the fake Kommo: retries, refresh, errors and the 7 requests/second limit."""

from __future__ import annotations

import itertools
import logging
import time

import pytest

from crm.client import (
    Credentials,
    KommoAuthError,
    KommoBlocked,
    KommoClient,
    KommoError,
    KommoUnavailable,
    LocalRateLimiter,
    Tokens,
)
from fakes.kommo import FakeKommoServer


def client(fk, token="tok", **kwargs) -> KommoClient:
    creds = kwargs.pop("creds", None) or Credentials(base_url=fk.base_url, subdomain="demo", access_token=token)
    return KommoClient(creds, limiter=kwargs.pop("limiter", LocalRateLimiter()), backoff=0.05, **kwargs)


@pytest.fixture
def fk():
    with FakeKommoServer(subdomain="demo", token="tok", client_id="cid", client_secret="sec",
                         redirect_uri="https://centralita.example/cb") as server:
        yield server


@pytest.mark.faults
def test_429_and_500_are_retried_then_succeed(fk):
    fk.state.add_fault(429, count=1, retry_after=0.1, path_prefix="/api/v4/account")
    fk.state.add_fault(500, count=1, path_prefix="/api/v4/account")
    assert client(fk).get_account()["id"] == fk.state.account_id
    statuses = [r["status"] for r in fk.state.requests if r["path"] == "/api/v4/account"]
    assert statuses == [429, 500, 200]


@pytest.mark.faults
def test_persistent_5xx_becomes_unavailable_with_detail(fk):
    fk.state.add_fault(500, count=10, path_prefix="/api/v4/account")
    with pytest.raises(KommoUnavailable) as exc:
        client(fk, max_attempts=3).get_account()
    assert exc.value.retryable and exc.value.status == 500 and "problem" in exc.value.detail


@pytest.mark.faults
def test_timeouts_and_connection_drops_are_retried(fk):
    fk.state.set_down(True)
    with pytest.raises(KommoUnavailable):
        client(fk, max_attempts=2).get_account()
    fk.state.set_down(False)
    assert client(fk).get_account()


def test_403_ip_block_is_never_retried(fk):
    fk.state.add_fault(403, count=5, path_prefix="/api/v4/account", body_format="html")
    with pytest.raises(KommoBlocked):
        client(fk).get_account()
    assert len([r for r in fk.state.requests if r["path"] == "/api/v4/account"]) == 1


def test_problem_json_detail_is_surfaced(fk):
    with pytest.raises(KommoError) as exc:
        client(fk).update_lead(1, {"status_id": 999})
    assert exc.value.status in (400, 404) and exc.value.detail


def test_401_triggers_one_refresh_and_persists_rotated_tokens(fk):
    # given OAuth tokens from an authorization code
    saved: list[Tokens] = []
    creds = Credentials(base_url=fk.base_url, subdomain="demo", access_token="", client_id="cid",
                        client_secret="sec", redirect_uri="https://centralita.example/cb")
    c = client(fk, creds=creds, on_tokens=saved.append)
    c.exchange_code(fk.state.issue_auth_code("cid"))
    first_refresh = creds.refresh_token
    # when the access token expires
    fk.state.expire_access_tokens()
    # then the next call refreshes once, retries, and the new refresh token is handed to the caller
    assert c.get_account()["id"] == fk.state.account_id
    assert len(saved) == 2 and saved[-1].refresh_token != first_refresh
    assert creds.refresh_token == saved[-1].refresh_token


def test_401_without_oauth_is_an_auth_error(fk):
    with pytest.raises(KommoAuthError):
        client(fk, token="revoked").get_account()


class VirtualClock:
    """Time that moves only when the limiter sleeps: the schedule is exact whatever the machine is doing."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_rate_limit_never_exceeds_7_per_second():
    # given the limiter on a virtual clock
    clock = VirtualClock()
    limiter = LocalRateLimiter(clock=clock, sleep=clock.sleep)
    # when 70 calls ask for a slot as fast as they can
    stamps = []
    for _ in range(70):
        limiter.acquire()
        stamps.append(clock.now)
    # then no window of Kommo's second (plus the limiter's margin for jitter) ever holds more than 7 calls,
    # the calls are evenly spaced, and the sustained rate stays just under 7 per second
    for i, start in enumerate(stamps):
        assert sum(1 for t in stamps[i:] if t - start < 1.0) <= 7
    assert min(b - a for a, b in itertools.pairwise(stamps)) >= limiter.spacing - 1e-9
    assert 6.5 < (len(stamps) - 1) / (stamps[-1] - stamps[0]) < 7.0


def test_every_kommo_call_waits_for_the_limiter(fk):
    # given a limiter that records each slot it grants (on a virtual clock: nothing sleeps)
    clock = VirtualClock()

    class Recording(LocalRateLimiter):
        granted = 0

        def acquire(self) -> None:
            super().acquire()
            Recording.granted += 1

    c = client(fk, limiter=Recording(clock=clock, sleep=clock.sleep))
    fk.state.configure(rate_limit=None)  # the real spacing is the limiter's (tested above), not the wall clock's
    # when the client makes 21 calls
    for _ in range(21):
        c.get_account()
    # then each HTTP call took one slot, and Kommo answered every one
    assert Recording.granted == 21
    assert len(fk.state.requests) == 21 and all(r["status"] == 200 for r in fk.state.requests)


def test_contacts_and_stages(fk):
    lead = fk.state.create_lead("Pedido", contact={"name": "Ana", "phones": ["+573001112233"],
                                                   "emails": ["ana@example.com"]}, emit=False)
    c = client(fk)
    remote = c.get_lead(lead["id"])
    assert remote is not None
    contact_id = remote["_embedded"]["contacts"][0]["id"]
    (contact,) = c.get_contacts([contact_id])
    from crm.client import contact_values

    assert contact_values(contact, "PHONE") == ["+573001112233"]
    assert contact_values(contact, "EMAIL") == ["ana@example.com"]
    assert any(s.name == "Para Llamar" for s in c.stages())
    assert c.get_lead(999999999) is None


def test_redis_limiter_is_shared_and_sliding():
    import socket

    from crm.client import RedisRateLimiter

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379 (the CI PostgreSQL+Redis pass runs this)")
    key = f"test-rate-{time.time_ns()}"
    a = RedisRateLimiter("redis://127.0.0.1:6379/15", key, rate=7, period=0.5)
    b = RedisRateLimiter("redis://127.0.0.1:6379/15", key, rate=7, period=0.5)  # another process, same account
    started = time.monotonic()
    stamps = []
    for i in range(21):
        (a if i % 2 else b).acquire()
        stamps.append(time.monotonic() - started)
    # the limiter counts on the Redis server's clock; seen from this client, allow for scheduling jitter:
    # no 0.4 s window holds more than 7 calls across both limiters, and 21 calls need at least two windows
    assert all(sum(1 for t in stamps if s <= t < s + 0.4) <= 7 for s in stamps)
    assert stamps[-1] >= 0.95


def test_redis_limiter_falls_back_to_this_process_while_redis_is_unreachable(caplog):
    from crm.client import RedisRateLimiter
    from tests.ops.helpers import free_port

    # given the shared limiter's Redis is down (nothing listens on its port)
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", "kommo-rate:down", rate=7, period=1.0)
    clock = [0.0]
    limiter.fallback = LocalRateLimiter(7, 1.0, clock=lambda: clock[0],
                                        sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    # when a job asks for a Kommo call slot
    with caplog.at_level(logging.WARNING, logger="crm.client"):
        limiter.acquire()
        limiter.acquire()
    # then it gets one from this process's own limiter (spaced as Kommo's rate asks) instead of failing the job
    assert clock[0] == pytest.approx(1 / 7)
    assert any("limiting this process on its own" in r.getMessage() for r in caplog.records)
