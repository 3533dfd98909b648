"""Issue 11, "Agent workspace people can live in all day": perceived speed of the workspace's in-place actions at
1,000,000 conversations, measured in a real browser.

Target: an in-place action answers and repaints in under 150 ms p95 on PostgreSQL at 1,000,000 conversations, and its
partial sends at most the changed fragment (no whole-page HTML).

Data set: `bench.scenarios.inbox.ensure_inbox(size)` (the inbox scenarios' 1,000,000 conversations, shared when both
run in one worker) plus a supervisor who can log in with a password.

Each scenario starts a live daphne server (`bench.scenarios.callcenter._server`: the worker's environment,
DB_CONN_MAX_AGE=0, in-memory channel layer), logs the supervisor in with Playwright (Debian's Chromium, headless),
opens `/inbox/` and waits for the realtime socket. Then, `warm-up + n` times, one action on the open workspace:
- `workspace.note`: the composer set to "Nota interna", `#reply-body` filled, Ctrl+Enter → the note is in
  `#timeline li[data-kind=note]`;
- `workspace.priority`: `#priority-select` changed (autosubmits; alta → urgente → baja → normal → …) → the
  re-rendered `#conv-header` has that option `selected` (server HTML, not the user's own choice);
- `workspace.open`: a click on `#row-<id> .ws-row-link` (the 50 rows of the first page in turn) →
  `#conversation-pane .conv[data-conversation="<id>"]`.

Timing is taken inside the page: a capture listener on `window` stamps `performance.now()` when the triggering input
event (keydown Enter / input / click) is dispatched, a MutationObserver resolves when the DOM shows the result
("DOM ms"), and a `requestAnimationFrame` + `setTimeout(0)` after that marks the next frame ("painted ms", the figure
compared with the target). Playwright's own round trips are outside both. The page's Resource Timing entry of the
request splits the time into: input → fetch start (JS), request → first byte (server, through daphne),
download, last byte → DOM (htmx swap), DOM → next frame (layout/paint).

Checks on every repetition: `window.__benchMarker` (set once after the page loaded) is still there (no reload), the
response is 2xx and its body contains no `<html` or `<body`. Its size (decoded body and bytes on the wire) is
recorded. SQL per action is counted in-process afterwards: the same request (same HX-* headers the browser sent)
replayed through django.test.Client under CaptureQueriesContext on the same database (`harness.timed_requests`);
those counts fill the table's SQL column.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from typing import Any

from bench import harness
from bench.harness import Sample, Samples, Scenario, percentile
from bench.scenarios import inbox as inbox_bench

SUPERVISOR = "bench-workspace-supervisor"
PASSWORD = "bench-workspace-Clave-2026"  # a throwaway bench database; not a secret
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
BROWSER_WARMUP = 5
TARGET_MS = 150.0
PRIORITIES = ["alta", "urgente", "baja", "normal"]

_state: dict[str, Any] = {}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_workspace(size: int) -> None:
    inbox_bench.ensure_inbox(size)
    if "supervisor_id" in _state:
        return
    from accounts.actions import do_create_user
    from accounts.roles import Role

    user = do_create_user(username=SUPERVISOR, password=PASSWORD, role=Role.SUPERVISOR,
                          full_name="Supervisora Workspace", acting_user=None)
    _state["supervisor_id"] = user.pk


# --- in the page ---------------------------------------------------------------------------------------------

# Arms one measurement: returns at once; window.__benchResult resolves with the in-page times.
ARM_JS = """
([kind, arg]) => {
  const trigger = {note: "keydown", priority: "input", open: "click"}[kind];
  const check = {
    note: () => Array.from(document.querySelectorAll("#timeline li[data-kind=note]"))
                     .some((li) => li.textContent.includes(arg)),
    priority: () => !!document.querySelector(`#conv-header #priority-select option[value="${arg}"][selected]`),
    open: () => !!document.querySelector(`#conversation-pane .conv[data-conversation="${arg}"]`),
  }[kind];
  let t0 = null, dom = null, swapped = null;
  let finished = false;
  window.__benchResult = new Promise((resolve) => {
    const cleanup = () => {
      observer.disconnect();
      window.removeEventListener(trigger, onTrigger, {capture: true});
      document.removeEventListener("htmx:after:swap", onSwap, {capture: true});
    };
    const maybeDone = () => {
      // the note can reach the timeline twice: the realtime event and the in-place answer; it is "answered"
      // when the answer is swapped in too (the other actions only come through the answer)
      if (finished || dom === null || (kind === "note" && swapped === null)) return;
      finished = true;
      const done = performance.now();
      cleanup();
      requestAnimationFrame(() => setTimeout(() => resolve({t0, dom, swapped, done, painted: performance.now()}),
                                             0));
    };
    const onTrigger = (ev) => {
      if (t0 !== null || (kind === "note" && ev.key !== "Enter")) return;
      t0 = performance.now();
    };
    const onSwap = () => { if (t0 !== null && swapped === null) { swapped = performance.now(); maybeDone(); } };
    window.addEventListener(trigger, onTrigger, {capture: true});
    document.addEventListener("htmx:after:swap", onSwap, {capture: true});
    const observer = new MutationObserver(() => {
      if (dom === null && t0 !== null && check()) { dom = performance.now(); maybeDone(); }
    });
    observer.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
    setTimeout(() => { if (!finished) { finished = true; cleanup(); resolve({timeout: true, t0, dom, swapped}); } },
               15000);
  });
}
"""

# The Resource Timing entry of the action's request (the last one whose URL contains the path).
TIMING_JS = """
(path) => {
  const entries = performance.getEntriesByType("resource").filter((e) => e.name.includes(path));
  const e = entries[entries.length - 1];
  if (!e) return null;
  return {start: e.startTime, requestStart: e.requestStart, responseStart: e.responseStart,
          responseEnd: e.responseEnd, transfer: e.transferSize, encoded: e.encodedBodySize,
          decoded: e.decodedBodySize};
}
"""


def _browser_session(base_url: str, kind: str, n: int, warmup: int) -> dict[str, Any]:
    """Runs in its own thread (Playwright's sync API keeps an event loop in its thread; Django's ORM refuses to
    run in such a thread). Returns the per-repetition records and what the replay needs."""
    from playwright.sync_api import sync_playwright

    records: list[dict[str, Any]] = []
    problems: list[str] = []
    console: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            page = context.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
                    else None)
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.goto(f"{base_url}/login/")
            page.fill("#id_username", SUPERVISOR)
            page.fill("#id_password", PASSWORD)
            with page.expect_navigation():
                page.click("button[type=submit]")
            page.goto(f"{base_url}/inbox/")
            page.wait_for_selector("#realtime-state[data-state=connected]", timeout=20_000)
            page.evaluate("window.__benchMarker = 'same-document'")
            # htmx:after:swap as workspace.js sees it (listeners on document): counted per action
            page.evaluate("window.__benchSwaps = []; "
                          "document.addEventListener('htmx:after:swap', () => window.__benchSwaps.push(1))")
            row_ids = [int(x) for x in page.eval_on_selector_all(
                "#inbox-list .ws-row", "rows => rows.map(r => r.dataset.conversationId)")]
            if len(row_ids) < 2:
                raise RuntimeError(f"the supervisor's list shows {len(row_ids)} rows")
            current = row_ids[0]
            if kind in ("note", "priority"):  # open the first row's conversation, in place
                with page.expect_response(lambda r: f"/inbox/{current}/" in r.url):
                    page.click(f"#row-{current} .ws-row-link")
                page.wait_for_selector(f'#conversation-pane .conv[data-conversation="{current}"]')
            if kind == "note":
                page.check("#reply-form input[name=kind][value=note]")
            prio_start = 0
            if kind == "priority":
                now_value = page.eval_on_selector("#priority-select", "s => s.value")
                prio_start = (PRIORITIES.index(now_value) + 1) if now_value in PRIORITIES else 0
            request_headers: dict[str, str] = {}
            last_body = b""
            for i in range(warmup + n):
                if kind == "note":
                    marker = f"bench-nota-{i:04d}-{time.time_ns() % 10**9}"
                    page.fill("#reply-body", f"Nota de seguimiento {marker}: revisar el pedido con el cliente.")
                    page.focus("#reply-body")
                    path, arg = f"/inbox/{current}/messages", marker
                elif kind == "priority":
                    arg = PRIORITIES[(prio_start + i) % len(PRIORITIES)]
                    path = f"/inbox/{current}/priority"
                else:
                    ids = [r for r in row_ids if r != current]
                    target = ids[i % len(ids)]
                    page.wait_for_selector(f"#row-{target} .ws-row-link", state="attached")
                    arg, path = str(target), f"/inbox/{target}/"
                page.evaluate("performance.clearResourceTimings(); window.__benchSwaps = []")
                page.evaluate(ARM_JS, [kind, arg])
                with page.expect_response(lambda r, path=path: path in r.url, timeout=30_000) as info:
                    if kind == "note":
                        page.keyboard.press("Control+Enter")
                    elif kind == "priority":
                        page.select_option("#priority-select", arg)
                    else:
                        page.click(f"#row-{arg} .ws-row-link")
                result = page.evaluate("window.__benchResult")
                response = info.value
                body = response.body()
                sizes = response.request.sizes()
                timing = page.evaluate(TIMING_JS, path)
                if not request_headers:
                    request_headers = {k: v for k, v in response.request.all_headers().items()
                                       if k.lower().startswith("hx-")}
                if kind == "open":
                    current = int(arg)
                marker_ok = page.evaluate("window.__benchMarker") == "same-document"
                lowered = body.lower()
                record = {
                    "i": i, "warmup": i < warmup, "status": response.status, "method": response.request.method,
                    "bytes": len(body), "wire_bytes": sizes.get("responseBodySize"),
                    "encoding": response.headers.get("content-encoding", ""),
                    "whole_page": b"<html" in lowered or b"<body" in lowered, "same_document": marker_ok,
                    "timeout": bool(result.get("timeout")), **{k: v for k, v in result.items() if k != "timeout"},
                    "timing": timing,
                }
                records.append(record)
                last_body = body
                if response.status >= 400 or record["whole_page"] or not marker_ok or record["timeout"]:
                    problems.append(f"{kind} #{i}: HTTP {response.status}, whole page {record['whole_page']}, "
                                    f"same document {marker_ok}, timed out {record['timeout']}")
                    if record["timeout"] or not marker_ok:
                        break
                # let the rest of the swap and the realtime echo of this action land before the next one
                page.wait_for_timeout(250)
                record["swap_events_on_document"] = page.evaluate("window.__benchSwaps.length")
            page.wait_for_timeout(10_000)  # workspace.js clears a success status 6 s after the last swap
            flash = page.text_content("#ws-flash") or ""
            err_slots = page.eval_on_selector_all(
                ".form-error", "xs => xs.map(x => x.id + ': ' + x.textContent.trim()).filter(t => !t.endsWith(': '))")
        finally:
            browser.close()
    return {"records": records, "problems": problems, "console": console, "headers": request_headers,
            "conversation": current, "row_ids": row_ids, "flash": flash, "error_slots": err_slots,
            "last_body": last_body.decode("utf-8", "replace")}


def _in_thread(fn: Any, *args: Any) -> Any:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="bench-playwright")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


# --- the SQL of one action (in-process replay) -----------------------------------------------------------------


def _replay_call(kind: str, session: dict[str, Any]) -> Any:
    """The same request as the browser's, through django.test.Client, as a callable (one request per call)."""
    from django.test import Client

    from bench.scenarios.inbox import _user

    client = Client()
    client.force_login(_user(_state["supervisor_id"]))
    headers = {k: v for k, v in session["headers"].items() if k.lower() != "hx-current-url"}
    conversation = session["conversation"]
    step = [0]

    def call() -> Any:
        i = step[0]
        step[0] += 1
        if kind == "note":
            return client.post(f"/inbox/{conversation}/messages",
                               {"kind": "note", "body": f"Nota repetida en proceso {i}"}, headers=headers)
        if kind == "priority":
            return client.post(f"/inbox/{conversation}/priority", {"priority": PRIORITIES[i % len(PRIORITIES)]},
                               headers=headers)
        ids = session["row_ids"]
        return client.get(f"/inbox/{ids[i % len(ids)]}/", headers=headers)

    return call


def _replay(kind: str, session: dict[str, Any], n: int) -> Samples:
    """n replays timed, with CaptureQueriesContext per request (harness.timed_requests)."""
    return harness.timed_requests(_replay_call(kind, session), n, warmup=min(harness.WARMUP, BROWSER_WARMUP))


# --- the scenario --------------------------------------------------------------------------------------------


def _body_parts(body: str) -> dict[str, int]:
    """Bytes of each region in an in-place answer (UTF-8), to see what a small change sends."""
    import re

    def size(pattern: str) -> int:
        return sum(len(m.group(0).encode()) for m in re.finditer(pattern, body, re.S))

    return {"total": len(body.encode()), "conv_header": size(r'<header id="conv-header".*?</header>'),
            "dialogs": size(r"<dialog\b.*?</dialog>"),
            "timeline_items": size(r'<template hx type="partial" hx-target="#timeline".*?</template>'),
            "list_row": size(r'<template hx type="partial" hx-target="#row-.*?</template>'),
            "context_pane": size(r'<aside id="conv-context".*?</aside>'),
            "flash": size(r'<div id="ws-flash".*?</div>')}


def _log_statements(kind: str, session: dict[str, Any]) -> None:
    """The SQL of one more replayed request, shortened, for the profile in docs/benchmarks.md."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call = _replay_call(kind, session)
    call()
    with CaptureQueriesContext(connection) as queries:
        call()
    for number, query in enumerate(queries.captured_queries, 1):
        _log(f"  workspace: {kind}: SQL {number:2d} ({float(query['time']) * 1000:.1f} ms) "
             f"{' '.join(query['sql'].split())[:150]}")


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    return (f"median {percentile(values, 50):.1f}, p95 {percentile(values, 95):.1f}, max {max(values):.1f} ms")


def _run(kind: str, n: int) -> list[Sample]:
    from django.db import connections

    from bench.scenarios.callcenter import _CpuMeter, _server

    load_before = os.getloadavg()
    connections.close_all()
    warmup = min(harness.WARMUP, BROWSER_WARMUP)
    with _server() as base_url:
        meter = _CpuMeter()
        session = _in_thread(_browser_session, base_url, kind, n, warmup)
        meter.report(f"workspace {kind} (browser, incl. warm-up, page load)", max(1, len(session["records"])))
    load_after = os.getloadavg()
    measured = [r for r in session["records"] if not r["warmup"]]
    for line in session["problems"]:
        _log(f"  workspace: PROBLEM {line}")
    for line in session["console"][:20]:
        _log(f"  workspace: browser console: {line}")
    if session["error_slots"]:
        _log(f"  workspace: error slots with text at the end: {session['error_slots']}")
    if len(measured) < n or any(r["timeout"] for r in measured):
        raise RuntimeError(f"workspace {kind}: {len(measured)} of {n} repetitions completed; "
                           f"{'; '.join(session['problems'][:3])}")

    replay = _replay(kind, session, n)
    sqls = [s.sql for s in replay if s.sql is not None]
    painted = [r["painted"] - r["t0"] for r in measured]
    answered = [r["done"] - r["t0"] for r in measured]
    visible = [r["dom"] - r["t0"] for r in measured]
    timed = [r for r in measured if r["timing"]]
    js = [r["timing"]["start"] - r["t0"] for r in timed]
    server = [r["timing"]["responseStart"] - r["timing"]["requestStart"] for r in timed]
    download = [r["timing"]["responseEnd"] - r["timing"]["responseStart"] for r in timed]
    swap = [r["done"] - r["timing"]["responseEnd"] for r in timed]
    paint = [r["painted"] - r["done"] for r in measured]
    realtime_first = sum(1 for r in timed if r["dom"] < r["timing"]["responseEnd"])
    swap_events = sum(1 for r in measured if r.get("swap_events_on_document"))
    sizes = [r["bytes"] for r in measured]
    wire = [r["wire_bytes"] for r in measured if r["wire_bytes"] is not None]

    def stats(values: list[float]) -> dict[str, float] | None:
        return {"p50": percentile(values, 50), "p95": percentile(values, 95), "max": max(values)} if values else None

    summary = {
        "kind": kind, "n": len(measured), "conversation": session["conversation"],
        "painted_ms": stats(painted), "answered_ms": stats(answered), "first_visible_ms": stats(visible),
        "parts_ms": {"js_before_fetch": stats(js), "server_ttfb": stats(server), "download": stats(download),
                     "swap": stats(swap), "paint": stats(paint)},
        "bytes": {"min": min(sizes), "median": statistics.median(sizes), "max": max(sizes)},
        "wire_bytes_median": statistics.median(wire) if wire else None,
        "encoding": sorted({r["encoding"] for r in measured}),
        "body_parts": _body_parts(session["last_body"]),
        "whole_page": sum(r["whole_page"] for r in measured),
        "reloaded": sum(not r["same_document"] for r in measured),
        "http_errors": sum(r["status"] >= 400 for r in measured),
        "realtime_first": realtime_first, "after_swap_event_on_document": swap_events,
        "sql": {"median": statistics.median(sqls), "min": min(sqls), "max": max(sqls)},
        "inprocess_ms": stats([s.latency * 1000 for s in replay]),
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
        "headers": session["headers"], "flash_10s_after_last": session["flash"].strip(),
    }
    _log(f"  workspace: {kind}: input → answered and painted {_ms(painted)} (target p95 < {TARGET_MS:.0f} ms: "
         f"{'met' if percentile(painted, 95) < TARGET_MS else 'NOT met'}); input → answered {_ms(answered)}; "
         f"input → first visible {_ms(visible)}")
    _log(f"  workspace: {kind}: parts — JS before fetch {_ms(js)}; server (request → first byte) {_ms(server)}; "
         f"download {_ms(download)}; last byte → answer in the DOM {_ms(swap)}; → next frame {_ms(paint)}; "
         f"{realtime_first} of {len(timed)} results were visible before the response ended (realtime event first); "
         f"htmx:after:swap reached document for {swap_events} of {len(measured)}")
    _log(f"  workspace: {kind}: response {summary['bytes']} bytes decoded, {summary['wire_bytes_median']} on the "
         f"wire (median, encoding {summary['encoding']}); parts of the last one {summary['body_parts']}; "
         f"whole-page responses {summary['whole_page']}, reloads {summary['reloaded']}, "
         f"HTTP errors {summary['http_errors']}")
    _log(f"  workspace: {kind}: in-process replay {_ms([s.latency * 1000 for s in replay])}, SQL {summary['sql']}; "
         f"headers {session['headers']}")
    _log(f"  workspace: {kind}: status line 10 s after the last action: {summary['flash_10s_after_last']!r}")
    _log(f"  workspace: {kind}: load average {summary['load_before']} before, {summary['load_after']} after")
    _log_statements(kind, session)
    _log(f"  workspace: {kind}: SUMMARY {json.dumps(summary)}")
    samples = Samples(Sample(ms / 1000, sql) for ms, sql in zip(painted, sqls, strict=False))
    samples.wall_seconds = sum(painted) / 1000
    return samples


def _scenario(name: str, description: str, kind: str) -> Scenario:
    return Scenario(name=f"workspace.{name}", description=description, setup=ensure_workspace,
                    run=lambda n: _run(kind, n), size=inbox_bench.SIZE)


SCENARIOS = [
    _scenario("note", "internal note, Ctrl+Enter (Chromium, live daphne) until it is in #timeline, painted", "note"),
    _scenario("priority", "#priority-select change until #conv-header is re-rendered with it, painted", "priority"),
    _scenario("open", "click on a list row until its conversation is in #conversation-pane, painted", "open"),
]
