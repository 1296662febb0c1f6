"""`leanops serve`: the read-only dashboard, Prometheus metrics and an HTTP ingestion endpoint.

    server = make_server(ctx, ServeOptions(host="127.0.0.1", port=8080))
    serve(server)          # until SIGINT/SIGTERM (or server.request_stop()); in-flight ingests finish first

A stdlib `ThreadingHTTPServer` (no extra dependency), one shared `Context` (the state store and the
catalog are thread-safe, as in the orchestrator's Map).

| route | what |
|---|---|
| `GET /` (`?topic=T`) | the dashboard (server-rendered HTML, inline CSS and SVG, no script, no external asset) |
| `GET /errors?layer=&topic=&reason=&column=&samples=` | drill-down: the matching error groups with sample records |
| `GET /api/status` (`?topic=T`) | what the page shows, as JSON |
| `GET /api/errors?...` | the error view (`leanops.ops.errors`) as JSON |
| `GET /metrics` | Prometheus text format 0.0.4 (`leanops.ops.metrics`) |
| `GET /healthz` | `{"status": "ok"}` |
| `POST /topics/{topic}/events` | NDJSON envelopes (optionally `Content-Encoding: gzip`) ingested into RAW |

Security:
- Bound to a loopback address (the default 127.0.0.1) the server needs no token, but answers only
  requests whose `Host` is a loopback name (DNS rebinding), refuses a POST whose `Origin` is another
  site, and takes envelopes only with an NDJSON/JSON content type (a cross-site form cannot send one
  without a CORS preflight, which this server never grants).
- Bound to any other address it refuses to start without a token; every request then needs
  `Authorization: Bearer <token>` (compared in constant time). A browser may sign in once through a
  form (`/login`), which sets an HttpOnly, SameSite=Strict cookie holding an HMAC of the token; the
  cookie opens the read-only pages only, never the POST.
- Load: the listen backlog holds `LISTEN_BACKLOG` waiting connections, and at most `max_connections`
  are handled at once; one more is answered `503` with `Retry-After` at once (never a reset), so a
  client under a burst knows to come back; so is a POST that waited `ingest_wait_seconds` for its
  topic's queued ingests (they commit one at a time).
- Bodies: `Content-Length` is required and limited (`max_body`), gzip bodies are also limited once
  inflated (`max_decompressed`); a body is read (and inflated) to a temporary file in full before
  anything is ingested, so a refused or broken body leaves nothing behind. Ingests of one topic are
  serialized.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import hmac
import importlib
import ipaddress
import json
import logging
import re
import signal
import socket
import tempfile
import threading
import time
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from leanops.context import Context
from leanops.errors import LeanOpsError, TransientError

log = logging.getLogger("leanops.serve")

DEFAULT_MAX_BODY = 16 << 20
DEFAULT_MAX_CONNECTIONS = 64
LISTEN_BACKLOG = 1024  # the kernel caps it at net.core.somaxconn; the stdlib's 5 reset clients under a burst
BUSY_RETRY_AFTER = "1"
BUSY_DRAIN_SECONDS = 2.0  # a refused connection's request is read (and dropped) this long, so closing never resets it
INFLATE_FACTOR = 8  # default limit of an inflated gzip body: this many times the body limit
TOKEN_ENV = "LEANOPS_SERVE_TOKEN"  # nosec B105  # the environment variable's name, not a token
MIN_TOKEN_LENGTH = 16
INGEST_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines",
                "application/json")
COOKIE = "leanops_session"
CHUNK = 1 << 20
SPOOL_IN_MEMORY = 4 << 20
MAX_SAMPLES = 200
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
EVENTS_PATH = re.compile(r"^/topics/([^/]+)/events/?$")


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    max_decompressed: int | None = None  # None: INFLATE_FACTOR x max_body
    refresh_seconds: int = 30            # the page's auto-refresh; 0: off
    request_timeout: float = 60.0        # seconds a connection may stay silent
    cache_seconds: float = 5.0           # read routes answer from data at most this old; 0: compute every time
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # handled at once; one more is answered 503 + Retry-After
    ingest_wait_seconds: float = 10.0    # a POST waits this long for its topic's running ingest, then 503

    @property
    def inflated_limit(self) -> int:
        return self.max_decompressed if self.max_decompressed is not None else INFLATE_FACTOR * self.max_body


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost; hostnames other than localhost count as not loopback."""
    host = host.strip().strip("[]").lower()
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_options(options: ServeOptions) -> None:
    """Refuse an exposed server without a token, and weak tokens (LeanOpsError: exit 2)."""
    if options.token is not None and len(options.token) < MIN_TOKEN_LENGTH:
        raise LeanOpsError(f"the token must have at least {MIN_TOKEN_LENGTH} characters "
                           "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if not is_loopback(options.host) and not options.token:
        raise LeanOpsError(f"refusing to serve on {options.host} without a token: anyone who can reach it could "
                           f"read the dashboard and ingest data; pass --token or set {TOKEN_ENV} "
                           "(or bind to 127.0.0.1)")
    if options.max_body < 1 or options.inflated_limit < 1:
        raise LeanOpsError("body limits must be positive")
    if options.ingest_wait_seconds < 0:
        raise LeanOpsError("the ingest wait must not be negative")
    if options.max_connections < 1:
        raise LeanOpsError("--max-connections must be at least 1")


class HttpError(Exception):
    """A refusal with its status, answered as JSON (API) or a small page."""

    def __init__(self, status: HTTPStatus, message: str, close: bool = False,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.close, self.headers = status, message, close, headers or {}


class ReadCache:
    """What the read routes computed, kept `seconds`; concurrent requests for one key compute it once.

    Collecting the status reads every topic's tables (tens of milliseconds per topic): a dashboard left
    open in a few browsers and a Prometheus scraping /metrics would otherwise redo it for each request.
    An ingest through this server clears it, so what was just posted shows on the next page."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self._clock = seconds, clock
        self._entries: dict[tuple, tuple[float, Any]] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._guard = threading.Lock()
        self._generation = 0  # bumped by clear(): an answer computed before it is never kept

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        if self.seconds <= 0:
            return compute()
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # a second request for the key waits for the first one's answer
            hit = self._entries.get(key)
            if hit is not None and self._clock() - hit[0] < self.seconds:
                return hit[1]
            with self._guard:
                started, generation = self._clock(), self._generation
            value = compute()
            with self._guard:  # its age counts from when it began reading; a clear() meanwhile made it stale
                if generation == self._generation:
                    self._entries[key] = (started, value)
            return value

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()
            self._generation += 1


class LeanOpsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, ctx: Context, options: ServeOptions) -> None:
        self.address_family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
        self.ctx, self.options = ctx, options
        self.cookie_value = (hmac.new(options.token.encode(), b"leanops-dashboard-session", hashlib.sha256).hexdigest()
                             if options.token else None)
        self._topic_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._inflight = 0
        self._inflight_cond = threading.Condition()
        self._stop = threading.Event()
        self.cache = ReadCache(options.cache_seconds)
        self._slots = threading.BoundedSemaphore(options.max_connections)
        self._busy = 0
        self._busy_lock = threading.Lock()
        super().__init__((options.host.strip("[]"), options.port), Handler)

    # -- load: at most max_connections handled at once, the next one answered 503 -----------------
    @property
    def busy(self) -> int:
        """Connections being handled now."""
        return self._busy

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            threading.Thread(target=_refuse_busy, args=(self, request), name="leanops-serve-busy",
                             daemon=True).start()
            return
        with self._busy_lock:
            self._busy += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release_slot()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release_slot()

    def _release_slot(self) -> None:
        with self._busy_lock:
            self._busy -= 1
        self._slots.release()

    def status(self, topic: str | None) -> dict:
        """The dashboard's data (`collect_status`), through the read cache."""
        from leanops.ops.dashboard import collect_status
        return self.cache.get(("status", topic), lambda: collect_status(self.ctx, topic))

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def topic_lock(self, topic: str) -> threading.Lock:
        with self._locks_guard:
            return self._topic_locks.setdefault(topic, threading.Lock())

    def ingest_started(self) -> None:
        with self._inflight_cond:
            self._inflight += 1

    def ingest_done(self) -> None:
        with self._inflight_cond:
            self._inflight -= 1
            self._inflight_cond.notify_all()

    def wait_for_ingests(self, timeout: float) -> bool:
        with self._inflight_cond:
            return self._inflight_cond.wait_for(lambda: self._inflight == 0, timeout)

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()


def _refuse_busy(server: LeanOpsHTTPServer, request: socket.socket) -> None:
    """Answer a connection over `max_connections` with 503 + Retry-After, then read what the client
    sends until it closes (a close with unread data would reset the connection before the client
    reads the answer)."""
    body = json.dumps({"error": f"busy: {server.options.max_connections} connections are being handled; "
                                f"retry after {BUSY_RETRY_AFTER} s"}).encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\nServer: leanops\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: {BUSY_RETRY_AFTER}\r\nConnection: close\r\n\r\n")
    try:
        request.settimeout(BUSY_DRAIN_SECONDS)
        request.sendall(head.encode() + body)
        request.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + BUSY_DRAIN_SECONDS
        while time.monotonic() < deadline and request.recv(CHUNK):
            pass
    except OSError:
        pass  # the client went away: nothing to answer
    finally:
        server.shutdown_request(request)


def warm_up() -> None:
    """Import what the pages need now (about half a second), not in the first request."""
    for module in ("leanops.ingest", "leanops.landing.operations", "leanops.ops.dashboard", "leanops.ops.errors",
                   "leanops.orchestrate.health", "leanops.ops.metrics"):
        try:
            importlib.import_module(module)
        except ImportError as exc:  # pragma: no cover - the route that needs it answers the problem
            log.debug("warm-up: %s", exc)


def _warm_pages(server: LeanOpsHTTPServer) -> None:
    """Collect the dashboard's data once in the background: the first visitor's page then comes warm."""
    try:
        server.status(None)
    except Exception as exc:  # noqa: BLE001 - only a warm-up; the page reports its own problems
        log.debug("warm-up failed: %s", exc)


def make_server(ctx: Context, options: ServeOptions) -> LeanOpsHTTPServer:
    check_options(options)
    warm_up()
    try:
        return LeanOpsHTTPServer(ctx, options)
    except OSError as exc:
        raise LeanOpsError(f"cannot listen on {options.host}:{options.port}: {exc.strerror or exc}") from exc


def serve(server: LeanOpsHTTPServer, drain_seconds: float = 120.0) -> None:
    """Serve until SIGINT/SIGTERM (when called in the main thread) or `request_stop()`; then stop taking
    requests, let running ingests finish (up to `drain_seconds`) and close."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: server.request_stop())
    worker = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="leanops-serve",
                              daemon=True)
    worker.start()
    threading.Thread(target=_warm_pages, args=(server,), name="leanops-serve-warm", daemon=True).start()
    try:
        while not server._stop.wait(0.5):
            if not worker.is_alive():
                break
    finally:
        server.request_stop()  # set before waiting: an ingest starting from now on is refused (503)
        server.shutdown()
        if not server.wait_for_ingests(drain_seconds):
            log.warning("stopping with an ingest still running; it commits all or nothing")
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Handler(BaseHTTPRequestHandler):
    server: LeanOpsHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "leanops"
    sys_version = ""

    def setup(self) -> None:
        self.timeout = self.server.options.request_timeout
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.info("%s %s", self.address_string(), format % args)

    # -- dispatch ---------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802
        self._handle(self._get)

    def do_POST(self) -> None:  # noqa: N802
        self._handle(self._post)

    def handle_expect_100(self) -> bool:
        """Answer `Expect: 100-continue` with the refusal (401, 413, ...) before the client sends the body."""
        try:
            if self.command == "POST":
                self._check_post()
        except HttpError as exc:
            self.close_connection = True
            self._send_error(exc)
            return False
        return super().handle_expect_100()

    def _handle(self, route) -> None:
        try:
            route()
        except HttpError as exc:
            self._send_error(exc)
        except (ConnectionError, socket.timeout) as exc:
            log.info("client gone: %s", exc)
            self.close_connection = True
        except TransientError as exc:
            self._send_error(HttpError(HTTPStatus.SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "5"}))
        except LeanOpsError as exc:
            self._send_error(HttpError(HTTPStatus.BAD_REQUEST, str(exc)))
        except Exception:  # noqa: BLE001 - one broken request must not take the server down
            log.exception("%s %s failed", self.command, self.path)
            self._send_error(HttpError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error (see the server log)"))

    def _url(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        return parts.path, query

    def _get(self) -> None:
        path, query = self._url()
        if path == "/login":
            return self._send_html(self._login_page()) if self.server.options.token else self._redirect("/")
        self._authorize(cookie_ok=True)
        routes = {"/": self._dashboard, "/errors": self._errors_page, "/api/status": self._api_status,
                  "/api/errors": self._api_errors, "/metrics": self._metrics, "/healthz": self._healthz}
        if path not in routes:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such page: {path}")
        routes[path](query)

    def _post(self) -> None:
        path, _ = self._url()
        if path == "/login":
            return self._login()
        topic = self._check_post()
        self._ingest(topic)

    # -- auth -------------------------------------------------------------------------------
    def _authorize(self, cookie_ok: bool) -> None:
        token = self.server.options.token
        if token is None:
            host = (self.headers.get("Host") or "").strip()
            if host and not is_loopback(_host_name(host)):
                raise HttpError(HTTPStatus.FORBIDDEN, f"this server answers loopback hosts only, not {host!r}")
            return
        header = self.headers.get("Authorization") or ""
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return
        if cookie_ok and self.server.cookie_value:
            cookie = _cookies(self.headers.get("Cookie") or "").get(COOKIE, "")
            if cookie and hmac.compare_digest(cookie.encode(), self.server.cookie_value.encode()):
                return
        raise HttpError(HTTPStatus.UNAUTHORIZED, "missing or wrong token: send Authorization: Bearer <token>",
                        headers={"WWW-Authenticate": 'Bearer realm="leanops"'})

    def _login_page(self) -> bytes:
        from leanops.ops.dashboard import render_login
        return render_login().encode()

    def _login(self) -> None:
        from leanops.ops.dashboard import render_login
        if self.server.options.token is None:
            return self._redirect("/")
        length = self._content_length(limit=4096)
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[-1]
        if not hmac.compare_digest(given.encode(), self.server.options.token.encode()):
            return self._send_html(render_login(failed=True), HTTPStatus.UNAUTHORIZED)
        self._redirect("/", {"Set-Cookie": f"{COOKIE}={self.server.cookie_value}; HttpOnly; SameSite=Strict; "
                                           "Path=/"})

    # -- pages ------------------------------------------------------------------------------
    def _topic_filter(self, query: dict[str, str]) -> str | None:
        topic = query.get("topic") or None
        if topic is not None and topic not in self.server.ctx.topics():
            raise HttpError(HTTPStatus.NOT_FOUND, f"unknown topic {topic!r}")
        return topic

    def _dashboard(self, query: dict[str, str]) -> None:
        from leanops.ops.dashboard import render_dashboard
        started = time.perf_counter()
        status = self.server.status(self._topic_filter(query))
        refresh = 0 if query.get("refresh") == "0" else self.server.options.refresh_seconds
        page = render_dashboard(status, refresh)
        ms = (time.perf_counter() - started) * 1000
        self._send_html(page.encode(), headers={"Server-Timing": f"render;dur={ms:.1f}"})

    def _error_query(self, query: dict[str, str]) -> tuple[dict, int]:
        from leanops.ops.dashboard import ERROR_LAYERS
        filters = {k: (query.get(k) or None) for k in ("layer", "topic", "reason", "column")}
        if filters["layer"] is not None and filters["layer"] not in ERROR_LAYERS:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"unknown error layer {filters['layer']!r}; one of "
                                                    + ", ".join(ERROR_LAYERS))
        self._topic_filter({"topic": filters["topic"] or ""})
        try:
            samples = max(0, min(MAX_SAMPLES, int(query.get("samples") or 20)))
        except ValueError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "samples must be a number") from None
        return filters, samples

    def _error_view(self, filters: dict, samples: int) -> dict:
        from leanops.ops.dashboard import filtered_groups
        from leanops.ops.errors import error_view

        def compute() -> dict:
            view = error_view(self.server.ctx.lake, topic=filters["topic"], layer=filters["layer"], samples=samples)
            data = view.as_dict()
            data["groups"] = filtered_groups(data["groups"], filters["reason"], filters["column"])
            return data
        return self.server.cache.get(("errors", *sorted(filters.items()), samples), compute)

    def _errors_page(self, query: dict[str, str]) -> None:
        from leanops.ops.dashboard import render_errors
        filters, samples = self._error_query(query)
        page = render_errors(self._error_view(filters, samples), filters, str(self.server.ctx.settings.home), samples)
        self._send_html(page.encode())

    def _api_errors(self, query: dict[str, str]) -> None:
        filters, samples = self._error_query(query)
        self._send_json({"filter": filters, **self._error_view(filters, samples)})

    def _api_status(self, query: dict[str, str]) -> None:
        self._send_json(self.server.status(self._topic_filter(query)))

    def _metrics(self, query: dict[str, str]) -> None:
        try:
            from leanops.ops.metrics import collect, prometheus_text
        except ImportError as exc:  # pragma: no cover - the metrics module ships with the package
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, f"metrics are not available: {exc}") from exc
        text = self.server.cache.get(("metrics",), lambda: prometheus_text(collect(self.server.ctx)))
        self._send(HTTPStatus.OK, text.encode(), "text/plain; version=0.0.4; charset=utf-8")

    def _healthz(self, query: dict[str, str]) -> None:
        self._send_json({"status": "ok"})

    # -- ingestion --------------------------------------------------------------------------
    def _check_post(self) -> str:
        """Everything about a POST that can be refused before its body is read; returns the topic."""
        from leanops.errors import InvalidTopicNameError
        from leanops.types import validate_topic
        path, _ = self._url()
        if path == "/login":
            return ""
        match = EVENTS_PATH.match(path)
        self._authorize(cookie_ok=False)
        if not match:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such endpoint: POST {path}", close=True)
        origin = self.headers.get("Origin")
        if origin and urlsplit(origin).netloc.lower() != (self.headers.get("Host") or "").lower():
            raise HttpError(HTTPStatus.FORBIDDEN, f"cross-site request from {origin!r} refused", close=True)
        try:
            topic = validate_topic(unquote(match.group(1)))
        except InvalidTopicNameError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, str(exc), close=True) from None
        if self.headers.get_content_type() not in INGEST_TYPES or "Content-Type" not in self.headers:
            raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send NDJSON envelopes with Content-Type: "
                            "application/x-ndjson (or " + ", ".join(INGEST_TYPES[1:]) + ")", close=True)
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding not in ("identity", "gzip", "x-gzip"):
            raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"Content-Encoding {encoding!r} is not supported "
                            "(identity or gzip)", close=True)
        self._content_length(self.server.options.max_body)
        return topic

    def _content_length(self, limit: int) -> int:
        if self.headers.get("Transfer-Encoding"):
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not accepted: send Content-Length",
                            close=True)
        text = self.headers.get("Content-Length")
        if text is None:
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required", close=True)
        try:
            length = int(text)
            if length < 0:
                raise ValueError
        except ValueError:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"invalid Content-Length {text!r}", close=True) from None
        if length > limit:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"body of {length:,} bytes exceeds the limit of {limit:,} bytes (--max-body)", close=True)
        return length

    def _spool(self) -> tempfile.SpooledTemporaryFile:
        return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=self.server.ctx.settings.home / "tmp")

    def _read_body(self, length: int) -> BinaryIO:
        body = self._spool()
        remaining = length
        try:
            while remaining:
                chunk = self.rfile.read(min(CHUNK, remaining))
                if not chunk:
                    raise HttpError(HTTPStatus.BAD_REQUEST, f"body ended after {length - remaining:,} of "
                                                            f"{length:,} bytes", close=True)
                body.write(chunk)
                remaining -= len(chunk)
        except BaseException:
            body.close()
            raise
        body.seek(0)
        return body

    def _inflate(self, body: BinaryIO) -> BinaryIO:
        limit = self.server.options.inflated_limit
        out = self._spool()
        total = 0
        try:
            with gzip.GzipFile(fileobj=body, mode="rb") as stream:
                while chunk := stream.read(CHUNK):
                    total += len(chunk)
                    if total > limit:
                        raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"gzip body inflates beyond the limit "
                                        f"of {limit:,} bytes (--max-decompressed)")
                    out.write(chunk)
        except (OSError, EOFError, zlib.error) as exc:
            out.close()
            raise HttpError(HTTPStatus.BAD_REQUEST, f"body is not valid gzip: {exc}") from None
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return out

    def _ingest(self, topic: str) -> None:
        self.server.ingest_started()  # counted from the first byte: a stopping server waits for it
        try:
            if self.server.stopping:
                raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "the server is stopping; send again later",
                                headers={"Retry-After": "5"})
            self._ingest_body(topic)
        finally:
            self.server.ingest_done()

    def _ingest_body(self, topic: str) -> None:
        from leanops.ingest import ingest_stream
        length = self._content_length(self.server.options.max_body)
        body = self._read_body(length)
        try:
            if (self.headers.get("Content-Encoding") or "").strip().lower() in ("gzip", "x-gzip"):
                inflated = self._inflate(body)
                body.close()
                body = inflated
            body.seek(0, 2)
            if body.tell() == 0:
                raise HttpError(HTTPStatus.BAD_REQUEST, "empty body: nothing to ingest")
            body.seek(0)
            ctx = self.server.ctx
            lock = self.server.topic_lock(topic)
            if not lock.acquire(timeout=self.server.options.ingest_wait_seconds):
                raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, f"busy: ingests of {topic} are queued; send again "
                                f"later", headers={"Retry-After": BUSY_RETRY_AFTER})
            try:
                report = ingest_stream(ctx.lake, ctx.state, ctx.settings, topic, body,
                                       f"http:{self.client_address[0]}")
            finally:
                lock.release()
        finally:
            body.close()
        self.server.cache.clear()  # the next page shows what was just ingested
        log.info("ingested %s: %d lines, %d accepted, %d rejected", topic, report.lines_read, report.accepted,
                 report.rejected)
        self._send_json(report.as_dict())

    # -- responses --------------------------------------------------------------------------
    def _send(self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_html(self, body: bytes | str, status: HTTPStatus = HTTPStatus.OK,
                   headers: dict[str, str] | None = None) -> None:
        self._send(status, body.encode() if isinstance(body, str) else body, "text/html; charset=utf-8", headers)

    def _send_json(self, data: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        body = json.dumps(data, default=str, ensure_ascii=False).encode()
        self._send(status, body, "application/json")

    def _redirect(self, location: str, headers: dict[str, str] | None = None) -> None:
        self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": location, **(headers or {})})

    def _send_error(self, exc: HttpError) -> None:
        from leanops.ops.dashboard import render_login, render_message
        if exc.close or self.command == "POST":  # the body may be unread: never reuse the connection
            self.close_connection = True
        path, _ = self._url()
        wants_html = (self.command == "GET" and not path.startswith("/api/") and path not in ("/metrics", "/healthz")
                      and "text/html" in (self.headers.get("Accept") or ""))
        if wants_html and exc.status == HTTPStatus.UNAUTHORIZED:
            self._send_html(render_login(), exc.status, exc.headers)
        elif wants_html:
            self._send_html(render_message(f"{exc.status.value} {exc.status.phrase}", exc.message), exc.status,
                            exc.headers)
        else:
            body = json.dumps({"error": exc.message, "status": exc.status.value}, ensure_ascii=False).encode()
            self._send(exc.status, body, "application/json", exc.headers)


def _host_name(host: str) -> str:
    """The name in a Host header: 127.0.0.1:8080 -> 127.0.0.1, [::1]:8080 -> ::1."""
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.split(":", 1)[0] if host.count(":") == 1 else host


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key:
            out[key] = value
    return out

