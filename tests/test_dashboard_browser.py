"""End to end in a real browser: `leanops serve` on a demo home, read by headless Chromium.

Debian's chromium (/usr/bin/chromium) driven by Playwright for Python, never a downloaded browser:
`bash scripts/setup-browser.sh` installs both. The `browser` tier: missing either skips it with the reason,
or fails it under LEANOPS_REQUIRE_ALL_TIERS=1, as in CI (tests/tiers.py).

The page's numbers are checked against `leanops accountability --json` on the same home, after more
events came in through the HTTP endpoint and a second pipeline run; the charts, a drill-down click,
the page's render time (printed, and kept in test-artifacts/dashboard-timing.txt) and that nothing is
fetched from outside are checked too. The screenshots land in test-artifacts/.
"""
from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import LEANOPS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("LEANOPS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FIELDS = ("records_in", "written", "errors", "duplicates", "superseded", "pending", "accounted")


def _playwright_api():
    """Playwright's sync API (the `browser` tier has checked that it and Chromium are there)."""
    from playwright.sync_api import sync_playwright
    return sync_playwright


def _leanops(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([LEANOPS, *args], capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"leanops {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


def _number(text: str) -> int:
    return int(text.replace(",", "").strip())


@contextlib.contextmanager
def _demo_server(tmp_path: Path):
    """A demo home served by `leanops serve` on a free port: (base url, home, the demo's summary)."""
    home = tmp_path / "demo"
    summary = json.loads(_leanops("demo", "--home", str(home), "--events", "400", "--seed", "5", "--json").stdout)
    proc = subprocess.Popen([LEANOPS, "serve", "--home", str(home), "--schemas", str(home / "schemas"),
                             "--port", "0", "--refresh", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if not match:
            proc.kill()
            raise AssertionError(f"leanops serve did not start: {line!r} {proc.stderr.read()}")
        yield match.group(0), home, summary
        proc.terminate()
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _post_more_events(base: str, home: Path) -> dict:
    """New events through the HTTP endpoint (gzip), then a second pipeline run: two runs per stage."""
    from leanops.demo import RATES, topic_lines
    body = "".join(line + "\n" for line in topic_lines("events", 99, 120, rates=RATES)).encode()
    request = urllib.request.Request(base + "topics/events/events", data=gzip.compress(body), method="POST",
                                     headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=60) as response:
        report = json.loads(response.read())
    assert report["lines_read"] == body.count(b"\n") and report["raw_snapshot_id"]
    _leanops("run", "--once", "--home", str(home), "--schemas", str(home / "schemas"), "--json")
    return report


def _render_times(url: str, times: int = 5) -> list[float]:
    out = []
    for _ in range(times):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as response:
            assert response.status == 200 and len(response.read()) > 10_000
        out.append(time.perf_counter() - started)
    return out


def test_dashboard_in_headless_chromium(tmp_path):
    sync_playwright = _playwright_api()  # before the (slower) demo home is built
    with _demo_server(tmp_path) as (base, home, demo):
        _check_dashboard(sync_playwright, base, home, demo)


def _check_dashboard(sync_playwright, base: str, home: Path, demo: dict) -> None:
    report = _post_more_events(base, home)
    expected = json.loads(_leanops("accountability", "--json", "--home", str(home),
                                   "--schemas", str(home / "schemas")).stdout)
    statuses = {s["topic"]: s for s in json.loads(_leanops("status", "--json", "--home", str(home),
                                                           "--schemas", str(home / "schemas")).stdout)}
    seconds = _render_times(base)
    median = statistics.median(seconds)
    timing = (f"GET / on the demo home (4 topics, {report['lines_read']} extra events, 2 runs): "
              f"median {median * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms over {len(seconds)} requests")
    print("\n" + timing)
    ARTIFACTS.mkdir(exist_ok=True)
    # recorded, not asserted: a speed target is a benchmark's business, never a timed test's
    (ARTIFACTS / "dashboard-timing.txt").write_text(timing + "\n")

    origin = "{0.scheme}://{0.netloc}".format(urlsplit(base))
    foreign, console_errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith(origin) else None)
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            started = time.perf_counter()
            page.goto(base, wait_until="load")
            print(f"page loaded in Chromium in {(time.perf_counter() - started) * 1000:.0f} ms")

            # accountability: every layer of every topic, as `leanops accountability --json` has it
            rows = page.locator("tr.account")
            shown = []
            for i in range(rows.count()):
                row = rows.nth(i)
                account = {"topic": row.get_attribute("data-topic"), "layer": row.get_attribute("data-layer")}
                for field in FIELDS:
                    account[field] = _number(row.locator(f'td[data-field="{field}"]').inner_text())
                percent = row.locator('td[data-field="percent"]').inner_text().strip()
                account["percent"] = None if percent == "n/a" else float(percent.rstrip(" %"))
                account["ok"] = row.locator('[data-field="ok"]').inner_text().strip() == "yes"
                assert row.locator("svg.bar line.target").count() == 1  # the 100% target marker
                shown.append(account)
            cli = [{"topic": a["topic"], "layer": a["layer"], **{f: a[f] for f in FIELDS},
                    "percent": None if a["percent"] is None else round(a["percent"], 2), "ok": a["ok"]}
                   for a in expected]
            assert shown == cli
            assert {a["topic"] for a in shown} >= {"events", "orders", "payments", "clicks"}
            assert all(a["ok"] for a in shown)
            events_ingestion = next(a for a in shown if (a["topic"], a["layer"]) == ("events", "ingestion"))
            demo_lines = demo["topics"]["events"]["ingest"]["lines_read"]
            assert events_ingestion["records_in"] == demo_lines + report["lines_read"]

            # topics: flag and health as `leanops status` sees them
            for topic, status in statuses.items():
                row = page.locator(f'tr.topic[data-topic="{topic}"]')
                assert row.locator('[data-field="flow_control_flag"]').inner_text() == status["flow_control_flag"]
                assert row.locator('[data-field="health"]').inner_text() in ("OK", "WARN", "FAIL")
            assert page.locator('tr.topic[data-topic="clicks"] [data-field="health"]').inner_text() == "WARN"

            # error totals per layer = the error columns of the accountability
            totals = {layer: _number(page.locator(f'[data-error-layer="{layer}"] [data-field="total"]').inner_text())
                      for layer in ("dlq", "parse", "curated", "semantic")}
            by_layer = {"dlq": "ingestion", "parse": "standardized", "curated": "curated", "semantic": "semantic"}
            for layer, account_layer in by_layer.items():
                assert totals[layer] == sum(a["errors"] for a in expected if a["layer"] == account_layer), layer
            assert totals["dlq"] > 0 and totals["parse"] > 0 and totals["curated"] > 0

            # charts: an SVG per measure, a point per successful stage run, lines once a stage ran twice
            runs = json.loads(urllib.request.urlopen(base + "api/status", timeout=60).read())["runs"]
            succeeded = [r for r in runs if r["status"] == "SUCCEEDED" and r["records_in"]]
            assert page.locator("svg#chart-throughput circle.point").count() == len(succeeded) >= 9
            assert page.locator("svg#chart-lag circle.point").count() >= 8
            assert page.locator("svg#chart-throughput polyline.series").count() >= 2
            assert page.locator("#runs tr.run").count() == len(runs)
            assert page.locator("#drift tr.drift").count() > 0

            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            # drill-down: the first error group's link opens its sample records
            group = page.locator("tr.error-group").first
            layer, topic, reason = (group.get_attribute(a) for a in ("data-layer", "data-topic", "data-reason"))
            count = _number(group.locator('[data-field="count"]').inner_text())
            group.locator("a.drill").click()
            page.wait_for_url(re.compile(r"/errors\?"))
            detail = page.locator("section.error-detail").first
            assert (detail.get_attribute("data-layer"), detail.get_attribute("data-topic"),
                    detail.get_attribute("data-reason")) == (layer, topic, reason)
            assert _number(detail.locator('[data-field="count"]').inner_text()) == count
            assert detail.locator("table.sample").count() == min(count, 20) > 0
            page.screenshot(path=str(ARTIFACTS / "dashboard-errors.png"), full_page=True)
        finally:
            browser.close()
    assert foreign == [], f"the page fetched from elsewhere: {foreign}"
    assert console_errors == []
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    print(f"screenshots: {ARTIFACTS / 'dashboard.png'}, {ARTIFACTS / 'dashboard-errors.png'}", file=sys.stderr)
