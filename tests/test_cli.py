"""The command line as a user meets it: init, ingest, run, accountability, exit codes."""
import json

import pytest

from conftest import EVENTS_SCHEMA, cli_imports, envelope, run_cli, write_lines, write_schema

pytestmark = pytest.mark.slow


def test_init_is_safe_to_rerun(tmp_path):
    first = run_cli("init", "--json")
    assert first.returncode == 0, first.stderr
    info = json.loads(first.stdout)
    assert info["home"] == str(tmp_path / "home") and info["catalog"].startswith("sqlite:///")
    assert run_cli("init").returncode == 0
    assert (tmp_path / "home" / "catalog.db").exists() and (tmp_path / "home" / "state.db").exists()


def test_ingest_counts_and_dlq(tmp_path):
    path = write_lines(tmp_path / "in.ndjson", [envelope("m1", {"a": 1}), "garbage", envelope("m2", {"a": 2})])
    done = run_cli("ingest", "--topic", "events", str(path), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["lines_read"], report["accepted"], report["rejected"]) == (3, 2, 1)
    assert report["reasons"] == {"not valid JSON": 1}


def test_ingest_from_stdin(tmp_path):
    done = run_cli("ingest", "--topic", "events", "-", input=envelope("m1", {"a": 1}) + "\n")
    assert done.returncode == 0 and "events: 1 line read, 1 accepted" in done.stdout


def test_bad_usage_exits_2(tmp_path):
    bad_topic = run_cli("ingest", "--topic", "Bad-Topic!", "-", input="")
    assert bad_topic.returncode == 2 and "invalid topic name" in bad_topic.stderr
    missing = run_cli("ingest", "--topic", "events", str(tmp_path / "nope.ndjson"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert run_cli("ingest").returncode == 2


def test_run_and_accountability_end_to_end(tmp_path, schemas):
    write_schema(schemas, EVENTS_SCHEMA)
    lines = [envelope("m1", {"event": {"userId": "u"}}), envelope("m1", {"event": {"userId": "u"}}),
             envelope("m2", "{broken"), "not an envelope"]
    assert run_cli("ingest", "--topic", "events", str(write_lines(tmp_path / "in.ndjson", lines))).returncode == 0
    assert run_cli("ingest", "--topic", "clicks", "-", input=envelope("c1", {"x": 1}) + "\n").returncode == 0
    ran = run_cli("run", "--once", "--json")
    assert ran.returncode == 0, ran.stderr
    outcomes = {o["topic"]: o for o in json.loads(ran.stdout)["topics"]}
    assert outcomes["events"]["status"] == "SUCCEEDED" and outcomes["clicks"]["status"] == "SKIPPED"
    acc = run_cli("accountability", "--json")
    assert acc.returncode == 0, acc.stdout
    rows = {(a["topic"], a["layer"]): a for a in json.loads(acc.stdout)}
    assert rows[("events", "ingestion")] | {} and rows[("events", "ingestion")]["records_in"] == 4
    assert (rows[("events", "ingestion")]["written"], rows[("events", "ingestion")]["errors"]) == (3, 1)
    std = rows[("events", "standardized")]
    assert (std["records_in"], std["written"], std["errors"], std["duplicates"], std["percent"]) == (3, 1, 1, 1, 100.0)
    assert rows[("clicks", "standardized")]["pending"] == 1
    text = run_cli("accountability", "--topic", "events")
    assert text.returncode == 0 and "standardized" in text.stdout


def test_accountability_fails_when_rows_go_missing(tmp_path, schemas, ctx):
    write_schema(schemas, EVENTS_SCHEMA)
    path = write_lines(tmp_path / "in.ndjson", [envelope(f"m{i}", {"a": i}) for i in range(10)])
    assert run_cli("ingest", "--topic", "events", str(path)).returncode == 0
    assert run_cli("run", "--once").returncode == 0
    from pyiceberg.expressions import EqualTo
    ctx.lake.standardized_table("events").delete(EqualTo("message_id", "m3"))  # someone loses a row
    acc = run_cli("accountability", "--json", "--topic", "events")
    assert acc.returncode == 1
    std = [a for a in json.loads(acc.stdout) if a["layer"] == "standardized"][0]
    assert std["ok"] is False and std["percent"] == 90.0


def test_interrupted_ingest_leaves_orphans_not_a_broken_balance(tmp_path, monkeypatch, ctx):
    """A crash between the DLQ flush and the RAW commit: its rejects are orphans, not counted."""
    from conftest import ingest
    from leanops.catalog import commit
    from leanops.stages.accountability import topic_accounts

    def die(self, summary):
        raise KeyboardInterrupt("killed before the RAW commit")

    monkeypatch.setattr(commit.StagedAppend, "commit", die)
    with pytest.raises(KeyboardInterrupt):
        ingest(ctx, "events", [envelope("m1", {"a": 1}), "not json"], tmp_path, "a.ndjson")
    monkeypatch.undo()
    monkeypatch.setenv("LEANOPS_HOME", str(tmp_path / "home"))
    ingest(ctx, "events", [envelope("m1", {"a": 1}), "not json"], tmp_path, "a.ndjson")  # the rerun
    ingestion = topic_accounts(ctx.lake, "events")[0]
    assert (ingestion.records_in, ingestion.written, ingestion.errors, ingestion.orphaned) == (2, 1, 1, 1)
    assert ingestion.ok
    acc = run_cli("accountability", "--topic", "events")
    assert acc.returncode == 0 and "never committed" in acc.stdout


def test_all_rejected_ingest_still_balances(tmp_path):
    done = run_cli("ingest", "--topic", "events", "-", input="junk\nmore junk\n")
    assert done.returncode == 0 and "events: 2 lines read, 0 accepted" in done.stdout
    acc = json.loads(run_cli("accountability", "--json").stdout)
    ingestion = [a for a in acc if a["layer"] == "ingestion"][0]
    assert (ingestion["records_in"], ingestion["written"], ingestion["errors"], ingestion["ok"]) == (2, 0, 2, True)


@pytest.mark.parametrize("args, code, message", [
    (["--help"], 0, "Usage"),
    (["ingest", "--help"], 0, "--topic"),
    (["status", "--help"], 0, "Usage"),
    (["errors", "replay", "--help"], 0, "--from"),
    (["frobnicate"], 2, "No such command"),
    (["ingest"], 2, "Missing option"),
    (["run", "--concurrency", "0"], 2, "Invalid value"),
    (["ingest", "--topic", "events", "no-such-file.ndjson"], 2, "no such file: no-such-file.ndjson"),
    (["ingest", "--topic", "Bad Topic", "-"], 2, "invalid topic name 'Bad Topic'"),
    (["watch", "no-such-dir", "--topic", "events", "--once"], 2, "no landing directory no-such-dir"),
    (["errors", "replay", "--topic", "events", "--layer", "dlq", "--from", "fixed.ndjson"], 2,
     "--from fixed.ndjson: no such file"),
    (["aws", "render", "--out", "asl", "--values", "values.json"], 2, "--values values.json"),
    (["deploy", "no-such-dir"], 2, "no schema directory no-such-dir"),
])
def test_usage_errors_answer_before_the_heavy_imports(tmp_path, args, code, message):
    """--help, a mistyped command, option, path or topic are answered by the CLI alone: DuckDB, Arrow and
    PyIceberg are never imported, and nothing is created in the home."""
    done = cli_imports(args, cwd=tmp_path)
    assert done.exit_code == code and message in done.output, done.output
    assert done.heavy == [], done.output
    assert not any((tmp_path / "home").iterdir())


def test_a_mistyped_command_is_answered_by_typer_alone(tmp_path):
    """A usage error of the top-level command imports neither pydantic nor Rich: click's plain message."""
    done = cli_imports(["frobnicate"], cwd=tmp_path)
    assert done.exit_code == 2 and "No such command 'frobnicate'" in done.output, done.output
    assert not {"pydantic", "rich", "yaml"} & set(done.modules), done.modules


@pytest.mark.parametrize("text, message", [
    ("{broken", "events.json: field '<file>': not valid JSON"),
    ('{"topic": "events", "curated": {"columns": {"qty": {"type": "text"}}}}', "unknown type 'text'"),
    ('{"topic": "orders", "standardized": {}}', "is 'orders' but the file is named 'events.json'"),
])
def test_deploy_of_an_invalid_schema_file_answers_before_the_heavy_imports(tmp_path, schemas, text, message):
    """The files are read before the deployment is opened, every file's form before any default is cast: an
    invalid one stops it, light and untouched, even next to valid files whose defaults need DuckDB to check."""
    write_schema(schemas, {"topic": "clicks", "standardized": {}, "curated": {
        "partition_by": ["day(event_timestamp)", "bucket(8, idempotency_key)"],
        "columns": {"idempotency_key": {"type": "string"}, "event_timestamp": {"type": "timestamp"},
                    "qty": {"type": "int", "default": "0"}}}, "semantic": {"columns": {"qty": {"type": "int",
                                                                                           "min": "0"}}}})
    (schemas / "events.json").write_text(text)
    for args in (["deploy"], ["deploy", str(schemas)]):
        done = cli_imports(args, cwd=tmp_path)
        assert done.exit_code == 2 and message in done.output, done.output
        assert done.heavy == [], done.output
    assert not any((tmp_path / "home").iterdir())


def test_read_commands_open_only_what_they_read(tmp_path):
    """topics, drift, pause and resume read the state store alone; status and accountability of an empty
    home too: none of them imports PyIceberg, Arrow or DuckDB."""
    for args in (["status"], ["accountability"], ["topics", "--json"], ["drift"]):
        done = cli_imports(args, cwd=tmp_path)
        assert done.exit_code == 0 and done.heavy == [], done.output
    assert run_cli("ingest", "--topic", "events", "-", input=envelope("m1", {"a": 1}) + "\n").returncode == 0
    for args in (["topics", "--json"], ["pause", "events"], ["resume", "events"], ["drift"]):
        done = cli_imports(args, cwd=tmp_path)
        assert done.exit_code == 0 and done.heavy == [], done.output
    assert '"topic_name": "events"' in cli_imports(["topics", "--json"], cwd=tmp_path).output
    status = cli_imports(["status", "--json"], cwd=tmp_path)  # a topic with tables: the lake is opened
    assert status.exit_code == 0 and json.loads(status.output.split("\nEXIT")[0])[0]["topic"] == "events"


@pytest.mark.parametrize("args", [["status"], ["topics"], ["accountability"], ["drift"], ["errors"], ["run", "--once"]])
def test_an_empty_home_says_what_to_do_next(tmp_path, args):
    """No empty tables: the next steps, with this home in them; --json stays machine-readable, the hint goes to
    stderr."""
    home = tmp_path / "home"
    text = run_cli(*args)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"no topics yet in {home}. To start:\n"), text.stdout
    assert f"leanops init --home {home}" in text.stdout and f"leanops ingest --home {home} --topic" in text.stdout
    assert "schema file" in text.stdout and "┏" not in text.stdout  # no (empty) table drawn
    as_json = run_cli(*args, "--json")
    assert as_json.returncode == 0 and "no topics yet" in as_json.stderr
    data = json.loads(as_json.stdout)
    assert data == [] if isinstance(data, list) else not data.get("topics", data.get("groups"))


def test_read_commands_of_a_home_with_topics_read_metadata_only(tmp_path, schemas):
    """status and accountability of a home with topics, run, with errors in every table, read table metadata:
    PyIceberg parses it; no DuckDB (a schema default), Arrow, pandas or SQLAlchemy is loaded, and the error
    counts (from the error tables' commit summaries) are those of a scan (`--deep`)."""
    write_schema(schemas, {**EVENTS_SCHEMA, "curated": {
        "merge_key": "idempotency_key", "order_by": "event_timestamp",
        "columns": {"idempotency_key": {"type": "string", "cde": True}, "event_timestamp": {"type": "timestamp"},
                    "qty": {"type": "int", "default": "0"}}}})
    key = {"_metadata": {"idempotencyKeyResource": "k1"}, "event_timestamp": "2026-01-19T10:00:00Z"}
    lines = [envelope("m1", {**key, "qty": 1}), envelope("m2", {**key, "qty": "many"}), envelope("m3", "{x"), "junk"]
    assert run_cli("ingest", "--topic", "events", str(write_lines(tmp_path / "in.ndjson", lines))).returncode == 0
    assert run_cli("run", "--once").returncode == 0
    for args in (["status"], ["status", "--json"], ["accountability"]):
        done = cli_imports(args, cwd=tmp_path)
        assert done.exit_code == 0 and done.heavy == ["pyiceberg"], (args, done.heavy, done.output)
    fast = cli_imports(["accountability", "--json"], cwd=tmp_path)
    assert fast.heavy == ["pyiceberg"]
    accounts = json.loads(fast.output.split("\nEXIT")[0])
    assert [(a["layer"], a["errors"]) for a in accounts] == [("ingestion", 1), ("standardized", 1), ("curated", 1)]
    assert accounts == json.loads(run_cli("accountability", "--json", "--deep").stdout)
