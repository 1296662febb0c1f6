"""`leanops serve` at the HTTP level: routes, escaping, token rules, body limits, gzip, ingestion."""
from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import re
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from urllib.parse import urlencode, urlsplit

import pytest
from conftest import LEANOPS, envelope

from leanops.errors import LeanOpsError
from leanops.ops.server import ServeOptions, check_options, is_loopback, make_server
from leanops.stages.accountability import topic_accounts
from leanops.state.base import RunRecord

pytestmark = pytest.mark.slow

TOKEN = "t0ken-for-tests-0123456789"
NDJSON = {"Content-Type": "application/x-ndjson"}
HOSTILE = '<script>alert("x")</script>'


@contextlib.contextmanager
def served(ctx, **options):
    server = make_server(ctx, ServeOptions(port=0, **options))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def call(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) of one request on a fresh connection."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def raw_request(server, head: str, body: bytes = b"", read_before_body: bool = False) -> tuple[int, bytes]:
    """Send a hand-written request (for missing Content-Length, chunked, Expect); returns (status, response)."""
    sock = socket.create_connection(server.server_address[:2], timeout=10)
    try:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        if read_before_body:
            data = sock.recv(65536)
        else:
            sock.sendall(body)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data and b"Content-Length" in data:
                    head_part, _, rest = data.partition(b"\r\n\r\n")
                    length = int(re.search(rb"Content-Length: (\d+)", head_part).group(1))
                    if len(rest) >= length:
                        break
        return int(data.split(b" ", 2)[1]), data
    finally:
        sock.close()


def lines(*docs: str) -> bytes:
    return "".join(d + "\n" for d in docs).encode()


def good(n: int, prefix: str = "m") -> list[str]:
    return [envelope(f"{prefix}-{i}", {"event": {"n": i}}) for i in range(n)]


def post_events(server, topic: str, body: bytes, headers: dict | None = None):
    return call(server, "POST", f"/topics/{topic}/events", body, {**NDJSON, **(headers or {})})


# -- routes --------------------------------------------------------------------------------------------

def test_routes_on_an_empty_home(ctx):
    with served(ctx) as server:
        status, headers, body = call(server, "GET", "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        page = body.decode()
        assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
        for section in ("topics", "accountability", "charts", "errors", "drift", "runs"):
            assert f'<section id="{section}">' in page
        assert call(server, "GET", "/healthz")[2] == b'{"status": "ok"}'
        status, _, body = call(server, "GET", "/api/status")
        data = json.loads(body)
        assert status == 200 and data["topics"] == [] and data["accountability"] == []
        status, headers, body = call(server, "GET", "/metrics")
        assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert b"# TYPE leanops_" in body
        assert call(server, "GET", "/nope")[0] == 404
        assert call(server, "GET", "/?topic=unknown")[0] == 404
        assert call(server, "GET", "/errors?layer=bogus")[0] == 400
        assert call(server, "POST", "/elsewhere", b"x", NDJSON)[0] == 404
        assert call(server, "DELETE", "/")[0] == 501  # read-only: no other method


def test_ingest_then_accountability_reflects_it(ctx):
    body = lines(*good(5), "not json at all", envelope("m-0", {"event": {"n": 0}}))
    with served(ctx) as server:
        status, headers, raw = post_events(server, "events", body)
        assert status == 200, raw
        report = json.loads(raw)
        assert (report["topic"], report["lines_read"], report["accepted"], report["rejected"]) == ("events", 7, 6, 1)
        assert report["raw_snapshot_id"] and report["source"] == "http:127.0.0.1"
        assert report["reasons"] == {"not valid JSON": 1}
        status = json.loads(call(server, "GET", "/api/status")[2])
        ingestion = next(a for a in status["accountability"] if a["layer"] == "ingestion")
        assert (ingestion["records_in"], ingestion["written"], ingestion["errors"], ingestion["ok"]) == (7, 6, 1, True)
        assert status["accountability"] == [a.as_dict() for a in topic_accounts(ctx.lake, "events")]
        assert status["errors"]["totals"]["dlq"] == 1
        page = call(server, "GET", "/")[2].decode()
        row = re.search(r'<tr class="account[^"]*" data-topic="events" data-layer="ingestion">(.*?)</tr>',
                        page).group(1)
        assert 'data-field="records_in" data-value="7">7<' in row
        assert 'data-field="errors" data-value="1">1<' in row and "100.00 %" in row
        # the drill-down shows the rejected line
        status, _, raw = call(server, "GET", "/errors?" + urlencode({"layer": "dlq", "topic": "events"}))
        assert status == 200 and "not json at all" in raw.decode()
        data = json.loads(call(server, "GET", "/api/errors?layer=dlq&samples=5")[2])
        assert data["groups"][0]["samples"][0]["raw_text"] == "not json at all"


def test_gzip_bodies_and_their_inflated_limit(ctx):
    with served(ctx, max_body=64 << 10, max_decompressed=256 << 10) as server:
        status, _, raw = post_events(server, "events", gzip.compress(lines(*good(20))), {"Content-Encoding": "gzip"})
        assert status == 200 and json.loads(raw)["accepted"] == 20
        # a gzip bomb: small on the wire, beyond the inflated limit once decompressed -> 413, nothing ingested
        bomb = gzip.compress(lines(*good(3, "b")) + b" " * (1 << 20))
        assert len(bomb) < 64 << 10
        status, _, raw = post_events(server, "events", bomb, {"Content-Encoding": "gzip"})
        assert status == 413 and "inflates beyond" in json.loads(raw)["error"]
        status, _, raw = post_events(server, "events", b"\x1f\x8b not gzip", {"Content-Encoding": "gzip"})
        assert status == 400 and "gzip" in json.loads(raw)["error"]
        assert post_events(server, "events", b"x", {"Content-Encoding": "br"})[0] == 415
    assert [i.lines_read for i in ctx.state.list_ingests("events")] == [20]


def test_body_limits(ctx):
    with served(ctx, max_body=1024) as server:
        status, headers, raw = post_events(server, "events", b"x" * 1025)
        assert status == 413 and "1,024" in json.loads(raw)["error"] and headers.get("Connection") == "close"
        assert post_events(server, "events", lines(good(1)[0]))[0] == 200  # within the limit
        assert post_events(server, "events", b"")[0] == 400  # nothing to ingest
        host = f"127.0.0.1:{server.server_address[1]}"
        status, _ = raw_request(server, f"POST /topics/events/events HTTP/1.1\nHost: {host}\n"
                                        "Content-Type: application/x-ndjson\nConnection: close\n", b"")
        assert status == 411  # Content-Length required
        status, _ = raw_request(server, f"POST /topics/events/events HTTP/1.1\nHost: {host}\n"
                                        "Content-Type: application/x-ndjson\nTransfer-Encoding: chunked\n"
                                        "Connection: close\n", b"5\r\nhello\r\n0\r\n\r\n")
        assert status == 411
        # Expect: 100-continue: refused before the client sends its body
        status, response = raw_request(server, f"POST /topics/events/events HTTP/1.1\nHost: {host}\n"
                                               "Content-Type: application/x-ndjson\nContent-Length: 999999\n"
                                               "Expect: 100-continue\n", read_before_body=True)
        assert status == 413 and b"100 Continue" not in response
    assert [i.lines_read for i in ctx.state.list_ingests("events")] == [1]


def test_invalid_topics_and_content_types(ctx):
    with served(ctx) as server:
        for topic in ("Bad-Topic", "errors", "x_latest", "raw%2Fevents", "%3Cscript%3E", "1abc"):
            status, _, raw = post_events(server, topic, lines(good(1)[0]))
            assert status == 400, topic
            assert "invalid topic name" in json.loads(raw)["error"]
        assert post_events(server, "events", lines(good(1)[0]), {"Content-Type": "text/plain"})[0] == 415
        assert call(server, "POST", "/topics/events/events", lines(good(1)[0]))[0] == 415  # no content type
        # a page on another site cannot make a local browser post events
        status, _, _ = post_events(server, "events", lines(good(1)[0]), {"Origin": "https://evil.example"})
        assert status == 403
    assert ctx.lake.raw_topics() == [] and ctx.state.list_topics() == []


def test_hostile_values_are_escaped(ctx):
    ctx.state.register_topic(HOSTILE)  # a corrupt registry entry: its name is not even a valid topic
    ctx.state.record_drift("events", f"col{HOSTILE}", "undeclared_column", HOSTILE, None, detail=HOSTILE)
    run = ctx.state.start_run(RunRecord("events", "curated", datetime.now(timezone.utc), "RUNNING"))
    run.status, run.ended_at, run.error_message = "FAILED", datetime.now(timezone.utc), f"boom {HOSTILE}"
    ctx.state.finish_run(run)
    with served(ctx) as server:
        body = lines(*good(2), HOSTILE, envelope("h-1", '{"broken": "<img src=x onerror=alert(1)>'))
        assert post_events(server, "events", body)[0] == 200
        pages = {path: call(server, "GET", path, headers={"Accept": "text/html"}) for path in
                 ("/", "/errors?layer=dlq", "/errors?" + urlencode({"layer": "dlq", "topic": "events",
                                                                    "reason": "not valid JSON"}),
                  "/?topic=" + HOSTILE, "/errors?topic=" + HOSTILE)}
        for path, (status, _, raw) in pages.items():
            page = raw.decode()
            assert "<script" not in page and "<img" not in page and "onerror=alert" not in page.replace(
                "onerror=alert(1)&gt;", ""), path
        page = pages["/"][2].decode()
        assert pages["/"][0] == 200
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page  # the topic, the drift log, the run
        assert f'data-topic="{HOSTILE}"' not in page
        assert "invalid topic name" in page  # the broken topic is shown, the page still renders
        drill = pages["/errors?layer=dlq&topic=events&reason=not+valid+JSON"]
        assert drill[0] == 200 and "&lt;script&gt;" in drill[2].decode()
        assert pages["/?topic=" + HOSTILE][0] == 200  # a registered (if broken) topic may be filtered on


def test_loopback_needs_no_token_but_checks_the_host(ctx):
    with served(ctx) as server:
        assert call(server, "GET", "/healthz")[0] == 200
        status, _, raw = call(server, "GET", "/", headers={"Host": "evil.example:8080"})
        assert status == 403  # DNS rebinding: a foreign name resolving to 127.0.0.1
        assert call(server, "GET", "/healthz", headers={"Host": "localhost:1234"})[0] == 200


def test_token_rules(ctx):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.3.2.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10") and not is_loopback("example.org")
    with pytest.raises(LeanOpsError, match="without a token"):
        check_options(ServeOptions(host="0.0.0.0"))
    with pytest.raises(LeanOpsError, match="at least 16"):
        check_options(ServeOptions(host="0.0.0.0", token="short"))
    check_options(ServeOptions(host="0.0.0.0", token=TOKEN))
    check_options(ServeOptions(host="127.0.0.1"))
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with served(ctx, token=TOKEN) as server:
        for path in ("/", "/api/status", "/metrics", "/healthz", "/errors"):
            status, headers, _ = call(server, "GET", path)
            assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer"), path
            assert call(server, "GET", path, headers={"Authorization": "Bearer wrong-token-0123456789"})[0] == 401
            assert call(server, "GET", path, headers=bearer)[0] == 200, path
        assert call(server, "GET", "/", headers={"Host": "dashboard.example"} | bearer)[0] == 200
        status, _, body = call(server, "GET", "/", headers={"Accept": "text/html"})
        assert status == 401 and b'action="/login"' in body  # a browser gets the sign-in form
        assert post_events(server, "events", lines(good(1)[0]))[0] == 401
        assert post_events(server, "events", lines(good(1)[0]), bearer)[0] == 200
        # the sign-in form sets a cookie that opens the pages, never the POST
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        assert call(server, "POST", "/login", urlencode({"token": "nope"}).encode(), form)[0] == 401
        status, headers, _ = call(server, "POST", "/login", urlencode({"token": TOKEN}).encode(), form)
        assert status == 303 and "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
        cookie = {"Cookie": headers["Set-Cookie"].split(";")[0]}
        assert TOKEN not in cookie["Cookie"]
        assert call(server, "GET", "/", headers=cookie)[0] == 200
        assert post_events(server, "events", lines(good(1, "c")[0]), cookie)[0] == 401
    assert [i.lines_read for i in ctx.state.list_ingests("events")] == [1]


def test_concurrent_ingests_of_one_topic_all_land(ctx):
    results = []
    with served(ctx) as server:
        def post(n: int) -> None:
            results.append(post_events(server, "events", lines(*good(50, f"p{n}")))[0])
        threads = [threading.Thread(target=post, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [200] * 4
    ingestion = topic_accounts(ctx.lake, "events")[0]
    assert (ingestion.records_in, ingestion.written, ingestion.ok) == (200, 200, True)


def test_a_burst_of_concurrent_requests_is_answered_not_reset(ctx):
    """300 requests from 64 threads: every one gets an HTTP answer (no reset), and what was answered 200 landed."""
    def one(n: int):
        if n % 3:
            return "post", post_events(ctx_server, "events", lines(*good(2, f"b{n}")))
        return "get", call(ctx_server, "GET", "/healthz")

    with served(ctx, ingest_wait_seconds=2) as ctx_server, ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(one, range(300)))
    statuses = {status for _, (status, _, _) in answers}
    assert statuses <= {200, 503}, statuses
    assert all(headers.get("Retry-After") for _, (status, headers, _) in answers if status == 503)
    posted = sum(2 for kind, (status, _, _) in answers if kind == "post" and status == 200)
    assert posted > 0
    ingestion = topic_accounts(ctx.lake, "events")[0]
    assert (ingestion.records_in, ingestion.written, ingestion.ok) == (posted, posted, True)


def _wait_until(condition, what: str) -> None:
    """Poll a condition of the server (an event), with a generous bound only to fail instead of hanging."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def test_a_saturated_server_answers_503_with_retry_after(ctx):
    with served(ctx, max_connections=2) as server:
        held = [socket.create_connection(server.server_address[:2], timeout=30) for _ in range(2)]
        for sock in held:  # half a request: each handler waits for the rest
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        _wait_until(lambda: server.busy == 2, "both held connections handled")
        status, headers, body = post_events(server, "events", lines(good(1)[0]))
        assert status == 503 and headers["Retry-After"] == "1" and headers["Connection"] == "close"
        assert "busy" in json.loads(body)["error"]
        for sock in held:
            sock.close()
        _wait_until(lambda: server.busy == 0, "the held connections released")
        assert post_events(server, "events", lines(good(1)[0]))[0] == 200
    assert [i.lines_read for i in ctx.state.list_ingests("events")] == [1]  # the refused POST ingested nothing


def test_max_connections_must_be_positive():
    with pytest.raises(LeanOpsError, match="max-connections"):
        check_options(ServeOptions(max_connections=0))


def test_a_stopping_server_takes_no_new_ingest(ctx):
    with served(ctx) as server:
        server.request_stop()
        status, headers, _ = post_events(server, "events", lines(good(1)[0]))
        assert status == 503 and headers["Retry-After"] == "5"
        assert call(server, "GET", "/healthz")[0] == 200
    assert ctx.state.list_ingests() == []


def test_cli_refuses_an_exposed_server_without_a_token(tmp_path):
    done = subprocess.run([LEANOPS, "serve", "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    assert "without a token" in done.stderr
    assert not any((tmp_path / "home").iterdir())  # refused before anything was opened


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_stops_cleanly(tmp_path, sig):
    proc = subprocess.Popen([LEANOPS, "serve", "--port", "0", "--home", str(tmp_path / "home")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://\S+/", line)
        if not match:
            proc.kill()
            raise AssertionError(f"leanops serve did not start: {line!r} {proc.stderr.read()}")
        parts = urlsplit(match.group(0))
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request("POST", "/topics/events/events", body=lines(*good(3)), headers=NDJSON)
        assert json.loads(conn.getresponse().read())["accepted"] == 3
        conn.close()
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()  # the timeout only turns a hang into a failure
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- the read cache ------------------------------------------------------------------------------

def test_read_cache_keeps_answers_for_its_time_and_computes_once_for_concurrent_requests():
    from leanops.ops.server import ReadCache
    now = [100.0]
    cache, calls, arrived = ReadCache(5.0, clock=lambda: now[0]), [], []

    def compute(value):
        def run():
            calls.append(value)
            _wait_until(lambda: len(arrived) == 8, "all eight requests made")  # the rest queue behind this one
            return value
        return run

    def request(_):
        arrived.append(1)
        return cache.get(("k",), compute("a"))
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(request, range(8)))
    assert answers == ["a"] * 8 and calls == ["a"]  # eight requests, one collection
    now[0] += 4.9
    assert cache.get(("k",), compute("b")) == "a"
    now[0] += 0.2
    assert cache.get(("k",), compute("c")) == "c" and cache.get(("other",), compute("d")) == "d"
    cache.clear()
    assert cache.get(("k",), compute("e")) == "e"
    off = ReadCache(0)
    assert [off.get(("k",), compute(v)) for v in "fg"] == ["f", "g"]


def test_an_answer_computed_across_a_clear_is_not_kept():
    """An ingest's clear() while a collection is under way (the warm-up, a slow page) leaves that collection's
    pre-ingest answer out of the cache: the next page reads again."""
    from leanops.ops.server import ReadCache
    cache, reading, cleared = ReadCache(5.0, clock=lambda: 100.0), threading.Event(), threading.Event()

    def slow_read():
        reading.set()
        assert cleared.wait(60), "the clear never came"
        return "before the ingest"
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(cache.get, ("status",), slow_read)
        assert reading.wait(60), "the collection never started"
        cache.clear()
        cleared.set()
        assert pending.result(60) == "before the ingest"  # its own caller gets what it read
    assert cache.get(("status",), lambda: "after the ingest") == "after the ingest"


def test_pages_share_one_collection_until_an_ingest_clears_it(ctx, monkeypatch):
    from leanops.ops import dashboard
    real, collected = dashboard.collect_status, []

    def counting(*args, **kwargs):
        collected.append(args[1:])
        return real(*args, **kwargs)
    monkeypatch.setattr(dashboard, "collect_status", counting)
    with served(ctx, cache_seconds=60) as server:
        assert post_events(server, "events", lines(*good(2)))[0] == 200
        before = len(collected)
        first = json.loads(call(server, "GET", "/api/status")[2])
        assert call(server, "GET", "/")[0] == 200 and json.loads(call(server, "GET", "/api/status")[2]) == first
        assert len(collected) == before + 1  # /api/status and / read the same collection
        assert post_events(server, "events", lines(*good(3, prefix="n")))[0] == 200
        after = json.loads(call(server, "GET", "/api/status")[2])
        ingestion = next(a for a in after["accountability"] if a["layer"] == "ingestion")
        assert ingestion["records_in"] == 5 and len(collected) == before + 2


def test_poison_lines_are_dlq_rows_and_payloads_land_byte_for_byte(ctx):
    """Issue 18: a publish_time out of range, a repeated key, NaN ... no longer answer 500 and lose the body."""
    from poison_lines import EXACT_PAYLOADS, POISON, mixed_lines
    with served(ctx) as server:
        status, _, raw = post_events(server, "money", lines(*mixed_lines()))
        assert status == 200, raw
        report = json.loads(raw)
        assert (report["accepted"], report["rejected"]) == (len(EXACT_PAYLOADS), len(POISON))
    stored = ctx.lake.raw_table("money").scan().to_arrow().to_pylist()
    assert {r["message_id"]: r["json_payload"] for r in stored} == EXACT_PAYLOADS
    dlq = {r["raw_text"]: r["reason"] for r in ctx.lake.dlq_table().scan().to_arrow().to_pylist()}
    assert all(dlq[line].startswith(reason) for line, reason in POISON.items())
    assert all(a.ok for a in topic_accounts(ctx.lake, "money"))
