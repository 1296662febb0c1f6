"""The rendered Step Functions definitions, executed for real under moto's Step Functions interpreter.

What is real: the ASL (rendered by leanops.aws.stepfunctions, exactly what Terraform deploys), moto's
interpreter running it (switched on per test: `execute_state_machine`), the state store in DynamoDB
(moto), the Lambda handlers (leanops.aws.lambdas.orchestration, called in-process in place of moto's
Docker-based Lambda runtime) and the Glue job entry points (leanops.engines.spark.jobs.execute, run
in-process when moto's Glue starts a job run, on the embedded engine so a test needs no Spark) over a
real Iceberg lakehouse. What is simulated: nothing but where the code runs; a Glue run "fails" only
when a test injects an infrastructure failure (`glue.fail`) or the job itself exits non-zero.

The pipeline must mirror leanops.orchestrate.flow state for state: traces are compared with the local
orchestrator's trace on a twin home fed the same events.
"""
from __future__ import annotations

import importlib
import json
import threading
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("moto")

from conftest import envelope, fake_aws_credentials, ingest, serialize_dynamodb_writes  # noqa: E402
from leanops.aws.stepfunctions import RenderOptions, flow_graph, render_all  # noqa: E402
from leanops.context import Context  # noqa: E402
from leanops.orchestrate.flow import FLOW, TERMINAL, TRANSITIONS, FlowOptions, run_flow  # noqa: E402
from leanops.types import FlowControl  # noqa: E402

REGION, ACCOUNT = "us-east-1", "123456789012"
PREFIX = "leanops_"
JOBS = {"standardized_job_name": "standardized_processor", "curated_job_name": "curated_processor",
        "semantic_job_name": "semantic_processor", "rebuilder_job_name": "historical_rebuilder",
        "file_processor_job_name": "file_processor", "maintenance_job_name": "table_maintenance"}
LAMBDAS = {"fetch_active_topics_lambda_arn": "leanops.aws.lambdas.orchestration.fetch_active_topics_handler",
           "flow_step_lambda_arn": "leanops.aws.lambdas.orchestration.flow_step_handler"}
# Short retry waits so a test takes seconds; the structure (2 retries, backoff 2) is the deployed one.
FAST = RenderOptions(job_retry_interval_seconds=1, lambda_retry_interval_seconds=1)

CURATED = {"merge_key": "idempotency_key", "order_by": "event_timestamp",
           "columns": {"idempotency_key": {"type": "string", "cde": True},
                       "event_timestamp": {"type": "timestamp", "cde": True},
                       "amount": {"type": "decimal(10,2)", "default": "0"}}}
SEMANTIC = {"merge_key": "idempotency_key",
            "columns": {"idempotency_key": {"type": "string"},
                        "event_time": {"type": "timestamp", "from": "event_timestamp"},
                        "amount": {"type": "double"}}}
STANDARDIZED = {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}}


def schema(topic: str, curated: bool = True, semantic: bool = True) -> dict:
    doc: dict = {"topic": topic, "standardized": STANDARDIZED}
    if curated:
        doc["curated"] = CURATED
    if semantic:
        doc["semantic"] = SEMANTIC
    return doc


def events(topic: str, count: int, start: int = 0) -> list[str]:
    return [envelope(f"{topic}-{i}", {"_metadata": {"idempotencyKeyResource": f"k{i % 7}"},
                                      "event": {"timestamp": f"2026-01-19T10:{i % 60:02d}:00Z"},
                                      "amount": f"{i}.50"})
            for i in range(start, start + count)]


# -- the AWS runtime under moto -----------------------------------------------------------------

class GlueRuntime:
    """Runs each job run moto's Glue starts, in-process, through the job script's entry point."""

    def __init__(self) -> None:
        self.fail: dict[tuple[str, str], int] = {}  # (job, topic or "*") -> runs to fail before the real thing runs
        self.runs: list[tuple[str, str, str]] = []  # (job, topic, final state)
        self.lock = threading.Lock()

    def run(self, job: str, arguments: dict, run_id: str) -> tuple[str, str | None]:
        from leanops.engines.spark.jobs import JOBS as ENTRY_POINTS, execute
        topic = arguments.get("--topic_name") or arguments.get("--manifest_id") or ""
        with self.lock:
            target = (job, topic) if (job, topic) in self.fail else (job, "*")
            injected = self.fail.get(target, 0)
            if injected:
                self.fail[target] = injected - 1
        if injected:
            state, error = "FAILED", "injected: the Glue worker was lost"
        elif job not in ENTRY_POINTS:  # a job without a lean-ops entry point: Glue's own success
            state, error = "SUCCEEDED", None
        else:
            argv = [f"glue/{job}.py"] + [x for k, v in arguments.items() for x in (k, v)] + ["--JOB_RUN_ID", run_id]
            code = execute(job, argv)
            state, error = ("SUCCEEDED", None) if code == 0 else ("FAILED", f"the job exited with {code}")
        with self.lock:
            self.runs.append((job, topic, state))
        return state, error


@pytest.fixture
def aws_runtime(tmp_path, monkeypatch):
    """moto with the Step Functions interpreter on, the state store in DynamoDB, lambdas and jobs wired in."""
    import moto
    from moto.awslambda.models import LambdaFunction
    from moto.glue.models import FakeJob, FakeJobRun
    from leanops.state.dynamodb import DynamoStateStore

    fake_aws_credentials(monkeypatch, REGION)
    home, schemas = tmp_path / "aws_home", tmp_path / "schemas"
    monkeypatch.setenv("LEANOPS_HOME", str(home))
    monkeypatch.setenv("LEANOPS_STATE", f"dynamodb://{PREFIX}?region={REGION}")

    serialize_dynamodb_writes(monkeypatch)

    def invoke_in_process(self, event):
        """The Lambda runtime's job: import the handler named by the function and call it."""
        module, _, name = self.handler.rpartition(".")
        handler = getattr(importlib.import_module(module), name)
        try:
            return json.dumps(handler(event if isinstance(event, dict) else json.loads(event), None)), False, ""
        except Exception as exc:  # as the Python runtime reports an unhandled exception
            return json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__}), True, ""
    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke_in_process)
    _fix_sync_tasks_without_callback(monkeypatch)
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    start_execution = StepFunctionsParserBackend.start_execution

    def start_named_execution(self, state_machine_arn, name=None, *args, **kwargs):
        """moto 5.2.5 gap: StartExecution without a name (as `states:startExecution.sync:2` calls it) names
        every execution "None", so a second child execution collides (ExecutionAlreadyExists) in the
        name/input idempotency check the parser backend gained in getmoto/moto#9500; AWS generates a
        UUID, as done here."""
        return start_execution(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)
    monkeypatch.setattr(StepFunctionsParserBackend, "start_execution", start_named_execution)
    _fix_step_functions_casing(monkeypatch)

    glue = GlueRuntime()
    start = FakeJob.start_job_run

    def start_job_run(self, **kwargs):
        run_id = start(self, **kwargs)
        run = next(r for r in self.job_runs if r.job_run_id == run_id)
        state, error = glue.run(Path(self.command["ScriptLocation"]).stem, run.arguments or {}, run_id)
        run._transitions, run.status, run.error_message = [(state, state)], state, error
        return run_id
    monkeypatch.setattr(FakeJob, "start_job_run", start_job_run)
    as_dict = FakeJobRun.as_dict

    def with_error(self):
        data = as_dict(self)
        if getattr(self, "error_message", None):
            data["ErrorMessage"] = self.error_message
        return data
    monkeypatch.setattr(FakeJobRun, "as_dict", with_error)

    with moto.mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        DynamoStateStore(prefix=PREFIX, region=REGION).create_tables()
        runtime = AwsRuntime(tmp_path, home, schemas, glue)
        monkeypatch.setenv("LEANOPS_ALERT_SNS_TOPIC", runtime.alerts_topic)
        yield runtime


def _fix_sync_tasks_without_callback(monkeypatch) -> None:
    """moto 5.2.5 bug: every `.sync` task of a service without `.waitForTaskToken` support (Glue) fails with
    States.Runtime "'NoneType' object has no attribute 'interrupt_all'", because
    StateTaskServiceCallback._eval_integration_pattern calls `callback_endpoint.interrupt_all()` in a
    `finally` on an endpoint that only exists for callback tasks. Fixed upstream in LocalStack's interpreter
    (localstack/localstack#13705), from which moto's is ported; here the same one-line guard is applied
    to moto's method. When moto ships the fix, the line is gone and nothing is patched.
    """
    import inspect
    import textwrap
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
    cls = state_task_service_callback.StateTaskServiceCallback
    source = textwrap.dedent(inspect.getsource(cls._eval_integration_pattern))
    buggy = "        callback_endpoint.interrupt_all()\n"  # in the `finally:` (indented as in the dedented method)
    if buggy not in source:
        return
    source = source.replace(buggy, "        if callback_endpoint is not None:\n    " + buggy)
    namespace: dict = {}
    exec(compile(source, state_task_service_callback.__file__, "exec"), vars(state_task_service_callback), namespace)
    monkeypatch.setattr(cls, "_eval_integration_pattern", namespace["_eval_integration_pattern"])


def _fix_step_functions_casing(monkeypatch) -> None:
    """moto 5.2.5 bug getmoto/moto#10076: tasks that call the Step Functions API itself hand their PascalCase
    parameters to boto3 as they are, but that API is camelCase (`stateMachineArn`), so both `states:startExecution.sync:2`
    (ProcessTopics) and `aws-sdk:sfn:listExecutions` (CheckPreviousRun) fail with States.Runtime
    'StateMachineArn' (botocore's serializer KeyError), and results come back camelCase. AWS's contract:
    "Parameters in Step Functions are expressed in PascalCase, even if the native service API is in
    camelCase" (docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html), and results
    are PascalCase (`ExecutionArn`, `Output`, `Executions`). This converts both ways around moto's calls.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn,
    )

    def convert(node, first):
        if isinstance(node, dict):
            return {first(k[:1]) + k[1:]: convert(v, first) for k, v in node.items()}
        if isinstance(node, list):
            return [convert(v, first) for v in node]
        return node

    def calls_sfn(original, only_sfn: bool):
        def eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
            if only_sfn and self._get_boto_service_name() != "stepfunctions":
                return original(self, env, resource_runtime_part, normalised_parameters, state_credentials)
            original(self, env, resource_runtime_part, convert(normalised_parameters, str.lower), state_credentials)
            env.stack.append(convert(env.stack.pop(), str.upper))
        return eval_service_task
    monkeypatch.setattr(StateTaskServiceAwsSdk, "_eval_service_task",
                        calls_sfn(StateTaskServiceAwsSdk._eval_service_task, only_sfn=True))
    monkeypatch.setattr(StateTaskServiceSfn, "_eval_service_task",
                        calls_sfn(StateTaskServiceSfn._eval_service_task, only_sfn=False))
    build = StateTaskServiceSfn._build_sync2_resolver

    def build_sync2_resolver(self, *args, **kwargs):
        resolve = build(self, *args, **kwargs)

        def resolver():
            result = resolve()
            return None if result is None else {k[:1].upper() + k[1:]: v for k, v in result.items()}
        return resolver
    monkeypatch.setattr(StateTaskServiceSfn, "_build_sync2_resolver", build_sync2_resolver)


class AwsRuntime:
    """The deployed pieces (what infra/terraform creates), in moto."""

    def __init__(self, tmp_path: Path, home: Path, schemas: Path, glue: GlueRuntime) -> None:
        import boto3
        self.tmp_path, self.home, self.schemas, self.glue = tmp_path, home, schemas, glue
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        sns, iam = boto3.client("sns", region_name=REGION), boto3.client("iam", region_name=REGION)
        lam, glue_client = boto3.client("lambda", region_name=REGION), boto3.client("glue", region_name=REGION)
        role = iam.create_role(RoleName="leanops-test", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        self.alerts_topic = sns.create_topic(Name="leanops-alerts")["TopicArn"]
        self.alert_queue = self.sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.alert_queue,
                                                  AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.alerts_topic, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": "false"})
        values = {"alerts_topic_arn": self.alerts_topic, "file_manifests_table_name": f"{PREFIX}FileManifests"}
        for placeholder, handler in LAMBDAS.items():
            values[placeholder] = lam.create_function(
                FunctionName=placeholder.removesuffix("_lambda_arn"), Runtime="python3.11", Role=role,
                Handler=handler, Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})["FunctionArn"]
        default_arguments = {"--engine": "embedded", "--home": str(home), "--schemas": str(schemas),
                             "--state": f"dynamodb://{PREFIX}?region={REGION}"}
        for placeholder, script in JOBS.items():
            glue_client.create_job(Name=f"leanops-{script}", Role=role, GlueVersion="5.0",
                                   Command={"Name": "glueetl", "ScriptLocation": f"s3://artifacts/glue/{script}.py"},
                                   DefaultArguments=default_arguments, ExecutionProperty={"MaxConcurrentRuns": 10})
            values[placeholder] = f"leanops-{script}"
        values["topic_pipeline_state_machine_arn"] = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:topic_pipeline"
        definitions = render_all(FAST, values)
        self.machines = {}
        for file_name, definition in definitions.items():
            name = file_name.removesuffix(".asl.json")
            # moto's ASL grammar (ported from LocalStack) accepts ToleratedFailurePercentage only as a
            # decimal literal (`100` fails with "no viable alternative"); JSON-wise 100.0 is the same value.
            # See localstack/localstack#10057 and #11058, where the field was added to the grammar.
            text = json.dumps(definition).replace('"ToleratedFailurePercentage": 100,',
                                                  '"ToleratedFailurePercentage": 100.0,')
            self.machines[name] = self.sfn.create_state_machine(
                name=name, definition=text, roleArn=role)["stateMachineArn"]
        assert self.machines["topic_pipeline"] == values["topic_pipeline_state_machine_arn"]

    def set_job_argument(self, script: str, name: str, value: str) -> None:
        """Change a job's default argument (moto has no UpdateJob: the job is created again)."""
        import boto3
        glue = boto3.client("glue", region_name=REGION)
        job = glue.get_job(JobName=f"leanops-{script}")["Job"]
        glue.delete_job(JobName=job["Name"])
        glue.create_job(Name=job["Name"], Role=job["Role"], GlueVersion="5.0", Command=job["Command"],
                        DefaultArguments={**job["DefaultArguments"], name: value},
                        ExecutionProperty={"MaxConcurrentRuns": 10})

    def context(self) -> Context:
        return Context.open(self.home, self.schemas)

    def write_schema(self, doc: dict | str, topic: str | None = None) -> None:
        self.schemas.mkdir(exist_ok=True)
        text = doc if isinstance(doc, str) else json.dumps(doc)
        (self.schemas / f"{topic or doc['topic']}.json").write_text(text)

    def ingest(self, topic: str, lines: list[str]) -> None:
        ctx = self.context()
        try:
            ingest(ctx, topic, lines, self.tmp_path, f"{topic}-{time.monotonic_ns()}.ndjson")
        finally:
            ctx.close()

    def execute(self, machine: str, payload: dict, timeout: float = 240.0) -> dict:
        arn = self.sfn.start_execution(stateMachineArn=self.machines[machine], name=uuid.uuid4().hex,
                                       input=json.dumps(payload))["executionArn"]
        return self.wait(arn, timeout)

    def wait(self, arn: str, timeout: float = 240.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.1)
        raise AssertionError(f"execution {arn} still RUNNING after {timeout} s")

    def failures(self, arn: str) -> list[dict]:
        """The failure details in an execution's history (for assertion messages)."""
        events = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return [{k: v for k, v in e.items() if k.endswith("FailedEventDetails")} for e in events
                if any(k.endswith("FailedEventDetails") for k in e)]

    def entered(self, arn: str) -> list[str]:
        """The states an execution entered, in order, from its history."""
        events = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]

    def trace(self, arn: str) -> list[str]:
        """The flow's steps among them (gates, Record* steps and the alert are the ASL's plumbing)."""
        return [name for name in self.entered(arn) if name in FLOW or name in TERMINAL]

    def pipeline_runs(self) -> dict[str, list[dict]]:
        """Executions of the topic pipeline by topic, oldest first."""
        runs: dict[str, list[dict]] = {}
        listed = self.sfn.list_executions(stateMachineArn=self.machines["topic_pipeline"])["executions"]
        for item in sorted(listed, key=lambda e: e["startDate"]):
            described = self.wait(item["executionArn"])
            runs.setdefault(json.loads(described["input"])["topic"], []).append(described)
        return runs

    def alerts(self) -> list[dict]:
        """SNS messages delivered to the alerts queue so far (subject and parsed message)."""
        out = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.alert_queue, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return out
            for message in got:
                body = json.loads(message["Body"])
                out.append({"subject": body.get("Subject"), "message": body["Message"]})
                self.sqs.delete_message(QueueUrl=self.alert_queue, ReceiptHandle=message["ReceiptHandle"])


def local_trace(tmp_path: Path, monkeypatch, name: str, schemas: list[dict], batches: list[tuple[str, list[str]]],
                options: FlowOptions, topic: str, settings: dict | None = None) -> list[list[str]]:
    """The local orchestrator's traces on a twin home: same schemas, same events, one run_flow per batch."""
    home, schema_dir = tmp_path / f"{name}_home", tmp_path / f"{name}_schemas"
    schema_dir.mkdir()
    for doc in schemas:
        (schema_dir / f"{doc['topic']}.json").write_text(json.dumps(doc))
    traces = []
    with monkeypatch.context() as m:
        m.delenv("LEANOPS_STATE")  # the twin keeps its state in SQLite
        ctx = Context.open(home, schema_dir)
        if settings:
            ctx.settings = ctx.settings.model_copy(update=settings)
        try:
            for batch_topic, lines in batches:
                if lines:
                    ingest(ctx, batch_topic, lines, tmp_path, f"twin-{time.monotonic_ns()}.ndjson")
                if batch_topic == topic:
                    traces.append(run_flow(ctx, topic, options).trace)
        finally:
            ctx.close()
    return traces


# -- the definitions themselves -------------------------------------------------------------------

def test_pipeline_graph_is_the_flow_graph():
    """Every FLOW step is a state of that name, reaching exactly the steps TRANSITIONS allows.

    "Failed" is also reachable from every Task (its Catch), as an exception in any local step fails the topic.
    """
    pipeline = render_all()["topic_pipeline.asl.json"]
    graph = flow_graph(pipeline)
    for step_name, allowed in TRANSITIONS.items():
        assert graph[step_name] - {"Failed"} == set(allowed) - {"Failed"}, step_name
    for name, state in pipeline["States"].items():
        if state["Type"] == "Task" and state["Resource"].endswith(("lambda:invoke", "startJobRun.sync")):
            assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"], name
    glue = [s for s in pipeline["States"].values() if s.get("Resource", "").endswith("startJobRun.sync")]
    assert len(glue) == 4 and all({"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 60, "MaxAttempts": 2,
                                   "BackoffRate": 2.0} in s["Retry"] for s in glue)


def test_no_literal_names_in_templates():
    """Resource names are parameters: no account, region, ARN or job name is written into a template."""
    for name, definition in render_all().items():
        text = json.dumps(definition)
        assert "arn:aws:states:::" in text or name.startswith("orchestrator")
        for literal in ("arn:aws:lambda", "arn:aws:sns", ":123456789012:", "leanops-", "us-east-1"):
            assert literal not in text, (name, literal)


# -- executions ---------------------------------------------------------------------------------

def test_happy_path_mirrors_the_local_flow(aws_runtime, tmp_path, monkeypatch):
    rt = aws_runtime
    docs = [schema("events"), schema("orders", semantic=False)]
    for doc in docs:
        rt.write_schema(doc)
    rt.ingest("events", events("events", 20))
    rt.ingest("orders", events("orders", 9))

    master = rt.execute("orchestrator", {})

    assert master["status"] == "SUCCEEDED", rt.failures(master["executionArn"])
    output = json.loads(master["output"])
    assert all(r["outcome"] != "Failed" for r in output["results"]), (output, [
        rt.failures(run["executionArn"]) for runs in rt.pipeline_runs().values() for run in runs], rt.failures(master["executionArn"]))
    assert sorted((r["topic"], r["outcome"]) for r in output["results"]) == [("events", "Success"),
                                                                               ("orders", "Success")]
    runs = rt.pipeline_runs()
    for doc in docs:
        topic = doc["topic"]
        [expected] = local_trace(tmp_path, monkeypatch, topic, docs, [(topic, events(topic, 20 if topic == "events"
                                                                                    else 9))],
                                 FlowOptions(), topic)
        assert rt.trace(runs[topic][0]["executionArn"]) == expected
    assert rt.trace(runs["events"][0]["executionArn"]) == [
        "GetAllCheckpoints", "CheckForNewRawData", "RunStandardized", "CheckCuratedReady", "RunCurated",
        "CheckSchemaExists", "CheckForNewCuratedData", "RunSemantic", "UpdateSemanticCheckpoint",
        "CheckBacklogThreshold", "CheckMaintenanceDue", "Success"]
    assert "NotifyMissingSchema" in rt.trace(runs["orders"][0]["executionArn"])
    ctx = rt.context()
    try:  # the data really moved, and every record is accounted for
        from leanops.stages.accountability import topic_accounts
        assert len(ctx.lake.semantic_table("events").scan().to_arrow()) == 7
        assert all(a.ok for t in ("events", "orders") for a in topic_accounts(ctx.lake, t))
        assert {r.stage for r in ctx.state.list_runs("events")} == {"standardized", "curated", "semantic"}
        assert ctx.state.get_checkpoint("events", "semantic").last_snapshot_id is not None
        assert [d.kind for d in ctx.state.list_drift("orders")] == ["missing_schema"]
        assert ctx.state.lease_holder("events") is None and ctx.state.lease_holder("orders") is None
    finally:
        ctx.close()
    alerts = rt.alerts()  # NotifyMissingSchema's alert for orders, once; nothing failed
    assert [a["message"] for a in alerts if "MissingSemanticSchema" in a["message"]] and \
        not [a for a in alerts if "failed" in (a["subject"] or "")]


def test_no_new_data(aws_runtime):
    rt = aws_runtime
    rt.write_schema(schema("events"))
    rt.ingest("events", events("events", 5))
    first = rt.execute("topic_pipeline", {"topic": "events"})
    assert first["status"] == "SUCCEEDED", rt.failures(first["executionArn"])

    second = rt.execute("topic_pipeline", {"topic": "events"})

    assert second["status"] == "SUCCEEDED" and json.loads(second["output"])["outcome"] == "NoNewData"
    assert rt.trace(second["executionArn"]) == ["GetAllCheckpoints", "CheckForNewRawData", "CheckMaintenanceDue",
                                                "NoNewData"]
    assert [job for job, _, _ in rt.glue.runs] == ["standardized_processor", "curated_processor",
                                                   "semantic_processor"]  # the second run started no job


def test_missing_schema_waits_in_raw(aws_runtime):
    rt = aws_runtime
    rt.ingest("events", events("events", 3))
    run = rt.execute("topic_pipeline", {"topic": "events"})
    assert run["status"] == "SUCCEEDED" and rt.trace(run["executionArn"]) == ["GetAllCheckpoints", "MissingSchema"]
    assert rt.glue.runs == []


def test_a_paused_or_busy_topic_is_skipped(aws_runtime):
    """The lease and the registry guard the topic as in the local cycle: nothing runs, nothing fails."""
    rt = aws_runtime
    rt.write_schema(schema("events"))
    rt.ingest("events", events("events", 3))
    ctx = rt.context()
    try:
        assert ctx.state.acquire_lease("events", "a-manual-run", 3600)
        busy = rt.execute("topic_pipeline", {"topic": "events"})
        ctx.state.release_lease("events", "a-manual-run")
        ctx.state.set_flow_control("events", FlowControl.PAUSED)
        paused = rt.execute("topic_pipeline", {"topic": "events"})
        ctx.state.set_flow_control("events", FlowControl.ENABLED)
        ran = rt.execute("topic_pipeline", {"topic": "events"})
        holder_after = ctx.state.lease_holder("events")
    finally:
        ctx.close()
    for run, why in ((busy, "a-manual-run"), (paused, "PAUSED")):
        out = json.loads(run["output"])
        assert run["status"] == "SUCCEEDED" and out["outcome"] == "Skipped" and why in out["message"]
        assert rt.trace(run["executionArn"]) == []  # the flow never started
    assert json.loads(ran["output"])["outcome"] == "Success" and holder_after is None
    assert [job for job, _, _ in rt.glue.runs] == ["standardized_processor", "curated_processor",
                                                   "semantic_processor"]


def test_a_failing_topic_is_isolated(aws_runtime):
    """A topic with a broken schema file and one whose curated job keeps failing; the third one succeeds."""
    rt = aws_runtime
    rt.write_schema("{not json", topic="broken")
    for topic in ("events", "orders"):
        rt.write_schema(schema(topic))
        rt.ingest(topic, events(topic, 6))
    rt.ingest("broken", events("broken", 2))
    rt.glue.fail[("curated_processor", "orders")] = 99

    master = rt.execute("orchestrator", {"max_concurrency": 3})

    assert master["status"] == "SUCCEEDED"
    outcomes = {r["topic"]: r["outcome"] for r in json.loads(master["output"])["results"]}
    assert outcomes == {"broken": "Failed", "events": "Success", "orders": "Failed"}
    runs = rt.pipeline_runs()
    assert runs["broken"][0]["status"] == "FAILED" and rt.trace(runs["broken"][0]["executionArn"]) == [
        "GetAllCheckpoints", "Failed"]
    ctx = rt.context()
    try:  # a failed run lets go of its topic too
        assert ctx.state.lease_holder("broken") is None and ctx.state.lease_holder("orders") is None
    finally:
        ctx.close()
    assert runs["orders"][0]["status"] == "FAILED"
    assert [s for _, t, s in rt.glue.runs if t == "orders" and _ == "curated_processor"] == ["FAILED"] * 3
    subjects = sorted(a["subject"] for a in rt.alerts())
    assert subjects == ["lean-ops: topic broken failed", "lean-ops: topic orders failed"]
    ctx = rt.context()
    try:
        assert len(ctx.lake.semantic_table("events").scan().to_arrow()) == 6
        assert ctx.lake.curated_table("orders") is None or not len(ctx.lake.curated_table("orders").scan().to_arrow())
    finally:
        ctx.close()


def test_retries_then_alert_and_retries_then_success(aws_runtime):
    rt = aws_runtime
    for topic in ("events", "orders"):
        rt.write_schema(schema(topic, semantic=False))
        rt.ingest(topic, events(topic, 4))
    rt.glue.fail[("standardized_processor", "events")] = 1  # one lost worker: the retry succeeds
    rt.glue.fail[("standardized_processor", "orders")] = 3  # every attempt fails: 1 + 2 retries, then the alert

    recovered = rt.execute("topic_pipeline", {"topic": "events"})
    failed = rt.execute("topic_pipeline", {"topic": "orders"})

    assert recovered["status"] == "SUCCEEDED"
    assert [s for j, t, s in rt.glue.runs if (j, t) == ("standardized_processor", "events")] == ["FAILED",
                                                                                                 "SUCCEEDED"]
    assert failed["status"] == "FAILED" and failed["error"] == "leanops.TopicFailed"
    assert [s for j, t, s in rt.glue.runs if t == "orders"] == ["FAILED"] * 3
    assert rt.entered(failed["executionArn"])[-3:] == ["NotifyFailure", "ReleaseTopicLeaseOnFailure", "Failed"]
    [alert] = [a for a in rt.alerts() if "failed" in (a["subject"] or "")]
    assert alert["subject"] == "lean-ops: topic orders failed" and "worker was lost" in alert["message"]


def test_backlog_loop_mirrors_the_local_flow(aws_runtime, tmp_path, monkeypatch):
    """Small batches and a low threshold: the pipeline loops straight back, as many times as locally."""
    rt = aws_runtime
    doc = schema("events")
    rt.write_schema(doc)
    lines = events("events", 25)
    rt.ingest("events", lines)
    for job in ("standardized_processor", "curated_processor", "semantic_processor"):
        rt.set_job_argument(job, "--max_batch_rows", "10")

    run = rt.execute("topic_pipeline", {"topic": "events", "backlog_threshold": 5})

    assert run["status"] == "SUCCEEDED"
    [expected] = local_trace(tmp_path, monkeypatch, "twin", [doc], [("events", lines)],
                             FlowOptions(backlog_threshold=5), "events", settings={"max_batch_rows": 10})
    trace = rt.trace(run["executionArn"])
    assert trace == expected and trace.count("GetAllCheckpoints") >= 2  # looped back at least once
    ctx = rt.context()
    try:
        assert len(ctx.lake.standardized_table("events").scan().to_arrow()) == 25
    finally:
        ctx.close()


def test_maintenance_runs_as_a_glue_job_when_due(aws_runtime, tmp_path, monkeypatch):
    """A policy the second ingest crosses (RAW's second manifest): CheckMaintenanceDue (Lambda) sends the
    pipeline to RunMaintenance, the table_maintenance Glue job (here on the embedded engine), under the
    execution's own lease, exactly where the local flow runs it on a twin home."""
    monkeypatch.setenv("LEANOPS_MAINTENANCE", '{"max_manifests": 1, "keep_snapshots_hours": 0, '
                                              '"keep_min_snapshots": 1, "orphan_age_hours": 0}')
    rt = aws_runtime
    doc = schema("events")
    rt.write_schema(doc)
    batches = [("events", events("events", 6)), ("events", events("events", 6, start=6))]
    runs = []
    for _, lines in batches:
        rt.ingest("events", lines)
        runs.append(rt.execute("topic_pipeline", {"topic": "events"}))
        assert runs[-1]["status"] == "SUCCEEDED", rt.failures(runs[-1]["executionArn"])

    expected = local_trace(tmp_path, monkeypatch, "twin", [doc], batches, FlowOptions(), "events")
    assert [rt.trace(r["executionArn"]) for r in runs] == expected
    assert expected[0][-2:] == ["CheckMaintenanceDue", "Success"]
    assert expected[1][-3:] == ["CheckMaintenanceDue", "RunMaintenance", "Success"]
    assert rt.entered(runs[-1]["executionArn"])[-5:] == ["RunMaintenance", "RecordMaintenance",
                                                         "RecordMaintenanceGate", "Success", "ReleaseTopicLease"]
    assert [s for j, _, s in rt.glue.runs if j == "table_maintenance"] == ["SUCCEEDED"]
    ctx = rt.context()
    try:
        assert [r.status for r in ctx.state.list_runs("events") if r.stage == "maintenance"] == ["SUCCEEDED"]
        raw = ctx.lake.raw_table("events")
        assert len(raw.scan().to_arrow()) == 12 and min(s.sequence_number for s in raw.snapshots()) > 1  # expired
        assert len(ctx.lake.semantic_table("events").scan().to_arrow()) == 7
        assert ctx.state.lease_holder("events") is None
        assert json.loads(runs[-1]["output"])["stages"][-1]["stage"] == "maintenance"
    finally:
        ctx.close()


def test_rebuilder_success_and_failure(aws_runtime):
    rt = aws_runtime
    rt.write_schema(schema("events"))
    rt.ingest("events", events("events", 8))
    assert rt.execute("topic_pipeline", {"topic": "events"})["status"] == "SUCCEEDED"

    rt.glue.fail[("historical_rebuilder", "events")] = 3
    failed = rt.execute("historical_rebuilder", {"topic": "events"})

    assert failed["status"] == "FAILED" and failed["error"] == "leanops.RebuildFailed"
    assert rt.entered(failed["executionArn"]) == ["PauseTopic", "RunRebuild", "RebuildFailed",
                                                  "NotifyRebuildFailure", "Failed"]
    ctx = rt.context()
    try:
        assert ctx.state.get_topic("events").flow_control_flag == FlowControl.PAUSED
    finally:
        ctx.close()
    [alert] = rt.alerts()
    assert alert["subject"] == "lean-ops: rebuild of events failed"
    skipped = rt.execute("orchestrator", {})  # a PAUSED topic is not processed
    assert json.loads(skipped["output"])["results"] == []

    done = rt.execute("historical_rebuilder", {"topic": "events"})

    assert done["status"] == "SUCCEEDED"
    assert rt.entered(done["executionArn"]) == ["PauseTopic", "RunRebuild", "UpdateRebuildCheckpoints",
                                                "ResumeTopic", "RebuildSucceeded"]
    ctx = rt.context()
    try:
        assert ctx.state.get_topic("events").flow_control_flag == FlowControl.ENABLED
        assert ctx.state.get_rebuild("events")["status"] == "SUCCEEDED"
        assert len(ctx.lake.semantic_table("events").scan().to_arrow()) == 7
        assert ctx.state.get_checkpoint("events", "curated").last_snapshot_id == \
            ctx.lake.standardized_table("events").current_snapshot().snapshot_id
    finally:
        ctx.close()


def test_distributed_map_tolerates_failed_topics(aws_runtime):
    """Each topic runs as its own child execution; a failed one leaves the others and the map run alone.

    moto records ToleratedFailurePercentage but does not evaluate it (it logs "ToleratedFailurePercentage
    declarations currently have no effect"; localstack/localstack#11058, where moto's interpreter comes
    from), so this proves the isolation, not AWS's threshold arithmetic.
    """
    rt = aws_runtime
    rt.write_schema("{not json", topic="broken")
    rt.write_schema(schema("events", semantic=False))
    rt.ingest("events", events("events", 3))
    rt.ingest("broken", events("broken", 1))

    master = rt.execute("orchestrator_distributed", {})

    assert master["status"] == "SUCCEEDED"
    runs = rt.pipeline_runs()
    assert runs["events"][0]["status"] == "SUCCEEDED" and runs["broken"][0]["status"] == "FAILED"


def test_file_manifest_workflow(aws_runtime, monkeypatch):
    """Seed 003 end to end: files land in S3, the manifest builder (S3 -> SQS event) builds manifests and starts
    the workflow, which runs the real file processor job from S3 into RAW; a failing job ends `failed` + SNS."""
    import boto3
    from leanops.aws import clients
    from leanops.aws.lambdas import manifest_builder
    rt = aws_runtime
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="landing")
    monkeypatch.setenv("LEANOPS_FILE_WORKFLOW_ARN", rt.machines["file_manifest"])
    monkeypatch.setenv("LEANOPS_MAX_WAIT_SECONDS", "0")
    clients.reset()

    def land(names: list[str]) -> dict:
        records = []
        for name in names:
            s3.put_object(Bucket="landing", Key=f"events/{name}",
                          Body="".join(e + "\n" for e in events(name, 3)).encode())
            records.append({"messageId": name, "body": json.dumps({"Records": [{
                "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "landing"}, "object": {
                    "key": f"events/{name}", "size": 1, "eTag": name}}}]})})
        return manifest_builder.handler({"Records": records})

    [ok] = land(["a.ndjson", "b.ndjson"])["manifests"]
    done = rt.wait(ok["execution_arn"])
    rt.glue.fail[("file_processor", "*")] = 3
    [bad] = land(["c.ndjson"])["manifests"]
    failed = rt.wait(bad["execution_arn"])
    clients.reset()

    def item(manifest_id):
        return rt.dynamodb.get_item(TableName=f"{PREFIX}FileManifests",
                                    Key={"manifest_id": {"S": manifest_id}})["Item"]
    assert done["status"] == "SUCCEEDED", rt.failures(done["executionArn"])
    assert item(ok["manifest_id"])["status"]["S"] == "completed"
    assert item(ok["manifest_id"])["job_run_id"]["S"].startswith("jr_")
    assert failed["status"] == "FAILED" and item(bad["manifest_id"])["status"]["S"] == "failed"
    assert rt.entered(failed["executionArn"])[-3:] == ["UpdateStatusFailed", "SendAlert", "Failed"]
    assert [a["subject"] for a in rt.alerts()] == [f"lean-ops: manifest {bad['manifest_id']} failed"]
    ctx = rt.context()
    try:
        assert len(ctx.lake.raw_table("events").scan().to_arrow()) == 6  # a and b, once
        assert [f.status for f in ctx.state.list_files(topic="events")] == ["completed", "completed", "manifested"]
    finally:
        ctx.close()
