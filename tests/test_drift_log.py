"""Drift log: recorded once per (topic, column, kind), listed by the store and by `leanops drift`."""
import json
import sqlite3

from conftest import run_cli

from leanops.context import Context
from leanops.state import sqlite as sqlite_state
from leanops.state.sqlite import MIGRATIONS, SqliteStateStore


def test_entry_is_recorded_once(ctx):
    assert ctx.state.record_drift("events", "color", "undeclared_column", "red", 11, "not in schema") is True
    [first] = ctx.state.list_drift()
    assert ctx.state.record_drift("events", "color", "undeclared_column", "blue", 12, "again") is False
    [again] = ctx.state.list_drift()
    assert again == first
    assert (first.sample_value, first.snapshot_id, first.detail) == ("red", 11, "not in schema")
    assert first.first_seen.tzinfo is not None
    # another kind for the same column is a separate entry
    assert ctx.state.record_drift("events", "color", "type_conflict", "1", None) is True
    assert len(ctx.state.list_drift()) == 2


def test_list_filters_by_topic_and_orders_by_first_seen(ctx):
    ctx.state.record_drift("orders", "b", "undeclared_column", None, None)
    ctx.state.record_drift("events", "a", "missing_schema", None, None)
    ctx.state.record_drift("orders", "a", "undeclared_column", "x", 3)
    assert [(e.topic, e.column_name) for e in ctx.state.list_drift()] == [("orders", "b"), ("events", "a"),
                                                                          ("orders", "a")]
    assert [e.column_name for e in ctx.state.list_drift("orders")] == ["b", "a"]
    assert ctx.state.list_drift("nope") == []
    entry = ctx.state.list_drift("events")[0].as_dict()
    assert entry["sample_value"] is None and entry["detail"] == "" and isinstance(entry["first_seen"], str)


def test_v4_database_is_migrated_to_v5(tmp_path, monkeypatch):
    path = tmp_path / "state.db"
    monkeypatch.setattr(sqlite_state, "MIGRATIONS", MIGRATIONS[:4])
    old = SqliteStateStore(path)
    old.register_topic("events")
    assert old.schema_version == 4
    old.close()
    monkeypatch.setattr(sqlite_state, "MIGRATIONS", MIGRATIONS)
    store = SqliteStateStore(path)
    assert store.schema_version == len(MIGRATIONS) >= 5
    assert store.get_topic("events") is not None and store.list_drift() == []
    assert store.record_drift("events", "c", "undeclared_column", "v", 1)
    store.close()
    again = SqliteStateStore(path)  # reopening a v5 store changes nothing
    assert again.schema_version == len(MIGRATIONS) and len(again.list_drift()) == 1
    again.close()


def test_hostile_values_are_stored_as_data(ctx):
    topic, column = "ev'ents\"; DROP TABLE drift_log; --", "cölumn 🚀 '); --"
    assert ctx.state.record_drift(topic, column, "type_conflict", "x" * 10_000, None, "it's \"quoted\"")
    assert ctx.state.record_drift("events", "c", "undeclared_column", "é" * 300, 1)
    [hostile] = ctx.state.list_drift(topic)
    assert (hostile.topic, hostile.column_name, hostile.detail) == (topic, column, "it's \"quoted\"")
    assert hostile.sample_value == "x" * 200
    assert ctx.state.list_drift("events")[0].sample_value == "é" * 200
    count = sqlite3.connect(ctx.settings.state_path).execute("SELECT count(*) FROM drift_log").fetchone()[0]
    assert count == 2


def test_cli_lists_drift(tmp_path):
    empty = run_cli("drift", "--json")
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == []
    text = run_cli("drift")
    assert text.returncode == 0 and "no topics yet" in text.stdout  # an empty home: what to do next
    ctx = Context.open()
    try:
        ctx.state.register_topic("events")
        text = run_cli("drift")
        assert text.returncode == 0 and "no drift recorded" in text.stdout
        ctx.state.record_drift("events", "color", "undeclared_column", "red", 7)
        ctx.state.record_drift("orders", "qty", "type_conflict", "ten", None, "declared int")
    finally:
        ctx.close()
    result = run_cli("drift", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["topic"], r["column_name"], r["kind"], r["sample_value"], r["snapshot_id"]) for r in rows] == [
        ("events", "color", "undeclared_column", "red", 7), ("orders", "qty", "type_conflict", "ten", None)]
    only = json.loads(run_cli("drift", "--topic", "orders", "--json").stdout)
    assert [r["detail"] for r in only] == ["declared int"]
    table = run_cli("drift")
    assert table.returncode == 0 and "color" in table.stdout and "undeclared_column" in table.stdout
