"""`leanops demo`: a fresh deployment, realistic events with injected faults, one pipeline run.

What it shows, end to end on a laptop:
  - three topics with schema files (`events`, `orders`, `payments`) flow RAW -> Standardized;
  - a fourth topic, `clicks`, has data but no schema file: its data lands in RAW and waits there;
  - every injected fault ends up where the design says it must: network duplicates are dropped by
    Standardized, broken JSON and non-object payloads go to `standardized.parse_errors`, lines that
    are not envelopes go to `raw.dlq_errors`;
  - accountability adds up to 100% per topic and layer, computed from the tables themselves.

Two parts: a generator (pure functions of the seed that yield NDJSON lines and count what they
inject) and a runner (`run_demo`) that builds the home, ingests, runs and reports.

    summary = run_demo(Path(".leanops-demo"), seed=7, events=2000, quiet=False)
"""
from __future__ import annotations

import collections
import hashlib
import json
import random
import shutil
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

# Share of `count` per injected kind. At least one of each kind once a topic has 50 events.
RATES = {
    "duplicates": 0.03,     # the same line re-sent a few messages later (network duplicate)
    "broken_json": 0.01,    # payload is a string of truncated JSON text
    "non_object": 0.005,    # payload is a JSON array or number
    "non_envelope": 0.005,  # garbage text, an envelope without message_id, a cut-off line
    "corrections": 0.02,    # the app re-sends an event with a new message_id and a later timestamp
}
NO_FAULTS = dict.fromkeys(RATES, 0.0)
INJECTED_KINDS = tuple(RATES)

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
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()[:12]


def users(seed: int, count: int) -> list[dict]:
    """The user population shared by every topic: id, devices, user agent, IP address.

    Args:
        seed: demo seed.
        count: events per topic; the population grows with it (10..500 users).
    """
    rng = random.Random(f"{seed}:users")
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
    rng = random.Random(f"{seed}:order:{n}")
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
    rng = random.Random(f"{seed}:{shared}:times")
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


def _corrected(rng: random.Random, payload: dict) -> dict:
    """The app corrects an event: same idempotency key, a later event.timestamp, a changed field."""
    fixed = json.loads(json.dumps(payload))
    at = datetime.strptime(fixed["event"]["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    fixed["event"]["timestamp"] = _iso(at + timedelta(seconds=rng.randint(5, 900)))
    fixed["event"]["verb"] = "corrected"
    if "order" in fixed:
        fixed["order"]["status"] = rng.choice(("CANCELLED", "CONFIRMED"))
    elif "payment" in fixed:
        fixed["payment"]["status"] = "REFUNDED"
    elif "reading" in fixed["event"]:
        fixed["event"]["reading"]["temperatureC"] = round(fixed["event"]["reading"]["temperatureC"] + 0.1, 1)
    return fixed


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
    rng = random.Random(f"{seed}:{topic}")
    make = PAYLOADS[topic]
    population = users(seed, count)
    times = publish_times(topic, seed, count)

    indices = list(range(count))
    broken = set(rng.sample(indices, min(count, _how_many(count, rates.get("broken_json", 0)))))
    rest = [i for i in indices if i not in broken]
    non_object = set(rng.sample(rest, min(len(rest), _how_many(count, rates.get("non_object", 0)))))
    valid = [i for i in rest if i not in non_object]
    corrections = set(rng.sample(valid, min(len(valid), _how_many(count, rates.get("corrections", 0)))))
    duplicates = set(rng.sample(indices, min(count, _how_many(count, rates.get("duplicates", 0)))))
    garbage = set(rng.sample(indices, min(count, _how_many(count, rates.get("non_envelope", 0)))))

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
        elif rng.random() < 0.05:
            body = json.dumps(payload, separators=(",", ":"))  # some producers send the JSON as text
        else:
            body = payload
        line = _envelope(_uuid(rng), published, body)
        yield line
        if i in duplicates:
            later[i + rng.randint(1, 25)].append(line)
            injected["duplicates"] += 1
        if i in corrections:
            fixed = _corrected(rng, payload)
            later[i + rng.randint(1, 200)].append(
                _envelope(_uuid(rng), published + timedelta(seconds=rng.randint(5, 900)), fixed))
            injected["corrections"] += 1
        yield from later.pop(i, ())
    for i in sorted(later):
        yield from later[i]


# --------------------------------------------------------------------------------------------
# Runner: fresh home -> ingest -> run -> accountability
# --------------------------------------------------------------------------------------------

DEMO_MARKER = ".leanops-demo-home"  # only homes carrying this file are ever deleted by the demo


def _percent_cell(account: dict) -> str:
    value = "n/a" if account["percent"] is None else f"{account['percent']:.2f}"
    return f"[green]{value}[/green]" if account["ok"] else f"[red]{value}[/red]"


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


def _expected(injected: collections.Counter, count: int) -> dict[str, int]:
    """Where the generator's lines must end up (the demo checks the pipeline against it)."""
    envelopes = count + injected["corrections"] + injected["duplicates"]
    return {"raw": envelopes, "dlq": injected["non_envelope"], "duplicates": injected["duplicates"],
            "parse_errors": injected["broken_json"] + injected["non_object"]}


def run_demo(home: Path, seed: int = 7, events: int = 2000, quiet: bool = False) -> dict:
    """Rebuild `home`, generate and ingest the demo topics, run the pipeline once, check accountability.

    Args:
        home: demo home; deleted and rebuilt (refused when it is not a lean-ops home).
        seed: random seed; the same seed gives the same input lines.
        events: events per schema'd topic (clicks gets a quarter of it).
        quiet: print nothing (for `--json`).

    Returns:
        JSON-serialisable summary: home, topics (generated, injected, ingest, expected), runs,
        accountability and `accountable` (every account adds up and no topic run failed).
    """
    from leanops.context import Context
    from leanops.ingest import ingest_stream
    from leanops.runner import run_once
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
                topics[topic] = {"generated": count, "schema": topic in schema_topics,
                                 "injected": {k: injected[k] for k in INJECTED_KINDS},
                                 "expected": _expected(injected, count),
                                 "ingest": {"lines_read": report.lines_read, "accepted": report.accepted,
                                            "rejected": report.rejected, "reasons": report.reasons}}
            status.update("running RAW -> Standardized")
            outcomes = run_once(ctx)
            accounts = [a for t in ctx.topics() for a in topic_accounts(ctx.lake, t)]
    finally:
        ctx.close()

    failed = [o.topic for o in outcomes if o.status == RunStatus.FAILED]
    summary = {
        "home": str(home),
        "seed": seed,
        "topics": topics,
        "runs": [o.as_dict() for o in outcomes],
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
# Printing
# --------------------------------------------------------------------------------------------

def _print(summary: dict) -> None:
    from leanops.cli.output import console, emit_table

    topics, home = summary["topics"], summary["home"]
    console.print(f"[bold]lean-ops demo[/bold]: fresh home at {home} (seed {summary['seed']})\n", highlight=False)
    emit_table("1. generated and ingested", (
        "topic", "events", "fixes", "dups", "broken", "non-obj", "non-env", "RAW", "DLQ"),
        [(t if d["schema"] else f"{t}[yellow]*[/yellow]", d["generated"],
          *(d["injected"][k] for k in ("corrections", "duplicates", "broken_json", "non_object", "non_envelope")),
          d["ingest"]["accepted"], d["ingest"]["rejected"]) for t, d in topics.items()])
    console.print("[dim]fixes: app corrections (new message_id, same idempotency key, later timestamp); "
                  "dups: the same line re-sent; broken: payload is truncated JSON text; non-obj: payload is "
                  "an array or a number; non-env: a line that is no envelope (garbage, no message_id, "
                  "cut off); [yellow]*[/yellow] no schema file[/dim]\n", highlight=False)

    rows, notes = [], []
    for run in summary["runs"]:
        stage = run["stages"][0] if run["stages"] else {}
        rows.append((run["topic"], _status_text(run["status"]), stage.get("records_in", ""),
                     stage.get("records_written", ""), stage.get("records_errors", ""),
                     stage.get("records_duplicates", ""), len(stage.get("columns_added", [])) or ""))
        if run["message"]:
            notes.append(f"  {run['topic']}: {run['message']}")
    emit_table("2. pipeline run (RAW -> Standardized)",
               ("topic", "status", "in", "written", "errors", "dups", "new columns"), rows)
    if notes:
        console.print("\n".join(notes), highlight=False)
    console.print()

    emit_table("3. accountability (in = written + errors + dups; pending waits in RAW)",
               ("topic", "layer", "in", "written", "errors", "dups", "pending", "%"),
               [(a["topic"], a["layer"], a["records_in"], a["written"], a["errors"], a["duplicates"],
                 a["pending"], _percent_cell(a))
                for a in summary["accountability"]])

    console.print(_verdict(summary), highlight=False)
    console.print("\n[bold]Try next[/bold]", highlight=False)
    for command, why in (
        (f"leanops accountability --home {home}", "the accountability table again (exit 1 below 100%)"),
        (f"leanops run --once --home {home} --schemas {home}/schemas", "a second run: nothing new, nothing lost"),
        (f"echo '{{\"topic\": \"{UNSCHEMED_TOPIC}\", \"standardized\": {{}}}}' > {home}/schemas/"
         f"{UNSCHEMED_TOPIC}.json", f"open the schema gate for {UNSCHEMED_TOPIC}, then run again"),
        (f"leanops ingest --topic events --home {home} {home}/input/events.ndjson",
         "re-send the whole events file, run again: every line is dropped as a duplicate"),
    ):
        console.print(f"  [cyan]{command}[/cyan]\n      {why}", highlight=False, soft_wrap=True)


def _status_text(status: str) -> str:
    colour = {"SUCCEEDED": "green", "FAILED": "red", "SKIPPED": "yellow"}.get(status)
    return f"[{colour}]{status}[/{colour}]" if colour else status


def _verdict(summary: dict) -> str:
    """One line per topic: did every injected fault land where it should?"""
    found = {(a["topic"], a["layer"]): a for a in summary["accountability"]}
    lines = []
    for topic, data in summary["topics"].items():
        want = data["expected"]
        std = found.get((topic, "standardized"), {})
        ing = found.get((topic, "ingestion"), {})
        if not data["schema"]:
            ok = std.get("pending") == want["raw"]
            lines.append(f"  {'[green]✓[/green]' if ok else '[red]✗[/red]'} {topic}: no schema file, "
                         f"{std.get('pending', 0)} of {want['raw']} rows wait in RAW")
            continue
        got = (ing.get("written"), ing.get("errors"), std.get("duplicates"), std.get("errors"))
        ok = got == (want["raw"], want["dlq"], want["duplicates"], want["parse_errors"])
        lines.append(f"  {'[green]✓[/green]' if ok else '[red]✗[/red]'} {topic}: {got[1]}/{want['dlq']} "
                     f"non-envelopes -> DLQ, {got[2]}/{want['duplicates']} duplicates dropped, "
                     f"{got[3]}/{want['parse_errors']} bad payloads -> parse_errors")
    head = ("[bold green]100% accountable[/bold green]: every record is written, an error row or a dropped "
            "duplicate" if summary["accountable"] else "[bold red]NOT accountable[/bold red]: see the tables above")
    return "\n" + head + "\n" + "\n".join(lines)
