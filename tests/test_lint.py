"""The schema linter without git: every rule, the declaration check, hostile and invalid files."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from leanops.errors import SchemaFileError
from leanops.schema.changes import CHANGE_TYPES, BaseInvalid, ChangeKind
from leanops.schema.diff import diff
from leanops.schema.lint import classify, lint_files
from leanops.schema.rules import RULES
from leanops.schema.rules.column_types import promotion
from leanops.schema_file import TopicSchema

DOCS = Path(__file__).parents[1] / "docs" / "schema-lifecycle.md"

BASE = {
    "topic": "events",
    "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key", "event_uid": "user_id"}},
    "curated": {
        "merge_key": "idempotency_key",
        "order_by": "event_timestamp",
        "partition_by": ["day(publish_time)", "bucket(16, idempotency_key)"],
        "columns": {
            "idempotency_key": {"type": "string", "cde": True},
            "event_timestamp": {"type": "timestamp", "cde": True},
            "user_id": {"type": "string"},
            "amount": {"type": "decimal(18,2)", "default": "0"},
            "item_count": {"type": "int"},
            "total_ms": {"type": "long"},
            "note": {"type": "string"},
        },
    },
    "semantic": {"columns": {"user": {"type": "string", "from": "user_id"},
                             "amount": {"type": "decimal(18,2)"}}},
}


def schema(doc: dict) -> TopicSchema:
    return TopicSchema.model_validate(doc)


def edit(*edits: tuple[str, object]) -> dict:
    """BASE with dotted paths set (or deleted, for DELETE)."""
    doc = copy.deepcopy(BASE)
    for path, value in edits:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return doc


DELETE = object()
COLS = "curated.columns"

# (id, old, new, expected kind, expected change names in rule order)
CASES = [
    ("new file", None, BASE, ChangeKind.NEW_TABLE, ["NewTopic"]),
    ("removed file", BASE, None, ChangeKind.REMOVED, ["RemoveTopic"]),
    ("semantic section added", edit(("semantic", DELETE)), BASE, ChangeKind.NEW_TABLE, ["AddSection"]),
    ("curated section added", edit(("curated", DELETE), ("semantic", DELETE)), edit(("semantic", DELETE)),
     ChangeKind.NEW_TABLE, ["AddSection"]),
    ("semantic section removed", BASE, edit(("semantic", DELETE)), ChangeKind.NUCLEAR_RESET, ["RemoveSection"]),
    ("column added", BASE, edit((f"{COLS}.city", {"type": "string"})), ChangeKind.SCHEMA_EVOLVE, ["AddColumn"]),
    ("non-CDE column added", BASE, edit((f"{COLS}.city", {"type": "string", "cde": False})),
     ChangeKind.SCHEMA_EVOLVE, ["AddColumn"]),
    ("column with a default added", BASE, edit((f"{COLS}.n", {"type": "int", "default": "0"})),
     ChangeKind.SCHEMA_EVOLVE, ["AddColumn"]),
    ("CDE column added", BASE, edit((f"{COLS}.city", {"type": "string", "cde": True})),
     ChangeKind.NUCLEAR_RESET, ["AddCdeColumn"]),
    ("semantic column added", BASE, edit(("semantic.columns.note", {"type": "string"})),
     ChangeKind.SCHEMA_EVOLVE, ["AddColumn"]),
    ("column removed", BASE, edit((f"{COLS}.note", DELETE)), ChangeKind.NUCLEAR_RESET, ["DropColumn"]),
    ("semantic column removed", BASE, edit(("semantic.columns.user", DELETE)), ChangeKind.NUCLEAR_RESET,
     ["DropColumn"]),
    ("column renamed", BASE, edit((f"{COLS}.note", DELETE), (f"{COLS}.remark", {"type": "string"})),
     ChangeKind.NUCLEAR_RESET, ["AddColumn", "DropColumn"]),
    ("int -> long", BASE, edit((f"{COLS}.item_count.type", "long")), ChangeKind.SCHEMA_EVOLVE, ["WidenType"]),
    ("decimal precision up", BASE, edit((f"{COLS}.amount.type", "decimal(20,2)")), ChangeKind.SCHEMA_EVOLVE,
     ["WidenType"]),
    ("semantic decimal precision up", BASE, edit(("semantic.columns.amount.type", "decimal(38,2)")),
     ChangeKind.SCHEMA_EVOLVE, ["WidenType"]),
    ("long -> int", BASE, edit((f"{COLS}.total_ms.type", "int")), ChangeKind.NUCLEAR_RESET, ["NarrowType"]),
    ("decimal precision down", BASE, edit((f"{COLS}.amount.type", "decimal(10,2)")), ChangeKind.NUCLEAR_RESET,
     ["NarrowType"]),
    ("decimal scale changed", BASE, edit((f"{COLS}.amount.type", "decimal(20,4)")), ChangeKind.NUCLEAR_RESET,
     ["ChangeType"]),
    ("int -> double", BASE, edit((f"{COLS}.item_count.type", "double")), ChangeKind.NUCLEAR_RESET,
     ["ChangeType"]),
    ("long -> double", BASE, edit((f"{COLS}.total_ms.type", "double")), ChangeKind.NUCLEAR_RESET, ["ChangeType"]),
    ("int -> string", BASE, edit((f"{COLS}.item_count.type", "string")), ChangeKind.NUCLEAR_RESET,
     ["ChangeType"]),
    ("decimal -> int", BASE, edit((f"{COLS}.amount.type", "int")), ChangeKind.NUCLEAR_RESET, ["ChangeType"]),
    ("string -> timestamp", BASE, edit((f"{COLS}.note.type", "timestamp")), ChangeKind.NUCLEAR_RESET,
     ["ChangeType"]),
    ("type spelling only", BASE, edit((f"{COLS}.amount.type", " Decimal(18, 2) ")), None, []),
    ("made CDE", BASE, edit((f"{COLS}.note.cde", True)), ChangeKind.NUCLEAR_RESET, ["MakeCde"]),
    ("made CDE, default dropped", BASE, edit((f"{COLS}.amount", {"type": "decimal(18,2)", "cde": True})),
     ChangeKind.NUCLEAR_RESET, ["MakeCde", "ChangeDefault"]),
    ("CDE dropped", BASE, edit((f"{COLS}.event_timestamp.cde", False)), ChangeKind.SCHEMA_EVOLVE, ["DropCde"]),
    ("default changed", BASE, edit((f"{COLS}.amount.default", "1.5")), ChangeKind.PURE_REMAP, ["ChangeDefault"]),
    ("default added", BASE, edit((f"{COLS}.note.default", "n/a")), ChangeKind.PURE_REMAP, ["ChangeDefault"]),
    ("default removed", BASE, edit((f"{COLS}.amount.default", DELETE)), ChangeKind.PURE_REMAP,
     ["ChangeDefault"]),
    ("merge_key changed", BASE, edit(("curated.merge_key", "user_id")), ChangeKind.NUCLEAR_RESET,
     ["ChangeMergeKey"]),
    ("order_by changed", BASE, edit(("curated.order_by", "publish_time")), ChangeKind.NUCLEAR_RESET,
     ["ChangeOrderBy"]),
    ("semantic merge_key changed", BASE, edit(("semantic.merge_key", "user")), ChangeKind.NUCLEAR_RESET,
     ["ChangeMergeKey"]),
    ("merge_key written out as its default", edit(("curated.merge_key", DELETE)), BASE, None, []),
    ("bucket count changed", BASE, edit(("curated.partition_by", ["day(publish_time)", "bucket(32, idempotency_key)"])),
     ChangeKind.NUCLEAR_RESET, ["ChangePartition"]),
    ("partition transform changed", BASE, edit(("curated.partition_by", ["hour(publish_time)"])),
     ChangeKind.NUCLEAR_RESET, ["ChangePartition"]),
    ("partitions reordered", BASE, edit(("curated.partition_by", ["bucket(16, idempotency_key)",
                                                                 "day(publish_time)"])),
     ChangeKind.NUCLEAR_RESET, ["ChangePartition"]),
    ("partition spacing only", BASE, edit(("curated.partition_by", [" day( publish_time ) ",
                                                                   "bucket(16,idempotency_key)"])), None, []),
    ("partition_by written out as its default", edit(("curated.partition_by", DELETE)), BASE, None, []),
    ("merge_key changed under the default partitioning", edit(("curated.partition_by", DELETE)),
     edit(("curated.partition_by", DELETE), ("curated.merge_key", "user_id")), ChangeKind.NUCLEAR_RESET,
     ["ChangeMergeKey", "ChangePartition"]),
    ("column_map source changed", BASE,
     edit(("standardized.column_map", {"_metadata_idempotencykeyresource": "idempotency_key",
                                       "event_userid": "user_id"})),
     ChangeKind.PURE_REMAP, ["ChangeColumnMap"]),
    ("column_map targets swapped", edit(("standardized.column_map", {"a": "x", "b": "y"})),
     edit(("standardized.column_map", {"a": "y", "b": "x"})), ChangeKind.PURE_REMAP,
     ["ChangeColumnMap", "ChangeColumnMap"]),
    ("column_map entry added", BASE, edit(("standardized.column_map.event_sid", "session_id")),
     ChangeKind.NUCLEAR_RESET, ["AddColumnMap"]),
    ("column_map entry removed", BASE, edit(("standardized.column_map.event_uid", DELETE)),
     ChangeKind.NUCLEAR_RESET, ["RemoveColumnMap"]),
    ("column_map target renamed", BASE, edit(("standardized.column_map.event_uid", "uid")),
     ChangeKind.NUCLEAR_RESET, ["RenameMappedColumn"]),
    ("semantic from changed", BASE, edit(("semantic.columns.user.from", "note")), ChangeKind.PURE_REMAP,
     ["ChangeSemanticFrom"]),
    ("semantic from spelled out as the same column", BASE, edit(("semantic.columns.amount.from", "amount")),
     None, []),
    ("description only", BASE, edit(("description", "now documented")), None, []),
    ("remap plus added column", BASE, edit((f"{COLS}.city", {"type": "string"}),
                                           ("semantic.columns.user.from", "note")),
     ChangeKind.PURE_REMAP, ["AddColumn", "ChangeSemanticFrom"]),
    ("widen plus drop", BASE, edit((f"{COLS}.item_count.type", "long"), (f"{COLS}.note", DELETE)),
     ChangeKind.NUCLEAR_RESET, ["DropColumn", "WidenType"]),
]


@pytest.mark.parametrize("old, new, kind, names", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_table(old, new, kind, names):
    old_schema, new_schema = (schema(d) if d else None for d in (old, new))
    verdict = classify(old_schema, new_schema)
    assert verdict.kind == kind
    assert [c.name for c in verdict.changes] == names
    for change in verdict.changes:
        assert change.rule in {r.__name__ for r in RULES}
        assert change.reason.startswith(f"{change.field}: ")
        json.dumps(change.as_dict())  # JSON-ready for --json


def test_the_table_exercises_every_rule_and_change():
    seen_rules, seen_changes = set(), set()
    for _, old, new, _, _ in CASES:
        for change in diff(*(schema(d) if d else None for d in (old, new))):
            seen_rules.add(change.rule)
            seen_changes.add(change.name)
    assert seen_rules == {r.__name__ for r in RULES}
    assert seen_changes == {c.__name__ for c in CHANGE_TYPES} - {"BaseInvalid"}  # BaseInvalid: lint_files


def test_reasons_name_the_column_and_the_change():
    [change] = diff(schema(BASE), schema(edit((f"{COLS}.amount.type", "int"))))
    assert change.reason == ("curated.columns.amount.type: decimal(18,2) -> int is not a type Iceberg can "
                             "promote in place")
    [change] = diff(schema(BASE), schema(edit(("standardized.column_map.event_uid", "uid"))))
    assert change.reason == "standardized.column_map: output column user_id renamed to uid (from event_uid)"
    assert (change.old, change.new) == ({"event_uid": "user_id"}, {"event_uid": "uid"})


def test_promotions_are_icebergs():
    assert promotion("int", "long") == "widen"
    assert promotion("decimal(9,2)", "decimal(10,2)") == "widen"
    assert promotion("decimal(10,2)", "decimal(10,2)") == "same"
    for old, new in [("int", "double"), ("long", "double"), ("double", "decimal(38,2)"), ("date", "timestamp"),
                     ("int", "string"), ("boolean", "int"), ("decimal(10,2)", "decimal(12,3)")]:
        assert promotion(old, new) == "incompatible", (old, new)


def test_every_rule_has_a_summary_and_the_docs_table_lists_them():
    docs = DOCS.read_text(encoding="utf-8")
    for rule in RULES:
        assert rule.__doc__ and len(rule.__doc__.split()) > 8, rule.__name__
        assert f"`{rule.__name__}`" in docs, rule.__name__
    for change in CHANGE_TYPES:
        assert f"`{change.__name__}`" in docs, change.__name__


# --- declarations --------------------------------------------------------------------------------

DROP_NOTE = edit((f"{COLS}.note", DELETE))


def declared(doc: dict, kind: str, reason: str = "because") -> dict:
    return {**doc, "change": {"kind": kind, "reason": reason}}


def test_undeclared_breaking_change_says_what_to_declare():
    verdict = classify(schema(BASE), schema(DROP_NOTE), path="schemas/events.json")
    assert not verdict.ok and verdict.declared is None
    assert verdict.problem == (
        'events: NUCLEAR_RESET not declared: add "change": {"kind": "NUCLEAR_RESET", "reason": "..."} to '
        "schemas/events.json (curated.columns.note: removed (was string); a rename is a removal plus an addition)")


@pytest.mark.parametrize("new, kind, ok, warns", [
    (declared(DROP_NOTE, "NUCLEAR_RESET"), ChangeKind.NUCLEAR_RESET, True, False),
    (declared(DROP_NOTE, "PURE_REMAP"), ChangeKind.NUCLEAR_RESET, False, False),
    (declared(DROP_NOTE, "SCHEMA_EVOLVE"), ChangeKind.NUCLEAR_RESET, False, False),
    (edit((f"{COLS}.amount.default", "1")), ChangeKind.PURE_REMAP, False, False),
    (declared(edit((f"{COLS}.amount.default", "1")), "PURE_REMAP"), ChangeKind.PURE_REMAP, True, False),
    (declared(edit((f"{COLS}.amount.default", "1")), "NUCLEAR_RESET"), ChangeKind.PURE_REMAP, True, True),
    (declared(edit((f"{COLS}.amount.default", "1")), "SCHEMA_EVOLVE"), ChangeKind.PURE_REMAP, False, False),
    (edit((f"{COLS}.city", {"type": "string"})), ChangeKind.SCHEMA_EVOLVE, True, False),
    (declared(edit((f"{COLS}.city", {"type": "string"})), "SCHEMA_EVOLVE"), ChangeKind.SCHEMA_EVOLVE, True, False),
    (declared(edit((f"{COLS}.city", {"type": "string"})), "NUCLEAR_RESET"), ChangeKind.SCHEMA_EVOLVE, True, True),
    (declared(edit(("description", "x")), "NUCLEAR_RESET"), None, True, True),
], ids=["nuclear declared", "nuclear declared as remap", "nuclear declared as evolve", "remap undeclared",
        "remap declared", "remap declared as nuclear", "remap declared as evolve", "evolve undeclared",
        "evolve declared", "evolve declared as nuclear", "nothing declared as nuclear"])
def test_declarations(new, kind, ok, warns):
    verdict = classify(schema(BASE), schema(new))
    assert (verdict.kind, verdict.ok, bool(verdict.warnings)) == (kind, ok, warns), verdict


def test_a_declaration_left_from_an_earlier_change_does_not_count():
    old = declared(BASE, "NUCLEAR_RESET", "user_id changes meaning")
    verdict = classify(schema(old), schema(declared(DROP_NOTE, "NUCLEAR_RESET", "user_id changes meaning")),
                       base="main")
    assert verdict.declared is None and not verdict.ok
    assert "already at main" in verdict.problem and '"kind": "NUCLEAR_RESET"' in verdict.problem
    fresh = classify(schema(old), schema(declared(DROP_NOTE, "NUCLEAR_RESET", "note is unused")))
    assert fresh.ok and fresh.declared is ChangeKind.NUCLEAR_RESET


def test_a_declaration_needs_a_reason():
    verdict = classify(schema(BASE), schema(declared(DROP_NOTE, "NUCLEAR_RESET", " ")))
    assert not verdict.ok and "without a reason" in verdict.problem


def test_new_file_needs_no_declaration_and_warns_on_one():
    assert classify(None, schema(BASE)).ok
    verdict = classify(None, schema(declared(BASE, "NUCLEAR_RESET")))
    assert verdict.ok and verdict.kind is ChangeKind.NEW_TABLE and "classifies as NEW_TABLE" in verdict.warnings[0]


def test_removed_file_fails_unless_allowed():
    verdict = classify(schema(BASE), None, path="schemas/events.json")
    assert not verdict.ok and "--allow-removed events" in verdict.problem
    assert classify(schema(BASE), None, allow_removed=True).ok


# --- lint_files: whole directories, collected findings, invalid files ----------------------------

def files(**docs) -> dict[str, bytes]:
    return {name.replace("__", "."): (d if isinstance(d, bytes) else json.dumps(d).encode())
            for name, d in docs.items()}


def orders(**changes) -> dict:
    return {**edit(*changes.items()), "topic": "orders"}


def test_collects_every_finding_before_failing():
    before = files(events__json=BASE, orders__json=orders(), payments__json={**BASE, "topic": "payments"})
    after = files(events__json=DROP_NOTE, orders__json=orders(**{"curated.order_by": "publish_time"}),
                  payments__json={**BASE, "topic": "payments"}, clicks__json=b"{broken")
    report = lint_files(before, after, base_ref="main")
    assert [t.topic for t in report.topics] == ["events", "orders"]  # payments unchanged: not listed
    assert [t.ok for t in report.topics] == [False, False]
    [error] = report.errors
    assert (error.path, error.field) == ("schemas/clicks.json", "<file>")
    assert report.exit_code == 2 and not report.ok
    assert lint_files(before, {k: v for k, v in after.items() if k != "clicks.json"}).exit_code == 1
    as_json = report.as_dict()
    assert as_json["ok"] is False and as_json["errors"][0]["field"] == "<file>"
    assert {t["topic"]: t["kind"] for t in as_json["topics"]} == {"events": "NUCLEAR_RESET",
                                                                   "orders": "NUCLEAR_RESET"}


def test_a_broken_file_first_then_the_casts_of_defaults():
    """A file that is not well formed is reported without casting any default (no DuckDB); a default that
    would not cast is reported by the next lint, once every file is well formed."""
    uncastable = {**BASE, "topic": "payments", "curated": {**BASE["curated"], "columns": {
        **BASE["curated"]["columns"], "item_count": {"type": "int", "default": "many"}}}}
    before = files(events__json=BASE)
    report = lint_files(before, files(events__json=BASE, payments__json=uncastable, clicks__json=b"{broken"))
    assert [(e.path, e.field) for e in report.errors] == [("schemas/clicks.json", "<file>")]
    assert [t.topic for t in report.topics] == ["payments"] and report.exit_code == 2
    fixed = lint_files(before, files(events__json=BASE, payments__json=uncastable))
    [error] = fixed.errors
    assert error.field == "curated.columns.item_count.default" and "default 'many' is not a valid int" in error.problem
    assert fixed.exit_code == 2


def test_unchanged_and_cosmetic_files():
    before = files(events__json=BASE)
    assert lint_files(before, before).topics == []
    pretty = {"events.json": json.dumps(BASE, indent=4).encode()}
    [verdict] = lint_files(before, pretty).topics
    assert verdict.kind is None and verdict.ok and verdict.changes == ()
    import yaml
    [moved] = lint_files(before, {"events.yaml": yaml.safe_dump(BASE).encode()}).topics
    assert moved.kind is None and moved.path == "schemas/events.yaml"


def test_an_invalid_base_version_needs_a_reset_declaration():
    before = files(events__json={**BASE, "curated": {"columns": {"Bad": {"type": "string"}}}})
    [verdict] = lint_files(before, files(events__json=BASE)).topics
    assert verdict.kind is ChangeKind.NUCLEAR_RESET and isinstance(verdict.changes[0], BaseInvalid)
    assert "the base version is invalid (field 'curated.columns.Bad'" in verdict.problem
    report = lint_files(before, files(events__json=declared(BASE, "NUCLEAR_RESET", "fix the file")))
    assert report.ok


def test_removed_files_and_allow_removed():
    before = files(events__json=BASE, orders__json=orders())
    report = lint_files(before, files(events__json=BASE))
    assert report.exit_code == 1 and report.topics[0].kind is ChangeKind.REMOVED
    assert lint_files(before, files(events__json=BASE), allow_removed={"orders"}).ok


CURATED_MIN = {"idempotency_key": {"type": "string"}, "event_timestamp": {"type": "timestamp"}}


def curated(**columns) -> dict:
    return {"topic": "events", "curated": {"columns": {**CURATED_MIN, **columns}}}


ALIAS_BOMB = b"topic: events\nx:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + b"".join(
    f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n".encode() for i in range(1, 10))

HOSTILE = [
    ("not JSON", "events.json", b"{not json", "<file>", "not valid JSON"),
    ("empty file", "events.json", b"", "<file>", "not valid JSON"),
    ("not an object", "events.json", b"[1, 2]", "<file>", "object"),
    ("not UTF-8", "events.json", b'{"topic": "\xff"}', "<file>", "UTF-8"),
    ("bad YAML", "events.yaml", b"topic: [unclosed", "<file>", "YAML"),
    ("YAML with a python tag", "events.yaml", b"!!python/object/apply:os.system ['echo pwned']", "<file>", "YAML"),
    ("wrong type of a field", "events.json", curated(n={"type": 5}), "curated.columns.n.type", "string"),
    ("wrong type of a section", "events.json", {"topic": "events", "curated": []}, "curated", ""),
    ("unknown field", "events.json", {"topic": "events", "curatd": {}}, "curatd",
     "unknown field 'curatd' (did you mean 'curated'?)"),
    ("unknown column field", "events.json", curated(n={"type": "int", "nullable": True}),
     "curated.columns.n.nullable", "unknown field 'nullable'"),
    ("topic/file name mismatch", "events.json", {"topic": "orders"}, "topic", "events.json"),
    ("missing topic", "events.json", {"standardized": {}}, "topic", "required"),
    ("column name with a quote", "events.json", curated(**{'a"b': {"type": "string"}}), 'curated.columns.a"b',
     "lower-case"),
    ("upper-case column name", "events.json", curated(Amount={"type": "string"}), "curated.columns.Amount",
     "lower-case"),
    ("column_map target with a quote", "events.json",
     {"topic": "events", "standardized": {"column_map": {"a": 'x"; DROP TABLE t; --'}}},
     "standardized.column_map.a", "lower-case"),
    ("decimal(40,2)", "events.json", curated(amount={"type": "decimal(40,2)"}), "curated.columns.amount.type",
     "precision"),
    ("decimal scale above precision", "events.json", curated(amount={"type": "decimal(2,5)"}),
     "curated.columns.amount.type", "precision"),
    ("unknown type", "events.json", curated(name={"type": "varchar"}), "curated.columns.name.type", "unknown type"),
    ("CDE with a default", "events.json", curated(n={"type": "int", "cde": True, "default": "0"}),
     "curated.columns.n.default", "cannot have a default"),
    ("default that does not cast", "events.json", curated(n={"type": "int", "default": "ten"}),
     "curated.columns.n.default", "not a valid int"),
    ("merge_key not declared", "events.json", {"topic": "events", "curated": {"merge_key": "id",
                                                                              "columns": CURATED_MIN}},
     "curated.merge_key", "'id' is not declared in curated.columns"),
    ("bad partition", "events.json", {"topic": "events", "curated": {"partition_by": ["bucket(0, x)"],
                                                                     "columns": CURATED_MIN}},
     "curated.partition_by[0]", "at least 1"),
    ("unknown change kind", "events.json", {"topic": "events", "change": {"kind": "NUKE"}}, "change.kind", ""),
    ("upper-case topic name", "Events.json", {"topic": "Events"}, "topic", "invalid topic name"),
    ("duplicate JSON key", "events.json", b'{"topic": "events", "curated": {"columns": {"idempotency_key": '
     b'{"type": "string", "cde": true, "cde": false}, "event_timestamp": {"type": "timestamp"}}}}',
     "<file>", "'cde' appears twice"),
    ("duplicate YAML key", "events.yaml", b"topic: events\ntopic: events\n", "<file>", "'topic' appears twice"),
    ("deeply nested JSON", "events.json", b"[" * 100_000 + b"]" * 100_000, "<file>", "nested too deeply"),
    ("deeply nested YAML", "events.yaml", b"[" * 100_000 + b"]" * 100_000, "<file>", "nested too deeply"),
    ("YAML alias bomb", "events.yaml", ALIAS_BOMB, "x", "unknown field 'x'"),
    ("reserved topic name", "errors.json", {"topic": "errors"}, "topic", "collide"),
]


@pytest.mark.parametrize("name, content, field, problem", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_invalid_files_name_path_and_field(name, content, field, problem):
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    report = lint_files({}, {name: data}, schema_dir="repo/schemas")
    [error] = report.errors
    assert isinstance(error, SchemaFileError) and report.exit_code == 2 and report.topics == []
    assert (error.path, error.field) == (f"repo/schemas/{name}", field)
    assert problem in error.problem
    assert str(error).startswith(f"repo/schemas/{name}: field '{field}': ")


def test_yaml_merge_keys_may_be_overridden():
    doc = (b"topic: events\ncurated:\n  columns:\n    idempotency_key: {type: string, cde: true}\n"
           b"    event_timestamp: {type: timestamp}\n    a: &int {type: int, default: '0'}\n"
           b"    b:\n      <<: *int\n      default: '1'\n")
    assert lint_files({}, {"events.yaml": doc}).ok


def test_two_files_for_one_topic_are_invalid():
    report = lint_files({}, {"events.json": json.dumps(BASE).encode(), "events.yml": b"topic: events\n"})
    [error] = report.errors
    assert error.field == "<file>" and "events.json, events.yml" in error.problem and report.exit_code == 2


def test_semantic_column_names_are_validated():
    doc = {"topic": "events", "semantic": {"columns": {'a"b': {"type": "string", "from": 'Q"'}}}}
    assert lint_files({}, {"events.json": json.dumps(doc).encode()}).exit_code == 2


def test_schema_file_with_a_repeated_key_or_deep_nesting_is_invalid(tmp_path):
    from leanops.errors import SchemaFileError
    from leanops.schema_file import parse_topic_schema
    repeated = tmp_path / "events.json"
    repeated.write_text('{"topic": "events", "topic": "events"}')
    with pytest.raises(SchemaFileError, match="appears twice"):
        parse_topic_schema(repeated)
    deep = tmp_path / "events.json"
    deep.write_text('{"topic": "events", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(SchemaFileError):
        parse_topic_schema(deep)
