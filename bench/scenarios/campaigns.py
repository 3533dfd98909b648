"""Campaigns (issue 17, "Measured"): a WhatsApp campaign to 100,000 customers — prepared (the audience resolved and
every recipient stored) and then sent at its configured rate by the real worker, which is killed with SIGKILL and
restarted twice during the send. Verified: 0 duplicates and 0 losses, counted on the vendor's side (the fake Graph
API's log of what it accepted) as well as ours.

Data set (`ensure_audience`): SIZE customers with one E.164 phone each, a WhatsApp opt-in and the tag "campana",
plus a tenth more without consent (left out at launch: the preparation walks them too). Inserted in bulk (INSERT …
SELECT generate_series on PostgreSQL), then ANALYZE.

The send runs as production does (docs/deployment.md): daphne for Meta's status webhooks, two
`manage.py run_worker` (TASK_BACKEND=db; the first SIGKILL hits one, the second the other) and
`manage.py run_scheduler` (its every-minute job restarts a campaign whose sender died) as subprocesses; the fake
Cloud API (fakes.whatsapp, in a thread of this process) answers each template send and posts its "sent" status
webhook, as Meta does. The campaign's rate is RATE messages per second.

* `campaigns.prepare` — one sample: seconds for check_launch (audience query, 110,000 rows walked in chunks of
  5,000 by id, 100,000 recipients and 10,000 left-out rows inserted). Target < 60 s.
* `campaigns.send_killed_twice` — one sample: seconds from the first run of the sender until no recipient is left
  queued; the log reports the achieved rate while sending, the stalls after each kill, duplicates and losses.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from bench import harness
from bench.harness import REPO_ROOT, Sample, Samples, Scenario, live_server

SIZE = 100_000
RATE = 80  # Meta's default Cloud API throughput per number (messages per second)
KILLS = 2
WORKERS = 2
DEADLINE = 3600.0
APP_SECRET = "bench-campaign-app-secret"
_state: dict[str, Any] = {}


def _log(message: str) -> None:
    print(f"[campaigns] {message}", file=sys.stderr, flush=True)


def ensure_audience(size: int) -> None:
    if _state.get("size") == size:
        return
    from django.db import connection, transaction

    from customers.models import Tag

    with transaction.atomic():
        tag = Tag.objects.create(name="campana")
        total = size + size // 10
        with connection.cursor() as cur:
            if connection.vendor == "postgresql":
                cur.execute(
                    "INSERT INTO customers_customer (uuid, name, search_name, document_id, address, city, department,"
                    " notes, extra, import_ref, language, preferred_channel, created_at, updated_at, contact_sort_at,"
                    " conversations_count, open_conversations, on_whatsapp, on_email, on_webchat, on_phone, on_sms,"
                    " orders_count, orders_90d, total_spent, spent_12m, lead_state) "
                    "SELECT gen_random_uuid(), 'Cliente ' || g, 'cliente ' || g, '', '', 'Bogotá', '', '', '{}', "
                    "'bench-' || g, '', '', NOW(), NOW(), '1970-01-01', 0, 0, false, false, false, false, false, "
                    "0, 0, 0, 0, '' FROM generate_series(1, %s) g", [total])
                cur.execute("INSERT INTO customers_customerphone (customer_id, e164, label) "
                            "SELECT id, '+5730' || lpad((10000000 + id)::text, 8, '0'), '' "
                            "FROM customers_customer WHERE import_ref LIKE 'bench-%%'")
                cur.execute("INSERT INTO customers_customer_tags (customer_id, tag_id) "
                            "SELECT id, %s FROM customers_customer WHERE import_ref LIKE 'bench-%%'", [tag.pk])
                cur.execute("INSERT INTO customers_consent (customer_id, channel, status, source, opted_in_at, "
                            "opt_out_method, updated_at) SELECT id, 'whatsapp', 'opted_in', 'bench', NOW(), '', NOW() "
                            "FROM customers_customer WHERE import_ref LIKE 'bench-%%' "
                            "ORDER BY id LIMIT %s", [size])
                cur.execute("ANALYZE")
            else:
                raise RuntimeError("the campaigns bench runs on PostgreSQL")
    _state["size"] = size
    _log(f"audience: {size} reachable + {size // 10} without consent")


@contextlib.contextmanager
def _fake_whatsapp(webhook_url: str) -> Iterator[Any]:
    from fakes.whatsapp import PROMO_TEMPLATE, FakeWhatsappServer

    with FakeWhatsappServer(token="bench-token", app_secret=APP_SECRET, webhook_url=webhook_url,
                            auto_status=["sent"], status_delay=0.05) as server:
        server.state.add_template(PROMO_TEMPLATE)
        yield server


def _campaign() -> Any:
    from accounts.actions import do_create_user
    from accounts.roles import Role
    from campaigns.actions import CampaignInput, check_save_campaign
    from campaigns.models import CampaignSettings
    from connectors.whatsapp.actions import check_connect_number
    from connectors.whatsapp.models import MessageTemplate
    from customers.models import Tag

    fake = _state["fake"]
    number = fake.state.number
    check_connect_number(None, phone_number_id=number.phone_number_id, waba_id=number.waba_id, token="bench-token",
                         app_secret=APP_SECRET, verify_token="bench-verify", base_url=fake.base_url)
    user = do_create_user(username="marketing", password=None, role=Role.ADMIN, acting_user=None,
                          full_name="Marketing")
    template = MessageTemplate.objects.get(name="promo_reactivacion")
    config = CampaignSettings.load()
    config.whatsapp_daily_limit = 1_000_000  # Meta's "unlimited" tier: the run measures us, not the tier's hold
    config.save()
    campaign = check_save_campaign(user, None, CampaignInput(
        name="Bench 100k", channel="whatsapp", objective="reactivacion",
        audience={"tags": [Tag.objects.get(name="campana").pk]}, wa_number_id=number_pk(), wa_template_id=template.pk,
        wa_variables={"1": {"source": "field", "value": "nombre"}, "2": {"source": "text", "value": "20%"}},
        rate_per_second=RATE))
    return user, campaign


def number_pk() -> int:
    from connectors.whatsapp.models import WhatsappNumber

    return WhatsappNumber.objects.get().pk


def setup(size: int) -> None:
    ensure_audience(size)


def run_prepare(n: int) -> list[Sample]:
    """Launch timing: the campaign is created (connected to a fake that is started for the send scenario)."""
    from campaigns.actions import check_launch

    if "campaign" not in _state:
        stack = contextlib.ExitStack()
        _state["fake"] = stack.enter_context(_fake_whatsapp("http://127.0.0.1:9/unused"))
        _state["fake_stack"] = stack
        atexit.register(stack.close)
        _state["user"], _state["campaign"] = _campaign()
    from campaigns.models import Campaign

    t0 = time.perf_counter()
    check_launch(_state["user"], _state["campaign"].pk)  # its enqueue goes to this process's dummy backend
    seconds = time.perf_counter() - t0
    c = Campaign.objects.get(pk=_state["campaign"].pk)
    _log(f"prepare: {c.recipients_count} recipients + {c.skipped_count} left out in {seconds:.1f} s")
    return Samples([Sample(seconds, None)])


def _enqueue(env: dict[str, str], campaign_id: int) -> None:
    code = ("from campaigns import tasks; from core.tasks import enqueue_or_leave; "
            f"enqueue_or_leave(tasks.send_campaign, campaign_id={campaign_id})")
    subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c", code], cwd=REPO_ROOT, env=env, check=True)


def _start(cmd: list[str], env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_send(n: int) -> list[Sample]:
    from django.db import connections

    from campaigns.choices import RecipientState
    from campaigns.models import Campaign, CampaignRecipient

    if "campaign" not in _state:
        run_prepare(1)
    campaign = _state["campaign"]
    fake = _state["fake"]
    size = _state["size"]
    overrides: dict[str, str | None] = {"TASK_BACKEND": "db"}
    connections.close_all()
    with harness.environ(overrides), live_server(startup_timeout=120) as base_url, \
            tempfile.TemporaryFile(mode="w+b") as worker_log, tempfile.TemporaryFile(mode="w+b") as sched_log:
        fake.state.webhook_url = f"{base_url}/integrations/whatsapp/webhook/{fake.state.number.phone_number_id}/"
        env = os.environ.copy()
        worker_cmd = [sys.executable, "manage.py", "run_worker", "--queue-name", "*", "--interval", "0.2"]
        # the deployment guide's scale mode on one host: two workers (one per core) and the scheduler
        workers = [_start(worker_cmd, env, worker_log) for _ in range(WORKERS)]
        scheduler = _start([sys.executable, "manage.py", "run_scheduler"], env, sched_log)
        try:
            _enqueue(env, campaign.pk)
            started = time.monotonic()
            kills: list[float] = []
            stalls: list[float] = []
            last_sent, last_change = 0, started
            queued = CampaignRecipient.objects.filter(campaign=campaign,
                                                      state__in=[RecipientState.PENDING, RecipientState.SENDING])
            while True:
                time.sleep(1.0)
                now = time.monotonic()
                sent = len(fake.state.sent)
                if sent != last_sent:
                    if now - last_change > 5:
                        stalls.append(now - last_change)
                    last_sent, last_change = sent, now
                if len(kills) < KILLS and sent >= size * (len(kills) + 1) / (KILLS + 1):
                    victim = len(kills) % WORKERS
                    workers[victim].send_signal(signal.SIGKILL)
                    workers[victim].wait()
                    kills.append(now - started)
                    _log(f"send: worker{victim} SIGKILLed at {now - started:.0f} s ({sent} accepted by the fake); "
                         "restarted in 3 s")
                    time.sleep(3.0)
                    workers[victim] = _start(worker_cmd, env, worker_log)
                if not queued.exists():
                    break
                if now - started > DEADLINE:
                    raise RuntimeError(f"send not finished after {DEADLINE} s ({sent} sent)")
            seconds = time.monotonic() - started
        finally:
            for worker in workers:
                _stop(worker)
            _stop(scheduler)
            fake.state.close()  # its status timers, so the bench worker can exit
    per_phone = Counter(s["to"] for s in fake.state.sent)
    duplicates = sum(count - 1 for count in per_phone.values() if count > 1)
    states = Counter(CampaignRecipient.objects.filter(campaign=campaign).values_list("state", flat=True))
    reached = states[RecipientState.SENT] + states[RecipientState.DELIVERED] + states[RecipientState.READ]
    lost = size - len(per_phone)
    c = Campaign.objects.get(pk=campaign.pk)
    active = seconds - sum(stalls)
    _log(f"send: {len(fake.state.sent)} accepted by the fake for {len(per_phone)} phones in {seconds:.0f} s "
         f"(stalls after the kills: {', '.join(f'{s:.0f} s' for s in stalls) or 'none'}; "
         f"{len(per_phone) / active:.0f} msg/s while sending, rate set to {RATE}/s); duplicates {duplicates}, "
         f"lost {lost}; our rows: {dict(states)}, reached {reached}; campaign {c.state}")
    if duplicates or lost or reached != size:
        raise RuntimeError(f"duplicates={duplicates} lost={lost} reached={reached}")
    return Samples([Sample(seconds, None)])


SCENARIOS = [
    Scenario("campaigns.prepare", "WhatsApp campaign to 100,000: launch (audience resolved, recipients stored), s",
             setup, run_prepare, size=SIZE, databases=("postgres",)),
    Scenario("campaigns.send_killed_twice", "the same campaign sent at 80/s by the real worker, SIGKILLed twice: "
             "total s (0 duplicates, 0 losses checked)", setup, run_send, size=SIZE, databases=("postgres",)),
]
