"""The AWS Step Functions state machines (Amazon States Language), generated from the local orchestrator.

    definitions = render_all(RenderOptions())        # {"topic_pipeline.asl.json": {...}, ...}
    leanops aws render --out DIR                       # the same, as files (+ placeholders.json)

Four Standard workflows:
- `orchestrator` (seed 000): FetchActiveTopics, then a Map over the topics, each iteration running the
  topic pipeline as its own execution. Inline Map (`orchestrator.asl.json`, up to 40 at once):
  ToleratedFailurePercentage is a Distributed-Map-only field, so each iteration catches its
  execution's failure instead; Distributed Map (`orchestrator_distributed.asl.json`, thousands of
  topics): child executions with ToleratedFailurePercentage 100. Either way one failing topic never
  stops the others. MaxConcurrency comes from the input (`max_concurrency`, via FetchActiveTopics).
- `topic_pipeline` (seeds 001/004): `leanops.orchestrate.flow` state for state. Every FLOW step keeps
  its name: decisions are Choice states over `FlowState.document()`; RunStandardized / RunCurated /
  RunSemantic / RunMaintenance are Glue `startJobRun.sync` tasks, each followed by a `Record*` Lambda
  step that applies the job's output as the local flow applies a stage result; the Python steps
  (among them CheckMaintenanceDue, which reads table metadata) run in the `flow_step` Lambda. Retry with exponential backoff (2 retries) on job failures, Catch -> SNS -> Fail.
  Around the flow, as around a branch of the local cycle: AcquireTopicLease (a PAUSED topic, or one
  another run holds, ends Skipped) and ReleaseTopicLease on every way out.
- `historical_rebuilder` (seed 000): PauseTopic -> RunRebuild (Glue) -> UpdateRebuildCheckpoints ->
  ResumeTopic; any failure -> RebuildFailed (topic stays PAUSED) -> SNS -> Fail.
- `file_manifest` (seed 003): the manifest's status processing -> Glue .sync -> completed / failed -> SNS.

Resource names are Terraform `templatefile` placeholders (`${alerts_topic_arn}`), listed per file by
`placeholders()`; `render_all(options, values)` substitutes concrete values instead.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from leanops.errors import ConfigError
from leanops.orchestrate.flow import FLOW, JOB_STEPS, TERMINAL, TRANSITIONS, FlowOptions

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
GLUE_SYNC = "arn:aws:states:::glue:startJobRun.sync"
SNS_PUBLISH = "arn:aws:states:::sns:publish"
SFN_START_SYNC = "arn:aws:states:::states:startExecution.sync:2"
DYNAMODB_UPDATE = "arn:aws:states:::dynamodb:updateItem"
SFN_LIST_EXECUTIONS = "arn:aws:states:::aws-sdk:sfn:listExecutions"
# Lambda's own transient errors, retried as AWS recommends for every lambda:invoke task
LAMBDA_TRANSIENT = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                    "Lambda.TooManyRequestsException"]
PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")
# the Python steps' Record* Lambda that follows each Glue job of the flow
RECORD_STEP = {"RunStandardized": "RecordStandardized", "RunCurated": "RecordCurated", "RunSemantic": "RecordSemantic",
               "RunMaintenance": "RecordMaintenance"}
JOB_NAME = {"RunStandardized": "${standardized_job_name}", "RunCurated": "${curated_job_name}",
            "RunSemantic": "${semantic_job_name}", "RunMaintenance": "${maintenance_job_name}"}


@dataclasses.dataclass(frozen=True)
class RenderOptions:
    """What a deployment may tune; the graph itself is fixed by leanops.orchestrate.flow."""

    job_retry_interval_seconds: int = 60  # first wait before retrying a failed Glue run; then x backoff
    job_retry_attempts: int = 2  # seed 003: max 2 retries
    job_retry_backoff: float = 2.0
    concurrent_runs_retry_attempts: int = 6  # Glue.ConcurrentRunsExceededException: wait for a slot
    lambda_retry_interval_seconds: int = 2

    def __post_init__(self) -> None:
        if self.job_retry_interval_seconds < 1 or self.lambda_retry_interval_seconds < 1:
            raise ConfigError("retry intervals must be at least 1 second")
        if not 0 <= self.job_retry_attempts <= 10 or self.job_retry_backoff < 1:
            raise ConfigError("job_retry_attempts must be 0..10 and job_retry_backoff at least 1")


# -- building blocks ------------------------------------------------------------------------

def _lambda_retry(options: RenderOptions) -> dict:
    return {"ErrorEquals": LAMBDA_TRANSIENT, "IntervalSeconds": options.lambda_retry_interval_seconds,
            "MaxAttempts": 3, "BackoffRate": 2.0}


def _catch(target: str) -> list[dict]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": target}]


def _flow_lambda(step: str, next_state: str | None, options: RenderOptions, on_error: str,
                 lease: bool = False) -> dict:
    """A Python step: the flow document in, the updated document (with `next`) out, as the whole state.

    With `lease`, the execution id goes along as the lease holder (the step renews the topic's lease)."""
    payload: dict[str, Any] = {"step": step, "flow.$": "$"}
    if lease:
        payload["holder.$"] = "$$.Execution.Id"
    state = {"Type": "Task", "Resource": LAMBDA_INVOKE,
             "Parameters": {"FunctionName": "${flow_step_lambda_arn}", "Payload": payload},
             "OutputPath": "$.Payload", "Retry": [_lambda_retry(options)], "Catch": _catch(on_error)}
    return {**state, "Next": next_state} if next_state else {**state, "End": True}


def _glue_job(job_name: str, arguments: dict, next_state: str, options: RenderOptions, on_error: str) -> dict:
    """A Glue run awaited with .sync; the JobRun id lands in $.job for the step that reads its output."""
    return {
        "Type": "Task", "Resource": GLUE_SYNC,
        "Parameters": {"JobName": job_name, "Arguments": arguments},
        "ResultSelector": {"job_run_id.$": "$.Id", "job_run_state.$": "$.JobRunState"},
        "ResultPath": "$.job",
        "Retry": [
            {"ErrorEquals": ["Glue.ConcurrentRunsExceededException"], "IntervalSeconds": 30,
             "MaxAttempts": options.concurrent_runs_retry_attempts, "BackoffRate": 2.0},
            {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": options.job_retry_interval_seconds,
             "MaxAttempts": options.job_retry_attempts, "BackoffRate": options.job_retry_backoff},
        ],
        "Catch": _catch(on_error),
        "Next": next_state,
    }


def _alert(subject: str, message: str, next_state: str) -> dict:
    """SNS alert; the message is the whole state (flow document and the caught error) as JSON."""
    return {"Type": "Task", "Resource": SNS_PUBLISH,
            "Parameters": {"TopicArn": "${alerts_topic_arn}", "Subject.$": subject, "Message.$": message},
            "ResultPath": None, "Next": next_state}


def _differs(left: str, right: str) -> dict:
    """Choice rule: $.left is set and differs from $.right (which may be null): Python's `a is not None and a != b`."""
    return {"And": [{"Variable": f"$.{left}", "IsNull": False},
                    {"Or": [{"Variable": f"$.{right}", "IsNull": True},
                            {"Not": {"Variable": f"$.{left}", "StringEqualsPath": f"$.{right}"}}]}]}


def _is_true(flag: str) -> dict:
    return {"Variable": f"$.{flag}", "BooleanEquals": True}


def _outcome(name: str, next_state: str | None = None) -> dict:
    """A successful terminal of the pipeline: the outcome named in the document, then the end (or `next_state`)."""
    state: dict[str, Any] = {"Type": "Pass", "Result": name, "ResultPath": "$.outcome"}
    return {**state, "Next": next_state} if next_state else {**state, "End": True}


# -- the per-topic pipeline -------------------------------------------------------------------

def topic_pipeline(options: RenderOptions) -> dict:
    """leanops.orchestrate.flow as ASL (the module doc says how each kind of step maps)."""
    fail = "NotifyFailure"
    states: dict[str, Any] = {
        "AcquireTopicLease": {**_flow_lambda("AcquireTopicLease", "LeaseGate", options, fail, lease=True),
                              "Comment": "the topic for this execution alone (a PAUSED topic or one another run "
                                         "holds is Skipped), as the local cycle's branch takes its lease"},
        "LeaseGate": {"Type": "Choice",
                      "Choices": [{"Variable": "$.next", "StringEquals": "Skipped", "Next": "Skipped"}],
                      "Default": "GetAllCheckpoints"},
        "Skipped": _outcome("Skipped"),
        "GetAllCheckpoints": _flow_lambda("GetAllCheckpoints", "SchemaGate", options, fail, lease=True),
        "SchemaGate": {"Type": "Choice", "Comment": "GetAllCheckpoints' decision (the schema gate)",
                       "Choices": [{"Variable": "$.next", "StringEquals": "MissingSchema", "Next": "MissingSchema"},
                                   {"Variable": "$.next", "StringEquals": "Failed", "Next": fail}],
                       "Default": "CheckForNewRawData"},
        "CheckForNewRawData": {"Type": "Choice", "Choices": [
            {**_differs("raw_snapshot", "standardized_checkpoint"), "Next": "RunStandardized"},
            {"And": [_is_true("curated_schema_exists"),
                     _differs("standardized_snapshot", "curated_checkpoint")], "Next": "RunCurated"},
            {"And": [_is_true("schema_exists"), _differs("curated_snapshot", "semantic_checkpoint")],
             "Next": "CheckSchemaExists"}],
            "Default": "CheckMaintenanceDue"},
        "CheckCuratedReady": {"Type": "Choice", "Choices": [{**_is_true("curated_schema_exists"), "Next": "RunCurated"}],
                              "Default": "CheckBacklogThreshold"},
        "CheckSchemaExists": {"Type": "Choice", "Choices": [
            {"Variable": "$.curated_snapshot", "IsNull": True, "Next": "CheckBacklogThreshold"},
            {**_is_true("schema_exists"), "Next": "CheckForNewCuratedData"}],
            "Default": "NotifyMissingSchema"},
        "NotifyMissingSchema": _flow_lambda("NotifyMissingSchema", "CheckBacklogThreshold", options, fail, lease=True),
        "CheckForNewCuratedData": {"Type": "Choice", "Choices": [
            {"Variable": "$.semantic_checkpoint", "IsNull": True, "Next": "RunSemantic"},
            {"Variable": "$.curated_snapshot", "StringEqualsPath": "$.semantic_checkpoint",
             "Next": "CheckBacklogThreshold"}],
            "Default": "RunSemantic"},
        "UpdateSemanticCheckpoint": _flow_lambda("UpdateSemanticCheckpoint", "CheckBacklogThreshold", options, fail,
                                                 lease=True),
        "CheckBacklogThreshold": {"Type": "Choice", "Comment": "a big batch: loop now instead of next schedule",
                                  "Choices": [{"And": [
                                      {"Variable": "$.loop_records", "NumericGreaterThanPath": "$.backlog_threshold"},
                                      {"Variable": "$.loops", "NumericLessThanPath": "$.max_loops"}],
                                      "Next": "GetAllCheckpoints"}],
                                  "Default": "CheckMaintenanceDue"},
        "CheckMaintenanceDue": {**_flow_lambda("CheckMaintenanceDue", "MaintenanceGate", options, fail, lease=True),
                                "Comment": "table metadata against the topic's maintenance policy (no data read)"},
        "MaintenanceGate": {"Type": "Choice", "Comment": "CheckMaintenanceDue's decision",
                            "Choices": [{"Variable": "$.next", "StringEquals": "RunMaintenance",
                                         "Next": "RunMaintenance"},
                                        {"Variable": "$.next", "StringEquals": "NoNewData", "Next": "NoNewData"}],
                            "Default": "Success"},
        "Success": _outcome("Success", "ReleaseTopicLease"),
        "NoNewData": _outcome("NoNewData", "ReleaseTopicLease"),
        "MissingSchema": _outcome("MissingSchema", "ReleaseTopicLease"),
        "ReleaseTopicLease": {**_flow_lambda("ReleaseTopicLease", None, options, "LeaseLeftToExpire", lease=True),
                              "OutputPath": "$.Payload"},
        "LeaseLeftToExpire": {"Type": "Pass", "Comment": "the run succeeded; its lease expires by itself",
                              "End": True},
        fail: _alert("States.Format('lean-ops: topic {} failed', $.topic)", "States.JsonToString($)",
                     "ReleaseTopicLeaseOnFailure"),
        "ReleaseTopicLeaseOnFailure": {**_flow_lambda("ReleaseTopicLease", "Failed", options, "Failed", lease=True),
                                       "ResultPath": None, "OutputPath": "$"},
        "Failed": {"Type": "Fail", "Error": "leanops.TopicFailed",
                   "Cause": "a step of the topic pipeline failed; the SNS alert and the execution history say which"},
    }
    job_arguments = {"RunStandardized": {"--topic_name.$": "$.topic"},
                     "RunCurated": {"--topic_name.$": "$.topic"},
                     "RunSemantic": {"--topic_name.$": "$.topic", "--curated_snapshot_id.$": "$.curated_snapshot"},
                     # under the lease this execution holds (the job checks it is still ours)
                     "RunMaintenance": {"--topic_name.$": "$.topic", "--lease_holder.$": "$$.Execution.Id"}}
    after_record = {"RunStandardized": "CheckCuratedReady", "RunCurated": "CheckSchemaExists",
                    "RunSemantic": "UpdateSemanticCheckpoint", "RunMaintenance": "Success"}
    for job_step in JOB_STEPS:
        record = RECORD_STEP[job_step]
        states[job_step] = _glue_job(JOB_NAME[job_step], job_arguments[job_step], record, options, fail)
        states[record] = _flow_lambda(record, f"{record}Gate", options, fail, lease=True)
        states[f"{record}Gate"] = {"Type": "Choice", "Comment": f"{job_step}'s decision on the job's output",
                                   "Choices": [{"Variable": "$.next", "StringEquals": "Failed", "Next": fail}],
                                   "Default": after_record[job_step]}
    missing = set(FLOW) - set(states)
    if missing:
        raise AssertionError(f"flow steps without a state: {sorted(missing)}")
    return {"Comment": "lean-ops topic pipeline: RAW -> Standardized -> Curated -> Semantic for one topic, then "
                       "table maintenance when due (generated by `leanops aws render` from leanops.orchestrate.flow)",
            "StartAt": "AcquireTopicLease", "States": states}


# -- the master orchestrator ------------------------------------------------------------------

def orchestrator(options: RenderOptions, distributed: bool = False) -> dict:
    """FetchActiveTopics, then one topic_pipeline execution per topic, failures isolated per topic."""
    run_topic = {
        "Type": "Task", "Resource": SFN_START_SYNC,
        "Parameters": {"StateMachineArn": "${topic_pipeline_state_machine_arn}",
                       "Input": {"topic.$": "$.topic",
                                 "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"}},
        "ResultSelector": {"topic.$": "$.Output.topic", "outcome.$": "$.Output.outcome",
                           "stages_run.$": "$.Output.stages_run", "execution_arn.$": "$.ExecutionArn"},
        "End": True,
    }
    if distributed:
        processor = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                     "StartAt": "RunTopicPipeline", "States": {"RunTopicPipeline": run_topic}}
        tolerance = {"ToleratedFailurePercentage": 100, "Label": "Topics"}
    else:
        run_topic["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "TopicFailed"}]
        processor = {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "RunTopicPipeline", "States": {
            "RunTopicPipeline": run_topic,
            "TopicFailed": {"Type": "Pass", "Comment": "this topic's failure stays with this topic (its own "
                                                       "execution failed and alerted); the other topics go on",
                            "Parameters": {"topic.$": "$.topic", "outcome": "Failed", "error.$": "$.error.Error"},
                            "End": True}}}
        tolerance = {}
    return {
        "Comment": "lean-ops master orchestrator: every ENABLED topic of the registry through its pipeline "
                   f"({'Distributed' if distributed else 'Inline'} Map; generated by `leanops aws render`)",
        "StartAt": "CheckPreviousRun",
        "States": {
            "CheckPreviousRun": {
                "Type": "Task", "Resource": SFN_LIST_EXECUTIONS,
                "Comment": "a run still going (a long backlog) keeps the topics: this scheduled run stands down",
                "Parameters": {"StateMachineArn.$": "$$.StateMachine.Id", "StatusFilter": "RUNNING", "MaxResults": 2},
                "ResultSelector": {"running.$": "States.ArrayLength($.Executions)"},
                "ResultPath": "$.previous", "Next": "PreviousRunGate"},
            "PreviousRunGate": {"Type": "Choice",
                                "Choices": [{"Variable": "$.previous.running", "NumericGreaterThan": 1,
                                             "Next": "PreviousRunStillActive"}],
                                "Default": "FetchActiveTopics"},
            "PreviousRunStillActive": {"Type": "Succeed"},
            "FetchActiveTopics": {
                "Type": "Task", "Resource": LAMBDA_INVOKE,
                "Parameters": {"FunctionName": "${fetch_active_topics_lambda_arn}",
                               "Payload": {"topics.$": "$.topics", "max_concurrency.$": "$.max_concurrency"}},
                "OutputPath": "$.Payload", "Retry": [_lambda_retry(options)], "Next": "ProcessTopics"},
            "ProcessTopics": {
                "Type": "Map", "ItemsPath": "$.topics", "ItemSelector": {"topic.$": "$$.Map.Item.Value"},
                "MaxConcurrencyPath": "$.max_concurrency", **tolerance,
                "ItemProcessor": processor, "ResultPath": "$.results", "End": True},
        },
    }


def with_defaults(definition: dict) -> dict:
    """The orchestrator reads `topics` and `max_concurrency` from its input: a first Pass fills them in."""
    states = {"Defaults": {"Type": "Pass", "Comment": "input keys default to: every topic, 10 at once",
                           "Parameters": {"args.$": "States.JsonMerge(States.StringToJson('{\"topics\": null, "
                                                    "\"max_concurrency\": 10}'), $, false)"},
                           "OutputPath": "$.args", "Next": definition["StartAt"]},
              **definition["States"]}
    return {**definition, "StartAt": "Defaults", "States": states}


# -- the historical rebuilder and the file-manifest workflow ------------------------------------

def historical_rebuilder(options: RenderOptions) -> dict:
    """Pause, rebuild in Glue, mirror checkpoints, resume; a failure anywhere leaves the topic PAUSED."""
    fail = "RebuildFailed"
    return {
        "Comment": "lean-ops historical rebuilder: replay one topic's RAW into new tables while it is PAUSED "
                   "(generated by `leanops aws render`)",
        "StartAt": "PauseTopic",
        "States": {
            "PauseTopic": _flow_lambda("PauseTopic", "RunRebuild", options, fail),
            "RunRebuild": _glue_job("${rebuilder_job_name}", {"--topic_name.$": "$.topic", "--resume": "false"},
                                    "UpdateRebuildCheckpoints", options, fail),
            "UpdateRebuildCheckpoints": _flow_lambda("UpdateRebuildCheckpoints", "ResumeTopic", options, fail),
            "ResumeTopic": _flow_lambda("ResumeTopic", "RebuildSucceeded", options, fail),
            "RebuildSucceeded": {"Type": "Succeed"},
            fail: {**_flow_lambda("RebuildFailed", "NotifyRebuildFailure", options, "NotifyRebuildFailure"),
                   "Comment": "the topic stays PAUSED; `leanops rebuild` or a new execution resumes the rebuild"},
            "NotifyRebuildFailure": _alert("States.Format('lean-ops: rebuild of {} failed', $.topic)",
                                           "States.JsonToString($)", "Failed"),
            "Failed": {"Type": "Fail", "Error": "leanops.RebuildFailed",
                       "Cause": "the rebuild failed and the topic stays PAUSED; the SNS alert says why"},
        },
    }


def _manifest_status(status: str, next_state: str, on_error: str | None, extra: dict | None = None) -> dict:
    """UpdateItem on the manifest's tracking row; every attribute is aliased (`status`, `error` are reserved words)."""
    names = {"#status": "status", "#updated_at": "updated_at"}
    values = {":status": {"S": status}, ":updated_at": {"S.$": "$$.State.EnteredTime"}}
    for attribute, path in (extra or {}).items():
        names[f"#{attribute}"] = attribute
        values[f":{attribute}"] = {"S.$": path}
    state = {"Type": "Task", "Resource": DYNAMODB_UPDATE,
             "Parameters": {"TableName": "${file_manifests_table_name}",
                            "Key": {"manifest_id": {"S.$": "$.manifest_id"}},
                            "UpdateExpression": "SET " + ", ".join(f"{n} = :{n[1:]}" for n in names),
                            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values},
             "ResultPath": None, "Next": next_state}
    if on_error:
        state["Catch"] = _catch(on_error)
    return state


def file_manifest(options: RenderOptions) -> dict:
    """Seed 003: one manifest of landed NDJSON files through the file-processor Glue job, tracked in DynamoDB."""
    return {
        "Comment": "lean-ops file manifest workflow (seed 003): tracking status processing -> Glue .sync -> "
                   "completed | failed + SNS (generated by `leanops aws render`)",
        "StartAt": "UpdateStatusProcessing",
        "States": {
            "UpdateStatusProcessing": _manifest_status("processing", "StartGlueJob", "UpdateStatusFailed"),
            "StartGlueJob": _glue_job("${file_processor_job_name}",
                                      {"--MANIFEST_PATH.$": "$.manifest_path", "--manifest_id.$": "$.manifest_id"},
                                      "UpdateStatusCompleted", options, "UpdateStatusFailed"),
            "UpdateStatusCompleted": _manifest_status("completed", "Completed", "UpdateStatusFailed",
                                                      {"job_run_id": "$.job.job_run_id"}),
            "Completed": {"Type": "Succeed"},
            "UpdateStatusFailed": _manifest_status("failed", "SendAlert", "SendAlert", {"error": "$.error.Error"}),
            "SendAlert": _alert("States.Format('lean-ops: manifest {} failed', $.manifest_id)",
                                "States.JsonToString($)", "Failed"),
            "Failed": {"Type": "Fail", "Error": "leanops.ManifestFailed",
                       "Cause": "the file processor job failed after its retries; the manifest is marked failed"},
        },
    }


# -- rendering --------------------------------------------------------------------------------

def render_all(options: RenderOptions | None = None, values: dict[str, str] | None = None) -> dict[str, dict]:
    """Every definition by file name; with `values`, placeholders replaced (all must be given)."""
    options = options or RenderOptions()
    definitions = {
        "orchestrator.asl.json": with_defaults(orchestrator(options)),
        "orchestrator_distributed.asl.json": with_defaults(orchestrator(options, distributed=True)),
        "topic_pipeline.asl.json": topic_pipeline(options),
        "historical_rebuilder.asl.json": historical_rebuilder(options),
        "file_manifest.asl.json": file_manifest(options),
    }
    if values is None:
        return definitions
    return {name: substitute(definition, values) for name, definition in definitions.items()}


def placeholders(definition: dict) -> list[str]:
    """The `${name}` template variables a definition uses, sorted."""
    return sorted(set(PLACEHOLDER.findall(json.dumps(definition))))


def substitute(definition: dict, values: dict[str, str]) -> dict:
    """The definition with every placeholder replaced; a missing value is an error, never left behind."""
    needed = placeholders(definition)
    missing = [name for name in needed if name not in values]
    if missing:
        raise ConfigError(f"no value for {', '.join(missing)}")

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        if isinstance(node, str):
            return PLACEHOLDER.sub(lambda m: values[m.group(1)], node)
        return node
    return walk(definition)


def to_text(definition: dict) -> str:
    return json.dumps(definition, indent=2) + "\n"


def write_all(out: Path, options: RenderOptions | None = None, values: dict[str, str] | None = None) -> list[Path]:
    """Write every definition and `placeholders.json` (file -> its template variables) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    definitions = render_all(options, values)
    written = []
    for name, definition in definitions.items():
        (out / name).write_text(to_text(definition))
        written.append(out / name)
    if values is None:
        index = {name: placeholders(definition) for name, definition in definitions.items()}
        (out / "placeholders.json").write_text(json.dumps(index, indent=2) + "\n")
        written.append(out / "placeholders.json")
    return written


def flow_graph(definition: dict) -> dict[str, set[str]]:
    """For each FLOW step state, the FLOW steps or terminals reachable through helper states only.

    Helper states are the ones FLOW does not name (gates, Record* steps, the failure alert); this is
    what tests compare with `TRANSITIONS`, so the ASL cannot drift from the Python flow.
    """
    states = definition["States"]
    named = set(FLOW) | set(TERMINAL)

    def successors(name: str) -> set[str]:
        state = states[name]
        found = set()
        for key in ("Next", "Default"):
            if key in state:
                found.add(state[key])
        found.update(choice["Next"] for choice in state.get("Choices", []))
        found.update(catch["Next"] for catch in state.get("Catch", []))
        return found

    graph = {}
    for step_name in FLOW:
        reached, frontier, seen = set(), list(successors(step_name)), set()
        while frontier:
            current = frontier.pop()
            if current in seen:
                continue
            seen.add(current)
            if current in named:
                reached.add(current)
            else:
                frontier.extend(successors(current))
        graph[step_name] = reached
    return graph


__all__ = ["RenderOptions", "render_all", "write_all", "placeholders", "substitute", "flow_graph", "FlowOptions",
           "TRANSITIONS"]
