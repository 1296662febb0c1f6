"""Offline checks of the Terraform under infra/terraform (docs/terraform.md).

No provider can be downloaded here, so `terraform init/validate/plan` against the registry are out; what runs:
1. `terraform fmt -check`;
2. the HCL, parsed with python-hcl2: every var./local./module./resource/data reference resolves inside its
   module, module calls pass exactly the inputs their modules declare, every declared input is used, and
   every templatefile() of a state machine definition passes exactly the variables placeholders.json lists;
3. the DynamoDB tables equal the state store's layout (leanops.state.dynamodb.TABLES);
4. checkov: no failed check, no parsing error, every skip an inline reason right at its resource, and
   every skip still needed;
5. where a local provider mirror exists (a filesystem mirror, not a download): `terraform validate` and
   the mocked plans of infra/terraform/tests/plan.tftest.hcl.

The checks that run terraform are in the `terraform` tier, checkov's in the `checkov` tier (tests/tiers.py):
without the tool they are skipped with the reason, and under LEANOPS_REQUIRE_ALL_TIERS=1, which CI sets,
they fail, so a skip never lets an unformatted or insecure tree through CI unnoticed. Check 5 also skips
without a provider mirror, an extra this machine happens to have, not part of the project's setup.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[1]
TF = ROOT / "infra" / "terraform"
DEFINITIONS = TF / "modules" / "orchestration" / "definitions"
PLACEHOLDERS = DEFINITIONS / "placeholders.json"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
PLUGIN_MIRROR = Path(os.environ.get("LEANOPS_TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
META_ARGUMENTS = {"source", "version", "providers", "depends_on", "count", "for_each"}
# terraform must neither phone home (version checkpoint) nor ask questions
TF_ENV = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}


def terraform() -> str:
    """The terraform binary; the tests that call this are marked `terraform`, the tier that needs it."""
    return shutil.which("terraform") or "terraform"


def run(cmd: list[str], cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=TF_ENV, capture_output=True, text=True, timeout=timeout)


# --- 1. fmt ------------------------------------------------------------------------------------------------

@pytest.mark.terraform
def test_terraform_fmt_is_clean():
    done = run([terraform(), "fmt", "-check", "-recursive", "-diff", "-no-color", str(TF)], ROOT)
    assert done.returncode == 0, f"terraform fmt would change infra/terraform (run `terraform fmt -recursive infra/terraform`):\n{done.stdout}{done.stderr}"


# --- 2. HCL ------------------------------------------------------------------------------------------------

def _label(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _string(value: Any) -> Any:
    """A literal as python-hcl2 gives it ('"x"') -> 'x'; expressions ('${...}') and non-strings unchanged."""
    return _label(value) if isinstance(value, str) else value


def _blocks(section: Any) -> Iterator[dict]:
    for item in section if isinstance(section, list) else [section]:
        if isinstance(item, dict):
            yield item


def _strings(node: Any) -> Iterator[str]:
    """Every string in a parsed body, comments left out."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key != "__comments__":
                yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _expressions(text: str) -> Iterator[str]:
    """The ${...} parts of a string (nested ones stay inside their outer part)."""
    start = text.find("${")
    while start != -1:
        depth, i = 0, start + 1
        while i < len(text):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        yield text[start + 2:i]
        start = text.find("${", i)


REF_VAR = re.compile(r"(?<![\w.])var\.([A-Za-z_][\w-]*)")
REF_LOCAL = re.compile(r"(?<![\w.])local\.([A-Za-z_][\w-]*)")
REF_MODULE = re.compile(r"(?<![\w.])module\.([A-Za-z_][\w-]*)\.([A-Za-z_][\w-]*)")
REF_DATA = re.compile(r"(?<![\w.])data\.([a-z][a-z0-9_]*)\.([A-Za-z_][\w-]*)")
REF_RESOURCE = re.compile(r"(?<![\w.])((?:aws|terraform|null|random|time|archive|tls)_[a-z0-9_]+)\.([A-Za-z_][\w-]*)")
TEMPLATEFILE = re.compile(r'templatefile\(\s*"\$\{path\.module\}/definitions/([^"]+)"\s*,\s*')


@dataclasses.dataclass
class Module:
    path: Path
    files: dict[str, dict]
    variables: dict[str, dict] = dataclasses.field(default_factory=dict)
    outputs: set[str] = dataclasses.field(default_factory=set)
    locals: dict[str, Any] = dataclasses.field(default_factory=dict)
    resources: dict[tuple[str, str], dict] = dataclasses.field(default_factory=dict)
    data: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    calls: dict[str, dict] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.path.relative_to(TF)) if self.path != TF else "(root)"

    def expressions(self) -> Iterator[tuple[str, str]]:
        """Every ${...} of the module's files, `moved` blocks left out: their addresses are not references
        (test_moved_blocks_name_existing_resources checks them)."""
        for file, parsed in self.files.items():
            for text in _strings({k: v for k, v in parsed.items() if k != "moved"}):
                for expression in _expressions(text):
                    yield file, expression


def load_module(path: Path) -> Module:
    files = {}
    for tf in sorted(path.glob("*.tf")):
        with tf.open() as handle:
            files[tf.name] = hcl2.load(handle)
    module = Module(path, files)
    for parsed in files.values():
        for block in _blocks(parsed.get("variable", [])):
            module.variables.update({_label(k): v for k, v in block.items() if not k.startswith("__")})
        for block in _blocks(parsed.get("output", [])):
            module.outputs.update(_label(k) for k in block if not k.startswith("__"))
        for block in _blocks(parsed.get("locals", [])):
            module.locals.update({k: v for k, v in block.items() if not k.startswith("__")})
        for block in _blocks(parsed.get("resource", [])):
            for rtype, named in block.items():
                for rname, body in named.items():
                    if not rname.startswith("__"):
                        module.resources[(_label(rtype), _label(rname))] = body
        for block in _blocks(parsed.get("data", [])):
            for dtype, named in block.items():
                module.data.update((_label(dtype), _label(n)) for n in named if not n.startswith("__"))
        for block in _blocks(parsed.get("module", [])):
            module.calls.update({_label(k): v for k, v in block.items() if not k.startswith("__")})
    return module


@pytest.fixture(scope="module")
def modules() -> dict[Path, Module]:
    paths = [TF, *sorted(p for p in (TF / "modules").iterdir() if p.is_dir())]
    return {p: load_module(p) for p in paths}


def test_every_module_parses_and_is_not_empty(modules):
    assert {m.name for m in modules.values()} >= {
        "(root)", "modules/kms", "modules/storage", "modules/state", "modules/ingestion", "modules/lambdas",
        "modules/glue", "modules/orchestration", "modules/monitoring", "modules/landing"}
    for module in modules.values():
        assert module.files, f"{module.name}: no .tf files"
        if module.path != TF:
            assert {"main.tf", "variables.tf", "outputs.tf"} <= set(module.files), module.name


def test_references_resolve_inside_their_module(modules):
    problems = []
    for module in modules.values():
        for file, expression in module.expressions():
            where = f"{module.name}/{file}"
            problems += [f"{where}: var.{v} is not declared" for v in REF_VAR.findall(expression)
                         if v not in module.variables]
            problems += [f"{where}: local.{v} is not defined" for v in REF_LOCAL.findall(expression)
                         if v not in module.locals]
            for call, output in REF_MODULE.findall(expression):
                if call not in module.calls:
                    problems.append(f"{where}: module.{call} is not called here")
                    continue
                target = modules.get((module.path / _string(module.calls[call]["source"])).resolve())
                if target is None:
                    problems.append(f"{where}: module.{call} has no module at {module.calls[call]['source']}")
                elif output not in target.outputs:
                    problems.append(f"{where}: module.{call}.{output}: {target.name} has no output {output!r}")
            problems += [f"{where}: data.{t}.{n} is not declared" for t, n in REF_DATA.findall(expression)
                         if (t, n) not in module.data]
            problems += [f"{where}: {t}.{n} is not declared" for t, n in REF_RESOURCE.findall(expression)
                         if (t, n) not in module.resources]
    assert not problems, "\n".join(sorted(set(problems)))


# [module.M.]TYPE.NAME[optional instance key]: a move into a child module, or within this one
MOVED_ADDRESS = re.compile(r'^\$\{(?:module\.([A-Za-z_][\w-]*)\.)?([a-z][a-z0-9_]*)\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?\}$')


def test_moved_blocks_name_existing_resources(modules):
    """A `moved` block's `to` must be a resource of the called module (else the move silently does nothing
    and Terraform replaces the resource); its `from` must no longer be declared."""
    problems = []
    for module in modules.values():
        for file, parsed in module.files.items():
            for block in _blocks(parsed.get("moved", [])):
                for end in ("from", "to"):
                    match = MOVED_ADDRESS.match(block[end])
                    if not match:
                        problems.append(f"{module.name}/{file}: moved {end} {block[end]!r}: "
                                        "expected [module.M.]TYPE.NAME")
                        continue
                    call, rtype, rname = match.groups()
                    if call is None:
                        target = module
                    else:
                        target = modules.get((module.path / _string(module.calls[call]["source"])).resolve()) \
                            if call in module.calls else None
                    declared = target is not None and (rtype, rname) in target.resources
                    if end == "to" and not declared:
                        problems.append(f"{module.name}/{file}: moved to {block[end]}: no such resource")
                    if end == "from" and declared:
                        problems.append(f"{module.name}/{file}: moved from {block[end]}: it is still declared")
    assert not problems, "\n".join(problems)


def test_module_calls_pass_exactly_the_declared_inputs(modules):
    problems = []
    for module in modules.values():
        for call, body in module.calls.items():
            source = _string(body["source"])
            target = modules.get((module.path / source).resolve())
            if target is None:
                problems.append(f"{module.name}: module {call!r}: no module at {source}")
                continue
            passed = {k for k in body if not k.startswith("__")} - META_ARGUMENTS
            required = {name for name, spec in target.variables.items() if "default" not in spec}
            problems += [f"{module.name}: module {call!r} does not pass required {v!r}" for v in required - passed]
            problems += [f"{module.name}: module {call!r} passes {v!r}, which {target.name} does not declare"
                         for v in passed - set(target.variables)]
    assert not problems, "\n".join(sorted(problems))


def test_every_declared_variable_is_used(modules):
    unused = []
    for module in modules.values():
        used = {v for _, expression in module.expressions() for v in REF_VAR.findall(expression)}
        unused += [f"{module.name}: variable {v!r} is never used" for v in module.variables if v not in used]
    assert not unused, "\n".join(sorted(unused))


def _template_calls(module: Module) -> list[tuple[str, set[str]]]:
    """(definition file, the variable names passed) of every templatefile() in the module."""
    calls = []
    for file, expression in module.expressions():
        for match in TEMPLATEFILE.finditer(expression):
            rest = expression[match.end():]
            local = re.match(r"local\.([A-Za-z_]\w*)\s*\)", rest)
            if local:
                values = module.locals.get(local.group(1))
                assert isinstance(values, dict), f"{module.name}/{file}: local.{local.group(1)} is not a map"
                calls.append((match.group(1), {_label(k) for k in values if not k.startswith("__")}))
                continue
            inline = re.match(r"\{(.*?)\}\s*\)", rest, re.S)
            assert inline, (f"{module.name}/{file}: templatefile({match.group(1)!r}, ...) must pass a local or an "
                            "inline map, so that this test can read the variable names")
            keys = re.findall(r"(?:^|,)\s*\"?([A-Za-z_]\w*)\"?\s*[=:]", inline.group(1))
            calls.append((match.group(1), set(keys)))
    return calls


def test_templatefile_variables_match_placeholders(modules):
    orchestration = modules[TF / "modules" / "orchestration"]
    calls = _template_calls(orchestration)
    assert {f for f, _ in calls} == {"orchestrator.asl.json", "orchestrator_distributed.asl.json",
                                     "topic_pipeline.asl.json", "historical_rebuilder.asl.json",
                                     "file_manifest.asl.json"}
    if not PLACEHOLDERS.is_file():
        pytest.skip(f"{PLACEHOLDERS.relative_to(ROOT)} is not there yet: generate the definitions with "
                    "`leanops aws render --out infra/terraform/modules/orchestration/definitions`")
    placeholders = json.loads(PLACEHOLDERS.read_text())
    problems = []
    for file, passed in calls:
        if file not in placeholders:
            problems.append(f"templatefile({file!r}): the file is not in placeholders.json")
            continue
        if not (DEFINITIONS / file).is_file():
            problems.append(f"templatefile({file!r}): the file does not exist")
        expected = set(placeholders[file])
        if passed != expected:
            problems.append(f"templatefile({file!r}): missing {sorted(expected - passed)}, "
                            f"unknown {sorted(passed - expected)}")
    deployed = {f for f, _ in calls}
    problems += [f"{f} is generated but no state machine uses it" for f in placeholders if f not in deployed]
    for module in modules.values():  # definitions are templated only in the orchestration module
        if module is not orchestration:
            assert not _template_calls(module), f"{module.name}: templatefile() of a definition outside orchestration"
    assert not problems, "\n".join(problems)


# --- 3. the DynamoDB layout --------------------------------------------------------------------------------

def test_dynamodb_tables_match_the_state_store(modules):
    from leanops.state import dynamodb

    state = modules[TF / "modules" / "state"]

    def layout(tables: dict) -> dict:
        out = {}
        for suffix, spec in tables.items():
            rng = _string(spec["range_key"])
            index = _string(spec["index_name"])
            out[suffix] = ((_string(spec["hash_key"]), _string(spec["hash_key_type"])),
                           None if rng is None else (rng, _string(spec["range_key_type"])),
                           _string(spec["ttl_attribute"]),
                           None if index is None else (index, _string(spec["index_hash"]), _string(spec["index_range"])))
        return out

    ttl = dict(getattr(dynamodb, "TTL_ATTRIBUTES", {}))  # plus the retention's, on run and ingest items
    ttl.update({suffix: dynamodb.RETENTION_TTL_ATTRIBUTE for suffix in dynamodb.RETENTION_TTL_TABLES})
    expected = {suffix: (hash_key, range_key, ttl.get(suffix), dynamodb.INDEXES.get(suffix))
                for suffix, (hash_key, range_key) in dynamodb.TABLES.items()}
    assert layout(state.locals["state_tables"]) == expected
    assert state.locals["tables"] == "${local.state_tables}"

    table = state.resources[("aws_dynamodb_table", "this")]
    blocks = {_string(name): block for d in table["dynamic"] for name, block in d.items()}
    index = blocks["global_secondary_index"]["content"][0]
    assert (_string(index["hash_key"]), _string(index["range_key"]), _string(index["projection_type"])) == (
        "${global_secondary_index.value.index_hash}", "${global_secondary_index.value.index_range}", "ALL")
    assert table["for_each"] == "${local.tables}"
    assert _string(table["name"]) == "${var.table_prefix}${each.key}"  # the adapter's DynamoStateStore.table()
    assert _string(table["billing_mode"]) == "PAY_PER_REQUEST"
    assert table["point_in_time_recovery"][0]["enabled"] is True
    assert table["server_side_encryption"][0]["enabled"] is True

    # one prefix for the tables and for every process's LEANOPS_STATE / --state, and by default the adapter's
    root = modules[TF]
    assert root.calls["state"]["table_prefix"] == "${local.state_table_prefix}"
    assert _string(root.locals["state_table_prefix"]) == "${var.project}_"
    assert _string(root.locals["state_url"]) == "dynamodb://${local.state_table_prefix}?region=${var.region}"
    assert _string(root.variables["project"]["default"]) + "_" == dynamodb.DEFAULT_PREFIX


# --- 3b. the file landing path (seed 003) ---------------------------------------------------------------------

MANIFEST_BUILDER = ROOT / "src" / "leanops" / "aws" / "lambdas" / "manifest_builder.py"


def _environ_names(source: Path) -> set[str]:
    """The LEANOPS_* names a module reads: os.environ.get("X", ...) and os.environ["X"]."""
    import ast
    names = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            target, args = node.func.value, node.args
        elif isinstance(node, ast.Subscript):
            target, args = node.value, [node.slice]
        else:
            continue
        if ast.unparse(target) == "os.environ" and args and isinstance(args[0], ast.Constant) \
                and str(args[0].value).startswith("LEANOPS_"):
            names.add(args[0].value)
    return names


def _resources_of_type(modules, rtype: str) -> list[tuple[Module, str, dict]]:
    return [(m, name, body) for m in modules.values() for (t, name), body in m.resources.items() if t == rtype]


def test_lambda_handlers_exist(modules):
    import importlib
    functions = modules[TF / "modules" / "lambdas"].locals["functions"]
    assert set(functions) == {"sqs_to_firehose", "dlq_drainer", "fetch_active_topics", "flow_step", "notify",
                              "manifest_builder", "health_check", "snowflake_refresh"}
    for key, spec in functions.items():
        module_name, _, attribute = _string(spec["handler"]).rpartition(".")
        assert callable(getattr(importlib.import_module(module_name), attribute, None)), f"{key}: {spec['handler']}"


def test_manifest_builder_environment_is_what_the_handler_reads(modules, monkeypatch):
    from leanops.aws.lambdas import manifest_builder
    from leanops.state import factory

    builder = modules[TF / "modules" / "lambdas"].locals["functions"]["manifest_builder"]
    assert _string(builder["handler"]) == "leanops.aws.lambdas.manifest_builder.handler"
    assert builder["layer"] is True
    read = _environ_names(MANIFEST_BUILDER)
    assert read >= {"LEANOPS_LANDING_PREFIX", "LEANOPS_MANIFEST_BUCKET", "LEANOPS_MANIFEST_PREFIX",
                    "LEANOPS_FILE_WORKFLOW_ARN", "LEANOPS_LOCK_TTL_SECONDS", "LEANOPS_MAX_FILES",
                    "LEANOPS_MAX_BYTES", "LEANOPS_MAX_WAIT_SECONDS"}, read
    env = builder["environment"]
    assert set(env) == read | {factory.ENV}, f"set exactly what manifest_builder reads: {sorted(read)} + LEANOPS_STATE"
    assert env[factory.ENV] == "${var.state_url}"
    assert env["LEANOPS_MANIFEST_BUCKET"] == "${var.artifacts_bucket}"  # never the landing bucket
    assert env["LEANOPS_FILE_WORKFLOW_ARN"] == "${var.file_workflow_arn}"
    assert builder["timeout"] < manifest_builder.DEFAULT_LOCK_TTL_SECONDS  # a builder's lock outlives it

    # the root's defaults are the handler's own
    root = modules[TF]
    for name in read:
        monkeypatch.delenv(name, raising=False)
    options = manifest_builder.options_from_env()
    defaults = {v: root.variables[v]["default"] for v in ("manifest_max_files", "manifest_max_bytes",
                                                           "manifest_max_wait_seconds", "manifest_lock_ttl_seconds")}
    assert defaults == {"manifest_max_files": options.max_files, "manifest_max_bytes": options.max_bytes,
                        "manifest_max_wait_seconds": options.max_wait_seconds,
                        "manifest_lock_ttl_seconds": manifest_builder.DEFAULT_LOCK_TTL_SECONDS}
    assert _string(root.variables["landing_prefix"]["default"]) == ""
    assert _string(root.locals["manifest_prefix"]) == "manifests/"
    # the workflow ARN from the machine's name (the machine's own ARN would make a cycle through its role)
    assert 'state_machine_names["file_manifest"]' in root.locals["file_workflow_arn"]
    assert root.calls["lambdas"]["file_workflow_arn"] == "${local.file_workflow_arn}"
    assert root.calls["lambdas"]["landing_queue_arn"] == "${module.landing.queue_arn}"


def test_health_alarms_carry_the_seed_thresholds_and_go_to_sns(modules):
    """Seed 004 section 5: curation lag > 100,000 records, semantic lag > 2 h, any new drift entry, DLQ age > 7
    days; every alarm of the deployment notifies the alerts topic."""
    from leanops.aws.lambdas import health_check
    from leanops.ops.metrics import NAMESPACE
    monitoring, root = modules[TF / "modules" / "monitoring"], modules[TF]
    defaults = {"curation_lag_threshold_records": 100_000, "semantic_lag_threshold_seconds": 7_200,
                "drift_threshold_entries": 0, "dlq_max_age_seconds": 604_800}
    for name, value in defaults.items():
        assert monitoring.variables[name]["default"] == value, name
        assert root.variables[name]["default"] == value, name
        assert root.calls["monitoring"][name] == f"${{var.{name}}}", name
    alarms = monitoring.locals["health_alarms"]
    assert {key: (_string(a["metric"]), a["threshold"]) for key, a in alarms.items()} == {
        "curation-lag": ("PendingCurationRecords", "${var.curation_lag_threshold_records}"),
        "semantic-lag": ("SemanticLagSeconds", "${var.semantic_lag_threshold_seconds}"),
        "schema-drift": ("NewDriftEntries", "${var.drift_threshold_entries}"),
        "dlq-rows-age": ("DlqOldestAgeSeconds", "${var.dlq_max_age_seconds}"),
    }
    health = monitoring.resources[("aws_cloudwatch_metric_alarm", "health")]
    assert _string(health["comparison_operator"]) == "GreaterThanThreshold"
    assert health["threshold"] == "${each.value.threshold}" and health["dimensions"] == {"Topic": "${each.value.topic}"}
    assert _string(monitoring.variables["health_namespace"]["default"]) == NAMESPACE == \
        _string(root.variables["health_namespace"]["default"])
    assert _string(root.variables["health_check_schedule"]["default"]) == "rate(5 minutes)"
    for (rtype, name), body in monitoring.resources.items():
        if rtype == "aws_cloudwatch_metric_alarm":
            assert body["alarm_actions"] == ["${aws_sns_topic.alerts.arn}"], name
            assert body["actions_enabled"] is True, name
    assert root.variables["pre_raw_window_seconds"]["default"] == health_check.DEFAULT_WINDOW_SECONDS


def test_health_check_and_snowflake_refresh_environments_are_what_the_handlers_read(modules):
    from leanops.aws import accounting
    from leanops.aws.lambdas import health_check, snowflake_refresh
    lambdas, state = modules[TF / "modules" / "lambdas"], modules[TF / "modules" / "state"]
    functions = lambdas.locals["functions"]
    assert _string(functions["health_check"]["handler"]) == "leanops.aws.lambdas.health_check.handler"
    assert _string(functions["snowflake_refresh"]["handler"]) == "leanops.aws.lambdas.snowflake_refresh.handler"
    text = (TF / "modules" / "lambdas" / "main.tf").read_text()
    for name in (health_check.NAMESPACE_ENV, health_check.WINDOW_ENV, accounting.INGEST_QUEUE_ENV,
                 accounting.DLQ_ENV, accounting.FIREHOSE_ERRORS_ENV, snowflake_refresh.SECRET_ENV,
                 snowflake_refresh.DATABASE_ENV, snowflake_refresh.SCHEMA_ENV, snowflake_refresh.STORAGE_ENV,
                 "LEANOPS_REFRESH_LAMBDA"):
        assert re.search(rf"^\s+{name}\s+=", text, re.M), f"{name} is not set on a function"
    assert _string(lambdas.variables["snowflake_database"]["default"]) == snowflake_refresh.Target.database
    assert _string(lambdas.variables["snowflake_schema"]["default"]) == snowflake_refresh.Target.schema
    assert lambdas.variables["snowflake_secret_arn"]["default"] is None  # optional: no Snowflake, no trigger
    mapping = lambdas.resources[("aws_lambda_event_source_mapping", "drift_log")]
    assert mapping["event_source_arn"] == "${var.drift_log_stream_arn}"
    assert mapping["function_name"] == '${aws_lambda_function.this["snowflake_refresh"].arn}'
    assert mapping["count"] == "${local.snowflake_enabled ? 1 : 0}"
    table = state.resources[("aws_dynamodb_table", "this")]
    assert table["stream_enabled"] == '${each.key == "DriftLog"}'
    assert modules[TF].calls["lambdas"]["drift_log_stream_arn"] == "${module.state.drift_log_stream_arn}"


def test_landing_bucket_notifications_go_to_the_builder_queue(modules):
    landing = modules[TF / "modules" / "landing"]
    notifications = _resources_of_type(modules, "aws_s3_bucket_notification")
    assert [(m.name, n) for m, n, _ in notifications] == [("modules/landing", "landing")], \
        "a bucket has one notification configuration: exactly one aws_s3_bucket_notification, the landing module's"
    notification = notifications[0][2]
    assert notification["bucket"] == "${var.landing_bucket}"
    assert "eventbridge" not in notification and "lambda_function" not in notification
    [queue] = notification["queue"]
    assert queue["queue_arn"] == "${module.queue.arn}"
    assert [_string(e) for e in queue["events"]] == ["s3:ObjectCreated:*"]
    assert "var.landing_prefix" in queue["filter_prefix"]
    assert notification["depends_on"] == ["${module.queue.policy_id}"]  # S3 checks the policy on put

    root = modules[TF]
    assert root.calls["landing"]["landing_bucket"] == "${module.storage.landing_bucket_name}"
    assert root.calls["landing"]["landing_bucket_arn"] == "${module.storage.landing_bucket_arn}"
    assert root.calls["landing"]["landing_prefix"] == root.calls["lambdas"]["landing_prefix"] == "${var.landing_prefix}"

    # only the landing bucket's notifications, of this account, may send to the queue; TLS only
    queues = modules[TF / "modules" / "queue"]
    call = landing.calls["queue"]
    [allow] = call["send_statements"]
    assert (allow["Principal"], _string(allow["Action"])) == ({"Service": '"s3.amazonaws.com"'}, "sqs:SendMessage")
    assert allow["Condition"] == {"ArnEquals": {'"aws:SourceArn"': "${var.landing_bucket_arn}"},
                                  "StringEquals": {'"aws:SourceAccount"': "${var.account_id}"}}
    assert call["max_receive_count"] == "${var.max_receive_count}" and landing.variables["max_receive_count"]["default"] == 5
    policy = queues.resources[("aws_sqs_queue_policy", "main")]
    assert "concat(var.send_statements, [local.deny_insecure])" in policy["policy"]
    deny = queues.locals["deny_insecure"]
    assert (_string(deny["Effect"]), _string(deny["Action"])) == ("Deny", "sqs:*")
    assert deny["Condition"] == {"Bool": {'"aws:SecureTransport"': '"false"'}}
    assert "merge(local.deny_insecure" in queues.resources[("aws_sqs_queue_policy", "dlq")]["policy"]

    main = queues.resources[("aws_sqs_queue", "main")]
    assert main["sqs_managed_sse_enabled"] is True
    assert "maxReceiveCount = var.max_receive_count" in main["redrive_policy"]
    assert "deadLetterTargetArn = aws_sqs_queue.dlq.arn" in main["redrive_policy"]
    assert queues.resources[("aws_sqs_queue", "dlq")]["sqs_managed_sse_enabled"] is True
    assert modules[TF / "modules" / "ingestion"].calls["queue"]["source"] == '"../queue"'

    # the queue -> manifest_builder, reporting partial batch failures
    mapping = landing.resources[("aws_lambda_event_source_mapping", "builder")]
    assert mapping["event_source_arn"] == "${module.queue.arn}"
    assert mapping["function_name"] == "${var.builder_function_arn}"
    assert [_string(t) for t in mapping["function_response_types"]] == ["ReportBatchItemFailures"]
    assert mapping["batch_size"] == "${var.batch_size}" and landing.variables["batch_size"]["default"] == 10
    assert root.calls["landing"]["builder_function_arn"] == '${module.lambdas.function_arns["manifest_builder"]}'

    # the flush schedule: {"flush_due": true} to the builder, allowed by its rule only
    target = landing.resources[("aws_cloudwatch_event_target", "flush")]
    assert target["arn"] == "${var.builder_function_arn}"
    assert re.sub(r"\s+", "", target["input"]) == "${jsonencode({flush_due=true})}"
    permission = landing.resources[("aws_lambda_permission", "flush")]
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.flush.arn}"
    assert _string(permission["principal"]) == "events.amazonaws.com"
    assert _string(root.variables["manifest_flush_schedule"]["default"]) == "rate(5 minutes)"

    # its DLQ is alarmed like the ingestion DLQ
    assert root.calls["monitoring"]["landing_dlq_name"] == "${module.landing.dlq_name}"


def test_the_file_processor_job_is_deployed(modules):
    from leanops.engines.spark import jobs

    glue = modules[TF / "modules" / "glue"]
    extra = re.fullmatch(r"\$\{merge\(local\.jobs, \{(.*)\}\)\}", glue.locals["scripts"], re.S)
    assert extra, glue.locals["scripts"]
    scripts = set(glue.locals["jobs"]) | set(re.findall(r"(?:^|,)\s*([a-z_]+)\s*=", extra.group(1)))
    assert scripts == set(jobs.JOBS) == {p.stem for p in (ROOT / "glue").glob("*.py")}, \
        "every glue/<job>.py is uploaded, and every uploaded script is a job of leanops.engines.spark.jobs"

    job = glue.resources[("aws_glue_job", "file_processor")]
    assert job["name"] == "${var.file_processor_job_name}"
    assert job["role_arn"] == "${aws_iam_role.file_processor.arn}"
    assert job["glue_version"] == "${var.glue_version}" and _string(glue.variables["glue_version"]["default"]) == "5.0"
    [command] = job["command"]
    assert _string(command["name"]) == "glueetl"  # Python >= 3.10: not a Python shell job (3.9)
    assert 'aws_s3_object.script["file_processor"].key' in command["script_location"]
    assert job["default_arguments"] == "${local.default_arguments}"  # --state, --catalog, --warehouse, the wheel...
    assert job["max_retries"] == 0  # the workflow retries

    policy = re.sub(r"\s+", " ", glue.resources[("aws_iam_role_policy", "file_processor")]["policy"])
    for sid in ("RawTables", "ReadWriteRawWarehouse", "ReadLandingFiles", "ReadManifestDocuments"):
        assert f'Sid = "{sid}"' in policy, sid
    assert "glue:DeleteTable" not in policy

    # the workflow starts the real job (its name from the glue module, which names it from the root variable)
    orchestration = modules[TF / "modules" / "orchestration"]
    assert orchestration.locals["file_manifest_definition_vars"]["file_processor_job_name"] == \
        '${var.glue_job_names["file_processor"]}'
    root = modules[TF]
    assert root.calls["orchestration"]["glue_job_names"] == "${module.glue.job_names}"
    assert root.calls["glue"]["file_processor_job_name"] == "${local.file_processor_job_name}"
    assert root.calls["monitoring"]["glue_job_names"] == "${values(module.glue.job_names)}"


# --- 4. checkov --------------------------------------------------------------------------------------------

SKIP_COMMENT = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def _checkov(directory: Path) -> dict:
    # --skip-download: checkov would otherwise try to fetch guidelines from its SaaS (offline: only noise and delay)
    done = subprocess.run([str(CHECKOV), "-d", str(directory), "--framework", "terraform", "--quiet", "--compact",
                           "-o", "json", "--skip-download"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    assert done.stdout.strip(), f"checkov printed nothing (exit {done.returncode}):\n{done.stderr[-3000:]}"
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    report = next((r for r in reports if r.get("check_type") == "terraform"), None)
    assert report is not None, f"checkov reported no terraform results: {done.stdout[:2000]}"
    return report


def _skip_comments() -> list[tuple[Path, int, str, str]]:
    """(file, line, check id, reason) of every checkov skip comment under infra/terraform."""
    found = []
    for path in sorted(TF.rglob("*.tf")):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines, 1):
            match = SKIP_COMMENT.search(line)
            if match:
                found.append((path, number, match.group(1), (match.group(2) or "").strip()))
    return found


def test_checkov_skips_are_inline_with_a_reason_at_their_resource():
    problems = []
    for path, number, check, reason in _skip_comments():
        where = f"{path.relative_to(ROOT)}:{number}"
        if not re.fullmatch(r"CKV2?_[A-Z]+_\d+", check):
            problems.append(f"{where}: {check!r} is not a checkov check id")
        if len(reason) < 30:
            problems.append(f"{where}: skip of {check} needs a real reason (#checkov:skip={check}:<why>)")
        above = [line.strip() for line in path.read_text().splitlines()[:number - 1]]
        while above and SKIP_COMMENT.search(above[-1]):
            above.pop()
        if not (above and re.match(r'resource\s+"[\w]+"\s+"[\w-]+"\s*\{$', above[-1])):
            problems.append(f"{where}: put the skip of {check} right under its resource's opening line")
    assert not problems, "\n".join(problems)


@pytest.mark.checkov
def test_checkov_passes_and_every_skip_is_still_needed(tmp_path):
    report = _checkov(TF)
    summary, results = report["summary"], report["results"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
              for c in results.get("failed_checks", [])]
    assert summary["parsing_errors"] == 0, f"checkov could not parse: {results.get('parsing_errors')}"
    assert not failed and summary["failed"] == 0, "checkov failed checks:\n" + "\n".join(failed)
    skips = _skip_comments()
    assert summary["skipped"] >= len(skips)

    # the same tree with the skip comments neutralised: each skipped check must fail at its resource
    copy = tmp_path / "terraform"
    shutil.copytree(TF, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    for path in copy.rglob("*.tf"):
        path.write_text(path.read_text().replace("checkov:skip=", "checkov-skip-disabled="))
    unskipped = _checkov(copy)["results"].get("failed_checks", [])
    stale = []
    for path, number, check, _ in skips:
        relative = "/" + path.relative_to(TF).as_posix()
        if not any(c["check_id"] == check and c["file_path"] == relative
                   and c["file_line_range"][0] <= number <= c["file_line_range"][1] for c in unskipped):
            stale.append(f"{path.relative_to(ROOT)}:{number}: {check} no longer fails here: drop the skip")
    assert not stale, "\n".join(stale)


# --- 5. validate + mocked plan (only with a local provider mirror) ------------------------------------------

def _fake_artifacts(directory: Path) -> Path:
    """Stand-ins for `leanops package --out DIR` + the layer: Terraform only reads their names and hashes."""
    (directory / "glue").mkdir(parents=True)
    for name in ("leanops-lambda.zip", "leanops-layer.zip", "lean_ops-0.0.0-py3-none-any.whl"):
        (directory / name).write_bytes(b"placeholder " + name.encode())
    for script in (ROOT / "glue").glob("*.py"):
        shutil.copy(script, directory / "glue" / script.name)
    return directory


@pytest.mark.terraform
def test_validate_and_mocked_plan(tmp_path):
    if not (PLUGIN_MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.skip(f"no local provider mirror at {PLUGIN_MIRROR} (set LEANOPS_TF_PLUGIN_MIRROR): "
                    "without the AWS provider only the static checks above can run")
    exe = terraform()
    copy = tmp_path / "terraform"
    shutil.copytree(TF, copy, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"))
    definitions = copy / "modules" / "orchestration" / "definitions"
    if not (definitions / "placeholders.json").is_file():  # not generated yet: render them for the plan
        from leanops.aws.stepfunctions import write_all
        write_all(definitions)
    artifacts = _fake_artifacts(tmp_path / "artifacts")

    for command in (["init", "-backend=false", "-no-color", f"-plugin-dir={PLUGIN_MIRROR}"],
                    ["validate", "-no-color"],
                    ["test", "-no-color", f"-var=artifacts_dir={artifacts}"]):
        done = run([exe, *command], copy, timeout=300)
        assert done.returncode == 0, f"terraform {command[0]} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
