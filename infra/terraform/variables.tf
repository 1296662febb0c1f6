variable "project" {
  description = "Name prefix of every resource: functions, jobs and state machines are <project>-..., DynamoDB tables <project>_<Suffix> (the state store's prefix, LEANOPS_STATE=dynamodb://<project>_), Firehose streams <project>-<topic>."
  type        = string
  default     = "leanops"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.project))
    error_message = "project: 2-16 characters, lower-case letters, digits and '-', starting with a letter (it is part of S3 bucket names)."
  }
}

variable "environment" {
  description = "Environment name (dev, prod, ...): part of the S3 bucket names and of every resource's tags. The Glue databases raw/standardized/curated/semantic are fixed names, so one account and region holds one lean-ops deployment."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,9}$", var.environment))
    error_message = "environment: 1-10 lower-case letters and digits, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of the deployment (also in LEANOPS_STATE's ?region=)."
  type        = string
}

variable "topics" {
  description = "Topics ingested through SQS -> Firehose: one delivery stream <project>-<topic> per topic, writing raw.<topic>_staging. Names follow leanops.types.validate_topic."
  type        = list(string)
  default     = ["events"]

  validation {
    condition     = alltrue([for t in var.topics : can(regex("^[a-z][a-z0-9_]{0,99}$", t))])
    error_message = "topics: each must match ^[a-z][a-z0-9_]{0,99}$ (leanops.types.validate_topic)."
  }

  validation {
    condition     = alltrue([for t in var.topics : !contains(["errors", "parse_errors", "dlq_errors"], t) && !endswith(t, "_latest") && !endswith(t, "_staging")])
    error_message = "topics: errors, parse_errors, dlq_errors and names ending in _latest or _staging would collide with the pipeline's own tables (leanops.types.validate_topic)."
  }
}

variable "alert_emails" {
  description = "E-mail addresses subscribed to the alerts SNS topic (each must confirm the subscription). Empty: no subscription."
  type        = list(string)
  default     = []
}

variable "max_concurrency" {
  description = "Topics processed at once by the orchestrator's Map state (the scheduled input {\"max_concurrency\": N}). The Glue jobs allow at least this many concurrent runs."
  type        = number
  default     = 10

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency == floor(var.max_concurrency)
    error_message = "max_concurrency: a whole number >= 1."
  }
}

variable "orchestrator_map_mode" {
  description = "INLINE: the orchestrator's Map runs the topic branches in its own execution (up to 40 concurrent iterations). DISTRIBUTED: a Distributed Map, each topic a child execution (for many topics)."
  type        = string
  default     = "INLINE"

  validation {
    condition     = contains(["INLINE", "DISTRIBUTED"], var.orchestrator_map_mode)
    error_message = "orchestrator_map_mode: INLINE or DISTRIBUTED."
  }
}

variable "orchestrator_schedule" {
  description = "EventBridge schedule expression that starts the orchestrator."
  type        = string
  default     = "rate(15 minutes)"
}

variable "orchestrator_schedule_enabled" {
  description = "Whether the orchestrator schedule is enabled (false: the rule exists but is disabled)."
  type        = bool
  default     = true
}

variable "glue_worker_type" {
  description = "Worker type of the Glue jobs (docs/spark.md: G.1X, 2+ workers; scale with the batch)."
  type        = string
  default     = "G.1X"
}

variable "glue_number_of_workers" {
  description = "Workers per Glue job run."
  type        = number
  default     = 2

  validation {
    condition     = var.glue_number_of_workers >= 2
    error_message = "glue_number_of_workers: at least 2 (one driver, one executor)."
  }
}

variable "glue_timeout_minutes" {
  description = "Timeout of one Glue job run, in minutes."
  type        = number
  default     = 120
}

variable "glue_max_concurrent_runs" {
  description = "Concurrent runs each Glue job accepts. null: max_concurrency (the Map runs one job per topic at once; Glue's default of 1 would reject the others). Set it higher to leave room for manual runs."
  type        = number
  default     = null
}

variable "artifacts_dir" {
  description = "Directory written by `leanops package --out DIR` (leanops-lambda.zip, lean_ops-<version>-py3-none-any.whl, glue/*.py). null: <repo>/dist/aws."
  type        = string
  default     = null
}

variable "lambda_layer_zip" {
  description = "Path of the Lambda layer zip with lean-ops' dependencies (pyiceberg, pyarrow, duckdb, pydantic, ...): docs/terraform.md says how to build it. null: <artifacts_dir>/leanops-layer.zip."
  type        = string
  default     = null
}

variable "lambda_runtime" {
  description = "Python runtime of the Lambda functions; the layer must be built for the same Python version."
  type        = string
  default     = "python3.12"
}

variable "lambda_architecture" {
  description = "Lambda architecture (x86_64 or arm64); the layer's wheels must match it."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda_architecture)
    error_message = "lambda_architecture: x86_64 or arm64."
  }
}

variable "dlq_drain_schedule" {
  description = "EventBridge schedule expression of the DLQ drainer."
  type        = string
  default     = "rate(30 minutes)"
}

variable "file_processor_job_name" {
  description = "Name of the file processor Glue job (glue/file_processor.py), which the file-manifest state machine (seed 003) starts. null: <project>-file-processor."
  type        = string
  default     = null
}

variable "landing_prefix" {
  description = "Key prefix of the landed files in the landing bucket (LEANOPS_LANDING_PREFIX; also the S3 notification's filter). Files are <prefix><topic>/.../*.ndjson[.gz]. \"\": the whole bucket."
  type        = string
  default     = ""

  validation {
    condition     = var.landing_prefix == "" || (endswith(var.landing_prefix, "/") && !startswith(var.landing_prefix, "/"))
    error_message = "landing_prefix: \"\" or a key prefix ending in '/' (not starting with one), e.g. \"incoming/\"."
  }
}

variable "manifest_lock_ttl_seconds" {
  description = "LEANOPS_LOCK_TTL_SECONDS of manifest_builder: TTL of the per-topic builder lock (seed 003's LOCK_TTL_SECONDS); must exceed the builder's timeout (180 s)."
  type        = number
  default     = 300
}

variable "manifest_max_files" {
  description = "LEANOPS_MAX_FILES: a manifest closes at this many files..."
  type        = number
  default     = 200
}

variable "manifest_max_bytes" {
  description = "LEANOPS_MAX_BYTES: ...or at this many bytes, whichever comes first (default 700 MiB)."
  type        = number
  default     = 734003200
}

variable "manifest_max_wait_seconds" {
  description = "LEANOPS_MAX_WAIT_SECONDS: seconds a manifest below the thresholds waits for more files (closed by the flush schedule)."
  type        = number
  default     = 300
}

variable "manifest_flush_schedule" {
  description = "EventBridge schedule that runs manifest_builder with {\"flush_due\": true}, closing manifests older than the max wait."
  type        = string
  default     = "rate(5 minutes)"
}

variable "enable_tracing" {
  description = "AWS X-Ray tracing of the Lambda functions and the state machines."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups (Lambda, Step Functions, Firehose, Glue)."
  type        = number
  default     = 365
}

variable "noncurrent_version_expiration_days" {
  description = "Days S3 keeps an overwritten or deleted object version (the buckets are versioned)."
  type        = number
  default     = 30
}

variable "deletion_protection" {
  description = "DynamoDB deletion protection of the state tables (set false before `terraform destroy`)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

# --- health check and alarms (seed 004 section 5) ---------------------------------------------------------

variable "health_check_schedule" {
  description = "How often the health check publishes its metrics."
  type        = string
  default     = "rate(5 minutes)"
}

variable "health_namespace" {
  description = "CloudWatch namespace of the health check's metrics."
  type        = string
  default     = "LeanOps"
}

variable "pre_raw_window_seconds" {
  description = "Window (ending at each check) of the Pre-RAW accountability metric."
  type        = number
  default     = 86400
}

variable "curation_lag_threshold_records" {
  description = "Alarm above this many records pending for Curated, per topic."
  type        = number
  default     = 100000
}

variable "semantic_lag_threshold_seconds" {
  description = "Alarm when the oldest Curated change has waited longer than this for Semantic, per topic."
  type        = number
  default     = 7200
}

variable "drift_threshold_entries" {
  description = "Alarm above this many new drift-log entries per check (0: any new entry)."
  type        = number
  default     = 0
}

variable "dlq_max_age_seconds" {
  description = "Alarm when the DLQ's oldest message, or a topic's oldest raw.dlq_errors row, is older than this."
  type        = number
  default     = 604800
}

# --- Snowflake refresh (seed 004 section 4) ---------------------------------------------------------------

variable "snowflake_secret_arn" {
  description = "Secrets Manager secret with the Snowflake connection (JSON: account, user, password or private_key, role, warehouse); null: no refresh."
  type        = string
  default     = null
}

variable "snowflake_database" {
  description = "Database of the Snowflake Iceberg tables (export-ddl --database)."
  type        = string
  default     = "LAKEHOUSE"
}

variable "snowflake_schema" {
  description = "Schema of the Snowflake Iceberg tables (export-ddl --schema)."
  type        = string
  default     = "SEMANTIC"
}

variable "snowflake_storage_base_url" {
  description = "The external volume's STORAGE_BASE_URL (export-ddl --storage-base-url); \"\": each table's location."
  type        = string
  default     = ""
}

variable "snowflake_layer_arn" {
  description = "A Lambda layer with snowflake-connector-python for the refresh function."
  type        = string
  default     = null
}
