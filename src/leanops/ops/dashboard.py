"""The dashboard of `leanops serve`: what it shows (`collect_status`) and its server-rendered HTML.

    status = collect_status(ctx)             # JSON-able: what GET /api/status returns, what GET / shows
    page = render_dashboard(status)          # one self-contained HTML page: inline CSS, inline SVG, no script
    page = render_errors(view, filters)      # the drill-down into one error group's sample records

The page needs nothing from outside (no CDN, no font, no script): it works offline and under a
Content-Security-Policy of `default-src 'none'`. Every value shown is escaped: topic names, error
samples, run messages and drift samples are untrusted data.

Numbers carry stable attributes for tools and tests: rows `data-topic` / `data-layer`, cells
`data-field` (e.g. `records_in`) and `data-value` (the raw number). Charts are `<svg id="chart-...">`
with one `<circle class="point">` per run.

Lag over time comes from the run log: for each successful stage run, the seconds from the oldest
upstream commit it consumed (the first after the previous run's position) to the end of the run: how
long the data waited at most. Throughput is records in per second of run time.
"""
from __future__ import annotations

import html
import logging
import math
import time
from datetime import datetime, timezone
from typing import Any, Iterable
from urllib.parse import urlencode

from leanops.context import Context

log = logging.getLogger("leanops.serve")

STAGES = ("standardized", "curated", "semantic")
ERROR_LAYERS = ("dlq", "parse", "curated", "semantic")
ERROR_LAYER_TABLES = {"dlq": "raw.dlq_errors", "parse": "standardized.parse_errors", "curated": "curated.errors",
                      "semantic": "semantic.errors"}
ACCOUNT_FIELDS = ("records_in", "written", "errors", "duplicates", "superseded", "pending", "accounted")
SERIES_COLORS = {"standardized": "#2b6cb0", "curated": "#2f855a", "semantic": "#b7791f"}
RECENT_RUNS = 50     # rows in "recent runs"
HISTORY_RUNS = 500   # runs behind the charts
DRIFT_ROWS = 200


def esc(value: Any) -> str:
    """Text or attribute value, escaped (quotes too). None is empty."""
    return "" if value is None else html.escape(str(value), quote=True)


def _num(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _when(iso: str | None) -> str:
    """An ISO timestamp shown to the second, UTC (the full value stays in the title)."""
    if not iso:
        return ""
    return f'<span title="{esc(iso)}">{esc(iso[:19].replace("T", " "))}</span>'


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

def _run_dict(run) -> dict:
    seconds = (run.ended_at - run.started_at).total_seconds() if run.ended_at else None
    return {"run_id": run.run_id, "topic": run.topic, "stage": run.stage, "status": run.status,
            "started_at": _iso(run.started_at), "ended_at": _iso(run.ended_at),
            "duration_seconds": None if seconds is None else round(seconds, 3),
            "records_in": run.records_in, "records_written": run.records_written,
            "records_errors": run.records_errors, "records_duplicates": run.records_duplicates,
            "records_superseded": run.records_superseded, "error": run.error_message}


def _topic_status(ctx: Context, name: str, entry, thresholds) -> tuple[dict, list]:
    """One topic's row (flag, health, pending, lag, last run) and its accounts, as the CLI lists them."""
    from leanops.errors import LeanOpsError
    from leanops.landing.operations import files_account
    from leanops.orchestrate.health import semantic_lag_seconds
    from leanops.stages.accountability import topic_accounts

    row: dict[str, Any] = {
        "topic": name,
        "flow_control_flag": entry.flow_control_flag.value if entry else None,
        "is_active": entry.is_active if entry else None,
        "health": "OK", "health_reasons": [], "pending": {}, "semantic_lag_seconds": None,
        "accountable": None, "last_run": None, "lease_holder": None, "error": None,
        "tables": [], "last_maintenance": None,
    }
    reasons: list[tuple[str, str]] = []  # (level, reason)
    accounts: list = []
    try:
        files = files_account(ctx.lake, ctx.state, name)
        accounts = ([files] if files else []) + topic_accounts(ctx.lake, name)
        runs = ctx.state.list_runs(name, limit=1)
        row["last_run"] = _run_dict(runs[0]) if runs else None
        row["lease_holder"] = ctx.state.lease_holder(name)
        row["pending"] = {a.layer: a.pending for a in accounts if a.layer in STAGES}
        row["accountable"] = all(a.ok for a in accounts)
        from leanops.maintenance.counts import last_maintenance, topic_counts
        row["tables"] = topic_counts(ctx, name)
        row["last_maintenance"] = _iso(last_maintenance(ctx, name))
        try:
            schema = ctx.schema(name)
        except LeanOpsError as exc:
            reasons.append(("FAIL", f"schema file invalid: {exc}"))
        else:
            if schema is None and row["pending"].get("standardized"):
                reasons.append(("WARN", f"no schema file: {row['pending']['standardized']:,} records wait in RAW"))
            try:
                row["semantic_lag_seconds"] = semantic_lag_seconds(ctx, name)
            except LeanOpsError:
                pass
    except Exception as exc:  # a broken topic (corrupt registry, unreadable table) must not take the page down
        log.warning("dashboard: topic %r: %s", name, exc)
        row["error"] = f"{type(exc).__name__}: {exc}"
        reasons.append(("FAIL", row["error"]))
        accounts = []
    for account in accounts:
        if not account.ok:
            percent = "n/a" if account.percent is None else f"{account.percent:.2f} %"
            reasons.append(("FAIL", f"{account.layer} accountability {percent}"
                            + (f": {account.reason}" if account.reason else "")))
    last = row["last_run"]
    if last and last["status"] == "FAILED":
        reasons.append(("FAIL", f"last run failed ({last['stage']})"))
    backlog = row["pending"].get("standardized", 0) + row["pending"].get("curated", 0)
    if backlog > thresholds.curation_lag_records:
        reasons.append(("WARN", f"{backlog:,} records pending (threshold {thresholds.curation_lag_records:,})"))
    lag = row["semantic_lag_seconds"]
    if lag is not None and lag > thresholds.semantic_lag_hours * 3600:
        reasons.append(("WARN", f"semantic lag {_age(lag)} (threshold {thresholds.semantic_lag_hours:g} h)"))
    levels = {level for level, _ in reasons}
    row["health"] = "FAIL" if "FAIL" in levels else "WARN" if "WARN" in levels else "OK"
    row["health_reasons"] = [reason for _, reason in reasons]
    return row, accounts


def _series(ctx: Context, runs: list, window_full: bool) -> dict:
    """Throughput and lag points, one per successful stage run, oldest first."""
    upstream = {"standardized": ctx.lake.raw_table, "curated": ctx.lake.standardized_table,
                "semantic": ctx.lake.curated_table}
    snapshots: dict[tuple[str, str], dict | None] = {}
    previous: dict[tuple[str, str], int | None] = {}
    throughput, lag = [], []
    for run in sorted(runs, key=lambda r: r.run_id or 0):
        if run.status != "SUCCEEDED" or run.stage not in upstream or run.ended_at is None:
            continue
        key = (run.topic, run.stage)
        at = run.ended_at.timestamp()
        base = {"topic": run.topic, "stage": run.stage, "run_id": run.run_id, "at": _iso(run.ended_at), "t": at}
        seconds = (run.ended_at - run.started_at).total_seconds()
        if run.records_in and seconds > 0:
            throughput.append({**base, "value": round(run.records_in / seconds, 3)})
        known_previous = key in previous or not window_full  # else older runs fell out of the window
        boundary = previous.get(key)
        previous[key] = run.source_snapshot_id
        if run.source_snapshot_id is None or not run.records_in or not known_previous:
            continue
        if key not in snapshots:
            try:
                table = upstream[run.stage](run.topic)
                snapshots[key] = {s.snapshot_id: s for s in table.snapshots()} if table is not None else None
            except Exception as exc:  # noqa: BLE001 - a chart point is not worth a broken page
                log.debug("dashboard: no upstream snapshots for %s/%s: %s", run.topic, run.stage, exc)
                snapshots[key] = None
        by_id = snapshots[key]
        if not by_id or run.source_snapshot_id not in by_id:
            continue  # archived by a rebuild, or expired
        oldest, snapshot = None, by_id.get(run.source_snapshot_id)
        while snapshot is not None and snapshot.snapshot_id != boundary:
            oldest = snapshot
            snapshot = by_id.get(snapshot.parent_snapshot_id) if snapshot.parent_snapshot_id else None
        if oldest is not None:
            lag.append({**base, "value": round(max(0.0, at - oldest.timestamp_ms / 1000), 3)})
    return {"throughput": throughput, "lag": lag}


def collect_status(ctx: Context, topic: str | None = None, recent_runs: int = RECENT_RUNS,
                   history_runs: int = HISTORY_RUNS) -> dict:
    """Everything the dashboard shows, JSON-able. `topic` narrows every section to one topic.

    `accountability` lists the accounts exactly as `leanops accountability --json` does (per topic: the
    landed-files account when there is one, then ingestion, standardized, curated, semantic)."""
    from leanops.orchestrate.health import Thresholds
    started = time.perf_counter()
    thresholds = Thresholds()
    registry = {e.topic_name: e for e in ctx.state.list_topics()}
    names = [t for t in ctx.topics() if topic is None or t == topic]
    topics, accountability = [], []
    for name in names:
        row, accounts = _topic_status(ctx, name, registry.get(name), thresholds)
        topics.append(row)
        accountability += [a.as_dict() for a in accounts]
    errors: dict = {"total": 0, "totals": {}, "groups": [], "error": None}
    try:
        from leanops.ops.errors import error_view
        errors = {**error_view(ctx.lake, topic=topic, samples=0).as_dict(), "error": None}
    except Exception as exc:  # noqa: BLE001
        log.warning("dashboard: error view failed: %s", exc)
        errors["error"] = f"{type(exc).__name__}: {exc}"
    history = ctx.state.list_runs(topic, limit=history_runs)
    drift = ctx.state.list_drift(topic)
    return {
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "home": str(ctx.settings.home),
        "filter": {"topic": topic},
        "topics": topics,
        "accountability": accountability,
        "errors": errors,
        "drift": [d.as_dict() for d in drift[-DRIFT_ROWS:]][::-1],  # newest first
        "drift_total": len(drift),
        "runs": [_run_dict(r) for r in history[:recent_runs]],
        "series": _series(ctx, history, window_full=len(history) >= history_runs),
        "collect_ms": round((time.perf_counter() - started) * 1000, 1),
    }


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

CSS = """
:root { --ok:#2f855a; --warn:#b7791f; --fail:#c53030; --muted:#5a6472; --line:#d9dee5; --bg:#f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1a202c; background: var(--bg); }
header { background: #1f2937; color: #fff; padding: 12px 24px; display: flex; gap: 24px; align-items: baseline;
         flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
header a { color: #cbd5e0; }
header .meta { color: #cbd5e0; font-size: 12px; }
nav a { margin-right: 12px; }
main { padding: 16px 24px 48px; max-width: 1400px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; margin: 16px 0; }
h2 { font-size: 16px; margin: 0 0 8px; }
h3 { font-size: 14px; margin: 12px 0 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.topic-start td { border-top: 2px solid #a0aec0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
         color: #fff; background: var(--muted); }
.badge.OK, .badge.SUCCEEDED, .badge.ENABLED, .badge.yes { background: var(--ok); }
.badge.WARN, .badge.PAUSED, .badge.INACTIVE, .badge.RUNNING, .badge.NO_NEW_DATA, .badge.SKIPPED { background: var(--warn); }
.badge.FAIL, .badge.FAILED, .badge.no { background: var(--fail); }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 8px 0 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 150px; }
.card .v { font-size: 22px; font-weight: 600; }
.card .k { color: var(--muted); font-size: 12px; }
.muted { color: var(--muted); }
.reasons { color: var(--muted); font-size: 12px; }
.charts { display: flex; gap: 16px; flex-wrap: wrap; }
.chart-box { flex: 1 1 520px; }
svg.chart { width: 100%; max-width: 640px; height: auto; background: #fff; }
svg.chart text { font-size: 11px; fill: #4a5568; }
.legend span { margin-right: 12px; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all;
      font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
.sample { margin: 6px 0 12px; border: 1px solid var(--line); }
.sample th { width: 160px; text-transform: none; }
.err { color: var(--fail); }
footer { color: var(--muted); font-size: 12px; padding: 0 24px 24px; }
"""


def _page(title: str, body: str, refresh: int = 0, extra_head: str = "") -> str:
    meta = f'<meta http-equiv="refresh" content="{int(refresh)}">' if refresh > 0 else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f'{meta}<link rel="icon" href="data:,"><title>{esc(title)}</title><style>{CSS}</style>{extra_head}</head>'
            f"<body>{body}</body></html>\n")


def _badge(value: Any, field: str | None = None) -> str:
    attr = f' data-field="{esc(field)}"' if field else ""
    return f'<span class="badge {esc(value)}"{attr}>{esc(value)}</span>'


def _ncell(field: str, value: int | float | None, text: str | None = None) -> str:
    shown = _num(value) if text is None else text
    raw = "" if value is None else value
    return f'<td class="n" data-field="{esc(field)}" data-value="{esc(raw)}">{esc(shown)}</td>'


def _link(path: str, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return esc(path + ("?" + query if query else ""))


def percent_bar(percent: float | None, ok: bool) -> str:
    """A bar of accounted/in with the 100% target marked; overshoot (over 100%) shows past the marker."""
    width, target, height = 150, 130, 14
    value = 0.0 if percent is None else max(0.0, percent)
    fill = min(width, value / 100 * target)
    color = "var(--ok)" if ok else "var(--fail)"
    label = "no input" if percent is None else f"{percent:.2f}% of target 100%"
    return (f'<svg class="bar" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{esc(label)}"><title>{esc(label)}</title>'
            f'<rect x="0" y="3" width="{target}" height="{height - 6}" fill="#e2e8f0"/>'
            f'<rect class="fill" x="0" y="3" width="{fill:.1f}" height="{height - 6}" fill="{color}"/>'
            f'<line class="target" x1="{target}" y1="0" x2="{target}" y2="{height}" stroke="#1a202c" '
            f'stroke-width="2"><title>target 100%</title></line></svg>')


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def _fmt_value(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def line_chart(chart_id: str, title: str, unit: str, points: list[dict], width: int = 620, height: int = 240) -> str:
    """An SVG line chart over time: a color per stage, a line per topic and stage, a circle per run (its
    tooltip names the run)."""
    left, right, top, bottom = 56, 12, 14, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [f'<svg id="{esc(chart_id)}" class="chart" data-points="{len(points)}" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafbfc" stroke="#d9dee5"/>']
    if not points:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle">'
                     'no successful stage runs yet</text></svg>')
        return "".join(parts)
    t0, t1 = min(p["t"] for p in points), max(p["t"] for p in points)
    pad = max((t1 - t0) * 0.05, 5.0)  # points off the frame's edges; a single run sits in the middle
    t0, t1 = t0 - pad, t1 + pad
    y_max = _nice_max(max(p["value"] for p in points))

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return top + plot_h - v / y_max * plot_h

    for i in range(5):  # y grid and labels
        v = y_max * i / 4
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#edf0f3"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{esc(_fmt_value(v))}</text>')
    time_format = "%H:%M:%S" if t1 - t0 < 600 else "%H:%M" if t1 - t0 < 86400 else "%m-%d %H:%M"
    for i in range(5):  # x labels (UTC)
        t = t0 + (t1 - t0) * i / 4
        label = datetime.fromtimestamp(t, timezone.utc).strftime(time_format)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(f'<text x="{x(t):.1f}" y="{height - 10}" text-anchor="{anchor}">{esc(label)}</text>')
    parts.append(f'<text x="{left + plot_w}" y="{top - 3}" text-anchor="end">{esc(unit)} · UTC</text>')
    for stage in STAGES:
        series = sorted((p for p in points if p["stage"] == stage), key=lambda p: p["t"])
        if not series:
            continue
        color = SERIES_COLORS[stage]
        for topic in sorted({p["topic"] for p in series}):  # a line per topic and stage: its runs over time
            line = [p for p in series if p["topic"] == topic]
            if len(line) > 1:
                coords = " ".join(f"{x(p['t']):.1f},{y(p['value']):.1f}" for p in line)
                parts.append(f'<polyline class="series" data-series="{stage}" data-topic="{esc(topic)}" '
                             f'points="{coords}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        for p in series:
            tip = f"{p['topic']} {stage} run {p['run_id']} at {p['at']}: {_fmt_value(p['value'])} {unit}"
            parts.append(f'<circle class="point" data-series="{stage}" data-topic="{esc(p["topic"])}" '
                         f'data-value="{esc(p["value"])}" cx="{x(p["t"]):.1f}" cy="{y(p["value"]):.1f}" r="3.5" '
                         f'fill="{color}"><title>{esc(tip)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def _legend() -> str:
    return '<div class="legend">' + "".join(
        f'<span><i style="background:{c}"></i>{esc(s)}</span>' for s, c in SERIES_COLORS.items()) + "</div>"


def _header(status_home: str, generated: str, extra: str = "") -> str:
    return (f'<header><h1><a href="/" style="color:#fff;text-decoration:none">lean-ops</a></h1>'
            f'<nav><a href="/#topics">topics</a><a href="/#accountability">accountability</a>'
            f'<a href="/#charts">lag &amp; throughput</a><a href="/#errors">errors</a><a href="/#tables">tables</a><a href="/#drift">drift</a>'
            f'<a href="/#runs">runs</a><a href="/metrics">metrics</a><a href="/api/status">json</a></nav>'
            f'<span class="meta">home {esc(status_home)} · {esc(generated)}{extra}</span></header>')


def _flag(topic: dict) -> str:
    """What the orchestrator makes of the topic: INACTIVE (is_active false) wins over the flag."""
    if topic["is_active"] is False:
        return "INACTIVE"
    return topic["flow_control_flag"] or "UNREGISTERED"


def _topics_section(status: dict, base: str) -> str:
    rows = []
    for t in status["topics"]:
        last = t["last_run"]
        last_text = f"{last['stage']} {last['status']}" if last else "no run yet"
        pending = t["pending"]
        reasons = "; ".join(t["health_reasons"]) or ("caught up" if t["health"] == "OK" else "")
        rows.append(
            f'<tr class="topic" data-topic="{esc(t["topic"])}">'
            f'<td data-field="topic"><a href="{_link(base, topic=t["topic"])}">{esc(t["topic"])}</a></td>'
            f'<td>{_badge(_flag(t), "flow_control_flag")}</td>'
            f'<td>{_badge(t["health"], "health")}<div class="reasons">{esc(reasons)}</div></td>'
            + _ncell("pending_standardized", pending.get("standardized"))
            + _ncell("pending_curated", pending.get("curated"))
            + _ncell("pending_semantic", pending.get("semantic"))
            + f'<td class="n" data-field="semantic_lag_seconds" data-value="{esc(t["semantic_lag_seconds"])}">'
              f'{esc(_age(t["semantic_lag_seconds"]) if t["semantic_lag_seconds"] is not None else "")}</td>'
            f'<td data-field="last_run">{esc(last_text)}<div class="reasons">'
            f'{_when(last["ended_at"] or last["started_at"]) if last else ""}</div></td>'
            f'<td class="muted">{esc(t["lease_holder"] or "")}</td></tr>')
    if not rows:
        rows.append('<tr><td colspan="9" class="muted">no topics yet: ingest data (leanops ingest, '
                    'POST /topics/{topic}/events)</td></tr>')
    return ('<section id="topics"><h2>Topics</h2><table><thead><tr><th>topic</th><th>flag</th><th>health</th>'
            '<th class="n">pending std</th><th class="n">pending cur</th><th class="n">pending sem</th>'
            '<th class="n">semantic lag</th><th>last run</th><th>lease</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></section>")


def _accountability_section(status: dict) -> str:
    rows, previous = [], None
    for a in status["accountability"]:
        percent = a["percent"]
        start = " topic-start" if a["topic"] != previous else ""
        previous = a["topic"]
        rows.append(
            f'<tr class="account{start}" data-topic="{esc(a["topic"])}" data-layer="{esc(a["layer"])}">'
            f'<td>{esc(a["topic"])}</td><td data-field="layer">{esc(a["layer"])}</td>'
            + "".join(_ncell(f, a[f]) for f in ACCOUNT_FIELDS)
            + _ncell("percent", percent, "n/a" if percent is None else f"{percent:.2f} %")
            + f'<td>{percent_bar(percent, a["ok"])}</td>'
            f'<td>{_badge("yes" if a["ok"] else "no", "ok")}'
            + (f'<div class="reasons">{_num(a["orphaned"])} orphaned DLQ rows</div>' if a.get("orphaned") else "")
            + (f'<div class="reasons">{esc(a["reason"])}</div>' if a.get("reason") else "")
            + "</td></tr>")
    broken = [t for t in status["topics"] if t["error"]]
    for t in broken:
        rows.append(f'<tr class="account-error" data-topic="{esc(t["topic"])}"><td>{esc(t["topic"])}</td>'
                    f'<td colspan="12" class="err">{esc(t["error"])}</td></tr>')
    if not rows:
        rows.append('<tr><td colspan="13" class="muted">nothing ingested yet</td></tr>')
    ok = sum(1 for a in status["accountability"] if a["ok"])
    return (f'<section id="accountability"><h2>Accountability <span class="muted">— target 100% per layer: '
            f'in = written + errors + duplicates + superseded ({ok} of {len(status["accountability"])} '
            f'layers at target)</span></h2>'
            '<table><thead><tr><th>topic</th><th>layer</th><th class="n">in</th><th class="n">written</th>'
            '<th class="n">errors</th><th class="n">duplicates</th><th class="n">superseded</th>'
            '<th class="n">pending</th><th class="n">accounted</th><th class="n">%</th><th>vs 100% target</th>'
            '<th>ok</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></section>")


def _charts_section(status: dict) -> str:
    series = status["series"]
    return ('<section id="charts"><h2>Lag and throughput over time <span class="muted">— one point per '
            'successful stage run</span></h2>' + _legend() + '<div class="charts">'
            '<div class="chart-box"><h3>Throughput (records in per second of run)</h3>'
            + line_chart("chart-throughput", "throughput per stage run", "records/s", series["throughput"])
            + '</div><div class="chart-box"><h3>Lag (oldest upstream commit consumed → run end)</h3>'
            + line_chart("chart-lag", "lag per stage run", "seconds", series["lag"]) + "</div></div></section>")


def _errors_section(status: dict) -> str:
    errors = status["errors"]
    topic = status["filter"]["topic"]
    totals = "".join(
        f'<div class="card" data-error-layer="{esc(layer)}"><div class="v" data-field="total" '
        f'data-value="{esc(errors["totals"].get(layer, 0))}">{_num(errors["totals"].get(layer, 0))}</div>'
        f'<div class="k"><a href="{_link("/errors", layer=layer, topic=topic)}">{esc(layer)}</a> · '
        f'{esc(ERROR_LAYER_TABLES[layer])}</div></div>' for layer in ERROR_LAYERS)
    rows = []
    for g in errors["groups"]:
        href = _link("/errors", layer=g["layer"], topic=g["topic"], reason=g["reason"], column=g.get("column"))
        rows.append(f'<tr class="error-group" data-layer="{esc(g["layer"])}" data-topic="{esc(g["topic"])}" '
                    f'data-reason="{esc(g["reason"])}"><td>{esc(g["layer"])}</td><td>{esc(g["topic"])}</td>'
                    f'<td>{esc(g["reason"])}</td><td>{esc(g.get("column") or "")}</td>'
                    + _ncell("count", g["count"])
                    + f'<td><a class="drill" href="{href}">samples →</a></td></tr>')
    if not rows:
        rows.append('<tr><td colspan="6" class="muted">no errors recorded</td></tr>')
    problem = f'<p class="err">{esc(errors["error"])}</p>' if errors.get("error") else ""
    return ('<section id="errors"><h2>Errors by layer and reason</h2>' + problem
            + f'<div class="cards">{totals}</div><h3>Groups</h3><table><thead><tr><th>layer</th><th>topic</th>'
            '<th>reason</th><th>column</th><th class="n">count</th><th>drill-down</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></section>")


def _tables_section(status: dict) -> str:
    """Each table's layout: what maintenance keeps bounded (docs/maintenance.md)."""
    rows = []
    for topic in status["topics"]:
        for t in topic["tables"]:
            rows.append(f'<tr class="table-layout" data-topic="{esc(topic["topic"])}" data-table="{esc(t["table"])}">'
                        f'<td>{esc(topic["topic"])}</td><td>{esc(t["table"])}</td>'
                        + _ncell("records", t["records"]) + _ncell("data_files", t["data_files"])
                        + _ncell("delete_files", t["delete_files"]) + _ncell("snapshots", t["snapshots"])
                        + f'<td data-field="last_maintenance">{_when(topic["last_maintenance"]) if topic["last_maintenance"] else "never"}</td></tr>')
    if not rows:
        rows.append('<tr><td colspan="7" class="muted">no tables yet</td></tr>')
    return ('<section id="tables"><h2>Tables <span class="muted">— files, delete files and snapshots stay bounded '
            'by maintenance</span></h2><table><thead><tr><th>topic</th><th>table</th><th class="n">records</th>'
            '<th class="n">data files</th><th class="n">delete files</th><th class="n">snapshots</th>'
            '<th>last maintenance</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></section>")


def _drift_section(status: dict) -> str:
    rows = [f'<tr class="drift" data-topic="{esc(d["topic"])}"><td>{esc(d["topic"])}</td>'
            f'<td>{esc(d["column_name"])}</td><td>{esc(d["kind"])}</td><td>{_when(d["first_seen"])}</td>'
            f'<td><pre>{esc(d["sample_value"])}</pre></td><td class="muted">{esc(d["detail"])}</td></tr>'
            for d in status["drift"]]
    if not rows:
        rows.append('<tr><td colspan="6" class="muted">no drift recorded</td></tr>')
    shown = len(status["drift"])
    note = f" (newest {shown} of {status['drift_total']})" if status["drift_total"] > shown else ""
    return (f'<section id="drift"><h2>Drift log{esc(note)}</h2><table><thead><tr><th>topic</th><th>column</th>'
            '<th>kind</th><th>first seen</th><th>sample</th><th>detail</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></section>")


def _runs_section(status: dict) -> str:
    rows = []
    for r in status["runs"]:
        message = r["error"] or ""
        duration = "" if r["duration_seconds"] is None else f"{r['duration_seconds']:.2f} s"
        rows.append(
            f'<tr class="run" data-run-id="{esc(r["run_id"])}" data-topic="{esc(r["topic"])}" '
            f'data-stage="{esc(r["stage"])}"><td class="n">{esc(r["run_id"])}</td><td>{esc(r["topic"])}</td>'
            f'<td>{esc(r["stage"])}</td><td>{_badge(r["status"], "status")}</td><td>{_when(r["started_at"])}</td>'
            f'<td class="n" data-field="duration_seconds">{esc(duration)}</td>'
            + _ncell("records_in", r["records_in"]) + _ncell("records_written", r["records_written"])
            + _ncell("records_errors", r["records_errors"]) + _ncell("records_duplicates", r["records_duplicates"])
            + _ncell("records_superseded", r["records_superseded"])
            + f'<td class="err" title="{esc(message)}">{esc(message[:160])}</td></tr>')
    if not rows:
        rows.append('<tr><td colspan="12" class="muted">no runs yet (leanops run --once)</td></tr>')
    return ('<section id="runs"><h2>Recent runs</h2><table><thead><tr><th class="n">run</th><th>topic</th>'
            '<th>stage</th><th>outcome</th><th>started (UTC)</th><th class="n">duration</th><th class="n">in</th>'
            '<th class="n">written</th><th class="n">errors</th><th class="n">duplicates</th>'
            '<th class="n">superseded</th><th>error</th></tr></thead><tbody>' + "".join(rows)
            + "</tbody></table></section>")


def _cards(status: dict) -> str:
    accounts = status["accountability"]
    topics = status["topics"]
    last = status["runs"][0] if status["runs"] else None
    cards = [
        ("topics", len(topics)),
        ("layers at 100%", f"{sum(1 for a in accounts if a['ok'])} / {len(accounts)}"),
        ("topics healthy", f"{sum(1 for t in topics if t['health'] == 'OK')} / {len(topics)}"),
        ("error rows", _num(status["errors"]["total"])),
        ("drift entries", _num(status["drift_total"])),
        ("last run", (last["ended_at"] or last["started_at"])[:19].replace("T", " ") if last else "none"),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card" data-card="{esc(k)}"><div class="v">{esc(v)}</div><div class="k">{esc(k)}</div></div>'
        for k, v in cards) + "</div>"


def render_dashboard(status: dict, refresh: int = 0, render_note: str = "") -> str:
    """The whole dashboard page for `status` (from `collect_status`)."""
    topic = status["filter"]["topic"]
    scope = (f'<p>Showing topic <b data-filter-topic="{esc(topic)}">{esc(topic)}</b> · '
             f'<a href="/">all topics</a></p>' if topic else "")
    body = (_header(status["home"], status["generated_at"], render_note)
            + "<main>" + scope + _cards(status) + _topics_section(status, "/") + _accountability_section(status)
            + _charts_section(status) + _errors_section(status) + _tables_section(status) + _drift_section(status)
            + _runs_section(status)
            + "</main>"
            + f'<footer>lean-ops dashboard · read-only · data collected in {esc(status["collect_ms"])} ms'
            + (f" · refreshes every {int(refresh)} s" if refresh > 0 else "") + "</footer>")
    return _page("lean-ops dashboard" + (f" — {topic}" if topic else ""), body, refresh)


def _sample_table(sample: dict) -> str:
    rows = "".join(f'<tr><th>{esc(k)}</th><td><pre data-field="{esc(k)}">{esc(v)}</pre></td></tr>'
                   for k, v in sample.items())
    return f'<table class="sample">{rows}</table>'


def render_errors(view: dict, filters: dict, home: str, samples: int) -> str:
    """The drill-down: the error groups matching `filters` (layer, topic, reason, column) with samples."""
    shown = ", ".join(f"{k} = {v}" for k, v in filters.items() if v is not None) or "all errors"
    parts = [f'<p><a href="/#errors">← dashboard</a></p><h2>Errors: <span id="error-filter">{esc(shown)}</span></h2>']
    if not view["groups"]:
        parts.append('<p class="muted">no error rows match</p>')
    for g in view["groups"]:
        column = f" · column {g['column']}" if g.get("column") else ""
        title = f"{g['layer']} · {g['topic']} · {g['reason']}{column}"
        parts.append(f'<section class="error-detail" data-layer="{esc(g["layer"])}" data-topic="{esc(g["topic"])}" '
                     f'data-reason="{esc(g["reason"])}"><h3>{esc(title)}</h3>'
                     f'<p><span data-field="count" data-value="{esc(g["count"])}">{_num(g["count"])}</span> rows in '
                     f'{esc(ERROR_LAYER_TABLES.get(g["layer"], g["layer"]))}; '
                     f'<span data-field="shown">{len(g["samples"])}</span> samples shown (at most {samples})</p>'
                     + "".join(_sample_table(s) for s in g["samples"]) + "</section>")
    body = (_header(home, datetime.now(timezone.utc).isoformat()) + "<main>" + "".join(parts) + "</main>")
    return _page(f"lean-ops errors — {shown}", body)


def render_message(title: str, message: str, home: str = "") -> str:
    """A small page for 404s and other refusals."""
    return _page(f"lean-ops — {title}", f'<main><h2>{esc(title)}</h2><p>{esc(message)}</p>'
                                        f'<p><a href="/">dashboard</a></p></main>')


def render_login(failed: bool = False) -> str:
    """The token form shown to a browser without credentials (the server was started with a token)."""
    note = '<p class="err">wrong token</p>' if failed else ""
    return _page("lean-ops — sign in", '<main><section><h2>lean-ops dashboard</h2>'
                 "<p>This server requires its access token (<code>--token</code> / LEANOPS_SERVE_TOKEN).</p>"
                 f'{note}<form method="post" action="/login"><input type="password" name="token" '
                 'autocomplete="current-password" size="40" autofocus> <button type="submit">sign in</button>'
                 "</form></section></main>")


def filtered_groups(groups: Iterable[dict], reason: str | None, column: str | None) -> list[dict]:
    return [g for g in groups if (reason is None or g["reason"] == reason)
            and (column is None or (g.get("column") or "") == column)]

