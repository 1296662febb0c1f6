"""The command line as a user meets it: init, ingest, run, accountability, exit codes."""
import json

import pytest

from conftest import EVENTS_SCHEMA, envelope, run_cli, write_lines, write_schema

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
    assert done.returncode == 0 and "1 accepted" in done.stdout


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
    assert done.returncode == 0
    acc = json.loads(run_cli("accountability", "--json").stdout)
    ingestion = [a for a in acc if a["layer"] == "ingestion"][0]
    assert (ingestion["records_in"], ingestion["written"], ingestion["errors"], ingestion["ok"]) == (2, 0, 2, True)


HEAVY = ("duckdb", "pyarrow", "pyiceberg")
_IMPORTS_OF = """
import sys
from leanops.cli.main import main
sys.argv = ["leanops", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    print("EXIT", exc.code)
print("HEAVY", sorted(m for m in sys.modules if m.split(".")[0] in {heavy}))
"""


@pytest.mark.parametrize("args, message", [
    (["ingest", "--topic", "events", "no-such-file.ndjson"], "no such file: no-such-file.ndjson"),
    (["ingest", "--topic", "Bad Topic", "-"], "invalid topic name 'Bad Topic'"),
])
def test_usage_errors_answer_before_the_heavy_imports(tmp_path, args, message):
    """A mistyped path or topic is answered by the CLI alone: DuckDB, Arrow and PyIceberg are never imported."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", _IMPORTS_OF.replace("{heavy}", repr(set(HEAVY))), *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "EXIT 2" in done.stdout and message in done.stderr, done.stdout + done.stderr
    assert "HEAVY []" in done.stdout, done.stdout
    assert not (tmp_path / ".leanops").exists()  # refused before a home was opened
