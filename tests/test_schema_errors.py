"""A schema file's mistakes come out all at once, each at its JSON path, in plain words (no pydantic
wording), the same from every command that loads the file; `leanops schema show` prints the schema in
force with every default filled in."""
import json

import pytest
from conftest import cli_imports, envelope, run_cli, write_schema

from leanops.errors import SchemaFileError
from leanops.schema.effective import effective_fields
from leanops.schema.lint import lint_files
from leanops.schema_file import TopicSchema, parse_topic_schema, read_schema_dir

# what pydantic would say: none of it may reach a person
BANNED = ("Value error", "Extra inputs are not permitted", "Input should be", "errors.pydantic.dev",
          "Field required", "validation error", "[type=", "input_value", "input_type", "Assertion failed")

# one file, five mistakes: a typo'd key, a typo'd type, a default that does not cast, an undeclared
# order_by (a cross-field check), a partition transform that does not exist
FIVE_MISTAKES = {
    "topic": "events",
    "standardized": {},
    "curated": {
        "merge_keys": "idempotency_key",
        "order_by": "event_ts",
        "partition_by": ["days(publish_time)", "bucket(16, idempotency_key)"],
        "columns": {
            "idempotency_key": {"type": "string", "cde": True},
            "event_timestamp": {"type": "timestamp"},
            "name": {"type": "strin"},
            "amount": {"type": "decimal(18,2)", "default": "a lot"},
        },
    },
}
FIVE_FIELDS = ["curated.partition_by[0]", "curated.columns.name.type", "curated.columns.amount.default",
               "curated.merge_keys", "curated.order_by"]


def _error(schemas, doc: dict, name: str = "events.json", form_only: bool = False) -> SchemaFileError:
    path = schemas / name
    path.write_text(json.dumps(doc))
    with pytest.raises(SchemaFileError) as caught:
        parse_topic_schema(path, form_only=form_only)
    return caught.value


def _plain(text: str) -> None:
    for phrase in BANNED:
        assert phrase not in text, f"{phrase!r} in {text}"


def test_every_mistake_is_reported_with_its_path_and_field(schemas):
    error = _error(schemas, FIVE_MISTAKES)
    assert sorted(p.field for p in error.problems) == sorted(FIVE_FIELDS)
    lines = str(error).splitlines()
    assert len(lines) == 5 and all(line.startswith(f"{schemas}/events.json: field '") for line in lines)
    _plain(str(error))
    by_field = dict(error.problems)
    assert by_field["curated.merge_keys"].startswith("unknown field 'merge_keys' (did you mean 'merge_key'?)")
    assert by_field["curated.columns.name.type"].startswith(
        "unknown type 'strin' (did you mean 'string'?) — valid types: string, int, long, double, boolean, "
        "decimal(p,s), date, timestamp")
    assert by_field["curated.columns.amount.default"] == "default 'a lot' is not a valid decimal(18,2): not a decimal"
    assert by_field["curated.order_by"] == ("order_by 'event_ts' is not declared in curated.columns (did you mean "
                                            "'event_timestamp'?): declare it there, with its type")
    assert by_field["curated.partition_by[0]"].startswith("unknown transform 'days' (did you mean 'day'?)")
    # the first pass of deploy and lint (no DuckDB) reports all but the cast of the default
    first_pass = _error(schemas, FIVE_MISTAKES, form_only=True)
    assert sorted(p.field for p in first_pass.problems) == sorted(set(FIVE_FIELDS) - {"curated.columns.amount.default"})


@pytest.mark.parametrize("doc, field, problem", [
    ({"topic": "events", "curated": {"columns": {"n": {"typ": "int"}}}}, "curated.columns.n.typ",
     "unknown field 'typ' (did you mean 'type'?) — curated.columns.n takes: type, cde, default"),
    ({"topic": "events", "curated": {"columns": {"n": {"typ": "int"}}}}, "curated.columns.n.type",
     "is required but missing"),
    ({"topic": "events", "semantic": {"columns": {"n": {"type": "int", "form": "m"}}}}, "semantic.columns.n.form",
     "unknown field 'form' (did you mean 'from'?)"),
    ({"topic": "events", "zzz": 1}, "zzz", "unknown field 'zzz' — the file takes: topic, standardized, curated,"),
    ({"topic": "events", "change": {"kind": "NUCLEAR_RESTE"}}, "change.kind",
     "unknown value 'NUCLEAR_RESTE' (did you mean 'NUCLEAR_RESET'?) — valid: NEW_TABLE, SCHEMA_EVOLVE, "
     "NUCLEAR_RESET, PURE_REMAP"),
    ({"topic": "events", "curated": {"columns": {"n": {"type": 5}}}}, "curated.columns.n.type",
     "must be a string, not the number 5"),
    ({"topic": "events", "curated": {"columns": {"n": {"type": "int", "cde": "perhaps"}}}}, "curated.columns.n.cde",
     "must be true or false, not the text 'perhaps'"),
    ({"topic": "events", "curated": ["x"]}, "curated", "must be an object, not a list"),
    ({"topic": "events", "standardized": {"limits": {"max_depth": 0}}}, "standardized.limits.max_depth",
     "must be at least 1, not the number 0"),
    ({"topic": "events", "standardized": {"limits": {"max_keys": "many"}}}, "standardized.limits.max_keys",
     "must be a whole number, not the text 'many'"),
    ({"topic": "events", "semantic": {"columns": {"n": {"type": "int", "min": [0]}}}}, "semantic.columns.n.min",
     "must be a string or a number, not a list"),
    ({"topic": "events", "semantic": {"columns": {"n": {"type": "string", "max": "9"}}}}, "semantic.columns.n.max",
     "max needs an ordered type (a number, date or timestamp), and the column is string"),
    ({"topic": "events", "curated": {"merge_key": "id", "columns": {"ids": {"type": "string"},
                                                                    "event_timestamp": {"type": "timestamp"}}}},
     "curated.merge_key", "merge_key 'id' is not declared in curated.columns (did you mean 'ids'?)"),
    ({"topic": "events", "curated": {"columns": {"event_timestamp": {"type": "timestamp"}}}}, "curated.merge_key",
     "merge_key is not set, and its default 'idempotency_key' is not declared in curated.columns"),
    ({"topic": "events", "curated": {"partition_by": ["day(name)"], "columns": {
        "idempotency_key": {"type": "string"}, "event_timestamp": {"type": "timestamp"}, "name": {"type": "string"}}}},
     "curated.partition_by[0]", "'day(name)': day takes a date or timestamp column, and 'name' is string"),
    ({"topic": "events", "curated": {"partition_by": ["hour(shipped)"], "columns": {
        "idempotency_key": {"type": "string"}, "event_timestamp": {"type": "timestamp"}}}},
     "curated.partition_by[0]", "'hour(shipped)': hour takes a timestamp column, and 'shipped' is not declared, so "
                                "it is a string there"),
    ({"topic": "events", "curated": {"merge_key": "score", "columns": {
        "score": {"type": "double"}, "event_timestamp": {"type": "timestamp"}}}},
     "curated.partition_by", "the default partitioning's 'bucket(16, score)' (partition_by is not set): bucket "
                             "takes a string, int, long, decimal, date or timestamp column, and 'score' is double"),
    ({"topic": "events", "semantic": {"partition_by": ["region"], "columns": {"regoin": {"type": "string"}}}},
     "semantic.partition_by[0]", "'region' is not a semantic column (did you mean 'regoin'?)"),
    ({"topic": "events", "semantic": {"columns": {"qty": {"type": "int"}}, "cluster_by": ["qty", "qty"]}},
     "semantic.cluster_by[1]", "'qty' is listed twice"),
    ({"topic": "events", "standardized": {"column_map": {"a": "x", "b": "x"}}}, "standardized.column_map.b",
     "maps to 'x', as 'a' does"),
    ({"topic": "events", "curated": {"columns": {"Amount": {"type": "int"}}}}, "curated.columns.Amount",
     "column name 'Amount' must be lower-case"),
    ({"topic": "events", "maintenance": {"keep_snapshot_hours": 1}}, "maintenance.keep_snapshot_hours",
     "unknown field 'keep_snapshot_hours' (did you mean 'keep_snapshots_hours'?)"),
    ({"topic": "orders"}, "topic", "is 'orders' but the file is named 'events.json'"),
])
def test_each_kind_of_mistake_in_plain_words(schemas, doc, field, problem):
    error = _error(schemas, doc)
    found = dict(error.problems)
    assert field in found, error
    assert found[field].startswith(problem), found[field]
    _plain(str(error))


def test_the_topic_name_is_checked_with_the_rest(schemas):
    error = _error(schemas, {"topic": "Events", "standardized": {"limits": {"max_keys": 0}}}, name="Events.json")
    assert [p.field for p in error.problems] == ["standardized.limits.max_keys", "topic"]
    assert "invalid topic name 'Events'" in error.problems[1].problem


def test_the_model_alone_collects_too():
    """TopicSchema.model_validate (the Spark jobs, stored schemas) raises every problem, cross-field ones too."""
    from pydantic import ValidationError

    from leanops.schema.problems import problems
    with pytest.raises(ValidationError) as caught:
        TopicSchema.model_validate(FIVE_MISTAKES)
    assert sorted(p.field for p in problems(caught.value, TopicSchema)) == sorted(FIVE_FIELDS)


def test_every_loader_shows_the_same_problems(tmp_path, schemas):
    """deploy (read_schema_dir), lint and the run's schema gate (Context.schema) word a file the same way."""
    from leanops.context import Context
    path = write_schema(schemas, FIVE_MISTAKES)
    with pytest.raises(SchemaFileError) as deploy:
        read_schema_dir(schemas)
    lint = lint_files({}, {"events.json": path.read_bytes()}, schema_dir=str(schemas))
    ctx = Context.open(tmp_path / "home", schemas, lake=False)
    try:
        with pytest.raises(SchemaFileError) as gate:
            ctx.schema("events")
    finally:
        ctx.close()
    [linted] = lint.errors
    # deploy's and lint's first pass leave the default's cast for later; the run casts it too
    assert linted.problems == deploy.value.problems
    assert set(deploy.value.problems) < set(gate.value.problems)
    assert [e["field"] for e in lint.as_dict()["errors"]] == [p.field for p in linted.problems]


def test_the_cli_prints_every_problem_and_exits_2(tmp_path, schemas):
    """`deploy`, `schema show`, `run` and `rebuild`: one `error:` line per problem, the same lines."""
    write_schema(schemas, FIVE_MISTAKES)
    deploy = run_cli("deploy")
    assert deploy.returncode == 2
    lines = [line for line in deploy.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 4 and all(f"{schemas}/events.json: field '" in line for line in lines), deploy.stderr
    _plain(deploy.stderr)
    show = run_cli("schema", "show", "events")
    assert show.returncode == 2 and [line for line in show.stderr.splitlines() if line.startswith("error: ")] == lines
    assert run_cli("ingest", "--topic", "events", "-", input=envelope("m1", {"a": 1}) + "\n").returncode == 0
    run = run_cli("run", "--once", "--json")
    assert run.returncode == 1
    [outcome] = json.loads(run.stdout)["topics"]
    cast = (f"{schemas}/events.json: field 'curated.columns.amount.default': default 'a lot' is not a valid "
            "decimal(18,2): not a decimal")  # the run casts defaults too: a fifth problem
    assert sorted(outcome["message"].splitlines()) == sorted([line.removeprefix("error: ") for line in lines] + [cast])
    rebuild = run_cli("rebuild", "events")
    assert rebuild.returncode == 2 and len([line for line in rebuild.stderr.splitlines()
                                            if line.startswith("error: ")]) == 5, rebuild.stderr
    _plain(rebuild.stderr + run.stdout)


def test_a_broken_file_is_answered_before_the_heavy_imports(tmp_path, schemas):
    write_schema(schemas, FIVE_MISTAKES)
    for args in (["schema", "show", "events"], ["schema", "show", str(schemas / "events.json")], ["deploy"]):
        done = cli_imports(args, cwd=tmp_path)
        assert done.exit_code == 2 and "field 'curated.merge_keys'" in done.output, done.output
        assert done.heavy == [], done.output
    for args, message in ((["schema", "show", "clicks"], "no schema file for topic 'clicks'"),
                          (["schema", "show", "Bad Topic"], "invalid topic name 'Bad Topic'"),
                          (["schema", "show", "missing.json"], "no such file: missing.json")):
        done = cli_imports(args, cwd=tmp_path)
        assert done.exit_code == 2 and message in done.output and done.heavy == [], done.output
    assert not any((tmp_path / "home").iterdir())


MINIMAL = {"topic": "orders", "standardized": {},
           "curated": {"merge_key": "order_id", "columns": {"order_id": {"type": "string"},
                                                            "event_timestamp": {"type": "timestamp"},
                                                            "qty": {"type": "int", "default": "0"},
                                                            "sku": {"type": "string", "cde": True}}},
           "semantic": {"merge_key": "order_id", "columns": {"quantity": {"type": "int", "from": "qty", "min": 0},
                                                             "sku": {"type": "string"}}}}


def test_schema_show_fills_in_the_defaults_that_follow_other_fields(schemas, tmp_path):
    write_schema(schemas, MINIMAL)
    done = run_cli("schema", "show", "orders", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    fields = {f["field"]: (f["value"], f["source"]) for f in shown["fields"]}
    assert fields["curated.merge_key"] == ("order_id", "file")
    assert fields["curated.partition_by"] == (["day(publish_time)", "bucket(16, order_id)"], "default")
    assert fields["semantic.partition_by"] == (["day(publish_time)", "bucket(16, order_id)"], "default")
    assert fields["curated.order_by"] == ("event_timestamp", "default")
    assert fields["curated.cdes"] == (["sku"], "derived")
    assert fields["semantic.columns.order_id.type"] == ("string", "derived")  # the merge key, not declared
    assert fields["semantic.columns.sku.from"] == ("sku", "default")
    assert fields["semantic.columns.quantity.from"] == ("qty", "file")
    assert fields["standardized.limits.max_depth"] == (32, "default")
    assert fields["curated.columns.qty.default"] == ("0", "file")
    assert fields["curated.columns.qty.cde"] == (False, "default")
    assert fields["maintenance.keep_snapshots_hours"] == (24.0, "default")
    assert shown["schema"]["curated"]["partition_by"] == ["day(publish_time)", "bucket(16, order_id)"]
    assert shown["schema"]["semantic"]["columns"]["sku"] == {"type": "string", "from": "sku"}
    assert shown["file"] == str(schemas / "orders.json")
    # the partitioning follows a new merge key
    changed = {**MINIMAL, "curated": {**MINIMAL["curated"], "merge_key": "sku"}}
    schema = TopicSchema.model_validate(changed)
    [partitioning] = [f for f in effective_fields(schema) if f.field == "curated.partition_by"]
    assert partitioning.value == ["day(publish_time)", "bucket(16, sku)"] and "follows curated.merge_key" in partitioning.note
    text = run_cli("schema", "show", "orders", env={"LEANOPS_MAINTENANCE": '{"keep_snapshots_hours": 72}'})
    assert text.returncode == 0, text.stderr
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:4]]
            for line in text.stdout.splitlines() if line.startswith("│") and line.split("│")[1].strip()}
    assert rows["curated.partition_by"] == ['["day(publish_time)", "bucket(16, order_id)"]', "default"]
    assert rows["maintenance.keep_snapshots_hours"] == ["72.0", "deployment"]
    assert rows["semantic.columns.sku.from"] == ["sku", "default"]


def test_schema_show_marks_what_the_file_sets(schemas):
    doc = {**MINIMAL, "curated": {**MINIMAL["curated"], "partition_by": ["bucket(8, order_id)"]},
           "standardized": {"limits": {"max_depth": 8}}, "maintenance": {"keep_snapshots_hours": 6}}
    write_schema(schemas, doc)
    fields = {f.field: f for f in effective_fields(parse_topic_schema(schemas / "orders.json"))}
    assert (fields["curated.partition_by"].value, fields["curated.partition_by"].source) == (["bucket(8, order_id)"],
                                                                                           "file")
    assert (fields["standardized.limits.max_depth"].source, fields["standardized.limits.max_keys"].source) == (
        "file", "default")
    assert (fields["maintenance.keep_snapshots_hours"].value, fields["maintenance.keep_snapshots_hours"].source) == (
        6, "file")
    absent = {**MINIMAL}
    del absent["semantic"]
    write_schema(schemas, absent)
    fields = {f.field: f for f in effective_fields(parse_topic_schema(schemas / "orders.json"))}
    assert (fields["semantic"].source, fields["semantic"].value) == ("absent", None)
    assert "no Semantic layer" in fields["semantic"].note


def test_a_deployment_that_no_longer_validates_needs_a_declared_reset(ctx, schemas):
    """A check added since a schema was deployed (here: a semantic partition must be a semantic column)
    makes the stored schema invalid: deploy says so, as lint does of an invalid base, instead of failing."""
    from leanops.schema.deploy import deploy
    stored = {"topic": "events", "standardized": {},
              "semantic": {"partition_by": ["region"], "columns": {"qty": {"type": "int"}}}}
    ctx.state.record_deployment("events", "NEW_TABLE", "0" * 64, json.dumps(stored), "earlier", "[]")
    fixed = {**stored, "semantic": {"columns": {"qty": {"type": "int"}}}}
    write_schema(schemas, fixed)
    [refused] = deploy(ctx, schemas)
    assert not refused.ok and "NUCLEAR_RESET not declared" in refused.problem
    assert "field 'semantic.partition_by[0]': 'region' is not a semantic column" in refused.problem
    write_schema(schemas, {**fixed, "change": {"kind": "NUCLEAR_RESET", "reason": "region was never a column"}})
    [done] = deploy(ctx, schemas)
    assert done.ok and done.kind == "NUCLEAR_RESET"
