"""`leanops demo`: a fresh deployment, realistic events with injected faults, one pipeline run.

What it shows, end to end on a laptop:
  - three topics with schema files (`events`, `orders`, `payments`) flow RAW -> Standardized -> Curated
    (and `events` on to Semantic);
  - a fourth topic, `clicks`, has data but no schema file: its data lands in RAW and waits there;
  - every injected fault ends up where the design says it must: network duplicates are dropped by
    Standardized, broken JSON and non-object payloads go to `standardized.parse_errors`, lines that
    are not envelopes go to `raw.dlq_errors`, missing/null critical data elements and values that
    do not cast to their declared type go to `curated.errors`;
  - app re-sends merge by idempotency key: a correction (later event timestamp, some published a
    day later) wins and its original counts as superseded; an older version that arrives after the
    newer one loses and never overwrites it;
  - accountability adds up to 100% per topic and layer (ingestion, standardized, curated), computed
    from the tables themselves, and every figure matches what the generator injected.

Two parts: a generator (pure functions of the seed that yield NDJSON lines and count what they
inject; `expected_counts` says where they must land) and a runner (`run_demo`) that builds the
home, ingests, runs and reports.

    summary = run_demo(Path(".leanops-demo"), seed=7, events=2000, quiet=False)
"""
from __future__ import annotations

import bisect
import collections
import hashlib
import json
import os
import random
import shlex
import shutil
import sys
import uuid
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator

from leanops.errors import LeanOpsError

# --------------------------------------------------------------------------------------------
# Generator: pure functions of (topic, seed, count) -> NDJSON envelope lines
# --------------------------------------------------------------------------------------------

SCHEMA_TOPICS = ("events", "orders", "payments")
UNSCHEMED_TOPIC = "clicks"  # has data, no schema file: stays in RAW
START = datetime(2026, 1, 19, tzinfo=timezone.utc)  # fixed, so the output depends on the seed only
SPAN = timedelta(days=3)

# Share of `count` per injected kind. At least one of each kind once a topic has 50 events. The
# kinds are disjoint per event, so where each line must end up is known exactly (`expected_counts`).
RATES = {
    # RAW -> Standardized
    "duplicates": 0.03,      # the same line re-sent a few messages later (network duplicate)
    "broken_json": 0.01,     # payload is a string of truncated JSON text
    "non_object": 0.005,     # payload is a JSON array or number
    "non_envelope": 0.005,   # garbage text, an envelope without message_id, a cut-off line
    # Standardized -> Curated
    "corrections": 0.02,     # the app re-sends an event: new message_id, same key, later event.timestamp
    "late_versions": 0.01,   # an OLDER version of an event arrives after the newer one (it must lose)
    "cde_violations": 0.01,  # a critical data element (cde: true) is missing or null
    "bad_casts": 0.01,       # a typed field holds a value that does not cast ("warm", "101%", "12,50")
}
NEXT_DAY_SHARE = 0.3  # of the corrections, published on a later day than the original (at least one)
NO_FAULTS = dict.fromkeys(RATES, 0.0)
INJECTED_KINDS = (*RATES, "corrections_next_day")  # the last one is a subset of "corrections"

USER_AGENTS = (
    "acme-thermo/2.4.1 (linux; armv7l)",
    "acme-hub/1.9.0 (linux; aarch64)",
    "AcmeHome/5.12.0 (iPhone; iOS 17.2)",
    "AcmeHome/5.11.3 (Android 14; Pixel 8)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0 Safari/537.36",
)
CURRENCIES = ("EUR", "EUR", "EUR", "USD", "GBP", "CHF")
PRODUCTS = (("TH-100", "Smart thermostat", 129.0), ("HB-200", "Home hub", 89.0), ("SN-010", "Door sensor", 19.9),
            ("SN-020", "Motion sensor", 24.5), ("PL-001", "Smart plug", 14.99), ("BT-AA4", "Battery pack", 6.49))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _stable(*parts: object) -> str:
    """A short id that depends only on its parts (shared across topics, e.g. order ids)."""
    return hashlib.sha1(":".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()[:12]


def users(seed: int, count: int) -> list[dict]:
    """The user population shared by every topic: id, devices, user agent, IP address.

    Args:
        seed: demo seed.
        count: events per topic; the population grows with it (10..500 users).
    """
    rng = random.Random(f"{seed}:users")  # nosec B311  # seeded demo data, not security
    population = []
    for n in range(max(10, min(500, count // 20))):
        population.append({
            "id": f"usr-{_stable(seed, 'user', n)}",
            "devices": [f"dev-{rng.getrandbits(40):010x}" for _ in range(rng.randint(1, 3))],
            "ip": rng.choice(("10.{}.{}.{}", "192.168.{}.{}", "203.0.113.{}", "198.51.100.{}")).format(
                *(rng.randint(1, 254) for _ in range(3))),
            "agent": rng.choice(USER_AGENTS),
        })
    return population


def order(seed: int, n: int, population: list[dict]) -> dict:
    """Order number `n` of the demo; the `payments` topic pays the very same orders (same user, amount)."""
    rng = random.Random(f"{seed}:order:{n}")  # nosec B311  # seeded demo data, not security
    items = []
    for sku, name, price in rng.sample(PRODUCTS, rng.randint(1, 3)):
        items.append({"sku": sku, "name": name, "quantity": rng.randint(1, 4), "unitPrice": price})
    return {
        "id": f"ord-{_stable(seed, 'order', n)}",
        "user": rng.choice(population),
        "amount": round(sum(i["quantity"] * i["unitPrice"] for i in items), 2),
        "currency": rng.choice(CURRENCIES),
        "items": items,
    }


def publish_times(topic: str, seed: int, count: int) -> list[datetime]:
    """Sorted publish times over `SPAN`; a payment is published minutes after the order it pays."""
    shared = "orders" if topic == "payments" else topic
    rng = random.Random(f"{seed}:{shared}:times")  # nosec B311  # seeded demo data, not security
    times = sorted(START + SPAN * rng.random() for _ in range(count))
    if topic == "payments":
        times = [t + timedelta(seconds=rng.randint(20, 900)) for t in times]
    return times


def _envelope(message_id: str | None, publish_time: datetime, payload: Any) -> str:
    doc: dict[str, Any] = {} if message_id is None else {"message_id": message_id}
    doc.update(publish_time=_iso(publish_time), payload=payload)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def _base(rng: random.Random, topic: str, user: dict, at: datetime, event_type: str, verb: str) -> dict:
    """The key fields every topic carries (design: event.*, sessionId, _metadata.*)."""
    return {
        "event": {
            "timestamp": _iso(at),
            "userId": user["id"],
            "eventType": event_type,
            "verb": verb,
            "metadata": {"ipAddress": user["ip"], "deviceId": rng.choice(user["devices"]),
                         "userAgent": user["agent"]},
        },
        "sessionId": f"sess-{_stable(user['id'], at.strftime('%Y%m%d%H'))}",
        "_metadata": {"idempotencyKeyResource": f"{topic}:{_uuid(rng)}", "producer": "acme-gateway",
                      "schemaVersion": "1.4"},
    }


def _iot_event(rng: random.Random, seed: int, n: int, population: list[dict], at: datetime) -> dict:
    user = rng.choice(population)
    kind = rng.choices(("telemetry", "alert", "status", "firmware", "command"), (70, 8, 10, 4, 8))[0]
    if kind == "telemetry":
        payload = _base(rng, "events", user, at, "device.telemetry", "reported")
        payload["event"]["reading"] = {"temperatureC": round(rng.gauss(21.0, 2.5), 1),
                                       "humidityPct": round(rng.uniform(30, 65), 1),
                                       "batteryPct": rng.randint(5, 100)}
    elif kind == "alert":
        payload = _base(rng, "events", user, at, "device.alert", "raised")
        payload["event"]["alert"] = {"code": rng.choice(("LOW_BATTERY", "OFFLINE", "TAMPER", "OVERHEAT")),
                                     "severity": rng.choice(("info", "warning", "critical"))}
    elif kind == "status":
        payload = _base(rng, "events", user, at, "device.status", "changed")
        payload["event"]["status"] = dict(zip(("from", "to"), rng.sample(("online", "offline", "sleep"), 2)))
    elif kind == "firmware":
        payload = _base(rng, "events", user, at, "device.firmware", "updated")
        payload["event"]["firmware"] = {"from": "2.4.0", "to": "2.4.1", "durationMs": rng.randint(8000, 90000)}
    else:
        payload = _base(rng, "events", user, at, "user.command", "sent")
        payload["event"]["command"] = {"name": rng.choice(("setTemperature", "arm", "disarm", "reboot")),
                                       "args": [round(rng.uniform(17, 24), 1)] if rng.random() < 0.5 else []}
    if rng.random() < 0.15:  # only some devices report a location
        payload["event"]["metadata"]["geo"] = {"lat": round(rng.uniform(47, 55), 4),
                                               "lon": round(rng.uniform(6, 15), 4)}
    return payload


def _order_event(rng: random.Random, seed: int, n: int, population: list[dict], at: datetime) -> dict:
    placed = order(seed, n, population)
    payload = _base(rng, "orders", placed["user"], at, "order.placed", "placed")
    payload["order"] = {"id": placed["id"], "status": "PLACED", "amount": placed["amount"],
                        "currency": placed["currency"], "itemCount": len(placed["items"]),
                        "items": placed["items"],
                        "shipping": {"country": rng.choice(("DE", "AT", "NL", "FR", "GB")),
                                     "postalCode": f"{rng.randint(10000, 99999)}"}}
    return payload


def _payment_event(rng: random.Random, seed: int, n: int, population: list[dict], at: datetime) -> dict:
    paid = order(seed, n, population)
    status = rng.choices(("CAPTURED", "AUTHORIZED", "DECLINED"), (85, 10, 5))[0]
    payload = _base(rng, "payments", paid["user"], at, "payment." + status.lower(), status.lower())
    method = rng.choice(("card", "card", "paypal", "sepa_debit", "apple_pay"))
    payload["payment"] = {"id": f"pay-{_uuid(rng)[:13]}", "orderId": paid["id"], "method": method,
                          "status": status, "amount": paid["amount"], "currency": paid["currency"]}
    if method == "card":
        payload["payment"]["card"] = {"brand": rng.choice(("visa", "mastercard", "amex")),
                                      "last4": f"{rng.randint(0, 9999):04d}"}
    return payload


def _click_event(rng: random.Random, seed: int, n: int, population: list[dict], at: datetime) -> dict:
    user = rng.choice(population)
    payload = _base(rng, UNSCHEMED_TOPIC, user, at, "ui.click", "clicked")
    payload["page"] = {"url": rng.choice(("/", "/devices", "/shop", "/shop/cart", "/settings")),
                       "referrer": rng.choice(("", "https://www.example.com/", "/"))}
    payload["element"] = {"id": rng.choice(("buy", "add-to-cart", "menu", "device-card")),
                          "x": rng.randint(0, 1280), "y": rng.randint(0, 800)}
    return payload


PAYLOADS: dict[str, Callable[[random.Random, int, int, list[dict], datetime], dict]] = {
    "events": _iot_event, "orders": _order_event, "payments": _payment_event, UNSCHEMED_TOPIC: _click_event,
}


def _parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def _corrected(rng: random.Random, payload: dict, at: datetime) -> dict:
    """The app corrects an event: same idempotency key, event.timestamp `at` (later), a changed field."""
    fixed = json.loads(json.dumps(payload))
    fixed["event"]["timestamp"] = _iso(at)
    fixed["event"]["verb"] = "corrected"
    if "order" in fixed:
        fixed["order"]["status"] = rng.choice(("CANCELLED", "CONFIRMED"))
    elif "payment" in fixed:
        fixed["payment"]["status"] = "REFUNDED"
    elif "reading" in fixed["event"]:
        fixed["event"]["reading"]["temperatureC"] = round(fixed["event"]["reading"]["temperatureC"] + 0.1, 1)
    return fixed


def _older_version(rng: random.Random, payload: dict) -> dict:
    """A version the app wrote BEFORE `payload` (older event.timestamp) that the network delivers late."""
    older = json.loads(json.dumps(payload))
    at = _parse_iso(older["event"]["timestamp"])
    older["event"]["timestamp"] = _iso(at - timedelta(seconds=rng.randint(30, 3600)))
    if "order" in older:
        older["order"]["status"] = "DRAFT"
    elif "payment" in older:
        older["payment"]["status"] = "PENDING"
    elif "reading" in older["event"]:
        older["event"]["reading"]["batteryPct"] = min(100, older["event"]["reading"]["batteryPct"] + 1)
    return older


def _without_cde(rng: random.Random, payload: dict) -> dict:
    """A critical data element (cde: true in every demo schema) is missing or null; nothing else is wrong."""
    broken = json.loads(json.dumps(payload))
    choices = ["no userId", "null userId", "null timestamp", "no timestamp"]
    choices += ["no order id"] if "order" in broken else ["null payment id"] if "payment" in broken else []
    kind = rng.choice(choices)
    if kind == "no userId":
        del broken["event"]["userId"]
    elif kind == "null userId":
        broken["event"]["userId"] = None
    elif kind == "null timestamp":
        broken["event"]["timestamp"] = None
    elif kind == "no timestamp":
        del broken["event"]["timestamp"]
    elif kind == "no order id":
        del broken["order"]["id"]
    else:
        broken["payment"]["id"] = None
    return broken


def _bad_cast(rng: random.Random, payload: dict) -> dict:
    """One declared typed field holds text its type does not accept; nothing else is wrong."""
    broken = json.loads(json.dumps(payload))
    choices = ["timestamp"]  # the only typed field every event has; the others twice as likely
    if "reading" in broken["event"]:
        choices += ["temperature", "battery"] * 2
    if "order" in broken:
        choices += ["order amount", "item count"] * 2
    if "payment" in broken:
        choices += ["payment amount"] * 2
    kind = rng.choice(choices)
    if kind == "timestamp":
        broken["event"]["timestamp"] = rng.choice(("yesterday", "19/01/2026 10:15", "now"))
    elif kind == "temperature":
        broken["event"]["reading"]["temperatureC"] = rng.choice(("warm", "21,5 °C"))
    elif kind == "battery":
        broken["event"]["reading"]["batteryPct"] = rng.choice(("101%", "full"))
    elif kind == "item count":
        broken["order"]["itemCount"] = "three"
    else:  # a European decimal comma
        section = broken["order" if kind == "order amount" else "payment"]
        section["amount"] = f"{section['amount']:.2f}".replace(".", ",")
    return broken


def _not_an_envelope(rng: random.Random, at: datetime, payload: dict) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return rng.choice(("<html><body>502 Bad Gateway</body></html>", "GET /healthz HTTP/1.1",
                           "Traceback (most recent call last):"))
    if kind == 1:
        return _envelope(None, at, payload)  # the producer forgot the message id
    line = _envelope(_uuid(rng), at, payload)
    return line[: len(line) // 2]  # the connection dropped mid-line


def _how_many(count: int, rate: float) -> int:
    if rate <= 0:
        return 0
    return max(1, round(count * rate)) if count >= 50 else round(count * rate)


def topic_lines(topic: str, seed: int, count: int, injected: collections.Counter | None = None,
                rates: dict[str, float] | None = None) -> Iterator[str]:
    """Yield the NDJSON envelope lines of one topic; deterministic for (topic, seed, count, rates).

    Each event gets at most one payload fault (broken JSON, non-object, CDE violation, bad cast) or
    one app re-send (a correction, a late older version), so `expected_counts` is exact. Network
    duplicates and non-envelope lines come on top of any event: a duplicate is dropped before
    Curated sees it, a non-envelope line is an extra line.

    Args:
        topic: one of `PAYLOADS` (events, orders, payments, clicks).
        seed: demo seed.
        count: distinct events to generate (injected lines come on top).
        injected: filled with how many of each kind in `INJECTED_KINDS` were injected.
        rates: share of `count` per injected kind; default `RATES`.

    Yields:
        One line per envelope (or per injected non-envelope), without the newline.
    """
    rates = RATES if rates is None else rates
    injected = collections.Counter() if injected is None else injected
    rng = random.Random(f"{seed}:{topic}")  # nosec B311  # seeded demo data, not security
    make = PAYLOADS[topic]
    population = users(seed, count)
    times = publish_times(topic, seed, count)

    pool = list(range(count))

    def pick(kind: str) -> set[int]:  # disjoint events per payload kind
        nonlocal pool
        chosen = set(rng.sample(pool, min(len(pool), _how_many(count, rates.get(kind, 0)))))
        pool = [i for i in pool if i not in chosen]
        return chosen

    broken, non_object, corrections, late_versions, cde_violations, bad_casts = (
        pick(kind) for kind in ("broken_json", "non_object", "corrections", "late_versions", "cde_violations",
                                "bad_casts"))
    next_day = set(rng.sample(sorted(corrections),
                              min(len(corrections), max(1, round(len(corrections) * NEXT_DAY_SHARE)))))
    duplicates = set(rng.sample(range(count), min(count, _how_many(count, rates.get("duplicates", 0)))))
    garbage = set(rng.sample(range(count), min(count, _how_many(count, rates.get("non_envelope", 0)))))

    later: dict[int, list[str]] = collections.defaultdict(list)  # index -> lines sent after that message
    for i, published in enumerate(times):
        payload = make(rng, seed, i, population, published - timedelta(milliseconds=rng.randint(20, 5000)))
        if i in garbage:
            injected["non_envelope"] += 1
            yield _not_an_envelope(rng, published, payload)
        if i in broken:
            text = json.dumps(payload, separators=(",", ":"))
            body: Any = text[: rng.randint(len(text) // 4, len(text) - 2)]
            injected["broken_json"] += 1
        elif i in non_object:
            body = rng.choice(([payload["event"]["timestamp"], payload["event"]["userId"]], 42, 3.14))
            injected["non_object"] += 1
        else:
            if i in cde_violations:
                payload = _without_cde(rng, payload)
                injected["cde_violations"] += 1
            elif i in bad_casts:
                payload = _bad_cast(rng, payload)
                injected["bad_casts"] += 1
            # some producers send the JSON as text
            body = json.dumps(payload, separators=(",", ":")) if rng.random() < 0.05 else payload
        line = _envelope(_uuid(rng), published, body)
        yield line
        if i in duplicates:
            later[i + rng.randint(1, 25)].append(line)
            injected["duplicates"] += 1
        if i in corrections:
            if i in next_day:  # the app fixes it the next day (or later): another publish_time partition
                sent = published + timedelta(days=1, seconds=rng.randint(0, 6 * 3600))
                slot = max(i + 1, bisect.bisect_left(times, sent))
            else:
                sent = published + timedelta(seconds=rng.randint(5, 900))
                slot = i + rng.randint(1, 200)
            fixed = _corrected(rng, payload, sent - timedelta(milliseconds=rng.randint(20, 5000)))
            later[slot].append(_envelope(_uuid(rng), sent, fixed))
            injected["corrections"] += 1
            injected["corrections_next_day"] += sent.date() > published.date()
        if i in late_versions:
            older = _older_version(rng, payload)
            later[i + rng.randint(1, 200)].append(
                _envelope(_uuid(rng), published + timedelta(seconds=rng.randint(5, 900)), older))
            injected["late_versions"] += 1
        yield from later.pop(i, ())
    for i in sorted(later):
        yield from later[i]


# --------------------------------------------------------------------------------------------
# Runner: fresh home -> ingest -> run -> accountability
# --------------------------------------------------------------------------------------------

DEMO_MARKER = ".leanops-demo-home"  # only homes carrying this file are ever deleted by the demo


def _fresh_home(home: Path) -> None:
    """Delete `home` when the demo built it (marker file) or it is empty; refuse anything else.

    A real deployment is never a demo home, so `leanops demo --home <your home>` cannot wipe it.
    """
    if home.is_symlink() or (home.exists() and not home.is_dir()):
        raise LeanOpsError(f"{home} exists and is not a directory; choose another --home")
    if home.is_dir():
        if not (home / DEMO_MARKER).is_file() and any(home.iterdir()):
            raise LeanOpsError(f"{home} exists and was not built by `leanops demo`; "
                               "refusing to delete it, choose another --home")
        shutil.rmtree(home)
    home.mkdir(parents=True)
    (home / DEMO_MARKER).write_text("built by `leanops demo`; the next demo run deletes this directory\n")


def _install_schemas(target: Path) -> list[str]:
    """Copy the packaged example schema files to `target`; returns the topics they cover."""
    target.mkdir(parents=True, exist_ok=True)
    source = resources.files("leanops").joinpath("examples", "schemas")
    topics = []
    for item in sorted(source.iterdir(), key=lambda t: t.name):
        if item.name.endswith(".json"):
            (target / item.name).write_bytes(item.read_bytes())
            topics.append(item.name[: -len(".json")])
    return topics


def expected_counts(injected: collections.Counter | dict, count: int) -> dict[str, int]:
    """Where the generator's lines must end up (the demo checks the pipeline against it).

    The injected kinds are disjoint per event (`topic_lines`), so every figure is exact:
      raw / dlq              envelopes accepted / lines rejected at ingestion
      duplicates             network duplicates Standardized drops (the first copy goes on)
      parse_errors           payloads that are not JSON objects
      standardized_rows      rows written to standardized.<topic> (= what Curated reads)
      curated_errors         CDE violations + bad casts -> curated.errors
      superseded             versions that lose latest-wins: the original of each correction, and
                             each late older version
      curated_rows           live rows in curated.<topic>: one per valid idempotency key
    """
    parse_errors = injected["broken_json"] + injected["non_object"]
    resent = injected["corrections"] + injected["late_versions"]
    curated_errors = injected["cde_violations"] + injected["bad_casts"]
    return {"raw": count + resent + injected["duplicates"], "dlq": injected["non_envelope"],
            "duplicates": injected["duplicates"], "parse_errors": parse_errors,
            "standardized_rows": count + resent - parse_errors, "curated_errors": curated_errors,
            "superseded": resent, "curated_rows": count - parse_errors - curated_errors}


def run_demo(home: Path, seed: int = 7, events: int = 2000, quiet: bool = False) -> dict:
    """Rebuild `home`, generate and ingest the demo topics, run the pipeline once, check accountability.

    Args:
        home: demo home; deleted and rebuilt (refused when it is not a lean-ops home).
        seed: random seed; the same seed gives the same input lines.
        events: events per schema'd topic (clicks gets a quarter of it).
        quiet: print nothing (for `--json`).

    Returns:
        JSON-serialisable summary: home, topics (generated, injected, ingest, expected, whether the schema
        has no semantic layer by design), runs, the alerts the run raised (collected, not logged: the demo
        prints them as notes), accountability and `accountable` (every account adds up and no topic run
        failed).
    """
    from leanops.context import Context
    from leanops.ingest import ingest_stream
    from leanops.orchestrate.alerts import Fanout
    from leanops.orchestrate.cycle import run_cycle
    from leanops.stages.accountability import topic_accounts
    from leanops.types import RunStatus

    if events < 1:
        raise LeanOpsError(f"--events must be at least 1, got {events}")
    home = Path(home).absolute()
    _fresh_home(home)
    schema_topics = _install_schemas(home / "schemas")
    inputs = home / "input"
    inputs.mkdir()
    plan = {topic: events for topic in SCHEMA_TOPICS} | {UNSCHEMED_TOPIC: max(1, events // 4)}

    ctx = Context.open(home, home / "schemas")
    try:
        topics: dict[str, dict] = {}
        with _status(quiet, "generating and ingesting") as status:
            for topic, count in plan.items():
                status.update(f"generating and ingesting [bold]{topic}[/bold]")
                injected: collections.Counter = collections.Counter()
                rates = RATES if topic in schema_topics else NO_FAULTS
                path = inputs / f"{topic}.ndjson"
                with path.open("w", encoding="utf-8") as out:
                    for line in topic_lines(topic, seed, count, injected, rates):
                        out.write(line + "\n")
                with path.open("rb") as stream:
                    report = ingest_stream(ctx.lake, ctx.state, ctx.settings, topic, stream, str(path))
                schema = ctx.schema(topic)
                topics[topic] = {"generated": count, "schema": topic in schema_topics,
                                 "no_semantic_by_design": bool(schema and schema.no_semantic_by_design),
                                 "injected": {k: injected[k] for k in INJECTED_KINDS},
                                 "expected": expected_counts(injected, count),
                                 "ingest": {"lines_read": report.lines_read, "accepted": report.accepted,
                                            "rejected": report.rejected, "reasons": report.reasons}}
            status.update("running the pipeline")
            # alerts are collected, not logged: the expected ones (clicks has no schema) are the summary's notes
            cycle = run_cycle(ctx, notifier=Fanout([]))
            accounts = [a for t in ctx.topics() for a in topic_accounts(ctx.lake, t)]
    finally:
        ctx.close()

    failed = [o.topic for o in cycle.outcomes if o.status == RunStatus.FAILED]
    summary = {
        "home": str(home),
        "seed": seed,
        "topics": topics,
        "runs": [o.as_dict() for o in cycle.outcomes],
        "alerts": [a.as_dict() for a in cycle.alerts],
        "accountability": [a.as_dict() for a in accounts],
        "failed_topics": failed,
        "accountable": all(a.ok for a in accounts) and not failed,
    }
    if not quiet:
        _print(summary)
    return summary


class _NoStatus:
    def __enter__(self) -> "_NoStatus":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *args: object, **kwargs: object) -> None:
        return None


def _status(quiet: bool, message: str):
    from leanops.cli.output import console
    return _NoStatus() if quiet else console.status(message)


# --------------------------------------------------------------------------------------------
# Printing (rich tables built here: the cells carry styles, and every table fits 80 columns)
# --------------------------------------------------------------------------------------------

# (label, injected kind, where the design says it must land)
FAULT_ROWS = (
    ("network duplicates", "duplicates", "dropped"),
    ("non-envelope lines", "non_envelope", "raw.dlq_errors"),
    ("broken JSON", "broken_json", "parse_errors"),
    ("non-object payloads", "non_object", "parse_errors"),
    ("app corrections", "corrections", "original superseded"),
    ("  on a later day", "corrections_next_day", "original superseded"),
    ("late older versions", "late_versions", "superseded"),
    ("CDE missing/null", "cde_violations", "curated.errors"),
    ("uncastable values", "bad_casts", "curated.errors"),
)
STATUS_STYLE = {"SUCCEEDED": "green", "FAILED": "bold red", "SKIPPED": "yellow"}
STAGES = ("standardized", "curated", "semantic")  # the layers after RAW, in flow order


def _table(title: str, columns: tuple[str, ...], rows: list[tuple | None], numeric: range):
    """A compact table: a rule under the header, two spaces between columns, `numeric` columns right-aligned.

    A `None` row starts a new section (a blank line).
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    for index, name in enumerate(columns):
        table.add_column(name, justify="right" if index in numeric else "left", overflow="fold")
    for row in rows:
        if row is None:
            table.add_section()
            continue
        table.add_row(*[cell if isinstance(cell, Text) else Text("" if cell is None else str(cell)) for cell in row])
    return table


def _styled(text: str, style: str | None):
    from rich.text import Text
    return Text(text, style=style or "")


def layers_run(summary: dict) -> str:
    """"RAW -> Standardized -> Curated -> Semantic": every layer the demo's run wrote, in flow order."""
    ran = {stage["stage"] for run in summary["runs"] for stage in run["stages"]}
    return " -> ".join(["RAW", *(stage.capitalize() for stage in STAGES if stage in ran)])


def shell_setup() -> tuple[list[tuple[str, str]], str]:
    """How a new shell reaches the lean-ops this demo ran: the lines to run there first (with why), and the
    command that calls `leanops`.

    A virtual environment (scripts/demo.sh makes ./.venv) is activated by its own script; a `leanops`
    found on PATH outside one is called by its full path; a lean-ops found through PYTHONPATH needs it too.
    """
    import leanops

    setup: list[tuple[str, str]] = []
    prefix = Path(sys.prefix)
    if sys.prefix != sys.base_prefix and (prefix / "bin" / "activate").is_file():
        setup.append((f"source {shlex.quote(str(prefix / 'bin' / 'activate'))}",
                      "once per shell: the virtual environment lean-ops is installed in"))
        command = "leanops" if (prefix / "bin" / "leanops").is_file() else "python -m leanops.cli.main"
    else:
        found = shutil.which("leanops")
        command = shlex.quote(found) if found else f"{shlex.quote(sys.executable)} -m leanops.cli.main"
    package_parent = Path(leanops.__file__).resolve().parent.parent
    pythonpath = os.environ.get("PYTHONPATH", "")
    if any(Path(entry).resolve() == package_parent for entry in pythonpath.split(os.pathsep) if entry):
        setup.append((f"export PYTHONPATH={shlex.quote(pythonpath)}", "once per shell: this lean-ops is "
                                                                        "found through PYTHONPATH"))
    return setup, command


def try_next(summary: dict) -> list[tuple[str, str]]:
    """The commands the demo suggests, each with why, ready to paste in a new shell (setup lines first)."""
    setup, leanops = shell_setup()
    home = Path(summary["home"])
    at = f"--home {shlex.quote(str(home))}"
    return setup + [
        (f"{leanops} accountability {at}", "the accountability table again (exit 1 below 100%)"),
        (f"{leanops} sql {at} \"SELECT topic_name, column_name, reason, count(*) AS n "  # nosec B608  # a command printed for the user
         "FROM curated.errors GROUP BY ALL ORDER BY ALL\"",
         "the CDE violations and bad casts by column and reason (drop GROUP BY for the values)"),
        (f"{leanops} drift {at}", "the curated columns the semantic schema of events does not publish"),
        (f"{leanops} run --once {at} --schemas {shlex.quote(str(home / 'schemas'))}",
         "a second run: nothing new, nothing lost"),
        (f"echo '{{\"topic\": \"{UNSCHEMED_TOPIC}\", \"standardized\": {{}}}}' > "
         f"{shlex.quote(str(home / 'schemas' / f'{UNSCHEMED_TOPIC}.json'))}",
         f"open the schema gate for {UNSCHEMED_TOPIC}, then run again"),
        (f"{leanops} ingest --topic events {at} {shlex.quote(str(home / 'input' / 'events.ndjson'))}",
         "re-send the whole events file, run again: every line is dropped as a duplicate"),
    ]


def _notes(summary: dict) -> list[str]:
    """What the run table cannot say, as information: why a topic stopped where it did, the alerts a
    deployment would have sent (the demo collects them), the topics without a semantic layer by design."""
    alerts = collections.defaultdict(list)
    for alert in summary["alerts"]:
        alerts[alert["topic"]].append(alert)
    notes = []
    for run in summary["runs"]:
        sent = alerts.pop(run["topic"], [])
        if run["message"]:  # the alert says what the message says: name it only
            notes.append(f"  {run['topic']}: {run['message']}")
            notes += [f"    alert {a['kind']}: a deployment sends it to its alert channels" for a in sent]
        else:
            notes += [f"  {run['topic']}: alert {a['kind']}: {a['reason']}" for a in sent]
    notes += [f"  {topic}: alert {a['kind']}: {a['reason']}" for topic, sent in alerts.items() for a in sent]
    by_design = [topic for topic, data in summary["topics"].items() if data.get("no_semantic_by_design")]
    if by_design:
        notes.append(f"  {', '.join(by_design)}: no semantic layer, by design (\"semantic\": null in the schema "
                     "file)")
    return notes


def _print(summary: dict) -> None:
    from rich.markup import escape

    from leanops.cli.output import console

    topics, home = summary["topics"], summary["home"]
    names = list(topics)
    layers = layers_run(summary)
    console.print(f"[bold]lean-ops demo[/bold]: {layers}, on a fresh home at {escape(home)} "
                  f"(seed {summary['seed']})\n", highlight=False)

    header = ("", *(t if topics[t]["schema"] else f"{t}*" for t in names), "must land in")
    rows: list = [("events generated", *(topics[t]["generated"] for t in names), "")]
    rows += [(label, *(topics[t]["injected"][kind] for t in names), where) for label, kind, where in FAULT_ROWS]
    rows += [None, ("RAW rows (accepted)", *(topics[t]["ingest"]["accepted"] for t in names), ""),
             ("DLQ rows (rejected)", *(topics[t]["ingest"]["rejected"] for t in names), "")]
    console.print(_table("1. generated, faults injected, ingested", header, rows, range(1, len(header) - 1)))
    console.print("[dim]  * no schema file: its data waits in RAW\n"
                  "  a correction: same idempotency key, later event timestamp (latest wins)\n"
                  "  a late older version: arrives after the newer one, loses, never overwrites[/dim]\n",
                  highlight=False)

    rows = []
    for run in summary["runs"]:
        if rows:
            rows.append(None)
        if not run["stages"]:
            rows.append((run["topic"], "", _styled(run["status"].lower(), STATUS_STYLE.get(run["status"]))))
        for n, stage in enumerate(run["stages"]):
            curated = stage["stage"] == "curated"
            rows.append((run["topic"] if n == 0 else "", stage["stage"].capitalize(),
                         _styled("ok" if stage["status"] == "SUCCEEDED" else stage["status"].lower(),
                                 STATUS_STYLE.get(stage["status"])),
                         stage["records_in"], stage["records_written"], stage["records_errors"],
                         "" if curated else stage["records_duplicates"],
                         stage["records_superseded"] if curated else "", len(stage["columns_added"]) or ""))
    console.print(_table(f"2. pipeline run ({layers})",
                         ("topic", "stage", "status", "in", "written", "errors", "dups", "superseded", "+cols"),
                         rows, range(3, 9)))
    notes = [escape(note) for note in _notes(summary)] + ["  [dim]+cols: columns the run added to the table[/dim]"]
    console.print("\n".join(notes), highlight=False)
    console.print()

    rows, previous = [], None
    for a in summary["accountability"]:
        if previous is not None and a["topic"] != previous:
            rows.append(None)
        layer = a["layer"]
        rows.append(("" if a["topic"] == previous else a["topic"], layer, a["records_in"], a["written"], a["errors"],
                     a["duplicates"] if layer == "standardized" or a["duplicates"] else "",
                     a["superseded"] if layer == "curated" or a["superseded"] else "",
                     a["pending"] if layer != "ingestion" or a["pending"] else "", _percent_cell(a)))
        previous = a["topic"]
    console.print(_table("3. accountability (in = written + errors + dups + superseded)",
                         ("topic", "layer", "in", "written", "errors", "dups", "superseded", "pending", "%"),
                         rows, range(2, 9)))
    console.print("[dim]  written: rows in the layer's table (Curated: live rows, one per key)\n"
                  "  pending: rows not consumed yet (no schema file yet, or the next run)[/dim]", highlight=False)

    console.print(_verdict(summary), highlight=False)
    console.print("\n[bold]Try next[/bold] (in a new shell too: paste the lines in order)", highlight=False)
    for command, why in try_next(summary):
        console.print(f"  [cyan]{escape(command)}[/cyan]\n      {escape(why)}", highlight=False, soft_wrap=True,
                      markup=True)


def _percent_cell(account: dict):
    value = "n/a" if account["percent"] is None else f"{account['percent']:.2f}"
    return _styled(value, "green" if account["ok"] else "bold red")


def _mark(ok: bool) -> str:
    return "[green]✓[/green]" if ok else "[red]✗[/red]"


def _verdict(summary: dict) -> str:
    """Per topic: did every injected fault land where it should, in every layer? (fits 80 columns)"""
    found = {(a["topic"], a["layer"]): a for a in summary["accountability"]}
    lines = []
    for topic, data in summary["topics"].items():
        want = data["expected"]
        std = found.get((topic, "standardized"), {})
        ing = found.get((topic, "ingestion"), {})
        cur = found.get((topic, "curated"), {})
        if not data["schema"]:
            ok = std.get("pending") == want["raw"]
            lines.append(f"  {_mark(ok)} {topic}: no schema file, {std.get('pending', 0)} of {want['raw']} rows "
                         "wait in RAW")
            continue
        checks = [  # (got, expected, what), in layer order
            (ing.get("errors"), want["dlq"], "non-envelopes -> DLQ"),
            (std.get("duplicates"), want["duplicates"], "duplicates dropped"),
            (std.get("errors"), want["parse_errors"], "bad payloads -> parse_errors"),
            (cur.get("superseded"), want["superseded"], "older versions superseded"),
            (cur.get("errors"), want["curated_errors"], "CDE/cast errors -> curated.errors"),
            (cur.get("written"), want["curated_rows"], "live rows"),
        ]
        hidden = [(ing.get("written"), want["raw"]), (std.get("written"), want["standardized_rows"])]
        ok = all(got == expected for got, expected, _ in checks) and all(g == e for g, e in hidden)
        said = [f"[{'green' if got == expected else 'bold red'}]{got}/{expected}[/] {what}"
                for got, expected, what in checks]
        lines.append(f"  {_mark(ok)} {topic}: {said[0]}, {said[1]},\n      {said[2]}, {said[3]},\n"
                     f"      {said[4]}, {said[5]}")
    head = ("[bold green]100% accountable[/bold green]: every record is written, an error row, a dropped "
            "duplicate\nor a superseded version" if summary["accountable"]
            else "[bold red]NOT accountable[/bold red]: see the tables above")
    return "\n" + head + "\n" + "\n".join(lines)
