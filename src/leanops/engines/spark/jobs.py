"""Entry points of the Glue job scripts (`glue/*.py`): read the job arguments, run one stage on the
Spark engine, print and return the output the orchestrator needs.

    spark-submit $(leanops spark-submit-args) glue/standardized_processor.py --topic_name events --home ./.leanops

Arguments: `--topic_name` (required), `--home` and `--schemas` (the deployment; default
$LEANOPS_HOME / $LEANOPS_SCHEMAS), `--max_batch_rows`, and for the semantic job
`--curated_snapshot_id` (the token the Curated step handed over; default Curated's current snapshot).
On AWS: `--catalog glue --warehouse s3://bucket/prefix --state dynamodb://leanops_?region=...`
(the same settings as LEANOPS_CATALOG / LEANOPS_WAREHOUSE / LEANOPS_STATE; docs/spark.md). In AWS Glue they are read with
`awsglue.utils.getResolvedOptions` (Glue passes them as `--name value`); elsewhere with argparse.

`--engine` picks the compute engine (default `spark`; `embedded` runs the same job without Spark,
e.g. for the Step Functions tests). `--JOB_RUN_ID` (AWS Glue passes it to every run) names the run:
the output is also kept in the state store under it (`put_job_output`), because Step Functions'
`glue:startJobRun.sync` returns only the JobRun and the next state reads the job's result from there.
The historical rebuilder takes `--resume false` when a state machine resumes the topic itself.
The table maintenance job (`run_maintenance_job`) takes `--dry_run true`, `--lease_holder` (the topic
pipeline's execution id: the lease the pipeline holds) and `--shared auto|true|false` (the shared
tables after the topic: when due, always, never).
Each stage run gets its run-log row, exactly as under the local orchestrator.

Output, one JSON line on stdout (the last line), e.g.
    {"job": "standardized_processor", "topic": "events", "status": "SUCCEEDED", "records_written": 19,
     "snapshot_id": 5886569603929403513, "source_snapshot_id": ..., "records_in": ..., ...}
`snapshot_id` is the snapshot the run committed (null when there was nothing new). Exit code 0 on
SUCCEEDED / NO_NEW_DATA, 1 when the stage failed, 2 on bad arguments or configuration.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from leanops.errors import LeanOpsError

REQUIRED = ("topic_name",)
OPTIONAL = ("home", "schemas", "max_batch_rows", "curated_snapshot_id", "catalog", "warehouse", "state", "engine",
            "JOB_RUN_ID", "resume", "MANIFEST_PATH", "emf", "dry_run", "lease_holder", "shared")


def resolve_args(argv: Sequence[str], required: Sequence[str] = REQUIRED) -> dict[str, str | None]:
    """The job arguments: Glue's resolver when running in Glue, argparse elsewhere."""
    REQUIRED = tuple(required)  # noqa: N806  (the job's own required arguments)
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        getResolvedOptions = None
    if getResolvedOptions is not None:
        present = [name for name in OPTIONAL if f"--{name}" in argv]  # Glue's resolver has no optional args
        resolved = getResolvedOptions(list(argv), [*REQUIRED, *present])
        return {name: resolved.get(name) for name in (*REQUIRED, *OPTIONAL)}
    parser = argparse.ArgumentParser(prog=argv[0] if argv else "job", allow_abbrev=False)
    for name in REQUIRED:
        parser.add_argument(f"--{name}", required=True)
    for name in OPTIONAL:
        parser.add_argument(f"--{name}", default=None)
    known, _ = parser.parse_known_args(list(argv[1:]))  # Glue and spark-submit add arguments of their own
    return vars(known)


# job arguments that select the deployment's adapters (Glue jobs take no environment variables)
ADAPTER_ENV = {"catalog": "LEANOPS_CATALOG", "warehouse": "LEANOPS_WAREHOUSE", "state": "LEANOPS_STATE",
               "emf": "LEANOPS_EMF"}


def _context(args: dict):
    import os

    from leanops.context import Context
    for name, env in ADAPTER_ENV.items():
        if args.get(name):
            os.environ[env] = args[name]
    ctx = Context.open(args.get("home"), args.get("schemas"), engine=args.get("engine") or "spark")
    if args.get("max_batch_rows"):
        ctx.settings = ctx.settings.model_copy(update={"max_batch_rows": int(args["max_batch_rows"])})
    return ctx


def _emit(job: str, output: dict, ctx=None, job_run_id: str | None = None) -> dict:
    """Print the output line and, for a named run, keep it in the state store for Step Functions."""
    output = {"job": job, **output}
    if ctx is not None and job_run_id:
        ctx.state.put_job_output(job_run_id, {**output, "job_run_id": job_run_id})
    print(json.dumps(output, default=str), flush=True)
    return output


def run_stage_job(job: str, stage: str, argv: Sequence[str] | None = None) -> dict:
    """`stage` ("standardized", "curated" or "semantic") for one topic; returns the printed output."""
    from leanops.orchestrate.flow import run_logged
    args = resolve_args(sys.argv if argv is None else argv)
    topic = args["topic_name"]
    ctx = _context(args)
    try:
        schema = ctx.schema(topic)
        section = getattr(schema, stage, None) if schema else None
        if section is None:
            raise LeanOpsError(f"{topic}: the schema file has no {stage} section (schema gate: data waits upstream)")
        if stage == "standardized":
            run = lambda: ctx.engine.standardized(ctx.lake, ctx.settings, topic, section)  # noqa: E731
        elif stage == "curated":
            run = lambda: ctx.engine.curated(ctx.lake, ctx.settings, topic, schema)  # noqa: E731
        else:
            token = args.get("curated_snapshot_id")
            run = lambda: ctx.engine.semantic(  # noqa: E731
                ctx.lake, ctx.settings, topic, schema, up_to=int(token) if token else None,
                on_drift=lambda d: ctx.state.record_drift(topic, d.column, d.kind, d.sample_value, d.snapshot_id,
                                                          d.detail))
        try:
            result = run_logged(ctx, topic, stage, run)  # the run log row; a success mirrors the checkpoint
        except Exception as exc:
            _emit(job, {"topic": topic, "stage": stage, "status": "FAILED", "error": f"{type(exc).__name__}: {exc}"},
                  ctx, args.get("JOB_RUN_ID"))
            raise
        return _emit(job, {**result.as_dict(), "snapshot_id": result.target_snapshot_id}, ctx, args.get("JOB_RUN_ID"))
    finally:
        ctx.close()


def run_rebuild_job(job: str, argv: Sequence[str] | None = None) -> dict:
    """The historical rebuild of one topic on the Spark engine (leanops.schema.rebuild)."""
    from leanops.schema.rebuild import rebuild
    args = resolve_args(sys.argv if argv is None else argv)
    ctx = _context(args)
    try:
        resume = (args.get("resume") or "true").lower() not in ("false", "0", "no")
        report = rebuild(ctx, args["topic_name"], resume=resume)
        topic = args["topic_name"]
        table = ctx.lake.semantic_table(topic) or ctx.lake.curated_table(topic) or ctx.lake.standardized_table(topic)
        snapshot = table.current_snapshot() if table is not None else None
        return _emit(job, {**report.as_dict(), "topic": args["topic_name"],
                           "records_written": report.standardized_rows + report.curated_rows + report.semantic_rows,
                           "snapshot_id": snapshot.snapshot_id if snapshot else None}, ctx, args.get("JOB_RUN_ID"))
    finally:
        ctx.close()


def run_file_job(job: str, argv: Sequence[str] | None = None) -> dict:
    """Seed 003's file processor: ingest one manifest of landed files into RAW as one commit.

    `--manifest_id` names the manifest in the state store (the builder stored it); `--MANIFEST_PATH`,
    the manifest document in S3, is accepted for the seed's interface and checked against it.
    Runs without Spark: reading NDJSON and appending to RAW is the same code as `leanops watch`.
    """
    from leanops.landing.files import open_landed
    from leanops.landing.manifests import process_manifest
    args = resolve_args(sys.argv if argv is None else argv, required=("manifest_id",))
    args["engine"] = args.get("engine") or "embedded"
    ctx = _context(args)
    try:
        manifest = ctx.state.get_manifest(args["manifest_id"])
        if manifest is None:
            raise LeanOpsError(f"no manifest {args['manifest_id']!r} in the state store")
        if args.get("MANIFEST_PATH") and manifest.path and args["MANIFEST_PATH"] != manifest.path:
            raise LeanOpsError(f"--MANIFEST_PATH {args['MANIFEST_PATH']} is not manifest "
                               f"{manifest.manifest_id}'s document ({manifest.path})")
        s3 = ctx.settings.aws_client("s3") if any(k.startswith("s3://") for k in manifest.files) else None
        result = process_manifest(ctx, manifest, lambda key: open_landed(key, s3))
        status = "SUCCEEDED" if result.status == "completed" and not result.failed_files else "FAILED"
        return _emit(job, {**result.as_dict(), "manifest_status": result.status, "status": status,
                           "records_written": result.accepted, "snapshot_id": result.raw_snapshot_id},
                     ctx, args.get("JOB_RUN_ID"))
    finally:
        ctx.close()


MAINTENANCE_LEASE_TTL_SECONDS = 3 * 3600.0  # as the topic pipeline's lease (its Lambda steps renew it)


def run_maintenance_job(job: str, argv: Sequence[str] | None = None) -> dict:
    """Table maintenance of one topic's tables on the job's engine (leanops.maintenance, or on Spark
    leanops.engines.spark.maintenance), then the shared tables per `--shared`.

    The topic's lease: the pipeline's (`--lease_holder`, renewed here) or the job's own, taken and
    released as `leanops maintain` does; held by someone else, the run is SKIPPED (exit 0). The output
    is a stage result (stage "maintenance") that the pipeline's RecordMaintenance step applies, with
    the engine's report under "report" (and the shared tables' under "shared")."""
    from leanops.maintenance.run import STAGE, shared_due_reasons
    from leanops.orchestrate.cycle import acquire, holder_id
    from leanops.stages.result import StageResult
    from leanops.types import RunStatus, validate_topic
    args = resolve_args(sys.argv if argv is None else argv)
    topic, dry_run = validate_topic(args["topic_name"]), _flag(args, "dry_run", "false")
    shared = (args.get("shared") or "auto").lower()
    if shared not in ("auto", "true", "false"):
        raise LeanOpsError(f"--shared {shared!r}: one of auto, true, false")
    ctx = _context(args)
    try:
        holder = args.get("lease_holder") or holder_id()
        if not acquire(ctx, topic, holder, MAINTENANCE_LEASE_TTL_SECONDS):
            result = StageResult(topic, STAGE, RunStatus.SUCCEEDED,
                                 message=f"skipped: {ctx.state.lease_holder(topic)} holds {topic}'s lease")
            return _emit(job, {**result.as_dict(), "maintenance_status": "SKIPPED", "snapshot_id": None},
                         ctx, args.get("JOB_RUN_ID"))
        try:
            report = ctx.engine.maintain(ctx, topic, dry_run=dry_run)
        except Exception as exc:  # the engine itself failed (a table's failure is in the report instead)
            _emit(job, {"topic": topic, "stage": STAGE, "status": "FAILED", "error": f"{type(exc).__name__}: {exc}"},
                  ctx, args.get("JOB_RUN_ID"))
            raise
        finally:
            if not args.get("lease_holder"):
                ctx.state.release_lease(topic, holder)
        result = StageResult(topic, STAGE, RunStatus.FAILED if report.failed else RunStatus.SUCCEEDED,
                             message=report.message)
        output = {**result.as_dict(), "maintenance_status": report.status, "snapshot_id": None,
                  "report": report.as_dict(), "shared": None}
        if shared == "true" or (shared == "auto" and not dry_run and shared_due_reasons(ctx)):
            # the shared tables' run is logged on its own ("shared"); its failure never fails the topic
            output["shared"] = ctx.engine.maintain_shared(ctx, dry_run=dry_run).as_dict()
        return _emit(job, output, ctx, args.get("JOB_RUN_ID"))
    finally:
        ctx.close()


def _flag(args: dict, name: str, default: str) -> bool:
    value = (args.get(name) or default).lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise LeanOpsError(f"--{name} {value!r}: true or false")
    return value in ("true", "1", "yes")


JOBS = {  # the Glue job scripts (glue/<name>.py) and what each runs
    "standardized_processor": lambda argv: run_stage_job("standardized_processor", "standardized", argv),
    "curated_processor": lambda argv: run_stage_job("curated_processor", "curated", argv),
    "semantic_processor": lambda argv: run_stage_job("semantic_processor", "semantic", argv),
    "historical_rebuilder": lambda argv: run_rebuild_job("historical_rebuilder", argv),
    "file_processor": lambda argv: run_file_job("file_processor", argv),
    "table_maintenance": lambda argv: run_maintenance_job("table_maintenance", argv),
}


def execute(job: str, argv: Sequence[str]) -> int:
    """Run job `job` with command line `argv`; the exit code of the module doc (0, 1 or 2)."""
    try:
        output = JOBS[job](argv)
    except LeanOpsError as exc:
        print(json.dumps({"job": job, "status": "FAILED", "error": str(exc)}), flush=True)
        return 2
    return 0 if output.get("status") in ("SUCCEEDED", "NO_NEW_DATA") else 1


def main(job: str) -> None:
    """The body of a glue/<job>.py script."""
    sys.exit(execute(job, sys.argv))
